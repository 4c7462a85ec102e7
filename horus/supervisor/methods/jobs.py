"""job.*: admission of signed jobs, then the broker's lookups."""

from __future__ import annotations

import time
from collections.abc import Generator
from functools import partial
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from horus import tracing
from horus.admission import parse_job
from horus.broker import log_page_of
from horus.errors import JOB_REFUSALS, JobNotFound, JobRejected, WaitTimeout
from horus.models import DIGEST_ENV, WORKFLOW_ENV, Job, JobResult, JobStatus, JobStatusInfo, Signature
from horus.supervisor.context import Context
from horus.supervisor.errors import RpcError
from horus.supervisor.rpc import Block, Method, Reserve, Role, Step, rotation
from horus.trust import check_fresh

#: The refusals job admission can give, in the order it checks: the job-refusal codes, less
#: the ones a supervisor cannot give (params arrive as a JSON object; its key registry has no
#: threshold, so a bad signature is reported as such).
ADMISSION_ERRORS = tuple(code for code in JOB_REFUSALS if code not in ("invalid_json", "threshold"))


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateParams(Params):
    job: dict[str, Any] = Field(description="the signed job object (docs/protocol.md)")


class RunParams(CreateParams):
    wait_s: float | None = Field(
        default=None, gt=0, description="seconds to wait for the end (capped by the server); then the status so far"
    )


class JobIdParams(Params):
    job_id: str = Field(min_length=1, max_length=128)


class ResultParams(JobIdParams):
    wait_s: float | None = Field(
        default=None, gt=0, description="wait up to this many seconds for the job to end (capped by the server)"
    )


class TailParams(JobIdParams):
    cursor: str = Field(
        default="0-0", pattern=r"^\d{1,20}-\d{1,20}$", description="cursor of the previous page; 0-0 for the start"
    )
    wait_s: float = Field(default=0, ge=0, le=30, description="seconds to wait for a first new line")


class LogTail(BaseModel):
    lines: list[str]
    cursor: str = Field(description="pass back as cursor to read on")
    ended: bool = Field(description="no line can follow: the job has ended and every line was returned")


class ListParams(Params):
    runner_id: str | None = Field(default=None, description="only this runner's jobs")
    status: JobStatus | None = Field(default=None, description="only jobs in this status")
    caller_id: str | None = Field(default=None, max_length=256, description="only jobs with this caller_id")
    context_id: str | None = Field(default=None, max_length=256, description="only jobs with this context_id")
    created_after: float | None = Field(
        default=None, ge=0, description="only jobs created at or after this time (Unix seconds)"
    )
    created_before: float | None = Field(
        default=None, ge=0, description="only jobs created at or before this time (Unix seconds)"
    )
    limit: int = Field(default=50, ge=1, le=500)
    cursor: int = Field(default=0, ge=0, le=2**53, description="next_cursor of the previous page; 0 for the first")


class CancelResult(BaseModel):
    job_id: str
    status: str = Field(description="what cancel did: 'cancelled', 'cancelling' or the status it had already ended in")


class JobSummary(BaseModel):
    job_id: str
    runner_id: str
    status: JobStatus
    created_at: int


class JobPage(BaseModel):
    jobs: list[JobSummary]
    next_cursor: int | None = Field(description="pass as cursor for the next page; null at the end")


def admit(ctx: Context, raw: dict[str, Any]) -> Job:
    """Every check that needs no write, so a refused job leaves nothing behind; the replay
    guard comes last, inside the broker's atomic enqueue."""
    job = parse_job(raw)
    policy, runner = ctx.registry.admission_state(job.runner_id)
    try:
        policy.verify(job)
    except JobRejected as exc:
        raise with_fix(exc, job.signatures) from None
    if runner is None:
        raise RpcError("unknown_runner", unregistered(job.runner_id), "runner_id")
    too_old = time.time() - job.created_at > ctx.settings.max_age_s
    if not (too_old and _running_workflow_step(ctx, job)):
        check_fresh(job, max_age_s=ctx.settings.max_age_s, max_skew_s=ctx.settings.max_skew_s)
    return job


def unregistered(runner_id: str) -> str:
    """The unknown_runner refusal's reason, naming the command that registers the runner."""
    return (
        f"runner {runner_id!r} is not registered: register it with "
        f"`horus runners register {runner_id} --type TYPE` (TYPE: its workers' --type)"
    )


def with_fix(exc: JobRejected, signatures: list[Signature]) -> JobRejected:
    """An untrusted key's refusal names the command that trusts it (an admin's)."""
    index = exc.field.removeprefix("signatures[").partition("]")[0]
    if exc.code != "untrusted_key" or not index.isdigit() or int(index) >= len(signatures):
        return exc
    key = signatures[int(index)].public_key.strip().lower()
    return JobRejected(exc.code, exc.field, f"{exc.reason}: add it with `horus keys add {key}`")


def _running_workflow_step(ctx: Context, job: Job) -> bool:
    """A step job signed with its workflow (dated like it) is fresh while that workflow runs: the
    replay guard is its deterministic id, and the workflow's digest must match the one it names."""
    workflow_id = job.env_vars.get(WORKFLOW_ENV)
    if not workflow_id or job.context_id != workflow_id:
        return False
    status, digest = ctx.broker.call("HMGET", ctx.broker.keys.workflow(workflow_id), "status", "digest")
    return bool(status == "running" and digest and digest == job.env_vars.get(DIGEST_ENV))


def _enqueue(ctx: Context, raw: dict[str, Any]) -> Job:
    return tracing.admission(lambda: admit(ctx, raw), partial(_queue, ctx), ctx.identity)


def _queue(ctx: Context, job: Job) -> Job:
    # The job and its index entry in one round trip; a refused (replayed) id takes back the entry.
    index = ctx.registry.index_command(job.runner_id, job.id, job.created_at)
    accepted, (added,) = ctx.broker.enqueue_with(job, [index], owner=ctx.identity)
    if not accepted:
        if added == 1:
            ctx.registry.unindex_jobs([(job.runner_id, job.id)])
        ctx.broker.refuse_replay(job)
    return job


def create(ctx: Context, params: CreateParams) -> str:
    return _enqueue(ctx, params.job).id


def run(ctx: Context, params: RunParams) -> Generator[Step, Any, JobResult]:
    yield Reserve()  # a server with no waiter free refuses before the job is queued, not after
    job = _enqueue(ctx, params.job)
    wait_s = min(params.wait_s or ctx.settings.max_wait_s, ctx.settings.max_wait_s)
    try:
        return (yield from _until_ended(ctx, job.id, job.runner_id, wait_s))
    except WaitTimeout:
        return ctx.broker.result(job.id)


def _check_owner(ctx: Context, job_id: str) -> str | None:
    """The job's owner; job_not_found, exactly as for a missing job, when the caller may not
    see it, so a user learns nothing about other users' jobs. Ownership never changes once the
    job is queued, so a check before a wait holds for the whole wait."""
    owner = ctx.broker.owner(job_id)
    if not ctx.may_see(owner):
        raise JobNotFound(job_id)
    return owner


def _until_ended(ctx: Context, job_id: str, runner_id: str, wait_s: float) -> Generator[Step, Any, JobResult]:
    """:meth:`Broker.wait`, its blocking BLMOVE yielded to the server (rpc.Block): the job's
    result once it ends; WaitTimeout after ``wait_s``."""
    steps = ctx.broker.wait_steps(job_id, runner_id, wait_s)
    try:
        key, block = next(steps)
        while True:
            reply = yield rotation(key, block)
            key, block = steps.send(reply)
    except StopIteration as done:
        result: JobResult = done.value
        return result


def status(ctx: Context, params: JobIdParams) -> JobStatusInfo:
    owner = _check_owner(ctx, params.job_id)
    result = ctx.broker.result(params.job_id)
    return JobStatusInfo.of(ctx.broker.job(params.job_id), result, owner)


def result(ctx: Context, params: ResultParams) -> JobResult | Generator[Step, Any, JobResult]:
    _check_owner(ctx, params.job_id)
    if params.wait_s is None:
        return ctx.broker.result(params.job_id)
    return _result_after(ctx, params.job_id, min(params.wait_s, ctx.settings.max_wait_s))


def _result_after(ctx: Context, job_id: str, wait_s: float) -> Generator[Step, Any, JobResult]:
    runner_id = ctx.broker.runner_of(job_id)
    try:
        return (yield from _until_ended(ctx, job_id, runner_id, wait_s))
    except WaitTimeout:
        return ctx.broker.result(job_id)


def logs(ctx: Context, params: JobIdParams) -> list[str]:
    _check_owner(ctx, params.job_id)  # also job_not_found rather than an empty list
    return list(ctx.broker.logs(params.job_id))


def tail(ctx: Context, params: TailParams) -> LogTail | Generator[Step, Any, LogTail]:
    _check_owner(ctx, params.job_id)
    page = ctx.broker.log_page(params.job_id, params.cursor)
    if page.lines or page.ended or not params.wait_s:
        return LogTail(lines=page.lines, cursor=page.cursor, ended=page.ended)
    return _next_lines(ctx, params)


def _next_lines(ctx: Context, params: TailParams) -> Generator[Step, Any, LogTail]:
    """Wait for a first line after the cursor: the job was running with none at the last read."""
    stream = ctx.broker.keys.log(ctx.broker.runner_of(params.job_id), params.job_id)
    cursor = params.cursor

    def xread(seconds: float) -> tuple[str | int, ...]:
        return ("XREAD", "BLOCK", max(int(seconds * 1000), 1), "STREAMS", stream, cursor)

    try:
        reply = yield Block(xread, params.wait_s)
    except WaitTimeout:  # the request's waits are used up: the page so far, which is empty
        reply = None
    page = log_page_of(reply, cursor, False)
    return LogTail(lines=page.lines, cursor=page.cursor, ended=page.ended)


def cancel(ctx: Context, params: JobIdParams) -> CancelResult:
    _check_owner(ctx, params.job_id)
    return CancelResult(job_id=params.job_id, status=ctx.broker.cancel(params.job_id))


def delete(ctx: Context, params: JobIdParams) -> bool:
    _check_owner(ctx, params.job_id)
    runner_id = ctx.broker.runner_of(params.job_id)
    ctx.broker.delete(params.job_id)  # the id stays claimed: the same job cannot come back
    ctx.registry.unindex_jobs([(runner_id, params.job_id)])
    return True


#: How many index entries one job.list call examines at most (bounds a filtered scan).
_SCAN_LIMIT = 5_000


def _states(ctx: Context, page: list[tuple[str, str, int]], with_specs: bool) -> tuple[list[Any], list[Any]]:
    """Each listed job's [status, owner] and, when a filter needs its content, its stored signed job."""
    keys = ctx.broker.keys
    commands: list[tuple[str, ...]] = [
        ("HMGET", keys.job(runner_id, job_id), "status", "owner") for runner_id, job_id, _ in page
    ]
    if with_specs:
        commands += [("GET", keys.spec(runner_id, job_id)) for runner_id, job_id, _ in page]
    replies = ctx.broker.conn.pipeline(commands)
    return replies[: len(page)], replies[len(page) :] if with_specs else [None] * len(page)


def _has_content(spec: Any, wanted: dict[str, str]) -> bool:
    if spec is None:
        return False
    content = orjson.loads(spec)
    # The stored job leaves out fields at their default, which for these is "".
    return all(content.get(name, "") == value for name, value in wanted.items())


def list_jobs(ctx: Context, params: ListParams) -> JobPage:
    found: list[JobSummary] = []
    wanted = {name: value for name in ("caller_id", "context_id") if (value := getattr(params, name)) is not None}
    position = params.cursor
    examined = 0
    while len(found) < params.limit and examined < _SCAN_LIMIT:
        page = ctx.registry.job_page(position, 200)
        if not page:
            return JobPage(jobs=found, next_cursor=None)
        statuses, specs = _states(ctx, page, bool(wanted))
        gone: list[tuple[str, str]] = []
        for (runner_id, job_id, created_at), (state, owner), spec in zip(page, statuses, specs, strict=True):
            position += 1
            examined += 1
            if params.created_after is not None and created_at < params.created_after:
                # The index is newest first: every job from here on is older.
                ctx.registry.unindex_jobs(gone)
                return JobPage(jobs=found, next_cursor=None)
            if state is None:  # expired with its results: the index forgets it too
                gone.append((runner_id, job_id))
                continue
            if params.created_before is not None and created_at > params.created_before:
                continue
            if not ctx.may_see(owner):
                continue
            if params.runner_id not in (None, runner_id) or params.status not in (None, state):
                continue
            if wanted and not _has_content(spec, wanted):
                continue
            found.append(JobSummary(job_id=job_id, runner_id=runner_id, status=JobStatus(state), created_at=created_at))
            if len(found) == params.limit:
                break
        ctx.registry.unindex_jobs(gone)
        position -= len(gone)  # removed entries shift the later ones up
    more = ctx.registry.job_page(position, 1)
    return JobPage(jobs=found, next_cursor=position if more else None)


METHODS = [
    Method(
        "job.create",
        "Admit a signed job and queue it; returns its id.",
        CreateParams,
        str,
        create,
        Role.USER,
        (*ADMISSION_ERRORS, "not_replicated"),
    ),
    Method(
        "job.run",
        "Admit a signed job, queue it and wait for its result (or its status when wait_s passes).",
        RunParams,
        JobResult,
        run,
        Role.USER,
        (*ADMISSION_ERRORS, "not_replicated", "job_not_found", "busy"),
    ),
    Method("job.status", "A job's status and metadata.", JobIdParams, JobStatusInfo, status, errors=("job_not_found",)),
    Method(
        "job.result",
        "A job's result; with wait_s, once it ends or wait_s passes (then its status so far).",
        ResultParams,
        JobResult,
        result,
        errors=("job_not_found", "busy"),
    ),
    Method("job.logs", "A job's output lines so far.", JobIdParams, list[str], logs, errors=("job_not_found",)),
    Method(
        "job.tail",
        "A job's output lines after a cursor, waiting up to wait_s for one: call again with the cursor to follow.",
        TailParams,
        LogTail,
        tail,
        errors=("job_not_found", "busy"),
    ),
    Method(
        "job.cancel",
        "Cancel a job: a queued job leaves its queue, a running one is killed.",
        JobIdParams,
        CancelResult,
        cancel,
        errors=("job_not_found",),
    ),
    Method(
        "job.delete",
        "Forget an ended job: its records, result and log (a queued or running job: cancel it first).",
        JobIdParams,
        bool,
        delete,
        errors=("job_not_found", "job_active"),
    ),
    Method(
        "job.list",
        "Jobs admitted through supervisors (a user sees its own), newest first, paged; filters by runner, status, "
        "caller and context.",
        ListParams,
        JobPage,
        list_jobs,
    ),
]
