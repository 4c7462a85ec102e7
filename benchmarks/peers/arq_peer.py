"""arq: two ``arq`` worker processes, ``max_jobs=10`` and a 5 ms ``poll_delay`` each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis

from benchmarks.peers import common

NAME = "arq"


def available() -> bool:
    return common.importable("arq", "redis")


def versions() -> dict[str, str]:
    return common.package_versions("arq", "redis", "hiredis")


def worker_argv() -> list[str]:
    return [common.cli("arq"), "benchmarks.peers.arq_app.WorkerSettings"]


def measure(redis_url: str, jobs: int, drain_jobs: int, round_trips: int) -> dict[str, float]:
    from arq import create_pool
    from arq.connections import ArqRedis, RedisSettings
    from arq.constants import result_key_prefix
    from arq.jobs import JobResult, deserialize_result

    from benchmarks.peers.arq_app import POLL_DELAY

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    loop = asyncio.new_event_loop()
    pool: ArqRedis = loop.run_until_complete(create_pool(RedisSettings.from_dsn(redis_url)))

    def enqueue() -> None:
        loop.run_until_complete(pool.enqueue_job("noop"))

    async def enqueue_many(count: int) -> list[str]:
        ids: list[str] = []
        for offset in range(0, count, 50):
            jobs_ = await asyncio.gather(*(pool.enqueue_job("noop") for _ in range(min(50, count - offset))))
            ids += [job.job_id for job in jobs_ if job is not None]
        return ids

    def fetch(part: Sequence[str]) -> list[JobResult | None]:
        raw = r.mget([result_key_prefix + job_id for job_id in part])
        return [None if value is None else deserialize_result(value) for value in raw]

    async def round_trip_async() -> None:
        job = await pool.enqueue_job("noop")
        assert job is not None
        await job.result(timeout=30, poll_delay=POLL_DELAY)

    try:
        enqueue_rate, bytes_per_job = common.timed_enqueue(r, enqueue, jobs)

        ids = loop.run_until_complete(enqueue_many(drain_jobs))
        if len(ids) != drain_jobs:
            raise RuntimeError(f"arq: only {len(ids)} of {drain_jobs} drain jobs enqueued")

        commands = [worker_argv() for _ in range(common.CONCURRENCY)]
        with common.Workers(NAME, commands, redis_url) as workers:
            last_key = result_key_prefix + ids[-1]
            common.wait_until(lambda: bool(r.exists(last_key)), "the last drain job", workers)
            results = common.collect(ids, fetch, workers)
            worker_rss = workers.rss_mb()
            bad = [res for res in results if not res.success]
            if bad:
                raise RuntimeError(f"arq: {len(bad)} of {len(ids)} drain jobs failed: {bad[0]}")
            first = min(res.start_time.timestamp() for res in results)
            last = max(res.finish_time.timestamp() for res in results)
            rate = common.drain_rate(len(ids), first, last, NAME)

            latencies = common.round_trips(lambda: loop.run_until_complete(round_trip_async()), round_trips)
    finally:
        loop.run_until_complete(pool.aclose())
        loop.close()
        r.close()
    return common.result(
        enqueue_rate=enqueue_rate,
        drain_rate=rate,
        latencies=latencies,
        redis_bytes_per_job=bytes_per_job,
        worker_rss_mb=worker_rss,
    )
