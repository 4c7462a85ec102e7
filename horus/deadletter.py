"""What the dead-letter tools report: shared by the broker, the supervisor's ``dead.*`` methods,
the SDKs and ``horus dead``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from horus.models import JobStatus

#: Said once, wherever a retry is offered: a retry re-delivers the job exactly as it was signed.
RETRY_NOTE = (
    "a retried job keeps its original signature and created_at: the worker verifies both again, "
    "so a job older than the worker's max_job_age is refused (failed, stale)"
)


class DeadJob(BaseModel):
    job_id: str
    runner_id: str
    status: JobStatus | None = Field(description="null when the job's records expired (result TTL): purge it")
    reason: str = Field(description="why it failed, as stored with its result")
    deliveries: int = Field(description="times a worker took it, the last one included")
    created_at: float | None = Field(description="when it was signed (the signed created_at)")
    dead_at: float | None = Field(description="when it was dead-lettered (Redis clock)")
    completed_at: float | None = Field(description="when its failure was stored")
    caller_id: str = ""
    context_id: str = ""
    owner: str | None = Field(default=None, description="who submitted it through a supervisor; null if none")


class DeadSkipped(BaseModel):
    job_id: str
    why: str = Field(description="not_dead, expired or ending")


class DeadRetried(BaseModel):
    retried: list[str] = Field(description="ids put back in the queue, deliveries reset to 0")
    skipped: list[DeadSkipped] = Field(default=[], description="with all: dead-list entries that could not be retried")


class DeadPurged(BaseModel):
    purged: int = Field(description="dead-lettered jobs forgotten (their ids stay claimed)")
    left: list[str] = Field(default=[], description="ids left alone: retried meanwhile, or still being dead-lettered")
