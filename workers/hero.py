"""The ``hero`` runner: pipes the payload to ``hero run -s`` on stdin."""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import ClassVar

from horus.models import Job, JobStatus
from horus.plugin import BaseRunner, Outcome
from horus.procutil import run_streaming
from horus.worker.context import JobContext

log = logging.getLogger("horus.worker")


class HeroRunner(BaseRunner):
    runner_type: ClassVar[str] = "hero"
    options: ClassVar[dict[str, str]] = {
        "hero_bin": "the hero executable (default: $HORUS_HERO_BIN, else `hero` on PATH)",
    }

    @property
    def binary(self) -> str:
        return self.config.get("hero_bin") or os.environ.get("HORUS_HERO_BIN") or "hero"

    def _resolve(self) -> str | None:
        return shutil.which(self.binary)

    def prepare(self) -> None:
        if self._resolve() is None:
            log.warning("hero binary %r not found; jobs will fail until it is installed", self.binary)

    def execute(self, job: Job, ctx: JobContext) -> Outcome:
        binary = self._resolve()
        if binary is None:
            return Outcome.failed(
                f"hero binary {self.binary!r} not found: install hero or point --hero-bin / HORUS_HERO_BIN at it"
            )
        done = run_streaming(
            [binary, "run", "-s"],
            stdin=job.payload,
            env=ctx.subprocess_env(),
            timeout_s=ctx.deadline - time.monotonic(),
            on_line=ctx.log,
            on_start=ctx.adopt_process_group,
        )
        ctx.release_process_group(done.pid)
        if done.timed_out:
            return Outcome(JobStatus.TIMEOUT, output=done.stdout, error=f"timed out after {job.timeout} s")
        if done.exit_code != 0:
            error = done.stderr.strip() or f"hero exited with code {done.exit_code}"
            return Outcome.failed(error, exit_code=done.exit_code, output=done.stdout)
        return Outcome(output=done.stdout, exit_code=0, error=done.stderr.strip() or None)
