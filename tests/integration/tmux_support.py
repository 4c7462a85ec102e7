"""A private tmux server per test (``-L horus-test-…``), never the user's own, and its runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from horus.tmux.jobfiles import state_root
from tests.conftest import StartWorker, WorkerProc

WAIT = 30


@dataclass
class Tmux:
    socket: str

    def run(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def panes(self) -> list[str]:
        """Every pane as 'session window label attached'."""
        listing = self.run(
            "list-panes", "-a", "-F", "#{session_name} #{window_name} #{@horus_pane} #{session_attached}"
        )
        return sorted(listing.splitlines())


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    server = Tmux(f"horus-test-{uuid.uuid4().hex[:12]}")
    yield server
    subprocess.run(["tmux", "-L", server.socket, "kill-server"], capture_output=True, timeout=10)
    # tmux leaves the socket file of a killed server behind
    socket_dir = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    (socket_dir / server.socket).unlink(missing_ok=True)
    shutil.rmtree(state_root(server.socket), ignore_errors=True)


StartTmuxWorker = Callable[..., WorkerProc]


@pytest.fixture
def start_tmux_worker(start_worker: StartWorker, tmux: Tmux) -> StartTmuxWorker:
    def start(runner_id: str = "r1", *extra: str, socket: str | None = None, **kwargs: object) -> WorkerProc:
        option = f"socket={socket or tmux.socket}"
        return start_worker(runner_id, "--option", option, *extra, runner_type="tmux", **kwargs)

    return start


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
