"""RQ 2 measured twice: the forking ``Worker`` (a work horse per job) and ``SimpleWorker`` (in-process)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import redis

from benchmarks.peers import common


def available() -> bool:
    return common.importable("rq", "redis")


def versions() -> dict[str, str]:
    return common.package_versions("rq", "redis", "hiredis")


def worker_argv(url: str, worker_class: str | None) -> list[str]:
    # ``rq worker-pool -n 2``: one master process supervising two workers, i.e. concurrency 2.
    # The settings module imports the task module in the master, before any fork (RQ docs, "Performance notes").
    argv = [common.cli("rq"), "worker-pool", "--url", url, "--num-workers", str(common.CONCURRENCY), "--quiet"]
    argv += ["--config", "benchmarks.peers.rq_settings"]
    if worker_class:
        argv += ["--worker-class", worker_class]
    return argv


def measure(
    name: str, worker_class: str | None, redis_url: str, jobs: int, drain_jobs: int, round_trips: int
) -> dict[str, float]:
    from rq import Queue
    from rq.job import Job, JobStatus
    from rq.results import Result

    from benchmarks.peers.rq_tasks import noop

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    queue = Queue("default", connection=r)
    try:
        enqueue_rate, bytes_per_job = common.timed_enqueue(r, lambda: queue.enqueue(noop), jobs)
        bulk_rate = common.timed_bulk(
            r, lambda n: queue.enqueue_many([Queue.prepare_data(noop) for _ in range(n)]), jobs
        )

        ids: list[str] = []
        for offset in range(0, drain_jobs, 1000):
            batch = [Queue.prepare_data(noop) for _ in range(min(1000, drain_jobs - offset))]
            ids += [job.id for job in queue.enqueue_many(batch)]

        def fetch(part: Sequence[str]) -> list[Job | None]:
            found = Job.fetch_many(list(part), connection=r)
            return [
                job if job is not None and job.get_status(refresh=False) == JobStatus.FINISHED else None
                for job in found
            ]

        with common.Workers(name, [worker_argv(redis_url, worker_class)], redis_url) as workers:
            last = Job(ids[-1], connection=r)
            common.wait_until(
                lambda: last.get_status(refresh=True) == JobStatus.FINISHED, "the last drain job", workers
            )
            done = common.collect(ids, fetch, workers)
            worker_rss = workers.rss_mb()
            starts = [job.started_at for job in done]
            ends = [job.ended_at for job in done]
            if any(t is None for t in starts + ends):
                raise RuntimeError(f"{name}: finished jobs without started_at/ended_at")
            first = min(t.timestamp() for t in starts if isinstance(t, datetime))
            last_end = max(t.timestamp() for t in ends if isinstance(t, datetime))
            rate = common.drain_rate(len(ids), first, last_end, name)

            def round_trip() -> None:
                job = queue.enqueue(noop)
                res = job.latest_result(timeout=30)  # blocks on the job's result stream (XREAD BLOCK)
                if res is None or res.type != Result.Type.SUCCESSFUL:
                    raise RuntimeError(f"{name}: round-trip job ended {res!r}")

            latencies = common.round_trips(round_trip, round_trips)
    finally:
        r.close()
    return common.result(
        enqueue_rate=enqueue_rate,
        bulk_enqueue_rate=bulk_rate,
        drain_rate=rate,
        latencies=latencies,
        redis_bytes_per_job=bytes_per_job,
        worker_rss_mb=worker_rss,
    )
