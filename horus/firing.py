"""A worker's check of a schedule's firing: the chain from the schedule's signature to the job.

A firing carries no signature of its own (the beat holds no key): it carries the signed schedule.
It runs only if that schedule verifies against the runner's trust, the job is exactly the
schedule's template at that time, and the time is one of the schedule's occurrences (or a
``horus schedule run`` the schedule allows). docs/protocol.md, "Schedules and the security model".
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from horus.errors import JobRejected
from horus.models import Signature
from horus.schedule import FIRING_PREFIX, Schedule, firing_id, firing_job
from horus.signing import canonical_bytes
from horus.trust import TrustPolicy

_RUN = re.compile(rf"^{FIRING_PREFIX}:(?P<name>[^:]+):run:(?P<ms>[0-9]{{1,15}})$")


def verify_firing(firing: Any, content: dict[str, Any], policy: TrustPolicy, runner_id: str) -> list[Signature]:
    """The schedule's signatures, once every link of the chain holds; :class:`JobRejected`
    (``bad_firing``, ``tampered`` or a signature code) otherwise."""
    schedule, run = _parse(firing)
    try:
        policy.verify_message(schedule.signed_bytes(), schedule.signatures, runner_id)
    except JobRejected as exc:
        raise JobRejected(exc.code, f"firing.schedule.{exc.field}", exc.reason) from None
    occurrence = content["created_at"]
    run_ms = _check_id(schedule, content["id"], occurrence, run)
    expected = firing_job(schedule, occurrence, {}, run_ms).content()
    if canonical_bytes(expected) != canonical_bytes(content):
        differs = sorted(name for name in expected.keys() | content.keys() if expected.get(name) != content.get(name))
        raise JobRejected(
            "tampered",
            differs[0] if differs else "firing",
            f"the job differs from the template of its signed schedule {schedule.name!r} "
            f"({', '.join(differs)}): changed after the schedule was signed",
        )
    return schedule.signatures


def _parse(firing: Any) -> tuple[Schedule, bool]:
    if (
        not isinstance(firing, dict)
        or not isinstance(firing.get("schedule"), dict)
        or set(firing) - {"schedule", "run"}
    ):
        raise JobRejected("bad_firing", "firing", "must be an object {schedule, run}")
    run = firing.get("run", False)
    if not isinstance(run, bool):
        raise JobRejected("bad_firing", "firing.run", "must be true or false")
    try:
        return Schedule.model_validate(firing["schedule"]), run
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise JobRejected("bad_firing", f"firing.schedule.{where}".rstrip("."), message) from None


def _check_id(schedule: Schedule, job_id: str, occurrence: int, run: bool) -> int | None:
    """The run's time in ms for a ``horus schedule run`` firing, None for an occurrence."""
    if run:
        match = _RUN.match(job_id)
        if not match or match["name"] != schedule.name or int(match["ms"]) // 1000 != occurrence:
            raise JobRejected("bad_firing", "id", f"a run of schedule {schedule.name!r} has id beat:NAME:run:MS")
        if not schedule.allow_run:
            raise JobRejected(
                "bad_firing", "firing.run", f"schedule {schedule.name!r} was signed with allow_run: false"
            )
        return int(match["ms"])
    if job_id != firing_id(schedule.name, occurrence):
        raise JobRejected(
            "bad_firing",
            "id",
            f"an occurrence of schedule {schedule.name!r} has id {firing_id(schedule.name, occurrence)}",
        )
    if not schedule.is_occurrence(occurrence):
        raise JobRejected(
            "bad_firing",
            "created_at",
            f"{occurrence} is not an occurrence of schedule {schedule.name!r} "
            f"({schedule.expression}, {schedule.timezone})",
        )
    return None
