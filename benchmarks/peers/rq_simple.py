"""RQ 2 with ``SimpleWorker`` (jobs run in the worker process, no fork): ``rq worker-pool -n 2 --worker-class``."""

from __future__ import annotations

from benchmarks.peers import rq_common

NAME = "rq-simple"
available = rq_common.available
versions = rq_common.versions


def measure(redis_url: str, jobs: int, drain_jobs: int, round_trips: int) -> dict[str, float]:
    return rq_common.measure(NAME, "rq.SimpleWorker", redis_url, jobs, drain_jobs, round_trips)
