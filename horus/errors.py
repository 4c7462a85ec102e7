"""Every error Horus raises descends from :class:`HorusError`.

The errors of the core are defined here. Each subsystem's root error is defined with its
subsystem (so ``import horus.errors`` stays light) and exported from here too, loaded on first
use: :class:`RhaiError` (the Rhai engine), :class:`SalError` (SAL functions),
:class:`OsirisError` (the Osiris store), :class:`RpcError` (the supervisor's JSON-RPC errors)
and :class:`TmuxError` (the tmux runner).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from horus.models import JobResult
    from horus.osiris.errors import OsirisError as OsirisError
    from horus.rhai.errors import RhaiError as RhaiError
    from horus.sal.common import SalError as SalError
    from horus.supervisor.errors import RpcError as RpcError
    from horus.tmux.server import TmuxError as TmuxError

#: Subsystem roots exported here, by the module that defines each (they import this one).
_SUBSYSTEM_ROOTS = {
    "RhaiError": "horus.rhai.errors",
    "SalError": "horus.sal.common",
    "OsirisError": "horus.osiris.errors",
    "RpcError": "horus.supervisor.errors",
    "TmuxError": "horus.tmux.server",
}


def __getattr__(name: str) -> Any:
    module = _SUBSYSTEM_ROOTS.get(name)
    if module is None:
        raise AttributeError(f"module 'horus.errors' has no attribute {name!r}")
    return getattr(import_module(module), name)


class HorusError(Exception):
    """Root of all Horus errors."""


class ConfigError(HorusError):
    """A setting is missing or malformed."""


class TransportError(HorusError):
    """The broker could not be reached or answered unexpectedly."""


class ConnectionFailed(TransportError):
    """The broker refused or dropped the connection."""


class NotReplicated(TransportError):
    """A write the master made (a job queued, a result stored) that fewer Redis replicas than
    asked (``HORUS_WAIT_REPLICAS``) confirmed within ``HORUS_WAIT_TIMEOUT_MS``: a failover now
    could lose it. The write stays on the master; ``value`` is what the call would have
    returned. ``code`` is stable: ``not_replicated`` (docs/scaling.md, "Failover")."""

    code = "not_replicated"

    def __init__(
        self,
        what: str,
        acknowledged: int,
        wanted: int,
        timeout_ms: int,
        advice: str,
        value: Any = None,
        message: str | None = None,
    ) -> None:
        super().__init__(
            message
            or f"{what} is written on the Redis master but only {acknowledged} of {wanted} replica(s) "
            f"confirmed it within {timeout_ms} ms (wait_replicas={wanted}): a failover now could lose it; {advice}"
        )
        self.what = what
        self.acknowledged = acknowledged
        self.wanted = wanted
        self.timeout_ms = timeout_ms
        self.value = value


#: Every code a refused job can carry (docs/protocol.md), in the order admission checks them.
JOB_REFUSALS = (
    "invalid_json",
    "invalid_field",
    "missing_field",
    "unknown_field",
    "empty_payload",
    "timeout_out_of_bounds",
    "unsigned",
    "bad_signature",
    "tampered",
    "untrusted_key",
    "key_not_allowed",
    "threshold",
    "unknown_runner",
    "stale",
    "replayed_id",
)


class JobRejected(HorusError):
    """A job failed validation; ``code`` is stable, ``field`` names the culprit."""

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.code = code
        self.field = field
        self.reason = reason

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "reason": self.reason}


class ScheduleRejected(JobRejected):
    """A schedule (or schedule file) that is not valid; ``field`` says where, e.g.
    ``schedules[0].cron``."""


class JobNotFound(HorusError):
    """No job with that id is known (never submitted, or its record expired)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found (never submitted, or its result expired)")
        self.job_id = job_id


class JobActive(HorusError):
    """The operation needs an ended job; this one is still queued or running."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"job {job_id!r} is still {status}: cancel it first")
        self.job_id = job_id
        self.status = status


class ScheduleNotFound(HorusError):
    """No schedule of that name is stored."""

    def __init__(self, name: str) -> None:
        super().__init__(f"schedule {name!r} not found: `horus schedule list` shows the stored ones")
        self.name = name


class ScheduleExists(HorusError):
    """A schedule of that name is stored already and the add did not say to replace it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"schedule {name!r} exists already: add it with --replace to replace it")
        self.name = name


class WaitTimeout(HorusError):
    """A wait for a result ended before the job finished."""


class PluginError(HorusError):
    """A runner plugin could not be found or set up."""


class NotDeadLettered(HorusError):
    """A dead-letter retry named a job that cannot be retried; ``why`` is stable: ``not_dead``
    (not in the runner's dead-letter list), ``expired`` (its records expired) or ``ending``
    (dead-lettered, its failure not stored yet)."""

    MESSAGES = {
        "not_dead": "is not in runner {runner}'s dead-letter list (`horus dead list {runner}` shows it)",
        "expired": "is dead-lettered but its records expired; `horus dead purge {runner}` drops it",
        "ending": "is being dead-lettered right now; try again in a moment",
    }

    def __init__(self, job_id: str, runner_id: str, why: str, message: str | None = None) -> None:
        detail = self.MESSAGES.get(why, why).format(runner=runner_id)
        super().__init__(message or f"job {job_id!r} {detail}; nothing was retried")
        self.job_id = job_id
        self.runner_id = runner_id
        self.why = why


class SkipJob(HorusError):
    """Raised by a middleware's ``before_job`` to refuse a job: it is not run and ends failed,
    its error naming the middleware and this exception's message (docs/workers.md)."""


class JobFailed(HorusError):
    """A job a handle waited for ended ``failed``, ``timeout`` or ``cancelled``. ``result`` is
    its :class:`horus.JobResult`; a failed python task's remote traceback is in ``traceback``
    and at the end of the message."""

    def __init__(self, result: JobResult) -> None:
        message = f"job {result.job_id} {result.status.value}: {result.error or 'no error given'}"
        if result.traceback:
            message += f"\n\nRemote traceback (the task's, on the worker):\n{result.traceback.rstrip()}"
        super().__init__(message)
        self.result = result

    @property
    def job_id(self) -> str:
        return self.result.job_id

    @property
    def status(self) -> str:
        return self.result.status.value

    @property
    def error(self) -> str | None:
        return self.result.error

    @property
    def traceback(self) -> str | None:
        return self.result.traceback
