"""A lean Redis connection: hiredis packs commands and parses replies, nothing else in between.

redis-py costs ~120 µs of Python per call on the machines we measure; this costs ~20 µs,
which is most of a job's budget on the worker's hot path. One connection per thread.

A reply expected at once (a read without a timeout: every non-blocking command) is first
polled for up to ``HORUS_REDIS_SPIN_US`` microseconds before the process sleeps in the kernel.
On virtual machines whose idle CPUs halt (no halt polling in the guest), waking a sleeping
process costs more than a loopback round trip: polling halves the time of a short call. A
connection whose replies keep outrunning the window stops polling for a while, so a distant
Redis costs no spinning (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import hiredis

from horus.errors import ConfigError, ConnectionFailed, TransportError
from horus.redis_url import Address

Arg = str | bytes | int | float

__all__ = [
    "Address",
    "Arg",
    "Connection",
    "RedisConnection",
    "ReplyError",
    "ThreadLocalConnections",
    "spin_window_us",
]

#: Polling window for replies expected at once, unless HORUS_REDIS_SPIN_US says otherwise (0: off).
SPIN_US = 200
#: Polls that ran out of their window cost two credits, polls answered in time earn one back;
#: out of credit, the next SPIN_BACKOFF reads sleep at once, then polling is tried again.
SPIN_CREDIT = 8
SPIN_BACKOFF = 32

# hiredis's stub types pack_command's argument as a one-element tuple; it takes any length.
_pack: Any = hiredis.pack_command


def spin_window_us() -> int:
    """The polling window from ``HORUS_REDIS_SPIN_US``."""
    raw = os.environ.get("HORUS_REDIS_SPIN_US", "").strip()
    if not raw:
        return SPIN_US
    if not raw.isdigit():
        raise ConfigError(
            f"HORUS_REDIS_SPIN_US must be a whole number of microseconds (0 turns polling off), not {raw!r}"
        )
    return int(raw)


class ReplyError(TransportError):
    """Redis answered a command with an error."""


class RedisConnection(Protocol):
    """What every caller of Redis uses: :class:`Connection` (one Redis, or a Sentinel group's
    master) and :class:`horus.resp_cluster.ClusterConnection` (a cluster's masters) both are."""

    @property
    def broken(self) -> bool: ...

    def call(self, *args: Arg, timeout_s: float | None = None) -> Any: ...

    def send(self, commands: Sequence[Sequence[Arg]]) -> None: ...

    def reply(self, timeout_s: float | None = None) -> Any: ...

    def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]: ...

    def subscribe(self, channel: str) -> None: ...

    def messages(self) -> list[str]: ...

    def fileno(self) -> int: ...

    def close(self) -> None: ...


class Connection:
    """One socket to Redis. Not thread-safe: use :class:`ThreadLocalConnections`."""

    def __init__(self, address: Address, connect_timeout_s: float = 5.0, spin_us: int | None = None) -> None:
        self.address = address
        # Polling a TLS socket would need the SSL layer's non-blocking dance; its peer is far anyway.
        self._spin_ns = 0 if address.tls else (spin_window_us() if spin_us is None else spin_us) * 1000
        self._spin_credit = SPIN_CREDIT
        self._spin_skip = 0
        self._reader = hiredis.Reader(encoding="utf-8", errors="surrogateescape")
        try:
            if address.path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(connect_timeout_s)
                sock.connect(address.path)
            else:
                sock = socket.create_connection((address.host, address.port), timeout=connect_timeout_s)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if address.tls:
                    sock = ssl.create_default_context().wrap_socket(sock, server_hostname=address.host)
        except OSError as exc:
            raise ConnectionFailed(f"cannot reach Redis at {address}: {exc.strerror or exc}") from None
        sock.settimeout(None)
        self._sock = sock
        self.broken = False
        if address.password:
            auth: list[Arg] = (
                ["AUTH", address.password] if not address.username else ["AUTH", address.username, address.password]
            )
            self.call(*auth)
        if address.db:
            self.call("SELECT", address.db)

    def close(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError):
            self._sock.close()

    def _send(self, payload: bytes) -> None:
        try:
            self._sock.sendall(payload)
        except OSError as exc:
            self.close()
            raise ConnectionFailed(f"lost the connection to Redis at {self.address}: {exc}") from None

    def _read(self, timeout_s: float | None = None) -> Any:
        reply = self._reader.gets()
        if reply is not False:
            return reply
        if timeout_s is not None:
            self._sock.settimeout(timeout_s)
        try:
            return self._receive(timeout_s)
        finally:
            if timeout_s is not None and not self.broken:
                self._sock.settimeout(None)

    def _poll(self) -> bytes | None:
        """Data that arrives within the polling window, or None (then sleep in ``recv``)."""
        if self._spin_skip:
            self._spin_skip -= 1
            return None
        until = time.perf_counter_ns() + self._spin_ns
        while True:
            try:
                data = self._sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if time.perf_counter_ns() < until:
                    continue
                self._spin_credit -= 2
                if self._spin_credit <= 0:
                    self._spin_credit, self._spin_skip = 2, SPIN_BACKOFF
                return None
            self._spin_credit = min(self._spin_credit + 1, SPIN_CREDIT)
            return data

    def _receive(self, timeout_s: float | None) -> Any:
        reply: Any = False
        poll = timeout_s is None and self._spin_ns > 0
        while reply is False:
            try:
                data = self._poll() if poll else None
                poll = False
                if data is None:
                    data = self._sock.recv(65536)
            except TimeoutError:
                self.close()
                raise ConnectionFailed(f"Redis at {self.address} did not answer in {timeout_s} s") from None
            except OSError as exc:
                self.close()
                raise ConnectionFailed(f"lost the connection to Redis at {self.address}: {exc}") from None
            if not data:
                self.close()
                raise ConnectionFailed(f"Redis at {self.address} closed the connection")
            self._reader.feed(data)
            reply = self._reader.gets()
        return reply

    def call(self, *args: Arg, timeout_s: float | None = None) -> Any:
        """Send one command and return its reply; error replies raise :class:`ReplyError`."""
        self._send(_pack(args))
        reply = self._read(timeout_s)
        if isinstance(reply, hiredis.ReplyError):
            raise ReplyError(str(reply))
        return reply

    def send(self, commands: Sequence[Sequence[Arg]]) -> None:
        """Write commands without reading; read their replies in order with :meth:`reply`."""
        self._send(b"".join(_pack(tuple(command)) for command in commands))

    def reply(self, timeout_s: float | None = None) -> Any:
        """The next reply; an error reply comes back as a :class:`ReplyError` instance."""
        reply = self._read(timeout_s)
        return ReplyError(str(reply)) if isinstance(reply, hiredis.ReplyError) else reply

    def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Send many commands in one write and read every reply; error replies come back as
        :class:`ReplyError` instances in the list, not raised."""
        if not commands:
            return []
        self._send(b"".join(_pack(tuple(command)) for command in commands))
        replies = [self._read() for _ in commands]
        return [ReplyError(str(r)) if isinstance(r, hiredis.ReplyError) else r for r in replies]

    def fileno(self) -> int:
        return self._sock.fileno()

    def subscribe(self, channel: str) -> None:
        """Subscribe; from then on the connection only delivers messages (:meth:`messages`)."""
        self.call("SUBSCRIBE", channel)
        self._sock.setblocking(False)

    def messages(self) -> list[str]:
        """The data of the messages that have arrived, without blocking (for a select loop)."""
        try:
            while data := self._sock.recv(65536):
                self._reader.feed(data)
            self.close()
            raise ConnectionFailed(f"Redis at {self.address} closed the connection")
        except BlockingIOError:
            pass
        except OSError as exc:
            self.close()
            raise ConnectionFailed(f"lost the connection to Redis at {self.address}: {exc}") from None
        found = []
        while (reply := self._reader.gets()) is not False:
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == "message":
                found.append(str(reply[2]))
        return found


class ThreadLocalConnections:
    """A connection per thread (and per process: a fork never reuses its parent's socket).

    Every connection made is remembered so :meth:`close` can close them all, including those of
    threads that have ended."""

    def __init__(self, opener: Callable[[], RedisConnection]) -> None:
        #: Opens a connection (``horus.connect.connect`` for the broker's target).
        self.opener = opener
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[RedisConnection] = []

    def get(self) -> RedisConnection:
        conn: RedisConnection | None = getattr(self._local, "conn", None)
        if conn is None or conn.broken or self._local.pid != os.getpid():
            conn = self.opener()
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._all = [c for c in self._all if not c.broken]
                self._all.append(conn)
        return conn

    def release(self) -> None:
        """Close the calling thread's connection: a thread that ends must, or its socket stays
        open (remembered for :meth:`close`) as long as the process lives."""
        conn: RedisConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            self._all = [c for c in self._all if c is not conn]
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
