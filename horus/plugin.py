"""The runner plugin interface and its discovery through the ``horus.workers`` entry points."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from horus.errors import PluginError
from horus.models import JobStatus

if TYPE_CHECKING:
    from horus.models import Job
    from horus.worker.context import JobContext

ENTRY_POINT_GROUP = "horus.workers"


@dataclass(slots=True)
class Outcome:
    """How a job ended, as a plugin reports it; the engine turns it into a JobResult."""

    status: JobStatus = JobStatus.COMPLETED
    output: str = ""
    error: str | None = None
    exit_code: int | None = None
    value: Any = None
    #: Where a failed job raised, as the runner tells it (:meth:`BaseRunner.describe_error`).
    traceback: str | None = None
    #: The child process is not fit for another job (the job ran out of memory in it): the
    #: worker replaces it after this job, as after ``--max-jobs-per-child`` jobs.
    recycle: bool = False

    @classmethod
    def failed(
        cls,
        error: str,
        exit_code: int | None = None,
        output: str = "",
        traceback: str | None = None,
        recycle: bool = False,
    ) -> Outcome:
        return cls(
            JobStatus.FAILED, output=output, error=error, exit_code=exit_code, traceback=traceback, recycle=recycle
        )


@runtime_checkable
class Runner(Protocol):
    """A runner type. One instance per worker child, built after the fork."""

    runner_type: ClassVar[str]
    #: Options this runner accepts (``--option NAME=VALUE`` or its own CLI flag) and their help.
    options: ClassVar[dict[str, str]]

    def setup(self) -> None: ...

    def execute(self, job: Job, ctx: JobContext) -> Outcome: ...

    def teardown(self) -> None: ...


@dataclass
class BaseRunner:
    """Convenience base: stores options, no-op setup and teardown."""

    runner_type: ClassVar[str] = ""
    options: ClassVar[dict[str, str]] = {}
    config: dict[str, str] = field(default_factory=dict)

    @classmethod
    def check_options(cls, config: dict[str, str]) -> None:
        unknown = sorted(set(config) - set(cls.options))
        if unknown:
            known = ", ".join(sorted(cls.options)) or "none"
            raise PluginError(f"runner type {cls.runner_type!r} has no option {', '.join(unknown)} (known: {known})")

    def prepare(self) -> None:
        """Runs once in the master before forking: import, check, fail early."""
        return None

    def setup(self) -> None:
        """Runs in each child after the fork."""
        return None

    def teardown(self) -> None:
        return None

    def execute(self, job: Job, ctx: JobContext) -> Outcome:
        raise NotImplementedError

    def describe_error(self, exc: BaseException) -> str | None:
        """The traceback to store with the failure of a job whose :meth:`execute` raised
        ``exc`` (the result's ``error`` already holds its one-line summary); None: none."""
        return None


def available() -> dict[str, Any]:
    """Installed runner types by name (entry point objects, not yet loaded)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load(runner_type: str) -> type[BaseRunner]:
    found = available()
    if runner_type not in found:
        names = ", ".join(sorted(found)) or "none"
        raise PluginError(f"unknown runner type {runner_type!r}; installed types: {names}")
    try:
        cls = found[runner_type].load()
    except Exception as exc:
        raise PluginError(f"runner type {runner_type!r} failed to load: {exc}") from exc
    if not isinstance(cls, type) or not issubclass(cls, BaseRunner):
        raise PluginError(f"entry point {runner_type!r} does not name a BaseRunner subclass")
    return cls
