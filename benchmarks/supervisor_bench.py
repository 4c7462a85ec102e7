"""job.create over HTTP: a signed job admitted by a supervisor process, client and server on one machine."""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from horus.errors import ConnectionFailed
from horus.sdk import Client
from horus.signing import generate_key, public_hex

RUNNER = "bench-http"
TOKEN = "bench-admin-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def supervisor(redis_url: str) -> Iterator[str]:
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "horus",
        "--log-level",
        "WARNING",
        "supervisor",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--redis-url",
        redis_url,
        "--namespace",
        "bench-http",
    ]
    proc = subprocess.Popen(argv, env={"HORUS_ADMIN_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:  # the server gives no readiness signal but its answer
            try:
                Client(url).call("rpc.discover")
                break
            except ConnectionFailed:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def measure(redis_url: str, jobs: int) -> dict[str, float]:
    key = generate_key()
    with supervisor(redis_url) as url, Client(url, token=TOKEN, key=key) as client:
        client.register_runner(RUNNER, "python")
        client.add_key(public_hex(key), [RUNNER])
        job = {"runner_id": RUNNER, "payload": '{"task": "noop"}'}
        client.submit(job)
        latencies = []
        started = time.perf_counter()
        for _ in range(jobs):
            t0 = time.perf_counter()
            client.submit(job)
            latencies.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "job_create_rate": jobs / elapsed,
        "job_create_p50_ms": statistics.median(latencies),
        "job_create_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }
