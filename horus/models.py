"""Wire models: the job as signed and queued, and the result a runner stores."""

from __future__ import annotations

import os
import re
import time
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: Bounds for a job's timeout in seconds.
MIN_TIMEOUT_S = 1
MAX_TIMEOUT_S = 86_400
DEFAULT_TIMEOUT_S = 60

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

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


#: Field types shared by jobs and workflow steps, each checked by the rule above it.
Id = Annotated[str, AfterValidator(check_id)]
Payload = Annotated[str, AfterValidator(check_payload)]
Timeout = Annotated[int, AfterValidator(check_timeout)]
EnvVars = Annotated[dict[str, str], AfterValidator(check_env_names)]


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
    signatures: list[Signature] = Field(default_factory=list)
    status: JobStatus = JobStatus.PENDING

    def content(self) -> dict[str, Any]:
        """The signed fields, as plain JSON values (read straight from the fields: this runs for
        every job signed or checked)."""
        fields = self.__dict__
        return {name: fields[name] for name in CONTENT_FIELDS}


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
