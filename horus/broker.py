"""The Redis transport: queueing, reliable reservation, results, logs and cancel."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from redis import Redis

from horus import codec
from horus.errors import ConnectionFailed, JobNotFound, JobRejected, WaitTimeout
from horus.keys import DEFAULT_NAMESPACE, Keys
from horus.models import TERMINAL, Job, JobResult, JobStatus
from horus.scripts import Scripts

DEFAULT_RESULT_TTL_S = 86_400
#: How long a job id stays claimed (replay guard and id → runner lookup).
DEFAULT_ID_TTL_S = 7 * 86_400
DEFAULT_LOG_MAXLEN = 10_000
DEFAULT_MAX_DELIVERIES = 5


def connect(url: str) -> Redis:
    """A client for ``url`` (redis://, rediss:// or unix://) with string replies."""
    try:
        return Redis.from_url(url, decode_responses=True, health_check_interval=30)
    except ValueError as exc:
        raise ConnectionFailed(f"bad Redis URL {url!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Started:
    """What :meth:`Broker.start` hands a worker: the job JSON to run, or why not."""

    job_json: str | None
    deliveries: int = 0
    skipped: str = ""


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def result_from_hash(job_id: str, runner_id: str, data: dict[str, str]) -> JobResult:
    exit_code = data.get("exit_code")
    value = data.get("value")
    return JobResult(
        job_id=job_id,
        runner_id=runner_id,
        status=JobStatus(data.get("status", "pending")),
        output=data.get("output", ""),
        error=data.get("error") or None,
        exit_code=int(exit_code) if exit_code else None,
        started_at=_float(data.get("started_at")),
        completed_at=_float(data.get("completed_at")),
        value=codec.loads(value) if value else None,
        deliveries=int(data.get("deliveries", 0) or 0),
    )


class Broker:
    """One namespace on one Redis. Client methods first, worker methods after."""

    def __init__(
        self,
        client: Redis,  # type: ignore[type-arg,unused-ignore]
        namespace: str = DEFAULT_NAMESPACE,
        *,
        result_ttl_s: int = DEFAULT_RESULT_TTL_S,
        id_ttl_s: int = DEFAULT_ID_TTL_S,
        log_maxlen: int = DEFAULT_LOG_MAXLEN,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
    ) -> None:
        # redis-py's annotations describe bytes replies; with decode_responses they are str.
        self.redis: Any = client
        self.keys = Keys(namespace)
        self.result_ttl_s = result_ttl_s
        self.id_ttl_s = max(id_ttl_s, result_ttl_s)
        self.log_maxlen = log_maxlen
        self.max_deliveries = max_deliveries
        self.scripts = Scripts(client)

    @classmethod
    def from_url(cls, url: str, namespace: str = DEFAULT_NAMESPACE, **options: Any) -> Broker:
        return cls(connect(url), namespace, **options)

    def ping(self) -> None:
        try:
            self.redis.ping()
        except redis.ConnectionError as exc:
            raise ConnectionFailed(f"cannot reach Redis: {exc}") from None

    # -- submitting ---------------------------------------------------------------
    def enqueue(self, job: Job) -> str:
        """Queue a signed job. A job id is accepted once (``replayed_id`` otherwise)."""
        return self.enqueue_many([job])[0]

    def enqueue_many(self, jobs: Iterable[Job]) -> list[str]:
        """Queue jobs in two pipelined round trips; a batch with a replayed id queues nothing."""
        batch = list(jobs)
        with self.redis.pipeline(transaction=False) as pipe:
            for job in batch:
                pipe.set(self.keys.job_index(job.id), job.runner_id, nx=True, ex=self.id_ttl_s)
                pipe.get(self.keys.job_index(job.id))
                pipe.exists(self.keys.job(job.runner_id, job.id))
            replies = pipe.execute()
        claims = [replies[i : i + 3] for i in range(0, len(replies), 3)]
        # A claimed id with no job behind it for the same runner is an interrupted submit: resume it.
        replayed = [
            job for job, (_, owner, exists) in zip(batch, claims, strict=True) if owner != job.runner_id or exists
        ]
        if replayed:
            fresh = [self.keys.job_index(job.id) for job, (claimed, _, _) in zip(batch, claims, strict=True) if claimed]
            if fresh:
                self.redis.delete(*fresh)
            raise JobRejected("replayed_id", "id", f"job id {replayed[0].id!r} was already submitted")
        with self.redis.pipeline(transaction=False) as pipe:
            for job in batch:
                self.scripts(
                    "enqueue",
                    [self.keys.job(job.runner_id, job.id), self.keys.queue(job.runner_id)],
                    [job.id, job.model_dump_json(), job.created_at],
                    client=pipe,
                )
            created = pipe.execute()
        raced = [job.id for job, ok in zip(batch, created, strict=True) if not ok]
        if raced:
            raise JobRejected("replayed_id", "id", f"job id {raced[0]!r} was submitted concurrently")
        return [job.id for job in batch]

    # -- looking up ---------------------------------------------------------------
    def runner_of(self, job_id: str) -> str:
        runner_id = self.redis.get(self.keys.job_index(job_id))
        if runner_id is None:
            raise JobNotFound(job_id)
        return str(runner_id)

    def state(self, job_id: str) -> tuple[str, dict[str, str]]:
        runner_id = self.runner_of(job_id)
        data = self.redis.hgetall(self.keys.job(runner_id, job_id))
        if not data:
            raise JobNotFound(job_id)
        return runner_id, data

    def job(self, job_id: str) -> Job:
        _, data = self.state(job_id)
        return Job.model_validate_json(data["job"])

    def result(self, job_id: str) -> JobResult:
        runner_id, data = self.state(job_id)
        return result_from_hash(job_id, runner_id, data)

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobResult:
        """Block until the job ends; woken by Redis (BLMOVE on the result list), never polled."""
        runner_id = self.runner_of(job_id)
        notice = self.keys.result(runner_id, job_id)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            result = self.result(job_id)
            if result.status in TERMINAL:
                return result
            remaining = 0.0 if deadline is None else deadline - time.monotonic()
            if deadline is not None and remaining <= 0:
                raise WaitTimeout(f"job {job_id} still {result.status} after {timeout_s} s")
            # Rotating the list in place leaves the notice for other waiters.
            self.redis.blmove(notice, notice, remaining if deadline else 0, "LEFT", "RIGHT")

    def logs(self, job_id: str, follow: bool = False, block_ms: int = 5_000) -> Iterator[str]:
        """Output lines so far; with ``follow``, keep yielding until the job ends."""
        runner_id = self.runner_of(job_id)
        stream = self.keys.log(runner_id, job_id)
        last = "0-0"
        while True:
            reply = self.redis.xread({stream: last}, block=block_ms if follow else None)
            entries = reply[0][1] if reply else []
            for entry_id, fields in entries:
                last = entry_id
                if "eof" in fields:
                    return
                yield fields.get("line", "")
            if not follow or (not entries and self.result(job_id).status in TERMINAL):
                return

    def cancel(self, job_id: str) -> str:
        runner_id = self.runner_of(job_id)
        reply = self.scripts(
            "cancel",
            [
                self.keys.job(runner_id, job_id),
                self.keys.queue(runner_id),
                self.keys.result(runner_id, job_id),
                self.keys.log(runner_id, job_id),
                self.keys.control(runner_id),
            ],
            [job_id, self.result_ttl_s, self.log_maxlen],
        )
        if reply is None:
            raise JobNotFound(job_id)
        return str(reply)

    def queue_length(self, runner_id: str) -> int:
        return int(self.redis.llen(self.keys.queue(runner_id)))

    def dead_letters(self, runner_id: str) -> list[str]:
        return [str(x) for x in self.redis.lrange(self.keys.dead(runner_id), 0, -1)]

    # -- working ------------------------------------------------------------------
    def reserve(self, runner_id: str, worker_id: str, block_s: float) -> str | None:
        """Move the next job id into this worker's in-flight list (BLMOVE)."""
        reply = self.redis.blmove(
            self.keys.queue(runner_id), self.keys.inflight(runner_id, worker_id), block_s, "RIGHT", "LEFT"
        )
        return None if reply is None else str(reply)

    def start(self, runner_id: str, worker_id: str, job_id: str) -> Started:
        reply = self.scripts(
            "start",
            [
                self.keys.job(runner_id, job_id),
                self.keys.inflight(runner_id, worker_id),
                self.keys.dead(runner_id),
                self.keys.result(runner_id, job_id),
                self.keys.log(runner_id, job_id),
            ],
            [job_id, worker_id, self.max_deliveries, self.result_ttl_s, self.log_maxlen],
        )
        if reply[0] == "run":
            return Started(str(reply[1]), int(reply[2]))
        return Started(None, skipped=str(reply[1]))

    def finish(self, runner_id: str, worker_id: str, result: JobResult) -> bool:
        """Store the result and acknowledge; False when the job had already ended elsewhere."""
        value = "" if result.value is None else codec.dumps(result.value)
        reply = self.scripts(
            "finish",
            [
                self.keys.job(runner_id, result.job_id),
                self.keys.inflight(runner_id, worker_id),
                self.keys.result(runner_id, result.job_id),
                self.keys.log(runner_id, result.job_id),
            ],
            [
                result.job_id,
                worker_id,
                result.status.value,
                result.output,
                result.error or "",
                "" if result.exit_code is None else result.exit_code,
                value,
                self.result_ttl_s,
                self.log_maxlen,
            ],
        )
        return bool(reply)

    def append_log(self, runner_id: str, job_id: str, lines: list[str]) -> None:
        stream = self.keys.log(runner_id, job_id)
        with self.redis.pipeline(transaction=False) as pipe:
            for line in lines:
                pipe.xadd(stream, {"line": line}, maxlen=self.log_maxlen, approximate=True)
            pipe.expire(stream, self.result_ttl_s)
            pipe.execute()

    def heartbeat(self, runner_id: str, worker_ids: list[str], ttl_ms: int) -> list[str]:
        """Refresh these workers' deadlines; returns workers whose deadline has passed."""
        if not worker_ids:
            return []
        expired = self.scripts("heartbeat", [self.keys.workers(runner_id)], [ttl_ms, *worker_ids])
        return [str(w) for w in expired]

    def reap(self, runner_id: str, worker_id: str, force: bool = False) -> list[str] | None:
        """Return a dead worker's reserved jobs to the queue; None if it is still alive."""
        moved = self.scripts(
            "reap",
            [self.keys.workers(runner_id), self.keys.inflight(runner_id, worker_id), self.keys.queue(runner_id)],
            [worker_id, "1" if force else "0"],
        )
        if moved is None:
            return None
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in moved:
                self.scripts("requeued", [self.keys.job(runner_id, job_id)], [worker_id], client=pipe)
            pipe.execute()
        return [str(job_id) for job_id in moved]

    def register_runner(self, runner_id: str) -> None:
        self.redis.sadd(self.keys.runners(), runner_id)

    def workers(self, runner_id: str) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.redis.zrange(self.keys.workers(runner_id), 0, -1, withscores=True)}
