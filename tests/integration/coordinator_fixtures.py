"""A real stack for workflow tests: Redis, a supervisor, python workers and coordinator processes."""
# ruff: noqa: F811 - the supervisor fixtures are imported from its tests and used by name.

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from horus.coordinator import CoordinatorClient
from horus.errors import ConnectionFailed
from horus.sdk import Client
from horus.signing import generate_key, public_hex, save_key
from tests.conftest import ROOT, StartWorker, WorkerProc, horus_cmd, kill_tree
from tests.integration.test_supervisor import ADMIN, Serve, Server, serve  # noqa: F401

WAIT = 60
APPS = "tests.fixtures.tasks,tests.fixtures.workflow_tasks"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CoordinatorProc:
    proc: subprocess.Popen[str]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL: no lease is released, nothing is flushed."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


@dataclass
class Stack:
    supervisor: Server
    redis_url: str
    namespace: str
    key: SigningKey
    coordinator_key: SigningKey
    coordinator_key_file: Path
    tmp_path: Path
    start_worker_fn: StartWorker
    coordinators: list[CoordinatorProc] = field(default_factory=list)

    def start_worker(self, runner_id: str = "wf", concurrency: int = 2, trusted: list[str] | None = None) -> WorkerProc:
        # Workflows submitted with a key carry their steps' job signatures: the client's key runs them.
        keys = [public_hex(self.key)] if trusted is None else trusted
        return self.start_worker_fn(runner_id, "--app", APPS, concurrency=concurrency, trusted=keys)

    def start_coordinator(
        self, *extra: str, lease_ttl: float = 2.0, wait: bool = True, own_key: bool = True
    ) -> CoordinatorProc:
        port = free_port()
        log_path = self.tmp_path / f"coordinator-{len(self.coordinators)}.log"
        argv = horus_cmd(
            "coordinator",
            "--port",
            str(port),
            "--supervisor",
            self.supervisor.url,
            "--redis-url",
            self.redis_url,
            "--namespace",
            self.namespace,
            *(["--key", str(self.coordinator_key_file)] if own_key else []),
            "--lease-ttl",
            str(lease_ttl),
            *extra,
        )
        env = {**os.environ, "HORUS_ADMIN_TOKEN": ADMIN}
        env.pop("HORUS_TOKEN", None)
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True, start_new_session=True
            )
        coordinator = CoordinatorProc(proc, f"http://127.0.0.1:{port}/", log_path)
        self.coordinators.append(coordinator)
        if wait:
            wait_ready(coordinator)
        return coordinator

    def client(self, coordinator: CoordinatorProc | None = None, key: SigningKey | None = None) -> CoordinatorClient:
        target = coordinator or self.coordinators[0]
        return CoordinatorClient(target.url, token=ADMIN, key=key or self.key, timeout_s=WAIT + 10)


def wait_ready(coordinator: CoordinatorProc) -> None:
    deadline = time.monotonic() + 30
    while True:  # the server's answer is its only readiness signal
        try:
            with Client(coordinator.url) as probe:
                probe.call("rpc.discover")
            return
        except ConnectionFailed:
            assert coordinator.proc.poll() is None, coordinator.log()
            assert time.monotonic() < deadline, "coordinator did not start:\n" + coordinator.log()
            time.sleep(0.05)


def python_step(step_id: str, task: str, *args: Any, runner_id: str = "wf", **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "runner_id": runner_id, "payload": {"task": task, "args": list(args)}, **fields}


@pytest.fixture
def stack(
    serve: Serve, redis_url: str, namespace: str, key: SigningKey, tmp_path: Path, start_worker: StartWorker
) -> Iterator[Stack]:
    """A supervisor (runners wf and wf2, the client's key and the coordinator's trusted for all)
    and the means to start workers and coordinators; nothing started yet but the supervisor."""
    server = serve()
    coordinator_key = generate_key()
    key_file = tmp_path / "coordinator.key"
    save_key(key_file, coordinator_key)
    for runner in ("wf", "wf2"):
        server.call("runner.register", {"runner_id": runner, "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key), "runners": ["*"]})
    server.call("key.add", {"public_key": public_hex(coordinator_key), "runners": ["*"]})
    built = Stack(server, redis_url, namespace, key, coordinator_key, key_file, tmp_path, start_worker)
    yield built
    for coordinator in built.coordinators:
        kill_tree(coordinator.proc)
