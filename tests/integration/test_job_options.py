"""Job options on a real Redis with real ``horus worker`` processes: retries and their backoff,
``not_before`` and ``priority``, through the client, the CLI and the supervisor."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.models import JobResult, JobStatus
from horus.signing import public_hex
from tests.conftest import StartWorker, kill_tree
from tests.integration import test_supervisor
from tests.integration.test_cli import horus, write_job
from tests.integration.test_supervisor import Serve, signed
from tests.integration.test_worker import follow_until, task

serve = test_supervisor.serve  # the fixture: real supervisors on loopback ports

WAIT = 30
#: What a busy machine may add to a wait, on top of its jitter bound.
SLACK_S = 2.0


def wait_for(condition: Callable[[], object], what: str, deadline_s: float = WAIT) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def status_of(client: RedisClient, job_id: str) -> JobStatus:
    return client.result(job_id).status


def wait_scheduled(client: RedisClient, job_id: str) -> JobResult:
    """Poll until the job waits in the scheduled set (for its start or its next attempt)."""
    wait_for(lambda: status_of(client, job_id) is JobStatus.SCHEDULED, f"job {job_id} to be scheduled")
    return client.result(job_id)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def attempt_gaps(result: JobResult) -> list[float]:
    """Seconds from each attempt's end to the next one's start, oldest first."""
    ends = [a.completed_at for a in result.history]
    starts = [a.started_at for a in result.history[1:]] + [result.started_at]
    assert None not in ends and None not in starts, result
    return [float(s) - float(e) for e, s in zip(ends, starts, strict=True)]  # type: ignore[arg-type]


def redis_now(r: redis.Redis) -> float:
    seconds, micros = r.time()
    return seconds + micros / 1_000_000


# -- retries ----------------------------------------------------------------------------------
def test_a_task_failing_twice_then_succeeding_completes_on_its_third_attempt(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path, redis_url: str, namespace: str
) -> None:
    start_worker(concurrency=1)
    runs = tmp_path / "runs"
    result = client.run(task("flaky", str(runs), 2, retries=2, retry_backoff_s=0.05), WAIT)
    assert result.status is JobStatus.COMPLETED, result
    assert (result.value, result.attempts, result.deliveries) == (3, 3, 3)
    assert [(a.attempt, a.status) for a in result.history] == [(1, JobStatus.FAILED), (2, JobStatus.FAILED)]
    for n, attempt in enumerate(result.history, start=1):
        assert f"RuntimeError: run {n} failed" in (attempt.error or ""), attempt
        assert attempt.started_at is not None and attempt.completed_at is not None
        assert attempt.started_at <= attempt.completed_at
    assert len(lines(runs)) == 3
    assert client.status(result.job_id)["attempts"] == 3
    shown = horus("status", result.job_id, redis_url=redis_url, namespace=namespace)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.replace("│", " ").split())  # the panel wraps long rows
    for n in (1, 2):
        assert f"attempt {n} failed at " in text and f"RuntimeError: run {n} failed" in text, shown.stdout
    assert "attempts 3" in text, shown.stdout


def test_the_backoff_doubles_within_its_jitter(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1)
    base = 0.5
    result = client.run(task("boom", retries=3, retry_backoff_s=base), WAIT)
    assert result.status is JobStatus.FAILED
    assert "RuntimeError: task exploded" in (result.error or "")
    assert result.attempts == 4
    assert [a.attempt for a in result.history] == [1, 2, 3]
    assert all(a.status is JobStatus.FAILED for a in result.history)
    gaps = attempt_gaps(result)
    for attempt, gap in enumerate(gaps, start=1):
        nominal = base * 2 ** (attempt - 1)
        # The wait counts from when Redis scheduled the retry, after the attempt's end: never shorter.
        assert gap >= 0.8 * nominal, f"wait after attempt {attempt}: {gap:.3f} s < 0.8 * {nominal} s; gaps {gaps}"
        assert gap <= 1.2 * nominal + SLACK_S, f"wait after attempt {attempt}: {gap:.3f} s; gaps {gaps}"


def test_retry_backoff_max_caps_the_wait(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1)
    base, cap = 0.25, 0.3
    # Uncapped, the waits would be 0.25, 0.5, 1, 2 and 4 s (each at least 0.8 of that).
    result = client.run(task("boom", retries=5, retry_backoff_s=base, retry_backoff_max_s=cap), WAIT)
    assert (result.status, result.attempts) == (JobStatus.FAILED, 6)
    gaps = attempt_gaps(result)
    assert len(gaps) == 5
    assert gaps[0] >= 0.8 * base, gaps
    for attempt, gap in enumerate(gaps[1:], start=2):
        # Capped: min(cap, nominal * jitter) with a nominal at the cap already.
        assert gap >= 0.8 * cap, f"wait after attempt {attempt}: {gap:.3f} s; gaps {gaps}"
        assert gap <= cap + SLACK_S / 2, f"wait after attempt {attempt}: {gap:.3f} s (cap {cap}); gaps {gaps}"
    # The last wait uncapped is at least 3.2 s.
    assert sum(gaps) <= 5 * cap + SLACK_S, gaps


def test_a_timed_out_attempt_is_retried(client: RedisClient, start_worker: StartWorker, tmp_path: Path) -> None:
    start_worker(concurrency=1)
    runs = tmp_path / "runs"
    result = client.run(task("slow_first", str(runs), 30, timeout=1, retries=1, retry_backoff_s=0.05), WAIT)
    assert (result.status, result.value, result.attempts) == (JobStatus.COMPLETED, 2, 2), result
    (first,) = result.history
    assert first.status is JobStatus.TIMEOUT
    assert "timed out after 1 s" in (first.error or ""), first
    assert len(lines(runs)) == 2


def test_an_attempt_hard_killed_at_its_timeout_is_retried(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    """A task that swallows the soft timeout: the master kills its child and plans the retry."""
    worker = start_worker(concurrency=1)
    runs = tmp_path / "runs"
    result = client.run(task("stubborn_first", str(runs), 60, timeout=1, retries=1, retry_backoff_s=0.05), WAIT)
    assert (result.status, result.value, result.attempts) == (JobStatus.COMPLETED, 2, 2), result
    (first,) = result.history
    assert first.status is JobStatus.TIMEOUT
    assert first.exit_code == -signal.SIGKILL, first
    assert "killed: still running" in (first.error or ""), first
    assert first.started_at is not None and first.completed_at is not None
    assert len(lines(runs)) == 2
    assert worker.proc.poll() is None


def test_a_cancelled_job_is_not_retried(client: RedisClient, start_worker: StartWorker, tmp_path: Path) -> None:
    start_worker(concurrency=1)
    runs = tmp_path / "runs"
    job_id = client.submit(task("note", str(runs), "x", 60, retries=3, retry_backoff_s=0.05))
    follow_until(client, job_id, "started")
    assert client.cancel(job_id) == "cancelling"
    result = client.wait(job_id, WAIT)
    assert (result.status, result.attempts, result.history) == (JobStatus.CANCELLED, 1, [])
    assert client.broker.scheduled_count("r1") == 0
    # A job queued after it runs to its end: the worker took nothing else of the cancelled one.
    assert client.run(task("add", 1, 1), WAIT).value == 2
    assert client.result(job_id).status is JobStatus.CANCELLED
    assert lines(runs) == ["x"]


def test_a_job_cancelled_during_its_retry_keeps_its_history(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    start_worker(concurrency=1)
    runs = tmp_path / "runs"
    job_id = client.submit(task("steps", str(runs), "fail", "hang", retries=3, retry_backoff_s=0.05))
    follow_until(client, job_id, "started")  # attempt 2 runs
    running = client.status(job_id)
    assert (running["status"], running["attempts"], len(running["history"])) == ("running", 2, 1)
    assert client.cancel(job_id) == "cancelling"
    result = client.wait(job_id, WAIT)
    assert (result.status, result.attempts) == (JobStatus.CANCELLED, 2), result
    assert [(a.attempt, a.status) for a in result.history] == [(1, JobStatus.FAILED)]
    assert client.broker.scheduled_count("r1") == 0
    assert len(lines(runs)) == 2


def test_a_retry_after_a_long_attempt_is_not_refused_as_stale(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    """Attempt 1 runs to its timeout (3 s), longer than the worker's max job age (2 s): the retry
    the job asked for must still run, as it would after a long attempt under the default age."""
    start_worker("r1", "--max-job-age", "2", concurrency=1)
    runs = tmp_path / "runs"
    result = client.run(task("slow_first", str(runs), 30, timeout=3, retries=1, retry_backoff_s=0.05), WAIT)
    assert [a.status for a in result.history] == [JobStatus.TIMEOUT]
    assert (result.status, result.attempts) == (JobStatus.COMPLETED, 2), result.error


def test_a_crash_redelivery_counts_a_delivery_not_an_attempt(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    """Attempt 1 fails; attempt 2's child is killed, and the job is delivered again as the same
    attempt, which completes: three deliveries, two attempts, one retry used."""
    start_worker(concurrency=1)
    runs = tmp_path / "runs"
    result = client.run(task("steps", str(runs), "fail", "die", "ok", retries=1, retry_backoff_s=0.05), WAIT)
    assert (result.status, result.value) == (JobStatus.COMPLETED, 3), result
    assert (result.attempts, result.deliveries) == (2, 3)
    assert [(a.attempt, a.status) for a in result.history] == [(1, JobStatus.FAILED)]


# -- not_before -------------------------------------------------------------------------------
def test_not_before_is_honoured_and_the_job_starts_right_after(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    start_worker(concurrency=1)
    runs = tmp_path / "runs"
    not_before = round(time.time() + 2, 3)
    job_id = client.submit(task("note", str(runs), "late", not_before=not_before))
    waiting = client.result(job_id)
    assert waiting.status is JobStatus.SCHEDULED, waiting
    assert waiting.due_at is not None and abs(waiting.due_at - not_before) < 0.002, waiting
    assert waiting.attempts == 0
    info = client.status(job_id)
    assert (info["status"], info["not_before"]) == ("scheduled", not_before)
    assert client.broker.scheduled_count("r1") == 1
    result = client.wait(job_id, WAIT)
    assert result.status is JobStatus.COMPLETED
    assert result.started_at is not None
    lag = result.started_at - not_before
    assert lag >= -0.05, f"started {-lag:.3f} s before its not_before"
    assert lag < 1.0, f"started {lag:.3f} s after its not_before"
    assert (result.attempts, result.deliveries, result.due_at) == (1, 1, None)
    assert client.broker.scheduled_count("r1") == 0
    assert lines(runs) == ["late"]


def test_a_not_before_already_past_runs_at_once(client: RedisClient, start_worker: StartWorker) -> None:
    job_id = client.submit(task("add", 2, 2, not_before=time.time() - 60))
    # Queued, never scheduled: no worker serves the runner yet.
    assert status_of(client, job_id) is JobStatus.DISPATCHED
    assert client.broker.scheduled_count("r1") == 0
    assert client.broker.queue_length("r1") == 1
    start_worker(concurrency=1)
    result = client.wait(job_id, WAIT)
    assert (result.status, result.value) == (JobStatus.COMPLETED, 4)


# -- priority ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra",
    [[], ["--rate-limit", "1000/s"]],
    ids=["read-ahead", "rate-limited"],  # tokens traded by start.lua / by take_priority.lua
)
def test_priorities_order_the_starts_first_come_within_one(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path, extra: list[str]
) -> None:
    runs = tmp_path / "runs"
    jobs = [("a", 0), ("b", 5), ("c", 9), ("d", 0), ("e", 5), ("f", 9), ("g", 1)]
    ids = {name: client.submit(task("note", str(runs), name, priority=p)) for name, p in jobs}
    assert all(status_of(client, job_id) is JobStatus.DISPATCHED for job_id in ids.values())
    assert client.broker.queue_length("r1") == len(jobs)  # a token stands for each job with a priority
    start_worker("r1", *extra, concurrency=1)
    results = {name: client.wait(job_id, WAIT) for name, job_id in ids.items()}
    expected = ["c", "f", "b", "e", "g", "a", "d"]
    assert lines(runs) == expected
    by_start = sorted(results, key=lambda name: results[name].started_at or 0.0)
    assert by_start == expected, {name: results[name].started_at for name in by_start}
    assert all(r.status is JobStatus.COMPLETED and r.deliveries == 1 for r in results.values())
    assert client.broker.queue_length("r1") == 0


# -- crashes and races ------------------------------------------------------------------------
def test_a_worker_killed_during_a_backoff_loses_no_job(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    first = start_worker(concurrency=1)
    runs = tmp_path / "runs"
    job_id = client.submit(task("flaky", str(runs), 1, retries=1, retry_backoff_s=2))
    waiting = wait_scheduled(client, job_id)
    assert (waiting.attempts, len(waiting.history)) == (1, 1)
    kill_tree(first.proc)  # SIGKILL, master and children
    start_worker(concurrency=1)
    result = client.wait(job_id, WAIT)
    assert (result.status, result.value, result.attempts) == (JobStatus.COMPLETED, 2, 2), result
    assert [a.status for a in result.history] == [JobStatus.FAILED]
    assert result.deliveries == 2
    assert len(lines(runs)) == 2


def test_two_workers_release_each_due_job_once(client: RedisClient, start_worker: StartWorker, tmp_path: Path) -> None:
    for _ in range(2):
        start_worker("r1", concurrency=2)
    wait_for(lambda: len(client.broker.workers("r1")) == 4, "4 children to register")
    runs = tmp_path / "runs"
    not_before = round(time.time() + 1.5, 3)
    ids = client.submit_many([task("note", str(runs), f"j{n}", not_before=not_before) for n in range(200)])
    assert client.broker.scheduled_count("r1") == 200
    results = [client.wait(job_id, WAIT) for job_id in ids]
    assert all(r.status is JobStatus.COMPLETED for r in results)
    assert [r.deliveries for r in results] == [1] * 200
    assert all((r.started_at or 0) >= not_before - 0.05 for r in results)
    assert sorted(lines(runs)) == sorted(f"j{n}" for n in range(200))
    assert client.broker.scheduled_count("r1") == 0


def test_concurrent_releases_move_each_due_job_once(client: RedisClient, r: redis.Redis) -> None:
    broker = client.broker
    not_before = round(time.time() + 0.5, 3)
    ids = client.submit_many([task("add", n, 1, not_before=not_before) for n in range(300)])
    assert broker.scheduled_count("r1") == 300
    wait_for(lambda: redis_now(r) >= not_before + 0.01, "the jobs to be due")
    start = threading.Barrier(6)
    moved: list[int] = []

    def release() -> None:
        start.wait()
        total = 0
        for _ in range(300):  # bounded: a release that moved nothing for good would loop forever
            count, wait_ms = broker.release_due("r1", limit=7)
            total += count
            if wait_ms != 0:
                break
        moved.append(total)

    threads = [threading.Thread(target=release) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len(moved) == 6
    assert sum(moved) == 300, moved
    queued = r.lrange(broker.keys.queue("r1"), 0, -1)
    assert sorted(queued) == sorted(ids)
    assert broker.scheduled_count("r1") == 0
    assert {status_of(client, job_id) for job_id in ids} == {JobStatus.DISPATCHED}
    assert broker.release_due("r1") == (0, -1)


# -- cancel -----------------------------------------------------------------------------------
def test_cancel_a_job_waiting_for_its_not_before(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    start_worker(concurrency=1)
    runs = tmp_path / "runs"
    job_id = client.submit(task("note", str(runs), "never", not_before=time.time() + 3600))
    assert status_of(client, job_id) is JobStatus.SCHEDULED
    assert client.cancel(job_id) == "cancelled"
    result = client.result(job_id)
    assert (result.status, result.attempts, result.due_at) == (JobStatus.CANCELLED, 0, None)
    assert "scheduled" in (result.error or "")
    assert client.broker.scheduled_count("r1") == 0
    assert client.broker.release_due("r1") == (0, -1)
    assert client.run(task("add", 1, 2), WAIT).value == 3  # the worker is up and took nothing else
    assert not runs.exists()
    assert client.cancel(job_id) == "cancelled"  # already ended: says so, changes nothing


def test_cancel_a_job_between_its_attempts(client: RedisClient, start_worker: StartWorker, tmp_path: Path) -> None:
    start_worker(concurrency=1)
    runs = tmp_path / "runs"
    job_id = client.submit(task("flaky", str(runs), 1, retries=1, retry_backoff_s=30))
    waiting = wait_scheduled(client, job_id)
    assert waiting.due_at is not None and waiting.due_at > time.time() + 10
    assert client.cancel(job_id) == "cancelled"
    result = client.wait(job_id, WAIT)
    assert (result.status, result.attempts, result.deliveries) == (JobStatus.CANCELLED, 1, 1), result
    assert [(a.attempt, a.status) for a in result.history] == [(1, JobStatus.FAILED)]
    assert "RuntimeError: run 1 failed" in (result.history[0].error or "")
    assert client.broker.scheduled_count("r1") == 0
    info = client.status(job_id)
    assert (info["status"], info["attempts"], info["due_at"]) == ("cancelled", 1, None)
    assert len(lines(runs)) == 1


# -- the command line -------------------------------------------------------------------------
def test_submit_with_delay_priority_and_retries(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    env = {"redis_url": redis_url, "namespace": namespace}
    before = time.time()
    done = horus(
        "submit",
        str(write_job(tmp_path)),
        "--key",
        str(key_file),
        "--delay",
        "2",
        "--priority",
        "5",
        "--retries",
        "3",
        **env,
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    shown = horus("status", job_id, "--json", **env)
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert (info["status"], info["priority"], info["retries"], info["attempts"]) == ("scheduled", 5, 3, 0)
    assert before + 2 <= info["not_before"] <= time.time() + 2
    assert abs(info["due_at"] - info["not_before"]) < 0.002, info
    human = horus("status", job_id, **env)
    assert human.returncode == 0, human.stderr
    when = dt.datetime.fromtimestamp(info["due_at"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    due_lines = [line for line in human.stdout.splitlines() if "due" in line.split()]
    assert due_lines and when in due_lines[0], human.stdout
    assert "scheduled" in human.stdout


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--priority", "10"], "priority: must be from 0 to 9"),
        (["--retries", "101"], "retries: must be from 0 to 100"),
        (["--delay", "-1"], "--delay must be 0 or more seconds"),
        (["--delay", "nan"], "--delay must be 0 or more seconds"),
    ],
    ids=["priority", "retries", "delay", "delay-nan"],
)
def test_submit_refuses_bad_option_values(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis, flags: list[str], needle: str
) -> None:
    done = horus(
        "submit", str(write_job(tmp_path)), "--key", str(key_file), *flags, redis_url=redis_url, namespace=namespace
    )
    assert done.returncode != 0
    assert needle in done.stderr, done.stderr
    assert r.dbsize() == 0


def test_submit_refuses_options_over_a_signed_job(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    signed_job = horus("sign", str(write_job(tmp_path)), "--key", str(key_file))
    assert signed_job.returncode == 0, signed_job.stderr
    path = tmp_path / "signed.json"
    path.write_text(signed_job.stdout)
    done = horus("submit", str(path), "--delay", "2", redis_url=redis_url, namespace=namespace)
    assert done.returncode != 0
    assert "already signed" in done.stderr and "--delay" in done.stderr, done.stderr
    assert r.dbsize() == 0


# -- the supervisor ---------------------------------------------------------------------------
def test_the_supervisor_takes_and_reports_the_options(serve: Serve, key: SigningKey, start_worker: StartWorker) -> None:
    api = serve()
    api.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    api.call("key.add", {"public_key": public_hex(key), "runners": ["*"]})
    not_before = round(time.time() + 1.5, 3)
    job: dict[str, Any] = signed(key, "add", 3, 4, not_before=not_before, priority=7, retries=2)
    assert api.call("job.create", {"job": job}) == job["id"]
    status = api.call("job.status", {"job_id": job["id"]})
    assert status["status"] == "scheduled", status
    assert abs(status["due_at"] - not_before) < 0.002, status
    assert (status["priority"], status["retries"], status["not_before"], status["attempts"]) == (7, 2, not_before, 0)
    start_worker(concurrency=1)
    result = api.call("job.result", {"job_id": job["id"], "wait_s": WAIT})
    assert (result["status"], result["value"], result["attempts"]) == ("completed", 7, 1)
    assert result["started_at"] >= not_before - 0.05
