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
from horus.keys import workflow_bucket
from horus.models import JobResult
from horus.redis_url import ClusterTarget
from horus.resp import Arg, ReplyError

#: The workflow scripts, loaded together by :func:`horus.scripts.run` when Redis lacks one.
SCRIPTS = scripts.WORKFLOW
#: How long an ended workflow's records stay readable.
DEFAULT_RETENTION_S = 7 * 86_400
#: A workflow.list cursor is ``created_at * CURSOR_TIES + n``: go on with the workflows created
#: at or before ``created_at``, less the first ``n`` of that second (newest first, then by id
#: descending, as ZREVRANGE orders ties). 0 starts at the newest. A position in the merged order
#: of every bucket, so a page costs one pipelined read whatever its depth.
CURSOR_TIES = 1 << 20


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
        bucket = workflow_bucket(workflow.id)
        keys = [
            k["meta"],
            k["steps"],
            k["spec"],
            k["ready"],
            self.keys.workflows_active(bucket),
            self.keys.workflows_index(bucket),
            self.keys.workflow_events(bucket),
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
        """Every workflow not ended yet, oldest first: one read per bucket, pipelined (on a
        cluster, one write per master)."""
        buckets = self.keys.workflow_buckets()
        replies = self.run([("ZRANGE", self.keys.workflows_active(b), 0, -1, "WITHSCORES") for b in buckets])
        return [w for _, w in sorted(_scored(replies))]

    def page(self, cursor: int, count: int) -> list[tuple[str, int]]:
        """Up to ``count`` stored workflows (id, created_at) from ``cursor`` on (:data:`CURSOR_TIES`),
        newest first across the buckets."""
        created, skip = divmod(cursor, CURSOR_TIES)
        top: Arg = "+inf" if cursor == 0 else created
        buckets = self.keys.workflow_buckets()
        replies = self.run(
            [
                ("ZREVRANGEBYSCORE", self.keys.workflows_index(b), top, "-inf", "WITHSCORES", "LIMIT", 0, skip + count)
                for b in buckets
            ]
        )
        merged = sorted(_scored(replies), reverse=True)
        if cursor:
            ties = sum(1 for score, _ in merged[:skip] if score == created)
            merged = merged[ties:]
        return [(w, score) for score, w in merged[:count]]

    @staticmethod
    def after(cursor: int, created_at: int) -> int:
        """The cursor just past a workflow created at ``created_at`` listed from ``cursor``."""
        created, seen = divmod(cursor, CURSOR_TIES)
        seen = seen + 1 if cursor and created == created_at else 1
        return created_at * CURSOR_TIES + min(seen, CURSOR_TIES - 1)

    def forget(self, workflow_ids: Sequence[str]) -> None:
        """Take expired workflows out of their buckets' indexes (one ZREM per bucket)."""
        by_bucket: dict[str, list[str]] = {}
        for w in workflow_ids:
            by_bucket.setdefault(workflow_bucket(w), []).append(w)
        if by_bucket:
            self.run([("ZREM", self.keys.workflows_index(b), *ids) for b, ids in by_bucket.items()])

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
            self.keys.workflows_active(workflow_bucket(workflow_id)),
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
            self.keys.workflows_active(workflow_bucket(workflow_id)),
            k["lease"],
            k["spec"],
            k["results"],
            self.keys.workflow_events(workflow_bucket(workflow_id)),
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
        # One call per bucket (its leases share a slot), pipelined.
        by_bucket: dict[str, list[str]] = {}
        for w in workflow_ids:
            by_bucket.setdefault(workflow_bucket(w), []).append(w)
        groups = list(by_bucket.values())
        replies = self.run(
            [
                scripts.command("wf_lease", [self.keys.workflow_lease(w) for w in group], [owner, ttl_ms])
                for group in groups
            ]
        )
        held = {
            w for group, reply in zip(groups, replies, strict=True) for w, ok in zip(group, reply, strict=True) if ok
        }
        return [w for w in workflow_ids if w in held]

    # -- watching jobs --------------------------------------------------------------------
    def watch(self, jobs: Sequence[tuple[str, str, int]]) -> list[str | None]:
        """Make sure each (runner id, job id, ttl) has a log stream, so the runner closes it with
        an ``eof`` entry a coordinator can block on; returns each job's status now (None when
        Redis has no such job)."""
        if not jobs:
            return []
        # One call per runner (a runner's keys share its slot), pipelined.
        by_runner: dict[str, list[int]] = {}
        for i, (runner_id, _, _) in enumerate(jobs):
            by_runner.setdefault(runner_id, []).append(i)
        commands = []
        for runner_id, indexes in by_runner.items():
            keys: list[str] = []
            ttls: list[Arg] = []
            for i in indexes:
                _, job, ttl = jobs[i]
                keys += [self.keys.log(runner_id, job), self.keys.job(runner_id, job)]
                ttls.append(ttl)
            commands.append(scripts.command("wf_watch", keys, ttls))
        out: list[str | None] = [None] * len(jobs)
        for indexes, reply in zip(by_runner.values(), self.run(commands), strict=True):
            for i, status in zip(indexes, reply, strict=True):
                out[i] = None if status in (None, "") else str(status)
        return out

    def last_events(self) -> dict[str, str]:
        """Each bucket's events stream and the id of its latest entry ("0-0" for none)."""
        streams = [self.keys.workflow_events(b) for b in self.keys.workflow_buckets()]
        replies = self.run([("XREVRANGE", stream, "+", "-", "COUNT", 1) for stream in streams])
        return {stream: str(reply[0][0]) if reply else "0-0" for stream, reply in zip(streams, replies, strict=True)}

    def migrate_unbucketed(self) -> int:
        """Move the workflows stored in the layout before buckets (``NS:wf:{ID}``, ``NS:wf:index``)
        into their buckets, one script per workflow, and drop the old events stream; how many were
        moved. Idempotent, and safe for coordinators starting together. Nothing on a cluster: the
        old layout never ran there (the coordinator refused a cluster URL)."""
        if isinstance(self.broker.target, ClusterTarget):
            return 0
        k = self.keys
        old_active, old_index = k.workflows_active_unbucketed(), k.workflows_index_unbucketed()
        moved = 0
        while True:
            ids = [str(w) for w in self.broker.call("ZRANGE", old_index, 0, 499)]
            ids = ids or [str(w) for w in self.broker.call("ZRANGE", old_active, 0, 499)]
            if not ids:
                break
            commands = []
            for w in ids:
                bucket = workflow_bucket(w)
                keys = [*k.unbucketed_workflow_keys(w), *k.bucketed_workflow_keys(w), old_active, old_index]
                keys += [k.workflows_active(bucket), k.workflows_index(bucket)]
                commands.append(scripts.command("wf_migrate", keys, [w]))
            moved += sum(int(reply) for reply in self.run(commands))  # each call takes its id out of both
        self.broker.call("DEL", k.workflow_events_unbucketed())
        return moved


def _scored(replies: Sequence[Any]) -> list[tuple[int, str]]:
    """(score, member) of ZRANGE ... WITHSCORES replies (flat or paired, RESP2 or RESP3)."""
    out: list[tuple[int, str]] = []
    for reply in replies:
        if reply and isinstance(reply[0], list):
            out += [(int(float(score)), str(member)) for member, score in reply]
        else:
            out += [(int(float(reply[i + 1])), str(reply[i])) for i in range(0, len(reply), 2)]
    return out
