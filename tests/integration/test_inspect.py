"""The operator's view on a real Redis with real workers: ``horus inspect``, ``horus top``, the
supervisor's ``inspect.*`` and ``GET /metrics``, and ``horus worker --metrics-port``."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from nacl.signing import SigningKey
from prometheus_client.parser import text_string_to_metric_families

from horus import inspect
from horus.broker import Broker
from horus.client import RedisClient
from horus.events import ENDED
from horus.keys import Keys
from horus.models import Job, JobResult, JobStatus
from horus.signing import sign_job
from tests.conftest import ROOT, StartWorker, WorkerProc, horus_cmd
from tests.integration import test_supervisor
from tests.integration.test_supervisor import ADMIN, Serve, Server

serve = test_supervisor.serve  # the fixture: real supervisors on loopback ports

WAIT = 30


def task(runner_id: str, name: str, *args: object, **fields: object) -> dict[str, object]:
    return {"runner_id": runner_id, "payload": json.dumps({"task": name, "args": list(args)}), **fields}


def until(check: Callable[[], bool], what: str) -> None:
    """For state Redis gives no event for (a master's record lands right after its children
    start): look again every 20 ms, up to WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        select.select([], [], [], 0.02)


def follow_until(client: RedisClient, job_id: str, line: str) -> None:
    """Block on the job's log stream until ``line`` appears: the job is running."""
    for seen in client.logs(job_id, follow=True):
        if seen == line:
            return
    raise AssertionError(f"job {job_id} ended without printing {line!r}")


def horus(redis_url: str, namespace: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("HORUS_SUPERVISOR_URL", "HORUS_TOKEN")}
    argv = horus_cmd(*args, "--redis-url", redis_url, "--namespace", namespace)
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Held:
    """Two workers of runner r1 (concurrency 2 each) with a held job on every child."""

    workers: list[WorkerProc]
    jobs: list[str]
    gate: str


@pytest.fixture
def held(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis, redis_url: str, namespace: str
) -> Iterator[Held]:
    workers = [start_worker("r1", concurrency=2), start_worker("r1", concurrency=2)]
    gate = f"{namespace}-gate"
    jobs = [client.submit(task("r1", "gated", redis_url, gate)) for _ in range(4)]
    for job_id in jobs:
        follow_until(client, job_id, "before")  # four jobs running: both workers' children are up
    until(lambda: len(inspect.workers(client.broker, "r1")) == 2, "both masters' records")
    yield Held(workers, jobs, gate)
    r.lpush(gate, *["go"] * 4)
    for job_id in jobs:
        client.wait(job_id, WAIT)


def known_sequence(redis_url: str, namespace: str, key: SigningKey) -> None:
    """On runner r2, which no worker serves: 1 dead-lettered job, then 3 queued and 2 scheduled."""
    broker = Broker.from_url(redis_url, namespace, max_deliveries=1)
    try:
        # A runner is listed once it has had a worker (or is in the supervisor's registry).
        broker.register_runner("r2")
        dead = sign_job(Job.model_validate(task("r2", "add", 1, 2)), key)
        broker.enqueue(dead)
        # Its worker is lost once (the limit is 1): the next delivery dead-letters it.
        assert broker.reserve("r2", "h:1:1", 1) == dead.id
        assert broker.start_many("r2", "h:1:1", [dead.id])[0].verdict == "run"
        assert broker.reap("r2", "h:1:1", force=True) == [dead.id]
        assert broker.reserve("r2", "h:1:2", 1) == dead.id
        assert broker.start_many("r2", "h:1:2", [dead.id])[0].verdict == "dead"
        failed = JobResult(job_id=dead.id, runner_id="r2", status=JobStatus.FAILED, error="dead-lettered", deliveries=2)
        assert broker.finish("r2", "h:1:2", failed)
        for _ in range(3):
            broker.enqueue(sign_job(Job.model_validate(task("r2", "add", 1, 2)), key))
        for _ in range(2):
            broker.enqueue(sign_job(Job.model_validate(task("r2", "add", 1, 2, not_before=time.time() + 3600)), key))
    finally:
        broker.close()


# -- inspect -----------------------------------------------------------------------------------
def test_two_workers_list_two_masters_with_their_jobs(held: Held, redis_url: str, namespace: str) -> None:
    listed = json.loads(horus(redis_url, namespace, "inspect", "workers", "--json"))
    assert sorted(w["pid"] for w in listed) == sorted(w.pid for w in held.workers)
    for worker in listed:
        assert worker["runner_id"] == "r1" and worker["runner_type"] == "python"
        assert worker["concurrency"] == 2 and worker["children"] == 2
        assert worker["master_id"] == f"{worker['host']}:{worker['pid']}"
        assert len(worker["jobs"]) == 2
        assert all(job["worker_id"].startswith(worker["master_id"] + ":") for job in worker["jobs"])
    assert sorted(job["job_id"] for w in listed for job in w["jobs"]) == sorted(held.jobs)

    active = json.loads(horus(redis_url, namespace, "inspect", "active", "--json"))
    assert sorted(job["job_id"] for job in active) == sorted(held.jobs)
    for job in active:
        assert job["runner_id"] == "r1" and job["started_at"] is not None and job["elapsed_s"] >= 0
        assert {"master_id", "worker_id"} <= set(job)

    (queue,) = json.loads(horus(redis_url, namespace, "inspect", "queues", "--json", "--runner", "r1"))
    assert queue == {
        "runner_id": "r1",
        "queued": 0,
        "in_flight": 4,
        "scheduled": 0,
        "dead": 0,
        "workers": 2,
        "children": 4,
    }


def test_a_clean_stop_removes_the_masters_record(held: Held, client: RedisClient, r: redis.Redis) -> None:
    r.lpush(held.gate, *["go"] * 4)  # let the held jobs end, so the stop is quick
    for job_id in held.jobs:
        client.wait(job_id, WAIT)
    stopped, kept = held.workers
    assert stopped.stop(signal.SIGTERM) == 0
    assert [w.pid for w in inspect.workers(client.broker, "r1")] == [kept.pid]
    held.jobs.clear()


def test_a_killed_masters_record_is_skipped_once_its_heartbeat_is_stale(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis
) -> None:
    worker = start_worker("r1", "--heartbeat-ttl", "1", concurrency=1)
    assert client.run(task("r1", "add", 1, 2), WAIT).value == 3
    until(lambda: len(inspect.workers(client.broker, "r1")) == 1, "the master's record")
    worker.stop(signal.SIGKILL)
    # The record stays until it is stale, then readers skip it: nothing removed it.
    until(lambda: inspect.workers(client.broker, "r1") == [], "the killed master's record to go stale")
    assert r.hlen(Keys(client.broker.keys.namespace).masters("r1")) == 1
    assert inspect.queues(client.broker, "r1")[0].workers == 0


def test_queue_counts_after_a_known_sequence(
    client: RedisClient, redis_url: str, namespace: str, key: SigningKey
) -> None:
    known_sequence(redis_url, namespace, key)
    (queue,) = json.loads(horus(redis_url, namespace, "inspect", "queues", "--json"))
    assert queue == {
        "runner_id": "r2",
        "queued": 3,
        "in_flight": 0,
        "scheduled": 2,
        "dead": 1,
        "workers": 0,
        "children": 0,
    }
    assert json.loads(horus(redis_url, namespace, "inspect", "workers", "--json")) == []
    assert json.loads(horus(redis_url, namespace, "inspect", "active", "--json")) == []


def test_top_once_prints_one_frame_without_a_terminal(held: Held, redis_url: str, namespace: str) -> None:
    out = horus(redis_url, namespace, "top", "--once")
    assert "Queues" in out and "Workers" in out and "Running jobs" in out
    assert all(str(worker.pid) in out for worker in held.workers)
    assert "2 worker(s), 4 running" in out


def test_inspect_through_the_supervisor(held: Held, serve: Serve, redis_url: str, namespace: str) -> None:
    server = serve()
    over_http = server.call("inspect.workers", {"runner_id": "r1"})
    assert sorted(w["pid"] for w in over_http) == sorted(w.pid for w in held.workers)
    assert sorted(j["job_id"] for j in server.call("inspect.active")) == sorted(held.jobs)
    assert server.call("inspect.queues", {"runner_id": "r1"})[0]["workers"] == 2
    env = {**os.environ, "HORUS_SUPERVISOR_URL": server.url, "HORUS_TOKEN": ADMIN}
    argv = horus_cmd("inspect", "workers", "--json")
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT, check=True)
    assert sorted(w["pid"] for w in json.loads(done.stdout)) == sorted(w.pid for w in held.workers)


# -- metrics -------------------------------------------------------------------------------------
def scrape(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metrics_url(server: Server) -> str:
    return server.url + "metrics"


def test_metrics_from_two_supervisors_agree(
    held: Held, serve: Serve, redis_url: str, namespace: str, key: SigningKey
) -> None:
    known_sequence(redis_url, namespace, key)
    first, second = serve(), serve()
    status, text = scrape(metrics_url(first))
    assert status == 200
    values = samples(text)
    expected = {
        ("horus_queue_depth", "r2"): 3,
        ("horus_scheduled_jobs", "r2"): 2,
        ("horus_dead_letters", "r2"): 1,
        ("horus_workers", "r2"): 0,
        ("horus_jobs_in_flight", "r2"): 0,
        ("horus_queue_depth", "r1"): 0,
        ("horus_jobs_in_flight", "r1"): 4,
        ("horus_workers", "r1"): 2,
        ("horus_dead_letters", "r1"): 0,
    }
    assert {k: values[(k[0], (("runner", k[1]),))] for k in expected} == expected
    assert samples(scrape(metrics_url(second))[1]) == values


def test_metrics_need_no_token_from_loopback_unless_the_setting_says(serve: Serve) -> None:
    assert scrape(metrics_url(serve()))[0] == 200
    strict = serve(metrics_token_required=True)
    assert scrape(metrics_url(strict))[0] == 401
    assert scrape(metrics_url(strict), "not-a-token")[0] == 401
    status, text = scrape(metrics_url(strict), ADMIN)
    assert status == 200 and "# TYPE horus_queue_depth gauge" in text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_worker_metrics_port_serves_process_metrics(client: RedisClient, start_worker: StartWorker) -> None:
    port = free_port()
    start_worker("r1", "--metrics-port", str(port), concurrency=1)
    # The port listens before the children start: once a job ran, it answers.
    assert client.run(task("r1", "add", 1, 2), WAIT).value == 3
    status, text = scrape(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    values = samples(text)
    assert values[("process_resident_memory_bytes", ())] > 0
    assert values[("horus_worker_jobs_started_total", (("runner", "r1"),))] == 1
    assert values[("horus_worker_children", (("runner", "r1"),))] == 1
    assert scrape(f"http://127.0.0.1:{port}/other")[0] == 404


def test_job_counters_from_two_workers_agree_on_two_supervisors(
    client: RedisClient, start_worker: StartWorker, serve: Serve
) -> None:
    """3 completed, 2 failed, 1 timed out across two workers, 1 cancelled before it ran: the ended
    counts and the duration histogram, the same from either supervisor."""
    start_worker("r3", concurrency=2)
    start_worker("r3", concurrency=2)
    jobs = [client.submit(task("r3", "add", i, 1)) for i in range(3)]
    jobs += [client.submit(task("r3", "boom")) for _ in range(2)]
    jobs.append(client.submit(task("r3", "sleep", 30, timeout=1)))
    statuses = sorted(str(client.wait(job_id, WAIT).status) for job_id in jobs)
    assert statuses == ["completed"] * 3 + ["failed"] * 2 + ["timeout"]
    later = client.submit(task("r3", "add", 1, 1, not_before=time.time() + 3600))
    client.cancel(later)
    first, second = serve(), serve()
    values = samples(scrape(metrics_url(first))[1])
    ended = {s: values[("horus_jobs_total", (("runner", "r3"), ("status", s)))] for s in ENDED}
    assert ended == {"cancelled": 1, "completed": 3, "failed": 2, "timeout": 1}
    runner = (("runner", "r3"),)
    assert values[("horus_job_duration_seconds_count", runner)] == 6  # the cancelled job never ran
    assert values[("horus_job_duration_seconds_bucket", (("le", "+Inf"), *runner))] == 6
    # The timed-out job ran its full second: never in a bucket below it; everything within WAIT.
    assert values[("horus_job_duration_seconds_bucket", (("le", "0.5"), *runner))] <= 5
    assert values[("horus_job_duration_seconds_bucket", (("le", "60"), *runner))] == 6
    assert values[("horus_job_duration_seconds_sum", runner)] >= 1.0  # the timeout ran its second
    assert values[("horus_job_retries_total", runner)] == 0
    assert samples(scrape(metrics_url(second))[1]) == values
