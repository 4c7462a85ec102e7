"""The Redis transport: queueing, reliable reservation, results, logs and cancel."""

from __future__ import annotations

import functools
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from horus import config, scripts
from horus.connect import Connectable, connect, target_of
from horus.deadletter import DeadJob, DeadPurged, DeadRetried, DeadSkipped
from horus.errors import (
    ConfigError,
    JobActive,
    JobNotFound,
    JobRejected,
    NotDeadLettered,
    NotReplicated,
    TransportError,
    WaitTimeout,
)
from horus.keys import DEFAULT_NAMESPACE, PRIORITY_TOKEN, Keys
from horus.models import SIGNED_DEFAULTS, TERMINAL, Attempt, Job, JobProgress, JobResult, JobStatus
from horus.redis_url import ClusterTarget
from horus.resp import Address, Arg, RedisConnection, ReplyError, ThreadLocalConnections
from horus.retry import Retry, active_span_s, history_of
from horus.tasks import MAX_PROGRESS_MESSAGE

DEFAULT_RESULT_TTL_S = 86_400
#: How long a job id stays claimed (replay guard and id → runner lookup).
DEFAULT_ID_TTL_S = 7 * 86_400
DEFAULT_LOG_MAXLEN = 10_000
DEFAULT_MAX_DELIVERIES = 5
#: The id index's value once its job is deleted: not a runner id (ids start with a letter or
#: digit), so the id stays claimed and lookups answer "not found".
DELETED = "!deleted"
#: Redis's default ``proto-max-bulk-len``: a longer argument breaks the connection.
DEFAULT_MAX_ARG_BYTES = 512 * 1_048_576
#: At most this many due jobs are moved per release.lua call.
RELEASE_BATCH = 1_000
#: What a caller told NotReplicated for a queued job should do (docs/scaling.md, "Failover").
QUEUED_ADVICE = (
    "once the Redis group is healthy, look the job up (`horus status ID`): found, it is queued and "
    "nothing is to be done (submitting it again is refused as replayed_id); not found, it was lost "
    "with the old master: submit it again"
)
#: ... and for a stored result (a worker logs it and goes on).
STORED_ADVICE = (
    "the job is not run again; should a failover lose the result, the job is returned to the queue "
    "on the new master and runs again, as after any lost result"
)


@dataclass(frozen=True, slots=True)
class Started:
    """What :meth:`Broker.start_many` hands a worker for one reserved id.

    ``verdict`` is ``run``; ``cancelled`` or ``dead`` (end it without running); or ``skip``
    (already ended or unknown, and acknowledged).
    """

    job_id: str
    verdict: str
    job_json: str = ""
    deliveries: int = 0
    #: Attempts that ended before this one (retries), and their history as JSON.
    attempts: int = 0
    history: str | None = None


def stored_json(job: Job) -> str:
    """The job as kept in Redis: without its status (the hash has it) and fields at their fixed
    defaults, which readers fill back exactly as they were signed."""
    data = job.content()
    for name, default in SIGNED_DEFAULTS.items():
        if data[name] == default:
            del data[name]
    data["signatures"] = [signature.__dict__ for signature in job.signatures]
    if job.firing is not None:
        data["firing"] = job.firing.__dict__
    return orjson.dumps(data).decode()


def log_page_of(reply: Any, cursor: str, done: bool) -> LogPage:
    """The page an XREAD reply on a job's log stream makes, read after ``cursor``; ``done``:
    the job was seen ended before the read."""
    lines: list[str] = []
    for entry_id, flat in reply[0][1] if reply else []:
        cursor = entry_id
        fields = _pairs(flat)
        if "eof" in fields:
            return LogPage(lines, cursor, True)
        lines.append(fields.get("line", ""))
    return LogPage(lines, cursor, done and not lines)


def dead_job(job_id: str, runner_id: str, state: list[Any], stored: str | None, spec: str | None) -> DeadJob:
    """A dead-letter list entry from its hash fields (status, deliveries, created_at, dead_at,
    owner), its stored result and its signed job (any of them gone once the records expired)."""
    status, deliveries, created_at, dead_at, owner = state
    result = JobResult.model_validate_json(stored) if stored else None
    content = orjson.loads(spec) if spec else {}
    return DeadJob(
        job_id=job_id,
        runner_id=runner_id,
        status=JobStatus(status) if status else None,
        reason=(result.error or "") if result else ("" if status else "its records expired"),
        deliveries=int(deliveries or 0),
        created_at=float(created_at) if created_at else content.get("created_at"),
        dead_at=float(dead_at) if dead_at else None,
        completed_at=result.completed_at if result else None,
        caller_id=str(content.get("caller_id", "")),
        context_id=str(content.get("context_id", "")),
        owner=None if owner is None else str(owner),
    )


def result_json(result: JobResult) -> str:
    return result.model_dump_json()


def bounded_result_json(result: JobResult, limit: int) -> tuple[JobStatus, str]:
    """The result's JSON, or, past ``limit`` bytes (what Redis accepts in one argument), a failure
    saying so: sending it would break the connection and run the job again."""
    data = result_json(result)
    if len(data) * 3 <= limit:  # no JSON character takes more than 3 bytes in UTF-8
        return result.status, data
    size = len(data.encode())
    if size <= limit:
        return result.status, data
    error = (
        f"the job ended ({result.status.value}) but its result ({size} bytes) is larger than "
        f"Redis accepts ({limit} bytes, proto-max-bulk-len); lower the worker's --max-output"
    )
    update = {"status": JobStatus.FAILED, "output": "", "value": None, "error": error}
    return JobStatus.FAILED, result_json(result.model_copy(update=update))


def result_from_hash(job_id: str, runner_id: str, data: dict[str, str], stored: str | None = None) -> JobResult:
    """The result stored when the job ended, else what its hash says so far."""
    if stored:
        return JobResult.model_validate_json(stored)
    started = data.get("started_at")
    status = JobStatus(data.get("status", "pending"))
    ended = int(data.get("attempts", 0) or 0)
    due = data.get("due_at")
    running = status is JobStatus.RUNNING
    reported = data.get("progress")
    return JobResult(
        job_id=job_id,
        runner_id=runner_id,
        status=status,
        started_at=float(started) if started else None,
        deliveries=int(data.get("deliveries", 0) or 0),
        attempts=ended + (1 if running else 0),
        history=history_of(data.get("history")),
        due_at=float(due) if due and status is JobStatus.SCHEDULED else None,
        progress=progress_of(reported, ended + 1) if running and reported else None,
    )


def progress_value(percent: float, message: str, attempt: int) -> str:
    """A progress report as the job's hash keeps it (its ``progress`` field)."""
    return orjson.dumps({"percent": percent, "message": message, "attempt": attempt}).decode()


def progress_of(value: str, attempt: int) -> JobProgress | None:
    """The report in a ``progress`` field if it is this attempt's; None for an earlier attempt's
    or one that is not a report (anyone who can write the hash can write anything there)."""
    try:
        data = orjson.loads(value)
        if not isinstance(data, dict) or data.get("attempt") != attempt or isinstance(data.get("percent"), bool):
            return None
        message = data.get("message", "")
        return JobProgress(percent=data["percent"], message=message[:MAX_PROGRESS_MESSAGE])
    except (ValueError, TypeError, KeyError):  # orjson's and pydantic's errors are ValueErrors
        return None


def job_options(job: Job, id_ttl_s: int, now: float) -> tuple[str, int]:
    """enqueue.lua's options argument for a job ('' at the defaults) and how long its id
    stays claimed: longer by as much as it waits for its start and its retries."""
    fields = job.__dict__
    not_before, priority, retries = fields["not_before"], fields["priority"], fields["retries"]
    if not_before is None and not priority and not retries:
        return "", id_ttl_s
    wait = max(0.0, not_before - now) if not_before is not None else 0.0
    ttl = int(id_ttl_s + wait + active_span_s(fields)) + 1
    due_ms = round(not_before * 1000) if not_before is not None else 0
    return f"{due_ms} {priority} {ttl}", ttl


def jobs_named(batch: Sequence[Job]) -> str:
    """How a NotReplicated error names the jobs of a write."""
    if len(batch) == 1:
        return f"job {batch[0].id!r}"
    return f"{len(batch)} jobs ({batch[0].id!r} to {batch[-1].id!r})"


def _raise_errors(replies: Sequence[Any]) -> Sequence[Any]:
    for reply in replies:
        if isinstance(reply, ReplyError):
            raise reply
    return replies


@dataclass(frozen=True, slots=True)
class Progress:
    """What Redis holds of a running job (:meth:`Broker.progress`)."""

    started_at: float | None
    deliveries: int
    lines: list[str]
    #: This attempt's number, and the attempts before it.
    attempts: int
    history: list[Attempt]
    #: The job as stored (unverified), None once gone.
    spec: str | None


@dataclass(slots=True)
class LogPage:
    lines: list[str]
    #: Pass back to read on from here.
    cursor: str
    #: No line can follow: the stream ended, or the job ended (or is gone) without one.
    ended: bool


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class Broker:
    """One namespace on one Redis. Client methods first, worker methods after.

    ``cluster=True`` keeps every script inside one hash slot: the job-id claim (slot of the
    job id) then becomes a step of its own before the enqueue (slot of the runner).
    """

    def __init__(
        self,
        url: str,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        result_ttl_s: int = DEFAULT_RESULT_TTL_S,
        id_ttl_s: int = DEFAULT_ID_TTL_S,
        log_maxlen: int = DEFAULT_LOG_MAXLEN,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        cluster: bool = False,
        events: bool | None = None,
        events_maxlen: int | None = None,
        wait_replicas: int | None = None,
        wait_timeout_ms: int | None = None,
    ) -> None:
        self.url = url
        #: The one Redis or the Sentinel group the URL names (a cluster URL is refused).
        self.target: Connectable = target_of(url)
        self.connections = ThreadLocalConnections(functools.partial(connect, self.target))
        self.keys = Keys(namespace)
        self.result_ttl_s = result_ttl_s
        self.id_ttl_s = max(id_ttl_s, result_ttl_s)
        self.log_maxlen = log_maxlen
        self.max_deliveries = max_deliveries
        #: Every script kept inside one hash slot: always on a cluster, by choice elsewhere.
        self.cluster = cluster or isinstance(self.target, ClusterTarget)
        #: The events stream's cap the scripts are passed; 0: no events nor counters (None:
        #: HORUS_EVENTS / HORUS_EVENTS_MAXLEN, docs/operations.md).
        self.events_cap = config.events_maxlen(events_maxlen) if config.events_enabled(events) else 0
        #: The longest result a finish sends (a worker sets it from the server's setting).
        self.max_arg_bytes = DEFAULT_MAX_ARG_BYTES
        #: Replicas that must confirm each queued job and stored result: a ``WAIT`` sent in the
        #: same pipeline right after the write; 0 sends none (None: HORUS_WAIT_REPLICAS).
        self.wait_replicas = config.wait_replicas(wait_replicas)
        self.wait_timeout_ms = config.wait_timeout_ms(wait_timeout_ms)
        self._wait: tuple[Arg, ...] = ("WAIT", self.wait_replicas, self.wait_timeout_ms)

    @classmethod
    def from_url(cls, url: str, namespace: str = DEFAULT_NAMESPACE, **options: Any) -> Broker:
        return cls(url, namespace, **options)

    @property
    def address(self) -> Address:
        """The Redis a single-server URL names; a Sentinel group's master moves (see :attr:`target`)."""
        if not isinstance(self.target, Address):
            raise ConfigError(f"{self.target} is a Sentinel group, not one Redis address: use Broker.target")
        return self.target

    @property
    def conn(self) -> RedisConnection:
        return self.connections.get()

    def call(self, *args: Arg, timeout_s: float | None = None) -> Any:
        return self.conn.call(*args, timeout_s=timeout_s)

    def ping(self) -> None:
        self.call("PING")

    def close(self) -> None:
        self.connections.close()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- submitting ---------------------------------------------------------------
    def enqueue(self, job: Job) -> str:
        """Queue a signed job. A job id is accepted once (``replayed_id`` otherwise)."""
        return self.enqueue_many([job])[0]

    def _enqueue(self, batch: Sequence[Job]) -> int:
        """Run enqueue.lua for a batch; the position of the first replayed id, or 0. With
        :attr:`wait_replicas`, NotReplicated (its value: the ids) once the batch is queued."""
        if not self.wait_replicas:
            return int(scripts.call(self.conn, "enqueue", *self._enqueue_args(batch)))
        enqueue = scripts.command("enqueue", *self._enqueue_args(batch))
        queued, waited = _raise_errors(scripts.run(self.conn, [enqueue, self._wait]))
        if int(queued) == 0:
            self.check_replicated(waited, jobs_named(batch), value=[job.id for job in batch])
        return int(queued)

    def _enqueue_args(self, batch: Sequence[Job], owner: str = "") -> tuple[list[str], list[Arg]]:
        keys: list[str] = []
        args: list[Arg] = [3 if self.cluster else 4, self.id_ttl_s, self.events_cap]
        now = time.time()
        for job in batch:
            keys += [
                self.keys.job(job.runner_id, job.id),
                self.keys.spec(job.runner_id, job.id),
                self.keys.queue(job.runner_id),
            ]
            if not self.cluster:
                keys.append(self.keys.job_index(job.id))
            options, _ = job_options(job, self.id_ttl_s, now)
            args += [job.id, stored_json(job), job.created_at, job.runner_id, owner, options]
        if not self.cluster:
            keys.append(self.keys.runners())
        return keys, args

    def enqueue_many(self, jobs: Iterable[Job]) -> list[str]:
        """Queue jobs, all or none, in one round trip; a replayed id refuses the batch.

        On a Cluster each job is a step of its own (claim, then enqueue in its runner's slot),
        so a replayed id refuses only that job and the ones after it.
        """
        batch = list(jobs)
        if not batch:
            return []
        if not self.cluster:
            self._refuse_replay(batch, self._enqueue(batch))
            return [job.id for job in batch]
        self._enqueue_claimed(batch)
        return [job.id for job in batch]

    def _enqueue_claimed(self, batch: Sequence[Job]) -> None:
        """Cluster: claim every id (pipelined, each in its id's slot), then queue the jobs up to
        the first refused claim with one enqueue.lua call per runner (pipelined, each in its
        runner's slot); claims taken after the refused one are given back."""
        now = time.time()
        claims: list[tuple[Arg, ...]] = [
            scripts.command(
                "claim", [self.keys.job_index(job.id)], [job.runner_id, job_options(job, self.id_ttl_s, now)[1]]
            )
            for job in batch
        ]
        step = 2 if self.wait_replicas else 1  # with a WAIT after each write, on the write's master
        if self.wait_replicas:
            claims = self._each_waited(claims)
        if self.events_cap:
            # Readers find the runners' event streams here; the set is in a slot of its own.
            claims += [("SADD", self.keys.runners(), runner) for runner in dict.fromkeys(j.runner_id for j in batch)]
        replies = _raise_errors(scripts.run(self.conn, claims))
        claimed = replies[: len(batch) * step : step]
        waited = list(replies[1 : len(batch) * step : step])
        refused = next((i for i, flag in enumerate(claimed) if flag != 1), None)
        if refused is not None:
            taken = [
                job.id for job, flag in zip(batch[refused + 1 :], claimed[refused + 1 :], strict=True) if flag == 1
            ]
            if taken:
                _raise_errors(self.conn.pipeline([("DEL", self.keys.job_index(job_id)) for job_id in taken]))
        by_runner: dict[str, list[Job]] = {}
        for job in batch[:refused]:
            by_runner.setdefault(job.runner_id, []).append(job)
        groups = list(by_runner.values())
        enqueues = [scripts.command("enqueue", *self._enqueue_args(g)) for g in groups]
        replies = _raise_errors(scripts.run(self.conn, self._each_waited(enqueues) if self.wait_replicas else enqueues))
        for jobs, position in zip(groups, replies[::step], strict=True):
            self._refuse_replay(jobs, int(position))
        if refused is not None:
            self._refuse_replay([batch[refused]], 1)
        if self.wait_replicas:
            fewest = min([*waited, *replies[1::step]], key=int)
            self.check_replicated(fewest, jobs_named(batch), value=[job.id for job in batch])

    def _each_waited(self, commands: Sequence[tuple[Arg, ...]]) -> list[tuple[Arg, ...]]:
        """``commands`` with a WAIT after each: on a cluster each write may go to another master,
        and a WAIT is sent to the master of the command before it."""
        return [sent for command in commands for sent in (command, self._wait)]

    def enqueue_each(self, jobs: Sequence[Job]) -> list[bool]:
        """Queue each job on its own, all in one round trip: a replayed id refuses only its own
        job (False), the others are queued (True). A beat sends a pass's firings this way."""
        if self.cluster:
            return [self._enqueue_one(job) for job in jobs]
        # First all in one call, as enqueue_many: a call per job costs Redis more than the job.
        # A replayed id (a second leader for a moment, a crash between a pass's firings and its
        # record) refuses that call whole, and the jobs are sent again one call each.
        try:
            if not jobs or self._enqueue(jobs) == 0:
                return [True] * len(jobs)
        except NotReplicated as exc:
            exc.value = [True] * len(jobs)
            raise
        commands = [scripts.command("enqueue", *self._enqueue_args([job])) for job in jobs]
        if not self.wait_replicas:
            return [int(reply) == 0 for reply in _raise_errors(scripts.run(self.conn, commands))]
        *replies, waited = _raise_errors(scripts.run(self.conn, [*commands, self._wait]))
        queued = [int(reply) == 0 for reply in replies]
        if any(queued):
            accepted = [job for job, ok in zip(jobs, queued, strict=True) if ok]
            self.check_replicated(waited, jobs_named(accepted), value=queued)
        return queued

    def _enqueue_one(self, job: Job) -> bool:
        try:
            self.enqueue(job)
        except JobRejected as exc:
            if exc.code != "replayed_id":
                raise
            return False
        return True

    def _claim(self, job: Job) -> int:
        """Cluster: claim the job's id for its runner (a step of its own, in the id's slot). With
        :attr:`wait_replicas`, the claim's WAIT reply (the caller checks it with its enqueue's:
        the job is not queued yet); else the replicas asked for, 0."""
        _, ttl = job_options(job, self.id_ttl_s, time.time())
        commands: list[tuple[Arg, ...]] = [
            scripts.command("claim", [self.keys.job_index(job.id)], [job.runner_id, ttl])
        ]
        if self.wait_replicas:  # right after the claim: a WAIT goes to the node of the write before it
            commands.append(self._wait)
        if self.events_cap:
            # Readers find the runners' event streams here; the set is in a slot of its own.
            commands.append(("SADD", self.keys.runners(), job.runner_id))
        replies = _raise_errors(scripts.run(self.conn, commands))
        self._refuse_replay([job], 0 if replies[0] == 1 else 1)
        return int(replies[1]) if self.wait_replicas else 0

    def enqueue_with(self, job: Job, commands: Sequence[Sequence[Arg]], owner: str = "") -> tuple[bool, list[Any]]:
        """Queue a job and run ``commands`` in the same round trip: (accepted, their replies).

        The commands run whether or not the job was accepted (a replayed id is not), so a caller
        undoes what they wrote when it was not. On a Cluster a replayed id raises before they run.
        ``owner`` (who submitted it, supervisor metadata) is stored in the job's hash only when
        the job is accepted, so a refused replay never touches the job that holds the id.
        """
        if self.cluster:
            claim_waited = self._claim(job)
            enqueue = scripts.command("enqueue", *self._enqueue_args([job], owner))
            sent = [enqueue, self._wait] if self.wait_replicas else [enqueue]
            queued, *waited = _raise_errors(scripts.run(self.conn, sent))
            self._refuse_replay([job], int(queued))
            replies = scripts.run(self.conn, commands)
            if waited:
                fewest = min(int(waited[0]), claim_waited)
                self.check_replicated(fewest, jobs_named([job]), value=(True, replies))
            return True, replies
        enqueue = scripts.command("enqueue", *self._enqueue_args([job], owner))
        if not self.wait_replicas:
            queued, *replies = scripts.run(self.conn, [enqueue, *commands])
        else:  # one WAIT after the commands too (they are the caller's writes that go with the job)
            queued, *replies, waited = scripts.run(self.conn, [enqueue, *commands, self._wait])
        if isinstance(queued, ReplyError):
            raise queued
        if int(queued) == 0 and self.wait_replicas:
            self.check_replicated(waited, jobs_named([job]), value=(True, replies))
        return int(queued) == 0, replies

    @staticmethod
    def refuse_replay(job: Job) -> None:
        Broker._refuse_replay([job], 1)

    @staticmethod
    def _refuse_replay(batch: Sequence[Job], position: int) -> None:
        if position:
            job_id = batch[position - 1].id
            raise JobRejected("replayed_id", "id", f"job id {job_id!r} was already submitted")

    def check_replicated(self, reply: Any, what: str, advice: str = QUEUED_ADVICE, value: Any = None) -> None:
        """The reply of the ``WAIT`` sent after a write: NotReplicated (naming ``what`` and
        carrying ``value``) when fewer replicas than :attr:`wait_replicas` confirmed it."""
        if isinstance(reply, ReplyError):
            raise reply
        if int(reply) < self.wait_replicas:
            raise NotReplicated(what, int(reply), self.wait_replicas, self.wait_timeout_ms, advice, value)

    def run(self, job: Job, timeout_s: float | None = None) -> JobResult:
        """Queue a job and wait for its result, with the wait sent in the same write as the
        enqueue (one round trip less on the latency path). On a Cluster the id's claim comes
        first, then the enqueue and the wait in one write (both in the runner's slot)."""
        claim_waited = self._claim(job) if self.cluster else self.wait_replicas
        notice = self.keys.result(job.runner_id, job.id)
        # A bounded block (0 would mean forever to Redis); wait() takes over past it.
        block = max(min(timeout_s, 30.0), 0.001) if timeout_s is not None else 30.0
        enqueue = scripts.command("enqueue", *self._enqueue_args([job]))
        wait = ("BLMOVE", notice, notice, "LEFT", "RIGHT", block)
        conn = self.conn
        conn.send([enqueue, self._wait, wait] if self.wait_replicas else [enqueue, wait])
        queued = conn.reply()
        if queued != 0:
            conn.close()  # abandons the wait already blocking for this id
            if isinstance(queued, ReplyError) and str(queued).startswith("NOSCRIPT"):
                self.enqueue(job)  # loads the scripts
                return self.wait(job.id, timeout_s, runner_id=job.runner_id)
            if isinstance(queued, ReplyError):
                raise queued
            self._refuse_replay([job], int(queued))
        if self.wait_replicas:
            waited = conn.reply()
            try:
                if not isinstance(waited, ReplyError):  # on a cluster, the claim's WAIT too
                    waited = min(int(waited), claim_waited)
                self.check_replicated(waited, jobs_named([job]), value=job.id)
            except TransportError:
                conn.close()  # abandons the wait, as above
                raise
        reply = conn.reply(timeout_s=block + 10)
        if reply is not None:
            return JobResult.model_validate_json(reply)
        remaining = None if timeout_s is None else max(timeout_s - block, 0.0)
        return self.wait(job.id, remaining, runner_id=job.runner_id)

    # -- looking up ---------------------------------------------------------------
    def runner_of(self, job_id: str) -> str:
        runner_id = self.call("GET", self.keys.job_index(job_id))
        if runner_id is None or runner_id == DELETED:
            raise JobNotFound(job_id)
        return str(runner_id)

    def owner(self, job_id: str) -> str | None:
        """Who submitted the job through a supervisor (its caller identity); None when it was
        queued straight into Redis. JobNotFound when there is no such job."""
        runner_id = self.runner_of(job_id)
        flat = self.call("HMGET", self.keys.job(runner_id, job_id), "status", "owner")
        if flat[0] is None:
            raise JobNotFound(job_id)
        return None if flat[1] is None else str(flat[1])

    def state(self, job_id: str) -> tuple[str, dict[str, str]]:
        runner_id = self.runner_of(job_id)
        data = _pairs(self.call("HGETALL", self.keys.job(runner_id, job_id)))
        if not data:
            raise JobNotFound(job_id)
        return runner_id, data

    def job(self, job_id: str) -> Job:
        runner_id = self.runner_of(job_id)
        stored = self.call("GET", self.keys.spec(runner_id, job_id))
        if stored is None:
            raise JobNotFound(job_id)
        return Job.model_validate_json(stored)

    def result(self, job_id: str) -> JobResult:
        runner_id = self.runner_of(job_id)
        flat, stored = self.conn.pipeline(
            [("HGETALL", self.keys.job(runner_id, job_id)), ("LINDEX", self.keys.result(runner_id, job_id), 0)]
        )
        if not flat:
            raise JobNotFound(job_id)
        return result_from_hash(job_id, runner_id, _pairs(flat), stored)

    def wait(self, job_id: str, timeout_s: float | None = None, runner_id: str | None = None) -> JobResult:
        """Block until the job ends: one BLMOVE on its result list, woken by Redis, never polled.

        The list is rotated in place, so every waiter sees the result.
        """
        steps = self.wait_steps(job_id, runner_id or self.runner_of(job_id), timeout_s)
        try:
            key, block = next(steps)
            while True:
                reply = self.call("BLMOVE", key, key, "LEFT", "RIGHT", block, timeout_s=block + 10)
                key, block = steps.send(reply)
        except StopIteration as done:
            result: JobResult = done.value
            return result

    def wait_steps(
        self, job_id: str, runner_id: str, timeout_s: float | None
    ) -> Generator[tuple[str, float], str | None, JobResult]:
        """:meth:`wait` with its blocking step left to the caller: yields (result list, seconds)
        for a ``BLMOVE list list LEFT RIGHT seconds`` and takes its reply, so a server can run
        the block on its event loop (horus.supervisor.rpc.Block) while every check stays here."""
        notice = self.keys.result(runner_id, job_id)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            remaining = 0.0 if deadline is None else max(deadline - time.monotonic(), 0.001)
            # A bounded block lets us notice a job that vanished (expired) instead of waiting forever.
            block = remaining if deadline is not None and remaining < 30 else 30.0
            reply = yield notice, block
            if reply is not None:
                return JobResult.model_validate_json(reply)
            status = self.call("HGET", self.keys.job(runner_id, job_id), "status")
            if status is None:
                raise JobNotFound(job_id)
            if status in TERMINAL:  # ended, but its result list expired first
                return self.result(job_id)
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"job {job_id} still {status} after {timeout_s} s")

    def logs(self, job_id: str, follow: bool = False, block_ms: int = 5_000) -> Iterator[str]:
        """Output lines so far; with ``follow``, keep yielding until the job ends."""
        cursor = "0-0"
        while True:
            # The first follow block is short: a job that prints nothing has no stream to wake us.
            block = (block_ms if cursor != "0-0" else min(block_ms, 500)) if follow else 0
            page = self.log_page(job_id, cursor, block)
            yield from page.lines
            cursor = page.cursor
            if not follow or page.ended:
                return

    def log_page(self, job_id: str, cursor: str = "0-0", block_ms: int = 0) -> LogPage:
        """The lines after ``cursor`` (a stream id; ``0-0`` for the start), blocking up to
        ``block_ms`` for the first when there are none yet.

        A job that prints ends its stream with an ``eof`` entry; one that prints nothing has no
        stream, so an empty page also checks the job's status to tell whether more can come.
        """
        runner_id = self.runner_of(job_id)
        stream = self.keys.log(runner_id, job_id)
        # The status is read before the stream: a job seen ended has written all its lines.
        done = self.call("HGET", self.keys.job(runner_id, job_id), "status") in (*TERMINAL, None)
        if block_ms > 0 and not done:
            reply = self.call("XREAD", "BLOCK", block_ms, "STREAMS", stream, cursor, timeout_s=block_ms / 1000 + 10)
        else:
            reply = self.call("XREAD", "STREAMS", stream, cursor)
        return log_page_of(reply, cursor, done)

    def cancel(self, job_id: str) -> str:
        runner_id = self.runner_of(job_id)
        # What a job waiting for a retry has done so far goes into its cancelled result.
        ended, history, deliveries = self.call(
            "HMGET", self.keys.job(runner_id, job_id), "attempts", "history", "deliveries"
        )
        queued = JobResult(
            job_id=job_id,
            runner_id=runner_id,
            status=JobStatus.CANCELLED,
            error="cancelled while queued",
            completed_at=time.time(),
            attempts=int(ended or 0),
            history=history_of(history),
            deliveries=int(deliveries or 0),
        )
        scheduled = queued.model_copy(update={"error": "cancelled while scheduled"})
        reply = scripts.call(
            self.conn,
            "cancel",
            [
                self.keys.job(runner_id, job_id),
                self.keys.queue(runner_id),
                self.keys.result(runner_id, job_id),
                self.keys.log(runner_id, job_id),
                self.keys.control(runner_id),
                self.keys.spec(runner_id, job_id),
                self.keys.scheduled(runner_id),
                self.keys.priority_queue(runner_id),
                self.keys.events(runner_id),
                self.keys.stats(runner_id),
            ],
            [
                job_id,
                result_json(queued),
                self.result_ttl_s,
                self.log_maxlen,
                result_json(scheduled),
                self.events_cap,
                runner_id,
            ],
        )
        if reply is None:
            raise JobNotFound(job_id)
        return str(reply)

    def delete(self, job_id: str) -> None:
        """Forget an ended job: its records, result and log.

        Its id stays claimed (the index holds :data:`DELETED`) for ``id_ttl_s`` from now, so the
        same signed job cannot be submitted again while it could still pass a freshness check.
        """
        runner_id = self.runner_of(job_id)
        job_key = self.keys.job(runner_id, job_id)
        status = self.call("HGET", job_key, "status")
        if status is None:
            raise JobNotFound(job_id)
        if status not in TERMINAL:
            raise JobActive(job_id, str(status))
        # An ended job never runs again, so the id is marked deleted before its records go (the
        # index is in the id's slot, the records in the runner's): there is no moment when the
        # records are gone and the index would let the id in again (claim.lua lets the same
        # runner re-claim an id whose job it no longer holds).
        self.call("SET", self.keys.job_index(job_id), DELETED, "EX", self.id_ttl_s)
        keys = [job_key, self.keys.spec(runner_id, job_id), self.keys.result(runner_id, job_id)]
        reply = scripts.call(self.conn, "delete", [*keys, self.keys.log(runner_id, job_id)], [])
        if reply is not None and reply != "deleted":  # cannot happen: an ended job stays ended
            raise JobActive(job_id, str(reply))

    def queue_length(self, runner_id: str) -> int:
        """Queued jobs of the runner (a job with a priority counts by its token)."""
        return int(self.call("LLEN", self.keys.queue(runner_id)))

    def scheduled_count(self, runner_id: str) -> int:
        """Jobs of the runner waiting for their not_before or their next attempt."""
        return int(self.call("ZCARD", self.keys.scheduled(runner_id)))

    def release_due(self, runner_id: str, limit: int = RELEASE_BATCH) -> tuple[int, int]:
        """Move the runner's due scheduled jobs into its queue, at most ``limit`` (release.lua):
        (jobs moved, ms until the next is due; 0 when more are due, -1 when none is left)."""
        a, b, _ = self.keys.job_affixes(runner_id)
        moved, wait_ms = scripts.call(
            self.conn,
            "release",
            [self.keys.scheduled(runner_id), self.keys.queue(runner_id)],
            [a, b, limit, self.events_cap, runner_id],
        )
        return int(moved), int(wait_ms)

    def dead_letters(self, runner_id: str) -> list[str]:
        """The runner's dead-lettered job ids, the latest first."""
        return [str(x) for x in self.call("LRANGE", self.keys.dead(runner_id), 0, -1)]

    # -- the dead-letter list -------------------------------------------------------
    def _job_keys(self, runner_id: str, job_id: str) -> list[str]:
        """A job's hash, spec, result list and log stream: the keys a dead-letter script takes."""
        k = self.keys
        return [
            k.job(runner_id, job_id),
            k.spec(runner_id, job_id),
            k.result(runner_id, job_id),
            k.log(runner_id, job_id),
        ]

    def dead_list(self, runner_id: str) -> list[DeadJob]:
        """The runner's dead-lettered jobs, the latest first, with why each failed."""
        ids = self.dead_letters(runner_id)
        commands: list[tuple[Arg, ...]] = []
        for job_id in ids:
            fields = ("status", "deliveries", "created_at", "dead_at", "owner")
            commands += [
                ("HMGET", self.keys.job(runner_id, job_id), *fields),
                ("LINDEX", self.keys.result(runner_id, job_id), 0),
                ("GET", self.keys.spec(runner_id, job_id)),
            ]
        replies = _raise_errors(self.conn.pipeline(commands)) if commands else []
        return [dead_job(job_id, runner_id, *replies[i * 3 : i * 3 + 3]) for i, job_id in enumerate(ids)]

    def dead_retry(self, runner_id: str, job_ids: Sequence[str] | None = None) -> DeadRetried:
        """Queue dead-lettered jobs again with their deliveries reset, in one script call.

        ``job_ids``: all or none (NotDeadLettered names the first that cannot be retried);
        ``None``: every entry of the dead-letter list, skipping those that cannot be retried.
        The job is re-delivered as it was signed: workers verify it (and its age) again.
        """
        ids = list(dict.fromkeys(job_ids)) if job_ids is not None else self.dead_letters(runner_id)
        keys = [self.keys.dead(runner_id), self.keys.queue(runner_id)]
        for job_id in ids:
            keys += self._job_keys(runner_id, job_id)
        mode = "ids" if job_ids is not None else "all"
        retried, skipped = scripts.call(self.conn, "dead_retry", keys, [mode, self.events_cap, runner_id, *ids])
        pairs = [(str(skipped[i]), str(skipped[i + 1])) for i in range(0, len(skipped), 2)]
        if job_ids is not None and pairs:
            raise NotDeadLettered(pairs[0][0], runner_id, pairs[0][1])
        return DeadRetried(
            retried=[str(job_id) for job_id in retried],
            skipped=[DeadSkipped(job_id=job_id, why=why) for job_id, why in pairs],
        )

    def dead_purge(self, runner_id: str) -> DeadPurged:
        """Forget every dead-lettered job of the runner: records, result and log, as
        :meth:`delete` does, and their ids stay claimed (:data:`DELETED`) for ``id_ttl_s``.

        A job still being dead-lettered (its failure not stored yet) is left, as is one retried
        meanwhile; its id gets its runner back.
        """
        ids = self.dead_letters(runner_id)
        if not ids:
            return DeadPurged(purged=0)
        # As in delete(): the ids are marked deleted (in their own slots) before the records go.
        _raise_errors(self.conn.pipeline([("SET", self.keys.job_index(j), DELETED, "EX", self.id_ttl_s) for j in ids]))
        keys = [self.keys.dead(runner_id)]
        for job_id in ids:
            keys += self._job_keys(runner_id, job_id)
        left = [str(job_id) for job_id in scripts.call(self.conn, "dead_purge", keys, ids)]
        if left:
            restore = [("SET", self.keys.job_index(j), runner_id, "XX", "EX", self.id_ttl_s) for j in left]
            _raise_errors(self.conn.pipeline(restore))
        return DeadPurged(purged=len(ids) - len(left), left=left)

    # -- working ------------------------------------------------------------------
    def reserve(self, runner_id: str, worker_id: str, block_s: float) -> str | None:
        """Block until a job id moves into this worker's in-flight list (BLMOVE); a priority
        token is traded for its job."""
        queue, inflight = self.keys.queue(runner_id), self.keys.inflight(runner_id, worker_id)
        reply = self.call("BLMOVE", queue, inflight, "RIGHT", "LEFT", block_s, timeout_s=block_s + 10)
        if reply == PRIORITY_TOKEN:
            return self.take_priority(runner_id, worker_id)
        return None if reply is None else str(reply)

    def reserve_started(self, runner_id: str, worker_id: str, block_s: float) -> Started | None:
        """Block until a job id moves into this worker's (empty) in-flight list and start it in
        the same round trip: start.lua's head mode runs right after the BLMOVE is served.

        ``None`` when nothing came. Should other ids be in flight, the one moved is started on
        its own; should the BLMOVE time out with one id in flight, that one is started.
        """
        queue, inflight = self.keys.queue(runner_id), self.keys.inflight(runner_id, worker_id)
        affixes = self.keys.job_affixes(runner_id)
        args: list[Arg] = [worker_id, self.max_deliveries, *affixes, self.events_cap, runner_id]
        start = scripts.command("start", self._start_keys(runner_id, worker_id), args)
        conn = self.conn
        conn.send([("BLMOVE", queue, inflight, "RIGHT", "LEFT", block_s), start])
        moved, started = conn.reply(timeout_s=block_s + 10), conn.reply()
        if isinstance(moved, ReplyError):
            raise moved
        if isinstance(started, ReplyError) or not started:
            # Scripts not loaded yet (start_many loads them), or several ids in flight.
            return None if moved is None else self.start_many(runner_id, worker_id, [str(moved)])[0]
        return self.parse_start([""], [started])[0]

    def _start_keys(self, runner_id: str, worker_id: str) -> list[str]:
        keys = self.keys
        return [
            keys.inflight(runner_id, worker_id),
            keys.dead(runner_id),
            keys.priority_queue(runner_id),
            keys.events(runner_id),
            keys.stats(runner_id),
        ]

    def take_priority(self, runner_id: str, worker_id: str) -> str | None:
        """Trade a reserved priority token for the job it stands for (None: none was left)."""
        keys = [self.keys.inflight(runner_id, worker_id), self.keys.priority_queue(runner_id)]
        reply = scripts.call(self.conn, "take_priority", keys, [])
        return None if reply is None else str(reply)

    def permit(self, runner_id: str, job_id: str, starts: int, window_ms: int, member: str) -> int:
        """Ask the runner's rate limit (``starts`` in any ``window_ms``) to let a reserved job
        start: 0 when it may (its start recorded), else the ms until the window has room.
        ``member`` must be unique to this request (worker id and a counter)."""
        keys = [self.keys.rate_limit(runner_id), self.keys.job(runner_id, job_id)]
        return int(scripts.call(self.conn, "rate_limit", keys, [starts, window_ms, member, self.max_deliveries]))

    def _finish_command(
        self,
        runner_id: str,
        worker_id: str,
        results: Sequence[JobResult],
        retries: dict[str, Retry] | None = None,
    ) -> tuple[Arg, ...]:
        keys = [
            self.keys.inflight(runner_id, worker_id),
            self.keys.scheduled(runner_id),
            self.keys.events(runner_id),
            self.keys.stats(runner_id),
        ]
        args: list[Arg] = [
            worker_id,
            self.result_ttl_s,
            self.log_maxlen,
            self.keys.control(runner_id),
            self.events_cap,
            runner_id,
        ]
        for result in results:
            job_id = result.job_id
            keys += [
                self.keys.job(runner_id, job_id),
                self.keys.spec(runner_id, job_id),
                self.keys.result(runner_id, job_id),
                self.keys.log(runner_id, job_id),
            ]
            status, data = bounded_result_json(result, self.max_arg_bytes)
            retry = retries.get(job_id) if retries else None
            if retry is None:
                args += [job_id, status.value, data, "", ""]
            else:
                args += [job_id, status.value, data, retry.delay_ms, retry.history]
        return scripts.command("finish", keys, args)

    def cycle(
        self,
        runner_id: str,
        worker_id: str,
        finished: Sequence[JobResult],
        reserve: int,
        retries: dict[str, Retry] | None = None,
    ) -> tuple[list[bool], list[str]]:
        """One round trip: acknowledge ``finished`` (scheduling the ``retries``) and move up to
        ``reserve`` more job ids (without blocking) into the in-flight list. Returns (stored
        flags, reserved ids)."""
        finish = self.finish_commands(runner_id, worker_id, finished, retries)
        replies = scripts.run(self.conn, finish + self.reserve_commands(runner_id, worker_id, reserve))
        stored = self.parse_finish(replies[:1]) if finished else []
        reserved = self.parse_reserve(replies[len(finish) :])
        if len(finish) > 1:  # the WAIT after the finish
            what = f"the result of job {finished[0].job_id!r}" if len(finished) == 1 else f"{len(finished)} results"
            self.check_replicated(replies[1], what, STORED_ADVICE, (stored, reserved))
        return stored, reserved

    # Command builders and reply parsers, for callers that pipeline several steps.
    def finish_commands(
        self,
        runner_id: str,
        worker_id: str,
        results: Sequence[JobResult],
        retries: dict[str, Retry] | None = None,
    ) -> list[tuple[Arg, ...]]:
        """finish.lua's call, and with :attr:`wait_replicas` the ``WAIT`` after it (its reply
        for :meth:`check_replicated`)."""
        if not results:
            return []
        if self.wait_replicas:
            return [self._finish_command(runner_id, worker_id, results, retries), self._wait]
        return [self._finish_command(runner_id, worker_id, results, retries)]

    @staticmethod
    def parse_finish(replies: Sequence[Any]) -> list[bool]:
        """The stored flags from finish.lua's reply (the first of ``replies``)."""
        (flags,) = _raise_errors(replies[:1])
        return [flag == 1 for flag in flags]

    def reserve_commands(self, runner_id: str, worker_id: str, count: int) -> list[tuple[Arg, ...]]:
        queue, inflight = self.keys.queue(runner_id), self.keys.inflight(runner_id, worker_id)
        return [("LMOVE", queue, inflight, "RIGHT", "LEFT")] * count

    @staticmethod
    def parse_reserve(replies: Sequence[Any]) -> list[str]:
        return [str(r) for r in _raise_errors(replies) if r is not None]

    def start_commands(self, runner_id: str, worker_id: str, job_ids: Sequence[str]) -> list[tuple[Arg, ...]]:
        if not job_ids:
            return []
        keys = self._start_keys(runner_id, worker_id)
        for job_id in job_ids:
            keys += [self.keys.job(runner_id, job_id), self.keys.spec(runner_id, job_id)]
        affixes = self.keys.job_affixes(runner_id)
        args: list[Arg] = [worker_id, self.max_deliveries, *affixes, self.events_cap, runner_id, *job_ids]
        return [scripts.command("start", keys, args)]

    @staticmethod
    def parse_start(job_ids: Sequence[str], replies: Sequence[Any]) -> list[Started]:
        """start.lua's reply, one :class:`Started` per id asked (a priority token's carries the
        id it was traded for)."""
        (flat,) = _raise_errors(replies)
        return [
            Started(
                str(flat[i * 6]),
                str(flat[i * 6 + 1]),
                str(flat[i * 6 + 2] or ""),
                int(flat[i * 6 + 3]),
                int(flat[i * 6 + 4]),
                str(flat[i * 6 + 5]) if flat[i * 6 + 5] else None,
            )
            for i in range(len(job_ids))
        ]

    def start_many(self, runner_id: str, worker_id: str, job_ids: Sequence[str]) -> list[Started]:
        """Start reserved jobs in one script call (see :class:`Started`)."""
        if not job_ids:
            return []
        return self.parse_start(job_ids, scripts.run(self.conn, self.start_commands(runner_id, worker_id, job_ids)))

    def finish(self, runner_id: str, worker_id: str, result: JobResult, retry: Retry | None = None) -> bool:
        """Store the result (or schedule the ``retry``) and acknowledge; False when the job had
        already ended elsewhere."""
        retries = {result.job_id: retry} if retry is not None else None
        try:
            return self.cycle(runner_id, worker_id, [result], 0, retries)[0][0]
        except NotReplicated as exc:
            exc.value = exc.value[0][0]
            raise

    def append_log(
        self, runner_id: str, job_id: str, lines: list[str], progress: str | None = None, worker_id: str = ""
    ) -> None:
        """Add a running job's printed lines to its log stream, and with them in the same round
        trip its latest ``progress`` report (:func:`progress_value`), stored while the job runs
        on ``worker_id`` (``progress.lua``)."""
        commands: list[tuple[Arg, ...]] = []
        if lines:
            stream = self.keys.log(runner_id, job_id)
            commands += [("XADD", stream, "MAXLEN", "~", self.log_maxlen, "*", "line", line) for line in lines]
            commands.append(("EXPIRE", stream, self.result_ttl_s))
        if progress is None:
            self.conn.pipeline(commands)
            return
        commands.append(scripts.command("progress", [self.keys.job(runner_id, job_id)], [worker_id, progress]))
        scripts.run(self.conn, commands)

    def progress(self, runner_id: str, job_id: str, lines: int = 1_000) -> Progress:
        """A running job's start time, deliveries, attempts and printed lines (its first and
        last ``lines``, around a marker when more were printed; only this attempt's, after the
        stream's last ``attempt`` entry), and its signed job, for a result its worker cannot give."""
        stream = self.keys.log(runner_id, job_id)
        (started, deliveries, ended, history), size, head, tail, spec = _raise_errors(
            self.conn.pipeline(
                [
                    ("HMGET", self.keys.job(runner_id, job_id), "started_at", "deliveries", "attempts", "history"),
                    ("XLEN", stream),
                    ("XRANGE", stream, "-", "+", "COUNT", lines),
                    ("XREVRANGE", stream, "+", "-", "COUNT", lines),
                    ("GET", self.keys.spec(runner_id, job_id)),
                ]
            )
        )
        seen = {entry_id for entry_id, _ in head}
        entries = head + [entry for entry in reversed(tail) if entry[0] not in seen]
        cut, at = int(size) - 2 * lines, lines
        marks = [i for i, (_, flat) in enumerate(entries) if "attempt" in _pairs(flat)]
        if marks:  # earlier attempts printed the lines up to the last marker: not this one's
            entries, at = entries[marks[-1] + 1 :], lines - marks[-1] - 1
        text = [fields["line"] for _, flat in entries if "line" in (fields := _pairs(flat))]
        if cut > 0 and at > 0:  # the cut lies after the marker
            text.insert(at, f"…[{cut} lines cut]…")
        return Progress(
            started_at=float(started) if started else None,
            deliveries=int(deliveries or 0),
            lines=text,
            attempts=int(ended or 0) + 1,
            history=history_of(history),
            spec=None if spec is None else str(spec),
        )

    def heartbeat(
        self, runner_id: str, worker_ids: list[str], ttl_ms: int, master: tuple[str, str] | None = None
    ) -> list[str]:
        """Refresh these workers' deadlines, and with ``master`` (its id and its record, a JSON
        object) the master's record in the same script call; returns workers whose deadline has
        passed."""
        if master is None:
            if not worker_ids:
                return []
            expired = scripts.call(self.conn, "heartbeat", [self.keys.workers(runner_id)], [ttl_ms, *worker_ids])
        else:
            keys = [self.keys.workers(runner_id), self.keys.masters(runner_id)]
            expired = scripts.call(self.conn, "heartbeat", keys, [ttl_ms, *master, *worker_ids])
        return [str(w) for w in expired]

    def prune_masters(self, runner_id: str) -> list[str]:
        """Forget the records of masters whose heartbeat stopped; returns their ids."""
        return [str(m) for m in scripts.call(self.conn, "masters_prune", [self.keys.masters(runner_id)], [])]

    def forget_master(self, runner_id: str, master_id: str) -> None:
        """Remove a master's record (its clean stop)."""
        self.call("HDEL", self.keys.masters(runner_id), master_id)

    def reap(self, runner_id: str, worker_id: str, force: bool = False) -> list[str] | None:
        """Return a dead worker's reserved jobs to the queue; None if it is still alive."""
        moved = scripts.call(
            self.conn,
            "reap",
            [self.keys.workers(runner_id), self.keys.inflight(runner_id, worker_id), self.keys.queue(runner_id)],
            [worker_id, "1" if force else "0"],
        )
        if moved is None:
            return None
        events = self.keys.events(runner_id)
        args: list[Arg] = [worker_id, self.events_cap, runner_id]
        requeued = [scripts.command("requeued", [self.keys.job(runner_id, j), events], [*args, j]) for j in moved]
        scripts.run(self.conn, requeued)
        return [str(job_id) for job_id in moved]

    def register_runner(self, runner_id: str) -> None:
        self.call("SADD", self.keys.runners(), runner_id)

    def workers(self, runner_id: str) -> dict[str, float]:
        flat = self.call("ZRANGE", self.keys.workers(runner_id), 0, -1, "WITHSCORES")
        return {str(k): float(v) for k, v in _pairs(flat).items()}

    def subscribe_control(self, runner_id: str) -> RedisConnection:
        """A connection of its own subscribed to the runner's control channel (non-blocking)."""
        conn = connect(self.target)
        conn.subscribe(self.keys.control(runner_id))
        return conn
