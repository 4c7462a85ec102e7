"""The ``process`` module: real subprocesses, their process group and the job's deadline."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from horus.sal.common import SalError
from horus.sal.paths import PathGuard
from horus.sal.process import ProcessModule
from horus.worker.context import JobTimeout
from tests.unit.sal_support import job_context


@pytest.fixture
def proc() -> ProcessModule:
    return ProcessModule(job_context({"JOB_VAR": "from job"}))


def wait_gone(pid: int, within: float = 5.0) -> bool:
    """Block until ``pid`` has exited (its pidfd turns readable), or ``within`` seconds pass."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], within)[0])
    finally:
        os.close(fd)


def test_run_returns_output_and_exit_code(proc: ProcessModule) -> None:
    result = proc.run("echo out; echo err >&2; exit 3")
    assert result == {"stdout": "out\n", "stderr": "err\n", "exit_code": 3, "success": False}
    assert proc.run("true")["success"] is True


def test_run_an_argv_array_without_a_shell(proc: ProcessModule) -> None:
    assert proc.run(["printf", "%s|", "a b", "$HOME"])["stdout"] == "a b|$HOME|"


def test_job_env_reaches_the_command_but_not_the_worker_env(
    proc: ProcessModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_SECRET", "s3cret")
    out = proc.run('echo "$JOB_VAR|$EXTRA|$WORKER_SECRET"', {"env": {"EXTRA": 5}})["stdout"]
    assert out == "from job|5|\n"


def test_cwd_option(proc: ProcessModule, tmp_path: Path) -> None:
    assert proc.run("pwd", {"cwd": str(tmp_path)})["stdout"].strip() == str(tmp_path)
    with pytest.raises(SalError, match=r"cwd '.*/missing' is not a directory"):
        proc.run("pwd", {"cwd": str(tmp_path / "missing")})


def test_with_a_root_cwd_defaults_to_it_and_stays_inside(tmp_path: Path) -> None:
    proc = ProcessModule(job_context(), PathGuard(tmp_path))
    assert proc.run("pwd")["stdout"].strip() == str(tmp_path)
    (tmp_path / "sub").mkdir()
    assert proc.run("pwd", {"cwd": "sub"})["stdout"].strip() == str(tmp_path / "sub")
    with pytest.raises(SalError, match=r"cwd '..' is outside the root"):
        proc.run("pwd", {"cwd": ".."})


def test_check_turns_a_failure_into_an_error_naming_the_command(proc: ProcessModule) -> None:
    with pytest.raises(SalError, match=r"command 'ls /nonexistent-dir' exited with code 2: .*nonexistent-dir"):
        proc.run("ls /nonexistent-dir", {"check": True})
    assert proc.run("true", {"check": True})["exit_code"] == 0


def test_missing_executable_in_argv_is_named(proc: ProcessModule) -> None:
    with pytest.raises(SalError, match=r"command not found: no-such-binary-xyz"):
        proc.run(["no-such-binary-xyz"])
    assert proc.run("no-such-binary-xyz")["exit_code"] == 127


def test_bad_command_and_options_are_refused(proc: ProcessModule) -> None:
    with pytest.raises(SalError, match=r"command must be a non-empty string"):
        proc.run("  ")
    with pytest.raises(SalError, match=r"unknown process.run option shell"):
        proc.run("true", {"shell": True})
    with pytest.raises(SalError, match=r"timeout must be a positive number"):
        proc.run("true", {"timeout": -1})


def test_own_timeout_kills_the_group_and_is_catchable(proc: ProcessModule, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    began = time.monotonic()
    with pytest.raises(SalError, match=r"command '.*' timed out after 0.5 s"):
        proc.run(f"sleep 60 & echo $! > {pidfile}; wait", {"timeout": 0.5})
    assert time.monotonic() - began < 10
    assert wait_gone(int(pidfile.read_text()))


def test_job_deadline_ends_the_job_as_timed_out(tmp_path: Path) -> None:
    ctx = job_context(timeout=0.5)
    pidfile = tmp_path / "pid"
    with pytest.raises(JobTimeout):
        ProcessModule(ctx).run(f"echo $$ > {pidfile}; exec sleep 60", {"timeout": 30})
    assert wait_gone(int(pidfile.read_text()))
    assert ctx.process_groups == set()


def test_running_command_is_registered_with_the_job(tmp_path: Path) -> None:
    ctx = job_context()
    seen: list[set[int]] = []
    ctx.announce = lambda _message: seen.append(set(ctx.process_groups))
    result = ProcessModule(ctx).run("echo $$")
    assert seen == [{int(result["stdout"])}]  # registered while it ran (its pid is its group)
    assert ctx.process_groups == set()  # and released after


def test_command_returns_when_it_exits_though_a_background_child_holds_its_output(
    proc: ProcessModule,
) -> None:
    began = time.monotonic()
    result = proc.run("sleep 30 & echo $!")
    assert time.monotonic() - began < 15  # well short of the 30 s it would take otherwise
    pid = int(result["stdout"])
    try:
        assert not wait_gone(pid, 0), "the background process should run on after the command"
    finally:
        os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)


def test_large_output_on_both_streams_is_collected(proc: ProcessModule) -> None:
    result = proc.run("head -c 300000 /dev/zero | tr '\\0' o; head -c 200000 /dev/zero | tr '\\0' e >&2")
    assert (len(result["stdout"]), len(result["stderr"])) == (300000, 200000)


def test_which(proc: ProcessModule) -> None:
    assert proc.which("sh") in ("/bin/sh", "/usr/bin/sh")
    assert proc.which("no-such-binary-xyz") is None


def test_kill(proc: ProcessModule) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert proc.kill(child.pid) is True
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        child.kill()
    other = subprocess.Popen(["sleep", "60"])
    try:
        assert proc.kill(other.pid, "KILL") is True
        assert other.wait(timeout=10) == -signal.SIGKILL
    finally:
        other.kill()


def test_kill_errors_name_the_pid_or_signal(proc: ProcessModule) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    with pytest.raises(SalError, match=rf"no process with pid {child.pid}"):
        proc.kill(child.pid)
    with pytest.raises(SalError, match=r"unknown signal 'NOPE'"):
        proc.kill(os.getpid(), "NOPE")
    with pytest.raises(SalError, match=r"pid must be a positive integer"):
        proc.kill(0)
