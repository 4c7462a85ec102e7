"""The coordinator's loop: hold leases on workflows, dispatch their ready steps to the supervisor,
and record each step's end when its job ends.

Durability comes from three rules:

* A step is marked ``dispatched`` (with its attempt counted) in Redis *before* its job is sent,
  and the job id is ``WORKFLOW.STEP.ATTEMPT``. A coordinator that dies between the two leaves a
  step whose job may or may not exist; whoever resumes sends the same job again, and the
  supervisor refuses a second copy (``replayed_id``). So a step is never lost nor run twice.
* Only the holder of a workflow's lease (a Redis key with a TTL) dispatches or completes its
  steps, and the scripts check the lease in the same atomic step, so two coordinators never act
  on one workflow at once. A dead coordinator's leases expire and another one adopts them.
* Completing a step attempt is one script that refuses anything but that attempt of a
  dispatched step, so a completion seen twice (after a restart) changes nothing.

The loop sleeps in one ``XREAD`` over the log streams of every job it waits for (a runner ends a
job's stream with an ``eof`` entry) plus the coordinators' event streams (submits, cancels; one
per workflow bucket): it is woken by Redis, and a slower sweep of job statuses covers anything a
stream cannot tell. On a Redis Cluster, where one ``XREAD`` takes streams of one slot only, the
same streams are read by one blocking reader per slot (:class:`horus.stream_fanin.StreamFanIn`):
a bucket's events stream, a runner's step jobs' log streams.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from horus.connect import connect
from horus.coordinator.errors import WorkflowNotFound
from horus.coordinator.link import SupervisorLink
from horus.coordinator.models import Step, Workflow, WorkflowStatus
from horus.coordinator.stepjobs import coordinator_job, input_value, presigned_job
from horus.coordinator.store import Dispatched, WorkflowStore, job_id, now_ms
from horus.errors import HorusError
from horus.models import TERMINAL, Job, JobResult, JobStatus
from horus.resp import Arg
from horus.signing import Signer
from horus.stream_fanin import StreamFanIn

log = logging.getLogger("horus.coordinator")

#: Supervisor refusals worth sending the job again for later (the workflow waits, not fails).
#: ``not_replicated``: queued, but a failover may lose it; sent again, a replay means it is there.
TRANSIENT = frozenset({"unavailable", "internal", "unauthenticated", "forbidden", "parse_error", "not_replicated"})
#: How long a step job's (empty) log stream lives if its runner never writes to it.
STREAM_TTL_S = 86_400


@dataclass
class EngineSettings:
    lease_ttl_s: float = 10.0
    #: Steps taken per dispatch script call and per JSON-RPC batch.
    batch: int = 500
    #: Status sweep of the watched jobs, for what their streams cannot tell (expired jobs).
    sweep_s: float = 5.0
    max_block_s: float = 1.0


@dataclass
class Watched:
    workflow_id: str
    step_id: str
    attempt: int
    runner_id: str
    job_id: str
    stream: str
    last: str = "0-0"


@dataclass
class Owned:
    workflow: Workflow
    digest: str
    submitter: str
    steps: dict[str, Step] = field(default_factory=dict)
    dirty: bool = True
    next_due_ms: int | None = None


def coordinator_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class Engine:
    def __init__(
        self,
        store: WorkflowStore,
        link: SupervisorLink,
        signer: Signer | None,
        settings: EngineSettings | None = None,
        ident: str | None = None,
    ) -> None:
        self.store = store
        self.link = link
        self.signer = signer
        self.settings = settings or EngineSettings()
        self.id = ident or coordinator_id()
        self.owned: dict[str, Owned] = {}
        self.watched: dict[str, Watched] = {}  # by job id
        self.by_stream: dict[str, str] = {}  # log stream -> job id
        self.unsubmitted: dict[str, tuple[str, Dispatched]] = {}  # job id -> (workflow, step attempt)
        #: Each bucket's events stream -> the id of the last entry read ({} until first read).
        self.events_last: dict[str, str] = {}
        #: On a cluster: the blocking readers, one per slot (built at the first wait).
        self.fanin: StreamFanIn | None = None
        self.stopping = threading.Event()
        self._timers = {"renew": 0.0, "scan": 0.0, "sweep": 0.0}
        self._resubmit_at = 0.0
        self._thread: threading.Thread | None = None

    @property
    def ttl_ms(self) -> int:
        return int(self.settings.lease_ttl_s * 1000)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="horus-coordinator", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def run(self) -> None:
        log.info("coordinator %s started", self.id)
        while not self.stopping.is_set():
            try:
                if not self.events_last:
                    moved = self.store.migrate_unbucketed()
                    if moved:
                        log.info("moved %d workflow(s) stored before workflow buckets into their buckets", moved)
                    self.events_last = self.store.last_events()
                self.tick()
            except HorusError as exc:  # Redis or the supervisor away: the state is safe in Redis
                log.warning("coordinator loop: %s; retrying", exc)
                self.stopping.wait(1.0)
            except Exception:
                log.exception("coordinator loop: unexpected error; retrying")
                self.stopping.wait(1.0)
        self.release()

    def release(self) -> None:
        """Give up every lease at once, so another coordinator resumes without waiting for the TTL."""
        try:
            self.store.renew(list(self.owned), self.id, 0)
        except HorusError as exc:
            log.warning("could not release leases: %s", exc)
        self._close_fanin()
        self.owned.clear()
        self.watched.clear()
        self.by_stream.clear()

    def _due(self, name: str, every_s: float) -> bool:
        now = time.monotonic()
        if now < self._timers[name]:
            return False
        self._timers[name] = now + every_s
        return True

    def tick(self) -> None:
        third = self.settings.lease_ttl_s / 3
        if self._due("renew", third):
            self.renew()
        if self._due("scan", third):
            self.scan()
        if self._due("sweep", self.settings.sweep_s):
            self.sweep()
        self.dispatch_ready()
        if self.unsubmitted and time.monotonic() >= self._resubmit_at:
            self._resubmit_at = time.monotonic() + 1.0
            self.resubmit()
        self.wait(self.block_s())

    def block_s(self) -> float:
        if any(owned.dirty for owned in self.owned.values()):
            return 0.0
        now = time.monotonic()
        block = min(self.settings.max_block_s, *(at - now for at in self._timers.values()))
        dues = [o.next_due_ms for o in self.owned.values() if o.next_due_ms is not None]
        if dues:
            block = min(block, (min(dues) - now_ms()) / 1000)
        return max(block, 0.0)

    # -- leases -------------------------------------------------------------------------
    def renew(self) -> None:
        held = set(self.store.renew(list(self.owned), self.id, self.ttl_ms))
        for workflow_id in [w for w in self.owned if w not in held]:
            log.warning("lost the lease on workflow %s; another coordinator drives it now", workflow_id)
            self.drop(workflow_id)

    def scan(self) -> None:
        candidates = [w for w in self.store.active() if w not in self.owned]
        for workflow_id in self.store.acquire(candidates, self.id, self.ttl_ms):
            self.adopt(workflow_id)

    def drop(self, workflow_id: str) -> None:
        self.owned.pop(workflow_id, None)
        for job in [j for j, w in self.watched.items() if w.workflow_id == workflow_id]:
            self._unwatch(self.watched.pop(job))
        for job in [j for j, (w, _) in self.unsubmitted.items() if w == workflow_id]:
            del self.unsubmitted[job]

    def adopt(self, workflow_id: str) -> None:
        """Take over a workflow: a new one, or one whose coordinator died mid-way."""
        try:
            workflow = self.store.spec(workflow_id)
            meta = self.store.meta(workflow_id)
        except WorkflowNotFound:
            self.store.renew([workflow_id], self.id, 0)
            return
        owned = Owned(workflow, meta["digest"], meta["submitter"], {s.id: s for s in workflow.steps})
        self.owned[workflow_id] = owned
        states = self.store.steps(workflow_id)
        dispatched = [Dispatched(s, int(st["attempt"])) for s, st in states.items() if st["status"] == "dispatched"]
        if not dispatched:
            return
        log.info("workflow %s: resuming with %d step(s) dispatched", workflow_id, len(dispatched))
        runners = [owned.steps[d.step_id].runner_id for d in dispatched]
        exists = self.store.broker.conn.pipeline(
            [("EXISTS", self.store.keys.job_index(job_id(workflow_id, d.step_id, d.attempt))) for d in dispatched]
        )
        sent = [d for d, e in zip(dispatched, exists, strict=True) if e]
        unsent = [d for d, e in zip(dispatched, exists, strict=True) if not e]
        self.watch([self._watched(workflow_id, d, r) for d, r, e in zip(dispatched, runners, exists, strict=True) if e])
        if meta["status"] != WorkflowStatus.RUNNING:
            self.cancel_jobs(workflow_id, sent)  # a cancel (or fail-fast) that was cut short
            self.record([(self._watched(workflow_id, d), _never_sent(workflow_id, d, owned)) for d in unsent])
        elif unsent:
            self.submit(workflow_id, unsent)

    # -- dispatch -------------------------------------------------------------------------
    def dispatch_ready(self) -> None:
        now = now_ms()
        for workflow_id, owned in list(self.owned.items()):
            due = owned.next_due_ms is not None and owned.next_due_ms <= now
            if not (owned.dirty or due):
                continue
            outcome, next_due, taken = self.store.dispatch(workflow_id, self.id, self.settings.batch)
            if outcome == "lost":
                self.drop(workflow_id)
                continue
            owned.next_due_ms = next_due
            owned.dirty = len(taken) >= self.settings.batch
            if taken:
                self.submit(workflow_id, taken)

    def _watched(self, workflow_id: str, d: Dispatched, runner_id: str = "") -> Watched:
        job = job_id(workflow_id, d.step_id, d.attempt)
        if not runner_id:
            runner_id = self.owned[workflow_id].steps[d.step_id].runner_id
        return Watched(workflow_id, d.step_id, d.attempt, runner_id, job, self.store.keys.log(runner_id, job))

    def _build(
        self, workflow_id: str, taken: list[Dispatched]
    ) -> tuple[list[tuple[Dispatched, Job]], list[tuple[Arg, ...]]]:
        """The jobs of these step attempts, and (for submitter-signed jobs) the writes of their inputs."""
        owned = self.owned[workflow_id]
        needed = sorted({dep for d in taken for dep in owned.steps[d.step_id].depends_on})
        upstream = self.store.results(workflow_id, needed)
        jobs: list[tuple[Dispatched, Job]] = []
        writes: list[tuple[Arg, ...]] = []
        unsignable: list[tuple[Watched, JobResult]] = []
        flow = owned.workflow
        for d in taken:
            step = owned.steps[d.step_id]
            inputs = {dep: input_value(upstream[dep]) for dep in step.depends_on if dep in upstream}
            if flow.job_signatures:
                job = presigned_job(flow, owned.digest, owned.submitter, step, d.attempt)
                writes.append(
                    ("SET", self.store.keys.inputs(step.runner_id, job.id), orjson.dumps(inputs), "EX", STREAM_TTL_S)
                )
            elif self.signer is not None:
                job = coordinator_job(flow, owned.digest, owned.submitter, step, d.attempt, inputs, self.signer)
            else:  # accepted by a coordinator with a key, adopted by one without
                error = "the workflow carries no job signatures and this coordinator has no key to sign its jobs"
                failed = _failed(job_id(workflow_id, d.step_id, d.attempt), step.runner_id, error)
                unsignable.append((self._watched(workflow_id, d), failed))
                continue
            jobs.append((d, job))
        if unsignable:
            self.record(unsignable)
        return jobs, writes

    def submit(self, workflow_id: str, taken: list[Dispatched]) -> None:
        jobs, inputs_writes = self._build(workflow_id, taken)
        if not jobs:
            return
        try:
            if inputs_writes:  # before the jobs exist, so a runner never starts one without its inputs
                for reply in self.store.broker.conn.pipeline(inputs_writes):
                    if isinstance(reply, Exception):
                        raise reply
            answers = self.link.batch([("job.create", {"job": job.model_dump(exclude={"status"})}) for _, job in jobs])
        except HorusError as exc:
            log.warning(
                "workflow %s: supervisor unreachable (%s); will send %d job(s) again", workflow_id, exc, len(jobs)
            )
            for d, job in jobs:
                self.unsubmitted[job.id] = (workflow_id, d)
            return
        accepted: list[Watched] = []
        refused: list[tuple[Watched, JobResult]] = []
        for (d, job), answer in zip(jobs, answers, strict=True):
            self.unsubmitted.pop(job.id, None)
            if not answer.reason or answer.reason == "replayed_id":  # a replay: sent before a restart
                accepted.append(self._watched(workflow_id, d))
            elif answer.reason in TRANSIENT:
                log.warning("workflow %s: job %s not admitted yet: %s", workflow_id, job.id, answer.message)
                self.unsubmitted[job.id] = (workflow_id, d)
            else:
                error = f"the supervisor refused the step's job ({answer.reason}): {answer.message}"
                refused.append((self._watched(workflow_id, d), _failed(job.id, job.runner_id, error)))
        self.watch(accepted)
        self.record(refused)
        if accepted and self._status(workflow_id) not in (None, WorkflowStatus.RUNNING):
            # Cancelled while these were being sent: the canceller may have missed them.
            self.cancel_jobs(workflow_id, [Dispatched(w.step_id, w.attempt) for w in accepted])

    def resubmit(self) -> None:
        by_workflow: dict[str, list[Dispatched]] = {}
        for workflow_id, d in self.unsubmitted.values():
            by_workflow.setdefault(workflow_id, []).append(d)
        for workflow_id, taken in by_workflow.items():
            if workflow_id not in self.owned:
                continue
            if self._status(workflow_id) != WorkflowStatus.RUNNING:
                owned = self.owned[workflow_id]
                for d in taken:
                    self.unsubmitted.pop(job_id(workflow_id, d.step_id, d.attempt), None)
                self.record([(self._watched(workflow_id, d), _never_sent(workflow_id, d, owned)) for d in taken])
            else:
                self.submit(workflow_id, taken)

    def _status(self, workflow_id: str) -> str | None:
        status = self.store.broker.call("HGET", self.store.keys.workflow(workflow_id), "status")
        return None if status is None else str(status)

    def cancel_jobs(self, workflow_id: str, steps: list[Dispatched]) -> None:
        if not steps:
            return
        calls = [("job.cancel", {"job_id": job_id(workflow_id, d.step_id, d.attempt)}) for d in steps]
        try:
            self.link.batch(calls)
        except HorusError as exc:
            log.warning("workflow %s: could not cancel running steps: %s", workflow_id, exc)

    # -- completion -----------------------------------------------------------------------
    def watch(self, jobs: list[Watched]) -> None:
        if not jobs:
            return
        statuses = self.store.watch([(w.runner_id, w.job_id, STREAM_TTL_S) for w in jobs])
        ended = []
        for w, status in zip(jobs, statuses, strict=True):
            self.watched[w.job_id] = w
            self.by_stream[w.stream] = w.job_id
            if status is None or status in TERMINAL:
                ended.append(w)
        if self.fanin is not None:
            keys = self.store.keys
            self.fanin.follow_many([(w.stream, w.last, keys.coordinator_wake(w.runner_id)) for w in jobs])
        self.finish(ended)

    def _unwatch(self, w: Watched) -> None:
        self.by_stream.pop(w.stream, None)
        if self.fanin is not None:
            self.fanin.unfollow(w.stream)

    def wait(self, block_s: float) -> None:
        if self.store.broker.cluster:
            self._wait_across_slots(block_s)
            return
        watched = list(self.watched.values())
        command: list[Any] = ["XREAD", "COUNT", 100]
        if block_s > 0:
            command += ["BLOCK", max(int(block_s * 1000), 1)]
        command += ["STREAMS", *self.events_last, *[w.stream for w in watched]]
        command += [*self.events_last.values(), *[w.last for w in watched]]
        reply = self.store.broker.call(*command, timeout_s=block_s + 10)
        self.on_streams(reply or [])

    def _wait_across_slots(self, block_s: float) -> None:
        """:meth:`wait` on a cluster: the per-slot readers' batches (a reader that met an error
        ends; the readers are built again, from the cursors read so far, at the next wait)."""
        if self.fanin is None:
            broker = self.store.broker
            self.fanin = StreamFanIn(
                lambda: connect(broker.target),
                count=100,
                block_ms=max(int(self.settings.max_block_s * 5000), 1000),
                nudge=self._nudge,
            )
            keys = self.store.keys
            self.fanin.follow_many([(stream, last, None) for stream, last in self.events_last.items()])
            self.fanin.follow_many(
                [(w.stream, w.last, keys.coordinator_wake(w.runner_id)) for w in self.watched.values()]
            )
        try:
            batches = self.fanin.read(block_s)
        except Exception:
            self._close_fanin()
            raise
        self.on_streams(batches)

    def _nudge(self, wakes: list[str]) -> None:
        replies = self.store.broker.conn.pipeline([("XADD", wake, "MAXLEN", 1, "*", "w", 1) for wake in wakes])
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply

    def _close_fanin(self) -> None:
        if self.fanin is not None:
            self.fanin.close()
            self.fanin = None

    def on_streams(self, reply: list[Any]) -> None:
        """Act on what was read: events (submits, cancels) and step jobs' log entries."""
        ended: list[Watched] = []
        for stream, entries in reply:
            if stream in self.events_last:
                self.on_events(stream, entries)
                continue
            job = self.by_stream.get(stream)
            w = self.watched.get(job) if job else None
            if w is None or not entries:
                continue
            w.last = entries[-1][0]
            if any("eof" in fields[::2] for _, fields in entries):
                ended.append(w)
        self.finish(ended)

    def on_events(self, stream: str, entries: list[Any]) -> None:
        for entry_id, flat in entries:
            self.events_last[stream] = entry_id
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            workflow_id, kind = fields.get("workflow", ""), fields.get("event", "")
            if kind == "submitted" and workflow_id not in self.owned:
                if fields.get("by") == self.id:  # submitted to us: the lease is ours already
                    self.adopt(workflow_id)
                    continue
                for acquired in self.store.acquire([workflow_id], self.id, self.ttl_ms):
                    self.adopt(acquired)
            elif kind == "cancelled" and workflow_id in self.owned:
                states = self.store.steps(workflow_id)
                self.cancel_jobs(
                    workflow_id,
                    [Dispatched(s, int(st["attempt"])) for s, st in states.items() if st["status"] == "dispatched"],
                )

    def sweep(self) -> None:
        watched = list(self.watched.values())
        if not watched:
            return
        keys = self.store.keys
        statuses = self.store.broker.conn.pipeline(
            [("HGET", keys.job(w.runner_id, w.job_id), "status") for w in watched]
        )
        self.finish([w for w, s in zip(watched, statuses, strict=True) if s is None or s in TERMINAL])

    def finish(self, ended: list[Watched]) -> None:
        if not ended:
            return
        results = self.store.job_results([(w.runner_id, w.job_id) for w in ended])
        done: list[tuple[Watched, JobResult]] = []
        for w, result in zip(ended, results, strict=True):
            if result is None:
                error = "the step's job is gone from Redis (expired or deleted) before it ended"
                done.append((w, _failed(w.job_id, w.runner_id, error)))
            elif result.status in TERMINAL:
                done.append((w, result))
        self.record(done)

    def record(self, done: list[tuple[Watched, JobResult]]) -> None:
        """Complete step attempts (one pipelined script call each) and act on what they decide."""
        if not done:
            return
        commands = [
            self.store.complete_command(w.workflow_id, self.id, w.step_id, w.attempt, result) for w, result in done
        ]
        replies = self.store.run(commands)
        for (w, _), reply in zip(done, replies, strict=True):
            self._unwatch(w)
            self.watched.pop(w.job_id, None)
            outcome = self.store.parse_completion(reply)
            owned = self.owned.get(w.workflow_id)
            if owned is None:
                continue
            if outcome.outcome == "lost":
                self.drop(w.workflow_id)
                continue
            owned.dirty = owned.dirty or outcome.ready
            if outcome.retry_due_ms is not None:
                owned.next_due_ms = min(owned.next_due_ms or outcome.retry_due_ms, outcome.retry_due_ms)
            self.cancel_jobs(w.workflow_id, outcome.cancel)
            if outcome.outcome == "ended":
                log.info("workflow %s %s", w.workflow_id, outcome.final)
                self.drop(w.workflow_id)


def _failed(job: str, runner_id: str, error: str) -> JobResult:
    return JobResult(job_id=job, runner_id=runner_id, status=JobStatus.FAILED, error=error, completed_at=time.time())


def _never_sent(workflow_id: str, d: Dispatched, owned: Owned) -> JobResult:
    return JobResult(
        job_id=job_id(workflow_id, d.step_id, d.attempt),
        runner_id=owned.steps[d.step_id].runner_id,
        status=JobStatus.CANCELLED,
        error="the workflow ended before this step's job was sent",
        completed_at=time.time(),
    )
