"""The ``python`` runner's task features in real worker processes on a real Redis: the job's
context (bind, current job, attempts)."""

from __future__ import annotations

import json

from horus.client import RedisClient
from horus.models import JobStatus
from horus.tasks import current_job
from tests.conftest import StartWorker

WAIT = 30


def task(name: str, *args: object, **fields: object) -> dict[str, object]:
    return {"runner_id": "r1", "payload": json.dumps({"task": name, "args": list(args)}), **fields}


# -- the job's context ------------------------------------------------------------------------
def test_a_bound_task_gets_its_job_first_and_as_the_current_job(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("whoami", "mine", retries=2), WAIT)
    assert result.status == JobStatus.COMPLETED, result.error
    assert result.value == {
        "id": result.job_id,
        "attempt": 1,
        "runner_id": "r1",
        "retries": 2,
        "current": True,
        "tag": "mine",
    }


def test_a_task_that_does_not_bind_sees_its_job_as_the_current_one(
    client: RedisClient, start_worker: StartWorker
) -> None:
    start_worker(concurrency=1)
    first = client.run(task("current"), WAIT)
    second = client.run(task("current"), WAIT)
    assert first.value == {"id": first.job_id, "attempt": 1, "runner_id": "r1", "retries": 0}
    assert second.value == {"id": second.job_id, "attempt": 1, "runner_id": "r1", "retries": 0}


def test_each_attempt_of_a_retried_job_knows_its_number(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("fail_before", 3, retries=2, retry_backoff_s=0.05), WAIT)
    assert result.status == JobStatus.COMPLETED, result.error
    assert (result.value, result.attempts) == (3, 3)
    assert [a.error for a in result.history] == ["RuntimeError: attempt 1 failed", "RuntimeError: attempt 2 failed"]


def test_outside_a_job_the_current_job_is_detached() -> None:
    ctx = current_job()
    assert (ctx.id, ctx.attempt) == ("", 1)
    ctx.progress(50, "goes nowhere")  # a task called directly runs the same
