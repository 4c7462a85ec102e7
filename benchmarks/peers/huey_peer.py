"""Huey: RedisHuey, ``huey_consumer ... -w 2 -k process``."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from benchmarks.peers import common

NAME = "huey"


def available() -> bool:
    return common.importable("huey", "redis")


def versions() -> dict[str, str]:
    return common.package_versions("huey", "redis", "hiredis")


def worker_argv() -> list[str]:
    return [
        common.cli("huey_consumer"),
        "benchmarks.peers.huey_app.huey",
        "--workers",
        str(common.CONCURRENCY),
        "--worker-type",
        "process",
        "--quiet",
    ]


def measure(redis_url: str, jobs: int, drain_jobs: int, round_trips: int) -> dict[str, float]:
    from benchmarks.peers.huey_app import make_huey

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    huey, noop = make_huey(redis_url)
    storage = huey.storage
    try:
        enqueue_rate, bytes_per_job = common.timed_enqueue(r, noop, jobs)

        ids = [noop().id for _ in range(drain_jobs)]

        def fetch(part: Sequence[str]) -> list[float | None]:
            # The result store is one hash keyed by task id; read it back without consuming the results.
            raw = r.hmget(storage.result_key, list(part))
            return [None if value is None else float(huey.serializer.deserialize(value)) for value in raw]

        with common.Workers(NAME, [worker_argv()], redis_url) as workers:
            common.wait_until(lambda: bool(r.hexists(storage.result_key, ids[-1])), "the last drain job", workers)
            stamps = common.collect(ids, fetch, workers)
            worker_rss = workers.rss_mb()
            rate = common.drain_rate(len(ids), min(stamps), max(stamps), NAME)

            def round_trip() -> None:
                value = noop().get(blocking=True, timeout=30)
                if not isinstance(value, float):
                    raise RuntimeError(f"huey: round trip returned {value!r}")

            latencies = common.round_trips(round_trip, round_trips)
    finally:
        storage.pool.disconnect()
        r.close()
    return common.result(
        enqueue_rate=enqueue_rate,
        drain_rate=rate,
        latencies=latencies,
        redis_bytes_per_job=bytes_per_job,
        worker_rss_mb=worker_rss,
    )
