"""The asyncio twin of :class:`horus.resp_sentinel.SentinelConnection`, for the API servers'
waiting calls; apart so that processes without an event loop (workers) never import asyncio."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from horus.errors import ConnectionFailed
from horus.redis_url import SentinelTarget
from horus.resp import ReplyError
from horus.resp_async import AsyncConnection
from horus.resp_sentinel import (
    DISCOVER_TIMEOUT_S,
    FIRST_PAUSE_S,
    MAX_PAUSE_S,
    RECHECK_S,
    RECHECK_TIMEOUT_S,
    _answered,
    _gave_up,
    _order,
    _where,
    master_address,
    not_master,
    role_of,
)


class AsyncSentinelConnection(AsyncConnection):
    """An :class:`AsyncConnection` to the master the sentinels name, as :class:`SentinelConnection`."""

    target: SentinelTarget
    _recheck_at = float("inf")

    @classmethod
    async def discover(
        cls, target: SentinelTarget, connect_timeout_s: float = 5.0, discover_timeout_s: float = DISCOVER_TIMEOUT_S
    ) -> AsyncSentinelConnection:
        started = time.monotonic()
        pause = FIRST_PAUSE_S
        tried: dict[str, str] = {}
        while True:
            for index in _order(target):
                conn = await cls._try(target, index, connect_timeout_s, tried)
                if conn is not None:
                    _answered(target, index)
                    conn._recheck_at = time.monotonic() + RECHECK_S
                    return conn
            waited = time.monotonic() - started
            if waited + pause > discover_timeout_s:
                raise _gave_up(target, waited, tried)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)

    @classmethod
    async def _try(
        cls, target: SentinelTarget, index: int, connect_timeout_s: float, tried: dict[str, str]
    ) -> AsyncSentinelConnection | None:
        sentinel = target.sentinels[index]
        try:
            asker = await AsyncConnection.open(sentinel, connect_timeout_s)
            try:
                ask = ("SENTINEL", "get-master-addr-by-name", target.master_name)
                reply = await asker.call(*ask, timeout_s=connect_timeout_s)
            finally:
                await asker.aclose()
            address = master_address(reply, target)
        except (ConnectionFailed, ReplyError) as exc:
            tried[_where(sentinel)] = str(exc)
            return None
        if address is None:
            tried[_where(sentinel)] = f"does not monitor a master named {target.master_name!r}"
            return None
        conn: AsyncSentinelConnection | None = None
        try:
            opened = await cls.open(address, connect_timeout_s)
            assert isinstance(opened, AsyncSentinelConnection)
            conn = opened
            conn.target = target
            role = role_of(await AsyncConnection.call(conn, "ROLE", timeout_s=connect_timeout_s))
        except (ConnectionFailed, ReplyError) as exc:
            tried[_where(sentinel)] = f"named {_where(address)}, which failed: {exc}"
            if conn is not None:
                await conn.aclose()
            return None
        if role != "master":
            tried[_where(sentinel)] = f"named {_where(address)}, which is a {role}"
            await conn.aclose()
            return None
        return conn

    async def _recheck(self) -> None:
        """As :meth:`SentinelConnection._recheck`."""
        self._recheck_at = time.monotonic() + RECHECK_S
        ask = ("SENTINEL", "get-master-addr-by-name", self.target.master_name)
        for index in _order(self.target):
            try:
                asker = await AsyncConnection.open(self.target.sentinels[index], RECHECK_TIMEOUT_S)
                try:
                    named = master_address(await asker.call(*ask, timeout_s=RECHECK_TIMEOUT_S), self.target)
                finally:
                    await asker.aclose()
            except (ConnectionFailed, ReplyError):
                continue
            if named is not None and (named.host, named.port) != (self.address.host, self.address.port):
                self.close()
                raise ConnectionFailed(
                    f"the sentinels moved the master of {self.target.master_name!r} from {_where(self.address)} "
                    f"to {_where(named)}; the next connection goes there"
                )
            return

    async def call(self, *args: Any, timeout_s: float) -> Any:
        if time.monotonic() >= self._recheck_at:
            await self._recheck()
        try:
            return await super().call(*args, timeout_s=timeout_s)
        except ReplyError as exc:
            if not_master(exc):
                self.close()
                raise ConnectionFailed(
                    f"Redis at {self.address} is not a usable master now ({exc}); "
                    "the next connection asks the sentinels again"
                ) from None
            raise
