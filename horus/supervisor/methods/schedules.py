"""schedule.*: signed schedules, checked against the key registry like jobs (docs/beat.md).

Adding needs a user token; a user may not replace a stored schedule (it may be another user's),
and removing, pausing, resuming or running one is an operator's act: those need an admin.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from horus.errors import JobRejected, ScheduleRejected
from horus.schedule import Schedule
from horus.schedules import ScheduleInfo, ScheduleStore, check_signed, parse_schedules
from horus.supervisor.context import Context
from horus.supervisor.errors import RpcError
from horus.supervisor.methods.jobs import ADMISSION_ERRORS, unregistered, with_fix
from horus.supervisor.registry import RunnerInfo
from horus.supervisor.rpc import Method, Role
from horus.trust import TrustPolicy

#: Refusals of schedule.add: a job's, less those of a job's id and freshness (a schedule has
#: neither), plus a stored name.
ADD_ERRORS = (*(code for code in ADMISSION_ERRORS if code not in ("stale", "replayed_id")), "schedule_exists")


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddParams(Params):
    schedules: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        description="signed schedules as stored (docs/beat.md), each with its signatures and enabled",
    )
    replace: bool = Field(default=False, description="replace schedules of the same name (admin role)")


class NameParams(Params):
    name: str = Field(min_length=1, max_length=256, description="the schedule's name")


class SchedulesAdded(BaseModel):
    names: list[str] = Field(description="the schedules stored, in the order given")


class ScheduleNamed(BaseModel):
    name: str


class ScheduleRun(BaseModel):
    job_id: str = Field(description="the run's job id, beat:NAME:run:MS")


def add(ctx: Context, params: AddParams) -> SchedulesAdded:
    if params.replace and ctx.role is not Role.ADMIN:
        raise RpcError("forbidden", "schedule.add with replace: true needs the admin role", "replace")
    schedules = parse_schedules(params.schedules)
    runners: dict[str, tuple[TrustPolicy, RunnerInfo | None]] = {}
    for index, schedule in enumerate(schedules):
        runner_id = schedule.job.runner_id
        if runner_id not in runners:
            runners[runner_id] = ctx.registry.admission_state(runner_id)
        _admit(schedule, index, *runners[runner_id])
    ScheduleStore(ctx.broker).add(schedules, replace=params.replace)
    return SchedulesAdded(names=[schedule.name for schedule in schedules])


def _admit(schedule: Schedule, index: int, policy: TrustPolicy, runner: RunnerInfo | None) -> None:
    """Job admission's checks of signatures and runner, on the template every firing follows: a
    schedule whose firings the supervisor would refuse as jobs is not stored."""
    where = f"schedules[{index}]"
    try:
        check_signed(schedule)
        policy.verify_message(schedule.signed_bytes(), schedule.signatures, schedule.job.runner_id)
    except JobRejected as exc:
        fixed = with_fix(exc, schedule.signatures)
        raise ScheduleRejected(fixed.code, f"{where}.{fixed.field}", fixed.reason) from None
    if runner is None:
        raise ScheduleRejected("unknown_runner", f"{where}.job.runner_id", unregistered(schedule.job.runner_id))


def list_schedules(ctx: Context, _params: Params) -> list[ScheduleInfo]:
    return ScheduleStore(ctx.broker).infos()


def remove(ctx: Context, params: NameParams) -> ScheduleNamed:
    ScheduleStore(ctx.broker).remove(params.name)
    return ScheduleNamed(name=params.name)


def pause(ctx: Context, params: NameParams) -> ScheduleNamed:
    ScheduleStore(ctx.broker).pause(params.name)
    return ScheduleNamed(name=params.name)


def resume(ctx: Context, params: NameParams) -> ScheduleNamed:
    ScheduleStore(ctx.broker).resume(params.name)
    return ScheduleNamed(name=params.name)


def run(ctx: Context, params: NameParams) -> ScheduleRun:
    return ScheduleRun(job_id=ScheduleStore(ctx.broker).run(params.name))


_NOT_FOUND = ("schedule_not_found",)

METHODS = [
    Method(
        "schedule.add",
        "Store signed schedules, all or none, once the key registry trusts their keys for their runners.",
        AddParams,
        SchedulesAdded,
        add,
        Role.USER,
        ADD_ERRORS,
    ),
    Method(
        "schedule.list",
        "Every stored schedule: when it fires next, what it fired last.",
        Params,
        list[ScheduleInfo],
        list_schedules,
        Role.USER,
    ),
    Method(
        "schedule.remove",
        "Remove a schedule; jobs it fired are kept.",
        NameParams,
        ScheduleNamed,
        remove,
        Role.ADMIN,
        _NOT_FOUND,
    ),
    Method(
        "schedule.pause",
        "Pause a schedule: nothing of it fires until resumed.",
        NameParams,
        ScheduleNamed,
        pause,
        Role.ADMIN,
        _NOT_FOUND,
    ),
    Method(
        "schedule.resume",
        "Resume a paused schedule at its next occurrence (missed ones stay missed).",
        NameParams,
        ScheduleNamed,
        resume,
        Role.ADMIN,
        _NOT_FOUND,
    ),
    Method(
        "schedule.run",
        "Fire a schedule once now, paused or not (if it was signed with allow_run).",
        NameParams,
        ScheduleRun,
        run,
        Role.ADMIN,
        (*_NOT_FOUND, "invalid_field", "replayed_id"),
    ),
]
