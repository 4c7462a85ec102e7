"""A client that talks straight to Redis: submit signed jobs, wait, read results and logs."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from nacl.signing import SigningKey

from horus import inspect, tracing
from horus.admission import admit, parse_job, prepare
from horus.broker import Broker
from horus.deadletter import PAGE_DEFAULT, DeadJob, DeadPage, DeadPurged, DeadRetried, dead_page
from horus.errors import WaitTimeout
from horus.inspect import ActiveJob, QueueInfo, WorkerInfo
from horus.keys import DEFAULT_NAMESPACE
from horus.models import Job, JobResult, JobStatusInfo
from horus.signing import Signer
from horus.trust import DEFAULT_MAX_AGE_S

if TYPE_CHECKING:
    from opentelemetry.trace import Span


class RedisClient:
    """Submits jobs into a namespace's runner queues; every job is signed before it leaves."""

    def __init__(
        self,
        redis_url: str,
        namespace: str = DEFAULT_NAMESPACE,
        key: SigningKey | None = None,
        max_age_s: int = DEFAULT_MAX_AGE_S,
        events: bool | None = None,
        wait_replicas: int | None = None,
    ) -> None:
        #: ``events``: record job events and counters (None: HORUS_EVENTS, on by default).
        #: ``wait_replicas``: replicas each submission waits for (None: HORUS_WAIT_REPLICAS, 0;
        #: NotReplicated when fewer confirm it, docs/scaling.md "Failover").
        self.broker = Broker.from_url(redis_url, namespace, events=events, wait_replicas=wait_replicas)
        self.key = key
        self.signer = Signer(key) if key is not None else None
        self.max_age_s = max_age_s

    def build(self, job: Job | dict[str, Any] | str | bytes, span: Span | None = None) -> Job:
        """Parse, take the trace context (``span``'s, else the current one's) unless the job has
        one, sign with the client's key when needed, and run the admission checks."""
        owned = not isinstance(job, Job)
        parsed = tracing.stamp(job if isinstance(job, Job) else parse_job(job), span, owned)
        return admit(prepare(parsed, self.signer, owned), max_age_s=self.max_age_s)

    def submit(self, job: Job | dict[str, Any] | str | bytes) -> str:
        with tracing.submit_span() as span:
            return self.broker.enqueue(self.build(job, span))

    def submit_many(self, jobs: Iterable[Job | dict[str, Any] | str | bytes]) -> list[str]:
        """Sign and queue many jobs in two pipelined round trips."""
        if not tracing.AVAILABLE:
            return self.broker.enqueue_many([self.build(job) for job in jobs])
        given = list(jobs)
        parsed = [job if isinstance(job, Job) else parse_job(job) for job in given]
        owned = [not isinstance(job, Job) for job in given]
        return tracing.submit_spans(
            parsed, owned, lambda stamped: self.broker.enqueue_many(self._built(stamped, owned))
        )

    def _built(self, jobs: list[Job], owned: list[bool]) -> list[Job]:
        return [
            admit(prepare(job, self.signer, own), max_age_s=self.max_age_s)
            for job, own in zip(jobs, owned, strict=True)
        ]

    def run(self, job: Job | dict[str, Any] | str | bytes, wait_s: float | None = None) -> JobResult:
        """Submit and wait for the result; raises WaitTimeout naming the time really waited."""
        with tracing.submit_span() as span:
            return self._run(self.build(job, span), wait_s)

    def _run(self, built: Job, wait_s: float | None) -> JobResult:
        started = time.monotonic()
        try:
            return self.broker.run(built, wait_s)
        except WaitTimeout:
            status = self.broker.result(built.id).status.value
            waited = time.monotonic() - started
            raise WaitTimeout(f"job {built.id} still {status} after {waited:.1f} s") from None

    def serving(self, runner_id: str) -> bool:
        """Whether a worker of this runner has a heartbeat deadline in the future (Redis clock)."""
        (seconds, micros), alive = self.broker.conn.pipeline(
            [("TIME",), ("ZRANGE", self.broker.keys.workers(runner_id), 0, 0, "REV", "WITHSCORES")]
        )
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        return bool(alive) and float(alive[1]) > now_ms

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobResult:
        return self.broker.wait(job_id, timeout_s)

    def result(self, job_id: str) -> JobResult:
        return self.broker.result(job_id)

    def job(self, job_id: str) -> Job:
        return self.broker.job(job_id)

    def status(self, job_id: str) -> dict[str, Any]:
        """Status and metadata, shaped like the supervisor's ``job.status``."""
        result, job = self.broker.result(job_id), self.broker.job(job_id)
        return JobStatusInfo.of(job, result, self.broker.owner(job_id)).model_dump(mode="json")

    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        return self.broker.logs(job_id, follow)

    def cancel(self, job_id: str) -> str:
        return self.broker.cancel(job_id)

    def delete(self, job_id: str) -> None:
        """Forget an ended job (a queued or running one raises JobActive: cancel it first)."""
        self.broker.delete(job_id)

    def inspect_workers(self, runner_id: str | None = None) -> list[WorkerInfo]:
        """Each live worker master with the jobs it runs now."""
        return inspect.workers(self.broker, runner_id)

    def inspect_active(self, runner_id: str | None = None) -> list[ActiveJob]:
        """The jobs running now on live workers."""
        return inspect.active(self.broker, runner_id)

    def inspect_queues(self, runner_id: str | None = None) -> list[QueueInfo]:
        """Each runner's queue depth, in flight, scheduled and dead counts, live workers."""
        return inspect.queues(self.broker, runner_id)

    def dead_list(self, runner_id: str) -> list[DeadJob]:
        """The runner's dead-lettered jobs, the latest first."""
        return self.broker.dead_list(runner_id)

    def dead_page(self, runner_id: str, limit: int = PAGE_DEFAULT, cursor: int = 0) -> DeadPage:
        """A page of :meth:`dead_list`: pass its ``next_cursor`` back as ``cursor`` (null: the end)."""
        return dead_page(self.broker, runner_id, cursor, limit)

    def dead_retry(self, runner_id: str, job_ids: list[str] | None = None) -> DeadRetried:
        """Queue dead-lettered jobs again: ``job_ids`` all or none (NotDeadLettered), or every
        entry when None. Workers verify the jobs (signature, max_job_age) again."""
        return self.broker.dead_retry(runner_id, job_ids)

    def dead_purge(self, runner_id: str) -> DeadPurged:
        return self.broker.dead_purge(runner_id)

    def close(self) -> None:
        self.broker.close()

    def __enter__(self) -> RedisClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
