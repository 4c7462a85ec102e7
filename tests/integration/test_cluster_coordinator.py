"""The coordinator on a real Redis Cluster (scripts/redis-group): a DAG whose steps run on three
runners whose queues sit on three different masters, a cancel, workflow.list, and a coordinator
killed with SIGKILL mid-workflow whose workflow a second one finishes. Every command Horus sends
goes through ClusterConnection, which refuses any whose keys span slots (CrossSlot), so these
runs also check that no workflow script or read spans slots."""

# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from nacl.signing import SigningKey

from horus.coordinator import CoordinatorClient
from horus.errors import ConnectionFailed
from horus.keys import Keys, workflow_bucket
from horus.redis_url import ClusterTarget
from horus.resp_cluster import ClusterConnection
from horus.sdk import Client
from horus.signing import public_hex
from tests.conftest import ROOT, StartWorker, horus_cmd, kill_tree
from tests.integration.coordinator_fixtures import APPS, free_port, python_step
from tests.integration.redis_groups import cluster, group_dir  # noqa: F401 - fixtures
from tests.integration.test_cluster_runtime import ADMIN, runners_on_every_master, supervisor  # noqa: F401

pytestmark = pytest.mark.slow  # starting a cluster takes about ten seconds

WAIT_S = 120.0


@pytest.fixture
def url(cluster: ClusterTarget) -> str:
    return str(cluster)


class Coordinators:
    """Coordinator processes on the cluster URL; each one killed at teardown."""

    def __init__(self, url: str, supervisor: str, namespace: str, tmp_path: Path) -> None:
        self.url, self.supervisor, self.namespace, self.tmp_path = url, supervisor, namespace, tmp_path
        self.procs: list[tuple[subprocess.Popen[str], str, Path]] = []

    def start(self) -> tuple[subprocess.Popen[str], str]:
        port = free_port()
        log_path = self.tmp_path / f"coordinator-{len(self.procs)}.log"
        argv = horus_cmd(
            "coordinator", "--port", str(port), "--supervisor", self.supervisor, "--redis-url", self.url,
            "--namespace", self.namespace, "--lease-ttl", "2",
        )  # fmt: skip
        env = {**os.environ, "HORUS_ADMIN_TOKEN": ADMIN}
        env.pop("HORUS_TOKEN", None)
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True, start_new_session=True
            )
        address = f"http://127.0.0.1:{port}/"
        self.procs.append((proc, address, log_path))
        deadline = time.monotonic() + 30
        while True:  # the server's answer is its only readiness signal
            try:
                with Client(address) as probe:
                    probe.call("rpc.discover")
                return proc, address
            except ConnectionFailed:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "coordinator did not start:\n" + log_path.read_text()
                time.sleep(0.05)

    def logs(self) -> str:
        return "\n".join(path.read_text() for _, _, path in self.procs)


@pytest.fixture
def coordinators(url: str, supervisor: str, namespace: str, tmp_path: Path) -> Iterator[Coordinators]:
    started = Coordinators(url, supervisor, namespace, tmp_path)
    yield started
    for proc, _, _ in started.procs:
        kill_tree(proc)


@pytest.fixture
def runners(
    cluster: ClusterTarget, namespace: str, supervisor: str, key: SigningKey, start_worker: StartWorker, url: str
) -> list[str]:
    """Three runners whose keys sit on three different masters, each with a worker, registered
    with the supervisor; the client's key (which signs the step jobs) trusted for them."""
    chosen = runners_on_every_master(cluster, namespace)
    with Client(supervisor, token=ADMIN) as api:
        for runner in chosen:
            api.register_runner(runner, "python")
        api.add_key(public_hex(key), chosen)
    for runner in chosen:
        start_worker(runner, "--app", APPS, concurrency=3, url=url)
    return chosen


def client(address: str, key: SigningKey) -> CoordinatorClient:
    return CoordinatorClient(address, token=ADMIN, key=key, timeout_s=WAIT_S + 10)


def wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():  # the step's own record in Redis is the signal
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_dag_over_three_masters_completes_and_is_listed(
    coordinators: Coordinators, runners: list[str], key: SigningKey, cluster: ClusterTarget, namespace: str
) -> None:
    a, b, c = runners
    flow = {
        "name": "across-masters",
        "steps": [
            python_step("start", "wf_value", 2, runner_id=a),
            python_step("left", "wf_inc", 3, runner_id=b, depends_on=["start"]),
            python_step("right", "wf_inc", 4, runner_id=c, depends_on=["start"]),
            python_step("total", "wf_sum", runner_id=a, depends_on=["left", "right"]),
        ],
    }
    _, address = coordinators.start()
    with client(address, key) as api:
        outcome = api.run(flow, WAIT_S)
        assert outcome.status == "completed", (outcome, coordinators.logs())
        assert {step: r.value for step, r in outcome.steps.items()} == {"start": 2, "left": 5, "right": 6, "total": 11}
        assert {r.runner_id for r in outcome.steps.values()} == set(runners)
        listed = api.list()
        assert outcome.workflow_id in [w.workflow_id for w in listed.workflows]
        assert api.list(status="completed").workflows[0].workflow_id == outcome.workflow_id
    # The workflow's keys sit in its bucket's slot, the step jobs on their runners' masters.
    conn = ClusterConnection(cluster)
    try:
        keys = Keys(namespace)
        masters = {conn.slots.master_for_key(keys.queue(r)) for r in runners}
        assert len(masters) == 3
        bucket = workflow_bucket(outcome.workflow_id)
        assert conn.call("ZSCORE", keys.workflows_index(bucket), outcome.workflow_id) is not None
    finally:
        conn.close()
    assert "CrossSlot" not in coordinators.logs()


def test_a_workflow_cancel_on_a_cluster(
    coordinators: Coordinators, runners: list[str], key: SigningKey, redis_url: str, r: redis.Redis
) -> None:
    flow = {
        "name": "to-cancel",
        "steps": [
            python_step("long", "wf_record", redis_url, "runs", "long", 60, runner_id=runners[1]),
            python_step("after", "wf_value", 1, runner_id=runners[2], depends_on=["long"]),
        ],
    }
    _, address = coordinators.start()
    with client(address, key) as api:
        workflow_id = api.submit(flow)
        wait_for(lambda: r.hget("runs", "long") is not None, "the long step did not start")
        assert api.cancel(workflow_id) == "cancelled"
        outcome = api.wait(workflow_id, WAIT_S)
    assert outcome.status == "cancelled", (outcome, coordinators.logs())
    assert outcome.steps["long"].status == "cancelled"
    assert outcome.steps["after"].status == "cancelled"


def test_a_killed_coordinator_is_replaced_by_another_that_finishes(
    coordinators: Coordinators, runners: list[str], key: SigningKey, redis_url: str, r: redis.Redis
) -> None:
    def rec(step_id: str, runner: str, **fields: Any) -> dict[str, Any]:
        return python_step(step_id, "wf_record", redis_url, "kruns", step_id, 0.5, runner_id=runner, **fields)

    middle = [rec(f"mid-{n}", runner, depends_on=["start"]) for n, runner in enumerate(runners)]
    flow = {
        "name": "survives",
        "steps": [
            rec("start", runners[0]),
            *middle,
            rec("join", runners[1], depends_on=[m["id"] for m in middle]),
            rec("end", runners[2], depends_on=["join"]),
        ],
    }
    first, address = coordinators.start()
    with client(address, key) as api:
        workflow_id = api.submit(flow)
    wait_for(lambda: r.hget("kruns", "start") is not None, "the first step did not start")
    os.kill(first.pid, signal.SIGKILL)  # no lease released, nothing flushed
    first.wait(30)
    _, second = coordinators.start()
    with client(second, key) as api:
        outcome = api.wait(workflow_id, WAIT_S)
        info = api.status(workflow_id)
    assert outcome.status == "completed", (outcome, coordinators.logs())
    assert {k: int(v) for k, v in r.hgetall("kruns").items()} == {s["id"]: 1 for s in flow["steps"]}
    assert all(step.attempt == 1 for step in info.steps)
