"""Blocking Redis commands on an asyncio event loop: what the API servers' waiting calls block on.

Same wire handling as :mod:`horus.resp` (hiredis packs and parses, replies decoded the same
way), so a reply looks the same whichever connection read it. Only what waiting needs: one
command at a time per connection, and a small pool of idle connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import hiredis

from horus.errors import ConnectionFailed
from horus.resp import Address, Arg, ReplyError

_pack: Any = hiredis.pack_command


class AsyncConnection:
    """One socket to Redis for asyncio code; one command at a time."""

    def __init__(self, address: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.address = address
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader(encoding="utf-8", errors="surrogateescape")
        self.broken = False

    @classmethod
    async def open(cls, address: Address, connect_timeout_s: float = 5.0) -> AsyncConnection:
        try:
            async with asyncio.timeout(connect_timeout_s):
                if address.path:
                    reader, writer = await asyncio.open_unix_connection(address.path)
                else:
                    tls = ssl.create_default_context() if address.tls else None
                    reader, writer = await asyncio.open_connection(
                        address.host, address.port, ssl=tls, server_hostname=address.host if tls else None
                    )
        except (OSError, TimeoutError) as exc:
            raise ConnectionFailed(
                f"cannot reach Redis at {address}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        conn = cls(address, reader, writer)
        if address.password:
            auth: list[Arg] = ["AUTH", address.password]
            if address.username:
                auth.insert(1, address.username)
            await conn.call(*auth, timeout_s=connect_timeout_s)
        if address.db:
            await conn.call("SELECT", address.db, timeout_s=connect_timeout_s)
        return conn

    def close(self) -> None:
        self.broken = True
        self._writer.close()

    async def aclose(self) -> None:
        self.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def call(self, *args: Arg, timeout_s: float) -> Any:
        """Send one command and return its reply; error replies raise :class:`ReplyError`.

        A connection whose command did not finish (timeout, cancellation, lost peer) is closed:
        its next reply would be the abandoned command's.
        """
        try:
            async with asyncio.timeout(timeout_s):
                self._writer.write(_pack(tuple(args)))
                await self._writer.drain()
                reply = self._parser.gets()
                while reply is False:
                    data = await self._reader.read(65536)
                    if not data:
                        raise ConnectionFailed(f"Redis at {self.address} closed the connection")
                    self._parser.feed(data)
                    reply = self._parser.gets()
        except TimeoutError:
            self.close()
            raise ConnectionFailed(f"Redis at {self.address} did not answer in {timeout_s} s") from None
        except OSError as exc:
            self.close()
            raise ConnectionFailed(f"lost the connection to Redis at {self.address}: {exc}") from None
        except BaseException:
            self.close()
            raise
        if isinstance(reply, hiredis.ReplyError):
            raise ReplyError(str(reply))
        return reply


class AsyncCaller(Protocol):
    """What the servers' waiting calls use: :class:`AsyncPool` (one Redis or a Sentinel group's
    master) and :class:`horus.resp_cluster_async.AsyncClusterPool` (a cluster)."""

    async def call(self, *args: Arg, timeout_s: float) -> Any: ...

    async def aclose(self) -> None: ...


class AsyncPool:
    """Idle connections kept for reuse; a broken one is dropped. Bounded by its users: the
    servers take a connection only while holding a waiter slot."""

    def __init__(self, opener: Callable[[], Awaitable[AsyncConnection]], keep: int = 16) -> None:
        #: Opens a connection (``horus.connect.connect_async`` for the broker's target).
        self.opener = opener
        self.keep = keep
        self._idle: list[AsyncConnection] = []

    async def call(self, *args: Arg, timeout_s: float) -> Any:
        conn = self._idle.pop() if self._idle else await self.opener()
        try:
            return await conn.call(*args, timeout_s=timeout_s)
        finally:
            if not conn.broken and len(self._idle) < self.keep:
                self._idle.append(conn)
            elif not conn.broken:
                conn.close()

    async def aclose(self) -> None:
        """Close the idle connections, before the event loop ends (else their sockets leak)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.aclose()
