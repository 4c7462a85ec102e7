"""runner.*: the registry of runners jobs may target, and their health from worker heartbeats."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from horus.models import check_id
from horus.supervisor.context import Context
from horus.supervisor.errors import RpcError
from horus.supervisor.registry import RunnerInfo
from horus.supervisor.rpc import Method, Role


class RunnerIdParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runner_id: str = Field(description="same characters as a job's runner_id")

    @field_validator("runner_id")
    @classmethod
    def _runner_id(cls, value: str) -> str:
        return check_id(value)


class RegisterParams(RunnerIdParams):
    runner_type: str = Field(min_length=1, max_length=64, description="plugin name of its workers, e.g. python")


class EmptyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkerHealth(BaseModel):
    worker_id: str
    alive: bool
    deadline_ms: int = Field(description="heartbeat deadline, ms since the epoch (Redis clock)")
    in_flight: int


class RunnerHealth(BaseModel):
    runner_id: str
    runner_type: str
    alive: bool = Field(description="at least one worker's heartbeat deadline is in the future")
    queue_depth: int
    scheduled: int = Field(default=0, description="jobs waiting for their not_before or their next attempt")
    in_flight: int
    workers: list[WorkerHealth]
    last_seen_ms: int | None = Field(description="latest heartbeat deadline of any worker; null if none")


def register(ctx: Context, params: RegisterParams) -> RunnerInfo:
    info = ctx.registry.register_runner(params.runner_id, params.runner_type)
    if info is None:
        raise RpcError(
            "runner_type_conflict",
            f"runner {params.runner_id!r} is registered with another type; remove it first",
            "runner_type",
        )
    return info


def _known(ctx: Context, runner_id: str) -> RunnerInfo:
    info = ctx.registry.runner(runner_id)
    if info is None:
        raise RpcError("runner_not_found", f"runner {runner_id!r} is not registered", "runner_id")
    return info


def remove(ctx: Context, params: RunnerIdParams) -> bool:
    _known(ctx, params.runner_id)
    return ctx.registry.remove_runner(params.runner_id)


def list_runners(ctx: Context, _params: EmptyParams) -> list[RunnerInfo]:
    return ctx.registry.runners()


def health(ctx: Context, params: RunnerIdParams) -> RunnerHealth:
    info = _known(ctx, params.runner_id)
    broker = ctx.broker
    deadlines = broker.workers(params.runner_id)
    ids = sorted(deadlines)
    # Deadlines are on the Redis clock; compare with it, not with this host's.
    (seconds, micros), depth, scheduled, *lengths = broker.conn.pipeline(
        [
            ("TIME",),
            ("LLEN", broker.keys.queue(params.runner_id)),
            ("ZCARD", broker.keys.scheduled(params.runner_id)),
            *[("LLEN", broker.keys.inflight(params.runner_id, worker)) for worker in ids],
        ]
    )
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    workers = [
        WorkerHealth(worker_id=w, alive=deadlines[w] > now_ms, deadline_ms=int(deadlines[w]), in_flight=int(n))
        for w, n in zip(ids, lengths, strict=True)
    ]
    return RunnerHealth(
        runner_id=info.runner_id,
        runner_type=info.runner_type,
        alive=any(w.alive for w in workers),
        queue_depth=int(depth),
        scheduled=int(scheduled),
        in_flight=sum(w.in_flight for w in workers),
        workers=workers,
        last_seen_ms=max((w.deadline_ms for w in workers), default=None),
    )


METHODS = [
    Method(
        "runner.register",
        "Register a runner so jobs may target it (idempotent for the same type).",
        RegisterParams,
        RunnerInfo,
        register,
        Role.ADMIN,
        ("runner_type_conflict",),
    ),
    Method(
        "runner.remove",
        "Unregister a runner; its queued jobs stay, new ones are refused.",
        RunnerIdParams,
        bool,
        remove,
        Role.ADMIN,
        ("runner_not_found",),
    ),
    Method("runner.list", "Registered runners.", EmptyParams, list[RunnerInfo], list_runners),
    Method(
        "runner.health",
        "Liveness from worker heartbeats, queue depth and jobs in flight.",
        RunnerIdParams,
        RunnerHealth,
        health,
        errors=("runner_not_found",),
    ),
]
