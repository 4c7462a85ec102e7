"""Workflow wire models: the DAG a client signs and submits, and what the coordinator reports."""

from __future__ import annotations

import re
import time
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from horus.models import DEFAULT_TIMEOUT_S, EnvVars, Id, JobResult, Payload, Signature, Timeout, new_job_id

#: Workflow ids are short enough that ``WORKFLOW.STEP.ATTEMPT`` stays a valid job id (128 chars).
_SIGNATURE_HEX = re.compile(r"^[0-9a-f]{128}$")
_WORKFLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
#: No '.' in step ids: it separates the parts of a step's job id.
_STEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Env vars the coordinator sets on every step job; a step may not set them itself.
RESERVED_ENV_PREFIX = "HORUS_"
MAX_RETRIES = 10
MAX_BACKOFF_MS = 3_600_000
MAX_STEPS = 10_000


class Policy(StrEnum):
    #: The first failed step fails the workflow: running steps are cancelled, the rest skipped.
    FAIL_FAST = "fail_fast"
    #: A failed step skips only its dependants; independent branches run to their end.
    CONTINUE = "continue"


class WorkflowStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    WAITING = "waiting"  # dependencies not done yet
    READY = "ready"  # dependencies done, not yet dispatched
    DISPATCHED = "dispatched"  # its job is with the supervisor (queued or running)
    RETRYING = "retrying"  # an attempt failed; the next waits for its backoff
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"  # an upstream step failed, or the workflow failed fast
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED)


def _payload_text(value: Any) -> Any:
    """A payload given as a JSON object or array (handy in YAML) is kept as its compact JSON text."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


class Step(BaseModel):
    """One node of the DAG: a job for ``runner_id`` that starts once ``depends_on`` completed."""

    model_config = ConfigDict(extra="forbid")

    id: str
    runner_id: Id
    payload: Payload
    depends_on: list[str] = Field(default_factory=list)
    timeout: Timeout = DEFAULT_TIMEOUT_S
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES, description="attempts after the first")
    backoff_ms: int = Field(
        default=1_000, ge=0, le=MAX_BACKOFF_MS, description="wait before the first retry, doubled for each next one"
    )
    env_vars: EnvVars = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _STEP_ID.match(value):
            raise ValueError(
                f"must be 1-64 letters, digits, '_' or '-', starting with a letter or digit (got {value!r})"
            )
        return value

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_json(cls, value: Any) -> Any:
        return _payload_text(value)

    @field_validator("env_vars")
    @classmethod
    def _env_vars(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.startswith(RESERVED_ENV_PREFIX):
                raise ValueError(f"{name!r}: names starting with {RESERVED_ENV_PREFIX} are set by the coordinator")
        return value


def new_workflow_id() -> str:
    return new_job_id()


class Workflow(BaseModel):
    """A signed DAG of steps. ``id`` and ``created_at`` are filled in when omitted."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_workflow_id)
    name: str = Field(default="", max_length=200)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    policy: Policy = Policy.FAIL_FAST
    created_at: int = Field(default_factory=lambda: int(time.time()))
    signatures: list[Signature] = Field(default_factory=list)
    job_signatures: dict[str, list[str]] = Field(
        default_factory=dict,
        description="step id -> the submitter's ed25519 signature (hex) of each attempt's job (docs/workflows.md)",
    )

    @field_validator("job_signatures")
    @classmethod
    def _job_signatures(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for step_id, signatures in value.items():
            for signature in signatures:
                if not _SIGNATURE_HEX.match(signature):
                    raise ValueError(f"{step_id!r}: {signature[:20]!r}… is not a 64-byte signature in hex")
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _WORKFLOW_ID.match(value):
            raise ValueError(
                f"must be 1-48 letters, digits, '_' or '-', starting with a letter or digit (got {value!r})"
            )
        return value

    def content(self) -> dict[str, Any]:
        """The signed fields: everything but the signatures, every step with all its fields."""
        return {
            "id": self.id,
            "name": self.name,
            "policy": self.policy.value,
            "created_at": self.created_at,
            "steps": [step.model_dump(mode="json") for step in self.steps],
        }

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


class StepInfo(BaseModel):
    id: str
    runner_id: str
    depends_on: list[str]
    status: StepStatus
    attempt: int = Field(description="the attempt dispatched last (0 before the first)")
    job_id: str | None = Field(description="the job of the last attempt")
    job_status: str | None = Field(default=None, description="the supervisor's status of that job")
    started_at: float | None = None
    ended_at: float | None = None
    error: str | None = None


class WorkflowInfo(BaseModel):
    workflow_id: str
    name: str
    status: WorkflowStatus
    policy: Policy
    created_at: int
    ended_at: float | None
    submitter: str = Field(description="public key (hex) that signed the workflow")
    digest: str = Field(description="sha256 (hex) of the signed workflow's canonical bytes")
    steps: list[StepInfo]


class WorkflowResult(BaseModel):
    workflow_id: str
    status: WorkflowStatus
    steps: dict[str, JobResult] = Field(description="step id -> the result of its last attempt (ended steps only)")


class WorkflowSummary(BaseModel):
    workflow_id: str
    name: str
    status: WorkflowStatus
    created_at: int
    ended_at: float | None = Field(default=None, description="when it ended (unix seconds); null while running")
    steps: int


class WorkflowPage(BaseModel):
    workflows: list[WorkflowSummary]
    next_cursor: int | None = Field(description="pass as cursor for the next page; null at the end")
