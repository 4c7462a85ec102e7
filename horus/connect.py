"""Connections made from a Redis URL, in one place: one Redis, the master of a Sentinel group,
or the masters of a Redis Cluster.

Every caller that talks to Redis (the broker and so the workers, supervisor, coordinator,
beat, CLI and clients; the API servers' waiting calls) connects through here, so a single
Redis, a Sentinel group and a cluster behave the same. The kind is decided once, when
connecting: a single Redis gets a plain :class:`Connection` and pays nothing per command for
Sentinel or Cluster.

The API servers' waiting calls on a cluster go through
:class:`horus.resp_cluster_async.AsyncClusterPool` (:func:`async_pool`); :func:`refuse_cluster` is
how what cannot run on a cluster yet (the single asyncio connection of ``wait_async``) says so
(docs/scaling.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from horus.errors import ConfigError
from horus.redis_url import SINGLE_FORM, Address, ClusterTarget, SentinelTarget, parse_target
from horus.resp import Connection, RedisConnection
from horus.resp_cluster import ClusterConnection
from horus.resp_sentinel import SentinelConnection

if TYPE_CHECKING:
    from horus.resp_async import AsyncCaller, AsyncConnection

#: What the commands connect to.
Connectable = Address | SentinelTarget | ClusterTarget
#: What the asyncio side connects to (no cluster yet).
AsyncConnectable = Address | SentinelTarget


def target_of(url: str) -> Connectable:
    """The one Redis, the Sentinel group or the cluster ``url`` names."""
    return parse_target(url)


def refuse_cluster(target: Connectable, who: str) -> AsyncConnectable:
    """``target``, unless it is a cluster, which ``who`` (asyncio code on one connection) cannot use yet."""
    if isinstance(target, ClusterTarget):
        raise ConfigError(
            f"{who} cannot run on a Redis Cluster yet ({target}): give it the URL of one Redis "
            f"({SINGLE_FORM}) or of a Sentinel group (docs/scaling.md)"
        )
    return target


def connect(target: Connectable, connect_timeout_s: float = 5.0) -> RedisConnection:
    """An open connection to ``target`` (for a Sentinel group: to its master, checked; for a
    cluster: its slot map read, each master reached when first needed)."""
    if isinstance(target, SentinelTarget):
        return SentinelConnection(target, connect_timeout_s)
    if isinstance(target, ClusterTarget):
        return ClusterConnection(target, connect_timeout_s)
    return Connection(target, connect_timeout_s)


async def connect_async(target: AsyncConnectable, connect_timeout_s: float = 5.0) -> AsyncConnection:
    """The same for asyncio code."""
    # Imported here: a worker never waits on an event loop, and asyncio costs each process memory.
    from horus.resp_async import AsyncConnection
    from horus.resp_sentinel_async import AsyncSentinelConnection

    if isinstance(target, SentinelTarget):
        return await AsyncSentinelConnection.discover(target, connect_timeout_s)
    return await AsyncConnection.open(target, connect_timeout_s)


def async_pool(target: Connectable, keep: int = 16) -> AsyncCaller:
    """A pool of asyncio connections to ``target`` (the API servers' waiting calls)."""
    from horus.resp_async import AsyncPool

    if isinstance(target, ClusterTarget):
        from horus.resp_cluster_async import AsyncClusterPool

        return AsyncClusterPool(target, keep)
    single: AsyncConnectable = target
    return AsyncPool(lambda: connect_async(single), keep)
