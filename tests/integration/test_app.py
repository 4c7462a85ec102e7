"""The Celery-style app API (``Horus``, ``task.delay()``, handles) against real workers, a real
Redis and a real supervisor."""
# ruff: noqa: F811 - the supervisor fixtures are imported from its tests and used by name.

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from horus import Horus, JobFailed, WaitTimeout
from horus.app import Task
from tests.conftest import ROOT, StartWorker, WorkerProc
from tests.fixtures import app_tasks
from tests.integration.test_supervisor import ADMIN, Server, api, serve  # noqa: F401

WAIT = 30
APP = "tests.fixtures.app_tasks"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, redis_url: str, namespace: str, key_file: Path) -> Iterator[Horus]:
    """The fixture module's app, set up the way a user's is: from the environment."""
    for name in ("HORUS_SUPERVISOR_URL", "HORUS_TOKEN", "HORUS_EAGER", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HORUS_REDIS_URL", redis_url)
    monkeypatch.setenv("HORUS_NAMESPACE", namespace)
    monkeypatch.setenv("HORUS_KEY_FILE", str(key_file))
    app_tasks.app.close()
    yield app_tasks.app
    app_tasks.app.close()


@pytest.fixture
def worker(start_worker: StartWorker) -> WorkerProc:
    return start_worker("r1", "--app", APP)


def until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    """Poll a condition read from Redis until it holds (the job gives no event for it)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def test_delay_get_status_and_handles(app: Horus, worker: WorkerProc) -> None:
    handle = app_tasks.total.delay(2, 3)
    assert len(handle.id) == 32
    assert handle.status() in ("dispatched", "running", "completed")
    assert handle.get(timeout=WAIT) == 5
    assert handle.status() == "completed"
    assert handle.ready()
    again = app.handle(handle.id)
    assert again.get(timeout=WAIT) == 5
    assert again.info()["runner_id"] == "r1"
    assert app_tasks.total(2, 3) == 5  # a plain local call
    # The worker found the bare @task next to the app's tasks.
    assert app.send_task("plain_echo", args=("hi",)).get(timeout=WAIT) == "hi"
    named = app_tasks.total.apply_async(args=(1,), kwargs={"b": 2}, job_id=f"mine-{uuid.uuid4().hex}")
    assert named.id.startswith("mine-") and named.get(timeout=WAIT) == 3


def test_failed_task_raises_job_failed_with_the_remote_traceback(app: Horus, worker: WorkerProc) -> None:
    with pytest.raises(JobFailed) as failed:
        app_tasks.explode.delay("no luck").get(timeout=WAIT)
    result = failed.value.result
    assert result.status.value == "failed" and result.error == "ValueError: no luck"
    assert result.traceback is not None
    assert "in _deeper" in result.traceback and "app_tasks.py" in result.traceback
    assert "horus/worker" not in result.traceback  # the task's frames, not the worker's
    assert "Remote traceback" in str(failed.value) and "in _deeper" in str(failed.value)
    until(lambda: "in _deeper" in worker.log(), "the traceback in the worker's log")


def test_wait_timeout_and_cancel(app: Horus, worker: WorkerProc, r: redis.Redis, redis_url: str) -> None:
    gate = f"gate-{uuid.uuid4().hex}"
    handle = app_tasks.held.delay(redis_url, gate)
    assert next(handle.logs(follow=True)) == "held"  # it is running now
    with pytest.raises(WaitTimeout, match="still running"):
        handle.get(timeout=0.2)
    handle.cancel()
    with pytest.raises(JobFailed) as cancelled:
        handle.get(timeout=WAIT)
    assert cancelled.value.status == "cancelled"


def test_countdown_and_eta_delay_the_start(app: Horus, worker: WorkerProc) -> None:
    submitted = time.time()
    later = app_tasks.total.apply_async(args=(2, 3), countdown=2)
    assert later.status() == "scheduled"
    at = app_tasks.total.apply_async(args=(1, 1), eta=datetime.now(UTC) + timedelta(seconds=1))
    assert later.get(timeout=WAIT) == 5 and at.get(timeout=WAIT) == 2
    started = later.result().started_at
    assert started is not None and started >= submitted + 2
    assert (at.result().started_at or 0) >= submitted + 1


def test_retries_set_on_the_decorator(app: Horus, worker: WorkerProc, tmp_path: Path) -> None:
    handle = app_tasks.shaky.delay(str(tmp_path / "runs"), 2)
    assert handle.get(timeout=WAIT) == 3
    result = handle.result()
    assert result.attempts == 3 and [a.status.value for a in result.history] == ["failed", "failed"]
    assert app_tasks.shaky.apply_async(args=(str(tmp_path / "other"), 1), retries=0).wait(WAIT).status.value == (
        "failed"
    )


def test_async_task_and_aget_leave_the_loop_running(
    app: Horus, worker: WorkerProc, r: redis.Redis, redis_url: str
) -> None:
    async def scenario() -> tuple[object, int, object]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        gate = f"gate-{uuid.uuid4().hex}"
        held = app_tasks.held.delay(redis_url, gate)
        ticking = asyncio.create_task(ticker())
        waiting = asyncio.create_task(held.aget(timeout=WAIT))
        await asyncio.sleep(0.3)
        seen = ticks  # the loop ran while aget waited
        r.rpush(gate, "go")
        value = await waiting
        stop.set()
        await ticking
        doubled = await app_tasks.doubled.delay(21).aget(timeout=WAIT)
        return value, seen, doubled

    value, seen, doubled = asyncio.run(scenario())
    assert value == "released"
    assert seen >= 5
    assert isinstance(doubled, dict) and doubled["value"] == 42


def test_progress_and_context_of_a_bound_task(app: Horus, worker: WorkerProc, r: redis.Redis, redis_url: str) -> None:
    gate = f"gate-{uuid.uuid4().hex}"
    handle = app_tasks.staged.delay(redis_url, gate)
    progress = until(lambda: handle.info().get("progress"), "the task's progress in its status")
    assert progress == {"percent": 40, "message": "copying files"}
    r.rpush(gate, "go")
    assert handle.get(timeout=WAIT) == {"id": handle.id, "attempt": 1, "same": True}
    assert handle.info()["progress"] is None  # ended: progress is for a running job


def test_the_same_code_through_a_supervisor(
    app: Horus,
    api: Server,
    monkeypatch: pytest.MonkeyPatch,
    start_worker: StartWorker,
    redis_url: str,
    r: redis.Redis,
) -> None:
    start_worker("r1", "--app", APP)
    monkeypatch.setenv("HORUS_SUPERVISOR_URL", api.url)
    monkeypatch.setenv("HORUS_TOKEN", ADMIN)
    monkeypatch.setenv("HORUS_REDIS_URL", "redis://127.0.0.1:1/0")  # the supervisor is the only way in
    try:
        assert app_tasks.total.delay(2, 3).get(timeout=WAIT) == 5
        with pytest.raises(JobFailed) as failed:
            app_tasks.explode.delay("remote").get(timeout=WAIT)
        assert failed.value.traceback is not None and "in _deeper" in failed.value.traceback
        gate = f"gate-{uuid.uuid4().hex}"
        held = app_tasks.held.delay(redis_url, gate)
        assert next(held.logs(follow=True)) == "held"

        async def released() -> object:
            waiting = asyncio.create_task(held.aget(timeout=WAIT))
            await asyncio.sleep(0.1)
            r.rpush(gate, "go")
            return await waiting

        assert asyncio.run(released()) == "released"
        assert app.handle(held.id).status() == "completed"
        assert app.client.url == api.url  # type: ignore[union-attr]
        with Horus("r1", supervisor=api.url, token=ADMIN, key=os.environ["HORUS_KEY_FILE"]) as named:
            assert named.send_task("total", args=(4, 5)).get(timeout=WAIT) == 9
    finally:
        app.close()


def test_eager_mode_runs_inline_without_redis(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from horus import JobFailed
        from tests.fixtures import app_tasks as t

        handle = t.total.delay(2, 3)
        assert handle.get() == 5 and handle.status() == "completed", handle.result()
        assert t.app.handle(handle.id).get() == 5
        assert t.doubled.delay(4).get()["value"] == 8
        assert asyncio.run(t.total.delay(1, 2).aget()) == 3
        try:
            t.explode.delay("inline").get()
        except JobFailed as exc:
            assert "in _deeper" in (exc.traceback or ""), exc.traceback
            assert "horus/eager" not in (exc.traceback or "")
        else:
            raise AssertionError("no JobFailed")
        try:
            t.total.delay({1, 2}, 3)
        except TypeError as exc:
            assert "argument 0 (set" in str(exc), exc
        else:
            raise AssertionError("a set was sent")
        import sys
        runs = sys.argv[1]
        shaky = t.shaky.delay(runs, 2)
        assert shaky.get() == 3 and shaky.result().attempts == 3
        print("eager ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORUS_")}
    env.update(HORUS_EAGER="1", HORUS_REDIS_URL="redis://127.0.0.1:1/0", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "runs")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "eager ok"


def test_tasks_keep_their_types() -> None:
    assert isinstance(app_tasks.total, Task)
    assert app_tasks.total.__name__ == "total" and app_tasks.total.name == "total"
    assert app_tasks.explode.name == "app.explode"


def test_run_worker_serves_an_app_for_a_test(app: Horus) -> None:
    from horus.testing import run_worker

    with run_worker(app, APP, concurrency=1) as proc:
        assert app_tasks.total.delay(20, 22).get(timeout=WAIT) == 42
        assert proc.poll() is None
    assert proc.returncode == 0  # stopped cleanly with SIGTERM
