"""Retries: the wait before each one, and what an attempt leaves for the next (docs/workers.md,
"Retries, delays and priorities").

The decision is the worker's, from the job as signed: an attempt that ends ``failed`` or
``timeout`` is retried while ``retries`` allows. finish.lua then schedules the job instead of
ending it, unless a cancel came first.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from horus.models import DEFAULT_TIMEOUT_S, OPTION_DEFAULTS, Attempt, JobResult, JobStatus

log = logging.getLogger("horus.worker")

#: Per attempt, on top of its timeout: the master's kill grace past it, and time to store it.
KILL_SLACK_S = 30.0
#: Each wait is its nominal length times a random factor in this range (then capped).
JITTER = (0.8, 1.2)
RETRIED = frozenset({JobStatus.FAILED, JobStatus.TIMEOUT})


@dataclass(frozen=True, slots=True)
class Retry:
    """A scheduled retry as finish.lua takes it: the wait, and the attempts so far as JSON."""

    delay_ms: int
    history: str


def nominal_s(base_s: float, max_s: float, attempt: int) -> float:
    """The wait after attempt ``attempt`` (1 for the first) before jitter: doubling from
    ``base_s``, never past ``max_s``."""
    return min(max_s, base_s * 2.0 ** min(attempt - 1, 64))


def backoff_s(base_s: float, max_s: float, attempt: int, rand: random.Random | None = None) -> float:
    low, high = JITTER
    factor = (rand or random).uniform(low, high)
    return min(max_s, nominal_s(base_s, max_s, attempt) * factor)


def _backoff(options: Mapping[str, Any]) -> tuple[float, float]:
    """A job's first wait and its cap, from its options (the defaults where it has none)."""
    base = options.get("retry_backoff_s", OPTION_DEFAULTS["retry_backoff_s"])
    cap = options.get("retry_backoff_max_s", OPTION_DEFAULTS["retry_backoff_max_s"])
    return float(base), float(cap)


def active_span_s(options: Mapping[str, Any]) -> float:
    """The longest a job's retries can add to its life, from its signed fields: each retry's
    wait (capped, at the top of its jitter) and the attempt before it running to its timeout and
    the master's kill grace. It is how much longer the job's freshness window is: the signer asked
    for that much, and no more."""
    retries = int(options.get("retries") or 0)
    if not retries:
        return 0.0
    base, cap = _backoff(options)
    run_s = float(options.get("timeout", DEFAULT_TIMEOUT_S)) + KILL_SLACK_S
    waits = sum(min(cap, nominal_s(base, cap, n) * JITTER[1]) for n in range(1, retries + 1))
    return waits + retries * run_s


def history_of(raw: str | None) -> list[Attempt]:
    """The earlier attempts as a job's hash keeps them (``history``, a JSON array)."""
    if not raw:
        return []
    return [Attempt.model_validate(entry) for entry in orjson.loads(raw)]


def attempt_of(result: JobResult, number: int) -> Attempt:
    return Attempt(
        attempt=number,
        status=result.status,
        error=result.error,
        exit_code=result.exit_code,
        started_at=result.started_at,
        completed_at=result.completed_at,
    )


def plan(options: Mapping[str, Any], result: JobResult, rand: random.Random | None = None) -> Retry | None:
    """The retry to schedule after ``result`` (which carries its attempt number and the
    earlier attempts), or None when this attempt is the last."""
    if result.status not in RETRIED or result.attempts > int(options.get("retries") or 0):
        return None
    base, cap = _backoff(options)
    delay = backoff_s(base, cap, result.attempts, rand)
    attempts = [*result.history, attempt_of(result, result.attempts)]
    history = orjson.dumps([a.model_dump(mode="json") for a in attempts]).decode()
    return Retry(max(1, round(delay * 1000)), history)


def log_retry(result: JobResult, retry: Retry) -> None:
    log.info(
        "job %s attempt %d %s; retry in %.3f s",
        result.job_id,
        result.attempts,
        result.status.value,
        retry.delay_ms / 1000,
    )
