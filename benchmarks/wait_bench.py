"""What the durability option (``wait_replicas``, docs/scaling.md "Failover") costs, paired: on a
Sentinel group (a master and its replica), two workers, one storing each result with
``--wait-replicas 1`` and one without, each serving a runner of its own, and two clients, one
queueing with ``wait_replicas=1`` and one without, measured turn about (as events_bench does).

    python -m benchmarks.wait_bench [SENTINEL_URL MASTER_URL]

Without URLs it starts a group with scripts/redis-group on ports 19010-19011 and 26610-26612
(and stops it at the end). MASTER_URL
(``redis://HOST:PORT/DB`` of the master) is only for flushing the database between runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import redis

from benchmarks import events_bench
from benchmarks.horus_bench import worker
from horus.client import RedisClient
from horus.models import JobStatus
from horus.signing import generate_key, public_hex

NOOP = json.dumps({"task": "noop"})
RUNNERS = {1: "bench-wait-1", 0: "bench-wait-0"}
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "redis-group"


def drain_rate(client: RedisClient, runner_id: str, jobs: int) -> float:
    return events_bench.drain_rate(client, runner_id, jobs, "wait bench")


def enqueue_rate(client: RedisClient, runner_id: str, jobs: int) -> float:
    began = time.perf_counter()
    for _ in range(jobs):
        client.submit({"runner_id": runner_id, "payload": NOOP})
    return jobs / (time.perf_counter() - began)


def measure(url: str, master_url: str, drain_jobs: int, rounds: int, round_trips: int) -> dict[str, float]:
    r = redis.Redis.from_url(master_url)
    r.flushdb()
    key = generate_key()
    clients = {n: RedisClient(url, key=key, wait_replicas=n) for n in RUNNERS}
    drains: dict[int, list[float]] = {1: [], 0: []}
    enqueues: dict[int, list[float]] = {1: [], 0: []}
    latencies: dict[int, list[float]] = {1: [], 0: []}
    with ExitStack() as stack:
        for n, runner_id in RUNNERS.items():
            stack.enter_context(worker(url, public_hex(key), runner_id=runner_id, extra=["--wait-replicas", str(n)]))
        for n in RUNNERS:  # warm both up: imports, script loading, first connections
            clients[n].run({"runner_id": RUNNERS[n], "payload": NOOP}, 30)
        for i in range(rounds):
            for n in (1, 0) if i % 2 == 0 else (0, 1):
                drains[n].append(drain_rate(clients[n], RUNNERS[n], drain_jobs))
                enqueues[n].append(enqueue_rate(clients[n], RUNNERS[n], 500))
        for i in range(round_trips):
            for n in (1, 0) if i % 2 == 0 else (0, 1):
                began = time.perf_counter()
                result = clients[n].run({"runner_id": RUNNERS[n], "payload": NOOP}, 30)
                latencies[n].append((time.perf_counter() - began) * 1000)
                if result.status != JobStatus.COMPLETED:
                    raise SystemExit(f"wait bench: a round trip ended {result.status}")
    for client in clients.values():
        client.close()
    return {
        "drain_wait_1": statistics.median(drains[1]),
        "drain_wait_0": statistics.median(drains[0]),
        "drain_1_vs_0": statistics.median(a / b for a, b in zip(drains[1], drains[0], strict=True)),
        "enqueue_wait_1": statistics.median(enqueues[1]),
        "enqueue_wait_0": statistics.median(enqueues[0]),
        "p50_wait_1_ms": statistics.median(latencies[1]),
        "p50_wait_0_ms": statistics.median(latencies[0]),
        "p99_wait_1_ms": statistics.quantiles(latencies[1], n=100)[98],
        "p99_wait_0_ms": statistics.quantiles(latencies[0], n=100)[98],
        "rounds": rounds,
        "drain_jobs": drain_jobs,
        "round_trips": round_trips,
    }


def main() -> None:
    with ExitStack() as stack:
        if len(sys.argv) == 3:
            url, master_url = sys.argv[1], sys.argv[2]
        else:
            workdir = "/tmp/horus-wait-bench"
            ports = ["--base-port", "19010", "--sentinel-port", "26610"]  # apart from the tests' groups
            argv = [str(SCRIPT), "sentinel", "start", "--dir", workdir, *ports]
            started = subprocess.run(argv, capture_output=True, text=True, check=False)
            if started.returncode != 0:
                raise SystemExit(started.stderr)
            stack.callback(subprocess.run, [str(SCRIPT), "sentinel", "stop", "--dir", workdir], check=False)
            url = started.stdout.strip()
            port = Path(workdir, "sentinel", "ports").read_text().split()[0]
            master_url = f"redis://127.0.0.1:{port}/0"
        print(json.dumps(measure(url, master_url, drain_jobs=10_000, rounds=4, round_trips=400), indent=2))


if __name__ == "__main__":
    main()
