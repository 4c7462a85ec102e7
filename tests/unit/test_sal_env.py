"""The ``env`` module and the shared helpers (URL redaction, deadline-bound timeouts)."""

from __future__ import annotations

import time

import pytest

from horus.sal.common import SalError, redact_url, scrub, seconds, time_left
from horus.sal.env import EnvModule


def test_env_attribute_get_and_names() -> None:
    env = EnvModule({"STAGE": "prod", "EMPTY": ""})
    assert env.STAGE == "prod"
    assert env.MISSING is None
    assert env.get("STAGE") == "prod"
    assert env.get("MISSING", "fallback") == "fallback"
    assert env.get("EMPTY", "fallback") == ""
    assert env.names() == ["EMPTY", "STAGE"]


def test_env_private_names_are_not_variables() -> None:
    with pytest.raises(AttributeError):
        _ = EnvModule({"_X": "1"})._X


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:s3cret@db:5432/app", "postgresql://bob:***@db:5432/app"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("http://u:p@[::1]:8080/x?y=1", "http://u:***@[::1]:8080/x?y=1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_removes_echoed_passwords() -> None:
    url = "postgresql://bob:s3cret@db/app"
    assert scrub(f"failed: {url} (password=s3cret)", url) == "failed: postgresql://bob:***@db/app (password=***)"


def test_time_left_never_passes_the_deadline() -> None:
    assert time_left(None, 5) == 5
    assert time_left(time.monotonic() + 100, 5) == 5
    assert time_left(time.monotonic() + 1, 5) <= 1
    assert time_left(time.monotonic() - 1, 5) == 0.001


def test_seconds_refuses_non_positive_values() -> None:
    assert seconds(2, "t") == 2.0
    for bad in (0, -1, True, "3"):
        with pytest.raises(SalError, match=r"t must be a positive number of seconds"):
            seconds(bad, "t")
