"""Runs one job's command inside a tmux pane; started there by the tmux runner.

Usage: ``python -I wrapper.py JOB_DIR``. Standard library only: it runs as a plain script in
the pane, where the horus package may not be importable.

The command's output goes both to the pane (so a person attached sees it) and to
``JOB_DIR/out``, which the worker follows; its exit code is written to ``JOB_DIR/exit`` once the
output is complete. The screen is never scraped. The files are written so that a worker that
dies mid-job can be replaced by another that picks the run up where it is (see ``jobfiles``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

CHUNK = 65536
#: How long to wait for the worker's go-ahead; a worker that died before giving it never will,
#: and the command is then left to the job's next delivery.
GO_TIMEOUT_S = 60.0


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _start_time() -> str:
    """Our start time in clock ticks since boot: with the pid, it names this process uniquely."""
    return Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]


def _echo(text: bytes) -> bool:
    """Show output in the pane; False once the pane is gone (the output is still captured)."""
    try:
        os.write(sys.stdout.fileno(), text)
    except OSError:
        return False
    return True


def _wait_for(path: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """SIGINT (C-c) and SIGHUP are for the command: we stay to record how it ended.

    A handler rather than SIG_IGN, so the command starts with the default disposition.
    """


def main(job_dir: Path) -> int:
    spec_path = job_dir / "spec.json"
    spec = json.loads(spec_path.read_text())
    spec_path.unlink()  # it holds the job's env var values
    # Killing the job's process group must never reach the pane's shell: a shell without job
    # control leaves us in its own group, so take one of our own.
    if os.getpgrp() == os.getsid(0):
        os.setpgid(0, 0)
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGHUP, _ignore)
    _write_atomic(job_dir / "pid", f"{os.getpid()} {os.getpgrp()} {_start_time()}\n")
    echo = _echo(f"\x1b[2m--- horus job {spec['job_id']} ---\x1b[0m\n".encode())
    # The worker registers our process group with the job before it says go, so a cancel that
    # comes once the command runs always finds the group to kill.
    if not _wait_for(job_dir / "go", GO_TIMEOUT_S):
        _echo(b"--- no worker took this command: not run ---\n")
        return 125
    with (job_dir / "out").open("ab", buffering=0) as out:
        try:
            proc = subprocess.Popen(spec["argv"], env=spec["env"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            out.write(f"cannot start {spec['argv'][0]!r}: {exc.strerror}\n".encode())
            _write_atomic(job_dir / "exit", "127\n")
            return 127
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), CHUNK):
            out.write(chunk)
            if echo:
                echo = _echo(chunk)
        code = proc.wait()
    if code < 0:  # killed by a signal: report it the way a shell does
        code = 128 - code
    _write_atomic(job_dir / "exit", f"{code}\n")
    if echo:
        _echo(f"\x1b[2m--- exit {code} ---\x1b[0m\n".encode())
    return code


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
