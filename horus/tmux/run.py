"""One job in one tmux pane: lock the pane, type the wrapper's command line, follow its files.

The command runs in the tmux server's process tree, not in the worker's, so the engine's
process-group kills reach it only through the process group the wrapper reports, which is
registered with the job (``ctx.adopt_process_group``): a cancel or the engine's hard timeout
kill it with the job. The runner's own timeout interrupts it first (SIGINT, as C-c would).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from horus.models import Job, JobStatus
from horus.plugin import Outcome
from horus.tmux.executor import Target
from horus.tmux.follow import OutputFollower
from horus.tmux.jobfiles import JobDir, Process, StateDir
from horus.tmux.server import Pane, TmuxError, TmuxServer
from horus.worker.context import JobContext, JobTimeout, kill_groups_and_wait

log = logging.getLogger("horus.worker")

WRAPPER = Path(__file__).with_name("wrapper.py")
POLL_S = 0.05
#: The wrapper waits for the worker's go-ahead, so its start is watched more closely.
START_POLL_S = 0.005
#: How long a pane may stay busy with a program before a job for it gives up.
PROMPT_TIMEOUT_S = 5.0
#: How long the typed command may take to start its wrapper (a slow shell start-up).
START_TIMEOUT_S = 10.0
#: Between the interrupt and the kill. The engine's hard kill comes 2 s past the deadline,
#: so interrupt, grace and kill must fit well inside that.
INTERRUPT_GRACE_S = 1.0
#: The name of the lock held while sessions, windows and panes are looked up or created.
SERVER_LOCK = "server"


class PaneJob:
    def __init__(
        self, server: TmuxServer, state: StateDir, target: Target, job: Job, ctx: JobContext, shell: str
    ) -> None:
        self.server = server
        self.state = state
        self.target = target
        self.job = job
        self.ctx = ctx
        self.shell = shell
        self.files: JobDir = state.job(job.id)
        self.process: Process | None = None
        self.recorded = False
        self.typed = False
        self.follower: OutputFollower | None = None

    def run(self) -> Outcome:
        try:
            with self.state.locked(self.target.key):
                # Both handled while still holding the pane: no other job types into it meanwhile.
                try:
                    return self._run_locked()
                except JobTimeout:
                    return self._timed_out()
                except TmuxError as exc:
                    if self.recorded and not self.typed:
                        self._forget()
                    # Once typed, the line may yet start the command: the record stays, and the
                    # pane's next job stops whatever it started.
                    return Outcome.failed(f"{self.target}: {exc}")
        except JobTimeout:
            error = f"timed out after {self.job.timeout} s waiting for {self.target} (busy with another job)"
            return Outcome(JobStatus.TIMEOUT, error=error)

    def _run_locked(self) -> Outcome:
        with self.state.locked(SERVER_LOCK):
            pane = self.server.ensure_pane(self.target)
        previous = self.state.record(self.target.key)
        if previous == self.job.id and self._resumable():
            # This job's own command, left running (or finished) by a worker that died: take it
            # over instead of running it a second time.
            self.process = self.files.process()
            log.info("job %s: picking up its command still in %s", self.job.id, self.target)
        else:
            if previous is not None:
                self._stop_leftover(previous)
            self._start(pane)
        assert self.process is not None
        self.ctx.adopt_process_group(self.process.pgid)
        self.files.give_go()
        self.follower = OutputFollower(self.files.out, self.ctx.log)
        code = self._wait(self.follower)
        output = self.follower.close()
        self._forget()
        if code is None:
            return Outcome.failed(
                "the command's wrapper ended without an exit code (its pane was closed or it was killed)",
                output=output,
            )
        if code != 0:
            last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
            return Outcome.failed(f"exited with code {code}" + (f": {last}" if last else ""), code, output)
        return Outcome(output=output, exit_code=0)

    def _resumable(self) -> bool:
        process = self.files.process()
        return process is not None and (self.files.exit_code() is not None or process.alive())

    # -- starting -------------------------------------------------------------------
    def _start(self, pane: Pane) -> None:
        self.files.create(
            {
                "job_id": self.job.id,
                "argv": [self.shell, "-c", self.job.payload],
                "env": self.ctx.subprocess_env(),
            }
        )
        self.state.set_record(self.target.key, self.job.id)
        self.recorded = True
        self.server.wait_for_prompt(pane, PROMPT_TIMEOUT_S)
        # The leading space keeps the line out of shell history (ignorespace).
        line = " " + shlex.join([sys.executable, "-I", str(WRAPPER), str(self.files.path)])
        self.typed = True
        self.server.type_line(pane, line)
        self.process = self._await_start(START_TIMEOUT_S)
        if self.process is None:
            raise TmuxError(
                f"the command did not start within {START_TIMEOUT_S:.0f} s in pane {pane.pane_id}: "
                "is a shell waiting at its prompt there?"
            )

    def _await_start(self, timeout_s: float) -> Process | None:
        deadline = time.monotonic() + timeout_s
        while (process := self.files.process()) is None and time.monotonic() < deadline:
            time.sleep(START_POLL_S)
        return process

    # -- running ---------------------------------------------------------------------
    def _wait(self, follower: OutputFollower) -> int | None:
        """Stream output until the exit code is written; None if the wrapper vanished first."""
        assert self.process is not None
        while True:
            follower.poll()
            code = self.files.exit_code()
            if code is not None:
                return code
            if not self.process.alive():
                return self.files.exit_code()  # it may have written the code just before ending
            time.sleep(POLL_S)

    def _timed_out(self) -> Outcome:
        error = f"timed out after {self.job.timeout} s"
        if self.process is None and self.typed:
            self.process = self._await_start(INTERRUPT_GRACE_S)
        if self.process is None:
            if self.recorded and not self.typed:
                self._forget()
            return Outcome(JobStatus.TIMEOUT, error=f"{error} before the command started in {self.target}")
        code = stop(self.process, self.files)
        output = self.follower.close() if self.follower is not None else self.files.output()
        self._forget()
        how = "interrupted" if code is not None else "killed"
        return Outcome(JobStatus.TIMEOUT, output=output, error=f"{error}: {how}", exit_code=code)

    # -- cleaning up -----------------------------------------------------------------
    def _stop_leftover(self, job_id: str) -> None:
        """Stop the command another job's lost worker left in the pane; that job runs again."""
        left = self.state.job(job_id)
        process = left.process()
        if process is not None and process.alive():
            log.warning("%s: stopping job %s's command, left running by a lost worker", self.target, job_id)
            stop(process, left)
        left.remove()
        self.state.clear_record(self.target.key)

    def _forget(self) -> None:
        if self.process is not None:
            self.ctx.release_process_group(self.process.pgid)
        self.files.remove()
        self.state.clear_record(self.target.key)


def stop(process: Process, files: JobDir) -> int | None:
    """Interrupt a command as C-c would, then kill what is left of it; its exit code if it wrote one.

    Returns once the group's processes are gone (within a bound): the pane's next command, and
    the result of the job it belonged to, never come while it still runs.
    """
    if process.alive():
        _signal_group(process.pgid, signal.SIGINT)
        deadline = time.monotonic() + INTERRUPT_GRACE_S
        while process.alive() and files.exit_code() is None and time.monotonic() < deadline:
            time.sleep(POLL_S / 5)
        # Even if the wrapper has ended, the id still names its group, whose background jobs may
        # outlive it: Linux never hands out a pid still in use as a process group id.
        kill_groups_and_wait([process.pgid])
    return files.exit_code()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
