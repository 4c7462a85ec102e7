"""Panes as serial resources, tenants apart, and jobs that outlive their worker.

Overlap is shown by markers the commands write, never by timing: each of two jobs writes
``start``, then waits (up to a bound) for the other's ``start`` before writing ``end``.
Run side by side, both starts come before either end; one after the other, the first gives up
waiting, and the markers come as start, end, start, end.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import redis
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.models import JobStatus
from tests.integration.test_worker import alive, follow_until
from tests.integration.tmux_support import (
    WAIT,
    StartTmuxWorker,
    Tmux,
    lines,
    start_tmux_worker,
    tmux,
    wait_for,
)

__all__ = ["start_tmux_worker", "tmux"]  # fixtures

#: How long a job waits for the other's start marker before giving up (the serial case pays it).
OTHER_WAIT_TICKS = 40  # x 0.05 s
#: Jobs that must meet wait long: a second pane's shell may be slow to start on a busy machine,
#: and they meet as soon as both run, so the bound costs nothing.
MEET_TICKS = WAIT * 20


def meeting_job(me: str, other: str, markers: Path, executor: str, ticks: int = OTHER_WAIT_TICKS) -> dict[str, object]:
    payload = (
        f"echo start-{me} >> {markers}; touch {markers}.{me}; i=0; "
        f"while [ ! -e {markers}.{other} ] && [ $i -lt {ticks} ]; do sleep 0.05; i=$((i+1)); done; "
        f"echo end-{me} >> {markers}"
    )
    return {"runner_id": "r1", "payload": payload, "executor": executor}


def test_jobs_for_one_pane_run_one_after_the_other(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    start_tmux_worker(concurrency=2)
    markers = tmp_path / "markers"
    ids = client.submit_many([meeting_job(n, o, markers, "tmux.s.w.shared") for n, o in (("a", "b"), ("b", "a"))])
    assert all(client.wait(job_id, WAIT).status == JobStatus.COMPLETED for job_id in ids)
    seen = lines(markers)
    first, second = seen[0][len("start-") :], seen[2][len("start-") :]
    assert seen == [f"start-{first}", f"end-{first}", f"start-{second}", f"end-{second}"]


def test_jobs_for_two_panes_run_side_by_side(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    start_tmux_worker(concurrency=2)
    markers = tmp_path / "markers"
    ids = client.submit_many(
        [
            meeting_job("a", "b", markers, "tmux.s.w.left", MEET_TICKS),
            meeting_job("b", "a", markers, "tmux.s.w.right", MEET_TICKS),
        ]
    )
    assert all(client.wait(job_id, WAIT).status == JobStatus.COMPLETED for job_id in ids)
    seen = lines(markers)
    assert sorted(seen[:2]) == ["start-a", "start-b"]
    assert sorted(seen[2:]) == ["end-a", "end-b"]


def test_one_pane_is_serial_across_workers(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    """Two worker processes on one tmux server share the pane lock."""
    start_tmux_worker(concurrency=1)
    start_tmux_worker(concurrency=1)
    markers = tmp_path / "markers"
    ids = client.submit_many([meeting_job(n, o, markers, "tmux.s.w.shared") for n, o in (("a", "b"), ("b", "a"))])
    assert all(client.wait(job_id, WAIT).status == JobStatus.COMPLETED for job_id in ids)
    seen = lines(markers)
    assert [line.split("-")[0] for line in seen] == ["start", "end", "start", "end"]
    assert seen[0][len("start-") :] == seen[1][len("end-") :]


def test_namespaces_are_kept_apart(
    r: redis.Redis, redis_url: str, key: SigningKey, namespace: str, start_tmux_worker: StartTmuxWorker, tmux: Tmux
) -> None:
    """Same runner id in two namespaces: each worker takes only its own namespace's jobs."""
    other_ns = namespace + "-b"
    with RedisClient(redis_url, namespace, key=key) as mine, RedisClient(redis_url, other_ns, key=key) as theirs:
        theirs_id = theirs.submit({"runner_id": "r1", "payload": "echo theirs", "executor": "tmux.theirs"})
        start_tmux_worker(concurrency=1)
        assert mine.run({"runner_id": "r1", "payload": "echo mine"}, WAIT).output == "mine\n"
        assert theirs.status(theirs_id)["status"] == "dispatched"
        assert r.llen(f"{other_ns}:runner:{{r1}}:jobs") == 1
        assert tmux.panes() == ["r1 main main 0"]
        # The last --namespace given wins: this worker serves the other tenant.
        start_tmux_worker("r1", "--namespace", other_ns, concurrency=1)
        assert theirs.wait(theirs_id, WAIT).output == "theirs\n"
    assert tmux.panes() == ["r1 main main 0", "theirs main main 0"]


def test_worker_killed_mid_job_is_picked_up_not_rerun(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    """The command keeps running in the pane when its worker dies; the job's next delivery
    takes it over and reports its end, instead of running it a second time."""
    victim = start_tmux_worker("r1", "--heartbeat-ttl", "1", concurrency=1)
    gate, runs = tmp_path / "gate", tmp_path / "runs"
    payload = f"echo started; echo run >> {runs}; while [ ! -e {gate} ]; do sleep 0.05; done; echo finished"
    job_id = client.submit({"runner_id": "r1", "payload": payload, "executor": "tmux.s.w.p"})
    follow_until(client, job_id, "started")
    children = [int(p) for p in Path(f"/proc/{victim.pid}/task/{victim.pid}/children").read_text().split()]
    os.kill(victim.pid, signal.SIGKILL)
    victim.proc.wait()
    wait_for(lambda: not any(alive(pid) for pid in children), "the killed worker's children to die")
    start_tmux_worker("r1", "--heartbeat-ttl", "1", concurrency=1)
    wait_for(lambda: client.status(job_id)["deliveries"] == 2, "the job's second delivery")
    gate.touch()
    result = client.wait(job_id, WAIT)
    assert result.status == JobStatus.COMPLETED, result.error
    assert (result.output, result.deliveries) == ("started\nfinished\n", 2)
    assert lines(runs) == ["run"]


def test_command_left_by_a_lost_worker_is_stopped_before_the_pane_is_reused(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    """A job cancelled while its worker was dead never returns to the pane; the next job there
    stops the command it left behind."""
    victim = start_tmux_worker("r1", "--heartbeat-ttl", "1", concurrency=1)
    pid_file = tmp_path / "pid"
    left = client.submit(
        {
            "runner_id": "r1",
            "payload": f"echo $$ > {pid_file}; echo started; while :; do sleep 0.05; done",
            "executor": "tmux.s.w.p",
        }
    )
    follow_until(client, left, "started")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.proc.wait()
    stray = int(pid_file.read_text())
    assert alive(stray)  # the pane's command is not in the worker's process tree
    client.cancel(left)
    start_tmux_worker("r1", "--heartbeat-ttl", "1", concurrency=1)
    assert client.wait(left, WAIT).status == JobStatus.CANCELLED
    result = client.run({"runner_id": "r1", "payload": "echo next", "executor": "tmux.s.w.p"}, WAIT)
    assert (result.status, result.output) == (JobStatus.COMPLETED, "next\n")
    assert not alive(stray)


def test_job_waiting_for_a_busy_pane_times_out_saying_so(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmp_path: Path
) -> None:
    start_tmux_worker(concurrency=2)
    gate = tmp_path / "gate"
    busy = client.submit(
        {
            "runner_id": "r1",
            "payload": f"echo started; while [ ! -e {gate} ]; do sleep 0.05; done",
            "executor": "tmux.s.w.p",
        }
    )
    follow_until(client, busy, "started")
    waiting = client.run({"runner_id": "r1", "payload": "echo never", "executor": "tmux.s.w.p", "timeout": 1}, WAIT)
    assert waiting.status == JobStatus.TIMEOUT
    assert waiting.error == "timed out after 1 s waiting for tmux.s.w.p (busy with another job)"
    gate.touch()
    assert client.wait(busy, WAIT).status == JobStatus.COMPLETED


def test_pane_running_a_program_of_a_person_is_left_alone(
    client: RedisClient, start_tmux_worker: StartTmuxWorker, tmux: Tmux
) -> None:
    """Keys typed while a program runs would go to that program: the job fails instead."""
    start_tmux_worker()
    assert client.run({"runner_id": "r1", "payload": "true", "executor": "tmux.s.w.p"}, WAIT).exit_code == 0
    pane = "=s:w"
    tmux.run("send-keys", "-t", pane, "sleep 600", "Enter")
    wait_for(
        lambda: tmux.run("display-message", "-p", "-t", pane, "#{pane_current_command}").strip() == "sleep", "sleep"
    )
    result = client.run({"runner_id": "r1", "payload": "echo typed", "executor": "tmux.s.w.p"}, WAIT)
    assert result.status == JobStatus.FAILED
    assert "is busy running 'sleep'" in (result.error or ""), result.error
