"""What the dead-letter tools report: shared by the broker, the supervisor's ``dead.*`` methods,
the SDKs and ``horus dead``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from horus.models import JobStatus

if TYPE_CHECKING:
    from horus.broker import Broker

#: A page's size when only a cursor is given, and the largest one asked for (as ``job.list``'s).
PAGE_DEFAULT = 50
PAGE_MAX = 500

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


class DeadPage(BaseModel):
    jobs: list[DeadJob] = Field(description="this page's entries, the latest dead-lettered first")
    next_cursor: int | None = Field(description="pass as cursor for the next page; null at the end")


def dead_page(broker: Broker, runner_id: str, cursor: int = 0, limit: int = PAGE_DEFAULT) -> DeadPage:
    """A page of the runner's dead-letter list: ``limit`` entries from position ``cursor`` (0 the
    latest). The cursor is a position, as ``job.list``'s: a job dead-lettered between two pages
    shows again at the top of the next one, one retried or purged meanwhile can make one skipped."""
    from horus.broker import dead_job  # the broker imports this module

    ids = [str(x) for x in broker.call("LRANGE", broker.keys.dead(runner_id), cursor, cursor + limit)]
    more, ids = len(ids) > limit, ids[:limit]
    commands: list[tuple[Any, ...]] = []
    for job_id in ids:
        commands += [
            ("HMGET", broker.keys.job(runner_id, job_id), "status", "deliveries", "created_at", "dead_at", "owner"),
            ("LINDEX", broker.keys.result(runner_id, job_id), 0),
            ("GET", broker.keys.spec(runner_id, job_id)),
        ]
    replies = broker.conn.pipeline(commands) if commands else []
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    jobs = [dead_job(job_id, runner_id, *replies[i * 3 : i * 3 + 3]) for i, job_id in enumerate(ids)]
    return DeadPage(jobs=jobs, next_cursor=cursor + limit if more else None)
