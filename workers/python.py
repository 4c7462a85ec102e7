"""The ``python`` runner: calls a registered ``@task`` function in the worker child."""

from __future__ import annotations

import importlib
import io
import logging
import os
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from horus import codec
from horus.errors import PluginError
from horus.models import INPUTS_ENV, Job
from horus.plugin import BaseRunner, Outcome
from horus.tasks import REGISTRY, TaskContext, TaskSpec, decode_call, enter, leave, task_traceback
from horus.worker.context import JobContext

if TYPE_CHECKING:
    import asyncio  # imported when the first async task runs: a worker without any never pays for it

log = logging.getLogger("horus.worker.python")

#: How long a discarded event loop's tasks get to end once cancelled (and its async generators
#: to close): past it the loop is closed anyway; a task stuck in blocking code is ended by the
#: master's hard deadline, like any job.
CANCEL_WAIT_S = 1.0


class _LineWriter(io.TextIOBase):
    """A text stream that forwards each complete line to the job's log."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._ctx.log(line)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._ctx.log(self._partial)
            self._partial = ""


def _set_env(env_vars: dict[str, str]) -> dict[str, str | None]:
    """Give the job its env vars; returns what to restore after the call."""
    saved = {name: os.environ.get(name) for name in env_vars}
    os.environ.update(env_vars)
    return saved


def _restore_env(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def with_inputs(spec: TaskSpec, job: Job, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A workflow step's upstream results, for a task that declares ``inputs``."""
    raw = job.env_vars.get(INPUTS_ENV)
    if raw is None or "inputs" in kwargs or not spec.takes_inputs:
        return kwargs
    try:
        return {**kwargs, "inputs": orjson.loads(raw)}
    except orjson.JSONDecodeError:
        return kwargs


class PythonRunner(BaseRunner):
    runner_type: ClassVar[str] = "python"
    options: ClassVar[dict[str, str]] = {
        "app": "comma-separated modules to import; their @task functions become runnable",
    }

    #: The child's event loop for ``async def`` tasks: made on the first one (so only in a
    #: child, after the fork) and kept for the next ones, so what a task keeps across jobs
    #: (a connection pool) stays bound to a live loop.
    _loop: asyncio.AbstractEventLoop | None = None

    def prepare(self) -> None:
        modules = [m.strip() for m in self.config.get("app", "").split(",") if m.strip()]
        if not modules:
            raise PluginError("the python runner needs --app MODULE (a module with @task functions)")
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise PluginError(f"cannot import --app module {module!r}: {exc}") from None
        if not REGISTRY:
            raise PluginError(f"no @task functions found in {', '.join(modules)}")

    def execute(self, job: Job, ctx: JobContext) -> Outcome:
        try:
            name, args, kwargs = decode_call(job.payload)
        except ValueError as exc:
            return Outcome.failed(str(exc))
        spec = REGISTRY.get(name)
        if spec is None:
            return Outcome.failed(f"unknown task {name!r}; registered: {', '.join(sorted(REGISTRY))}")
        if job.env_vars:
            kwargs = with_inputs(spec, job, kwargs)
        task_ctx = TaskContext(job.id, ctx.attempt, ctx.runner_id, job.retries, ctx.report_progress)
        if spec.bind:
            args.insert(0, task_ctx)
        # Plain swaps rather than context managers: this wraps every call of a hot path.
        writer = _LineWriter(ctx)
        saved = _set_env(job.env_vars) if job.env_vars else None
        stdout, sys.stdout = sys.stdout, writer
        previous = enter(task_ctx)
        try:
            value = self._run_async(spec.fn(*args, **kwargs)) if spec.is_async else spec.fn(*args, **kwargs)
        finally:
            leave(previous)
            sys.stdout = stdout
            writer.flush()
            if saved is not None:
                _restore_env(saved)
        try:
            output = codec.dumps(value)
        except TypeError as exc:
            return Outcome.failed(f"task {name!r} returned a value JSON cannot hold: {exc}")
        return Outcome(output=output, value=value)

    def describe_error(self, exc: BaseException) -> str | None:
        """The task's own traceback: its frames, not the worker's that called it."""
        return task_traceback(exc)

    def _run_async(self, call: Coroutine[Any, Any, Any]) -> Any:
        import asyncio

        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)  # for code that asks for "the" loop outside a coroutine
        try:
            return loop.run_until_complete(call)
        except asyncio.CancelledError as exc:
            # A BaseException: as it is, it would end the worker child instead of failing the job.
            raise RuntimeError("the task was cancelled (asyncio.CancelledError)") from exc
        except BaseException as exc:
            if not isinstance(exc, Exception):
                # A timeout (or sys.exit) stops the loop wherever it was, the job's task maybe
                # still waiting: left in the loop it would run on during the next job.
                self._discard_loop()
            raise

    def _discard_loop(self) -> None:
        """Cancel the loop's tasks, give them CANCEL_WAIT_S to end, and close it."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        import asyncio

        try:
            tasks = asyncio.all_tasks(loop)
            for pending in tasks:
                pending.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=CANCEL_WAIT_S))
            loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), CANCEL_WAIT_S))
        except Exception:
            log.warning("closing the event loop of async tasks failed", exc_info=True)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def teardown(self) -> None:
        self._discard_loop()
