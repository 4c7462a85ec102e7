"""Which job errors make a worker child replace itself: a MemoryError, or one raised while
handling it (docs/workers.md, "Replacement and recycling")."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from horus.plugin import Outcome
from horus.worker.child import out_of_memory


def _raised(make: Callable[[], None]) -> BaseException:
    try:
        make()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing raised")


def _oom() -> None:
    raise MemoryError


def _plain() -> None:
    raise ValueError("plain")


def _wrapped() -> None:
    try:
        raise MemoryError
    except MemoryError as exc:
        raise RuntimeError("no room for the report") from exc


def _during() -> None:
    try:
        raise MemoryError
    except MemoryError:
        raise ValueError("while handling it") from None


def _loop() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    raise a


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_oom, True),
        (_wrapped, True),
        (_plain, False),
        (_loop, False),
    ],
)
def test_out_of_memory(make: Callable[[], None], expected: bool) -> None:
    assert out_of_memory(_raised(make)) is expected


def test_suppressed_context_still_counts() -> None:
    # `from None` hides the MemoryError from the traceback, not from the process's state.
    assert out_of_memory(_raised(_during))


def test_an_outcome_does_not_recycle_unless_told() -> None:
    assert not Outcome().recycle and not Outcome.failed("x").recycle
    assert Outcome.failed("out of memory", recycle=True).recycle
