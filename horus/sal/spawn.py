"""Running one command for a script: its own process group, output collected, a deadline kept.

A command returns when it exits, even if something it started in the background still holds
its output pipes open (``server &``): what was written by then is kept, and the background
process runs on.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable

from horus.procutil import Completed, popen_in_session, stop_process

#: After the command exits, how long to wait for the rest of its output to arrive.
LINGER_S = 0.1
#: How often to look whether the command exited while a background process keeps its pipes open.
EXIT_CHECK_S = 0.1


def run_command(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    timeout_s: float,
    on_start: Callable[[int], None],
    on_end: Callable[[int], None],
) -> Completed:
    """Run ``argv``; ``on_start``/``on_end`` get its process group id (register it with the job).

    FileNotFoundError / PermissionError from starting it propagate to the caller.
    """
    proc: subprocess.Popen[bytes] = popen_in_session(argv, env, cwd, subprocess.DEVNULL, text=False)
    on_start(proc.pid)
    try:
        deadline = time.monotonic() + timeout_s
        out, err = _collect(proc, deadline)
        timed_out = False
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_process(proc)
    except BaseException:
        # The job timed out or was stopped while we waited: nothing of the command may outlive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)
        raise
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        on_end(proc.pid)
    return Completed(proc.pid, proc.returncode, out, err, timed_out)


def _collect(proc: subprocess.Popen[bytes], deadline: float) -> tuple[str, str]:
    """Read stdout and stderr until both close, the command has exited a moment ago, or the deadline."""
    assert proc.stdout is not None and proc.stderr is not None
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            limit = deadline if exited_at is None else min(deadline, exited_at + LINGER_S)
            if now >= limit:
                break
            for key, _events in selector.select(min(limit - now, EXIT_CHECK_S)):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    out, err = (b"".join(parts).decode("utf-8", errors="replace") for parts in chunks.values())
    return out, err
