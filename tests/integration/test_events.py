"""Job events and ended-job counters on a real Redis with real ``horus worker`` processes, and
``horus events`` as a user types it (docs/operations.md)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import redis

from horus import scripts
from horus.broker import Broker
from horus.client import RedisClient
from horus.events import JobEvent, event_of, read_events, read_stats
from horus.models import JobStatus
from tests.conftest import ROOT, StartWorker, horus_cmd
from tests.integration.test_cli import horus
from tests.integration.test_worker import follow_until, task

WAIT = 30
ENDED = {"completed", "failed", "timeout", "cancelled"}


def events_until(broker: Broker, job_id: str, last: str = "", runner_id: str = "r1") -> list[JobEvent]:
    """The job's events, blocking on the runner's stream (XREAD BLOCK) until one named ``last``
    (any ending when empty) has come."""
    stream, cursor = broker.keys.events(runner_id), "0-0"
    seen: list[JobEvent] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        reply = broker.call("XREAD", "BLOCK", 1_000, "STREAMS", stream, cursor, timeout_s=11)
        for entry_id, flat in reply[0][1] if reply else []:
            cursor = str(entry_id)
            event = event_of(cursor, flat, runner_id)
            if event.job_id == job_id:
                seen.append(event)
                if event.event == last or (not last and event.event in ENDED):
                    return seen
    raise AssertionError(f"no {last or 'ending'} event for {job_id} within {WAIT} s: {names(seen)}")


def names(events: Iterable[JobEvent]) -> list[str]:
    return [event.event for event in events]


def test_a_completed_job(client: RedisClient, start_worker: StartWorker, broker: Broker) -> None:
    worker = start_worker()
    before = int(broker.call("TIME")[0]) * 1000
    job_id = client.submit(task("add", 2, 3))
    events = events_until(broker, job_id)
    assert names(events) == ["dispatched", "started", "completed"]
    dispatched, started, completed = events
    assert {e.runner_id for e in events} == {"r1"}
    assert before <= dispatched.at_ms <= started.at_ms <= completed.at_ms
    assert dispatched.worker is None and dispatched.attempt is None
    assert started.worker == completed.worker and str(worker.pid) in (started.worker or "")
    assert (started.attempt, completed.attempt) == (1, 1)
    assert completed.duration_ms is not None and 0 <= completed.duration_ms <= completed.at_ms - started.at_ms + 1
    # Readers find the runner's stream through the runners set.
    assert "r1" in {str(r) for r in broker.call("SMEMBERS", broker.keys.runners())}


def test_a_failed_job(client: RedisClient, start_worker: StartWorker, broker: Broker) -> None:
    start_worker()
    job_id = client.submit(task("boom"))
    assert names(events_until(broker, job_id)) == ["dispatched", "started", "failed"]


def test_a_timed_out_job(client: RedisClient, start_worker: StartWorker, broker: Broker) -> None:
    start_worker()
    job_id = client.submit(task("sleep", 30, True, timeout=1))
    events = events_until(broker, job_id)
    assert names(events) == ["dispatched", "started", "timeout"]
    assert (events[-1].duration_ms or 0) >= 1_000


def test_a_retried_job(client: RedisClient, start_worker: StartWorker, broker: Broker, tmp_path: Path) -> None:
    start_worker()
    job_id = client.submit(task("flaky", str(tmp_path / "runs"), 1, retries=1, retry_backoff_s=0.05))
    events = events_until(broker, job_id)
    assert names(events) == ["dispatched", "started", "retried", "dispatched", "started", "completed"]
    retried = events[2]
    assert (retried.attempt, retried.status) == (1, "failed")
    assert retried.due_at_ms is not None and retried.due_at_ms >= retried.at_ms
    assert (events[4].attempt, events[5].attempt) == (2, 2)
    assert read_stats(broker, "r1").retried == 1


def test_a_job_cancelled_while_running(client: RedisClient, start_worker: StartWorker, broker: Broker) -> None:
    start_worker()
    job_id = client.submit(task("sleep", 60, True))
    follow_until(client, job_id, "started")
    assert client.cancel(job_id) == "cancelling"
    events = events_until(broker, job_id)
    assert names(events) == ["dispatched", "started", "cancelled"]
    assert events[-1].worker == events[1].worker and events[-1].duration_ms is not None


def test_a_job_cancelled_while_scheduled(client: RedisClient, broker: Broker) -> None:
    job_id = client.submit(task("add", 1, 2, not_before=time.time() + 3_600))
    assert client.cancel(job_id) == "cancelled"
    events = events_until(broker, job_id)
    assert names(events) == ["scheduled", "cancelled"]
    assert events[-1].duration_ms is None and events[-1].worker is None
    stats = read_stats(broker, "r1")
    assert stats.ended["cancelled"] == 1 and stats.duration_count == 0  # it never ran


def test_a_dead_lettered_job(client: RedisClient, start_worker: StartWorker, broker: Broker, tmp_path: Path) -> None:
    marker = tmp_path / "crash"
    marker.touch()
    start_worker("r1", "--max-deliveries", "1", concurrency=1)
    job_id = client.submit({"runner_id": "r1", "payload": json.dumps({"task": "die_while", "args": [str(marker)]})})
    events = events_until(broker, job_id)
    assert names(events) == ["dispatched", "started", "requeued", "dead-lettered", "failed"]
    requeued, dead = events[2], events[3]
    assert requeued.worker == events[1].worker  # the child that died
    assert (dead.attempt, dead.deliveries) == (1, 2)
    stats = read_stats(broker, "r1")
    assert (stats.dead_lettered, stats.ended["failed"]) == (1, 1)


def test_a_countdown_job(client: RedisClient, start_worker: StartWorker, broker: Broker) -> None:
    start_worker()
    job_id = client.submit(task("add", 1, 2, not_before=time.time() + 0.3))
    events = events_until(broker, job_id)
    assert names(events) == ["scheduled", "dispatched", "started", "completed"]
    scheduled, dispatched = events[0], events[1]
    assert scheduled.due_at_ms is not None and dispatched.at_ms >= scheduled.due_at_ms


def test_the_counters_after_a_known_mix_on_two_workers(
    client: RedisClient, start_worker: StartWorker, broker: Broker
) -> None:
    start_worker(concurrency=1)
    start_worker(concurrency=1)
    ids = [client.submit(task("add", n, n)) for n in range(6)]
    ids += [client.submit(task("boom")) for _ in range(2)]
    ids.append(client.submit(task("sleep", 30, False, timeout=1)))
    waiting = client.submit(task("add", 0, 0, not_before=time.time() + 3_600))
    assert client.cancel(waiting) == "cancelled"
    statuses = sorted(client.wait(job_id, WAIT).status.value for job_id in ids)
    assert statuses == ["completed"] * 6 + ["failed"] * 2 + ["timeout"]

    stats = read_stats(broker, "r1")
    assert stats.ended == {"cancelled": 1, "completed": 6, "failed": 2, "timeout": 1}
    assert (stats.retried, stats.dead_lettered) == (0, 0)
    # Nine ran (the cancelled one did not); the timed-out one took a second at least.
    counts = [bucket.count for bucket in stats.buckets]
    assert counts == sorted(counts) and counts[-1] == stats.duration_count == 9
    assert stats.buckets[-1].le == "+Inf"
    assert dict((b.le, b.count) for b in stats.buckets)["0.5"] <= 8
    assert stats.duration_sum_s >= 1.0
    workers = {e.worker for e in read_events(broker, ["r1"], 100) if e.event == "started"}
    assert len(workers) >= 1  # either worker may take any job: both share one stream and one hash


def test_events_off(
    r: redis.Redis, redis_url: str, key: object, namespace: str, start_worker: StartWorker, broker: Broker
) -> None:
    start_worker("r1", "--no-events")
    with RedisClient(redis_url, namespace, key=key, events=False) as quiet:  # type: ignore[arg-type]
        result = quiet.run(task("add", 2, 3), WAIT)
    assert result.status == JobStatus.COMPLETED
    assert r.exists(broker.keys.events("r1"), broker.keys.stats("r1")) == 0


def test_events_off_from_the_environment(redis_url: str, namespace: str, monkeypatch: object) -> None:
    monkeypatch.setenv("HORUS_EVENTS", "off")  # type: ignore[attr-defined]
    with Broker.from_url(redis_url, namespace) as quiet:
        assert quiet.events_cap == 0
    monkeypatch.setenv("HORUS_EVENTS_MAXLEN", "500")  # type: ignore[attr-defined]
    monkeypatch.setenv("HORUS_EVENTS", "on")  # type: ignore[attr-defined]
    with Broker.from_url(redis_url, namespace) as loud:
        assert loud.events_cap == 500


# -- horus events ------------------------------------------------------------------------------
def test_horus_events_prints_the_latest_oldest_first(
    client: RedisClient, start_worker: StartWorker, broker: Broker, redis_url: str, namespace: str
) -> None:
    empty = horus("events", redis_url=redis_url, namespace=namespace)
    assert (empty.returncode, empty.stdout) == (0, "")
    assert f"no job events for namespace {namespace}" in empty.stderr
    start_worker()
    first = client.run(task("add", 1, 1), WAIT).job_id
    second = client.run(task("add", 2, 2), WAIT).job_id
    other = client.submit({**task("add", 3, 3), "runner_id": "r2"})  # no worker: it stays queued
    events_until(broker, other, "dispatched", runner_id="r2")

    shown = horus("events", redis_url=redis_url, namespace=namespace)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 7
    assert first in lines[0] and "dispatched" in lines[0]
    assert second in lines[5] and "completed" in lines[5] and "attempt 1" in lines[5] and " ms" in lines[5]
    assert other in lines[6] and "r2" in lines[6]

    latest = horus("events", "--json", "--count", "2", redis_url=redis_url, namespace=namespace)
    assert latest.returncode == 0, latest.stderr
    rows = [json.loads(line) for line in latest.stdout.splitlines()]
    assert [(row["job_id"], row["event"]) for row in rows] == [(second, "completed"), (other, "dispatched")]
    done = rows[0]
    assert done["runner_id"] == "r1" and done["attempt"] == 1 and done["duration_ms"] >= 0 and done["worker"]
    assert isinstance(done["at"], float) and done["time"].endswith("Z")
    assert abs(time.mktime(time.strptime(done["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone - done["at"]) < 1

    only = horus("events", "--json", "--runner", "r2", redis_url=redis_url, namespace=namespace)
    assert [json.loads(line)["job_id"] for line in only.stdout.splitlines()] == [other]


class Lines:
    """The lines a process prints, read from its pipe's file descriptor as they come (select),
    so no line waits in a buffer select cannot see."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc, self.fd, self.buffer = proc, proc.stdout.fileno(), b""

    def next(self, deadline: float) -> str:
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], max(deadline - time.monotonic(), 0))
            assert ready, "horus events printed nothing in time"
            chunk = os.read(self.fd, 65_536)
            assert chunk, f"horus events exited ({self.proc.wait()})"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()


def test_horus_events_follow(client: RedisClient, start_worker: StartWorker, redis_url: str, namespace: str) -> None:
    start_worker()
    earlier = client.run(task("add", 1, 1), WAIT).job_id
    env = {**os.environ, "HORUS_REDIS_URL": redis_url, "HORUS_NAMESPACE": namespace}
    for name in ("json", "text"):
        flags = ["--json"] if name == "json" else []
        proc = subprocess.Popen(
            horus_cmd("events", "--follow", "--count", "1", *flags),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        lines = Lines(proc)
        try:
            deadline = time.monotonic() + WAIT
            line = lines.next(deadline)
            assert earlier in line and "completed" in line  # the latest event first
            job_id = client.submit(task("add", 5, 5))
            seen: list[str] = []
            while not (seen and job_id in seen[-1] and "completed" in seen[-1]):
                seen.append(lines.next(deadline))
            if name == "json":
                assert [json.loads(s)["event"] for s in seen] == ["dispatched", "started", "completed"]
            else:
                assert ["dispatched" in seen[0], "started" in seen[1]] == [True, True]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(WAIT) == 130
            earlier = job_id
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def test_a_duration_past_the_last_bound_lands_in_inf(broker: Broker) -> None:
    """events_lib.lua's tally, run on Redis: the bound a duration falls under, +Inf past 300 s."""
    probe = scripts.source("events_lib") + (
        "\nlocal tally, names = {}, {}"
        "\nfor _, us in ipairs({5000, 5001, 299999999, 300000001, 900000000}) do"
        " tally_ended(tally, 'completed', us, names) end"
        "\ntally_ended(tally, 'cancelled', nil, names)"
        "\nlocal out = {} for field, n in pairs(tally) do out[#out + 1] = field .. '=' .. n end return out"
    )
    tally = dict(str(item).split("=") for item in broker.call("EVAL", probe, 0))
    assert tally == {
        "bucket:completed:0.005": "1",
        "bucket:completed:0.01": "1",
        "bucket:completed:300": "1",
        "bucket:completed:+Inf": "2",
        "ended:cancelled": "1",
        "duration_sum_us": str(5000 + 5001 + 299999999 + 300000001 + 900000000),
    }
