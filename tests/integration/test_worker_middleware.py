"""Middleware in real ``horus worker`` processes: the fixture Recorder writes each hook call to a
file (pid, hook, job id, detail), loaded by its ``module:Class`` path."""

from __future__ import annotations

import time
from pathlib import Path

from horus.client import RedisClient
from horus.models import JobStatus
from tests.conftest import StartWorker
from tests.integration.test_worker import WAIT, task

RECORDER = "tests.fixtures.middleware:Recorder"
BROKEN = "tests.fixtures.middleware:Broken"


def calls(record: Path) -> list[tuple[int, str, str, str]]:
    if not record.exists():
        return []
    lines = [line.split(" ") for line in record.read_text().splitlines()]
    return [(int(pid), hook, job_id, detail) for pid, hook, job_id, detail in lines]


def hooks_for(record: Path, job_id: str) -> list[tuple[str, str]]:
    return [(hook, detail) for _, hook, seen, detail in calls(record) if seen == job_id]


def wait_for(record: Path, hook: str, job_id: str = "-", count: int = 1) -> None:
    deadline = time.monotonic() + WAIT
    while sum(1 for _, seen_hook, seen, _ in calls(record) if (seen_hook, seen) == (hook, job_id)) < count:
        assert time.monotonic() < deadline, f"no {hook} for {job_id} in:\n{record.read_text()}"
        time.sleep(0.05)


def with_recorder(record: Path, *extra: str) -> tuple[str, ...]:
    return ("--middleware", RECORDER, "--option", f"record_file={record}", *extra)


def test_hooks_see_each_job_and_a_broken_middleware_stops_nothing(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    record = tmp_path / "calls"
    # Chosen through HORUS_MIDDLEWARE (comma-separated); options still come by --option.
    worker = start_worker(
        "r1", "--option", f"record_file={record}", env={"HORUS_MIDDLEWARE": f"{RECORDER},{BROKEN}"}, concurrency=2
    )
    done = client.run(task("add", 2, 3), WAIT)
    failed = client.run(task("boom"), WAIT)
    assert (done.status, done.value) == (JobStatus.COMPLETED, 5)
    assert failed.status is JobStatus.FAILED
    assert hooks_for(record, done.job_id) == [("before_job", "-"), ("after_job", "completed")]
    assert hooks_for(record, failed.job_id) == [
        ("before_job", "-"),
        ("on_job_error", "RuntimeError"),
        ("after_job", "failed"),
    ]
    # Both jobs may have run in one child: the other may still be starting on a busy machine.
    wait_for(record, "on_worker_start", count=2)
    assert worker.stop() == 0
    started = [(pid, detail) for pid, hook, _, detail in calls(record) if hook == "on_worker_start"]
    stopped = [(pid, detail) for pid, hook, _, detail in calls(record) if hook == "on_worker_stop"]
    assert len(started) == 2 and sorted(started) == sorted(stopped)
    assert {detail for _, detail in started} == {"r1"}
    log = worker.log()
    assert f"middleware: {RECORDER}, {BROKEN}" in log
    assert f"middleware {BROKEN}: before_job raised; going on without it" in log
    assert "RuntimeError: middleware exploded" in log


def test_skip_job_refuses_a_job_without_running_it(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    record = tmp_path / "calls"
    start_worker("r1", *with_recorder(record, "--option", "refuse_task=shout"))
    refused = client.run(task("shout", "never printed"), WAIT)
    assert refused.status is JobStatus.FAILED
    assert refused.error == f"skipped by middleware {RECORDER}: not on this worker"
    assert refused.output == ""
    assert hooks_for(record, refused.job_id) == [("before_job", "-"), ("after_job", "failed")]
    assert client.run(task("add", 1, 1), WAIT).value == 2


def test_a_job_killed_by_the_master_reaches_on_job_killed(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    record = tmp_path / "calls"
    worker = start_worker("r1", *with_recorder(record), concurrency=1)
    result = client.run(task("stubborn", 60, timeout=1), WAIT)
    assert result.status is JobStatus.TIMEOUT
    wait_for(record, "on_job_killed", result.job_id)
    seen = [(pid, hook, detail) for pid, hook, job_id, detail in calls(record) if job_id == result.job_id]
    child_pid = seen[0][0]
    # before_job in the child, which was killed before after_job; the master reports the end.
    assert seen == [(child_pid, "before_job", "-"), (worker.pid, "on_job_killed", "timeout")]


def test_a_dead_lettered_job_fires_on_dead_letter(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    job_id = client.submit(task("add", 1, 2))
    # A worker that takes the job and dies: the job is back in the queue, delivered once.
    lost = "lost:1:1"
    assert client.broker.reserve("r1", lost, 1) == job_id
    assert client.broker.start_many("r1", lost, [job_id])[0].verdict == "run"
    assert client.broker.reap("r1", lost, force=True) == [job_id]
    record = tmp_path / "calls"
    start_worker("r1", *with_recorder(record, "--max-deliveries", "1"))
    result = client.wait(job_id, WAIT)
    assert result.status is JobStatus.FAILED
    assert (result.error or "").startswith("dead-lettered: delivered 1 times")
    wait_for(record, "on_dead_letter", job_id)
    assert hooks_for(record, job_id) == [("on_dead_letter", "-")]


def test_on_retry_follows_each_attempt_that_is_retried(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    record = tmp_path / "calls"
    start_worker("r1", *with_recorder(record), concurrency=1)
    result = client.run(task("boom", retries=2, retry_backoff_s=0.05), WAIT)
    assert (result.status, result.attempts) == (JobStatus.FAILED, 3)
    retries = [detail for hook, detail in hooks_for(record, result.job_id) if hook == "on_retry"]
    assert [detail.rsplit(":", 1)[0] for detail in retries] == ["1:failed", "2:failed"]
    # Waits of 0.05 s then 0.1 s, each within its jitter (0.8 to 1.2 times).
    delays = [float(detail.rsplit(":", 1)[1]) for detail in retries]
    assert 0.04 <= delays[0] <= 0.06 and 0.08 <= delays[1] <= 0.12, retries


def test_the_master_calls_on_retry_for_a_job_it_killed(
    client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    record = tmp_path / "calls"
    worker = start_worker("r1", *with_recorder(record), concurrency=1)
    job_id = client.submit(task("stubborn", 60, timeout=1, retries=1, retry_backoff_s=30))
    wait_for(record, "on_retry", job_id)
    seen = [(pid, hook, detail) for pid, hook, seen, detail in calls(record) if seen == job_id]
    assert [(pid, hook) for pid, hook, _ in seen][1:] == [(worker.pid, "on_job_killed"), (worker.pid, "on_retry")]
    assert seen[2][2].startswith("1:timeout:")
    assert client.status(job_id)["status"] == "scheduled"
    assert client.cancel(job_id) == "cancelled"


def test_unknown_middleware_is_refused_at_start(start_worker: StartWorker) -> None:
    worker = start_worker("r1", "--middleware", "nosuch")
    assert worker.proc.wait(30) == 2
    assert "unknown middleware 'nosuch'; installed middleware: none (or give a module:Class path)" in worker.log()
