"""The ``executor`` field of a job: ``tmux.SESSION[.WINDOW[.PANE]]`` to a pane target."""

from __future__ import annotations

import re
from dataclasses import dataclass

from horus.errors import HorusError

#: Session, window and pane names: tmux turns '.' and ':' in names into '_' (they separate
#: target parts), so names are kept to characters that mean the same thing everywhere.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_WINDOW = "main"
DEFAULT_PANE = "main"
FORMAT = "tmux.SESSION, tmux.SESSION.WINDOW or tmux.SESSION.WINDOW.PANE"


class ExecutorError(HorusError, ValueError):
    """An executor string that does not name a tmux target."""


@dataclass(frozen=True, slots=True)
class Target:
    """A pane by names: the session, the window's name and the pane's label."""

    session: str
    window: str = DEFAULT_WINDOW
    pane: str = DEFAULT_PANE

    @property
    def key(self) -> str:
        """One string per pane, usable as a file name (names cannot hold '.')."""
        return f"{self.session}.{self.window}.{self.pane}"

    def __str__(self) -> str:
        return f"tmux.{self.key}"


def default_session(runner_id: str) -> str:
    """The session for jobs without an executor: the runner id, in tmux's name characters."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", runner_id)[:64]


def parse(executor: str, runner_id: str) -> Target:
    """The target a job names; an empty executor means the runner's own session."""
    if not executor:
        return Target(default_session(runner_id))
    kind, _, rest = executor.partition(".")
    if kind != "tmux":
        raise ExecutorError(f"executor {executor!r} is not a tmux target: expected {FORMAT}")
    parts = rest.split(".") if rest else []
    if not 1 <= len(parts) <= 3:
        raise ExecutorError(f"executor {executor!r} has {len(parts)} name(s) after 'tmux': expected {FORMAT}")
    for role, name in zip(("session", "window", "pane"), parts, strict=False):
        if not _NAME.match(name):
            raise ExecutorError(f"executor {executor!r}: {role} name {name!r} must be 1-64 letters, digits, '_' or '-'")
    return Target(*parts)
