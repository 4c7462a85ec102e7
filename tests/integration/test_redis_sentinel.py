"""Horus on a real Sentinel group (scripts/redis-group): workers, clients, the CLI and the
supervisor on a ``redis+sentinel://`` URL, and jobs flowing through a failover."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.connect import connect
from horus.errors import ConnectionFailed, JobNotFound, JobRejected, NotReplicated, WaitTimeout
from horus.models import Job, JobStatus
from horus.redis_url import SentinelTarget, parse_target
from horus.sdk import Client
from horus.signing import public_hex, save_key
from tests.conftest import ROOT, StartWorker, horus_cmd, kill_tree
from tests.integration.redis_groups import redis_group

pytestmark = pytest.mark.slow  # starting a group takes a few seconds

#: Ports of this module's groups, apart from other modules' groups on the same machine.
REDIS_PORTS, SENTINEL_PORTS = (18000, 18990), (26500, 26590)
WAIT_S = 120.0
ADMIN = "admin-token-for-tests"


@dataclass
class Group:
    url: str
    target: SentinelTarget
    directory: Path

    def master_port(self) -> int:
        """Where the sentinels say the master is now."""
        sentinel = self.target.sentinels[0]
        with redis.Redis(host=sentinel.host, port=sentinel.port) as s:
            _, port = s.execute_command("SENTINEL", "get-master-addr-by-name", self.target.master_name)
        return int(port)

    def node_dir(self, port: int) -> Path:
        first = int((self.directory / "sentinel" / "ports").read_text().split()[0])
        return self.directory / "sentinel" / ("master" if port == first else "replica")

    def node_pid(self, port: int) -> int:
        """The pid of the group's Redis on ``port`` (from its pidfile)."""
        return int((self.node_dir(port) / "pid").read_text())

    def restart_node(self, port: int) -> None:
        """Start the group's Redis on ``port`` again (daemonized, from its own config): once
        the sentinels see it, they make it a replica of the master they chose."""
        subprocess.run(["redis-server", str(self.node_dir(port) / "redis.conf")], check=True, timeout=30)

    def failover(self) -> None:
        """A graceful failover: the sentinels promote the replica once it has caught up."""
        sentinel = self.target.sentinels[1]
        with redis.Redis(host=sentinel.host, port=sentinel.port) as s:
            s.execute_command("SENTINEL", "FAILOVER", self.target.master_name)


def start_group(directory: Path) -> Iterator[Group]:
    with redis_group("sentinel", directory, REDIS_PORTS, SENTINEL_PORTS) as url:
        target = parse_target(url)
        assert isinstance(target, SentinelTarget)
        yield Group(url, target, directory)


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Group]:
    """A group shared by the tests that leave its master in place."""
    yield from start_group(tmp_path_factory.mktemp("sentinel-group"))


@pytest.fixture
def own_group(tmp_path: Path) -> Iterator[Group]:
    """A group of the test's own, whose master it fails over or kills."""
    yield from start_group(tmp_path / "group")


def add_job(a: int, b: int = 1) -> dict[str, str]:
    return {"runner_id": "r1", "payload": json.dumps({"task": "add", "args": [a, b]})}


def test_worker_client_and_cli_on_a_sentinel_url(
    group: Group, start_worker: StartWorker, key: SigningKey, namespace: str, tmp_path: Path
) -> None:
    start_worker(url=group.url)
    with RedisClient(group.url, namespace, key=key) as client:
        result = client.run(add_job(2), WAIT_S)
        assert (result.status, result.value) == (JobStatus.COMPLETED, 3)
        assert client.broker.conn.address.port == group.master_port()
    key_file, job_file = tmp_path / "client.key", tmp_path / "job.json"
    save_key(key_file, key)
    job_file.write_text(json.dumps(add_job(40, 2)))
    env = {**os.environ, "HORUS_REDIS_URL": group.url, "HORUS_NAMESPACE": namespace}

    def horus(*args: str) -> str:
        done = subprocess.run(horus_cmd(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S)
        assert done.returncode == 0, done.stderr
        return done.stdout

    job_id = horus("submit", str(job_file), "--key", str(key_file)).strip()
    assert json.loads(horus("result", job_id, "--wait", "--json"))["value"] == 42
    assert json.loads(horus("status", job_id, "--json"))["status"] == "completed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def supervisor(group: Group, namespace: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path / "supervisor.log"
    argv = horus_cmd("supervisor", "--port", str(port), "--redis-url", group.url, "--namespace", namespace)
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "HORUS_ADMIN_TOKEN": ADMIN},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + WAIT_S
    while True:  # the server gives no readiness signal but its answer
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "supervisor did not listen"
            time.sleep(0.05)
    yield url
    kill_tree(proc)


def test_supervisor_on_a_sentinel_url(
    group: Group, supervisor: str, start_worker: StartWorker, key: SigningKey
) -> None:
    start_worker(url=group.url)
    with Client(supervisor, token=ADMIN, key=key) as api:
        api.register_runner("r1", "python")
        api.add_key(public_hex(key), ["r1"])
        job_id = api.submit(add_job(5))
        # job.wait blocks in the supervisor's asyncio pool, on the master the sentinels named.
        result = api.wait(job_id, WAIT_S)
    assert (result.status, result.value) == (JobStatus.COMPLETED, 6)


@dataclass
class Flow:
    """Jobs sent through a failover: those Redis acknowledged, and how many sends were lost."""

    acked: list[str] = field(default_factory=list)
    #: Sends that met a lost connection (sent again: the same signed job, so never twice).
    resent: int = 0
    after: list[str] = field(default_factory=list)
    #: Jobs queued on a master that too few replicas confirmed (NotReplicated): not acknowledged.
    unconfirmed: list[str] = field(default_factory=list)
    #: Seconds from the event until the sentinels named the new master, and until the client used it.
    switched_s: float | None = None
    moved_s: float = 0.0

    def __str__(self) -> str:
        return (
            f"{len(self.acked)} jobs up to the client's move, {len(self.after)} after, {self.resent} sent again, "
            f"{len(self.unconfirmed)} not confirmed by a replica; "
            f"new master named after {self.switched_s} s, used after {self.moved_s:.2f} s"
        )


def send(client: RedisClient, job: Job, deadline: float, flow: Flow, into: list[str]) -> None:
    """Queue a signed job, sending it again after a lost connection (a ``replayed_id`` then
    means the first send was stored), and add its id to ``into`` once acknowledged; one too few
    replicas confirmed (``wait_replicas``) goes to the flow's unconfirmed jobs instead."""
    while True:
        try:
            into.append(client.broker.enqueue(job))
            return
        except NotReplicated:
            flow.unconfirmed.append(job.id)
            return
        except ConnectionFailed:
            assert time.monotonic() < deadline, "no master to queue jobs on"
            flow.resent += 1
        except JobRejected as exc:
            if exc.code != "replayed_id":
                raise
            into.append(job.id)
            return


def flow_through(group: Group, client: RedisClient, event: Callable[[], None]) -> Flow:
    """A few hundred jobs before ``event``, jobs until the client is on the master the
    sentinels name, a few hundred after."""
    flow, old = Flow(), group.master_port()
    deadline = time.monotonic() + WAIT_S
    for i in range(200):
        send(client, client.build(add_job(i)), deadline, flow, flow.acked)
    event()
    started = time.monotonic()
    i = 200
    while (now := group.master_port()) == old or client.broker.conn.address.port != now:
        if now != old and flow.switched_s is None:
            flow.switched_s = time.monotonic() - started
        assert time.monotonic() < deadline, "the client did not reach a new master"
        for _ in range(10):
            send(client, client.build(add_job(i)), deadline, flow, flow.acked)
            i += 1
    flow.moved_s = time.monotonic() - started
    for _ in range(200):
        send(client, client.build(add_job(i)), deadline, flow, flow.after)
        i += 1
    return flow


def outcome(client: RedisClient, job_ids: list[str]) -> dict[str, int]:
    """How the jobs ended: completed, lost (unknown to the new master) or still not ended."""
    counts = {"completed": 0, "lost": 0, "unfinished": 0, "other": 0}
    deadline = time.monotonic() + WAIT_S / 4
    for job_id in job_ids:
        while True:
            try:
                result = client.wait(job_id, max(1.0, deadline - time.monotonic()))
                counts["completed" if result.status is JobStatus.COMPLETED else "other"] += 1
            except JobNotFound:
                counts["lost"] += 1
            except WaitTimeout:
                counts["unfinished"] += 1
                status = client.status(job_id)
                print("unfinished:", job_id, status["status"], client.inspect_queues("r1"))
            except ConnectionFailed:
                continue
            break
    return counts


@pytest.mark.parametrize("how", ["forced failover", "forced failover, min-replicas-to-write 1", "master killed"])
def test_jobs_flow_through_a_failover(
    own_group: Group, start_worker: StartWorker, key: SigningKey, namespace: str, how: str
) -> None:
    """Jobs queued one by one while the sentinels replace the master. Replication is
    asynchronous: what the old master acknowledged but its replica never got is lost, and a
    forced failover (SENTINEL FAILOVER) leaves the old master taking writes until the client
    learns of the switch, unless ``min-replicas-to-write`` makes it refuse them once its replica
    left (NOREPLICAS). Lost jobs are counted (docs/scaling.md); every other acknowledged job
    runs, and the worker and the client go on with the promoted replica: every job queued
    after runs."""
    if "min-replicas" in how:
        with redis.Redis(port=own_group.master_port()) as master:
            master.config_set("min-replicas-to-write", 1)
            # Redis counts its good replicas once a second: until then it refuses writes.
            deadline = time.monotonic() + WAIT_S
            while True:
                try:
                    master.set("probe", 1)
                    break
                except redis.ResponseError as exc:
                    assert "NOREPLICAS" in str(exc) and time.monotonic() < deadline, exc
                    time.sleep(0.05)
    worker = start_worker("r1", url=own_group.url, concurrency=4)

    def kill_master() -> None:
        os.kill(own_group.node_pid(own_group.master_port()), signal.SIGKILL)

    with RedisClient(own_group.url, namespace, key=key) as client:
        flow = flow_through(own_group, client, kill_master if how == "master killed" else own_group.failover)
        before, after = outcome(client, flow.acked), outcome(client, flow.after)
    print(f"{how}: {flow}: {before} {after}")
    assert before["completed"] + before["lost"] == len(flow.acked), (before, worker.log()[-3000:])
    assert after == {"completed": len(flow.after), "lost": 0, "unfinished": 0, "other": 0}


def test_a_listening_subscriber_leaves_the_old_master_after_a_forced_failover(own_group: Group) -> None:
    """A worker master's control channel only listens; looked at each heartbeat, its connection
    asks a sentinel whether it still hears the master, and leaves once the sentinels name
    another (the old master runs on until they demote it)."""
    conn = connect(own_group.target)
    conn.subscribe("ns:runner:{r1}:control")
    old = own_group.master_port()
    own_group.failover()
    deadline = time.monotonic() + WAIT_S
    with pytest.raises(ConnectionFailed, match="moved the master"):
        while time.monotonic() < deadline:
            select.select([conn.fileno()], [], [], 0.2)  # as the master's loop waits between looks
            conn.messages()
    assert own_group.master_port() != old


KILLED_WITH_WAIT = pytest.param(
    "master killed",
    # A run in a fresh-clone CI hung in a client's enqueue (a pipeline read without a timeout)
    # after the old master was restarted, until the test's timeout; 7 runs by hand and 8 in a
    # row of the file passed. Not explained yet: the read should end with the 200 ms WAIT.
    marks=pytest.mark.xfail(reason="a send once blocked after the old master's restart (under investigation)"),
)


@pytest.mark.parametrize("how", [KILLED_WITH_WAIT, "forced failover"])
def test_no_acknowledged_job_is_lost_with_wait_replicas(
    own_group: Group,
    start_worker: StartWorker,
    key: SigningKey,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """With ``wait_replicas=1`` (the client's HORUS_WAIT_REPLICAS, the worker's
    --wait-replicas) a job counts as queued only once the replica has it: after the master is
    killed or failed over mid-stream, every acknowledged job is on the new master and completes.
    A write the old master took after its replica left is reported NotReplicated, not
    acknowledged (docs/scaling.md, "Failover")."""
    # A local replica confirms in well under a millisecond; a short timeout keeps the writes
    # made while the group has no replica (below) from slowing the test.
    settings = ["--wait-replicas", "1", "--wait-timeout-ms", "200"]
    worker = start_worker("r1", *settings, url=own_group.url, concurrency=4)
    monkeypatch.setenv("HORUS_WAIT_REPLICAS", "1")
    monkeypatch.setenv("HORUS_WAIT_TIMEOUT_MS", "200")

    def kill_master() -> None:
        """Kill the master; once the sentinels have promoted its replica, start it again so the
        new master gets a replica (until then, and until the sentinels make it one, every write
        is reported NotReplicated: a group of one master and one replica has nothing else)."""
        old = own_group.master_port()
        os.kill(own_group.node_pid(old), signal.SIGKILL)
        deadline = time.monotonic() + WAIT_S
        while own_group.master_port() == old:
            assert time.monotonic() < deadline, "the sentinels promoted no replica"
            time.sleep(0.05)
        own_group.restart_node(old)

    with RedisClient(own_group.url, namespace, key=key) as client:
        assert client.broker.wait_replicas == 1
        flow = flow_through(own_group, client, kill_master if how == "master killed" else own_group.failover)
        before, after = outcome(client, flow.acked), outcome(client, flow.after)
        unconfirmed = outcome(client, flow.unconfirmed)
    print(f"{how}, wait_replicas 1: {flow}: {before} {after}; unconfirmed: {unconfirmed}")
    assert flow.after, "no job was confirmed by the new master's replica"
    assert before == {"completed": len(flow.acked), "lost": 0, "unfinished": 0, "other": 0}, worker.log()[-3000:]
    assert after == {"completed": len(flow.after), "lost": 0, "unfinished": 0, "other": 0}
