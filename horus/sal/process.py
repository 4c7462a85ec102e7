"""``process``: run commands, find executables, signal processes.

Every command runs in a process group of its own that is registered with the job while it
runs, so the job's timeout or a cancel kills it and everything it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from typing import Any

from horus.sal.common import SalError, seconds, show_value, time_left
from horus.sal.paths import PathGuard
from horus.sal.spawn import run_command
from horus.worker.context import JobContext, JobTimeout

RUN_OPTIONS = frozenset({"cwd", "env", "timeout", "check"})


def _argv(cmd: object) -> tuple[list[str], str]:
    """A string runs through ``/bin/sh -c``; an array is the argv itself (no shell)."""
    if isinstance(cmd, str) and cmd.strip():
        return ["/bin/sh", "-c", cmd], cmd
    if isinstance(cmd, list) and cmd and all(isinstance(part, str) for part in cmd):
        return list(cmd), " ".join(cmd)
    raise SalError(f"command must be a non-empty string or an array of strings, not {show_value(cmd)}")


def _signal(sig: object) -> signal.Signals:
    try:
        if isinstance(sig, int) and not isinstance(sig, bool):
            return signal.Signals(sig)
        if isinstance(sig, str):
            name = sig.upper()
            return signal.Signals[name if name.startswith("SIG") else "SIG" + name]
    except (KeyError, ValueError):
        pass
    raise SalError(f'unknown signal {show_value(sig)} (use a name such as "TERM" or "KILL", or a number)')


class ProcessModule:
    def __init__(self, ctx: JobContext, guard: PathGuard | None = None) -> None:
        self._ctx = ctx
        self._guard = guard or PathGuard()

    def run(self, cmd: str | list[str], options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run ``cmd`` and wait; returns ``#{stdout, stderr, exit_code, success}``.

        Options: ``cwd``, ``env`` (added to the job's environment), ``timeout`` (seconds, never
        past the job's own deadline), ``check`` (a non-zero exit becomes an error).
        """
        argv, shown = _argv(cmd)
        opts = self._options(options)
        env = self._ctx.subprocess_env()
        env.update(opts["env"])
        cwd = self._cwd(opts["cwd"])
        wanted = opts["timeout"]
        try:
            done = run_command(
                argv,
                env,
                cwd,
                time_left(self._ctx.deadline, wanted),
                self._ctx.adopt_process_group,
                self._ctx.release_process_group,
            )
        except FileNotFoundError:
            raise SalError(f"command not found: {argv[0]}") from None
        except PermissionError:
            raise SalError(f"command not executable: {argv[0]}") from None
        if done.timed_out:
            if time.monotonic() >= self._ctx.deadline:
                # The job's own time is up: end it as timed out, which no script `catch` can stop.
                raise JobTimeout
            raise SalError(f"command {shown!r} timed out after {wanted:g} s")
        if opts["check"] and done.exit_code != 0:
            last = done.stderr.strip().splitlines()[-1:]
            raise SalError(f"command {shown!r} exited with code {done.exit_code}" + "".join(f": {x}" for x in last))
        return {
            "stdout": done.stdout,
            "stderr": done.stderr,
            "exit_code": done.exit_code,
            "success": done.exit_code == 0,
        }

    def _options(self, options: object) -> dict[str, Any]:
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise SalError(f"process.run options must be a map, not {show_value(options)}")
        unknown = sorted(set(options) - RUN_OPTIONS)
        if unknown:
            raise SalError(f"unknown process.run option {', '.join(unknown)} (known: {', '.join(sorted(RUN_OPTIONS))})")
        env = options.get("env") or {}
        if not isinstance(env, dict):
            raise SalError(f"process.run env must be a map, not {show_value(env)}")
        timeout = options.get("timeout")
        return {
            "cwd": options.get("cwd"),
            "env": {str(name): str(value) for name, value in env.items()},
            "timeout": None if timeout is None else seconds(timeout, "process.run timeout"),
            "check": bool(options.get("check", False)),
        }

    def _cwd(self, cwd: object) -> str | None:
        if cwd is None:
            return str(self._guard.root) if self._guard.root else None
        real = self._guard.resolve(cwd, "cwd")
        if not real.is_dir():
            raise SalError(f"cwd {cwd!r} is not a directory")
        return str(real)

    def which(self, name: str) -> str | None:
        """The full path of an executable on the job's PATH, or () when there is none."""
        return shutil.which(name, path=self._ctx.subprocess_env().get("PATH"))

    def kill(self, pid: int, sig: object = "TERM") -> bool:
        """Send a signal (default TERM) to a process; true when it was delivered."""
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise SalError(f"pid must be a positive integer, not {show_value(pid)}")
        try:
            os.kill(pid, _signal(sig))
        except ProcessLookupError:
            raise SalError(f"no process with pid {pid}") from None
        except PermissionError:
            raise SalError(f"not allowed to signal pid {pid}") from None
        return True
