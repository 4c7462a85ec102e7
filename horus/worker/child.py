"""One worker child: reserve, start, verify, execute under a timeout, finish.

Idle, a child blocks on one job (BLMOVE) and acknowledges it at once. Under load it takes
jobs in batches that grow while jobs are fast: one round trip acknowledges the finished
jobs and reserves the next ones, another starts them. A finished job waits at most
``MAX_HOLD_S`` for its acknowledgement, and a slow job drops the batch back to one.
Under ``--rate-limit`` it takes one job at a time and asks Redis for a permit between
reserving it and starting it (docs/workers.md, "Rate limit").
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

import orjson

from horus import scripts, tracing
from horus.broker import STORED_ADVICE, Broker, Started, progress_value
from horus.errors import JobRejected, NotReplicated, TransportError
from horus.middleware import Chain, WorkerInfo
from horus.models import INPUTS_ENV, WORKFLOW_ENV, Job, JobResult, JobStatus
from horus.plugin import BaseRunner, Outcome
from horus.procutil import die_with_parent, limit_memory
from horus.resp import ReplyError
from horus.retry import Retry, history_of, log_retry, plan
from horus.tasks import Progress
from horus.trust import TrustPolicy
from horus.worker.config import RateLimit, WorkerConfig
from horus.worker.context import JobContext, JobTimeout
from horus.worker.logsink import LogSink
from horus.worker.pipeline import Pending, Pipeline
from horus.worker.slots import Slots
from horus.worker.transcript import cut_middle
from horus.worker.verify import load_verified

log = logging.getLogger("horus.worker")
T = TypeVar("T")

#: Exit codes of a child. The master acts on none of them: a job can end its process with any
#: code, so a failed runner setup is told through the announce pipe (``SETUP_FAILED``).
RET_OK = 0
RET_SETUP_FAILED = 1
RET_TRANSPORT = 4
SETUP_FAILED = "setup-failed"

RESERVE_BLOCK_S = 1.0
#: How long an exiting child keeps trying to store finished results through a Redis outage
#: (past it, those jobs go back to the queue and run again).
FINISH_RETRY_S = 30.0
MAX_BATCH = 32
#: A job shorter than this lets the batch grow; a longer one resets it to one.
FAST_JOB_S = 0.005
#: The longest a finished job's result waits to be acknowledged with others.
MAX_HOLD_S = 0.002
#: Under a rate limit, the longest a refused child sleeps before asking again (the wait Redis
#: names can grow while others take permits, or be made huge by bad entries in the key).
MAX_PERMIT_WAIT_S = 5.0
#: Up to this much more, so the children refused together do not all ask again at once.
PERMIT_JITTER_S = 0.01


class _Stop(BaseException):  # control flow, not an error
    """Raised by SIGTERM while the child is idle, to leave a blocking reserve."""


class Child:
    def __init__(
        self,
        config: WorkerConfig,
        runner: BaseRunner,
        worker_id: str,
        announce_fd: int,
        slots: Slots,
        slot: int,
        hooks: Chain | None = None,
    ) -> None:
        self.config = config
        self.runner = runner
        #: None without middleware, so a job pays one ``is None`` test for the feature.
        self.hooks = hooks or None
        self.worker_id = worker_id
        self.announce_fd = announce_fd
        self.slots = slots
        self.slot = slot
        self.policy = TrustPolicy(config.trusted_keys, config.signature_threshold)
        self.broker = Broker.from_url(
            config.redis_url,
            config.namespace,
            result_ttl_s=config.result_ttl_s,
            max_deliveries=config.max_deliveries,
            events=config.events,
            events_maxlen=config.events_maxlen,
            wait_replicas=config.wait_replicas,
            wait_timeout_ms=config.wait_timeout_ms,
        )
        #: None without a rate limit: the idle reserve then pays one ``is None`` test for it.
        self.rate = config.rate_limit
        # A rate-limited child reads no batch ahead: a job reserved early would wait for its
        # permit while other children's jobs, reserved later, start first.
        self.max_batch = 1 if self.rate is not None else MAX_BATCH
        self._permits = 0
        self.stopping = False
        # Only a blocking reserve (and a permit wait) is idle: a SIGTERM anywhere else just asks the loop to stop.
        self.idle = False
        self.done = 0
        #: Set after a job that ran out of memory here: the child takes no more jobs and is replaced.
        self.recycle = False
        self.pending: list[JobResult] = []
        #: Retries to schedule with the pending results, by job id (with the job, for the hook).
        self.retries: dict[str, tuple[Job, Retry]] = {}
        self._first_pending = 0.0
        self._side: Broker | None = None
        #: Results Redis answered with an error, with it (None: not yet tried on its own).
        self.refused: list[tuple[JobResult, ReplyError | None]] = []

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
        try:
            # Registered before reserving anything, so a reaper can find our in-flight list.
            self.broker.heartbeat(self.config.runner_id, [self.worker_id], int(self.config.heartbeat_ttl_s * 1000))
            scripts.load(self.broker.conn)
            self.broker.max_arg_bytes = self._max_arg_bytes()
        except TransportError as exc:
            log.warning("cannot reach Redis (%s); the master will start another child", exc)
            return RET_TRANSPORT
        try:
            self.runner.setup()
        except Exception:
            log.exception("runner setup failed")
            self.announce(SETUP_FAILED)
            return RET_SETUP_FAILED
        if self.hooks is not None:
            self.hooks.worker_start(self._info())
        self.pipe = Pipeline(lambda: self.broker.conn)
        try:
            self._loop()
        except _Stop:
            pass
        except TransportError as exc:
            # Whatever Redis moved into our in-flight list before the connection broke (a reply
            # lost with it included) would be stranded if we lived on: exiting lets the master
            # return it all to the queue and start a fresh child, with backoff while Redis is away.
            log.warning("lost Redis (%s); handing back unfinished jobs and restarting", exc)
            return RET_TRANSPORT
        finally:
            self._flush()
            if self.hooks is not None:
                self.hooks.worker_stop(self._info())
            self.runner.teardown()
        return RET_OK

    def _info(self) -> WorkerInfo:
        return WorkerInfo(self.config.runner_id, self.config.runner_type, self.worker_id, self.config.namespace)

    def _max_arg_bytes(self) -> int:
        """Redis's limit on one argument (a result), where the server lets us ask."""
        try:
            _, value = self.broker.call("CONFIG", "GET", "proto-max-bulk-len")
            return int(value)
        except (ReplyError, ValueError):  # CONFIG renamed or refused (managed Redis)
            return self.broker.max_arg_bytes

    def _loop(self) -> None:
        """Run jobs until told to stop or recycled.

        While a batch of fast jobs runs, the next batch (already reserved) is being started and
        the one after it reserved, and finished jobs are acknowledged without waiting: one wait
        per batch, usually for replies already there. A slow job ends the read-ahead.
        """
        batch = 1
        started: list[Started] = []
        reserved: list[str] = []
        while not self.stopping and self._allowance() > 0:
            if self.refused:
                self.pipe.settle()
                self._store_refused()
            if not started and not reserved:
                self.pipe.settle()
                first = self._reserve()
                if first is None:
                    batch = 1
                    continue
                started = [first]
            if not started:
                started, reserved = self._start_and_reserve(reserved, self._ahead(batch, 0)).result()
            ahead = self._start_and_reserve(reserved, self._ahead(batch, len(started)))
            fast = self._run_batch(started)
            if not fast:
                batch = 1
            elif len(started) >= batch:
                batch = min(batch * 2, self.max_batch)
            started, reserved = ahead.result()
        if started and not self.stopping:
            # Recycling with jobs started ahead: run them rather than hand them back, which would
            # count a lost delivery against each. Ids only reserved go back to the queue as they are.
            self._run_batch(started)

    def _ahead(self, batch: int, running: int) -> int:
        """How many more ids to reserve now: none unless jobs are fast, never past recycling."""
        return max(0, min(batch, self._allowance() - running)) if batch > 1 else 0

    def _start_and_reserve(self, job_ids: list[str], count: int) -> Pending[tuple[list[Started], list[str]]]:
        runner, worker = self.config.runner_id, self.worker_id
        commands = self.broker.start_commands(runner, worker, job_ids) + self.broker.reserve_commands(
            runner, worker, count
        )
        split = 1 if job_ids else 0

        def parse(replies: list[Any]) -> tuple[list[Started], list[str]]:
            started = self.broker.parse_start(job_ids, replies[:split]) if job_ids else []
            return started, self.broker.parse_reserve(replies[split:])

        return self.pipe.send(commands, parse)

    def _allowance(self) -> int:
        """Jobs this child may still take before it is recycled."""
        limit = self.config.max_jobs_per_child
        ceiling = self.config.max_memory_per_child_mb
        if self.recycle or (ceiling and rss_mb() > ceiling):
            return 0
        return limit - self.done if limit else MAX_BATCH

    def _run_batch(self, batch: list[Started]) -> bool:
        """Run started jobs in order; True when every one was fast."""
        fast = True
        for started in batch:
            if self.stopping:
                break  # the rest stay in our in-flight list; the master returns them to the queue
            began = time.monotonic()
            result = self.process(started)
            if result is not None:
                self.pending.append(result)
                self.done += 1
            if time.monotonic() - began > FAST_JOB_S:
                fast = False
            if self.pending and (not fast or time.monotonic() - self._first_pending > MAX_HOLD_S):
                self._send_finished()
        self._send_finished()
        return fast

    def _send_finished(self) -> None:
        """Acknowledge finished jobs without waiting for the reply."""
        if self.pending:
            results, self.pending = self.pending, []
            retries = self._take_retries(results)
            self.pipe.send(
                self.broker.finish_commands(self.config.runner_id, self.worker_id, results, plans(retries)),
                lambda replies: self._on_finished(results, replies, retries),
            )

    def _take_retries(self, results: list[JobResult]) -> dict[str, tuple[Job, Retry]]:
        if not self.retries:
            return {}
        return {r.job_id: self.retries.pop(r.job_id) for r in results if r.job_id in self.retries}

    def _on_finished(
        self, results: list[JobResult], replies: list[Any], retries: dict[str, tuple[Job, Retry]] | None = None
    ) -> None:
        if isinstance(replies[0], ReplyError):
            self._refuse(results, replies[0])
            return
        stored = self.broker.parse_finish(replies)
        if len(replies) > 1:  # the WAIT after the finish (wait_replicas)
            self._check_replicated(results, replies[1])
        self._report_dropped(results, stored)
        if retries:
            self._report_retries(results, stored, retries)

    def _check_replicated(self, results: list[JobResult], waited: Any) -> None:
        """A finish too few replicas confirmed is stored on the master: a warning, and the
        jobs are not run again (docs/scaling.md, "Failover")."""
        try:
            what = f"the result of job {results[0].job_id!r}" if len(results) == 1 else f"{len(results)} results"
            self.broker.check_replicated(waited, what, STORED_ADVICE)
        except NotReplicated as exc:
            log.warning("%s", exc)

    def _report_retries(
        self, results: list[JobResult], stored: list[bool], retries: dict[str, tuple[Job, Retry]]
    ) -> None:
        for result, ok in zip(results, stored, strict=True):
            if ok and result.job_id in retries:
                job, retry = retries[result.job_id]
                log_retry(result, retry)
                if self.hooks is not None:
                    self.hooks.retry(job, result, retry.delay_ms / 1000)

    def _refuse(self, results: list[JobResult], error: ReplyError) -> None:
        """Redis answered a finish with an error: no connection was lost, so running the jobs
        again would end the same way. Each result is tried on its own; one refused alone is
        replaced by a failed result naming Redis's reason (stored by :meth:`_store_refused`)."""
        log.warning("Redis refused %d result(s): %s", len(results), error)
        if len(results) == 1:
            self.refused.append((results[0], error))
        else:
            self.refused += [(result, None) for result in results]

    def _store_refused(self) -> None:
        """Store the refused results, synchronously (nothing else may be in flight). Each entry
        is dropped once done, so after a broken connection a retry goes on where it stopped."""
        runner, worker = self.config.runner_id, self.worker_id
        while self.refused:
            result, error = self.refused[0]
            if error is not None:
                result = refused_result(result, error)
            try:
                stored = self.broker.finish(runner, worker, result)
            except NotReplicated as exc:
                log.warning("%s", exc)
                stored = bool(exc.value)
            except ReplyError as exc:
                if error is None:
                    self.refused[0] = (result, exc)
                    continue
                log.error("job %s: Redis refused even its failure (%s); it stays in flight", result.job_id, exc)
                stored = True
            self.refused.pop(0)
            self._report_dropped([result], [stored])

    # -- Redis steps -----------------------------------------------------------------
    def _reserve(self) -> Started | None:
        """The next job, started, blocking up to RESERVE_BLOCK_S (then up to its rate-limit
        permit); the only place SIGTERM interrupts."""
        self.idle = True
        try:
            if self.rate is None:
                return self.broker.reserve_started(self.config.runner_id, self.worker_id, RESERVE_BLOCK_S)
            return self._reserve_limited(self.rate)
        except _Stop:
            self.broker.conn.close()  # its replies are still on the way: no later call may read them
            raise
        finally:
            self.idle = False

    def _reserve_limited(self, rate: RateLimit) -> Started | None:
        """Reserve a job, wait for its permit, then start it: three round trips. A SIGTERM
        while waiting leaves the job reserved and not started, and the master returns it to
        the queue. A job start.lua will not run takes no permit (rate_limit.lua)."""
        runner, worker = self.config.runner_id, self.worker_id
        job_id = self.broker.reserve(runner, worker, RESERVE_BLOCK_S)
        if job_id is None:
            return None
        while True:
            self._permits += 1
            wait_ms = self.broker.permit(runner, job_id, rate.starts, rate.window_ms, f"{worker}:{self._permits}")
            if wait_ms <= 0:
                break
            time.sleep(min(wait_ms / 1000, MAX_PERMIT_WAIT_S) + random.uniform(0, PERMIT_JITTER_S))
        return self.broker.start_many(runner, worker, [job_id])[0]

    def _flush(self) -> None:
        """Store what has finished, riding out a short Redis outage; called on the way out."""
        with contextlib.suppress(TransportError):
            self.pipe.settle()
        results, self.pending = self.pending, []
        try:
            if results:
                retries = self._take_retries(results)
                try:
                    stored = self._with_retry(lambda: self._store(results, retries))
                    self._report_dropped(results, stored)
                    if retries:
                        self._report_retries(results, stored, retries)
                except ReplyError as exc:
                    self._refuse(results, exc)
            if self.refused:
                self._with_retry(self._store_refused)
        except TransportError:
            left = len(results) + len(self.refused)
            log.warning("could not store %d result(s); their jobs will run again", left)

    def _store(self, results: list[JobResult], retries: dict[str, tuple[Job, Retry]]) -> list[bool]:
        """Store finished results now: the stored flags. One too few replicas confirmed is
        stored on the master all the same: a warning (docs/scaling.md, "Failover")."""
        try:
            stored, _ = self.broker.cycle(self.config.runner_id, self.worker_id, results, 0, plans(retries))
        except NotReplicated as exc:
            log.warning("%s", exc)
            stored, _ = exc.value
        return stored

    def _with_retry(self, step: Callable[[], T]) -> T:
        delay, deadline = 0.1, time.monotonic() + FINISH_RETRY_S
        while True:
            try:
                return step()
            except (ReplyError, NotReplicated):
                raise  # an answer, not an outage: asking again gets the same one (or stores twice)
            except TransportError as exc:
                # Until results are stored their jobs stay in our in-flight list: if we give up
                # (or die), the master returns them to the queue and they run again.
                if time.monotonic() > deadline:
                    raise
                log.warning("storing results failed (%s); retrying", exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    @staticmethod
    def _report_dropped(results: list[JobResult], stored: list[bool]) -> None:
        for result, ok in zip(results, stored, strict=True):
            if not ok:
                log.info("job %s had already ended elsewhere; its result was dropped", result.job_id)

    # -- one job -------------------------------------------------------------------
    def process(self, started: Started) -> JobResult | None:
        job_id = started.job_id
        if started.verdict == "skip":
            log.info("job %s skipped: already ended or unknown", job_id)
            return None
        began = time.time()
        if started.verdict != "run":
            return self._not_run(started, began)
        try:
            job = load_verified(
                started.job_json,
                job_id,
                self.config.runner_id,
                self.policy,
                self.config.max_job_age_s,
                self.config.max_clock_skew_s,
            )
        except JobRejected as exc:
            log.warning("job %s refused: %s", job_id, exc)
            return self._result(job_id, Outcome.failed(f"rejected ({exc.code}): {exc}"), began, started)
        except Exception as exc:  # a malformed job must fail alone, never take the child down
            log.exception("job %s could not be checked", job_id)
            return self._result(job_id, Outcome.failed(f"rejected: could not check the job: {exc}"), began, started)
        if WORKFLOW_ENV in job.env_vars and INPUTS_ENV not in job.env_vars:
            self._add_inputs(job)
        deadline = time.monotonic() + job.timeout
        self.slots.publish(self.slot, job_id, deadline)
        attempt = started.attempts + 1
        # The log thread gets a connection of its own (connections are per thread).
        sink = LogSink(self._log_sender(job_id, attempt), self.config.max_output_bytes, self.broker.connections.release)
        ctx = JobContext(
            job,
            self.config.runner_id,
            self.worker_id,
            deadline,
            sink,
            self.announce,
            attempt,
            sink.progress,
            redis_url=self.config.redis_url,
            namespace=self.config.namespace,
        )
        # Only now, the job verified, may its traceparent parent a span.
        traced = (
            tracing.start_execution(job, self.config.runner_id, self.worker_id, attempt) if tracing.AVAILABLE else None
        )
        if traced is None:
            result, ran = self._run(job, ctx, sink, began, started)
        else:
            result, ran = self._run_traced(traced, job, ctx, sink, began, started)
        if job.retries and ran:  # a job a middleware refused (SkipJob) is not retried
            retry = plan(job.__dict__, result)
            if retry is not None:
                self.retries[job_id] = (job, retry)
        return result

    def _log_sender(self, job_id: str, attempt: int) -> Callable[[list[str], Progress | None], None]:
        runner, worker = self.config.runner_id, self.worker_id

        def send(lines: list[str], progress: Progress | None) -> None:
            if progress is None:
                self.broker.append_log(runner, job_id, lines)
            else:
                report = progress_value(progress.percent, progress.message, attempt)
                self.broker.append_log(runner, job_id, lines, report, worker)

        return send

    def _run(self, job: Job, ctx: JobContext, sink: LogSink, began: float, started: Started) -> tuple[JobResult, bool]:
        if self.hooks is not None:
            return self._run_hooked(self.hooks, job, ctx, sink, began, started)
        result = self._end(job, ctx, sink, self.execute(job, ctx, sink), began, started)
        self.slots.clear(self.slot)
        return result, True

    def _run_traced(
        self, traced: tracing.Execution, job: Job, ctx: JobContext, sink: LogSink, began: float, started: Started
    ) -> tuple[JobResult, bool]:
        try:
            result, ran = self._run(job, ctx, sink, began, started)
        except BaseException as exc:
            tracing.end_execution(traced, None, exc)
            raise
        tracing.end_execution(traced, result)
        return result, ran

    def _run_hooked(
        self, hooks: Chain, job: Job, ctx: JobContext, sink: LogSink, began: float, started: Started
    ) -> tuple[JobResult, bool]:
        """Run the job between the middleware's before and after hooks: its result, and whether
        it ran (False: a middleware refused it). Both hooks run while the slot shows the job, so
        the master's hard deadline also ends a hook that hangs."""
        entered, refusal = hooks.before(job, ctx)
        outcome = self.execute(job, ctx, sink) if refusal is None else Outcome.failed(refusal)
        result = self._end(job, ctx, sink, outcome, began, started)
        hooks.after(job, ctx, result, entered)
        self.slots.clear(self.slot)
        return result, refusal is None

    def _end(
        self, job: Job, ctx: JobContext, sink: LogSink, outcome: Outcome, began: float, started: Started
    ) -> JobResult:
        if outcome.status is JobStatus.TIMEOUT:  # a runner that timed out its own subprocess
            ctx.kill_process_groups()
        if outcome.recycle and not self.recycle:
            log.warning("job %s ran out of memory; this child takes no more jobs and is replaced", job.id)
            self.recycle = True
        if ctx.announced_groups:  # the master kills a child's groups on timeout or cancel: not stale ones
            self.announce("pgclear")
        sink.close()
        return self._result(job.id, outcome, began, started)

    def _not_run(self, started: Started, began: float) -> JobResult:
        """A job the start script ended instead of running: cancelled before it started, or
        dead-lettered (delivered more than max_deliveries times, its worker lost each time)."""
        if started.verdict == "cancelled":
            outcome = Outcome(JobStatus.CANCELLED, error="cancelled before it started")
        else:
            outcome = Outcome.failed(
                f"dead-lettered: delivered {started.deliveries - 1} times without "
                "finishing (its worker was lost each time)"
            )
            if self.hooks is not None:
                self.hooks.dead_letter(started.job_id, str(outcome.error))
        return self._result(started.job_id, outcome, began, started)

    def _add_inputs(self, job: Job) -> None:
        """A workflow step signed by its submitter: its upstream results wait at the job's inputs
        key (data from Redis, as trusted as the results they come from; docs/workflows.md)."""
        if self._side is None:  # the main connection has pipelined replies in flight
            self._side = Broker.from_url(self.config.redis_url, self.config.namespace, events=self.config.events)
        raw = self._side.call("GET", self._side.keys.inputs(self.config.runner_id, job.id))
        if raw is not None:
            job.env_vars[INPUTS_ENV] = str(raw)

    def _result(self, job_id: str, outcome: Outcome, began: float, started: Started) -> JobResult:
        if not self.pending:
            self._first_pending = time.monotonic()
        cap = self.config.max_output_bytes
        result = JobResult(
            job_id=job_id,
            runner_id=self.config.runner_id,
            status=outcome.status,
            output=cut_middle(outcome.output, cap),
            error=cut_middle(outcome.error, cap) if outcome.error else outcome.error,
            exit_code=outcome.exit_code,
            value=kept_value(outcome.value, cap),
            started_at=began,
            completed_at=time.time(),
            deliveries=started.deliveries,
        )
        if outcome.traceback:
            result.traceback = cut_middle(outcome.traceback, cap)
        if started.attempts:  # a retry: set after validation, which a first attempt need not pay for
            result.attempts = started.attempts + 1
            result.history = history_of(started.history)
        return result

    def execute(self, job: Job, ctx: JobContext, sink: LogSink) -> Outcome:
        """Run the job; an ending the runner did not report keeps what the job printed."""
        try:
            signal.setitimer(signal.ITIMER_REAL, job.timeout)
            try:
                return self.runner.execute(job, ctx)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except JobTimeout:
            ctx.kill_process_groups()
            return Outcome(JobStatus.TIMEOUT, output=sink.printed(), error=f"timed out after {job.timeout} s")
        except (Exception, SystemExit) as exc:  # sys.exit() in a job ends the job, not its worker
            summary = traceback.format_exception_only(exc)[-1].strip()
            described = self._describe(exc)
            if described:  # one record: the operator's log keeps the summary with its traceback
                log.warning("job %s raised %s\n%s", job.id, summary, described)
            else:
                log.warning("job %s raised %s", job.id, summary)
            if self.hooks is not None:
                self.hooks.error(job, ctx, exc)
            return Outcome.failed(summary, output=sink.printed(), traceback=described, recycle=out_of_memory(exc))

    def _describe(self, exc: BaseException) -> str | None:
        try:
            return self.runner.describe_error(exc)
        except Exception:  # a runner's own bug must not take the failure's result with it
            log.exception("runner %s could not describe an error", self.config.runner_type)
            return None


def out_of_memory(exc: BaseException) -> bool:
    """Whether the job's error is, or was raised while handling, a ``MemoryError``: the process
    hit its memory limit (``--max-job-memory``), and its heap may stay grown or fragmented."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MemoryError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def plans(retries: dict[str, tuple[Job, Retry]]) -> dict[str, Retry] | None:
    return {job_id: retry for job_id, (_, retry) in retries.items()} if retries else None


def kept_value(value: Any, limit: int) -> Any:
    """The value, unless its JSON is larger than ``limit`` bytes (its text is in the output)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    try:
        size = len(value) if isinstance(value, str) else len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return value  # the result's own serializer decides
    return None if size > limit else value


def refused_result(result: JobResult, error: ReplyError) -> JobResult:
    """The failure stored in place of a result Redis refused: its times, without its data."""
    return result.model_copy(
        update={
            "status": JobStatus.FAILED,
            "output": "",
            "value": None,
            "error": f"the job ended ({result.status.value}) but Redis refused its result: {error}",
        }
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1_048_576


def child_main(
    config: WorkerConfig,
    runner: BaseRunner,
    worker_id: str,
    announce_fd: int,
    slots: Slots,
    slot: int,
    master_pid: int,
    hooks: Chain | None = None,
) -> int:
    """Entry point in the forked child; never returns into the master's code."""
    os.setpgid(0, 0)
    die_with_parent(master_pid)
    limit_memory(config.max_job_memory_mb)
    return Child(config, runner, worker_id, announce_fd, slots, slot, hooks).run()
