"""Process helpers: parent-death signals and running a job's subprocess under a deadline."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` when our parent dies, so no orphan outlives a killed master.

    A parent that died before the request took effect is caught by checking it afterwards.
    """
    global _libc
    try:
        _libc = _libc or ctypes.CDLL(None, use_errno=True)
        _libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)


def own_session(parent_pid: int) -> None:
    """For ``preexec_fn``: a session of its own (its pid is the process group a timeout kills),
    ended with the parent."""
    os.setsid()
    die_with_parent(parent_pid)


def popen_in_session(
    argv: list[str], env: dict[str, str], cwd: str | None, stdin: int, text: bool
) -> subprocess.Popen[Any]:
    """Start ``argv`` in a session of its own (see :func:`own_session`), stdout and stderr piped."""
    return subprocess.Popen(
        argv,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        text=text,
        errors="replace" if text else None,
        preexec_fn=functools.partial(own_session, os.getpid()),
    )


def limit_memory(mib: int) -> None:
    """Cap this process's data memory (heap and private mappings, ``RLIMIT_DATA``) at ``mib``
    MiB, so an allocation past it raises ``MemoryError`` here instead of the machine swapping.

    ``RLIMIT_DATA`` rather than ``RLIMIT_AS``: address space reserved but not written (thread
    stacks' guard pages, a runtime's arenas) does not count. Processes the job starts inherit it.
    """
    if mib > 0:
        limit = mib * 1_048_576
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def memory_limit_mib() -> int:
    """This process's ``RLIMIT_DATA`` in MiB; 0 when there is none."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return 0 if soft == resource.RLIM_INFINITY else soft // 1_048_576


@dataclass(slots=True)
class Completed:
    pid: int
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool


def run_streaming(
    argv: list[str],
    stdin: str,
    env: dict[str, str],
    timeout_s: float,
    on_line: Callable[[str], None],
    on_start: Callable[[int], None] = lambda _pgid: None,
    cwd: str | None = None,
) -> Completed:
    """Run ``argv`` in a session of its own; stream stdout lines; kill the group on timeout."""
    proc = popen_in_session(argv, env, cwd, subprocess.PIPE, text=True)
    on_start(proc.pid)
    out: list[str] = []
    err: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None

    def pump_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            on_line(line.rstrip("\n"))

    def pump_err() -> None:
        assert proc.stderr is not None
        err.append(proc.stderr.read())

    readers = [threading.Thread(target=pump_out, daemon=True), threading.Thread(target=pump_err, daemon=True)]
    for reader in readers:
        reader.start()
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    timed_out = False
    try:
        proc.wait(timeout=max(timeout_s, 0.001))
    except subprocess.TimeoutExpired:
        timed_out = True
        stop_process(proc)
    for reader in readers:
        reader.join(timeout=2)
    if not any(reader.is_alive() for reader in readers):
        # A reader still blocked (a grandchild holding the pipe open) keeps its pipe; closing
        # it under the reader would race. Otherwise close them now rather than at collection.
        proc.stdout.close()
        proc.stderr.close()
    return Completed(proc.pid, proc.returncode, "".join(out), "".join(err), timed_out)


def stop_process(proc: subprocess.Popen[Any], grace_s: float = 1.0) -> None:
    """SIGTERM the process's group, SIGKILL it after ``grace_s``, and reap the leader."""
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    # SIGKILL the group even when the leader left: its descendants may linger.
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
