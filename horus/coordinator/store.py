"""Workflow state in Redis. Every change of state is one Lua script (horus/lua/wf_*.lua), so a
coordinator killed at any instant leaves a state another one can carry on from."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from horus import scripts
from horus.broker import Broker, result_from_hash
from horus.coordinator.dag import dependants
from horus.coordinator.errors import WorkflowNotFound, WorkflowRejected
from horus.coordinator.models import Workflow
from horus.models import JobResult
from horus.resp import Arg, ReplyError

#: The workflow scripts, loaded together by :func:`horus.scripts.run` when Redis lacks one.
SCRIPTS = scripts.WORKFLOW
#: How long an ended workflow's records stay readable.
DEFAULT_RETENTION_S = 7 * 86_400


def job_id(workflow_id: str, step_id: str, attempt: int) -> str:
    """Deterministic, so a dispatch repeated after a crash is refused by the supervisor as a replay."""
    return f"{workflow_id}.{step_id}.{attempt}"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Dispatched:
    step_id: str
    attempt: int


@dataclass(frozen=True)
class Completion:
    """What wf_complete.lua decided for one step attempt."""

    outcome: str  # lost | stale | retry | done | ended
    ready: bool
    final: str
    retry_due_ms: int | None
    cancel: list[Dispatched]


def _pairs(flat: list[Any]) -> list[Dispatched]:
    return [Dispatched(str(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]


def initial_states(workflow: Workflow) -> list[tuple[str, str, bool]]:
    """(step id, state JSON, ready now) for every step, as wf_create.lua stores them."""
    after = dependants(workflow.steps)
    out = []
    for step in workflow.steps:
        waiting = len(set(step.depends_on))
        state = {
            "status": "waiting" if waiting else "ready",
            "attempt": 0,
            "retries": step.retries,
            "backoff_ms": step.backoff_ms,
            "waiting": waiting,
            "dependants": after[step.id],
        }
        out.append((step.id, orjson.dumps(state).decode(), waiting == 0))
    return out


class WorkflowStore:
    def __init__(self, broker: Broker, retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.broker = broker
        self.keys = broker.keys
        self.retention_s = retention_s

    # -- scripts ----------------------------------------------------------------------
    def run(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Pipelined commands, error replies raised; the workflow scripts are loaded the first time
        Redis lacks them (:func:`horus.scripts.run`)."""
        replies = scripts.run(self.broker.conn, commands)
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
        return replies

    def call(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        return self.run([scripts.command(name, keys, args)])[0]

    def _keys(self, workflow_id: str) -> dict[str, str]:
        k = self.keys
        return {
            "meta": k.workflow(workflow_id),
            "steps": k.workflow_steps(workflow_id),
            "results": k.workflow_results(workflow_id),
            "ready": k.workflow_ready(workflow_id),
            "timers": k.workflow_timers(workflow_id),
            "lease": k.workflow_lease(workflow_id),
            "done": k.workflow_done(workflow_id),
            "spec": k.workflow_spec(workflow_id),
        }

    # -- submit -----------------------------------------------------------------------
    def create(self, workflow: Workflow, digest: str, submitter: str, owner: str = "", lease_ms: int = 0) -> bool:
        """Store a checked workflow; False when this very workflow was stored before (a retried
        submit), ``replayed_id`` when its id was used for other content. ``owner`` (a coordinator
        id) takes its lease at once, for ``lease_ms``."""
        k = self._keys(workflow.id)
        args: list[Arg] = [
            workflow.id,
            digest,
            workflow.model_dump_json(),
            workflow.created_at,
            workflow.name,
            workflow.policy.value,
            submitter,
            len(workflow.steps),
            owner,
            lease_ms,
        ]
        for step_id, state, ready in initial_states(workflow):
            args += [step_id, state, 1 if ready else 0]
        keys = [
            k["meta"],
            k["steps"],
            k["spec"],
            k["ready"],
            self.keys.workflows_active(),
            self.keys.workflows_index(),
            self.keys.workflow_events(),
            k["lease"],
        ]
        created, stored = self.call("wf_create", keys, args)
        if not created and stored != digest:
            raise WorkflowRejected("replayed_id", "id", f"workflow id {workflow.id!r} was already used")
        return bool(created)

    # -- reading ----------------------------------------------------------------------
    def meta(self, workflow_id: str) -> dict[str, str]:
        flat = self.broker.call("HGETALL", self.keys.workflow(workflow_id))
        if not flat:
            raise WorkflowNotFound(workflow_id)
        return dict(zip(flat[::2], flat[1::2], strict=True))

    def spec(self, workflow_id: str) -> Workflow:
        raw = self.broker.call("GET", self.keys.workflow_spec(workflow_id))
        if raw is None:
            raise WorkflowNotFound(workflow_id)
        return Workflow.model_validate_json(raw)

    def steps(self, workflow_id: str) -> dict[str, dict[str, Any]]:
        flat = self.broker.call("HGETALL", self.keys.workflow_steps(workflow_id))
        return {str(flat[i]): orjson.loads(flat[i + 1]) for i in range(0, len(flat), 2)}

    def results(self, workflow_id: str, step_ids: Sequence[str] | None = None) -> dict[str, JobResult]:
        key = self.keys.workflow_results(workflow_id)
        if step_ids is None:
            flat = self.broker.call("HGETALL", key)
            pairs = list(zip(flat[::2], flat[1::2], strict=True))
        elif step_ids:
            pairs = list(zip(step_ids, self.broker.call("HMGET", key, *step_ids), strict=True))
        else:
            pairs = []
        return {str(step): JobResult.model_validate_json(raw) for step, raw in pairs if raw is not None}

    def active(self) -> list[str]:
        return [str(w) for w in self.broker.call("ZRANGE", self.keys.workflows_active(), 0, -1)]

    def page(self, start: int, count: int) -> list[str]:
        return [str(w) for w in self.broker.call("ZREVRANGE", self.keys.workflows_index(), start, start + count - 1)]

    def forget(self, workflow_ids: Sequence[str]) -> None:
        if workflow_ids:
            self.broker.call("ZREM", self.keys.workflows_index(), *workflow_ids)

    def wait(self, workflow_id: str, timeout_s: float) -> str | None:
        """Block until the workflow ends (woken by Redis), at most ``timeout_s``; its final status."""
        done = self.keys.workflow_done(workflow_id)
        reply = self.broker.call("BLMOVE", done, done, "LEFT", "RIGHT", max(timeout_s, 0.001), timeout_s=timeout_s + 10)
        return None if reply is None else str(reply)

    def job_results(self, jobs: Sequence[tuple[str, str]]) -> list[JobResult | None]:
        """The results of (runner id, job id) pairs as the runners stored them; None for a job
        Redis no longer has."""
        commands: list[tuple[Arg, ...]] = []
        for runner_id, job in jobs:
            commands += [("HGETALL", self.keys.job(runner_id, job)), ("LINDEX", self.keys.result(runner_id, job), 0)]
        replies = self.broker.conn.pipeline(commands)
        out: list[JobResult | None] = []
        for i, (runner_id, job) in enumerate(jobs):
            flat, stored = replies[2 * i], replies[2 * i + 1]
            if not flat and stored is None:
                out.append(None)
                continue
            out.append(result_from_hash(job, runner_id, dict(zip(flat[::2], flat[1::2], strict=True)), stored))
        return out

    # -- state changes ------------------------------------------------------------------
    def dispatch(self, workflow_id: str, owner: str, most: int) -> tuple[str, int | None, list[Dispatched]]:
        """(outcome, next retry due in ms, steps taken); outcome ``ok``, ``idle`` or ``lost``."""
        k = self._keys(workflow_id)
        reply = self.call(
            "wf_dispatch", [k["meta"], k["steps"], k["ready"], k["timers"], k["lease"]], [owner, now_ms(), most]
        )
        if reply[0] == "lost":
            return "lost", None, []
        due = int(reply[1])
        return str(reply[0]), (due if due >= 0 else None), _pairs(reply[2:])

    def complete_command(
        self, workflow_id: str, owner: str, step_id: str, attempt: int, result: JobResult
    ) -> tuple[Arg, ...]:
        k = self._keys(workflow_id)
        keys = [
            k["meta"],
            k["steps"],
            k["results"],
            k["ready"],
            k["timers"],
            k["lease"],
            k["done"],
            self.keys.workflows_active(),
            k["spec"],
        ]
        error = result.error or ("" if result.status == "completed" else f"the job ended {result.status.value}")
        args: list[Arg] = [
            owner,
            step_id,
            attempt,
            result.status.value,
            result.model_dump_json(),
            now_ms(),
            error,
            self.retention_s,
            workflow_id,
        ]
        return scripts.command("wf_complete", keys, args)

    @staticmethod
    def parse_completion(reply: list[Any]) -> Completion:
        due = str(reply[3])
        return Completion(str(reply[0]), reply[1] == "1", str(reply[2]), int(due) if due else None, _pairs(reply[4:]))

    def cancel(self, workflow_id: str) -> tuple[str, list[Dispatched]]:
        """(status, dispatched steps whose jobs must be cancelled)."""
        k = self._keys(workflow_id)
        keys = [
            k["meta"],
            k["steps"],
            k["ready"],
            k["timers"],
            k["done"],
            self.keys.workflows_active(),
            k["lease"],
            k["spec"],
            k["results"],
            self.keys.workflow_events(),
        ]
        reply = self.call("wf_cancel", keys, [workflow_id, now_ms(), self.retention_s])
        if reply is None:
            raise WorkflowNotFound(workflow_id)
        return str(reply[0]), _pairs(reply[1:])

    # -- leases -------------------------------------------------------------------------
    def acquire(self, workflow_ids: Sequence[str], owner: str, ttl_ms: int) -> list[str]:
        commands = [("SET", self.keys.workflow_lease(w), owner, "NX", "PX", ttl_ms) for w in workflow_ids]
        replies = self.run(commands) if commands else []
        return [w for w, reply in zip(workflow_ids, replies, strict=True) if reply == "OK"]

    def renew(self, workflow_ids: Sequence[str], owner: str, ttl_ms: int) -> list[str]:
        """The workflows whose lease this coordinator still holds (renewed); ttl 0 releases them."""
        if not workflow_ids:
            return []
        held = self.call("wf_lease", [self.keys.workflow_lease(w) for w in workflow_ids], [owner, ttl_ms])
        return [w for w, ok in zip(workflow_ids, held, strict=True) if ok]

    # -- watching jobs --------------------------------------------------------------------
    def watch(self, jobs: Sequence[tuple[str, str, int]]) -> list[str | None]:
        """Make sure each (runner id, job id, ttl) has a log stream, so the runner closes it with
        an ``eof`` entry a coordinator can block on; returns each job's status now (None when
        Redis has no such job)."""
        if not jobs:
            return []
        keys: list[str] = []
        ttls: list[Arg] = []
        for runner_id, job, ttl in jobs:
            keys += [self.keys.log(runner_id, job), self.keys.job(runner_id, job)]
            ttls.append(ttl)
        reply = self.call("wf_watch", keys, ttls)
        return [None if status in (None, "") else str(status) for status in reply]

    def last_event(self) -> str:
        reply = self.broker.call("XREVRANGE", self.keys.workflow_events(), "+", "-", "COUNT", 1)
        return str(reply[0][0]) if reply else "0-0"
