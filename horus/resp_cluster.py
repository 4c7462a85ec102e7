"""A connection to a Redis Cluster: each command goes to the master that serves its keys' slot.

Built on :class:`horus.resp.Connection` (one socket per node, opened when first needed) and the
slot map of :mod:`horus.cluster_slots`. A ``MOVED`` reply corrects the map and the command is
sent again to the node named (and the whole map is read again before the next command: slots
seldom move alone); an ``ASK`` reply sends that one command to the node named, after
``ASKING``, without touching the map (the slot is being migrated). A command whose keys are in
several slots is refused before it is sent, naming them: on a cluster that is always an error.

A command that was sent when its node's connection broke is not sent again (it may have run);
the error is raised as on a single Redis, and the map is read again so the next command finds
the master that took over. Not thread-safe: one per thread, as :class:`Connection`.

Commands sent now and read later (:meth:`send`, :meth:`reply`: a worker's pipelined steps, a
blocking reserve) go to their nodes at once; their replies are read in the order sent. A
redirected reply is followed only once every reply still on its way has been read, so no
connection ever has two callers waiting on it.

``WAIT`` (replicas to acknowledge the writes before it) goes to the master the last command with
keys went to, so a write followed by ``WAIT`` in one pipeline asks the node that took the write.

A subscription (:meth:`subscribe`) is a socket of its own to the master of the channel's slot:
a ``PUBLISH`` on any node of a cluster reaches the subscribers of every node.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from horus.cluster_slots import BadClusterReply, Node, Redirect, SlotMap, key_slot
from horus.errors import ConnectionFailed, TransportError
from horus.redis_url import Address, ClusterTarget
from horus.resp import Arg, Connection, ReplyError

#: Redirections followed for one command before giving up (a map changing under us).
MAX_REDIRECTS = 5
#: TRYAGAIN (a multi-key command during a slot's migration) and CLUSTERDOWN are retried for
#: this long, with a short pause between tries.
RETRY_WINDOW_S = 2.0
RETRY_PAUSE_S = 0.05

# Commands that name no key: sent to any master (SCRIPT, FUNCTION: to every master).
_KEYLESS = {
    "PING", "TIME", "INFO", "HELLO", "AUTH", "SELECT", "CLUSTER", "COMMAND", "ROLE", "ECHO",
    "CONFIG", "CLIENT", "PUBLISH", "SCRIPT", "FUNCTION", "DBSIZE", "READONLY", "READWRITE",
}  # fmt: skip
_TO_EVERY_MASTER = {"SCRIPT", "FUNCTION"}
# Commands about the writes this connection sent before: they go where the last command went.
_FOLLOW_LAST = {"WAIT", "WAITAOF"}
_ALL_ARGS = {"DEL", "UNLINK", "EXISTS", "MGET", "TOUCH", "WATCH", "SINTER", "SUNION", "SDIFF", "PFCOUNT"}
_ALL_BUT_LAST = {"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"}
_TWO = {"BLMOVE", "LMOVE", "RPOPLPUSH", "BRPOPLPUSH", "SMOVE", "RENAME", "RENAMENX", "COPY"}
_SCRIPTS = {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}


#: Replies that mean "ask again, elsewhere or later" rather than an answer.
_FOLLOWED = ("MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN")


class CrossSlot(TransportError):
    """A command's keys are in several hash slots, which a cluster refuses."""


def command_keys(args: Sequence[Arg]) -> list[str]:
    """The keys a command names (the commands Horus sends; any other: its first argument)."""
    name = str(args[0]).upper()
    if name in _KEYLESS or len(args) < 2:
        return []
    if name in _SCRIPTS:
        count = int(args[2])
        return [_text(a) for a in args[3 : 3 + count]]
    if name in ("XREAD", "XREADGROUP"):
        upper = [str(a).upper() if isinstance(a, str) else "" for a in args]
        if "STREAMS" not in upper:
            return []
        rest = args[upper.index("STREAMS") + 1 :]
        return [_text(a) for a in rest[: len(rest) // 2]]
    if name in _ALL_ARGS:
        return [_text(a) for a in args[1:]]
    if name in _ALL_BUT_LAST:
        return [_text(a) for a in args[1:-1]]
    if name in _TWO:
        return [_text(a) for a in args[1:3]]
    if name == "MSET":
        return [_text(a) for a in args[1::2]]
    return [_text(args[1])]


def command_slot(args: Sequence[Arg]) -> int | None:
    """The one slot a command's keys are in; None for a command without keys."""
    keys = command_keys(args)
    if not keys:
        return None
    slots = {key_slot(k) for k in keys}
    if len(slots) > 1:
        shown = ", ".join(f"{k} (slot {key_slot(k)})" for k in keys[:6])
        raise CrossSlot(
            f"{str(args[0]).upper()} names keys in {len(slots)} hash slots, which a Redis Cluster refuses: "
            f"{shown}{' ...' if len(keys) > 6 else ''}; keys used together need one hash tag (horus/keys.py)"
        )
    return slots.pop()


def _text(arg: Arg) -> str:
    return arg.decode("utf-8", "surrogateescape") if isinstance(arg, bytes) else str(arg)


class ClusterConnection:
    """The cluster's masters as one connection: :meth:`call` and :meth:`pipeline` as on
    :class:`Connection`, routed by slot."""

    def __init__(self, target: ClusterTarget, connect_timeout_s: float = 5.0) -> None:
        self.target = target
        self.connect_timeout_s = connect_timeout_s
        self._conns: dict[tuple[str, int], Connection] = {}
        self._stale = False
        self._closed = False
        #: Sent and not read yet: the node asked (None: answered already, the reply beside it).
        self._pending: deque[tuple[Node | None, Sequence[Arg], Any]] = deque()
        #: Replies read ahead of their turn (to follow a redirection), with their command and node.
        self._ready: deque[tuple[Node, Sequence[Arg], Any]] = deque()
        self._subscriber: Connection | None = None
        #: Where the last command with keys went (a WAIT after it must ask the same master).
        self._last: Node | None = None
        #: Redirections followed (by kind), for tests and metrics.
        self.redirects = {"MOVED": 0, "ASK": 0}
        self.slots = self._read_map()

    # -- nodes and the map -------------------------------------------------------------------
    def node(self, node: Node | Address) -> Connection:
        """The (open) connection to ``node``."""
        where = (node.host, node.port)
        conn = self._conns.get(where)
        if conn is None or conn.broken:
            conn = Connection(self.target.node(*where), self.connect_timeout_s)
            self._conns[where] = conn
        return conn

    def _read_map(self, known: Sequence[Node] = ()) -> SlotMap:
        """The slot map from the first node that answers with every slot served: the masters
        known, then the seeds; failing that, the first map read, however partial."""
        candidates = dict.fromkeys([*((n.host, n.port) for n in known), *((s.host, s.port) for s in self.target.seeds)])
        failures = []
        partial: SlotMap | None = None
        for host, port in candidates:
            try:
                slots = self._ask_map(host, port)
            except (ConnectionFailed, ReplyError, BadClusterReply) as exc:
                failures.append(f"{host}:{port}: {exc}")
                continue
            if slots.uncovered() == 0:
                return slots
            partial = partial or slots
            failures.append(f"{host}:{port}: {slots.uncovered()} slots have no master")
        if partial is not None:
            return partial
        raise ConnectionFailed(f"cannot read the slot map of the cluster {self.target}: " + "; ".join(failures))

    def _ask_map(self, host: str, port: int) -> SlotMap:
        conn = self.node(Node(host, port))
        try:
            return SlotMap.from_shards(conn.call("CLUSTER", "SHARDS"), host)
        except ReplyError as exc:
            if "unknown subcommand" not in str(exc).lower():
                raise
        return SlotMap.from_slots(conn.call("CLUSTER", "SLOTS"), host)  # Redis before 7

    def refresh(self) -> None:
        """Read the slot map again (after a MOVED, or a node lost)."""
        self.slots = self._read_map(self.slots.masters())
        self._stale = False

    def _route(self, command: Sequence[Arg]) -> Node:
        """The master ``command`` goes to (a keyless one: the first; WAIT: the last one used)."""
        if str(command[0]).upper() in _FOLLOW_LAST:
            return self._last or self._master_for(None)
        slot = command_slot(command)
        node = self._master_for(slot)
        if slot is not None:
            self._last = node
        return node

    def _master_for(self, slot: int | None) -> Node:
        if self._stale:
            self.refresh()
        if slot is None:
            return self.slots.masters()[0]
        return self.slots.master_for(slot)

    # -- commands ----------------------------------------------------------------------------
    def call(self, *args: Arg, timeout_s: float | None = None) -> Any:
        """Send one command to the master of its slot and return its reply; error replies raise
        :class:`ReplyError`."""
        reply = self._run(args, timeout_s)
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Many commands, one write per master; replies in the commands' order, error replies as
        :class:`ReplyError` instances. Commands to different masters are not ordered with
        respect to each other; a redirected one is sent again on its own."""
        replies: list[Any] = [None] * len(commands)
        groups: dict[Node, list[int]] = {}
        everywhere = []
        for i, command in enumerate(commands):
            if str(command[0]).upper() in _TO_EVERY_MASTER:
                everywhere.append(i)
                continue
            groups.setdefault(self._route(command), []).append(i)
        for node, indexes in groups.items():
            try:
                sent = self.node(node).pipeline([commands[i] for i in indexes])
            except ConnectionFailed:
                self._stale = True
                raise
            for i, reply in zip(indexes, sent, strict=True):
                replies[i] = self._follow(commands[i], node, reply, None)
        for i in everywhere:
            replies[i] = self._everywhere(commands[i])
        return replies

    def _everywhere(self, command: Sequence[Arg]) -> Any:
        """SCRIPT LOAD and the like: every master needs it; the first master's reply."""
        replies = [self.node(master).pipeline([command])[0] for master in self.slots.masters()]
        return replies[0]

    def _run(self, args: Sequence[Arg], timeout_s: float | None) -> Any:
        if str(args[0]).upper() in _TO_EVERY_MASTER:
            return self._everywhere(args)
        node = self._route(args)
        return self._follow(args, node, self._send(node, args, timeout_s), timeout_s)

    def _send(self, node: Node, args: Sequence[Arg], timeout_s: float | None, asking: bool = False) -> Any:
        try:
            conn = self.node(node)
            if asking:
                return conn.pipeline([("ASKING",), args])[1]
            return conn.pipeline([args])[0] if timeout_s is None else self._reply(conn, args, timeout_s)
        except ConnectionFailed:
            self._stale = True  # the next command reads the map again: a failover may be under way
            raise

    @staticmethod
    def _reply(conn: Connection, args: Sequence[Arg], timeout_s: float) -> Any:
        conn.send([args])
        return conn.reply(timeout_s)

    def _follow(self, args: Sequence[Arg], node: Node, reply: Any, timeout_s: float | None) -> Any:
        """The final reply to ``args`` (sent to ``node``) once redirections and TRYAGAIN are
        followed."""
        deadline = time.monotonic() + RETRY_WINDOW_S
        for _ in range(MAX_REDIRECTS + int(RETRY_WINDOW_S / RETRY_PAUSE_S)):
            if not isinstance(reply, ReplyError):
                return reply
            message = str(reply)
            if message.startswith(("TRYAGAIN", "CLUSTERDOWN")) and time.monotonic() < deadline:
                time.sleep(RETRY_PAUSE_S)
                self._stale = message.startswith("CLUSTERDOWN")
                node = self._master_for(command_slot(args))
                reply = self._send(node, args, timeout_s)
                continue
            redirect = Redirect.parse(message, node.host)
            if redirect is None:
                return reply
            node = redirect.node
            self.redirects[redirect.kind] += 1
            if redirect.kind == "MOVED":
                self.slots.moved(redirect.slot, node)
                self._stale = True
            reply = self._send(node, args, timeout_s, asking=redirect.kind == "ASK")
        raise TransportError(f"{str(args[0]).upper()} was redirected more than {MAX_REDIRECTS} times; last: {reply}")

    # -- replies read later ------------------------------------------------------------------
    @property
    def broken(self) -> bool:
        """Closed by its owner: a node lost is reconnected by the next command, not here."""
        return self._closed

    def send(self, commands: Sequence[Sequence[Arg]]) -> None:
        """Write commands to their masters without reading; :meth:`reply` reads the replies in
        the commands' order."""
        groups: dict[Node, list[Sequence[Arg]]] = {}
        sent: list[tuple[Node | None, Sequence[Arg], Any]] = []
        for command in commands:
            if str(command[0]).upper() in _TO_EVERY_MASTER:
                sent.append((None, command, self._everywhere(command)))
                continue
            node = self._route(command)
            groups.setdefault(node, []).append(command)
            sent.append((node, command, None))
        self._pending.extend(sent)
        for node, group in groups.items():
            try:
                self.node(node).send(group)
            except ConnectionFailed:
                self._abandon()
                raise

    def reply(self, timeout_s: float | None = None) -> Any:
        """The next reply of what :meth:`send` sent (redirections followed); an error reply comes
        back as a :class:`ReplyError` instance."""
        if self._ready:
            node, command, reply = self._ready.popleft()
            return self._follow(command, node, reply, timeout_s)
        asked, command, reply = self._pending.popleft()
        if asked is None:
            return reply
        reply = self._read(asked, timeout_s)
        if isinstance(reply, ReplyError) and str(reply).startswith(_FOLLOWED):
            self._read_ahead(timeout_s)
            reply = self._follow(command, asked, reply, timeout_s)
        return reply

    def _read(self, node: Node, timeout_s: float | None) -> Any:
        try:
            return self.node(node).reply(timeout_s)
        except ConnectionFailed:
            self._abandon()
            raise

    def _read_ahead(self, timeout_s: float | None) -> None:
        """Read every reply still on its way, so following a redirection may use any node."""
        while self._pending:
            node, command, reply = self._pending.popleft()
            if node is None:
                self._ready.append((self.slots.masters()[0], command, reply))
            else:
                self._ready.append((node, command, self._read(node, timeout_s)))

    def _abandon(self) -> None:
        """A node was lost with replies on their way: the other nodes' replies will not be read
        either, so their connections are closed too (the next command opens new ones)."""
        for node, _, _ in self._pending:
            if node is not None:
                self.node(node).close()
        self._pending.clear()
        self._ready.clear()
        self._stale = True

    # -- pub/sub -----------------------------------------------------------------------------
    def subscribe(self, channel: str) -> None:
        """Subscribe on a socket of its own; from then on :meth:`messages` delivers."""
        node = self._master_for(key_slot(channel))
        self._subscriber = Connection(self.target.node(node.host, node.port), self.connect_timeout_s)
        try:
            self._subscriber.subscribe(channel)
        except ConnectionFailed:
            self._stale = True
            raise

    def messages(self) -> list[str]:
        """The data of the messages that have arrived, without blocking (for a select loop)."""
        if self._subscriber is None:
            raise TransportError("messages() before subscribe()")
        try:
            return self._subscriber.messages()
        except ConnectionFailed:
            self._stale = True
            raise

    def fileno(self) -> int:
        """The subscription's socket (the only one a caller may wait on)."""
        if self._subscriber is None:
            raise TransportError("a cluster connection has a socket to wait on only once subscribed")
        return self._subscriber.fileno()

    def close(self) -> None:
        self._closed = True
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
        if self._subscriber is not None:
            self._subscriber.close()
        self._pending.clear()
        self._ready.clear()
