"""inspect.*: the operator's view of live workers, running jobs and queue counts.

A user may call them: they show which jobs run where and how long queues are, never a job's
payload, environment or output.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from horus import events, inspect
from horus.events import RunnerStats
from horus.inspect import ActiveJob, QueueInfo, WorkerInfo
from horus.models import check_id
from horus.supervisor.context import Context
from horus.supervisor.rpc import Method


class InspectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runner_id: str | None = Field(default=None, description="only this runner (default: every runner)")

    @field_validator("runner_id")
    @classmethod
    def _runner_id(cls, value: str | None) -> str | None:
        return None if value is None else check_id(value)


def workers(ctx: Context, params: InspectParams) -> list[WorkerInfo]:
    return inspect.workers(ctx.broker, params.runner_id)


def active(ctx: Context, params: InspectParams) -> list[ActiveJob]:
    return inspect.active(ctx.broker, params.runner_id)


def queues(ctx: Context, params: InspectParams) -> list[QueueInfo]:
    return inspect.queues(ctx.broker, params.runner_id)


def stats(ctx: Context, params: InspectParams) -> list[RunnerStats]:
    return events.read_all_stats(ctx.broker, None if params.runner_id is None else [params.runner_id])


METHODS = [
    Method(
        "inspect.workers",
        "Each live worker master (host, pid, type, concurrency, version) with the jobs it runs now.",
        InspectParams,
        list[WorkerInfo],
        workers,
    ),
    Method(
        "inspect.active",
        "The jobs running now on live workers, with their worker, start time and elapsed seconds.",
        InspectParams,
        list[ActiveJob],
        active,
    ),
    Method(
        "inspect.queues",
        "Each runner's queue depth, jobs in flight, scheduled and dead-lettered jobs, and live workers.",
        InspectParams,
        list[QueueInfo],
        queues,
    ),
    Method(
        "inspect.stats",
        "Each runner's counters since they began: ended jobs by status, retries, dead letters and durations.",
        InspectParams,
        list[RunnerStats],
        stats,
    ),
]
