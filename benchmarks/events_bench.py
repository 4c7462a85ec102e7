"""What the job events and counters cost, paired: two workers on one Redis, one with events on
and one with them off, each serving a runner of its own, measured turn about.

Whole runs one after the other drift on a shared machine by more than the difference looked for;
here every round trip with events on is followed by one with them off, and drains alternate, so
both see the same machine.
"""

from __future__ import annotations

import json
import statistics
import time
from contextlib import ExitStack

import redis

from benchmarks.horus_bench import worker
from horus.client import RedisClient
from horus.models import JobStatus
from horus.signing import generate_key, public_hex

NOOP = json.dumps({"task": "noop"})
RUNNERS = {True: "bench-events-on", False: "bench-events-off"}


def drain_rate(client: RedisClient, runner_id: str, jobs: int, bench: str = "events bench") -> float:
    """Jobs per second from the first start to the last end of ``jobs`` noop jobs queued in
    batches of 1,000 (every one must complete)."""
    ids: list[str] = []
    for offset in range(0, jobs, 1000):
        batch = min(1000, jobs - offset)
        ids += client.submit_many({"runner_id": runner_id, "payload": NOOP} for _ in range(batch))
    client.wait(ids[-1], 300)
    results = [client.wait(job_id, 300) for job_id in ids]
    if any(res.status != JobStatus.COMPLETED for res in results):
        raise SystemExit(f"{bench}: a drain job on {runner_id} did not complete")
    first = min(res.started_at or 0 for res in results)
    last = max(res.completed_at or 0 for res in results)
    return len(ids) / (last - first)


def measure(url: str, drain_jobs: int, rounds: int, round_trips: int) -> dict[str, float]:
    r = redis.Redis.from_url(url)
    r.flushdb()
    key = generate_key()
    clients = {on: RedisClient(url, key=key, events=on) for on in (True, False)}
    drains: dict[bool, list[float]] = {True: [], False: []}
    latencies: dict[bool, list[float]] = {True: [], False: []}
    with ExitStack() as stack:
        for on, runner_id in RUNNERS.items():
            stack.enter_context(worker(url, public_hex(key), events=on, runner_id=runner_id))
        for on in (True, False):  # warm both up: imports, script loading, first connections
            clients[on].run({"runner_id": RUNNERS[on], "payload": NOOP}, 30)
        for n in range(rounds):
            for on in (True, False) if n % 2 == 0 else (False, True):
                drains[on].append(drain_rate(clients[on], RUNNERS[on], drain_jobs))
        for n in range(round_trips):
            for on in (True, False) if n % 2 == 0 else (False, True):
                began = time.perf_counter()
                result = clients[on].run({"runner_id": RUNNERS[on], "payload": NOOP}, 30)
                latencies[on].append((time.perf_counter() - began) * 1000)
                if result.status != JobStatus.COMPLETED:
                    raise SystemExit(f"events bench: a round trip ended {result.status}")
    for client in clients.values():
        client.close()
    ratios = [on / off for on, off in zip(drains[True], drains[False], strict=True)]
    return {
        "paired_drain_on": statistics.median(drains[True]),
        "paired_drain_off": statistics.median(drains[False]),
        "paired_drain_on_vs_off": statistics.median(ratios),
        "paired_p50_on_ms": statistics.median(latencies[True]),
        "paired_p50_off_ms": statistics.median(latencies[False]),
        "paired_p50_on_vs_off": statistics.median(latencies[True]) / statistics.median(latencies[False]),
        "paired_rounds": rounds,
        "paired_drain_jobs": drain_jobs,
        "paired_round_trips": round_trips,
    }
