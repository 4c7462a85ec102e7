"""The dead-letter tools (Broker.dead_list, dead_retry, dead_purge) on a real Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import redis
from nacl.signing import SigningKey

from horus.broker import Broker
from horus.errors import JobNotFound, JobRejected, NotDeadLettered
from horus.models import Job, JobResult, JobStatus
from horus.signing import sign_job

W = "h:1:9"


def job(key: SigningKey, **fields: object) -> Job:
    data = {"runner_id": "r1", "payload": json.dumps({"task": "add", "args": [1, 2]}), **fields}
    return sign_job(Job.model_validate(data), key)


@pytest.fixture
def dead_broker(r: redis.Redis, redis_url: str, namespace: str) -> Iterator[Broker]:
    broker = Broker.from_url(redis_url, namespace, max_deliveries=1)
    yield broker
    broker.close()


def dead_letter(broker: Broker, j: Job, finish: bool = True) -> None:
    """Lose the job's worker once (the limit is 1), then let the next one dead-letter it."""
    broker.enqueue(j)
    assert broker.reserve("r1", "h:1:1", 1) == j.id
    assert broker.start_many("r1", "h:1:1", [j.id])[0].verdict == "run"
    assert broker.reap("r1", "h:1:1", force=True) == [j.id]
    assert broker.reserve("r1", W, 1) == j.id
    assert broker.start_many("r1", W, [j.id])[0].verdict == "dead"
    if finish:
        failed = JobResult(
            job_id=j.id,
            runner_id="r1",
            status=JobStatus.FAILED,
            error="dead-lettered: x",
            deliveries=2,
            completed_at=time.time(),
        )
        assert broker.finish("r1", W, failed)


def test_an_empty_dead_list(dead_broker: Broker) -> None:
    assert dead_broker.dead_list("r1") == []
    assert dead_broker.dead_retry("r1").retried == []
    assert dead_broker.dead_purge("r1").purged == 0


def test_the_list_says_why_and_when(dead_broker: Broker, key: SigningKey) -> None:
    j = job(key, caller_id="billing")
    dead_letter(dead_broker, j)
    (entry,) = dead_broker.dead_list("r1")
    assert (entry.job_id, entry.status, entry.reason, entry.deliveries) == (
        j.id,
        JobStatus.FAILED,
        "dead-lettered: x",
        2,
    )
    assert (entry.caller_id, entry.created_at) == ("billing", j.created_at)
    assert entry.dead_at is not None and entry.completed_at is not None


def test_a_job_lost_while_being_dead_lettered_is_listed_once(dead_broker: Broker, key: SigningKey) -> None:
    j = job(key)
    dead_letter(dead_broker, j, finish=False)
    dead_broker.reap("r1", W, force=True)  # the worker storing its failure died too
    assert dead_broker.reserve("r1", "h:1:3", 1) == j.id
    assert dead_broker.start_many("r1", "h:1:3", [j.id])[0].verdict == "dead"
    assert dead_broker.dead_letters("r1") == [j.id]


def test_retry_queues_the_job_afresh(dead_broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j, other = job(key), job(key)
    dead_letter(dead_broker, j)
    dead_letter(dead_broker, other)
    assert dead_broker.dead_retry("r1", [j.id]).retried == [j.id]
    assert dead_broker.dead_letters("r1") == [other.id]
    state = dead_broker.result(j.id)
    assert (state.status, state.deliveries, state.error) == (JobStatus.DISPATCHED, 0, None)
    assert r.ttl(dead_broker.keys.job("r1", j.id)) == -1 and r.ttl(dead_broker.keys.spec("r1", j.id)) == -1
    assert dead_broker.reserve("r1", "h:1:4", 1) == j.id
    (started,) = dead_broker.start_many("r1", "h:1:4", [j.id])
    assert (started.verdict, started.deliveries) == ("run", 1)
    assert Job.model_validate_json(started.job_json).signatures == j.signatures


def test_retry_of_an_unknown_id_changes_nothing(dead_broker: Broker, key: SigningKey) -> None:
    j = job(key)
    dead_letter(dead_broker, j)
    with pytest.raises(NotDeadLettered) as caught:
        dead_broker.dead_retry("r1", [j.id, "nope"])
    assert (caught.value.job_id, caught.value.why) == ("nope", "not_dead")
    assert "'nope'" in str(caught.value) and "nothing was retried" in str(caught.value)
    assert dead_broker.dead_letters("r1") == [j.id]
    assert dead_broker.result(j.id).status == JobStatus.FAILED
    assert dead_broker.queue_length("r1") == 0


def test_retry_waits_for_the_failure_to_be_stored(dead_broker: Broker, key: SigningKey) -> None:
    j = job(key)
    dead_letter(dead_broker, j, finish=False)
    with pytest.raises(NotDeadLettered) as caught:
        dead_broker.dead_retry("r1", [j.id])
    assert caught.value.why == "ending"
    assert dead_broker.dead_retry("r1").skipped[0].why == "ending"


def test_retry_all(dead_broker: Broker, key: SigningKey) -> None:
    jobs = [job(key) for _ in range(3)]
    for j in jobs:
        dead_letter(dead_broker, j)
    outcome = dead_broker.dead_retry("r1")
    assert sorted(outcome.retried) == sorted(j.id for j in jobs) and outcome.skipped == []
    assert dead_broker.dead_letters("r1") == [] and dead_broker.queue_length("r1") == 3


def test_purge_forgets_the_jobs_and_keeps_their_ids(dead_broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j, ending = job(key), job(key)
    dead_letter(dead_broker, j)
    dead_letter(dead_broker, ending, finish=False)
    outcome = dead_broker.dead_purge("r1")
    assert (outcome.purged, outcome.left) == (1, [ending.id])
    assert dead_broker.dead_letters("r1") == [ending.id]
    assert dead_broker.result(ending.id).status == JobStatus.RUNNING  # its id still finds it
    with pytest.raises(JobNotFound):
        dead_broker.result(j.id)
    assert not r.exists(dead_broker.keys.job("r1", j.id), dead_broker.keys.spec("r1", j.id))
    with pytest.raises(JobRejected) as caught:
        dead_broker.enqueue(j)
    assert caught.value.code == "replayed_id"
