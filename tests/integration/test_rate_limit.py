"""``horus worker --rate-limit``: a sliding window of job starts per runner id, kept in Redis."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from horus.client import RedisClient
from horus.models import JobStatus
from tests.conftest import StartWorker
from tests.integration.test_worker import WAIT, task


def admitted_ms(r: redis.Redis, client: RedisClient, job_id: str) -> int:
    """When the rate limit let the job start: Redis's clock, as rate_limit.lua recorded it."""
    value = r.hget(client.broker.keys.job("r1", job_id), "admitted_at")
    assert value is not None, f"job {job_id} started without a permit"
    return round(float(value) * 1000)


def wait_until(condition: object, what: str, deadline_s: float = WAIT) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- the script, through the broker ------------------------------------------------------------
def test_permits_up_to_the_limit_then_the_wait_until_the_window_has_room(client: RedisClient, r: redis.Redis) -> None:
    broker = client.broker
    job_id = client.submit(task("add", 1, 2))  # no worker: it stays queued, a startable job
    key = broker.keys.rate_limit("r1")
    # A window long enough that a busy machine cannot let the first starts age out of it.
    for n in range(3):
        assert broker.permit("r1", job_id, 3, 60_000, f"w:{n}") == 0
    refused = broker.permit("r1", job_id, 3, 60_000, "w:3")
    assert 0 < refused <= 60_000
    assert r.zcard(key) == 3  # a refusal records nothing
    assert 0 < r.pttl(key) <= 60_000  # the key cleans itself up
    # Against a short window, waiting what the refusals name (never a fixed sleep) lets the next
    # start in, once older starts have left that window.
    deadline = time.monotonic() + WAIT
    while (wait_ms := broker.permit("r1", job_id, 3, 200, "w:again")) > 0:
        assert time.monotonic() < deadline
        time.sleep(wait_ms / 1000)
    members = r.zrange(key, 0, -1)
    assert len(members) <= 3 and "w:again" in "".join(members)


def test_a_job_that_will_not_run_takes_no_permit(client: RedisClient, r: redis.Redis) -> None:
    broker = client.broker
    cancelled = client.submit(task("add", 1, 2))
    assert client.cancel(cancelled) == "cancelled"
    for job_id in (cancelled, "no-such-job"):
        assert broker.permit("r1", job_id, 1, 60_000, "w:1") == 0
    assert r.exists(broker.keys.rate_limit("r1")) == 0
    assert r.hget(broker.keys.job("r1", cancelled), "admitted_at") is None


# -- real workers --------------------------------------------------------------------------------
def test_two_workers_share_one_sliding_window(client: RedisClient, start_worker: StartWorker, r: redis.Redis) -> None:
    for _ in range(2):
        start_worker("r1", "--rate-limit", "5/s", concurrency=2)
    wait_until(lambda: len(client.broker.workers("r1")) == 4, "4 children to register")
    ids = client.submit_many([task("add", n, 1) for n in range(20)])
    for n, job_id in enumerate(ids):
        assert client.wait(job_id, 60).value == n + 1
    admitted = sorted(admitted_ms(r, client, job_id) for job_id in ids)
    # No window of 1 s (ms on Redis's clock, as the limit counts) holds more than 5 starts ...
    for first, sixth in zip(admitted, admitted[5:], strict=False):
        assert sixth - first >= 1000, admitted
    # ... so 20 starts span at least 3 s, whatever the machine's speed.
    assert admitted[-1] - admitted[0] >= 3000
    # Each job started (start.lua, same clock) only after its permit.
    keys = client.broker.keys
    masters = set()
    for job_id in ids:
        started_at, worker = r.hmget(keys.job("r1", job_id), "started_at", "worker")
        assert float(started_at or 0) * 1000 >= admitted_ms(r, client, job_id)
        masters.add(str(worker).rsplit(":", 1)[0])  # worker ids are host:master pid:child pid
    assert len(masters) == 2, "both workers took jobs"


def test_a_child_waiting_for_its_permit_stops_at_once_and_its_job_goes_back(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis, tmp_path: Path
) -> None:
    toml = tmp_path / "horus.toml"
    toml.write_text('[worker]\nrate_limit = "1/h"\n')
    worker = start_worker("r1", "--grace", "120", concurrency=1, env={"HORUS_CONFIG": str(toml)})
    first = client.submit(task("add", 1, 1))
    assert client.wait(first, WAIT).value == 2
    second = client.submit(task("add", 2, 2))
    # The child reserves it and waits (an hour) for a permit: reserved, never started.
    inflight = client.broker.keys.inflight
    wait_until(lambda: r.llen(client.broker.keys.queue("r1")) == 0, "the second job to be reserved")
    assert r.hget(client.broker.keys.job("r1", second), "started_at") is None
    # Well inside the grace: a child ignoring SIGTERM would hold its master for 120 s.
    assert worker.stop(timeout=60) == 0
    assert r.lrange(client.broker.keys.queue("r1"), 0, -1) == [second]
    assert r.hget(client.broker.keys.job("r1", second), "status") != JobStatus.RUNNING.value
    assert not list(r.scan_iter(inflight("r1", "*")))
    assert r.zcard(client.broker.keys.rate_limit("r1")) == 1


@pytest.mark.parametrize(
    ("extra", "env", "shown"),
    [
        (["--rate-limit", "5/d"], {}, "'5/d'"),
        (["--rate-limit", "0/s"], {}, "'0/s'"),
        ([], {"HORUS_RATE_LIMIT": "fast"}, "'fast'"),
    ],
)
def test_a_bad_rate_limit_is_refused_at_start(
    start_worker: StartWorker, extra: list[str], env: dict[str, str], shown: str
) -> None:
    worker = start_worker("r1", *extra, concurrency=1, env=env)
    assert worker.proc.wait(timeout=WAIT) == 2
    assert "rate_limit must be N/s, N/m or N/h" in worker.log()
    assert f"not {shown}" in worker.log()
