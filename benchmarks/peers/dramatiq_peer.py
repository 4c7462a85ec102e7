"""Dramatiq: RedisBroker, ``dramatiq ... --processes 2 --threads 1``."""

from __future__ import annotations

import redis

from benchmarks.peers import common

NAME = "dramatiq"

#: ``dramatiq_queue_prefetch``: messages each worker process may hold, in-flight ones included (default 2 x threads,
#: i.e. 2 here). With the default the Redis consumer keeps finding its window full and backs off (5 ms and up),
#: which held the drain near 500 jobs/s; 64 matches Celery's multiplier for short tasks. 0 keeps Dramatiq's default.
PREFETCH = 64


def available() -> bool:
    return common.importable("dramatiq", "redis")


def versions() -> dict[str, str]:
    return common.package_versions("dramatiq", "redis", "hiredis")


def worker_argv() -> list[str]:
    return [
        common.cli("dramatiq"),
        "benchmarks.peers.dramatiq_app:setup",
        "--processes",
        str(common.CONCURRENCY),
        "--threads",
        "1",
    ]


def measure(redis_url: str, jobs: int, drain_jobs: int, round_trips: int) -> dict[str, float]:
    from benchmarks.peers.dramatiq_app import STAMPS, make_broker, results_backend

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    broker = make_broker(redis_url)
    noop = broker.get_actor("noop")
    noop_result = broker.get_actor("noop_result")
    backend = results_backend(broker)
    env = {"dramatiq_queue_prefetch": str(PREFETCH)} if PREFETCH else {}
    try:
        enqueue_rate, bytes_per_job = common.timed_enqueue(r, noop.send, jobs)

        for index in range(drain_jobs):
            noop.send(index)

        with common.Workers(NAME, [worker_argv()], redis_url, env) as workers:
            common.wait_until(lambda: int(r.llen(STAMPS)) >= drain_jobs, "the drain", workers)
            worker_rss = workers.rss_mb()
            entries = [entry.split() for entry in r.lrange(STAMPS, 0, -1)]
            indexes = sorted(int(index) for index, _ in entries)
            if indexes != list(range(drain_jobs)):
                raise RuntimeError(f"dramatiq: {len(set(indexes))} distinct of {drain_jobs} drain jobs ran")
            stamps = [float(stamp) for _, stamp in entries]
            rate = common.drain_rate(len(stamps), min(stamps), max(stamps), NAME)

            def round_trip() -> None:
                message = noop_result.send()
                value = message.get_result(backend=backend, block=True, timeout=30_000)
                if not isinstance(value, float):
                    raise RuntimeError(f"dramatiq: round trip returned {value!r}")

            latencies = common.round_trips(round_trip, round_trips)
            if int(r.llen(STAMPS)) != drain_jobs:
                raise RuntimeError("dramatiq: a drain job ran twice")
    finally:
        broker.close()
        r.close()
    return common.result(
        enqueue_rate=enqueue_rate,
        drain_rate=rate,
        latencies=latencies,
        redis_bytes_per_job=bytes_per_job,
        worker_rss_mb=worker_rss,
    )
