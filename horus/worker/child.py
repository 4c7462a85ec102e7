"""One worker child: reserve, start, verify, execute under a timeout, finish."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import traceback
from types import FrameType

import redis
from pydantic import ValidationError

from horus.broker import Broker
from horus.errors import JobRejected
from horus.models import Job, JobResult, JobStatus
from horus.plugin import BaseRunner, Outcome
from horus.procutil import die_with_parent
from horus.trust import TrustPolicy
from horus.worker.config import WorkerConfig
from horus.worker.context import JobContext, JobTimeout
from horus.worker.logsink import LogSink

log = logging.getLogger("horus.worker")

#: Exit codes a child reports to its master.
RET_OK = 0
RET_SETUP_FAILED = 3

RESERVE_BLOCK_S = 1.0
#: How long a child keeps trying to store a result through a Redis outage.
FINISH_RETRY_S = 300.0


class _Stop(BaseException):
    """Raised by SIGTERM while the child is idle, to leave a blocking reserve."""


class Child:
    def __init__(self, config: WorkerConfig, runner: BaseRunner, worker_id: str, announce_fd: int) -> None:
        self.config = config
        self.runner = runner
        self.worker_id = worker_id
        self.announce_fd = announce_fd
        self.policy = TrustPolicy(config.trusted_keys, config.signature_threshold)
        self.broker = Broker.from_url(
            config.redis_url,
            config.namespace,
            result_ttl_s=config.result_ttl_s,
            max_deliveries=config.max_deliveries,
        )
        self.stopping = False
        self.idle = True
        self._outages = 0

    # -- signals -------------------------------------------------------------------
    def _on_term(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        if self.idle:
            raise _Stop

    @staticmethod
    def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
        raise JobTimeout

    def announce(self, message: str) -> None:
        # If the master is gone the write fails; die_with_parent ends us shortly.
        with contextlib.suppress(OSError):
            os.write(self.announce_fd, (message + "\n").encode())

    # -- main loop -----------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, self._on_alarm)
        # Registered before reserving anything, so a reaper can find our in-flight list.
        self.broker.heartbeat(self.config.runner_id, [self.worker_id], int(self.config.heartbeat_ttl_s * 1000))
        try:
            self.runner.setup()
        except Exception:
            log.exception("runner setup failed")
            return RET_SETUP_FAILED
        done = 0
        try:
            while not self.stopping and not self._should_recycle(done):
                job_id = self._reserve()
                if job_id is None:
                    continue
                self.idle = False
                self.process(job_id)
                done += 1
                self.idle = True
        except _Stop:
            pass
        finally:
            self.runner.teardown()
        return RET_OK

    def _reserve(self) -> str | None:
        """The next job id, or None; rides out a Redis outage with backoff instead of exiting."""
        try:
            job_id = self.broker.reserve(self.config.runner_id, self.worker_id, RESERVE_BLOCK_S)
        except redis.RedisError as exc:
            self._outages += 1
            if self._outages == 1:
                log.warning("Redis unavailable (%s); retrying", exc)
            time.sleep(min(5.0, 0.1 * 2 ** min(self._outages, 6)))
            return None
        if self._outages:
            log.info("Redis is back")
            self._outages = 0
        return job_id

    def _should_recycle(self, done: int) -> bool:
        limit = self.config.max_jobs_per_child
        if limit and done >= limit:
            return True
        ceiling = self.config.max_memory_per_child_mb
        return bool(ceiling) and rss_mb() > ceiling

    # -- one job -------------------------------------------------------------------
    def process(self, job_id: str) -> None:
        runner_id = self.config.runner_id
        started = self.broker.start(runner_id, self.worker_id, job_id)
        if started.job_json is None:
            log.info("job %s skipped: %s", job_id, started.skipped)
            return
        started_at = time.time()
        try:
            job = self.admit(job_id, started.job_json)
        except JobRejected as exc:
            log.warning("job %s refused: %s", job_id, exc)
            self._finish(job_id, Outcome.failed(f"rejected ({exc.code}): {exc}"), started_at)
            return
        deadline = time.monotonic() + job.timeout
        self.announce(f"run {job_id} {deadline:.3f}")
        sink = LogSink(lambda lines: self.broker.append_log(runner_id, job_id, lines))
        ctx = JobContext(job, runner_id, self.worker_id, deadline, sink, self.announce)
        outcome = self.execute(job, ctx)
        sink.close()
        self._finish(job_id, outcome, started_at)
        self.announce("idle")

    def admit(self, job_id: str, job_json: str) -> Job:
        """The runner's own checks: the stored job is well-formed, meant for us, signed by a key we trust."""
        try:
            job = Job.model_validate_json(job_json)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "job"
            raise JobRejected("invalid_field", field, str(first["msg"])) from None
        if job.id != job_id:
            raise JobRejected("invalid_field", "id", f"stored job has id {job.id!r}, queued as {job_id!r}")
        if job.runner_id != self.config.runner_id:
            raise JobRejected("invalid_field", "runner_id", f"job is for runner {job.runner_id!r}")
        age = time.time() - job.created_at
        if age > self.config.max_job_age_s:
            raise JobRejected(
                "stale",
                "created_at",
                f"job is {int(age)} s old; this runner runs jobs up to {self.config.max_job_age_s} s old",
            )
        self.policy.verify(job)
        return job

    def execute(self, job: Job, ctx: JobContext) -> Outcome:
        try:
            signal.setitimer(signal.ITIMER_REAL, job.timeout)
            try:
                return self.runner.execute(job, ctx)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except JobTimeout:
            ctx.kill_process_groups()
            return Outcome(JobStatus.TIMEOUT, error=f"timed out after {job.timeout} s")
        except Exception as exc:
            summary = traceback.format_exception_only(exc)[-1].strip()
            log.warning("job %s raised %s", job.id, summary)
            return Outcome.failed(summary)

    def _finish(self, job_id: str, outcome: Outcome, started_at: float) -> None:
        result = JobResult(
            job_id=job_id,
            status=outcome.status,
            output=outcome.output,
            error=outcome.error,
            exit_code=outcome.exit_code,
            value=outcome.value,
            started_at=started_at,
        )
        delay = 0.1
        deadline = time.monotonic() + FINISH_RETRY_S
        while True:
            try:
                stored = self.broker.finish(self.config.runner_id, self.worker_id, result)
                break
            except redis.RedisError as exc:
                # Until it is stored the job stays in our in-flight list: if we give up (or die),
                # the master returns it to the queue and it runs again.
                if time.monotonic() > deadline:
                    raise
                log.warning("storing the result of job %s failed (%s); retrying", job_id, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if not stored:
            log.info("job %s had already ended elsewhere; result dropped", job_id)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1_048_576


def child_main(config: WorkerConfig, runner: BaseRunner, worker_id: str, announce_fd: int) -> int:
    """Entry point in the forked child; never returns into the master's code."""
    os.setpgid(0, 0)
    die_with_parent()
    return Child(config, runner, worker_id, announce_fd).run()
