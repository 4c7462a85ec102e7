"""dead.*: a runner's dead-letter list (jobs whose worker was lost on every delivery).

Admin only: a runner's dead-letter list mixes every user's jobs, and retrying one runs it
again, so it is an operator's tool, not a job owner's.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from horus.deadletter import PAGE_DEFAULT, PAGE_MAX, RETRY_NOTE, DeadJob, DeadPage, DeadPurged, DeadRetried, dead_page
from horus.errors import NotDeadLettered
from horus.models import Id
from horus.supervisor.context import Context
from horus.supervisor.errors import RpcError
from horus.supervisor.methods.runners import RunnerIdParams
from horus.supervisor.rpc import Method, Role


class DeadParams(RunnerIdParams):
    """A runner's dead-letter list: its id, checked like a job's runner_id."""


class ListParams(DeadParams):
    limit: int | None = Field(
        default=None, ge=1, le=PAGE_MAX, description=f"a page of this many ({PAGE_DEFAULT} with only cursor)"
    )
    cursor: int | None = Field(
        default=None, ge=0, le=2**53, description="next_cursor of the previous page; 0 for the first"
    )


class RetryParams(DeadParams):
    job_ids: list[Id] = Field(default=[], max_length=1000, description="retry these, all or none (not with all)")
    all: bool = Field(default=False, description="retry every entry, skipping those that cannot be retried")

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if bool(self.job_ids) == self.all:
            raise ValueError("give job_ids or all: true (one of them)")
        return self


def list_dead(ctx: Context, params: ListParams) -> list[DeadJob] | DeadPage:
    if params.limit is None and params.cursor is None:  # the whole list, as before paging
        return ctx.broker.dead_list(params.runner_id)
    return dead_page(ctx.broker, params.runner_id, params.cursor or 0, params.limit or PAGE_DEFAULT)


def retry(ctx: Context, params: RetryParams) -> DeadRetried:
    try:
        return ctx.broker.dead_retry(params.runner_id, None if params.all else params.job_ids)
    except NotDeadLettered as exc:
        raise RpcError("not_dead_lettered", str(exc), "job_ids", {"job_id": exc.job_id, "why": exc.why}) from None


def purge(ctx: Context, params: DeadParams) -> DeadPurged:
    return ctx.broker.dead_purge(params.runner_id)


METHODS = [
    Method(
        "dead.list",
        "A runner's dead-lettered jobs, the latest first, with why each failed: all of them, or a page "
        "({jobs, next_cursor}) when limit or cursor is given.",
        ListParams,
        list[DeadJob] | DeadPage,
        list_dead,
        Role.ADMIN,
    ),
    Method(
        "dead.retry",
        f"Queue dead-lettered jobs again with their deliveries reset; {RETRY_NOTE}.",
        RetryParams,
        DeadRetried,
        retry,
        Role.ADMIN,
        ("not_dead_lettered",),
    ),
    Method(
        "dead.purge",
        "Forget a runner's dead-lettered jobs; their ids stay claimed, as after job.delete.",
        DeadParams,
        DeadPurged,
        purge,
        Role.ADMIN,
    ),
]
