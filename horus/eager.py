"""Eager mode: a task call runs in the calling process at ``delay()``, for users' own tests.

The call goes through what a worker would do with it: its arguments are encoded into the
job's payload and decoded back, the job's fields are checked, the value must be JSON and
comes back decoded, a failure keeps its traceback, and a job with ``retries`` runs again (at
once: eager mode keeps no delays and no timeouts). No Redis, no key, no signature.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections.abc import Coroutine
from typing import Any

import orjson

from horus.models import Attempt, Job, JobResult, JobStatus
from horus.tasks import REGISTRY, TaskContext, TaskSpec, decode_call, dumps, enter, leave, task_traceback


def run(job: Job, spec: TaskSpec | None = None) -> JobResult:
    """Run the job's task here, its retries too; the last attempt's result with the others in
    ``history``."""
    history: list[Attempt] = []
    for attempt in range(1, job.retries + 2):
        result = _attempt(job, spec, attempt)
        if result.status is JobStatus.COMPLETED or attempt > job.retries:
            break
        history.append(
            Attempt(
                attempt=attempt,
                status=result.status,
                error=result.error,
                started_at=result.started_at,
                completed_at=result.completed_at,
            )
        )
    result.attempts, result.history = attempt, history
    return result


def _attempt(job: Job, spec: TaskSpec | None, attempt: int) -> JobResult:
    began = time.time()
    name, args, kwargs = decode_call(job.payload)
    spec = spec if spec is not None and spec.name == name else REGISTRY.get(name)
    if spec is None:
        return _failed(job, began, f"unknown task {name!r}; registered: {', '.join(sorted(REGISTRY))}")
    ctx = TaskContext(id=job.id, attempt=attempt, runner_id=job.runner_id, retries=job.retries)
    previous = enter(ctx)
    try:
        value = spec.fn(ctx, *args, **kwargs) if spec.bind else spec.fn(*args, **kwargs)
        if spec.is_async:
            value = _run_coroutine(value)
    except Exception as exc:
        summary = traceback.format_exception_only(exc)[-1].strip()
        return _failed(job, began, summary, task_traceback(exc))
    finally:
        leave(previous)
    try:
        output = dumps(value)
    except TypeError as exc:
        return _failed(job, began, f"task {name!r} returned a value JSON cannot hold: {exc}")
    return JobResult(
        job_id=job.id,
        runner_id=job.runner_id,
        status=JobStatus.COMPLETED,
        output=output,
        value=orjson.loads(output),
        started_at=began,
        completed_at=time.time(),
        deliveries=1,
    )


def _failed(job: Job, began: float, error: str, trace: str | None = None) -> JobResult:
    return JobResult(
        job_id=job.id,
        runner_id=job.runner_id,
        status=JobStatus.FAILED,
        error=error,
        traceback=trace,
        started_at=began,
        completed_at=time.time(),
        deliveries=1,
    )


def _run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run an async task to its end: on a fresh loop, or, called from a running loop (an async
    test), on a loop in a thread of its own, since the caller's loop cannot be re-entered."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    outcome: list[Any] = []

    def run_it() -> None:
        try:
            outcome.append((True, asyncio.run(coro)))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=run_it, name="horus-eager")
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value
