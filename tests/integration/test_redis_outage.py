"""A worker rides out a Redis restart: it neither crashes nor spins, and serves jobs after."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.models import JobStatus
from tests.conftest import StartWorker

pytestmark = pytest.mark.slow


def start_redis(port: int, workdir: Path, durable: bool = False) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed on PATH"
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persistence, "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            proc.poll()
            assert proc.returncode is None, "redis-server exited"
            subprocess.run(["sleep", "0.02"], check=True)  # the server gives no readiness event
    client.close()
    return proc


@pytest.fixture
def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private(port: int, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    servers = [start_redis(port, tmp_path)]
    yield servers
    for server in servers:
        server.terminate()
        server.wait()


def test_worker_survives_redis_restart(
    port: int, private: list[subprocess.Popen[bytes]], key: SigningKey, tmp_path: Path, start_worker: StartWorker
) -> None:
    url = f"redis://127.0.0.1:{port}/0"
    worker = start_worker("r1", url=url)
    job = {"runner_id": "r1", "payload": json.dumps({"task": "add", "args": [1, 2]})}
    with RedisClient(url, worker.namespace, key=key) as client:
        assert client.run(job, 30).value == 3
    private[0].terminate()
    private[0].wait()
    private.append(start_redis(port, tmp_path))
    with RedisClient(url, worker.namespace, key=key) as client:
        assert client.run(job, 60).status == JobStatus.COMPLETED
    assert worker.stop() == 0
    assert "Traceback" not in worker.log()


def test_redis_killed_under_load_loses_no_job(
    port: int, key: SigningKey, tmp_path: Path, start_worker: StartWorker
) -> None:
    """SIGKILL a durable Redis while a worker drains jobs; after its restart every job completes."""
    servers = [start_redis(port, tmp_path, durable=True)]
    url = f"redis://127.0.0.1:{port}/0"
    worker = start_worker("r1", "--heartbeat-ttl", "2", url=url)
    try:
        with RedisClient(url, worker.namespace, key=key) as client:
            jobs = [
                {"runner_id": "r1", "payload": json.dumps({"task": "count", "args": [url, "runs", str(n), 0.002]})}
                for n in range(300)
            ]
            ids = client.submit_many(jobs)
            client.wait(ids[30], 30)
        servers[0].kill()
        servers[0].wait()
        servers.append(start_redis(port, tmp_path, durable=True))
        with RedisClient(url, worker.namespace, key=key) as client:
            results = [client.wait(job_id, 60) for job_id in ids]
        assert {r.status for r in results} == {JobStatus.COMPLETED}
        runs = redis.Redis(port=port, decode_responses=True).hgetall("runs")
        assert set(runs) == {str(n) for n in range(300)}
        assert worker.proc.poll() is None
    finally:
        worker.stop()
        for server in servers:
            server.terminate()
            server.wait()
