"""The API servers' waiting calls on a Redis Cluster: each command to the master of its slot.

The servers block on one key at a time (a job's result list, its log stream), so this is a pool
of asyncio connections per master and a slot map, nothing more. The map is read with the
blocking :class:`horus.resp_cluster.ClusterConnection` in a thread (at the first call, after a
``MOVED`` and after a lost node), so the event loop never waits on it. An ``ASK`` is followed on
the connection it came from (``ASKING``, then the command again).
"""

from __future__ import annotations

import asyncio
from typing import Any

from horus.cluster_slots import Node, Redirect, SlotMap
from horus.errors import ConnectionFailed, TransportError
from horus.redis_url import ClusterTarget
from horus.resp import Arg, ReplyError
from horus.resp_async import AsyncConnection, AsyncPool
from horus.resp_cluster import MAX_REDIRECTS, ClusterConnection, command_slot


class AsyncClusterPool:
    """:class:`AsyncPool`'s ``call`` and ``aclose``, routed by slot over the cluster's masters."""

    def __init__(self, target: ClusterTarget, keep: int = 16, connect_timeout_s: float = 5.0) -> None:
        self.target = target
        self.keep = keep
        self.connect_timeout_s = connect_timeout_s
        self._pools: dict[Node, AsyncPool] = {}
        self._slots: SlotMap | None = None

    def _read_map(self) -> SlotMap:
        conn = ClusterConnection(self.target, self.connect_timeout_s)
        try:
            return conn.slots
        finally:
            conn.close()

    async def _map(self) -> SlotMap:
        if self._slots is None:
            self._slots = await asyncio.to_thread(self._read_map)
        return self._slots

    def _pool(self, node: Node) -> AsyncPool:
        pool = self._pools.get(node)
        if pool is None:
            address = self.target.node(node.host, node.port)
            pool = self._pools[node] = AsyncPool(
                lambda: AsyncConnection.open(address, self.connect_timeout_s), self.keep
            )
        return pool

    async def call(self, *args: Arg, timeout_s: float) -> Any:
        """Send one command to the master of its keys' slot; redirections followed."""
        slots = await self._map()
        slot = command_slot(args)  # the servers' commands name one key
        node = slots.masters()[0] if slot is None else slots.master_for(slot)
        for _ in range(MAX_REDIRECTS):
            try:
                return await self._pool(node).call(*args, timeout_s=timeout_s)
            except ConnectionFailed:
                self._slots = None  # a failover may be under way: the next call reads the map again
                raise
            except ReplyError as exc:
                redirect = Redirect.parse(str(exc), node.host)
                if redirect is None:
                    raise
                if redirect.kind == "ASK":
                    return await self._asking(redirect.node, args, timeout_s)
                self._slots = None  # read again by the next call
                node = redirect.node
        raise TransportError(f"{str(args[0]).upper()} was redirected more than {MAX_REDIRECTS} times")

    async def _asking(self, node: Node, args: tuple[Arg, ...], timeout_s: float) -> Any:
        """One command to a slot's importing node, on a connection of its own."""
        conn = await AsyncConnection.open(self.target.node(node.host, node.port), self.connect_timeout_s)
        try:
            await conn.call("ASKING", timeout_s=timeout_s)
            return await conn.call(*args, timeout_s=timeout_s)
        finally:
            await conn.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
