"""The traceback a failed ``python`` task's result carries: from the task's first frame on."""

from __future__ import annotations

import pytest
from horus.workers.python import PythonRunner

from horus.tasks import checked_progress


def _raised(call: object) -> BaseException:
    with pytest.raises(BaseException) as info:
        call()  # type: ignore[operator]
    return info.value


def test_frames_after_the_tasks_first_are_kept_even_horus_ones() -> None:
    def task() -> None:
        checked_progress(200)  # raises inside horus/tasks.py

    described = PythonRunner().describe_error(_raised(task))
    assert described is not None
    assert described.startswith("Traceback (most recent call last):")
    assert ", in task\n" in described and "horus/tasks.py" in described
    assert described.endswith("ValueError: progress percent must be from 0 to 100 (got 200)")


def test_an_error_with_only_horus_frames_keeps_them_all() -> None:
    exc = _raised(lambda: checked_progress(200))
    tb = exc.__traceback__
    assert tb is not None
    horus_only = exc.with_traceback(tb.tb_next)  # from checked_progress's frame on
    described = PythonRunner().describe_error(horus_only)
    # Nothing is the task's: the error is Horus's own, and where it happened is kept.
    assert described is not None and "horus/tasks.py" in described


def test_a_chained_error_keeps_its_cause() -> None:
    def task() -> None:
        try:
            {}["missing"]
        except KeyError as exc:
            raise RuntimeError("lookup failed") from exc

    described = PythonRunner().describe_error(_raised(task))
    assert described is not None
    assert "KeyError: 'missing'" in described and described.endswith("RuntimeError: lookup failed")
