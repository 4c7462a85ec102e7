"""The coordinator's cost: a chain through it against the same jobs sent straight to the supervisor,
and a chord of 1,000 no-op steps with one callback. Supervisor, worker and coordinator are
processes of their own on the private Redis, all on one machine."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import redis

from benchmarks.supervisor_bench import RUNNER, TOKEN, _free_port, supervisor
from horus.coordinator import CoordinatorClient
from horus.errors import ConnectionFailed
from horus.sdk import Client
from horus.signing import generate_key, public_hex

NAMESPACE = "bench-http"  # the supervisor bench's namespace: one supervisor serves both
NOOP = {"task": "noop"}


def _horus(*args: str) -> list[str]:
    return [sys.executable, "-m", "horus", "--log-level", "WARNING", *args]


@contextlib.contextmanager
def _processes(redis_url: str, supervisor_url: str, client_key: str) -> Iterator[str]:
    port = _free_port()
    env = {"HORUS_ADMIN_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    worker = subprocess.Popen(
        _horus("worker", RUNNER, "--type", "python", "--app", "horus.demo_tasks", "--concurrency", "2",
               "--redis-url", redis_url, "--namespace", NAMESPACE, "--trusted-key", client_key),
        env=env,
    )  # fmt: skip
    coordinator = subprocess.Popen(
        _horus("coordinator", "--port", str(port), "--supervisor", supervisor_url, "--redis-url", redis_url,
               "--namespace", NAMESPACE),
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with Client(url) as probe:
                    probe.call("rpc.discover")
                break
            except ConnectionFailed:
                if time.monotonic() > deadline or coordinator.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        for proc in (coordinator, worker):
            proc.terminate()
        for proc in (coordinator, worker):
            proc.wait(30)


def measure(redis_url: str, chain_length: int = 50, chord_width: int = 1_000) -> dict[str, float]:
    # The supervisor bench leaves its jobs queued for the same runner: this worker must not
    # spend the measurement refusing them (they are signed by another key).
    redis.Redis.from_url(redis_url).flushdb()
    client_key = generate_key()
    with supervisor(redis_url) as supervisor_url:
        with Client(supervisor_url, token=TOKEN, key=client_key) as admin:
            admin.register_runner(RUNNER, "python")
            admin.add_key(public_hex(client_key), [RUNNER])
        # The client signs the workflows and their step jobs; the worker trusts that key alone.
        with _processes(redis_url, supervisor_url, public_hex(client_key)) as url:
            with Client(supervisor_url, token=TOKEN, key=client_key) as direct:
                job = {"runner_id": RUNNER, "payload": '{"task": "noop"}'}
                direct.run(job, 30)
                started = time.perf_counter()
                for _ in range(chain_length):
                    direct.run(job, 30)
                direct_s = time.perf_counter() - started
            steps = [{"id": f"s{i}", "runner_id": RUNNER, "payload": NOOP} for i in range(chain_length)]
            for i in range(1, chain_length):
                steps[i]["depends_on"] = [f"s{i - 1}"]
            with CoordinatorClient(url, token=TOKEN, key=client_key, timeout_s=300) as client:
                client.run({"name": "warm-up", "steps": steps[:1]}, 60)
                started = time.perf_counter()
                outcome = client.run({"name": "chain", "steps": steps}, 300)
                chain_s = time.perf_counter() - started
                assert outcome.status == "completed", outcome.status
                branches = [{"id": f"p{i}", "runner_id": RUNNER, "payload": NOOP} for i in range(chord_width)]
                callback = {
                    "id": "callback",
                    "runner_id": RUNNER,
                    "payload": NOOP,
                    "depends_on": [b["id"] for b in branches],
                }
                started = time.perf_counter()
                outcome = client.run({"name": "chord", "steps": [*branches, callback]}, 300)
                chord_s = time.perf_counter() - started
                assert outcome.status == "completed", outcome.status
    return {
        "chain_steps": chain_length,
        "chain_s": round(chain_s, 3),
        "direct_job_run_s": round(direct_s, 3),
        "overhead_per_step_ms": round((chain_s - direct_s) / chain_length * 1000, 2),
        "chord_width": chord_width,
        "chord_s": round(chord_s, 3),
        "chord_steps_per_s": round((chord_width + 1) / chord_s, 1),
    }


if __name__ == "__main__":
    from benchmarks.redis_server import private_redis

    with private_redis() as redis_url:
        print(measure(redis_url))
