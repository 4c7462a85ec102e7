"""The runner's files beside a tmux server: pane locks, pane records and per-job directories.

Everything lives under ``$TMUX_TMPDIR`` (else ``/tmp``) in ``horus-tmux-UID/SOCKET/``, next to
where tmux keeps its own socket, so every worker that drives one tmux server shares them:

* ``panes/S.W.P.lock`` — ``flock``ed by the worker running a job in that pane. The kernel drops
  the lock when its holder dies, so a crashed worker never leaves a pane locked.
* ``panes/S.W.P.job`` — the id of the job last started in the pane, removed once its worker has
  collected the result. A record found by the next lock holder means a worker died mid-job.
* ``jobs/JOB/`` — ``spec.json`` (argv, env; deleted by the wrapper as it starts), ``pid``,
  ``go`` (the worker's go-ahead), ``out`` (the output), ``exit`` (the exit code, written last).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from horus.errors import HorusError


class StateDirError(HorusError, RuntimeError):
    """The runner's state directory is missing and cannot be made, or is not safely ours."""


def state_root(socket: str) -> Path:
    base = Path(os.environ.get("TMUX_TMPDIR") or "/tmp")
    return base / f"horus-tmux-{os.getuid()}" / socket


def _private_dir(path: Path) -> Path:
    """Create ``path`` mode 700, or check an existing one is ours and private (job env lives here)."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise StateDirError(f"{path} must be a directory owned by uid {os.getuid()} with mode 700")
    return path


@dataclass(frozen=True, slots=True)
class Process:
    """The wrapper running a job: its pid, process group and start time (pid reuse guard)."""

    pid: int
    pgid: int
    start_time: str

    def alive(self) -> bool:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return fields[0] not in ("Z", "X") and fields[19] == self.start_time


class JobDir:
    """One job's files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def out(self) -> Path:
        return self.path / "out"

    def create(self, spec: dict[str, Any]) -> None:
        shutil.rmtree(self.path, ignore_errors=True)  # a run that never started: begin afresh
        _private_dir(self.path)
        self.out.touch(mode=0o600)
        fd = os.open(self.path / "spec.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)

    def give_go(self) -> None:
        """Let the started wrapper run the command (once its process group is registered)."""
        (self.path / "go").touch()

    def process(self) -> Process | None:
        """The wrapper, once it has started."""
        try:
            pid, pgid, start_time = (self.path / "pid").read_text().split()
        except (OSError, ValueError):
            return None
        return Process(int(pid), int(pgid), start_time)

    def exit_code(self) -> int | None:
        """The command's exit code, once it has ended and its output is complete."""
        try:
            return int((self.path / "exit").read_text())
        except (OSError, ValueError):
            return None

    def output(self) -> str:
        try:
            return self.out.read_bytes().decode(errors="replace")
        except OSError:
            return ""

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class StateDir:
    def __init__(self, socket: str) -> None:
        self.root = state_root(socket)

    def ensure(self) -> None:
        _private_dir(self.root.parent)
        _private_dir(self.root)
        _private_dir(self.root / "panes")
        _private_dir(self.root / "jobs")

    def job(self, job_id: str) -> JobDir:
        return JobDir(self.root / "jobs" / job_id)

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold ``name``'s exclusive lock; blocks while another process holds it."""
        fd = os.open(self.root / "panes" / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def record(self, pane_key: str) -> str | None:
        """The job last started in the pane whose worker has not collected it."""
        try:
            return (self.root / "panes" / f"{pane_key}.job").read_text().strip() or None
        except OSError:
            return None

    def set_record(self, pane_key: str, job_id: str) -> None:
        path = self.root / "panes" / f"{pane_key}.job"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(job_id)
        os.replace(tmp, path)

    def clear_record(self, pane_key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / "panes" / f"{pane_key}.job").unlink()
