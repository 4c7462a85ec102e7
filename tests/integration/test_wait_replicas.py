"""The durability option (``wait_replicas``, docs/scaling.md "Failover"): each queued job and
stored result is followed by ``WAIT`` in the same pipeline. The test Redis has no replica, so
with the option on every such write is made on the master and reported NotReplicated."""

from __future__ import annotations

import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from nacl.signing import SigningKey

from horus import NotReplicated, scripts
from horus.broker import Broker
from horus.client import RedisClient
from horus.errors import ConfigError, JobRejected, TransportError, WaitTimeout
from horus.models import Job, JobResult, JobStatus
from horus.resp import ReplyError
from horus.sdk import SupervisorError
from horus.sdk import translate as sdk_translate
from horus.signing import sign_job
from horus.supervisor.rpc import translate as rpc_translate
from tests.conftest import StartWorker

#: A Redis with no replica: on a cluster or a Sentinel group the replicas would confirm.
pytestmark = pytest.mark.single_redis

W = "host:1:2"
WAIT_S = 60.0
#: Short, so the missing replica is reported quickly.
TIMEOUT_MS = 30


def job(key: SigningKey, runner: str = "r1", **fields: object) -> Job:
    return sign_job(Job(runner_id=runner, payload="x", **fields), key)  # type: ignore[arg-type]


@pytest.fixture
def durable(r: redis.Redis, redis_url: str, namespace: str) -> Iterator[Broker]:
    with Broker.from_url(redis_url, namespace, wait_replicas=1, wait_timeout_ms=TIMEOUT_MS) as broker:
        yield broker


def until(check: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_enqueue_without_a_replica_raises_not_replicated_quickly(durable: Broker, key: SigningKey) -> None:
    j = job(key)
    began = time.monotonic()
    with pytest.raises(NotReplicated) as info:
        durable.enqueue(j)
    assert time.monotonic() - began < 5  # the WAIT's own timeout (30 ms), not a hang
    error = info.value
    assert isinstance(error, TransportError)
    assert (error.code, error.acknowledged, error.wanted, error.timeout_ms) == ("not_replicated", 0, 1, TIMEOUT_MS)
    assert f"only 0 of 1 replica(s) confirmed it within {TIMEOUT_MS} ms" in str(error)
    assert j.id in str(error) and "look the job up" in str(error)
    assert error.value == [j.id]
    # The job stays written on the master; sent again, it is refused as a replay.
    assert durable.result(j.id).status is JobStatus.DISPATCHED
    assert durable.queue_length("r1") == 1
    with pytest.raises(JobRejected, match="already submitted"):
        durable.enqueue(j)


def test_every_submit_path_waits(durable: Broker, key: SigningKey, r: redis.Redis) -> None:
    jobs = [job(key) for _ in range(3)]
    with pytest.raises(NotReplicated, match="3 jobs") as many:
        durable.enqueue_many(jobs)
    assert many.value.value == [j.id for j in jobs]

    each = [job(key), jobs[0], job(key)]  # a replay among them: sent again one by one
    with pytest.raises(NotReplicated) as info:
        durable.enqueue_each(each)
    assert info.value.value == [True, False, True]

    with pytest.raises(NotReplicated) as info:
        durable.enqueue_each([job(key)])
    assert info.value.value == [True]

    owned = job(key)
    with pytest.raises(NotReplicated) as info:
        durable.enqueue_with(owned, [("SET", "written-with-the-job", "1")], owner="alice")
    assert info.value.value == (True, ["OK"])
    assert durable.owner(owned.id) == "alice"

    ran = job(key)
    with pytest.raises(NotReplicated):
        durable.run(ran, 5)
    assert durable.result(ran.id).status is JobStatus.DISPATCHED
    durable.ping()  # the connection whose wait was abandoned was closed: a new one answers

    # A replayed id is refused as before: the refusal comes first.
    with pytest.raises(JobRejected):
        durable.enqueue(ran)
    assert durable.queue_length("r1") == 8


def test_cluster_mode_waits_after_the_claims_and_the_enqueues(
    redis_url: str, namespace: str, key: SigningKey, r: redis.Redis
) -> None:
    """With ``cluster=True`` (always on a cluster) each claim and each enqueue is followed by a
    WAIT of its own, on its own master; the error comes once the jobs are queued."""
    with Broker.from_url(redis_url, namespace, cluster=True, wait_replicas=1, wait_timeout_ms=TIMEOUT_MS) as broker:
        jobs = [job(key), job(key, runner="r2")]
        with pytest.raises(NotReplicated, match="2 jobs") as info:
            broker.enqueue_many(jobs)
        assert info.value.value == [j.id for j in jobs]
        assert (broker.queue_length("r1"), broker.queue_length("r2")) == (1, 1)
        with pytest.raises(JobRejected, match="already submitted"):
            broker.enqueue(jobs[0])
        with pytest.raises(NotReplicated):
            broker.enqueue_with(job(key), [("SET", "written-with-the-job", "1")])
        ran = job(key)
        with pytest.raises(NotReplicated):
            broker.run(ran, 5)
        assert broker.result(ran.id).status is JobStatus.DISPATCHED
        assert broker.queue_length("r1") == 3


def test_finish_is_stored_and_reported(durable: Broker, broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    assert broker.reserve("r1", W, 1) == j.id
    durable.start_many("r1", W, [j.id])
    done = JobResult(job_id=j.id, status=JobStatus.COMPLETED, output="ok")
    with pytest.raises(NotReplicated, match="the result of job") as info:
        durable.finish("r1", W, done)
    assert info.value.value is True
    assert "not run again" in str(info.value)
    assert broker.result(j.id).status is JobStatus.COMPLETED
    assert broker.queue_length("r1") == 0

    # cycle: the reserved ids are handed over with the error, not stranded in flight.
    more = [job(key) for _ in range(2)]
    broker.enqueue_many(more)
    _, reserved = durable.cycle("r1", W, [], 2)  # nothing finished: nothing waited for
    durable.start_many("r1", W, reserved)
    results = [JobResult(job_id=job_id, status=JobStatus.COMPLETED) for job_id in reserved]
    broker.enqueue(job(key))
    with pytest.raises(NotReplicated, match="2 results") as cycled:
        durable.cycle("r1", W, results, 1)
    stored, taken = cycled.value.value
    assert stored == [True, True] and len(taken) == 1


def test_off_by_default_sends_no_wait(broker: Broker, key: SigningKey) -> None:
    assert broker.wait_replicas == 0
    sent: list[str] = []
    real = broker.conn

    class Recording:
        """The broker's connection, noting the name of every command sent through it."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def call(self, *args: Any, timeout_s: float | None = None) -> Any:
            sent.append(str(args[0]))
            return real.call(*args, timeout_s=timeout_s)

        def pipeline(self, commands: list[Any]) -> list[Any]:
            sent.extend(str(command[0]) for command in commands)
            return real.pipeline(commands)

        def send(self, commands: list[Any]) -> None:
            sent.extend(str(command[0]) for command in commands)
            real.send(commands)

    recording = Recording()
    broker.connections = types.SimpleNamespace(get=lambda: recording, close=real.close)  # type: ignore[assignment]
    j = job(key)
    broker.enqueue(j)
    broker.enqueue_many([job(key), job(key)])
    broker.enqueue_each([job(key), j])
    broker.enqueue_with(job(key), [("SET", "written-with-the-job", "1")])
    assert broker.reserve("r1", W, 1) == j.id
    broker.start_many("r1", W, [j.id])
    broker.finish("r1", W, JobResult(job_id=j.id, status=JobStatus.COMPLETED))
    with pytest.raises(WaitTimeout):
        broker.run(job(key, runner="nobody"), 0.01)
    assert "EVALSHA" in sent and "BLMOVE" in sent
    assert "WAIT" not in sent


def test_settings_from_the_environment(
    redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch, r: redis.Redis
) -> None:
    monkeypatch.setenv("HORUS_WAIT_REPLICAS", "2")
    monkeypatch.setenv("HORUS_WAIT_TIMEOUT_MS", "250")
    with Broker.from_url(redis_url, namespace) as broker:
        assert (broker.wait_replicas, broker.wait_timeout_ms) == (2, 250)
    with Broker.from_url(redis_url, namespace, wait_replicas=0) as broker:  # the keyword wins
        assert broker.wait_replicas == 0
    for name, value in [("HORUS_WAIT_TIMEOUT_MS", "0"), ("HORUS_WAIT_REPLICAS", "-1"), ("HORUS_WAIT_REPLICAS", "x")]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=name):
            Broker.from_url(redis_url, namespace)
        monkeypatch.setenv(name, "1")


def test_client_submit_raises_and_the_job_can_be_checked(
    redis_url: str, namespace: str, key: SigningKey, monkeypatch: pytest.MonkeyPatch, r: redis.Redis
) -> None:
    monkeypatch.setenv("HORUS_WAIT_REPLICAS", "1")
    monkeypatch.setenv("HORUS_WAIT_TIMEOUT_MS", str(TIMEOUT_MS))
    with RedisClient(redis_url, namespace, key=key) as client:
        with pytest.raises(NotReplicated) as info:
            client.submit({"runner_id": "r1", "payload": "x"})
        (job_id,) = info.value.value
        assert client.status(job_id)["status"] == "dispatched"


def test_the_worker_stores_results_it_cannot_confirm_and_goes_on(
    start_worker: StartWorker, redis_url: str, namespace: str, key: SigningKey, broker: Broker
) -> None:
    """A result too few replicas confirmed is stored on the master: the worker warns, does not
    run the job again, and goes on with the next jobs."""
    worker = start_worker("r1", "--wait-replicas", "1", "--wait-timeout-ms", str(TIMEOUT_MS))
    with RedisClient(redis_url, namespace, key=key) as client:
        ids = [client.submit({"runner_id": "r1", "payload": '{"task": "add", "args": [1, 2]}'}) for _ in range(5)]
        results = [client.wait(job_id, WAIT_S) for job_id in ids]
    assert [result.status for result in results] == [JobStatus.COMPLETED] * 5, results[0]
    assert all(result.deliveries == 1 for result in results)
    until(lambda: "replica(s) confirmed it" in worker.log(), "the worker's warning")
    assert "not run again" in worker.log()
    assert "lost Redis" not in worker.log()
    assert broker.queue_length("r1") == 0


def test_scripts_sent_again_are_followed_by_their_wait() -> None:
    """A NOSCRIPT reply: the script call is sent again after loading, and the WAIT after it too
    (it confirms the writes sent before it)."""

    class Fake:
        def __init__(self) -> None:
            self.sent: list[list[Any]] = []

        def pipeline(self, commands: list[Any]) -> list[Any]:
            self.sent.append([command[0] for command in commands])
            if len(self.sent) == 1:
                return [ReplyError("NOSCRIPT No matching script"), 0, "OK"]
            return [1 if name == "WAIT" else "OK" for name in self.sent[-1]]

    fake = Fake()
    commands = [scripts.command("enqueue", ["k"], []), ("WAIT", 1, 10), ("SET", "a", "b")]
    replies = scripts.run(fake, commands)  # type: ignore[arg-type]
    assert fake.sent[0] == ["EVALSHA", "WAIT", "SET"]
    assert fake.sent[2] == ["EVALSHA", "WAIT"]
    assert replies == ["OK", 1, "OK"]


def test_not_replicated_through_the_supervisor_api() -> None:
    error = NotReplicated("job 'j1'", 0, 1, 1000, "check it", value=["j1"])
    answer = rpc_translate(error)
    assert answer.reason == "not_replicated"
    data = answer.as_error()
    assert data["data"]["acknowledged"] == 0 and data["data"]["wanted"] == 1
    again = sdk_translate(SupervisorError(data["code"], data["message"], data["data"]))
    assert isinstance(again, NotReplicated)
    assert (again.acknowledged, again.wanted, str(again)) == (0, 1, str(error))
