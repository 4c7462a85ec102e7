"""Submitting and waiting from the command line, so a job nobody serves never waits in silence."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import typer

from horus.client import RedisClient
from horus.errors import HorusError, WaitTimeout
from horus.models import Job, JobResult
from horus.sdk import Client

#: The shell's convention for a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

AnyClient = RedisClient | Client
#: How long ``submit --wait`` waits before it checks that a worker serves the job's runner.
UNSERVED_GRACE_S = 1.0


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def where(client: AnyClient) -> str:
    if isinstance(client, RedisClient):
        return f"in namespace {client.broker.keys.namespace!r}"
    return f"at the supervisor {client.url}"


def warn_if_unserved(client: AnyClient, job: Job) -> None:
    """A job for a runner no live worker serves waits in its queue: say so, and where we looked."""
    if not client.serving(job.runner_id):
        note(
            f"warning: no worker serves runner {job.runner_id!r} {where(client)}; the job waits in its queue "
            f"(start one: horus worker {job.runner_id} --type TYPE ..., or check runner_id and --namespace)"
        )


def _status(reopen: Callable[[], AnyClient], job_id: str) -> str:
    # A fresh client: the interrupted one may have a blocking call still pending on its connection.
    try:
        with reopen() as client:
            return client.result(job_id).status.value
    except HorusError:
        return "unknown"


def wait_for(
    client: AnyClient,
    job_id: str,
    timeout_s: float | None,
    reopen: Callable[[], AnyClient],
    unserved: Callable[[], None] | None = None,
) -> JobResult:
    """Wait for the job's end; Ctrl-C or the timeout say where the job is and how to follow it.

    ``unserved`` (the no-worker warning) runs only if the job has not ended within
    ``UNSERVED_GRACE_S``: a worker started just before the submit has not heartbeated yet.
    """
    started = time.monotonic()
    follow = f"follow it with `horus result --wait {job_id}`"
    try:
        remaining = timeout_s
        if unserved is not None:
            try:
                return client.wait(job_id, UNSERVED_GRACE_S if timeout_s is None else min(UNSERVED_GRACE_S, timeout_s))
            except WaitTimeout:
                unserved()
            if timeout_s is not None:
                remaining = max(timeout_s - (time.monotonic() - started), 0.001)
        return client.wait(job_id, remaining)
    except WaitTimeout:
        waited = time.monotonic() - started
        raise WaitTimeout(f"job {job_id} is still {_status(reopen, job_id)} after {waited:.1f} s; {follow}") from None
    except KeyboardInterrupt:
        note(f"\njob {job_id} is still {_status(reopen, job_id)}; {follow}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
