"""Horus on a real Redis Cluster (scripts/redis-group): workers, the Python client and the CLI
on a ``redis+cluster://`` URL, each runner's jobs on the master of its slot; cancels and due
notices over pub/sub; a retry scheduled and released; events followed across masters."""

# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from nacl.signing import SigningKey

from horus.broker import Broker
from horus.client import RedisClient
from horus.errors import TransportError
from horus.events import follow_events
from horus.keys import Keys
from horus.models import JobStatus
from horus.redis_url import ClusterTarget
from horus.resp import Connection
from horus.resp_cluster import ClusterConnection
from horus.sdk import Client
from horus.signing import public_hex, save_key
from horus.supervisor.app import Supervisor
from tests.conftest import ROOT, StartWorker, horus_cmd
from tests.integration.redis_groups import cluster, group_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow  # starting a cluster takes about ten seconds

WAIT_S = 120.0
ADMIN = "admin-token-for-tests"


@pytest.fixture
def url(cluster: ClusterTarget) -> str:
    return str(cluster)


def runners_on_every_master(cluster: ClusterTarget, namespace: str) -> list[str]:
    """Three runner ids whose keys sit on three different masters."""
    keys, conn = Keys(namespace), ClusterConnection(cluster)
    try:
        chosen: dict[object, str] = {}
        for n in range(1000):
            runner = f"c{n}"
            chosen.setdefault(conn.slots.master_for_key(keys.queue(runner)), runner)
            if len(chosen) == 3:
                return sorted(chosen.values())
    finally:
        conn.close()
    raise AssertionError("no three runner ids on three masters")


@pytest.fixture
def runners(cluster: ClusterTarget, namespace: str) -> list[str]:
    return runners_on_every_master(cluster, namespace)


def cli_env(url: str, namespace: str) -> dict[str, str]:
    return {**os.environ, "HORUS_REDIS_URL": url, "HORUS_NAMESPACE": namespace}


def cli(env: dict[str, str], *args: str) -> str:
    """``horus ARGS`` on the cluster; its output, once it has succeeded."""
    done = subprocess.run(horus_cmd(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    return done.stdout


def add_job(runner: str, a: int, b: int = 1) -> dict[str, str]:
    return {"runner_id": runner, "payload": json.dumps({"task": "add", "args": [a, b]})}


def keys_in_slot(cluster: ClusterTarget, key: str) -> int:
    """How many keys the master serving ``key``'s slot holds in that slot (asked directly)."""
    conn = ClusterConnection(cluster)
    try:
        node = conn.slots.master_for_key(key)
        direct = Connection(cluster.node(node.host, node.port))
        try:
            slot = int(direct.call("CLUSTER", "KEYSLOT", key))
            return int(direct.call("CLUSTER", "COUNTKEYSINSLOT", slot))
        finally:
            direct.close()
    finally:
        conn.close()


def test_each_runners_jobs_run_on_the_master_of_its_slot(
    url: str, cluster: ClusterTarget, runners: list[str], start_worker: StartWorker, key: SigningKey, namespace: str
) -> None:
    for runner in runners:
        start_worker(runner, url=url)
    with RedisClient(url, namespace, key=key) as client:
        ids = client.submit_many(add_job(runner, n) for n in range(40) for runner in runners)
        results = [client.wait(job_id, WAIT_S) for job_id in ids]
        assert [r.status for r in results] == [JobStatus.COMPLETED] * len(ids)
        assert [r.value for r in results] == [n + 1 for n in range(40) for _ in runners]
        assert {r.runner_id for r in results} == set(runners)
        # One more through the lone round trip (enqueue, then the wait on the result list).
        assert client.run(add_job(runners[0], 41), WAIT_S).value == 42
    masters = ClusterConnection(cluster)
    try:
        where = {masters.slots.master_for_key(Keys(namespace).queue(r)) for r in runners}
    finally:
        masters.close()
    assert len(where) == 3
    for runner in runners:
        # Each runner's job hashes, specs and results live in its own slot, on its own master.
        assert keys_in_slot(cluster, Keys(namespace).queue(runner)) >= 40


def test_replica_waits_reach_the_master_that_took_each_write(
    url: str, cluster: ClusterTarget, runners: list[str], start_worker: StartWorker, key: SigningKey, namespace: str
) -> None:
    """The durability option on a cluster: each claim, enqueue and finish is followed by a WAIT,
    which the cluster connection sends to the master of the write before it. Every master has a
    replica, so every write is confirmed, and once a submission returns its job is on the
    replica of its runner's master."""
    for runner in runners:
        start_worker(runner, "--wait-replicas", "1", url=url)
    keys = Keys(namespace)
    with RedisClient(url, namespace, key=key, wait_replicas=1) as client:
        assert client.broker.cluster and client.broker.wait_replicas == 1
        ids = client.submit_many(add_job(runner, n) for n in range(10) for runner in runners)
        slots = ClusterConnection(cluster)
        try:
            for runner in runners:
                job_id = client.submit(add_job(runner, 10))
                ids.append(job_id)
                master = slots.slots.master_for_key(keys.queue(runner))
                (shard,) = [shard for shard in slots.slots.shards if shard.master == master]
                replica = Connection(cluster.node(shard.replicas[0].host, shard.replicas[0].port))
                try:
                    replica.call("READONLY")
                    assert replica.call("EXISTS", keys.spec(runner, job_id)) == 1
                finally:
                    replica.close()
        finally:
            slots.close()
        results = [client.wait(job_id, WAIT_S) for job_id in ids]
        assert [r.status for r in results] == [JobStatus.COMPLETED] * len(ids)
        assert client.run(add_job(runners[0], 41), WAIT_S).value == 42


def test_the_cli_on_a_cluster_url(
    url: str, runners: list[str], start_worker: StartWorker, key: SigningKey, namespace: str, tmp_path: Path
) -> None:
    start_worker(runners[1], url=url)
    key_file, job_file = tmp_path / "client.key", tmp_path / "job.json"
    save_key(key_file, key)
    job_file.write_text(json.dumps(add_job(runners[1], 40, 2)))
    env = cli_env(url, namespace)
    horus = functools.partial(cli, env)

    waited = json.loads(horus("submit", str(job_file), "--key", str(key_file), "--wait", "--json"))
    assert (waited["status"], waited["value"]) == ("completed", 42)
    job_id = horus("submit", str(job_file), "--key", str(key_file), "--delay", "0.5").strip().splitlines()[-1]
    assert json.loads(horus("result", job_id, "--wait", "--json"))["value"] == 42
    assert json.loads(horus("status", job_id, "--json"))["status"] == "completed"
    events = [json.loads(line) for line in horus("events", "--json", "--count", "50").splitlines()]
    assert {"dispatched", "scheduled", "started", "completed"} <= {e["event"] for e in events if e["job_id"] == job_id}
    queues = json.loads(horus("inspect", "queues", "--json"))
    assert runners[1] in {q["runner_id"] for q in queues}


def test_a_cancel_reaches_a_running_job_over_pub_sub(
    url: str, runners: list[str], start_worker: StartWorker, key: SigningKey, namespace: str
) -> None:
    start_worker(runners[2], url=url)
    job = {"runner_id": runners[2], "payload": json.dumps({"task": "sleep", "args": [300]})}
    with RedisClient(url, namespace, key=key) as client:
        job_id = client.submit(job)
        for event in follow_events(client.broker, [runners[2]], block_ms=1_000):
            if event.job_id == job_id and event.event == "started":
                break
        client.cancel(job_id)
        result = client.wait(job_id, WAIT_S)
    assert result.status == JobStatus.CANCELLED


def test_a_failed_attempt_is_retried_after_its_backoff(
    url: str, runners: list[str], start_worker: StartWorker, key: SigningKey, namespace: str, tmp_path: Path
) -> None:
    start_worker(runners[0], url=url)
    marks = tmp_path / "attempts"
    job = {
        "runner_id": runners[0],
        "payload": json.dumps({"task": "flaky", "args": [str(marks), 1]}),
        "retries": 2,
        "retry_backoff_s": 0.2,
    }
    with RedisClient(url, namespace, key=key) as client:
        result = client.wait(client.submit(job), WAIT_S)
    assert (result.status, result.attempts) == (JobStatus.COMPLETED, 2)


class Follower:
    """The job ids of the ``completed`` events a follower of every runner sees, as they come."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.changed = threading.Condition()

    def follow(self, url: str, namespace: str) -> None:
        # A broker of the thread's own, closed when the module's cluster stops and ends the follow.
        with contextlib.suppress(TransportError), Broker.from_url(url, namespace) as broker:
            for event in follow_events(broker, block_ms=500):
                if event.event == "completed":
                    with self.changed:
                        self.seen.add(event.job_id)
                        self.changed.notify_all()

    def wait_for(self, ids: set[str]) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: ids <= self.seen, 60)


@pytest.fixture
def follower(url: str, namespace: str, runners: list[str]) -> Iterator[Follower]:
    follower = Follower()
    with RedisClient(url, namespace) as client:
        for runner in runners:
            client.broker.register_runner(runner)
    threading.Thread(target=follower.follow, args=(url, namespace), daemon=True).start()
    yield follower


def test_events_are_followed_across_the_masters(
    url: str, runners: list[str], start_worker: StartWorker, key: SigningKey, namespace: str, follower: Follower
) -> None:
    for runner in runners:
        start_worker(runner, url=url)
    with RedisClient(url, namespace, key=key) as client:
        ids = {client.run(add_job(runner, 1), WAIT_S).job_id for runner in runners}
    assert follower.wait_for(ids), f"followed {follower.seen}, expected {ids}"


def test_a_schedule_fires_through_a_beat_on_a_cluster(
    url: str, runners: list[str], start_worker: StartWorker, key: SigningKey, namespace: str, tmp_path: Path
) -> None:
    start_worker(runners[0], url=url)
    key_file, schedules = tmp_path / "client.key", tmp_path / "schedules.json"
    save_key(key_file, key)
    schedules.write_text(json.dumps([{"name": "tick", "every": "1s", "job": add_job(runners[0], 1, 1)}]))
    env = cli_env(url, namespace)
    horus = functools.partial(cli, env)

    horus("schedule", "add", str(schedules), "--key", str(key_file))
    beat = subprocess.Popen(horus_cmd("beat"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with RedisClient(url, namespace) as client:
            for event in follow_events(client.broker, [runners[0]], block_ms=1_000):
                if event.event == "completed" and event.job_id.startswith("beat:tick:"):
                    break
        (listed,) = json.loads(horus("schedule", "list", "--json"))
        assert listed["name"] == "tick" and listed["last_job_id"].startswith("beat:tick:")
    finally:
        beat.terminate()
        beat.wait(WAIT_S)


@pytest.fixture
def supervisor(url: str, namespace: str) -> Iterator[str]:
    """A supervisor on the cluster URL, in a thread, on a loopback port of its own."""
    broker = Broker.from_url(url, namespace)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            Supervisor(broker, admin_token=ADMIN).app(), log_level="warning", lifespan="on", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not server.started and thread.is_alive():  # uvicorn says so by this flag only
        started.wait(0.01)
    assert server.started, "the supervisor did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server.should_exit = True
    thread.join(WAIT_S)
    broker.close()


def test_the_supervisor_on_a_cluster_url(
    url: str, supervisor: str, runners: list[str], start_worker: StartWorker, key: SigningKey
) -> None:
    for runner in runners[:2]:
        start_worker(runner, url=url)
    with Client(supervisor, token=ADMIN, key=key) as api:
        for runner in runners:
            api.register_runner(runner, "python")
        api.add_key(public_hex(key), runners)
        # job.wait blocks on the asyncio pool, on the master of the job's runner.
        results = [api.run(add_job(runner, 5), WAIT_S) for runner in runners[:2]]
        assert [(r.status, r.value) for r in results] == [(JobStatus.COMPLETED, 6)] * 2
        shouted = api.run(
            {"runner_id": runners[0], "payload": json.dumps({"task": "shout", "args": ["one", "two"]})}, WAIT_S
        )
        assert list(api.logs(shouted.job_id)) == ["one", "two"]
        listed = api.jobs(runner_id=runners[0])
        assert {results[0].job_id, shouted.job_id} <= {job["job_id"] for job in listed["jobs"]}
        health = {runner: api.runner_health(runner) for runner in runners}
        assert health[runners[0]]["alive"] and not health[runners[2]]["alive"]
        queues = {q.runner_id: q for q in api.inspect_queues()}
        assert queues[runners[0]].workers == 1
        waiting = api.submit(add_job(runners[2], 1))  # no worker: it stays queued
        assert api.cancel(waiting) == "cancelled"
    metrics = urllib.request.urlopen(supervisor + "metrics", timeout=WAIT_S).read().decode()
    assert f'horus_jobs_total{{runner="{runners[0]}",status="completed"}} 2.0' in metrics
