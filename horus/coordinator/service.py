"""The coordinator's JSON-RPC API (docs/workflows.md): workflow.submit, status, result, cancel, list.

Built on the supervisor's machinery (dispatcher, OpenRPC generation, bearer tokens from the same
registry in Redis), so one token works for both services.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette

from horus.broker import Broker
from horus.connect import async_pool
from horus.coordinator import dag
from horus.coordinator.document import digest, parse_workflow, verify_attempts, verify_workflow
from horus.coordinator.engine import Engine
from horus.coordinator.errors import WORKFLOW_REFUSALS, WorkflowNotFound, WorkflowRejected
from horus.coordinator.link import SupervisorLink
from horus.coordinator.models import (
    StepInfo,
    StepStatus,
    Workflow,
    WorkflowInfo,
    WorkflowPage,
    WorkflowResult,
    WorkflowStatus,
    WorkflowSummary,
)
from horus.coordinator.store import WorkflowStore, job_id
from horus.errors import WaitTimeout
from horus.models import JobResult, JobStatus
from horus.supervisor.app import MAX_WAITERS, JsonRpcApp
from horus.supervisor.auth import Authenticator
from horus.supervisor.context import Settings
from horus.supervisor.errors import CODES, RpcError
from horus.supervisor.openrpc import document
from horus.supervisor.registry import Registry
from horus.supervisor.rpc import MAX_BATCH, MAX_RESPONSE_BYTES, Caller, Method, Role, Step, Waiting, rotation
from horus.ui.workflows import WorkflowsUi

#: The coordinator's own error reasons; signature, replay and runner refusals reuse the job codes.
WORKFLOW_CODES: dict[str, tuple[int, str]] = {
    "invalid_workflow": (-32300, "the workflow does not have the workflow format"),
    "duplicate_step": (-32301, "two steps have the same id"),
    "unknown_dependency": (-32302, "a step depends on a step the workflow does not have"),
    "cycle": (-32303, "the steps' dependencies form a cycle (data.path lists it)"),
    "coordinator_not_allowed": (-32304, "the coordinator's own key may not target a step's runner"),
    "workflow_not_found": (-32305, "no workflow with that id (never submitted, or expired)"),
}
ALL_CODES = {**CODES, **WORKFLOW_CODES}


class WorkflowRpcError(RpcError):
    codes = ALL_CODES


@dataclass(frozen=True)
class Context:
    store: WorkflowStore
    registry: Registry
    link: SupervisorLink
    settings: Settings
    coordinator_key: str
    role: Role | None
    #: This process's engine: the workflows submitted here are its to drive (lease taken at submit).
    engine: Engine | None = None


R = TypeVar("R")
P = TypeVar("P", bound=BaseModel)


@contextmanager
def _translation() -> Iterator[None]:
    """Workflow errors as the JSON-RPC errors the API documents for them."""
    try:
        yield
    except WorkflowRejected as exc:
        extra = {"path": exc.path} if exc.path else None
        raise WorkflowRpcError(exc.code, f"workflow rejected: {exc}", exc.field, extra) from None
    except WorkflowNotFound as exc:
        raise WorkflowRpcError("workflow_not_found", str(exc), "workflow_id") from None


def _translated(handler: Callable[[Context, P], R]) -> Callable[[Context, P], R]:
    """The handler with its errors translated, a waiting one's (a generator) too."""

    @wraps(handler)
    def call(ctx: Context, params: P) -> R:
        with _translation():
            out = handler(ctx, params)
        if isinstance(out, Generator):
            return cast(R, _translated_steps(out))
        return out

    return call


def _translated_steps(steps: Waiting) -> Waiting:
    with _translation():
        return (yield from steps)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitParams(Params):
    workflow: dict[str, Any] = Field(description="the signed workflow object (docs/workflows.md)")


class IdParams(Params):
    workflow_id: str = Field(min_length=1, max_length=48)


class ResultParams(IdParams):
    wait_s: float | None = Field(
        default=None, gt=0, description="wait up to this many seconds (capped by the server) for the workflow to end"
    )


class ListParams(Params):
    status: WorkflowStatus | None = Field(default=None, description="only workflows in this status")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: int = Field(default=0, ge=0, le=2**53, description="next_cursor of the previous page; 0 for the first")


class CancelResult(BaseModel):
    workflow_id: str
    status: WorkflowStatus = Field(description="'cancelled', or the status the workflow had already ended in")


def check(ctx: Context, workflow: Workflow, workflow_digest: str) -> str:
    """Every check that needs no write; returns the submitter's public key."""
    dag.validate(workflow, lambda runner_id: ctx.registry.runner(runner_id) is not None)
    policy = ctx.registry.policy()
    submitter = verify_workflow(workflow, policy)
    age = time.time() - workflow.created_at
    if age > ctx.settings.max_age_s or -age > ctx.settings.max_skew_s:
        raise WorkflowRejected(
            "stale",
            "created_at",
            f"created_at is {int(age)} s old; it must be within {ctx.settings.max_age_s} s in the past "
            f"and {ctx.settings.max_skew_s} s in the future",
        )
    if workflow.job_signatures:
        verify_attempts(workflow, workflow_digest, submitter)
        return submitter
    if not ctx.coordinator_key:
        raise WorkflowRejected(
            "unsigned",
            "job_signatures",
            "the steps' jobs are not signed and this coordinator has no key to sign them: submit with "
            "`horus workflow submit FILE --key KEYFILE` (or CoordinatorClient(key=...)), which signs them",
        )
    for index, step in enumerate(workflow.steps):
        if not policy.allows(ctx.coordinator_key, step.runner_id):
            raise WorkflowRejected(
                "coordinator_not_allowed",
                f"steps[{index}].runner_id",
                f"the supervisor's key registry does not let the coordinator's key "
                f"{ctx.coordinator_key[:16]}… sign jobs for runner {step.runner_id!r}",
            )
    return submitter


@_translated
def submit(ctx: Context, params: SubmitParams) -> str:
    workflow = parse_workflow(params.workflow)
    workflow_digest = digest(workflow)
    submitter = check(ctx, workflow, workflow_digest)
    owner, lease_ms = (ctx.engine.id, ctx.engine.ttl_ms) if ctx.engine else ("", 0)
    ctx.store.create(workflow, workflow_digest, submitter, owner, lease_ms)
    return workflow.id


def _ms(value: Any) -> float | None:
    return None if value in (None, "") else float(value) / 1000


@_translated
def status(ctx: Context, params: IdParams) -> WorkflowInfo:
    meta = ctx.store.meta(params.workflow_id)
    workflow = ctx.store.spec(params.workflow_id)
    states = ctx.store.steps(params.workflow_id)
    steps = []
    for step in workflow.steps:
        state = states.get(step.id, {})
        attempt = int(state.get("attempt", 0))
        steps.append(
            StepInfo(
                id=step.id,
                runner_id=step.runner_id,
                depends_on=step.depends_on,
                status=StepStatus(state.get("status", "waiting")),
                attempt=attempt,
                job_id=job_id(workflow.id, step.id, attempt) if attempt else None,
                started_at=_ms(state.get("started_ms")),
                ended_at=_ms(state.get("ended_ms")),
                error=state.get("error") or None,
            )
        )
    _job_statuses(ctx, steps)
    return WorkflowInfo(
        workflow_id=workflow.id,
        name=meta.get("name", ""),
        status=WorkflowStatus(meta["status"]),
        policy=workflow.policy,
        created_at=workflow.created_at,
        ended_at=_ms(meta.get("ended_ms")),
        submitter=meta.get("submitter", ""),
        digest=meta.get("digest", ""),
        steps=steps,
    )


def _job_statuses(ctx: Context, steps: list[StepInfo]) -> None:
    live = [s for s in steps if s.job_id and s.status == StepStatus.DISPATCHED]
    keys = ctx.store.keys
    replies = ctx.store.broker.conn.pipeline([("HGET", keys.job(s.runner_id, s.job_id or ""), "status") for s in live])
    for step, job_status in zip(live, replies, strict=True):
        step.job_status = None if job_status is None else str(job_status)


def _placeholder(workflow_id: str, step: StepInfo, workflow_status: WorkflowStatus) -> JobResult:
    """The entry of a step without a job result: still to run, or never run."""
    if step.status.terminal:
        why = "skipped: an upstream step failed" if step.status == StepStatus.SKIPPED else "cancelled before it ran"
        return JobResult(job_id="", status=JobStatus.CANCELLED, error=why, runner_id=step.runner_id)
    pending = {StepStatus.DISPATCHED: JobStatus(step.job_status or "dispatched")}.get(step.status, JobStatus.PENDING)
    return JobResult(job_id=step.job_id or "", status=pending, runner_id=step.runner_id)


@_translated
def result(ctx: Context, params: ResultParams) -> WorkflowResult | Generator[Step, Any, WorkflowResult]:
    if params.wait_s:
        meta = ctx.store.meta(params.workflow_id)
        if meta["status"] == WorkflowStatus.RUNNING or meta.get("ended_ms") in (None, ""):
            return _result_after(ctx, params.workflow_id, min(params.wait_s, ctx.settings.max_wait_s))
    return _result(ctx, params.workflow_id)


def _result_after(ctx: Context, workflow_id: str, wait_s: float) -> Generator[Step, Any, WorkflowResult]:
    """The result once the workflow ends (woken by Redis: WorkflowStore.wait's BLMOVE, yielded
    to the server) or wait_s passes."""
    with suppress(WaitTimeout):  # the request's waits are used up: the result so far
        yield rotation(ctx.store.keys.workflow_done(workflow_id), wait_s)
    return _result(ctx, workflow_id)


def _result(ctx: Context, workflow_id: str) -> WorkflowResult:
    params = IdParams(workflow_id=workflow_id)
    info = status(ctx, params)
    stored = ctx.store.results(params.workflow_id)
    steps: dict[str, JobResult] = {}
    for step in info.steps:
        kept = stored.get(step.id)
        # A step waiting for a retry shows its last failed attempt; a running one its job so far.
        if kept is not None and step.status != StepStatus.DISPATCHED:
            steps[step.id] = kept
        else:
            steps[step.id] = _placeholder(info.workflow_id, step, info.status)
    return WorkflowResult(workflow_id=info.workflow_id, status=info.status, steps=steps)


@_translated
def cancel(ctx: Context, params: IdParams) -> CancelResult:
    outcome, dispatched = ctx.store.cancel(params.workflow_id)
    if dispatched:
        ctx.link.batch(
            [("job.cancel", {"job_id": job_id(params.workflow_id, d.step_id, d.attempt)}) for d in dispatched]
        )
    return CancelResult(workflow_id=params.workflow_id, status=WorkflowStatus(outcome))


#: How many index entries one workflow.list call examines at most (bounds a filtered scan).
_SCAN_LIMIT = 5_000


def list_workflows(ctx: Context, params: ListParams) -> WorkflowPage:
    found: list[WorkflowSummary] = []
    cursor = params.cursor
    examined = 0
    keys = ctx.store.keys
    while len(found) < params.limit and examined < _SCAN_LIMIT:
        page = ctx.store.page(cursor, 200)
        if not page:
            return WorkflowPage(workflows=found, next_cursor=None)
        metas = ctx.store.broker.conn.pipeline(
            [("HMGET", keys.workflow(w), "name", "status", "created_at", "steps", "ended_ms") for w, _ in page]
        )
        gone = []
        for (workflow_id, listed_at), (name, state, created_at, count, ended_ms) in zip(page, metas, strict=True):
            examined += 1
            if state is None:  # expired: the index forgets it too (so the cursor does not count it)
                gone.append(workflow_id)
                continue
            cursor = ctx.store.after(cursor, listed_at)
            if params.status not in (None, state):
                continue
            found.append(
                WorkflowSummary(
                    workflow_id=workflow_id,
                    name=name or "",
                    status=WorkflowStatus(state),
                    created_at=int(created_at),
                    ended_at=_ms(ended_ms),
                    steps=int(count),
                )
            )
            if len(found) == params.limit:
                break
        ctx.store.forget(gone)
    more = ctx.store.page(cursor, 1)
    return WorkflowPage(workflows=found, next_cursor=cursor if more else None)


METHODS = [
    Method(
        "workflow.submit",
        "Check a signed workflow (DAG, runners, signature, freshness) and start it; returns its id.",
        SubmitParams,
        str,
        submit,
        Role.USER,
        WORKFLOW_REFUSALS,
    ),
    Method(
        "workflow.status",
        "A workflow's status and each step's.",
        IdParams,
        WorkflowInfo,
        status,
        errors=("workflow_not_found",),
    ),
    Method(
        "workflow.result",
        "Each step's result (optionally once the workflow ends, up to wait_s).",
        ResultParams,
        WorkflowResult,
        result,
        errors=("workflow_not_found", "busy"),
    ),
    Method(
        "workflow.cancel",
        "Cancel a workflow: steps not started never run, running steps' jobs are cancelled.",
        IdParams,
        CancelResult,
        cancel,
        errors=("workflow_not_found",),
    ),
    Method("workflow.list", "Workflows, newest first, paged.", ListParams, WorkflowPage, list_workflows),
]

#: A workflow of the largest size (10,000 steps, each with its attempts' job signatures) is ~3 MB.
MAX_WORKFLOW_BYTES = 16 << 20

DESCRIPTION = "Durable DAG workflows of signed jobs. Bearer tokens with roles; x-role names the role a method needs."


class Coordinator(JsonRpcApp):
    """One coordinator process's API; its engine (engine.py) runs beside it in a thread."""

    def __init__(
        self,
        broker: Broker,
        link: SupervisorLink,
        coordinator_key: str,
        admin_token: str | None = None,
        insecure: bool = False,
        settings: Settings | None = None,
        max_body_bytes: int = MAX_WORKFLOW_BYTES,
        threads: int = 64,
        engine: Engine | None = None,
        max_batch: int = MAX_BATCH,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_waiters: int = MAX_WAITERS,
    ) -> None:
        super().__init__(max_body_bytes, threads, max_batch, max_response_bytes, max_waiters)
        self.engine = engine
        self.pool = async_pool(broker.target)
        self.store = WorkflowStore(broker)
        self.registry = Registry(broker)
        self.link = link
        self.coordinator_key = coordinator_key
        self.auth = Authenticator(self.registry, admin_token, insecure)
        self.settings = settings or Settings()
        methods: list[Method] = [self.discover_method(), *METHODS]
        self.dispatcher = self.make_dispatcher(methods)
        self.openrpc = document(methods, "Horus coordinator", DESCRIPTION, ALL_CODES)

    def _context(self, caller: Caller | None) -> Context:
        role = caller.role if caller else None
        return Context(self.store, self.registry, self.link, self.settings, self.coordinator_key, role, self.engine)

    def app(self) -> Starlette:
        app = super().app()
        app.router.routes.extend(WorkflowsUi(self).routes())  # the workflows page, GET /ui
        return app
