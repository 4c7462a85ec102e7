"""Shared fixtures: a real Redis database of the tests' own, keys, and real worker processes."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from nacl.signing import SigningKey

from horus.broker import Broker
from horus.client import RedisClient
from horus.signing import generate_key, public_hex, save_key
from tests.redis_clients import redis_py

ROOT = Path(__file__).resolve().parent.parent
HERO_STANDIN = ROOT / "tests" / "fixtures" / "bin" / "hero"
DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/13"


#: What the ``redis_url`` and ``r`` fixtures stand for: the Redis at HORUS_TEST_REDIS_URL, or a
#: Redis Cluster or Sentinel group the session starts (scripts/redis-group).
REDIS_KINDS = ("single", "cluster", "sentinel")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--skip-slow", action="store_true", help="skip chaos and long-running tests")
    parser.addoption(
        "--redis-kind",
        choices=REDIS_KINDS,
        default=os.environ.get("HORUS_TEST_REDIS_KIND", "single"),
        help="run the tests against one Redis (HORUS_TEST_REDIS_URL), or a Redis Cluster or Sentinel "
        "group started for the session [env: HORUS_TEST_REDIS_KIND]",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--skip-slow"):
        skip = pytest.mark.skip(reason="--skip-slow given")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)
    kind = config.getoption("--redis-kind")
    if kind != "single":
        elsewhere = pytest.mark.skip(reason=f"needs one Redis, not a {kind} group")
        for item in items:
            if "single_redis" in item.keywords:
                item.add_marker(elsewhere)


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    kind = request.config.getoption("--redis-kind")
    if kind != "single":
        from tests.integration.redis_groups import redis_group

        with redis_group(kind, tmp_path_factory.mktemp(f"session-{kind}")) as url:
            yield url
        return
    url = os.environ.get("HORUS_TEST_REDIS_URL", DEFAULT_TEST_REDIS)
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {url} (set HORUS_TEST_REDIS_URL)")
    yield url


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis_py(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of the test's own: a worker killed by an earlier test can still have a
    blocking reserve registered in Redis for a moment, and must not take this test's jobs."""
    return f"t-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


@pytest.fixture
def broker(r: redis.Redis, redis_url: str, namespace: str) -> Iterator[Broker]:
    broker = Broker.from_url(redis_url, namespace)
    yield broker
    broker.close()


@pytest.fixture
def key() -> SigningKey:
    return generate_key()


@pytest.fixture
def key_file(tmp_path: Path, key: SigningKey) -> Path:
    path = tmp_path / "client.key"
    save_key(path, key)
    return path


@pytest.fixture
def client(r: redis.Redis, redis_url: str, key: SigningKey, namespace: str) -> Iterator[RedisClient]:
    with RedisClient(redis_url, namespace, key=key) as client:
        yield client


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A redis-server of the test's own, for settings that would disturb a shared one."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed on PATH"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        for _ in range(500):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None, "redis-server exited"
                select.select([], [], [], 0.02)  # the server gives no readiness event
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        proc.wait()


def horus_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "horus", *args]


@dataclass
class WorkerProc:
    proc: subprocess.Popen[str]
    log_path: Path
    namespace: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Say what the worker was doing: a hang here is otherwise a bare timeout.
            tail = "\n".join(self.log().splitlines()[-30:])
            raise AssertionError(
                f"worker {self.pid} still running {timeout} s after signal {sig}; log:\n{tail}"
            ) from None


StartWorker = Callable[..., WorkerProc]


@pytest.fixture
def start_worker(
    r: redis.Redis, redis_url: str, key: SigningKey, tmp_path: Path, namespace: str
) -> Iterator[StartWorker]:
    """Start ``horus worker`` through the CLI; every worker started is stopped at teardown."""
    started: list[WorkerProc] = []

    def start(
        runner_id: str = "r1",
        *extra: str,
        runner_type: str = "python",
        concurrency: int = 2,
        trusted: list[str] | None = None,
        env: dict[str, str] | None = None,
        url: str | None = None,
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
            url or redis_url,
            "--namespace",
            namespace,
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
        worker = WorkerProc(proc, log_path, namespace)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        kill_tree(worker.proc)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a worker master and its children, and wait until every one has exited."""
    children = children_of(proc.pid)
    pidfds = []
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            pidfds.append(os.pidfd_open(pid))
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for fd in pidfds:
        select.select([fd], [], [], 10)  # readable once that process has exited
        os.close(fd)
