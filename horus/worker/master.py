"""The prefork master: forks children, replaces the dead, enforces hard deadlines and cancels,
heartbeats for its children, reaps dead workers, and shuts down warm then cold."""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import time
from dataclasses import dataclass, field
from types import FrameType

import orjson

from horus import __version__
from horus.broker import Broker
from horus.errors import ConfigError, NotReplicated, TransportError
from horus.middleware import Chain
from horus.models import Job, JobResult, JobStatus
from horus.plugin import BaseRunner
from horus.resp import RedisConnection
from horus.retry import log_retry, plan
from horus.worker.child import SETUP_FAILED, child_main
from horus.worker.config import WorkerConfig
from horus.worker.context import kill_groups_and_wait
from horus.worker.metrics import MetricsServer, WorkerStats, worker_registry
from horus.worker.slots import Slots
from horus.worker.startup import patiently
from horus.worker.transcript import cut_middle

log = logging.getLogger("horus.worker")

RET_OK = 0
RET_CHILD_SETUP = 3
#: A child exiting with an error sooner than this after its start counts as a quick failure.
QUICK_EXIT_S = 2.0
MAX_RESPAWN_DELAY_S = 10.0
#: How long a cancel waits for its job to start running in one of our children.
CANCEL_WINDOW_S = 60.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
#: release.lua calls per tick at most, so a flood of due jobs does not hold up the loop.
RELEASE_ROUNDS = 10


@dataclass
class ChildState:
    pid: int
    worker_id: str
    fd: int
    slot: int
    buffer: bytes = b""
    process_groups: set[int] = field(default_factory=set)
    killed_for: JobStatus | None = None
    started: float = 0.0
    setup_failed: bool = False


class Master:
    def __init__(self, config: WorkerConfig, runner: BaseRunner, hooks: Chain | None = None) -> None:
        self.config = config
        self.runner = runner
        self.hooks = hooks or None
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
        self.host = socket.gethostname()
        self.children: dict[int, ChildState] = {}
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.control: RedisConnection | None = None
        self.control_fd = -1
        self.pending_cancels: dict[str, float] = {}  # job id -> until when to look for it
        self.shutdown_at: float | None = None
        self.stop_signals = 0
        self.cold = False
        self.exit_code = RET_OK
        self.next_heartbeat = 0.0
        #: When to move the runner's due scheduled jobs into its queue next (monotonic).
        self.next_release = 0.0
        self.slots = Slots(config.concurrency)
        self.free_slots = list(range(config.concurrency))
        self.respawn_at: list[float] = []
        self.quick_failures = 0
        self.unreaped: set[str] = set()
        self.pruned = False
        self.metrics: MetricsServer | None = None
        self.master_id = f"{self.host}:{os.getpid()}"
        #: What the master's record in Redis says besides its heartbeat (docs/protocol.md):
        #: built once, so a heartbeat only sends it along.
        self.record = orjson.dumps(
            {
                "master_id": self.master_id,
                "host": self.host,
                "pid": os.getpid(),
                "runner_id": config.runner_id,
                "runner_type": config.runner_type,
                "concurrency": config.concurrency,
                "started_at": round(time.time(), 3),
                "version": __version__,
            }
        ).decode()

    # -- lifecycle ---------------------------------------------------------------
    def run(self) -> int:
        self._reach_redis()
        self._install_signals()
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        if self.config.metrics_port is not None:
            self._serve_metrics(self.config.metrics_host, self.config.metrics_port)
        # The master has no threads, so forking a child can never copy a lock some thread held.
        self._connect_control()
        log.info(
            "worker %s for runner %r: %d children of type %r",
            os.getpid(),
            self.config.runner_id,
            self.config.concurrency,
            self.config.runner_type,
        )
        for _ in range(self.config.concurrency):
            self._spawn()
        while self.children or self.shutdown_at is None:
            self._tick()
        self._heartbeat(final=True)
        if self.metrics is not None:
            self.metrics.shut()
        log.info("worker %s stopped", os.getpid())
        return self.exit_code

    def _reach_redis(self) -> None:
        def first_contact() -> None:
            self.broker.ping()
            self.broker.register_runner(self.config.runner_id)

        patiently(first_contact)

    def _tick(self) -> None:
        now = time.monotonic()
        timeout = max(0.0, min(self.next_heartbeat - now, self.next_release - now, 0.5))
        for key, _ in self.selector.select(timeout):
            if key.fd == self.wake_r:
                self._drain_wake()
            elif self.control is not None and key.fd == self.control_fd:
                self._read_control()
            elif self.metrics is not None and self.metrics.owns(key.fd):
                self.metrics.ready(key.fd)
            else:
                self._read_child(key.fd)
        if self.metrics is not None:
            self.metrics.drop_idle()
        self._collect_exits()
        self._respawn_due()
        self._enforce_deadlines()
        self._advance_shutdown()
        if time.monotonic() >= self.next_release and self.shutdown_at is None:
            self._release()
        if time.monotonic() >= self.next_heartbeat:
            self._heartbeat()

    def _serve_metrics(self, host: str, port: int) -> None:
        try:
            self.metrics = MetricsServer(host, port, worker_registry(self._stats), self.selector)
        except OSError as exc:
            raise ConfigError(f"--metrics-port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        bound_host, bound_port = self.metrics.address
        log.info("metrics on http://%s:%d/metrics", bound_host, bound_port)

    def _stats(self) -> WorkerStats:
        return WorkerStats(
            runner_id=self.config.runner_id,
            children=len(self.children),
            running=sum(1 for child in self.children.values() if self.slots.read(child.slot) is not None),
            started=self.slots.started(),
        )

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        """The first stop signal begins a warm shutdown, a second one (or SIGQUIT) makes it cold.

        Counted first, and every step re-checks: Python may run a second signal's handler
        inside the first's, and a stop must end cold, with its start time set, either way.
        """
        self.stop_signals += 1
        cold = self.stop_signals > 1 or signum == signal.SIGQUIT
        if self.shutdown_at is None:
            self.shutdown_at = time.monotonic() + self.config.grace_s
            if not cold:
                log.info(
                    "warm shutdown: running jobs have %.0f s to finish (signal again for cold)", self.config.grace_s
                )
                for child in self.children.values():
                    _kill(child.pid, signal.SIGTERM)
        if cold:
            self.cold = True

    def _advance_shutdown(self) -> None:
        if self.shutdown_at is None:
            return
        if not self.cold and time.monotonic() >= self.shutdown_at:
            log.warning("grace period over: returning running jobs to the queue")
            self.cold = True
        if self.cold:
            for child in list(self.children.values()):
                self._kill_child(child, None)

    # -- children ----------------------------------------------------------------
    def _spawn(self) -> None:
        """Fork a child, unless a stop has begun.

        Stop signals are held from the check until the child is recorded: otherwise a stop
        landing just before the fork would not reach the new child, or one landing in the child
        before it drops the master's handlers would be taken for the master's. Either way that
        child would idle on until the grace period ended.
        """
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            if self.shutdown_at is None:
                self._fork_child()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _fork_child(self) -> None:
        slot = self.free_slots.pop()
        self.slots.clear(slot)
        read_fd, write_fd = os.pipe()
        # Taken before the fork: read in the child, a master that already died would give 1.
        master_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                os.close(read_fd)
                self._forget_master_state()
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a held stop now ends us
                worker_id = f"{self.host}:{master_pid}:{os.getpid()}"
                code = child_main(
                    self.config, self.runner, worker_id, write_fd, self.slots, slot, master_pid, self.hooks
                )
            except BaseException:
                log.exception("worker child crashed")
            finally:
                os._exit(code)
        os.close(write_fd)
        # The child does the same: whichever runs first closes the race with a kill.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        os.set_blocking(read_fd, False)
        child = ChildState(pid, f"{self.host}:{os.getpid()}:{pid}", read_fd, slot, started=time.monotonic())
        self.children[pid] = child
        self.selector.register(read_fd, selectors.EVENT_READ)

    def _forget_master_state(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in (*STOP_SIGNALS, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        self.selector.close()
        for fd in (self.wake_r, self.wake_w, *(c.fd for c in self.children.values())):
            os.close(fd)
        # Our copies of the master's sockets; the master's own stay open.
        if self.control is not None:
            self.control.close()
        if self.metrics is not None:
            self.metrics.shut()
        self.broker.close()

    def _read_child(self, fd: int) -> None:
        child = next((c for c in self.children.values() if c.fd == fd), None)
        if child is None:
            return
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:
            self.selector.unregister(fd)
            return
        self._take(child, data)

    def _take(self, child: ChildState, data: bytes) -> None:
        child.buffer += data
        *lines, child.buffer = child.buffer.split(b"\n")
        for line in lines:
            self._on_message(child, line.decode())

    def _drain_child(self, child: ChildState) -> None:
        """Read what an exited child wrote last (its exit can be seen before its messages)."""
        while True:
            try:
                data = os.read(child.fd, 65536)
            except OSError:  # BlockingIOError: a process it forked still holds the pipe
                return
            if not data:
                return
            self._take(child, data)

    def _on_message(self, child: ChildState, message: str) -> None:
        verb, _, rest = message.partition(" ")
        if verb == "pg":
            child.process_groups.add(int(rest))
        elif verb == "pgclear":  # the child's job has ended; its group ids may be reused from now on
            child.process_groups.clear()
        elif verb == SETUP_FAILED:
            child.setup_failed = True

    def _running(self, child: ChildState) -> tuple[str, float] | None:
        """The job a child runs now and its deadline, from the shared slots."""
        return self.slots.read(child.slot)

    def _collect_exits(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self._after_exit(child, os.waitstatus_to_exitcode(status))

    def _after_exit(self, child: ChildState, code: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(child.fd)
        self._drain_child(child)
        os.close(child.fd)
        running = self.slots.read(child.slot)
        self.slots.clear(child.slot)
        self.free_slots.append(child.slot)
        if running is not None and child.killed_for is None and code >= 0:
            # Only a job exits a child with a code while its slot shows it (the engine's own
            # exits come between jobs); running it again would end the next worker the same way.
            # A death by signal (OOM killer, kill -9) is a lost worker: the job runs again.
            self._store_ended(
                child, running[0], JobStatus.FAILED, f"the job ended its worker process (exit {code})", code
            )
        self._reap_child(child.worker_id, code)
        if child.setup_failed:
            log.error("runner setup failed in a child; stopping")
            self.exit_code = RET_CHILD_SETUP
            if self.shutdown_at is None:
                self.shutdown_at = time.monotonic()
                self.cold = True
        if self.shutdown_at is not None:
            return
        # A child that dies straight after starting (Redis down, broken setup) is restarted
        # with a growing delay rather than in a tight loop.
        quick = code != 0 and time.monotonic() - child.started < QUICK_EXIT_S
        self.quick_failures = self.quick_failures + 1 if quick else 0
        delay = min(MAX_RESPAWN_DELAY_S, 0.1 * 2**self.quick_failures) if quick else 0.0
        self.respawn_at.append(time.monotonic() + delay)

    def _reap_child(self, worker_id: str, code: int | None = None) -> None:
        try:
            requeued = self.broker.reap(self.config.runner_id, worker_id, force=True) or []
        except TransportError as exc:
            log.warning("could not return %s's jobs to the queue yet (%s); will retry", worker_id, exc)
            self.unreaped.add(worker_id)
            return
        self.unreaped.discard(worker_id)
        if requeued:
            how = f" (exit {code})" if code is not None else ""
            log.warning("worker %s ended%s; returned %d job(s) to the queue", worker_id, how, len(requeued))

    def _respawn_due(self) -> None:
        now = time.monotonic()
        due = [t for t in self.respawn_at if t <= now]
        self.respawn_at = [t for t in self.respawn_at if t > now]
        for _ in due:
            self._spawn()

    # -- kills: timeout, cancel, cold shutdown ---------------------------------------
    def _kill_child(self, child: ChildState, outcome: JobStatus | None, job_id: str | None = None) -> None:
        """SIGKILL a child's group and its job's groups; store ``outcome`` for ``job_id`` if given."""
        if child.killed_for is not None:
            return
        child.killed_for = outcome or JobStatus.PENDING
        if outcome is None or job_id is None:
            _killpg(child.pid)
            for pgid in child.process_groups:
                _killpg(pgid)
            return
        # Its result is stored once the job's processes are gone, never while they still run.
        kill_groups_and_wait([child.pid, *child.process_groups])
        reason = {
            JobStatus.TIMEOUT: f"killed: still running {self.config.kill_grace_s:.0f} s past its timeout",
            JobStatus.CANCELLED: "cancelled while running",
        }[outcome]
        self._store_ended(child, job_id, outcome, reason, -signal.SIGKILL)
        log.info("job %s %s", job_id, outcome.value)

    def _store_ended(self, child: ChildState, job_id: str, status: JobStatus, error: str, exit_code: int) -> None:
        """Store how a job its child could not report on ended, with what the child left in
        Redis: when it started, its deliveries, and what it printed (its log stream)."""
        runner_id = self.config.runner_id
        try:
            progress = self.broker.progress(runner_id, job_id)
            result = JobResult(
                job_id=job_id,
                runner_id=runner_id,
                status=status,
                output=cut_middle("\n".join(progress.lines), self.config.max_output_bytes),
                error=error,
                exit_code=exit_code,
                started_at=progress.started_at,
                completed_at=time.time(),
                deliveries=progress.deliveries,
                attempts=progress.attempts,
                history=progress.history,
            )
            job = stored_job(progress.spec)
            retry = plan(job.__dict__, result) if job is not None and job.retries else None
            stored = self.broker.finish(runner_id, child.worker_id, result, retry)
        except NotReplicated as exc:  # stored on the master: the job is not run again
            log.warning("job %s: %s", job_id, exc)
            stored = bool(exc.value)
        except TransportError as exc:
            # The job stays in the child's in-flight list and goes back to the queue.
            log.warning("could not store %s for job %s (%s)", status.value, job_id, exc)
            return
        if stored and retry is not None:
            log_retry(result, retry)
        if stored and self.hooks is not None:
            self.hooks.killed(job_id, result)
            if job is not None and retry is not None:
                self.hooks.retry(job, result, retry.delay_ms / 1000)

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        self.pending_cancels = {j: t for j, t in self.pending_cancels.items() if t > now}
        for child in list(self.children.values()):
            running = self.slots.read(child.slot)
            if running is None:
                continue
            job_id, deadline = running
            if self.pending_cancels.pop(job_id, None):
                self._kill_child(child, JobStatus.CANCELLED, job_id)
            elif now > deadline + self.config.kill_grace_s:
                self._kill_child(child, JobStatus.TIMEOUT, job_id)

    def _connect_control(self) -> None:
        """Subscribe to the runner's control channel (cancel commands); retried each heartbeat."""
        try:
            self.control = self.broker.subscribe_control(self.config.runner_id)
        except TransportError as exc:
            log.warning("control channel unavailable (%s); retrying", exc)
            return
        self.control_fd = self.control.fileno()
        self.selector.register(self.control_fd, selectors.EVENT_READ)

    def _read_control(self) -> None:
        assert self.control is not None
        try:
            messages = self.control.messages()
        except TransportError as exc:
            log.warning("control channel lost (%s); resubscribing", exc)
            # By its number at registration: a closed socket's fileno() is -1.
            self.selector.unregister(self.control_fd)
            self.control = None
            return
        for message in messages:
            verb, _, job_id = message.partition(" ")
            if verb == "due" and job_id.isdigit():
                # A job becomes due in that many ms: every master's timer fires, the first moves it.
                self.next_release = min(self.next_release, time.monotonic() + int(job_id) / 1000)
            elif verb == "cancel":
                # Looked for by the deadline scan, which kills the child running the job; a job
                # not running yet (reserved in a batch) is caught when it starts.
                self.pending_cancels[job_id] = time.monotonic() + CANCEL_WINDOW_S

    # -- scheduled jobs -------------------------------------------------------------------
    def _release(self) -> None:
        """Move the runner's due jobs into its queue (release.lua: whichever master runs it first
        moves them), then sleep until the next is due or a ``due`` message comes. With nothing
        scheduled it looks again each heartbeat interval, in case a message was lost."""
        fallback = time.monotonic() + self.config.heartbeat_interval_s
        try:
            for _ in range(RELEASE_ROUNDS):
                moved, wait_ms = self.broker.release_due(self.config.runner_id)
                if moved:
                    log.debug("released %d due job(s)", moved)
                if wait_ms != 0:
                    break
        except TransportError as exc:
            log.warning("could not release due jobs (%s); will retry", exc)
            self.next_release = fallback
            return
        if wait_ms >= 0:  # -1: nothing scheduled; 0: more due now
            self.next_release = min(fallback, time.monotonic() + wait_ms / 1000)
        else:
            self.next_release = fallback

    # -- heartbeats and reaping -------------------------------------------------------
    def _heartbeat(self, final: bool = False) -> None:
        """Refresh the children's deadlines and, in the same script call, the master's record;
        the last one (``final``, on a clean stop) removes the record instead."""
        self.next_heartbeat = time.monotonic() + self.config.heartbeat_interval_s
        if self.control is None and not final:
            self._connect_control()
        elif self.control is not None and not final:
            # A listening subscriber is asked nothing else: a look each heartbeat lets its
            # connection check it still hears the master (a Sentinel group's, after a failover).
            self._read_control()
        ids = [c.worker_id for c in self.children.values() if c.killed_for is None]
        runner_id = self.config.runner_id
        try:
            for worker_id in list(self.unreaped):
                self._reap_child(worker_id)
            master = None if final else (self.master_id, self.record)
            expired = self.broker.heartbeat(runner_id, ids, int(self.config.heartbeat_ttl_s * 1000), master)
            for worker_id in expired:
                moved = self.broker.reap(runner_id, worker_id)
                if moved:
                    log.warning(
                        "worker %s stopped heartbeating; returned %d job(s) to the queue", worker_id, len(moved)
                    )
            if expired or not self.pruned:
                # A dead master's children expire with it: its record goes then (or at our start).
                self.broker.prune_masters(runner_id)
                self.pruned = True
            if final:
                self.broker.forget_master(runner_id, self.master_id)
        except TransportError as exc:
            log.warning("heartbeat failed: %s", exc)

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass


def stored_job(spec: str | None) -> Job | None:
    """The job as Redis holds it, read by the model's rules but not verified: it only decides
    whether a job its child could not report on is queued again, and the next start verifies it
    like any other. A job that cannot be read is not retried."""
    if spec is None:
        return None
    try:
        return Job.model_validate_json(spec)
    except ValueError:
        return None


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
