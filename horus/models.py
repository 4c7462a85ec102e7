"""Wire models: the job as signed and queued, and the result a runner stores."""

from __future__ import annotations

import math
import os
import re
import time
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

#: Bounds for a job's timeout in seconds.
MIN_TIMEOUT_S = 1
MAX_TIMEOUT_S = 86_400
DEFAULT_TIMEOUT_S = 60

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
#: A W3C trace context ``traceparent``, version 00 (https://www.w3.org/TR/trace-context/).
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")

#: The fields covered by a signature; see docs/protocol.md.
CONTENT_FIELDS = (
    "id",
    "runner_id",
    "payload",
    "timeout",
    "env_vars",
    "created_at",
    "caller_id",
    "context_id",
    "executor",
)


#: Job options (docs/protocol.md, "Job options"): signed like the content fields, but left out
#: of the signed object while at their default, so a job signed without them still verifies.
OPTION_DEFAULTS: dict[str, Any] = {
    "retries": 0,
    "retry_backoff_s": 1,
    "retry_backoff_max_s": 3600,
    "not_before": None,
    "priority": 0,
    "traceparent": None,
}
_DEFAULT_BACKOFF = (OPTION_DEFAULTS["retry_backoff_s"], OPTION_DEFAULTS["retry_backoff_max_s"])
MAX_RETRIES = 100
MAX_PRIORITY = 9
#: Bounds of the backoff fields, in seconds: one millisecond to a week.
MIN_BACKOFF_S = 0.001
MAX_BACKOFF_S = 604_800
#: ``not_before`` stays below this (the year 5138): any later is a mistake, not a schedule.
MAX_NOT_BEFORE = 1e11


M = TypeVar("M", bound=BaseModel)


def assemble(cls: type[M], data: dict[str, Any]) -> M:
    """An instance of ``cls`` from already-checked data, with no validation and no defaults.

    It sets what ``model_construct`` sets, without its per-field loop, which costs more than
    a job on the worker's hot path. ``data`` must hold every field.
    tests/unit/test_models.py pins the result to ``model_construct``'s.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", data)
    object.__setattr__(obj, "__pydantic_fields_set__", set(data))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


#: Content fields with a fixed default: a stored job may omit them and readers fill them back
#: (``id`` and ``created_at`` have no fixed default and are always stored).
SIGNED_DEFAULTS: dict[str, Any] = {
    "timeout": DEFAULT_TIMEOUT_S,
    "env_vars": {},
    "caller_id": "",
    "context_id": "",
    "executor": "",
}


class JobStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


#: Env vars of a workflow step's job (docs/workflows.md). HORUS_INPUTS, a JSON object of upstream
#: results by step id, is added by the runner from the job's inputs key when the signed job has none.
INPUTS_ENV = "HORUS_INPUTS"
WORKFLOW_ENV = "HORUS_WORKFLOW_ID"
DIGEST_ENV = "HORUS_WORKFLOW_DIGEST"

TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.TIMEOUT, JobStatus.CANCELLED})


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str
    signature: str
    algorithm: str = "ed25519"


def new_job_id() -> str:
    """128 random bits as 32 hex characters."""
    return os.urandom(16).hex()


def check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            "must be 1-128 characters of letters, digits, '.', '_', ':' or '-', "
            f"starting with a letter or digit (got {value!r})"
        )
    return value


def check_traceparent(value: str) -> str:
    """Strict W3C version 00: lowercase hex, ids not all zeros, nothing after the flags (a
    lenient reader would sign one value and let tracers read another)."""
    if not isinstance(value, str) or not _TRACEPARENT.fullmatch(value):  # fullmatch: no trailing newline
        raise ValueError(
            "must be a W3C traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>, "
            f"lowercase, ids not all zeros (got {value!r})"
        )
    return value


def check_timeout(value: int) -> int:
    if not MIN_TIMEOUT_S <= value <= MAX_TIMEOUT_S:
        raise ValueError(f"must be between {MIN_TIMEOUT_S} and {MAX_TIMEOUT_S} seconds (got {value})")
    return value


def check_env_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def check_payload(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty: there must be something to run")
    return value


def strict_int(value: Any) -> Any:
    """An integer, or a float with no fraction (JSON from other languages may write ``2.0``);
    never a bool or a string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be an integer (got {value!r})")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be a whole number (got {value!r})")
        return int(value)
    return value


def strict_number(value: Any) -> Any:
    """A finite number, with a whole float written as an integer: that is how RFC 8785 writes
    it, so the signed bytes come out the same whichever way the job file had it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number (got {value!r})")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number (got {value!r})")
        if value.is_integer():
            return int(value)
    return value


def whole_as_int(value: float) -> float:
    """A whole number as an int (the float type has made ``60`` into ``60.0`` by now)."""
    return int(value) if value.is_integer() else value


def bounded(low: float, high: float, unit: str = "") -> Any:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be from {low:g} to {high:g}{unit} (got {value!r})")
        return value

    return AfterValidator(check)


Retries = Annotated[int, BeforeValidator(strict_int), bounded(0, MAX_RETRIES)]
Priority = Annotated[int, BeforeValidator(strict_int), bounded(0, MAX_PRIORITY)]
Backoff = Annotated[
    float, BeforeValidator(strict_number), AfterValidator(whole_as_int), bounded(MIN_BACKOFF_S, MAX_BACKOFF_S, " s")
]


def unix_time(value: float) -> float:
    """0, or a Unix time from 1 s: a fraction of a second after 1970 is a mistake, and RFC 8785
    would write it (below 1e-4) differently from the encoder."""
    if 0 < value < 1:
        raise ValueError(f"must be a Unix time in seconds (got {value!r})")
    return value


NotBefore = Annotated[
    float,
    BeforeValidator(strict_number),
    AfterValidator(whole_as_int),
    bounded(0, MAX_NOT_BEFORE, " (Unix seconds)"),
    AfterValidator(unix_time),
]

#: Field types shared by jobs and workflow steps, each checked by the rule above it.
Id = Annotated[str, AfterValidator(check_id)]
Payload = Annotated[str, AfterValidator(check_payload)]
Timeout = Annotated[int, AfterValidator(check_timeout)]
EnvVars = Annotated[dict[str, str], AfterValidator(check_env_names)]
Traceparent = Annotated[str, AfterValidator(check_traceparent)]


class Firing(BaseModel):
    """What makes a job an occurrence of a schedule (docs/beat.md): the signed schedule it came
    from. A worker checks the job against it instead of the job's own signatures."""

    model_config = ConfigDict(extra="forbid")

    #: The signed schedule as stored (``horus.schedule.Schedule.stored``).
    schedule: dict[str, Any]
    #: Fired by ``horus schedule run`` rather than at an occurrence.
    run: bool = False


class Job(BaseModel):
    """A unit of work. ``id`` and ``created_at`` are filled in when omitted."""

    model_config = ConfigDict(extra="forbid")

    id: Id = Field(default_factory=new_job_id)
    runner_id: Id
    payload: Payload
    timeout: Timeout = DEFAULT_TIMEOUT_S
    env_vars: EnvVars = Field(default_factory=dict)
    created_at: int = Field(default_factory=lambda: int(time.time()))
    caller_id: str = ""
    context_id: str = ""
    executor: str = ""
    retries: Retries = 0
    retry_backoff_s: Backoff = 1
    retry_backoff_max_s: Backoff = 3600
    not_before: NotBefore | None = None
    priority: Priority = 0
    #: The W3C trace context the job belongs to (docs/tracing.md); signed when set.
    traceparent: Traceparent | None = None
    signatures: list[Signature] = Field(default_factory=list)
    status: JobStatus = JobStatus.PENDING
    #: Set on a schedule's firings only, by the beat; not signed content.
    firing: Firing | None = None

    def content(self) -> dict[str, Any]:
        """The signed fields, as plain JSON values: the content fields, and the options that are
        not at their default (read straight from the fields: this runs for every job signed or
        checked)."""
        fields = self.__dict__
        data = {name: fields[name] for name in CONTENT_FIELDS}
        if (
            fields["retries"]
            or fields["priority"]
            or fields["not_before"] is not None
            or fields["traceparent"] is not None
        ) or (
            fields["retry_backoff_s"],
            fields["retry_backoff_max_s"],
        ) != _DEFAULT_BACKOFF:
            for name, default in OPTION_DEFAULTS.items():
                if fields[name] != default:
                    data[name] = fields[name]
        return data


class Attempt(BaseModel):
    """One attempt of a job that was retried: how it ended."""

    attempt: int
    status: JobStatus
    error: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    completed_at: float | None = None


class JobProgress(BaseModel):
    """The latest progress a running task reported (``TaskContext.progress``)."""

    percent: float = Field(ge=0, le=100)
    message: str = ""


class JobResult(BaseModel):
    """What a runner stores when a job ends (and what ``--wait --json`` prints)."""

    job_id: str
    status: JobStatus
    output: str = ""
    error: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    completed_at: float | None = None
    value: Any = None
    runner_id: str = ""
    deliveries: int = 0
    #: How many attempts ran (the last one's ending is this result's); 0 before the first.
    attempts: int = 1
    #: The attempts that ended before the current one, oldest first.
    history: list[Attempt] = Field(default_factory=list)
    #: When a ``scheduled`` job is due (Unix seconds), else None.
    due_at: float | None = None
    #: Where a failed ``python`` task raised: the remote traceback, from the task's own frames.
    traceback: str | None = None
    #: While the job runs: the latest progress its task reported, else None.
    progress: JobProgress | None = None


class JobStatusInfo(BaseModel):
    """A job's status and metadata (``horus status --json``, the supervisor's ``job.status``)."""

    job_id: str
    status: JobStatus
    runner_id: str
    caller_id: str
    context_id: str
    executor: str
    deliveries: int
    created_at: int
    started_at: float | None
    completed_at: float | None
    owner: str | None = Field(
        description="identity of the token that submitted it (token:NAME); null when queued straight into Redis"
    )
    attempts: int = Field(default=1, description="attempts that ran (counting a running one)")
    history: list[Attempt] = Field(default_factory=list, description="the attempts that ended before the current one")
    due_at: float | None = Field(default=None, description="when a scheduled job is due (Unix seconds)")
    retries: int = 0
    priority: int = 0
    not_before: float | None = None
    progress: JobProgress | None = Field(default=None, description="while it runs: the task's latest progress report")

    @classmethod
    def of(cls, job: Job, result: JobResult, owner: str | None) -> JobStatusInfo:
        return cls(
            job_id=job.id,
            status=result.status,
            runner_id=job.runner_id,
            caller_id=job.caller_id,
            context_id=job.context_id,
            executor=job.executor,
            deliveries=result.deliveries,
            created_at=job.created_at,
            started_at=result.started_at,
            completed_at=result.completed_at,
            owner=owner,
            attempts=result.attempts,
            history=result.history,
            due_at=result.due_at,
            retries=job.retries,
            priority=job.priority,
            not_before=job.not_before,
            progress=result.progress,
        )
