"""A schedule: the signed template of a job and when it recurs (docs/beat.md).

``horus schedule add`` checks and signs schedules; ``horus beat`` fires their occurrences; a
worker checks a firing against its schedule (:mod:`horus.firing`). All three build occurrence
times and firing jobs with the functions here, so they agree to the second.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator

from horus.models import (
    DEFAULT_TIMEOUT_S,
    OPTION_DEFAULTS,
    Backoff,
    EnvVars,
    Firing,
    Id,
    Job,
    JobStatus,
    Payload,
    Priority,
    Retries,
    Signature,
    Timeout,
    assemble,
)
from horus.signing import canonical_bytes

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EVERY = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
#: What every firing job id starts with; the schedule's name and the occurrence follow.
FIRING_PREFIX = "beat"
#: ``catch_up: all`` fires at most this many missed occurrences of one schedule per pass, and
#: none older than a day (a worker refuses a job past its ``--max-job-age``, 1 day by default).
MAX_CATCH_UP = 1000
MAX_CATCH_UP_AGE_S = 86_400
CatchUp = Literal["skip", "last", "all"]


def check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
            f"(it becomes part of every firing's job id; got {value!r})"
        )
    return value


@functools.lru_cache(maxsize=1024)
def every_seconds(value: str) -> int:
    """Cached: a pass asks it a few times per schedule, and schedules share few intervals."""
    match = _EVERY.match(value)
    if not match:
        raise ValueError(f'must be a whole number and a unit: "30s", "5m", "1h" or "1d" (got {value!r})')
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def check_every(value: str) -> str:
    every_seconds(value)
    return value


def check_cron(value: str) -> str:
    from croniter import croniter  # imported only where a cron schedule is used

    fields = value.split()
    if len(fields) != 5:
        raise ValueError(
            f"must have 5 fields (minute hour day month weekday), croniter syntax, e.g. '*/5 * * * *' "
            f"(got {len(fields)} in {value!r})"
        )
    if not croniter.is_valid(value):
        try:
            croniter(value)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{value!r} is not a valid cron expression: {exc}") from None
        raise ValueError(f"{value!r} is not a valid cron expression")
    return value


def check_timezone(value: str) -> str:
    try:
        zone(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Berlin')") from None
    return value


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _strict_int(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer (Unix seconds; got {value!r})")
    return value


ScheduleName = Annotated[str, AfterValidator(check_name)]


class JobTemplate(BaseModel):
    """The job each occurrence runs: a job's fields less ``id``, ``created_at`` and
    ``not_before``, which every firing sets from its occurrence."""

    model_config = ConfigDict(extra="forbid")

    runner_id: Id
    payload: Payload
    timeout: Timeout = DEFAULT_TIMEOUT_S
    env_vars: EnvVars = Field(default_factory=dict)
    caller_id: str = ""
    context_id: str = ""
    executor: str = ""
    retries: Retries = 0
    retry_backoff_s: Backoff = 1
    retry_backoff_max_s: Backoff = 3600
    priority: Priority = 0

    def content(self) -> dict[str, Any]:
        """The signed form: every content field, and the options not at their default."""
        data = self.model_dump(exclude={"retries", "retry_backoff_s", "retry_backoff_max_s", "priority"})
        for name in ("retries", "retry_backoff_s", "retry_backoff_max_s", "priority"):
            value = getattr(self, name)
            if value != OPTION_DEFAULTS[name]:
                data[name] = value
        return data


class Schedule(BaseModel):
    """One schedule as written in a schedule file, and as stored once signed."""

    model_config = ConfigDict(extra="forbid")

    name: ScheduleName
    cron: Annotated[str, AfterValidator(check_cron)] | None = None
    every: Annotated[str, AfterValidator(check_every)] | None = None
    timezone: Annotated[str, AfterValidator(check_timezone)] = "UTC"
    catch_up: CatchUp = "skip"
    #: Whether ``horus schedule run`` may fire it outside its occurrences (signed).
    allow_run: StrictBool = True
    #: Whether it starts paused; not signed (pause and resume change it in Redis).
    enabled: StrictBool = True
    job: JobTemplate
    created_at: Annotated[int, AfterValidator(_strict_int)] = Field(default_factory=lambda: int(time.time()))
    signatures: list[Signature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_rule(self) -> Schedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError('give either cron (5 fields) or every ("30s", "5m", "1h", "1d"), not both or neither')
        if self.every is not None and self.timezone != "UTC":
            raise ValueError(
                "timezone applies to cron schedules only: every counts from the Unix epoch (UTC); "
                "write a cron expression for local times"
            )
        return self

    # -- what is signed ------------------------------------------------------------
    def content(self) -> dict[str, Any]:
        """The signed fields: everything but ``signatures`` and ``enabled``."""
        data: dict[str, Any] = {
            "name": self.name,
            "timezone": self.timezone,
            "catch_up": self.catch_up,
            "allow_run": self.allow_run,
            "job": self.job.content(),
            "created_at": self.created_at,
        }
        if self.cron is not None:
            data["cron"] = self.cron
        else:
            data["every"] = self.every
        return data

    def signed_bytes(self) -> bytes:
        return canonical_bytes(self.content())

    def stored(self) -> dict[str, Any]:
        """The signed schedule as kept in Redis and carried by every firing."""
        return {**self.content(), "signatures": [s.model_dump() for s in self.signatures]}

    @property
    def expression(self) -> str:
        return f"cron {self.cron}" if self.cron is not None else f"every {self.every}"

    # -- when it fires -------------------------------------------------------------
    def next_after(self, t: float) -> int:
        """The first occurrence strictly after ``t`` (Unix seconds; occurrences are whole)."""
        if self.every is not None:
            step = every_seconds(self.every)
            return (math.floor(t) // step + 1) * step
        assert self.cron is not None
        return _cron_next(self.cron, self.timezone, math.floor(t))

    def last_at_or_before(self, t: float) -> int:
        """The latest occurrence at or before ``t``."""
        if self.every is not None:
            step = every_seconds(self.every)
            return math.floor(t) // step * step
        assert self.cron is not None
        return _cron_prev(self.cron, self.timezone, math.floor(t) + 1)

    def is_occurrence(self, t: int) -> bool:
        return self.next_after(t - 1) == t

    def occurrences(self, start: int, end: float, limit: int) -> list[int]:
        """Occurrences from ``start`` through ``end``, at most ``limit``, the latest kept."""
        found: list[int] = []
        t = self.next_after(start - 1)
        while t <= end:
            found.append(t)
            if len(found) > limit:
                found.pop(0)
            t = self.next_after(t)
        return found


@functools.lru_cache(maxsize=4096)
def _cron_next(expression: str, timezone: str, after: int) -> int:
    """Cached: many schedules share an expression, and each pass asks for the same times."""
    from croniter import croniter

    start = dt.datetime.fromtimestamp(after, zone(timezone))
    return int(croniter(expression, start).get_next(float))


@functools.lru_cache(maxsize=4096)
def _cron_prev(expression: str, timezone: str, before: int) -> int:
    from croniter import croniter

    start = dt.datetime.fromtimestamp(before, zone(timezone))
    return int(croniter(expression, start).get_prev(float))


def plan(schedule: Schedule, due_s: int, now_s: float, grace_s: float) -> list[int]:
    """The occurrences a pass at ``now_s`` fires for a schedule whose first unfired occurrence is
    ``due_s``: every one within ``grace_s`` of its time (a takeover or a busy Redis is not
    downtime), and of those missed before that what ``catch_up`` says."""
    cutoff = now_s - grace_s
    on_time = schedule.occurrences(max(due_s, math.ceil(cutoff)), now_s, MAX_CATCH_UP)
    if due_s >= cutoff or schedule.catch_up == "skip":
        return on_time
    missed_end = math.ceil(cutoff) - 1
    if schedule.catch_up == "last":
        latest = schedule.last_at_or_before(missed_end)
        return ([latest] if latest >= due_s else []) + on_time
    oldest = max(due_s, math.floor(now_s) - MAX_CATCH_UP_AGE_S)
    return schedule.occurrences(oldest, missed_end, MAX_CATCH_UP) + on_time


# -- firings ---------------------------------------------------------------------------
def firing_id(name: str, occurrence: int) -> str:
    return f"{FIRING_PREFIX}:{name}:{occurrence}"


def run_id(name: str, at_ms: int) -> str:
    """The job id of a firing by ``horus schedule run``: the time in ms, so runs never collide
    with occurrences (whole seconds) or, a millisecond apart, with each other."""
    return f"{FIRING_PREFIX}:{name}:run:{at_ms}"


def firing_job(schedule: Schedule, occurrence: int, stored: dict[str, Any], run_ms: int | None = None) -> Job:
    """The job an occurrence (or, with ``run_ms``, a manual run) of ``schedule`` is; ``stored``
    is the signed schedule it carries (:meth:`Schedule.stored`). Built without validation: the
    template was checked when the schedule was. A beat builds one per schedule per occurrence,
    so it is assembled straight from the template's fields (``model_construct`` costs more than
    the rest of the firing)."""
    job_id = firing_id(schedule.name, occurrence) if run_ms is None else run_id(schedule.name, run_ms)
    template = schedule.job.__dict__
    return assemble(
        Job,
        {
            "id": job_id,
            "runner_id": template["runner_id"],
            "payload": template["payload"],
            "timeout": template["timeout"],
            "env_vars": dict(template["env_vars"]),
            "created_at": occurrence,
            "caller_id": template["caller_id"],
            "context_id": template["context_id"],
            "executor": template["executor"],
            "retries": template["retries"],
            "retry_backoff_s": template["retry_backoff_s"],
            "retry_backoff_max_s": template["retry_backoff_max_s"],
            "not_before": None,
            "priority": template["priority"],
            "traceparent": None,
            "signatures": [],
            "status": JobStatus.PENDING,
            "firing": assemble(Firing, {"schedule": stored, "run": run_ms is not None}),
        },
    )
