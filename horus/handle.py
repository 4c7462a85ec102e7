"""Handles: a submitted job seen from Python (``task.delay()`` returns one).

A :class:`Handle` reads the job through the app's client (Redis or a supervisor); an
eager-mode call returns an :class:`EagerHandle`, which holds a result computed in-process.
Both answer the same methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from horus.errors import JobFailed
from horus.models import JobResult, JobStatus

if TYPE_CHECKING:
    from horus.app import Horus


def value_of(result: JobResult) -> Any:
    """A completed job's return value, or JobFailed for any other ending.

    The worker stores a python task's value and its JSON text (``output``); a value larger
    than the worker's ``--max-output`` is kept as text only, cut in the middle, and comes
    back as that text.
    """
    if result.status is not JobStatus.COMPLETED:
        raise JobFailed(result)
    if result.value is not None or not result.output:
        return result.value
    try:
        return orjson.loads(result.output)
    except orjson.JSONDecodeError:
        return result.output


class Handle:
    """A job submitted through an app: its id and what can be asked about it."""

    __slots__ = ("app", "id", "runner_id")

    def __init__(self, app: Horus, job_id: str, runner_id: str | None = None) -> None:
        self.app = app
        self.id = job_id
        #: Known when the handle made the job; looked up otherwise.
        self.runner_id = runner_id

    def __repr__(self) -> str:
        return f"<Handle {self.id}>"

    def status(self) -> str:
        """The job's status: pending, scheduled, dispatched, running, completed, failed, timeout, cancelled."""
        return self.result().status.value

    def info(self) -> dict[str, Any]:
        """Status and metadata, as ``horus status --json`` prints them (``progress`` while it runs)."""
        return self.app.client.status(self.id)

    def result(self) -> JobResult:
        """The result if the job ended, else what is known so far (without waiting)."""
        return self.app.client.result(self.id)

    def ready(self) -> bool:
        return self.result().status.terminal

    def wait(self, timeout: float | None = None) -> JobResult:
        """Block until the job ends (woken by Redis, never polled) and return its result
        whatever the ending; WaitTimeout when ``timeout`` seconds pass first."""
        return self.app.client.wait(self.id, timeout)

    def get(self, timeout: float | None = None) -> Any:
        """Wait for the job and return its value; JobFailed when it ends failed, timeout or
        cancelled (``.result`` is the JobResult, with the remote traceback); WaitTimeout when
        ``timeout`` seconds pass first."""
        return value_of(self.wait(timeout))

    async def await_result(self, timeout: float | None = None) -> JobResult:
        """:meth:`wait` for asyncio code: the loop runs on while Redis (or the supervisor) holds the wait."""
        return await self.app.wait_async(self.id, timeout)

    async def aget(self, timeout: float | None = None) -> Any:
        """:meth:`get` for asyncio code, on an asyncio connection: no thread, no blocked loop."""
        return value_of(await self.await_result(timeout))

    def cancel(self) -> str:
        """Cancel the job (queued, scheduled or running); returns its status after the cancel."""
        return self.app.client.cancel(self.id)

    def logs(self, follow: bool = False) -> Iterator[str]:
        """What the job printed; with ``follow``, lines as they come until the job ends."""
        return self.app.client.logs(self.id, follow)

    def delete(self) -> None:
        """Forget an ended job (JobActive for a queued or running one)."""
        self.app.client.delete(self.id)


class EagerHandle(Handle):
    """The handle of a call eager mode ran in-process: its result is already there, and
    nothing is asked of Redis. What the task printed went to the process's own stdout."""

    __slots__ = ("_result",)

    def __init__(self, app: Horus, result: JobResult) -> None:
        super().__init__(app, result.job_id, result.runner_id)
        self._result = result

    def __repr__(self) -> str:
        return f"<EagerHandle {self.id} {self._result.status.value}>"

    def status(self) -> str:
        return self._result.status.value

    def info(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "status": self._result.status.value,
            "runner_id": self.runner_id,
            "attempts": self._result.attempts,
            "history": [attempt.model_dump(mode="json") for attempt in self._result.history],
            "progress": None,
        }

    def result(self) -> JobResult:
        return self._result

    def ready(self) -> bool:
        return True

    def wait(self, timeout: float | None = None) -> JobResult:
        return self._result

    def get(self, timeout: float | None = None) -> Any:
        return value_of(self._result)

    async def await_result(self, timeout: float | None = None) -> JobResult:
        return self._result

    async def aget(self, timeout: float | None = None) -> Any:
        return value_of(self._result)

    def cancel(self) -> str:
        return self._result.status.value

    def logs(self, follow: bool = False) -> Iterator[str]:
        return iter(())

    def delete(self) -> None:
        return None
