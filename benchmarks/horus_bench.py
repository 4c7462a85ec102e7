"""Horus measured with the workload every system in the suite gets: no-op tasks, concurrency 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import redis

from benchmarks.peers import common
from horus.client import RedisClient
from horus.models import JobStatus
from horus.signing import generate_key, public_hex

RUNNER = "bench"
NOOP = json.dumps({"task": "noop"})


def noop_job() -> dict[str, object]:
    return {"runner_id": RUNNER, "payload": NOOP}


@contextmanager
def worker(
    url: str,
    public_key: str,
    concurrency: int = 2,
    events: bool = True,
    runner_id: str = RUNNER,
    extra: Sequence[str] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    argv = [
        sys.executable,
        "-m",
        "horus",
        "--log-level",
        "WARNING",
        "worker",
        runner_id,
        "--type",
        "python",
        "--app",
        "horus.demo_tasks",
        "--concurrency",
        str(concurrency),
        "--redis-url",
        url,
        "--trusted-key",
        public_key,
        "--events" if events else "--no-events",
        *extra,
    ]
    proc = subprocess.Popen(argv, start_new_session=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its direct children, in MiB."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                pids.append(int(entry.name))
    total_kb = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def command_us(r: redis.Redis) -> float:
    """Microseconds Redis spent running commands since its stats were reset (INFO commandstats):
    what the drain cost Redis itself, steadier than rates on a shared machine."""
    stats = r.info("commandstats")
    return float(sum(entry["usec"] for entry in stats.values()))


def measure(url: str, jobs: int, drain_jobs: int, round_trips: int, events: bool = True) -> dict[str, float]:
    """``events``: the job event stream and counters on (the default) or off, client and worker."""
    r = redis.Redis.from_url(url)
    r.flushdb()
    key = generate_key()
    client = RedisClient(url, key=key, events=events)

    enqueue_rate, bytes_per_job = common.timed_enqueue(r, lambda: client.submit(noop_job()), jobs)
    bulk_rate = common.timed_bulk(r, lambda n: client.submit_many(noop_job() for _ in range(n)), jobs)

    ids: list[str] = []
    for offset in range(0, drain_jobs, 1000):
        ids += client.submit_many(noop_job() for _ in range(min(1000, drain_jobs - offset)))
    r.config_resetstat()
    with worker(url, public_hex(key), events=events) as proc:
        # Wait on the last job only, so the client does not compete with the worker for the
        # CPU during the drain; every result is read (and checked) once it is over.
        client.wait(ids[-1], 300)
        redis_us = command_us(r) / len(ids)
        results = [client.wait(job_id, 300) for job_id in ids]
        worker_rss = rss_mb(proc.pid)
        bad = [res for res in results if res.status != JobStatus.COMPLETED]
        if bad:
            raise SystemExit(f"horus: {len(bad)} of {len(ids)} drain jobs did not complete: {bad[0]}")
        first = min(res.started_at or 0 for res in results)
        last = max(res.completed_at or 0 for res in results)

        def round_trip() -> None:
            result = client.run(noop_job(), 30)
            if result.status != JobStatus.COMPLETED:
                raise SystemExit(f"horus: round-trip job ended {result.status}")

        latencies = common.round_trips(round_trip, round_trips)
    return common.result(
        enqueue_rate=enqueue_rate,
        bulk_enqueue_rate=bulk_rate,
        drain_rate=common.drain_rate(len(ids), first, last, "horus"),
        latencies=latencies,
        redis_bytes_per_job=bytes_per_job,
        worker_rss_mb=worker_rss,
    ) | {"redis_us_per_drained_job": redis_us}
