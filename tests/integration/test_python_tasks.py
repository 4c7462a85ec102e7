"""The ``python`` runner's task features in real worker processes on a real Redis: the job's
context (bind, current job, attempts), its progress reports, ``async def`` tasks, and the
traceback of a task that raised."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from horus.client import RedisClient
from horus.models import JobStatus
from horus.tasks import current_job
from tests.conftest import StartWorker
from tests.integration.test_cli import horus
from tests.integration.test_worker import follow_until

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


# -- async def tasks --------------------------------------------------------------------------
def test_async_jobs_in_one_child_share_its_event_loop(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1)
    first = client.run(task("async_loop"), WAIT)
    assert client.run(task("add", 1, 2), WAIT).value == 3  # a sync job between them changes nothing
    assert client.run(task("async_add", 2, 3), WAIT).value == 5
    second = client.run(task("async_loop"), WAIT)
    assert first.status == second.status == JobStatus.COMPLETED
    assert first.value == second.value


def test_a_recycled_child_closes_its_loop_and_the_next_child_makes_its_own(
    client: RedisClient, start_worker: StartWorker
) -> None:
    worker = start_worker("r1", "--max-jobs-per-child", "1", concurrency=1)
    first = client.run(task("async_loop"), WAIT).value
    second = client.run(task("async_loop"), WAIT).value
    assert first[1] != second[1]  # each job in a child of its own
    worker.stop()
    assert "Traceback" not in worker.log() and "event loop" not in worker.log()


def test_an_async_task_prints_sees_its_env_vars_and_inputs(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1, env={"WORKER_SECRET": "s3cret"})
    printed = client.run(task("async_shout", "one", "two"), WAIT)
    assert printed.value == 2
    assert list(client.logs(printed.job_id)) == ["one", "two"]
    with_env = client.run(task("async_echo_env", "GREETING", "WORKER_SECRET", env_vars={"GREETING": "hi"}), WAIT)
    assert with_env.value == {"GREETING": "hi", "WORKER_SECRET": "s3cret"}
    assert client.run(task("async_echo_env", "GREETING"), WAIT).value == {"GREETING": None}
    upstream = {"HORUS_INPUTS": json.dumps({"a": 1, "b": [2]})}
    assert client.run(task("async_inputs", env_vars=upstream), WAIT).value == {"a": 1, "b": [2]}


def test_an_async_task_that_raises_fails_its_job_and_keeps_the_loop(
    client: RedisClient, start_worker: StartWorker
) -> None:
    start_worker(concurrency=1)
    before = client.run(task("async_loop"), WAIT).value
    failed = client.run(task("async_boom"), WAIT)
    assert (failed.status, failed.error) == (JobStatus.FAILED, "RuntimeError: async task exploded")
    assert client.run(task("async_loop"), WAIT).value == before


def test_an_async_task_that_is_cancelled_fails_its_job_not_its_worker(
    client: RedisClient, start_worker: StartWorker
) -> None:
    start_worker(concurrency=1)
    before = client.run(task("async_loop"), WAIT).value
    failed = client.run(task("async_cancels_itself"), WAIT)
    assert (failed.status, failed.error) == (
        JobStatus.FAILED,
        "RuntimeError: the task was cancelled (asyncio.CancelledError)",
    )
    assert failed.deliveries == 1 and failed.exit_code is None
    assert client.run(task("async_loop"), WAIT).value == before  # the same child, the same loop


def test_an_async_task_timing_out_while_it_awaits(
    client: RedisClient, start_worker: StartWorker, redis_url: str, r: redis.Redis
) -> None:
    start_worker(concurrency=1)
    _, pid = client.run(task("async_loop"), WAIT).value
    record = f"record-{uuid.uuid4().hex}"
    result = client.run(task("async_wait", redis_url, record, 30, timeout=1), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert (result.error, result.output) == ("timed out after 1 s", "started")
    # The task still waiting on the loop was cancelled before the result was stored, by the
    # child that ran it (not killed: the soft timeout was enough).
    assert r.hget(record, "cancelled") == str(pid)
    after = client.run(task("async_loop"), WAIT)
    assert after.status == JobStatus.COMPLETED and after.value[1] == pid
    assert client.run(task("async_add", 1, 1), WAIT).value == 2


def test_an_async_task_timing_out_in_blocking_code(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1)
    _, pid = client.run(task("async_loop"), WAIT).value
    result = client.run(task("async_block", 30, timeout=1), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert (result.error, result.output) == ("timed out after 1 s", "started")
    assert client.run(task("async_loop"), WAIT).value[1] == pid
    assert client.run(task("add", 2, 2), WAIT).value == 4


def test_cancel_a_running_async_task(
    client: RedisClient, start_worker: StartWorker, redis_url: str, r: redis.Redis
) -> None:
    start_worker(concurrency=1)
    job_id = client.submit(task("async_wait", redis_url, f"record-{uuid.uuid4().hex}", 60))
    follow_until(client, job_id, "started")
    assert client.cancel(job_id) == "cancelling"
    result = client.wait(job_id, WAIT)
    assert (result.status, result.output) == (JobStatus.CANCELLED, "started")
    assert client.run(task("async_add", 3, 4), WAIT).value == 7


def test_a_bound_async_task_reports_progress(
    client: RedisClient, start_worker: StartWorker, redis_url: str, r: redis.Redis
) -> None:
    start_worker()
    held = gate()
    job_id = client.submit(task("async_reports", redis_url, held, 75, "awaiting"))
    info = until(client, job_id, lambda info: info["progress"] is not None, "a progress report")
    assert info["progress"] == {"percent": 75, "message": "awaiting"}
    r.rpush(held, "go")
    assert client.wait(job_id, WAIT).value == 1


# -- tracebacks -------------------------------------------------------------------------------
def frames(traceback: str) -> list[str]:
    """The functions a traceback's frames are in, outermost first."""
    return re.findall(r'^  File ".*", line \d+, in (\S+)$', traceback, re.MULTILINE)


@pytest.mark.parametrize(
    ("name", "functions", "error"),
    [
        ("boom", ["boom"], "RuntimeError: task exploded"),
        ("nested_boom", ["nested_boom", "_explode"], "RuntimeError: helper exploded"),
        ("async_boom", ["async_boom"], "RuntimeError: async task exploded"),
    ],
)
def test_a_failed_task_carries_its_own_frames_only(
    client: RedisClient, start_worker: StartWorker, name: str, functions: list[str], error: str
) -> None:
    start_worker()
    result = client.run(task(name), WAIT)
    assert (result.status, result.error) == (JobStatus.FAILED, error)
    assert result.traceback is not None
    assert result.traceback.startswith("Traceback (most recent call last):\n")
    assert result.traceback.endswith("\n" + error)
    assert frames(result.traceback) == functions
    assert "tests/fixtures/tasks.py" in result.traceback


def test_the_worker_logs_a_failure_once_with_its_traceback(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker()
    result = client.run(task("nested_boom"), WAIT)
    assert result.traceback is not None
    log = worker.log()
    assert f"job {result.job_id} raised RuntimeError: helper exploded\n{result.traceback}\n" in log
    assert log.count(result.job_id) == 1, log


def test_horus_result_shows_a_failed_tasks_traceback(
    client: RedisClient, start_worker: StartWorker, redis_url: str, namespace: str
) -> None:
    start_worker()
    job_id = client.run(task("nested_boom"), WAIT).job_id
    shown = horus("result", job_id, redis_url=redis_url, namespace=namespace)
    assert shown.returncode == 0, shown.stderr
    flat = " ".join(shown.stdout.replace("│", " ").split())  # the panel wraps long lines
    assert "traceback Traceback (most recent call last):" in flat, shown.stdout
    assert "in _explode" in flat and 'raise RuntimeError(f"{what} exploded")' in flat, shown.stdout
    as_json = json.loads(horus("result", job_id, "--json", redis_url=redis_url, namespace=namespace).stdout)
    assert as_json["error"] == "RuntimeError: helper exploded"
    assert frames(as_json["traceback"]) == ["nested_boom", "_explode"]


def test_a_completed_task_has_no_traceback(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("add", 1, 2), WAIT)
    assert (result.status, result.traceback) == (JobStatus.COMPLETED, None)
