"""Helpers for the SAL tests: a job context without a worker, and running a script through the runner."""

from __future__ import annotations

import time
from typing import Any

from horus.workers.sal import SalRunner

from horus.models import Job
from horus.plugin import Outcome
from horus.worker.context import JobContext


def job_context(env: dict[str, str] | None = None, timeout: float = 30.0, payload: str = "()") -> JobContext:
    job = Job(runner_id="sal1", payload=payload, env_vars=env or {}, timeout=max(1, int(timeout)))
    lines: list[str] = []
    return JobContext(job, "sal1", "w1", time.monotonic() + timeout, log=lines.append)


def run_script(script: str, env: dict[str, str] | None = None, timeout: float = 30.0, **options: Any) -> Outcome:
    """Run ``script`` as the sal runner would for a job (the worker process itself is not involved)."""
    ctx = job_context(env, timeout, script)
    runner = SalRunner(config={name: str(value) for name, value in options.items()})
    runner.prepare()
    runner.setup()
    return runner.execute(ctx.job, ctx)
