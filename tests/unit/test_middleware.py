"""The middleware chain: hook order, raising hooks, SkipJob, loading by name or path."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from horus.errors import PluginError, SkipJob
from horus.middleware import Chain, Middleware, WorkerInfo, load, owned_options
from horus.models import JobResult, JobStatus

JOB: Any = object()  # the chain hands the job through untouched
CTX: Any = object()
RESULT = JobResult(job_id="j1", status=JobStatus.COMPLETED)
INFO = WorkerInfo("r1", "python", "h:1:2", "horus")


class Tracing(Middleware):
    def __init__(self, name: str, calls: list[str], skip: bool = False) -> None:
        super().__init__()
        self.name, self.calls, self.skip = name, calls, skip

    def on_worker_start(self, worker: WorkerInfo) -> None:
        self.calls.append(f"{self.name}.start")

    def on_worker_stop(self, worker: WorkerInfo) -> None:
        self.calls.append(f"{self.name}.stop")

    def before_job(self, job: Any, ctx: Any) -> None:
        self.calls.append(f"{self.name}.before")
        if self.skip:
            raise SkipJob("no room")

    def after_job(self, job: Any, ctx: Any, result: JobResult) -> None:
        self.calls.append(f"{self.name}.after")
        result.status = JobStatus.FAILED  # a copy: what is stored stays as it was

    def on_job_error(self, job: Any, ctx: Any, exc: BaseException) -> None:
        self.calls.append(f"{self.name}.error")

    def on_job_killed(self, job_id: str, result: JobResult) -> None:
        self.calls.append(f"{self.name}.killed")

    def on_dead_letter(self, job_id: str, reason: str) -> None:
        self.calls.append(f"{self.name}.dead")


class Exploding(Middleware):
    def before_job(self, job: Any, ctx: Any) -> None:
        raise RuntimeError("boom before")

    def after_job(self, job: Any, ctx: Any, result: JobResult) -> None:
        raise RuntimeError("boom after")


def chain(*middleware: Middleware) -> Chain:
    return Chain([(f"m{n}", m) for n, m in enumerate(middleware)])


def test_before_hooks_run_in_order_and_after_hooks_in_reverse() -> None:
    calls: list[str] = []
    hooks = chain(Tracing("a", calls), Tracing("b", calls), Tracing("c", calls))
    hooks.worker_start(INFO)
    entered, refusal = hooks.before(JOB, CTX)
    hooks.error(JOB, CTX, RuntimeError())
    hooks.after(JOB, CTX, RESULT, entered)
    hooks.killed("j1", RESULT)
    hooks.dead_letter("j1", "dead-lettered")
    hooks.worker_stop(INFO)
    assert (entered, refusal) == (3, None)
    assert calls == [
        *("a.start", "b.start", "c.start"),
        *("a.before", "b.before", "c.before"),
        *("c.error", "b.error", "a.error"),
        *("c.after", "b.after", "a.after"),
        *("c.killed", "b.killed", "a.killed"),
        *("c.dead", "b.dead", "a.dead"),
        *("c.stop", "b.stop", "a.stop"),
    ]
    assert RESULT.status is JobStatus.COMPLETED


def test_a_raising_hook_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    hooks = chain(Tracing("a", calls), Exploding(), Tracing("c", calls))
    with caplog.at_level(logging.ERROR, "horus.worker.middleware"):
        entered, refusal = hooks.before(JOB, CTX)
        hooks.after(JOB, CTX, RESULT, entered)
    assert (entered, refusal) == (3, None)
    assert calls == ["a.before", "c.before", "c.after", "a.after"]
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "middleware m1: before_job raised; going on without it",
        "middleware m1: after_job raised; going on without it",
    ]
    assert "boom before" in caplog.text and "boom after" in caplog.text  # with the traceback


def test_skip_job_stops_later_before_hooks_and_pairs_the_after_hooks() -> None:
    calls: list[str] = []
    hooks = chain(Tracing("a", calls), Tracing("b", calls, skip=True), Tracing("c", calls))
    entered, refusal = hooks.before(JOB, CTX)
    hooks.after(JOB, CTX, RESULT, entered)
    assert refusal == "skipped by middleware m1: no room"
    assert calls == ["a.before", "b.before", "b.after", "a.after"]


def test_an_empty_chain_is_falsy() -> None:
    assert not Chain([])
    assert chain(Middleware())


def test_load_by_path_hands_each_middleware_its_own_options(tmp_path: Any) -> None:
    record = str(tmp_path / "calls")
    hooks = load(
        ["tests.fixtures.middleware:Recorder", "tests.fixtures.middleware:Broken"], {"record_file": record, "app": "x"}
    )
    assert hooks.names == ["tests.fixtures.middleware:Recorder", "tests.fixtures.middleware:Broken"]
    assert hooks.entries[0][1].config == {"record_file": record}
    assert hooks.entries[1][1].config == {}
    assert owned_options(hooks) == {"record_file", "refuse_task"}


def test_prepare_can_refuse_to_start() -> None:
    with pytest.raises(PluginError, match="needs --option record_file"):
        load(["tests.fixtures.middleware:Recorder"], {})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nosuch", "unknown middleware 'nosuch'; installed middleware: none (or give a module:Class path)"),
        ("tests.fixtures.nosuch:X", "cannot load middleware 'tests.fixtures.nosuch:X': No module named"),
        ("tests.fixtures.middleware:Nope", "cannot load middleware 'tests.fixtures.middleware:Nope'"),
        ("tests.fixtures.middleware:NotMiddleware", "does not name a horus.middleware.Middleware subclass"),
    ],
)
def test_bad_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(PluginError) as raised:
        load([name], {})
    assert message in str(raised.value)
