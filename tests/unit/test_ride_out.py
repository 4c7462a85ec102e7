"""Waiting calls ride out a server whose Redis fails over: ``unavailable`` is tried again."""

from __future__ import annotations

import time

import pytest

from horus.sdk import SupervisorError, ride_out


def unavailable() -> SupervisorError:
    return SupervisorError(-32004, "the job store is unavailable; try again", {"reason": "unavailable"})


def test_unavailable_is_tried_again_until_the_call_answers() -> None:
    answers: list[object] = [unavailable(), unavailable(), "ended"]

    def step() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert ride_out(step, None) == "ended"
    assert answers == []


def test_other_errors_and_a_passed_deadline_reach_the_caller() -> None:
    def refused() -> object:
        raise SupervisorError(-32001, "no such job", {"reason": "job_not_found"})

    with pytest.raises(SupervisorError, match="no such job"):
        ride_out(refused, None)

    def down() -> object:
        raise unavailable()

    with pytest.raises(SupervisorError, match="unavailable"):
        ride_out(down, time.monotonic())
