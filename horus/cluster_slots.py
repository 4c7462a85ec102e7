"""Redis Cluster hash slots: which slot a key is in, and which node serves a slot.

A cluster splits its keys into 16384 slots by CRC16 (the XMODEM variant, which is
:func:`binascii.crc_hqx` seeded with 0) of the key modulo 16384. When a key holds a ``{`` followed
later by a ``}`` with at least one byte between them, only the bytes between the first ``{`` and
the first ``}`` after it are hashed: the hash tag, which is how Horus keeps every key one script
touches in one slot (horus/keys.py).

:class:`SlotMap` is the client's picture of the cluster, read from ``CLUSTER SHARDS`` (Redis 7)
or ``CLUSTER SLOTS`` (older), and corrected slot by slot when a node answers ``MOVED``.
"""

from __future__ import annotations

from binascii import crc_hqx
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from horus.errors import TransportError

SLOTS = 16384


class SlotNotCovered(TransportError):
    """No master serves a slot (the cluster is down for it, or the map is out of date)."""


class BadClusterReply(TransportError):
    """A ``CLUSTER SHARDS`` / ``CLUSTER SLOTS`` / redirection reply that cannot be read."""


def hash_tag(key: bytes) -> bytes:
    """The part of ``key`` that is hashed: its hash tag, or the whole key."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def key_slot(key: bytes | str) -> int:
    """The slot of ``key``. A str is encoded as the connection sends it (UTF-8; the lone
    surrogates that decoding a reply yields go back to their original bytes)."""
    raw = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
    return crc_hqx(hash_tag(raw), 0) % SLOTS


@dataclass(frozen=True, slots=True)
class Node:
    """A cluster node as a client reaches it."""

    host: str
    port: int
    node_id: str = ""

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Shard:
    """A master, the replicas that follow it, and the slot ranges (inclusive) it serves."""

    master: Node
    replicas: tuple[Node, ...]
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Redirect:
    """A ``MOVED`` or ``ASK`` error reply: the slot and where to send the command."""

    kind: str
    slot: int
    node: Node

    @classmethod
    def parse(cls, message: str, asked_host: str) -> Redirect | None:
        """``MOVED 3999 127.0.0.1:6381`` or ``ASK ...``; None for any other error. An empty
        host (``:6381``: the node does not know its own address) means the host asked."""
        kind, _, rest = message.partition(" ")
        if kind not in ("MOVED", "ASK"):
            return None
        slot_text, _, where = rest.partition(" ")
        host, _, port_text = where.rpartition(":")
        if not slot_text.isdigit() or not port_text.isdigit():
            raise BadClusterReply(f"cannot read the redirection {message!r}")
        return cls(kind, int(slot_text), Node(host.strip("[]") or asked_host, int(port_text)))


class SlotMap:
    """Which master (and replicas) serve each slot."""

    def __init__(self, shards: Iterable[Shard]) -> None:
        self.shards: list[Shard] = []
        #: slot -> index in :attr:`shards`, -1 when no master serves it.
        self._owner = [-1] * SLOTS
        for shard in shards:
            self._add(shard)

    def _add(self, shard: Shard) -> int:
        index = len(self.shards)
        self.shards.append(shard)
        for start, end in shard.ranges:
            if not 0 <= start <= end < SLOTS:
                raise BadClusterReply(f"slot range {start}-{end} is outside 0-{SLOTS - 1}")
            self._owner[start : end + 1] = [index] * (end - start + 1)
        return index

    # -- reading the cluster's replies -------------------------------------------------------
    @classmethod
    def from_shards(cls, reply: Sequence[Any], asked_host: str) -> SlotMap:
        """From ``CLUSTER SHARDS`` (RESP2: each shard and node a flat field/value list). Nodes
        whose health is ``failed`` are left out, so a shard whose master failed serves nothing
        until the map is read again. ``loading`` ones are kept: Redis 7.0 reports a replica
        ``loading`` for as long as its replication offset is 0, which on a new cluster lasts
        until the first write."""
        shards = []
        for raw_shard in reply:
            fields = _pairs(raw_shard)
            flat = [int(n) for n in fields.get("slots", [])]
            ranges = tuple(zip(flat[::2], flat[1::2], strict=True))
            master: Node | None = None
            replicas = []
            for raw_node in fields.get("nodes", []):
                info = _pairs(raw_node)
                if info.get("health") == "failed":
                    continue
                node = Node(_endpoint(info, asked_host), int(info["port"]), str(info.get("id", "")))
                if info.get("role") == "master":
                    master = node
                else:
                    replicas.append(node)
            if master is not None and ranges:
                shards.append(Shard(master, tuple(replicas), ranges))
        return cls(shards)

    @classmethod
    def from_slots(cls, reply: Sequence[Any], asked_host: str) -> SlotMap:
        """From ``CLUSTER SLOTS``: ``[start, end, master, replica...]`` per range, each node
        ``[endpoint, port, id, ...]``. Ranges of one master become one shard."""
        by_master: dict[Node, tuple[list[tuple[int, int]], tuple[Node, ...]]] = {}
        for entry in reply:
            if len(entry) < 3:
                raise BadClusterReply(f"cannot read the CLUSTER SLOTS entry {entry!r}")
            start, end, *nodes = entry
            master, *replicas = (_slots_node(raw, asked_host) for raw in nodes)
            ranges, _ = by_master.setdefault(master, ([], tuple(replicas)))
            ranges.append((int(start), int(end)))
        return cls(Shard(master, replicas, tuple(ranges)) for master, (ranges, replicas) in by_master.items())

    # -- asking it ---------------------------------------------------------------------------
    def shard_for(self, slot: int) -> Shard:
        index = self._owner[slot]
        if index < 0:
            raise SlotNotCovered(f"no master serves slot {slot} (is the cluster down, or resharding?)")
        return self.shards[index]

    def master_for(self, slot: int) -> Node:
        return self.shard_for(slot).master

    def master_for_key(self, key: bytes | str) -> Node:
        return self.master_for(key_slot(key))

    def masters(self) -> list[Node]:
        """Every master serving at least one slot."""
        live = set(self._owner)
        return [shard.master for index, shard in enumerate(self.shards) if index in live]

    def uncovered(self) -> int:
        """How many slots no master serves (0 on a healthy cluster)."""
        return self._owner.count(-1)

    def moved(self, slot: int, node: Node) -> None:
        """Record a ``MOVED``: ``node`` serves ``slot`` now. A node not yet known as a master
        (a replica promoted by a failover, a new node) becomes one, without replicas until the
        next full refresh; the caller refreshes the whole map soon after, as slots seldom move
        alone."""
        for index, shard in enumerate(self.shards):
            if (shard.master.host, shard.master.port) == (node.host, node.port):
                self._owner[slot] = index
                return
        self._owner[slot] = self._add(Shard(node, (), ()))


def _pairs(flat: Sequence[Any]) -> dict[str, Any]:
    if isinstance(flat, dict):
        return {str(k): v for k, v in flat.items()}
    if len(flat) % 2:
        raise BadClusterReply(f"expected field/value pairs, got {flat!r}")
    return {str(k): v for k, v in zip(flat[::2], flat[1::2], strict=True)}


def _endpoint(info: dict[str, Any], asked_host: str) -> str:
    """The address a client should use: the node's preferred endpoint, else its IP; ``?`` or
    empty means the node does not know, and the host asked is the best guess."""
    for name in ("endpoint", "ip"):
        value = str(info.get(name) or "")
        if value and value != "?":
            return value
    return asked_host


def _slots_node(raw: Sequence[Any], asked_host: str) -> Node:
    if len(raw) < 2:
        raise BadClusterReply(f"cannot read the CLUSTER SLOTS node {raw!r}")
    host = str(raw[0] or "")
    return Node(host if host and host != "?" else asked_host, int(raw[1]), str(raw[2]) if len(raw) > 2 else "")
