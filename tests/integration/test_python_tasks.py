"""The ``python`` runner's task features in real worker processes on a real Redis: the job's
context (bind, current job, attempts) and its progress reports."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from horus.client import RedisClient
from horus.models import JobStatus
from horus.tasks import current_job
from tests.conftest import StartWorker
from tests.integration.test_cli import horus

WAIT = 30


def task(name: str, *args: object, **fields: object) -> dict[str, object]:
    return {"runner_id": "r1", "payload": json.dumps({"task": name, "args": list(args)}), **fields}


def until(client: RedisClient, job_id: str, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """Poll the job's status until ``done`` holds, for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        info = client.status(job_id)
        if done(info):
            return info
        assert time.monotonic() < deadline, f"job {job_id}: {what} not seen within {WAIT} s; last status {info}"
        time.sleep(0.02)


def gate() -> str:
    return f"gate-{uuid.uuid4().hex}"


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


# -- progress ---------------------------------------------------------------------------------
def test_status_shows_a_running_tasks_latest_progress(
    client: RedisClient, start_worker: StartWorker, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    start_worker()
    held = gate()
    job_id = client.submit(task("reports", redis_url, held, 40, "copying files"))
    info = until(client, job_id, lambda info: info["progress"] is not None, "a progress report")
    assert (info["status"], info["progress"]) == ("running", {"percent": 40, "message": "copying files"})
    shown = horus("status", job_id, redis_url=redis_url, namespace=namespace)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"progress\s+40% copying files", shown.stdout), shown.stdout
    as_json = horus("status", job_id, "--json", redis_url=redis_url, namespace=namespace)
    assert json.loads(as_json.stdout)["progress"] == {"percent": 40, "message": "copying files"}
    r.rpush(held, "go")
    result = client.wait(job_id, WAIT)
    assert (result.status, result.progress) == (JobStatus.COMPLETED, None)
    # An ended job shows its result, not the last report (which its hash keeps until it expires).
    assert client.status(job_id)["progress"] is None
    assert "progress" not in horus("status", job_id, redis_url=redis_url, namespace=namespace).stdout


def test_a_report_made_as_the_task_returns_is_stored_before_the_result(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis
) -> None:
    start_worker()
    result = client.run(task("reports_and_returns", 99.5, "last words"), WAIT)
    assert result.status == JobStatus.COMPLETED
    stored = json.loads(r.hget(client.broker.keys.job("r1", result.job_id), "progress") or "null")
    assert stored == {"percent": 99.5, "message": "last words", "attempt": 1}


def test_a_retry_does_not_show_the_previous_attempts_progress(
    client: RedisClient, start_worker: StartWorker, redis_url: str, r: redis.Redis
) -> None:
    start_worker()
    held = gate()
    job_id = client.submit(task("reports_then_fails", redis_url, held, retries=1, retry_backoff_s=0.05))
    info = until(client, job_id, lambda info: info["status"] == "running" and info["attempts"] == 2, "attempt 2")
    # Attempt 1's report is still in the hash, and is not shown for attempt 2.
    stored = json.loads(r.hget(client.broker.keys.job("r1", job_id), "progress") or "null")
    assert stored == {"percent": 70, "message": "first try", "attempt": 1}
    assert info["progress"] is None
    r.rpush(held, "go")
    info = until(client, job_id, lambda info: info["progress"] is not None, "attempt 2's report")
    assert info["progress"] == {"percent": 20, "message": "second try"}
    r.rpush(held, "go")
    assert client.wait(job_id, WAIT).value == 2


def test_a_bad_report_fails_the_task_saying_why(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("bad_progress", 140), WAIT)
    assert result.status == JobStatus.FAILED
    assert result.error == "ValueError: progress percent must be from 0 to 100 (got 140)"
