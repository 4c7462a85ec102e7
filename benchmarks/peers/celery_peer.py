"""Celery 5: Redis broker and Redis result backend, prefork pool with two children."""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence

import redis

from benchmarks.peers import common

NAME = "celery"


def available() -> bool:
    return common.importable("celery", "kombu", "redis")


def versions() -> dict[str, str]:
    return common.package_versions("celery", "kombu", "redis", "hiredis")


def worker_argv() -> list[str]:
    return [
        common.cli("celery"),
        "-A",
        "benchmarks.peers.celery_app",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(common.CONCURRENCY),
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
    ]


def measure(redis_url: str, jobs: int, drain_jobs: int, round_trips: int) -> dict[str, float]:
    from benchmarks.peers.celery_app import NOOP, make_app

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    app = make_app(redis_url)
    noop = app.tasks[NOOP]
    try:
        enqueue_rate, bytes_per_job = common.timed_enqueue(r, noop.delay, jobs)

        # Pre-fill through a client without the result backend: the worker still stores every result, but the
        # client does not SUBSCRIBE to 20,000 result channels it will never wait on.
        prefill = make_app(redis_url, results=False)
        try:
            ids = [prefill.send_task(NOOP).id for _ in range(drain_jobs)]
        finally:
            prefill.close()

        def fetch(part: Sequence[str]) -> list[dict[str, object] | None]:
            raw = r.mget([app.backend.get_key_for_task(job_id) for job_id in part])
            return [None if value is None else json.loads(value) for value in raw]

        with common.Workers(NAME, [worker_argv()], redis_url) as workers:
            last_key = app.backend.get_key_for_task(ids[-1])
            common.wait_until(lambda: bool(r.exists(last_key)), "the last drain job", workers)
            metas = common.collect(ids, fetch, workers)
            worker_rss = workers.rss_mb()
            bad = [m for m in metas if m["status"] != "SUCCESS"]
            if bad:
                raise RuntimeError(f"celery: {len(bad)} of {len(ids)} drain jobs did not succeed: {bad[0]}")
            stamps = [float(m["result"]) for m in metas]  # type: ignore[arg-type]
            rate = common.drain_rate(len(ids), min(stamps), max(stamps), NAME)

            def round_trip() -> None:
                value = noop.delay().get(timeout=30)
                if not isinstance(value, float):
                    raise RuntimeError(f"celery: round trip returned {value!r}")

            latencies = common.round_trips(round_trip, round_trips)
    finally:
        gc.collect()  # settle AsyncResult finalizers (they UNSUBSCRIBE) while Redis is still up
        app.close()
        r.close()
    return common.result(
        enqueue_rate=enqueue_rate,
        drain_rate=rate,
        latencies=latencies,
        redis_bytes_per_job=bytes_per_job,
        worker_rss_mb=worker_rss,
    )
