"""Connections made from a Redis URL, in one place: one Redis or the master of a Sentinel group.

Every caller that talks to Redis (the broker and so the workers, supervisor, coordinator,
beat, CLI and clients; the API servers' waiting calls) connects through here, so a single
Redis and a Sentinel group behave the same. The kind is decided once, when connecting: a
single Redis gets a plain :class:`Connection` and pays nothing per command for Sentinel.

A Redis Cluster URL is refused here, as by :meth:`Address.parse`: the commands cannot use one
yet (docs/scaling.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from horus.errors import ConfigError
from horus.redis_url import SINGLE_FORM, Address, ClusterTarget, SentinelTarget, parse_target, redact
from horus.resp import Connection
from horus.resp_sentinel import SentinelConnection

if TYPE_CHECKING:
    from horus.resp_async import AsyncConnection, AsyncPool

#: What the commands connect to today.
Connectable = Address | SentinelTarget


def target_of(url: str) -> Connectable:
    """The one Redis or the Sentinel group ``url`` names; a cluster URL is refused."""
    target = parse_target(url)
    if isinstance(target, ClusterTarget):
        raise ConfigError(
            f"{redact(url)!r} names a Redis Cluster, which this connection cannot use yet: give the URL "
            f"of one Redis ({SINGLE_FORM}) or of a Sentinel group"
        )
    return target


def connect(target: Connectable, connect_timeout_s: float = 5.0) -> Connection:
    """An open connection to ``target`` (for a Sentinel group: to its master, checked)."""
    if isinstance(target, SentinelTarget):
        return SentinelConnection(target, connect_timeout_s)
    return Connection(target, connect_timeout_s)


async def connect_async(target: Connectable, connect_timeout_s: float = 5.0) -> AsyncConnection:
    """The same for asyncio code."""
    # Imported here: a worker never waits on an event loop, and asyncio costs each process memory.
    from horus.resp_async import AsyncConnection
    from horus.resp_sentinel_async import AsyncSentinelConnection

    if isinstance(target, SentinelTarget):
        return await AsyncSentinelConnection.discover(target, connect_timeout_s)
    return await AsyncConnection.open(target, connect_timeout_s)


def async_pool(target: Connectable, keep: int = 16) -> AsyncPool:
    """A pool of asyncio connections to ``target`` (the API servers' waiting calls)."""
    from horus.resp_async import AsyncPool

    return AsyncPool(lambda: connect_async(target), keep)
