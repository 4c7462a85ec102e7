"""RQ 2 with its default worker: ``rq worker-pool -n 2`` (each worker forks a work horse per job)."""

from __future__ import annotations

from benchmarks.peers import rq_common

NAME = "rq"
available = rq_common.available
versions = rq_common.versions


def measure(redis_url: str, jobs: int, drain_jobs: int, round_trips: int) -> dict[str, float]:
    return rq_common.measure(NAME, None, redis_url, jobs, drain_jobs, round_trips)
