"""Reading a running job's progress from its hash: this attempt's report only, and nothing that
is not a report ever breaks a status."""

from __future__ import annotations

import pytest

from horus.broker import progress_value, result_from_hash
from horus.models import JobProgress
from horus.tasks import MAX_PROGRESS_MESSAGE


def running(progress: str, **fields: str) -> dict[str, str]:
    return {"status": "running", "started_at": "1.5", "deliveries": "1", "progress": progress, **fields}


def test_a_running_attempt_shows_its_own_report() -> None:
    result = result_from_hash("j1", "r1", running(progress_value(40, "copying files", 1)))
    assert result.progress == JobProgress(percent=40, message="copying files")
    retried = result_from_hash("j1", "r1", running(progress_value(12.5, "again", 3), attempts="2"))
    assert (retried.attempts, retried.progress) == (3, JobProgress(percent=12.5, message="again"))


def test_an_earlier_attempts_report_is_not_this_ones() -> None:
    # The retry started (2 attempts ended) before it reported anything.
    result = result_from_hash("j1", "r1", running(progress_value(90, "almost", 2), attempts="2"))
    assert result.progress is None


@pytest.mark.parametrize("status", ["dispatched", "scheduled", "completed", "failed"])
def test_a_job_that_does_not_run_shows_no_progress(status: str) -> None:
    result = result_from_hash("j1", "r1", running(progress_value(40, "x", 1), status=status))
    assert result.progress is None


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        "[40]",
        '"40"',
        '{"percent": 40}',  # no attempt
        '{"message": "x", "attempt": 1}',
        '{"percent": true, "attempt": 1}',
        '{"percent": 140, "attempt": 1}',
        '{"percent": -1, "attempt": 1}',
        '{"percent": 40, "message": 7, "attempt": 1}',
        '{"percent": 40, "message": {"a": 1}, "attempt": 1}',
        '{"percent": null, "attempt": 1}',
        "",
    ],
)
def test_what_is_not_a_report_is_ignored(stored: str) -> None:
    result = result_from_hash("j1", "r1", running(stored))
    assert (result.status.value, result.progress) == ("running", None)


def test_a_long_message_written_into_redis_is_cut() -> None:
    result = result_from_hash("j1", "r1", running(progress_value(1, "m" * 100_000, 1)))
    assert result.progress is not None and len(result.progress.message) == MAX_PROGRESS_MESSAGE
