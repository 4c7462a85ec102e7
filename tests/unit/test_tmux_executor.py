"""The tmux runner's executor strings: what they name, and clear refusals of what they cannot."""

from __future__ import annotations

import pytest

from horus.tmux.executor import ExecutorError, Target, default_session, parse


@pytest.mark.parametrize(
    ("executor", "target"),
    [
        ("tmux.build", Target("build", "main", "main")),
        ("tmux.dev_session.main_window", Target("dev_session", "main_window", "main")),
        ("tmux.dev_session.main_window.pane1", Target("dev_session", "main_window", "pane1")),
        ("tmux.a-b.0.7", Target("a-b", "0", "7")),
    ],
)
def test_parses_session_window_pane(executor: str, target: Target) -> None:
    assert parse(executor, "runner1") == target


def test_no_executor_is_the_runners_own_session() -> None:
    assert parse("", "my_runner") == Target("my_runner")
    # tmux cannot name a session with '.' or ':', which runner ids may hold
    assert default_session("billing.eu:1") == "billing_eu_1"
    assert parse("", "billing.eu:1").session == "billing_eu_1"


def test_key_and_text() -> None:
    target = Target("s", "w", "p")
    assert (target.key, str(target)) == ("s.w.p", "tmux.s.w.p")


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        ("tmux", "has 0 name(s) after 'tmux'"),
        ("tmux.", "has 0 name(s) after 'tmux'"),
        ("tmux.s.w.p.extra", "has 4 name(s) after 'tmux'"),
        ("tmux.s..p", "window name '' must be"),
        ("tmux.my session", "session name 'my session' must be"),
        ("tmux.s.w.p;rm -rf /", "pane name 'p;rm -rf /' must be"),
        ("tmux.s:1", "session name 's:1' must be"),
        ("docker.web", "is not a tmux target"),
        ("TMUX.s", "is not a tmux target"),
        ("tmux." + "x" * 65, "must be 1-64"),
    ],
)
def test_refuses_what_does_not_parse(executor: str, message: str) -> None:
    with pytest.raises(ExecutorError, match=r"tmux\.SESSION|must be") as caught:
        parse(executor, "runner1")
    assert message in str(caught.value)
    assert repr(executor) in str(caught.value)
