"""Scheduled jobs: 100,000 signed jobs with a ``not_before`` ahead, what they cost Redis while
they wait in the runner's scheduled set, and how fast ``Broker.release_due`` moves 10,000 due
ones into the queue. No worker runs, so the measuring process makes every release itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis

from horus.broker import RELEASE_BATCH
from horus.client import RedisClient
from horus.signing import generate_key

RUNNER = "bench-scheduled"
NOOP = '{"task": "noop"}'
#: Jobs per ``submit_many`` call, as in the bulk enqueue measurement (common.timed_bulk).
BATCH = 500
#: The jobs that are not made due wait this long: far beyond the measurement.
FAR_S = 86_400.0
#: The lead given to the jobs made due is sized for an enqueue at no less than this many jobs/s,
#: so none of them is due before it is enqueued (which would queue it at once).
MIN_ENQUEUE_RATE = 2_000
DUE_TIMEOUT_S = 120.0


def redis_now(r: redis.Redis) -> float:
    """Redis's clock (what enqueue.lua and release.lua compare ``not_before`` with), in seconds."""
    seconds, micros = r.time()
    return seconds + micros / 1_000_000


def scheduled_jobs(count: int, not_before: float) -> Iterator[dict[str, object]]:
    for _ in range(count):
        yield {"runner_id": RUNNER, "payload": NOOP, "not_before": not_before}


def enqueue(client: RedisClient, count: int, not_before: float) -> tuple[list[str], float]:
    """Sign and queue ``count`` jobs due at ``not_before``, in batches: (their ids, seconds taken)."""
    ids: list[str] = []
    started = time.perf_counter()
    for offset in range(0, count, BATCH):
        ids += client.submit_many(scheduled_jobs(min(BATCH, count - offset), not_before))
    return ids, time.perf_counter() - started


def warm_up(r: redis.Redis, client: RedisClient) -> None:
    """Load the enqueue and release scripts, then FLUSHDB (scripts stay loaded), so neither the
    script cache nor a first connection is counted."""
    client.submit_many(scheduled_jobs(1, redis_now(r) + FAR_S))
    client.broker.release_due(RUNNER)
    r.flushdb()


def wait_due(r: redis.Redis, not_before: float) -> None:
    """Wait until Redis's clock has passed ``not_before`` by a millisecond (release.lua compares
    whole milliseconds, the due time rounded)."""
    deadline = time.monotonic() + DUE_TIMEOUT_S
    while (now := redis_now(r)) <= not_before + 0.001:
        if time.monotonic() > deadline:
            raise SystemExit(f"scheduled: Redis's clock stayed at {now} below {not_before}")
        time.sleep(min(0.05, max(0.001, not_before + 0.002 - now)))


def release(client: RedisClient, due: int) -> tuple[float, int]:
    """``release_due`` until ``due`` jobs have moved: (seconds taken, calls made). The call that
    moves the last of them must say that nothing else is due now."""
    moved = calls = 0
    started = time.perf_counter()
    while moved < due:
        count, wait_ms = client.broker.release_due(RUNNER)
        calls += 1
        moved += count
        if not 0 < count <= RELEASE_BATCH or (wait_ms == 0) != (moved < due):
            raise SystemExit(f"scheduled: release call {calls} moved {count} ({moved} of {due}), next in {wait_ms} ms")
    return time.perf_counter() - started, calls


def check_scheduled(client: RedisClient, jobs: int) -> None:
    """Before the release: every job waits in the scheduled set, none was queued at once."""
    waiting, queued = client.broker.scheduled_count(RUNNER), client.broker.queue_length(RUNNER)
    if waiting != jobs or queued:
        raise SystemExit(
            f"scheduled: {waiting} of {jobs} jobs scheduled and {queued} queued after the enqueue "
            f"(queued at once: their not_before had passed when they were enqueued; lower MIN_ENQUEUE_RATE)"
        )


def check_released(client: RedisClient, due_ids: list[str], jobs: int) -> None:
    """After the release: the queue holds exactly the due jobs, dispatched; the rest still wait."""
    broker = client.broker
    queued, waiting = broker.queue_length(RUNNER), broker.scheduled_count(RUNNER)
    if queued != len(due_ids) or waiting != jobs - len(due_ids):
        expected = f"{len(due_ids)} and {jobs - len(due_ids)}"
        raise SystemExit(f"scheduled: {queued} queued and {waiting} scheduled, not {expected}")
    in_queue = {str(entry) for entry in broker.call("LRANGE", broker.keys.queue(RUNNER), 0, -1)}
    if in_queue != set(due_ids):
        raise SystemExit(f"scheduled: the queue holds {len(in_queue - set(due_ids))} job(s) that were not due")
    statuses = set(broker.conn.pipeline([("HGET", broker.keys.job(RUNNER, job_id), "status") for job_id in due_ids]))
    if statuses != {"dispatched"}:
        raise SystemExit(f"scheduled: released jobs have statuses {sorted(statuses)}")


def measure(url: str, jobs: int, due: int) -> dict[str, float]:
    """``jobs`` scheduled jobs, of which ``due`` are made due and released."""
    if not 0 < due < jobs:
        raise SystemExit(f"scheduled: the due jobs ({due}) must be some of the jobs ({jobs})")
    r = redis.Redis.from_url(url)
    r.flushdb()
    with RedisClient(url, key=generate_key()) as client:
        warm_up(r, client)
        memory_before = int(r.info("memory")["used_memory"])
        # The jobs made due go first: the rest are enqueued while their lead runs out.
        soon = redis_now(r) + max(1.0, due / MIN_ENQUEUE_RATE)
        due_ids, due_s = enqueue(client, due, soon)
        _, far_s = enqueue(client, jobs - due, redis_now(r) + FAR_S)
        bytes_per_job = (int(r.info("memory")["used_memory"]) - memory_before) / jobs
        check_scheduled(client, jobs)
        wait_due(r, soon)
        release_s, calls = release(client, due)
        check_released(client, due_ids, jobs)
    r.flushdb()
    return {
        "scheduled_jobs": jobs,
        "scheduled_enqueue_rate": jobs / (due_s + far_s),
        "redis_bytes_per_scheduled_job": bytes_per_job,
        "due_jobs": due,
        "release_s": release_s,
        "release_rate": due / release_s,
        "release_calls": calls,
    }


if __name__ == "__main__":
    import argparse
    import json

    from benchmarks.redis_server import private_redis

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000, help="scheduled jobs enqueued")
    parser.add_argument("--due", type=int, default=10_000, help="of which this many are made due and released")
    args = parser.parse_args()
    with private_redis() as redis_url:
        print(json.dumps(measure(redis_url, args.jobs, args.due), indent=2))
