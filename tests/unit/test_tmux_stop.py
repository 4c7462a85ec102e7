"""Stopping a pane's command: it is gone when ``stop`` returns, not merely signalled."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from horus.tmux.jobfiles import JobDir, Process
from horus.tmux.run import stop

#: A process holding this much memory takes a while to die after its SIGKILL (its pages are
#: freed first), long enough to be seen still running by a stop that does not wait.
HELD_MB = 256


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


@pytest.fixture
def stubborn() -> Iterator[subprocess.Popen[str]]:
    """A command in a group of its own that ignores the interrupt and holds much memory."""
    code = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        f"b = b'x' * ({HELD_MB} << 20); print('held', flush=True); time.sleep(300)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_stop_returns_once_the_group_is_gone(stubborn: subprocess.Popen[str], tmp_path: Path) -> None:
    process = Process(stubborn.pid, stubborn.pid, _start_time(stubborn.pid))
    assert stop(process, JobDir(tmp_path)) is None  # killed: no exit code written
    assert _state(stubborn.pid) in ("Z", "X")  # dead (a zombie until we reap it), not dying
