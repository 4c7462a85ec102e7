"""Shared fixtures: a real Redis database of the tests' own, keys, and real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from nacl.signing import SigningKey

from horus.broker import Broker
from horus.client import RedisClient
from horus.signing import generate_key, public_hex, save_key

ROOT = Path(__file__).resolve().parent.parent
HERO_STANDIN = ROOT / "tests" / "fixtures" / "bin" / "hero"
DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/13"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--skip-slow", action="store_true", help="skip chaos and long-running tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--skip-slow"):
        skip = pytest.mark.skip(reason="--skip-slow given")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("HORUS_TEST_REDIS_URL", DEFAULT_TEST_REDIS)
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {url} (set HORUS_TEST_REDIS_URL)")
    return url


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def broker(r: redis.Redis, redis_url: str) -> Broker:
    return Broker.from_url(redis_url)


@pytest.fixture
def key() -> SigningKey:
    return generate_key()


@pytest.fixture
def key_file(tmp_path: Path, key: SigningKey) -> Path:
    path = tmp_path / "client.key"
    save_key(path, key)
    return path


@pytest.fixture
def client(r: redis.Redis, redis_url: str, key: SigningKey) -> RedisClient:
    return RedisClient(redis_url, key=key)


def horus_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "horus", *args]


@dataclass
class WorkerProc:
    proc: subprocess.Popen[str]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


StartWorker = Callable[..., WorkerProc]


@pytest.fixture
def start_worker(r: redis.Redis, redis_url: str, key: SigningKey, tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``horus worker`` through the CLI; every worker started is stopped at teardown."""
    started: list[WorkerProc] = []

    def start(
        runner_id: str = "r1",
        *extra: str,
        runner_type: str = "python",
        concurrency: int = 2,
        trusted: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> WorkerProc:
        keys = [public_hex(key)] if trusted is None else trusted
        argv = horus_cmd(
            "worker",
            runner_id,
            "--type",
            runner_type,
            "--concurrency",
            str(concurrency),
            "--redis-url",
            redis_url,
            *[arg for k in keys for arg in ("--trusted-key", k)],
        )
        if runner_type == "python" and "--app" not in extra:
            argv += ["--app", "tests.fixtures.tasks"]
        argv += list(extra)
        log_path = tmp_path / f"worker-{len(started)}.log"
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        worker = WorkerProc(proc, log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.proc.wait()
