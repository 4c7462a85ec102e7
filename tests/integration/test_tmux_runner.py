"""The tmux runner on a private tmux server: output, exit codes, env vars, targets, timeouts."""

from __future__ import annotations

import os
from pathlib import Path

from horus.client import RedisClient
from horus.models import JobStatus
from tests.integration.test_worker import alive, follow_until
from tests.integration.tmux_support import WAIT, StartTmuxWorker, Tmux, start_tmux_worker, tmux, wait_for

__all__ = ["start_tmux_worker", "tmux"]  # fixtures


def job(payload: str, executor: str = "tmux.s1.w1.p1", **fields: object) -> dict[str, object]:
    return {"runner_id": "r1", "payload": payload, "executor": executor, **fields}


#: The timeout of the jobs that time out; their command must have started well before it.
SHORT_TIMEOUT = 2


def warm_pane(client: RedisClient) -> None:
    """Run a job in the default pane first: creating the tmux server, session and shell takes
    a good part of a second on a busy machine, and a short timeout must not be spent on it."""
    assert client.run(job("true"), WAIT).status == JobStatus.COMPLETED


def test_output_streams_and_is_stored(client: RedisClient, start_tmux_worker: StartTmuxWorker) -> None:
    start_tmux_worker()
    result = client.run(job("echo one; echo two >&2; printf 'three'"), WAIT)
    assert result.status == JobStatus.COMPLETED, result.error
    assert (result.output, result.exit_code) == ("one\ntwo\nthree", 0)
    assert list(client.logs(result.job_id)) == ["one", "two", "three"]


def test_nonzero_exit_fails_with_code_and_last_line(client: RedisClient, start_tmux_worker: StartTmuxWorker) -> None:
    start_tmux_worker()
    result = client.run(job("echo working; echo 'disk full' >&2; exit 3"), WAIT)
    assert result.status == JobStatus.FAILED
    assert result.exit_code == 3
    assert result.error == "exited with code 3: disk full"
    assert result.output == "working\ndisk full\n"


def test_env_vars_reach_the_command_only(client: RedisClient, start_tmux_worker: StartTmuxWorker) -> None:
    start_tmux_worker(env={"WORKER_SECRET": "s3cret"})
    payload = 'echo "$GREETING|${WORKER_SECRET-unset}|$HORUS_JOB_ID"'
    result = client.run(job(payload, env_vars={"GREETING": "hello world"}), WAIT)
    assert result.output == f"hello world|unset|{result.job_id}\n"
    # The values are not left on disk or on the screen: only the command line was typed.
    after = client.run(job('echo "${GREETING-gone}"'), WAIT)
    assert after.output == "gone\n"


def test_targets_are_created_detached_and_labelled(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmux: Tmux
) -> None:
    start_tmux_worker("r1", concurrency=1)
    for executor in ("tmux.s1.w1.p1", "tmux.s1.w1.p2", "tmux.s1.w2", "tmux.s2", ""):
        result = client.run(job("true", executor), WAIT)
        assert result.status == JobStatus.COMPLETED, (executor, result.error)
    assert tmux.panes() == [
        "r1 main main 0",  # no executor: a session named after the runner
        "s1 w1 p1 0",
        "s1 w1 p2 0",
        "s1 w2 main 0",
        "s2 main main 0",
    ]
    # The same names find the same panes again.
    assert client.run(job("true", "tmux.s1.w1.p2"), WAIT).status == JobStatus.COMPLETED
    assert len(tmux.panes()) == 5


def test_person_watching_sees_the_command_run(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmux: Tmux
) -> None:
    start_tmux_worker()
    client.run(job("echo visible-in-the-pane", "tmux.watch"), WAIT)
    screen = tmux.run("capture-pane", "-p", "-t", "=watch:main")
    assert "visible-in-the-pane" in screen
    assert "--- exit 0 ---" in screen


def test_executor_that_does_not_parse_is_refused(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmux: Tmux
) -> None:
    start_tmux_worker()
    result = client.run(job("true", "tmux.bad name"), WAIT)
    assert result.status == JobStatus.FAILED
    assert result.error == (
        "invalid executor: executor 'tmux.bad name': session name 'bad name' must be 1-64 letters, digits, '_' or '-'"
    )
    other = client.run(job("true", "docker.web"), WAIT)
    assert "is not a tmux target" in (other.error or "")


def test_timeout_interrupts_the_command(client: RedisClient, start_tmux_worker: StartTmuxWorker) -> None:
    start_tmux_worker()
    warm_pane(client)
    payload = "trap 'echo interrupted; exit 7' INT; echo ready; while :; do sleep 0.05; done"
    result = client.run(job(payload, timeout=SHORT_TIMEOUT), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert result.output == "ready\ninterrupted\n"
    assert (result.error, result.exit_code) == (f"timed out after {SHORT_TIMEOUT} s: interrupted", 7)


def test_timeout_kills_what_the_command_left_in_the_background(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    start_tmux_worker()
    warm_pane(client)
    pid_file = tmp_path / "pid"
    # A background job of a non-interactive shell ignores SIGINT, and outlives the command.
    payload = f"sleep 300 >/dev/null 2>&1 & echo $! > {pid_file}; trap 'exit 7' INT; while :; do sleep 0.05; done"
    result = client.run(job(payload, timeout=SHORT_TIMEOUT), WAIT)
    assert (result.status, result.exit_code) == (JobStatus.TIMEOUT, 7)
    wait_for(lambda: not alive(int(pid_file.read_text())), "the background job to be killed")


def test_timeout_kills_a_command_that_ignores_the_interrupt(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    start_tmux_worker()
    warm_pane(client)
    pid_file = tmp_path / "pid"
    payload = f"trap '' INT; echo $$ > {pid_file}; while :; do sleep 0.05; done"
    result = client.run(job(payload, timeout=SHORT_TIMEOUT), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert (result.error, result.exit_code) == (f"timed out after {SHORT_TIMEOUT} s: killed", None)
    wait_for(lambda: not alive(int(pid_file.read_text())), "the stubborn command to be gone")
    # The pane is usable again.
    assert client.run(job("echo next"), WAIT).output == "next\n"


def test_cancel_reaches_the_command_in_the_pane(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    start_tmux_worker()
    pid_file = tmp_path / "pid"
    job_id = client.submit(job(f"echo $$ > {pid_file}; while :; do sleep 0.05; done"))
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", "the command to start")
    pid = int(pid_file.read_text())
    assert client.cancel(job_id) == "cancelling"
    assert client.wait(job_id, WAIT).status == JobStatus.CANCELLED
    wait_for(lambda: not alive(pid), "the cancelled command to be killed")
    assert client.run(job("echo next"), WAIT).output == "next\n"


def test_missing_tmux_binary_refuses_to_start(start_tmux_worker: StartTmuxWorker) -> None:
    worker = start_tmux_worker("r1", "--option", "tmux_bin=/nonexistent/tmux")
    assert worker.proc.wait(timeout=WAIT) == 2
    assert "tmux not found: '/nonexistent/tmux'" in worker.log()


def test_state_dir_is_private(start_tmux_worker: StartTmuxWorker, client: RedisClient, tmux: Tmux) -> None:
    from horus.tmux.jobfiles import state_root

    start_tmux_worker()
    client.run(job("true"), WAIT)
    for path in (state_root(tmux.socket), state_root(tmux.socket).parent):
        assert os.stat(path).st_mode & 0o777 == 0o700


def test_pane_closed_under_a_running_job_fails_it(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmux: Tmux
) -> None:
    start_tmux_worker()
    job_id = client.submit(job("echo started; while :; do sleep 0.05; done", "tmux.closing"))
    follow_until(client, job_id, "started")
    tmux.run("kill-pane", "-t", "=closing:main")
    result = client.wait(job_id, WAIT)
    assert result.status == JobStatus.FAILED
    assert result.exit_code == 129, result.error  # SIGHUP, as when a terminal closes
    # The next job gets a new pane.
    assert client.run(job("echo again", "tmux.closing"), WAIT).output == "again\n"
