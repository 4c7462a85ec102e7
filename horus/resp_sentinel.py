"""A connection to the master of a Sentinel group: ask the sentinels where it is, check, connect.

Discovery asks each sentinel in turn ``SENTINEL get-master-addr-by-name NAME``, connects to the
address given and checks ``ROLE`` says ``master``: a sentinel that has not seen a failover yet
can name a demoted master, now a replica. The sentinel that answered is asked first next time.
While a failover runs no sentinel may name a master that answers as one; discovery tries
again with a growing pause, and after ``discover_timeout_s`` gives up naming the master name
and what each sentinel said.

Once connected, the connection is a :class:`horus.resp.Connection` to the master. A failover
ends it: sentinels close the demoted master's clients (and a dead master's socket breaks), so
the next command raises :class:`ConnectionFailed` as a lost single Redis does, and whoever
owns the connection opens a new one (``ThreadLocalConnections``: on its next use), which
discovers again. A ``READONLY``, ``LOADING``, ``MASTERDOWN`` or ``NOREPLICAS`` reply (the server is no longer,
or not yet, a usable master) is turned into the same lost connection: the command did not
run, and every caller already treats a lost connection as transient, while a plain error
reply is final for them. Every ``RECHECK_S`` a connection also asks a sentinel whether its
server is still the master, so a master the sentinels replaced while it kept running (a
forced failover) is left within that time, not when the sentinels get round to demoting it.

Only this path pays for these checks: a single Redis gets a plain :class:`Connection`
(:mod:`horus.connect` decides once, when connecting).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from horus.errors import ConnectionFailed
from horus.redis_url import Address, SentinelTarget
from horus.resp import Connection, ReplyError

#: How long discovery keeps trying before it gives up (a failover takes a few seconds: the
#: sentinels' down-after time, their vote, the replica's promotion).
DISCOVER_TIMEOUT_S = 30.0
#: Pause between rounds over every sentinel: doubles from the first to the last.
FIRST_PAUSE_S = 0.05
MAX_PAUSE_S = 1.0
#: How often a connection asks a sentinel whether its server is still the master. A failover
#: the sentinels force (SENTINEL FAILOVER, or a master they lost touch with that still runs)
#: leaves the old master taking writes until they demote it, which can take their INFO period
#: (10 s): writes sent there meanwhile are lost. Asking bounds that window to about this long.
RECHECK_S = 0.5
RECHECK_TIMEOUT_S = 1.0
#: Replies meaning "not a master you can write to now": the command did not run. NOREPLICAS
#: comes from a master set with ``min-replicas-to-write`` whose replica left, as it does when
#: the sentinels promote it: then the writes refused are those a failover would have lost.
NOT_MASTER = ("READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS")

_lock = threading.Lock()
#: Per group, the index of the sentinel that answered last: asked first next time.
_first: dict[tuple[tuple[str, int], ...], int] = {}


class NoMaster(ConnectionFailed):
    """No sentinel named a reachable master (all down, or a failover that does not end)."""


def _group(target: SentinelTarget) -> tuple[tuple[str, int], ...]:
    return tuple((s.host, s.port) for s in target.sentinels)


def _order(target: SentinelTarget) -> list[int]:
    with _lock:
        first = _first.get(_group(target), 0)
    count = len(target.sentinels)
    return [(first + i) % count for i in range(count)]


def _answered(target: SentinelTarget, index: int) -> None:
    with _lock:
        _first[_group(target)] = index


def master_address(reply: Any, target: SentinelTarget) -> Address | None:
    """The master's address from a ``get-master-addr-by-name`` reply (None: unknown name)."""
    if reply is None:
        return None
    if not isinstance(reply, list) or len(reply) != 2 or not str(reply[1]).isdigit():
        raise ConnectionFailed(f"unexpected reply to SENTINEL get-master-addr-by-name: {reply!r}")
    return target.master(str(reply[0]), int(reply[1]))


def role_of(reply: Any) -> str:
    """The role a ``ROLE`` reply names (``master``, ``slave``, ``sentinel``)."""
    return str(reply[0]) if isinstance(reply, list) and reply else repr(reply)


def not_master(reply: Any) -> bool:
    """Whether an error reply says the server is not a usable master (the command did not run)."""
    return isinstance(reply, ReplyError) and str(reply).startswith(NOT_MASTER)


def _where(address: Address) -> str:
    return f"[{address.host}]:{address.port}" if ":" in address.host else f"{address.host}:{address.port}"


def _gave_up(target: SentinelTarget, waited_s: float, tried: dict[str, str]) -> NoMaster:
    said = "; ".join(f"{where}: {what}" for where, what in tried.items())
    return NoMaster(
        f"no sentinel named a reachable master for {target.master_name!r} in {waited_s:.1f} s "
        f"(sentinels asked: {said}); check the sentinels run, monitor {target.master_name!r} "
        "(SENTINEL MASTERS) and the URL's master name and credentials"
    )


class SentinelConnection(Connection):
    """A :class:`Connection` to whichever server the sentinels name master, checked by ``ROLE``."""

    def __init__(
        self,
        target: SentinelTarget,
        connect_timeout_s: float = 5.0,
        spin_us: int | None = None,
        discover_timeout_s: float = DISCOVER_TIMEOUT_S,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self.target = target
        self.recheck_s = recheck_s
        self._recheck_at = float("inf")  # not while discovering
        self._asker: Connection | None = None
        self._asker_index = -1
        started = time.monotonic()
        pause = FIRST_PAUSE_S
        tried: dict[str, str] = {}
        while True:
            for index in _order(target):
                if self._try(index, connect_timeout_s, spin_us, tried):
                    _answered(target, index)
                    self._recheck_at = time.monotonic() + recheck_s
                    return
            waited = time.monotonic() - started
            if waited + pause > discover_timeout_s:
                raise _gave_up(target, waited, tried)
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)

    def _try(self, index: int, connect_timeout_s: float, spin_us: int | None, tried: dict[str, str]) -> bool:
        """Ask one sentinel, connect to the master it names; False (and why, in ``tried``) if
        that gave no master."""
        sentinel = self.target.sentinels[index]
        try:
            asker = Connection(sentinel, connect_timeout_s, spin_us=0)
            try:
                ask = ("SENTINEL", "get-master-addr-by-name", self.target.master_name)
                address = master_address(asker.call(*ask, timeout_s=connect_timeout_s), self.target)
            finally:
                asker.close()
        except (ConnectionFailed, ReplyError) as exc:
            tried[_where(sentinel)] = str(exc)
            return False
        if address is None:
            tried[_where(sentinel)] = f"does not monitor a master named {self.target.master_name!r}"
            return False
        try:
            Connection.__init__(self, address, connect_timeout_s, spin_us)
            role = role_of(Connection.call(self, "ROLE", timeout_s=connect_timeout_s))
        except (ConnectionFailed, ReplyError) as exc:
            tried[_where(sentinel)] = f"named {_where(address)}, which failed: {exc}"
            if hasattr(self, "_sock"):
                self.close()
            return False
        if role != "master":
            tried[_where(sentinel)] = f"named {_where(address)}, which is a {role}"
            self.close()
            return False
        return True

    def _lost(self, reply: ReplyError) -> ConnectionFailed:
        self.close()
        return ConnectionFailed(
            f"Redis at {self.address} is not the master of {self.target.master_name!r} now ({reply}); "
            "the next connection asks the sentinels again"
        )

    def close(self) -> None:
        super().close()
        if self._asker is not None:
            self._asker.close()
            self._asker = None

    def _recheck(self) -> None:
        """Ask a sentinel whether this is still the master; if they name another, end this
        connection before the command is sent (it has not run: the caller sends it again)."""
        self._recheck_at = time.monotonic() + self.recheck_s
        named = self._ask_again()
        if named is None or (named.host, named.port) == (self.address.host, self.address.port):
            return  # no sentinel answered: the master we have is the best we know
        self.close()
        raise ConnectionFailed(
            f"the sentinels moved the master of {self.target.master_name!r} from {_where(self.address)} "
            f"to {_where(named)}; the next connection goes there"
        )

    def _ask_again(self) -> Address | None:
        ask = ("SENTINEL", "get-master-addr-by-name", self.target.master_name)
        for index in _order(self.target):
            try:
                if self._asker is None or self._asker.broken or self._asker_index != index:
                    if self._asker is not None:
                        self._asker.close()
                    self._asker = Connection(self.target.sentinels[index], RECHECK_TIMEOUT_S, spin_us=0)
                    self._asker_index = index
                return master_address(self._asker.call(*ask, timeout_s=RECHECK_TIMEOUT_S), self.target)
            except (ConnectionFailed, ReplyError):
                if self._asker is not None:
                    self._asker.close()
                self._asker = None
        return None

    def call(self, *args: Any, timeout_s: float | None = None) -> Any:
        if time.monotonic() >= self._recheck_at:
            self._recheck()
        try:
            return super().call(*args, timeout_s=timeout_s)
        except ReplyError as exc:
            if not_master(exc):
                raise self._lost(exc) from None
            raise

    def reply(self, timeout_s: float | None = None) -> Any:
        reply = super().reply(timeout_s)
        if not_master(reply):
            raise self._lost(reply)
        return reply

    def send(self, commands: Any) -> None:
        if time.monotonic() >= self._recheck_at:
            self._recheck()
        super().send(commands)

    def messages(self) -> list[str]:
        # A subscriber only listens: its master is rechecked here, which its owner calls on a
        # timer as well as when data arrives (a forced failover leaves the old master running).
        if time.monotonic() >= self._recheck_at:
            self._recheck()
        return super().messages()

    def pipeline(self, commands: Any) -> list[Any]:
        if time.monotonic() >= self._recheck_at:
            self._recheck()
        replies = super().pipeline(commands)
        for reply in replies:
            if not_master(reply):
                raise self._lost(reply)
        return replies
