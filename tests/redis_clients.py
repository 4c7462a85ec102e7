"""redis-py clients for the tests' own looks at Redis and the fixture tasks', whatever the kind
of Redis the tests run on (one Redis, a cluster, a Sentinel group: ``--redis-kind``)."""

from __future__ import annotations

from typing import Any

import redis
import redis.sentinel

from horus.redis_url import ClusterTarget, SentinelTarget, parse_target


def redis_py(url: str, decode: bool = True) -> Any:
    """A redis-py client for ``url``: a RedisCluster, a Sentinel group's master, or one Redis."""
    target = parse_target(url)
    if isinstance(target, ClusterTarget):
        seed = target.seeds[0]
        return redis.RedisCluster(host=seed.host, port=seed.port, password=target.password, decode_responses=decode)
    if isinstance(target, SentinelTarget):
        sentinels = redis.sentinel.Sentinel([(s.host, s.port) for s in target.sentinels])
        return sentinels.master_for(target.master_name, db=target.db, password=target.password, decode_responses=decode)
    return redis.Redis.from_url(url, decode_responses=decode)


def client_list(client: Any) -> list[dict[str, Any]]:
    """CLIENT LIST of the test's database: of one Redis (its db only) or of every cluster master."""
    if isinstance(client, redis.RedisCluster):
        return [c for node in client.get_primaries() for c in client.client_list(target_nodes=node)]
    db = client.connection_pool.connection_kwargs.get("db", 0)
    return [c for c in client.client_list() if int(c.get("db", -1)) == db]
