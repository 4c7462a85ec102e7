"""The dead-letter tools on a real Redis: the broker's, ``horus dead`` with a real worker, and
the supervisor's ``dead.*`` methods over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from nacl.signing import SigningKey

from horus.broker import Broker
from horus.client import RedisClient
from horus.errors import JobNotFound, JobRejected, NotDeadLettered
from horus.models import Job, JobResult, JobStatus
from horus.sdk import Client
from horus.signing import sign_job
from tests.conftest import ROOT, StartWorker, horus_cmd
from tests.integration import test_supervisor
from tests.integration.test_supervisor import ADMIN, Serve, code

serve = test_supervisor.serve  # the fixture: real supervisors on loopback ports

WAIT = 30

W = "h:1:9"


def job(key: SigningKey, **fields: object) -> Job:
    data = {"runner_id": "r1", "payload": json.dumps({"task": "add", "args": [1, 2]}), **fields}
    return sign_job(Job.model_validate(data), key)


@pytest.fixture
def dead_broker(r: redis.Redis, redis_url: str, namespace: str) -> Iterator[Broker]:
    broker = Broker.from_url(redis_url, namespace, max_deliveries=1)
    yield broker
    broker.close()


def dead_letter(broker: Broker, j: Job, finish: bool = True) -> None:
    """Lose the job's worker once (the limit is 1), then let the next one dead-letter it."""
    broker.enqueue(j)
    assert broker.reserve("r1", "h:1:1", 1) == j.id
    assert broker.start_many("r1", "h:1:1", [j.id])[0].verdict == "run"
    assert broker.reap("r1", "h:1:1", force=True) == [j.id]
    assert broker.reserve("r1", W, 1) == j.id
    assert broker.start_many("r1", W, [j.id])[0].verdict == "dead"
    if finish:
        failed = JobResult(
            job_id=j.id,
            runner_id="r1",
            status=JobStatus.FAILED,
            error="dead-lettered: x",
            deliveries=2,
            completed_at=time.time(),
        )
        assert broker.finish("r1", W, failed)


def test_an_empty_dead_list(dead_broker: Broker) -> None:
    assert dead_broker.dead_list("r1") == []
    assert dead_broker.dead_retry("r1").retried == []
    assert dead_broker.dead_purge("r1").purged == 0


def test_the_list_says_why_and_when(dead_broker: Broker, key: SigningKey) -> None:
    j = job(key, caller_id="billing")
    dead_letter(dead_broker, j)
    (entry,) = dead_broker.dead_list("r1")
    assert (entry.job_id, entry.status, entry.reason, entry.deliveries) == (
        j.id,
        JobStatus.FAILED,
        "dead-lettered: x",
        2,
    )
    assert (entry.caller_id, entry.created_at) == ("billing", j.created_at)
    assert entry.dead_at is not None and entry.completed_at is not None


def test_a_job_lost_while_being_dead_lettered_is_listed_once(dead_broker: Broker, key: SigningKey) -> None:
    j = job(key)
    dead_letter(dead_broker, j, finish=False)
    dead_broker.reap("r1", W, force=True)  # the worker storing its failure died too
    assert dead_broker.reserve("r1", "h:1:3", 1) == j.id
    assert dead_broker.start_many("r1", "h:1:3", [j.id])[0].verdict == "dead"
    assert dead_broker.dead_letters("r1") == [j.id]


def test_retry_queues_the_job_afresh(dead_broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j, other = job(key), job(key)
    dead_letter(dead_broker, j)
    dead_letter(dead_broker, other)
    assert dead_broker.dead_retry("r1", [j.id]).retried == [j.id]
    assert dead_broker.dead_letters("r1") == [other.id]
    state = dead_broker.result(j.id)
    assert (state.status, state.deliveries, state.error) == (JobStatus.DISPATCHED, 0, None)
    assert r.ttl(dead_broker.keys.job("r1", j.id)) == -1 and r.ttl(dead_broker.keys.spec("r1", j.id)) == -1
    assert dead_broker.reserve("r1", "h:1:4", 1) == j.id
    (started,) = dead_broker.start_many("r1", "h:1:4", [j.id])
    assert (started.verdict, started.deliveries) == ("run", 1)
    assert Job.model_validate_json(started.job_json).signatures == j.signatures


def test_retry_of_an_unknown_id_changes_nothing(dead_broker: Broker, key: SigningKey) -> None:
    j = job(key)
    dead_letter(dead_broker, j)
    with pytest.raises(NotDeadLettered) as caught:
        dead_broker.dead_retry("r1", [j.id, "nope"])
    assert (caught.value.job_id, caught.value.why) == ("nope", "not_dead")
    assert "'nope'" in str(caught.value) and "nothing was retried" in str(caught.value)
    assert dead_broker.dead_letters("r1") == [j.id]
    assert dead_broker.result(j.id).status == JobStatus.FAILED
    assert dead_broker.queue_length("r1") == 0


def test_retry_waits_for_the_failure_to_be_stored(dead_broker: Broker, key: SigningKey) -> None:
    j = job(key)
    dead_letter(dead_broker, j, finish=False)
    with pytest.raises(NotDeadLettered) as caught:
        dead_broker.dead_retry("r1", [j.id])
    assert caught.value.why == "ending"
    assert dead_broker.dead_retry("r1").skipped[0].why == "ending"


def test_retry_all(dead_broker: Broker, key: SigningKey) -> None:
    jobs = [job(key) for _ in range(3)]
    for j in jobs:
        dead_letter(dead_broker, j)
    outcome = dead_broker.dead_retry("r1")
    assert sorted(outcome.retried) == sorted(j.id for j in jobs) and outcome.skipped == []
    assert dead_broker.dead_letters("r1") == [] and dead_broker.queue_length("r1") == 3


def test_purge_forgets_the_jobs_and_keeps_their_ids(dead_broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j, ending = job(key), job(key)
    dead_letter(dead_broker, j)
    dead_letter(dead_broker, ending, finish=False)
    outcome = dead_broker.dead_purge("r1")
    assert (outcome.purged, outcome.left) == (1, [ending.id])
    assert dead_broker.dead_letters("r1") == [ending.id]
    assert dead_broker.result(ending.id).status == JobStatus.RUNNING  # its id still finds it
    with pytest.raises(JobNotFound):
        dead_broker.result(j.id)
    assert not r.exists(dead_broker.keys.job("r1", j.id), dead_broker.keys.spec("r1", j.id))
    with pytest.raises(JobRejected) as caught:
        dead_broker.enqueue(j)
    assert caught.value.code == "replayed_id"


# -- horus dead, with a real worker ---------------------------------------------------------
def horus(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(horus_cmd(*args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def die_while(marker: Path) -> dict[str, object]:
    return {"runner_id": "r1", "payload": json.dumps({"task": "die_while", "args": [str(marker)]})}


def test_dead_cli_lists_retries_and_purges(
    client: RedisClient, start_worker: StartWorker, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    env = {**os.environ, "HORUS_REDIS_URL": redis_url, "HORUS_NAMESPACE": namespace}
    env.pop("HORUS_SUPERVISOR_URL", None)
    empty = horus("dead", "list", "r1", env=env)
    assert (empty.returncode, empty.stdout.strip()) == (
        0,
        f"no dead-lettered jobs for runner r1 in namespace {namespace}",
    )
    assert json.loads(horus("dead", "list", "r1", "--json", env=env).stdout) == []

    marker = tmp_path / "crash"
    marker.touch()
    start_worker("r1", "--max-deliveries", "2", concurrency=1)
    job_id = client.submit(die_while(marker))
    failed = client.wait(job_id, WAIT)
    assert failed.status == JobStatus.FAILED and "dead-lettered" in (failed.error or "")

    (entry,) = json.loads(horus("dead", "list", "r1", "--json", env=env).stdout)
    assert (entry["job_id"], entry["status"], entry["deliveries"]) == (job_id, "failed", 3)
    assert entry["reason"] == failed.error and entry["dead_at"] and entry["created_at"]
    table = horus("dead", "list", "r1", env={**env, "COLUMNS": "160"})  # the width of a real terminal
    assert table.returncode == 0 and job_id in table.stdout and "Dead-lettered jobs of r1" in table.stdout

    unknown = horus("dead", "retry", "r1", job_id, "nope", env=env)
    assert unknown.returncode == 2 and "'nope'" in unknown.stderr and "nothing was retried" in unknown.stderr
    assert [j.job_id for j in client.dead_list("r1")] == [job_id]

    marker.unlink()
    retried = horus("dead", "retry", "r1", job_id, env=env)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == f"retried {job_id}" and "max_job_age" in retried.stderr
    done = client.wait(job_id, WAIT)
    assert (done.status, done.value, done.deliveries) == (JobStatus.COMPLETED, "survived", 1)
    assert horus("dead", "retry", "r1", "--all", env=env).stdout.startswith("no dead-lettered jobs to retry")

    # Purged, a dead job's id stays claimed: the same signed job cannot come back.
    marker.touch()
    again = client.build(die_while(marker))
    client.submit(again)
    assert client.wait(again.id, WAIT).status == JobStatus.FAILED
    purged = horus("dead", "purge", "r1", env=env)
    assert purged.stdout.strip() == f"purged 1 dead-lettered job(s) of runner r1 in namespace {namespace}"
    assert client.dead_list("r1") == []
    with pytest.raises(JobRejected) as caught:
        client.submit(again)
    assert caught.value.code == "replayed_id"


def test_retry_all_through_the_cli(dead_broker: Broker, key: SigningKey, redis_url: str, namespace: str) -> None:
    jobs = [job(key) for _ in range(2)]
    for j in jobs:
        dead_letter(dead_broker, j)
    env = {**os.environ, "HORUS_REDIS_URL": redis_url, "HORUS_NAMESPACE": namespace}
    env.pop("HORUS_SUPERVISOR_URL", None)
    done = horus("dead", "retry", "r1", "--all", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["retried"]) == sorted(j.id for j in jobs)
    neither = horus("dead", "retry", "r1", env=env)
    assert neither.returncode == 2 and "--all" in neither.stderr


# -- dead.* through the supervisor ----------------------------------------------------------
def test_dead_methods_are_for_admins(dead_broker: Broker, key: SigningKey, serve: Serve) -> None:
    server = serve()
    j = job(key)
    dead_letter(dead_broker, j)
    user = server.call("token.create", {"name": "alice", "role": "user"})["token"]
    for method, params in (
        ("dead.list", {"runner_id": "r1"}),
        ("dead.retry", {"runner_id": "r1", "all": True}),
        ("dead.purge", {"runner_id": "r1"}),
    ):
        assert server.error(method, params, token=user)["data"]["reason"] == "forbidden"
    (entry,) = server.call("dead.list", {"runner_id": "r1"})
    assert (entry["job_id"], entry["status"], entry["reason"]) == (j.id, "failed", "dead-lettered: x")
    error = server.error("dead.retry", {"runner_id": "r1", "job_ids": [j.id, "nope"]})
    assert error["code"] == code("not_dead_lettered")
    assert error["data"] == {"reason": "not_dead_lettered", "field": "job_ids", "job_id": "nope", "why": "not_dead"}
    both = server.error("dead.retry", {"runner_id": "r1", "job_ids": [j.id], "all": True})
    assert both["data"]["reason"] == "invalid_params"
    assert server.call("dead.retry", {"runner_id": "r1", "job_ids": [j.id]}) == {"retried": [j.id], "skipped": []}
    assert server.call("dead.list", {"runner_id": "r1"}) == []
    assert server.call("dead.purge", {"runner_id": "r1"}) == {"purged": 0, "left": []}


def test_the_cli_and_the_sdk_go_through_the_supervisor(dead_broker: Broker, key: SigningKey, serve: Serve) -> None:
    server = serve()
    j, other = job(key), job(key)
    dead_letter(dead_broker, j)
    dead_letter(dead_broker, other)
    # An unreachable Redis: only the supervisor can answer.
    env = {
        **os.environ,
        "HORUS_SUPERVISOR_URL": server.url,
        "HORUS_TOKEN": ADMIN,
        "HORUS_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    listed = horus("dead", "list", "r1", "--json", env=env)
    assert [e["job_id"] for e in json.loads(listed.stdout)] == [other.id, j.id], listed.stderr
    refused = horus("dead", "retry", "r1", "nope", env=env)
    assert refused.returncode == 2 and "'nope'" in refused.stderr
    with Client(server.url, token=ADMIN) as sdk:
        with pytest.raises(NotDeadLettered) as caught:
            sdk.dead_retry("r1", ["nope"])
        assert (caught.value.job_id, caught.value.why) == ("nope", "not_dead")
        assert sdk.dead_retry("r1", [j.id]).retried == [j.id]
        assert [e.job_id for e in sdk.dead_list("r1")] == [other.id]
    purged = horus("dead", "purge", "r1", env=env)
    assert purged.stdout.strip() == f"purged 1 dead-lettered job(s) of runner r1 at supervisor {server.url}"


# -- paging: dead.list's limit and cursor, RedisClient/Client.dead_page, horus dead list --limit --
def test_pages_of_the_dead_list(dead_broker: Broker, key: SigningKey, client: RedisClient) -> None:
    jobs = [job(key) for _ in range(5)]
    for j in jobs:
        dead_letter(dead_broker, j)
    latest_first = [j.id for j in reversed(jobs)]
    assert [e.job_id for e in dead_broker.dead_list("r1")] == latest_first
    seen: list[str] = []
    cursor: int | None = 0
    pages = 0
    while cursor is not None:
        page = client.dead_page("r1", limit=2, cursor=cursor)
        assert len(page.jobs) <= 2
        seen += [e.job_id for e in page.jobs]
        cursor, pages = page.next_cursor, pages + 1
    assert (seen, pages) == (latest_first, 3)
    exact = client.dead_page("r1", limit=5)
    assert ([e.job_id for e in exact.jobs], exact.next_cursor) == (latest_first, None)
    (entry,) = client.dead_page("r1", limit=1, cursor=4).jobs
    assert entry == dead_broker.dead_list("r1")[-1]  # a page's entries are the whole list's
    assert client.dead_page("r1", cursor=9).model_dump() == {"jobs": [], "next_cursor": None}
    assert client.dead_page("nobody").model_dump() == {"jobs": [], "next_cursor": None}


def test_dead_list_pages_through_the_supervisor(dead_broker: Broker, key: SigningKey, serve: Serve) -> None:
    server = serve()
    jobs = [job(key) for _ in range(3)]
    for j in jobs:
        dead_letter(dead_broker, j)
    ids = [j.id for j in reversed(jobs)]
    # Without limit or cursor, the whole list as before.
    assert [e["job_id"] for e in server.call("dead.list", {"runner_id": "r1"})] == ids
    first = server.call("dead.list", {"runner_id": "r1", "limit": 2})
    assert ([e["job_id"] for e in first["jobs"]], first["next_cursor"]) == (ids[:2], 2)
    assert first["jobs"][0] == server.call("dead.list", {"runner_id": "r1"})[0]
    rest = server.call("dead.list", {"runner_id": "r1", "limit": 2, "cursor": first["next_cursor"]})
    assert ([e["job_id"] for e in rest["jobs"]], rest["next_cursor"]) == (ids[2:], None)
    only_cursor = server.call("dead.list", {"runner_id": "r1", "cursor": 1})  # the default limit, 50
    assert ([e["job_id"] for e in only_cursor["jobs"]], only_cursor["next_cursor"]) == (ids[1:], None)
    for bad in ({"limit": 0}, {"limit": 501}, {"cursor": -1}, {"limit": "many"}):
        assert server.error("dead.list", {"runner_id": "r1", **bad})["data"]["reason"] == "invalid_params", bad
    user = server.call("token.create", {"name": "bob", "role": "user"})["token"]
    assert server.error("dead.list", {"runner_id": "r1", "limit": 1}, token=user)["data"]["reason"] == "forbidden"
    with Client(server.url, token=ADMIN) as sdk:
        page = sdk.dead_page("r1", limit=1, cursor=1)
        assert ([e.job_id for e in page.jobs], page.next_cursor) == ([ids[1]], 2)
        assert [e.job_id for e in sdk.dead_list("r1")] == ids


@pytest.mark.parametrize("through", ["redis", "supervisor"])
def test_dead_list_cli_pages(dead_broker: Broker, key: SigningKey, serve: Serve, through: str) -> None:
    jobs = [job(key) for _ in range(3)]
    for j in jobs:
        dead_letter(dead_broker, j)
    ids = [j.id for j in reversed(jobs)]
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("HORUS_SUPERVISOR_URL", None)
    if through == "supervisor":
        server = serve()
        env |= {"HORUS_SUPERVISOR_URL": server.url, "HORUS_TOKEN": ADMIN, "HORUS_REDIS_URL": "redis://127.0.0.1:1/0"}
    else:
        env |= {"HORUS_REDIS_URL": dead_broker.url, "HORUS_NAMESPACE": dead_broker.keys.namespace}
    first = horus("dead", "list", "r1", "--limit", "2", "--json", env=env)
    assert first.returncode == 0, first.stderr
    page = json.loads(first.stdout)
    assert ([e["job_id"] for e in page["jobs"]], page["next_cursor"]) == (ids[:2], 2)
    table = horus("dead", "list", "r1", "--limit", "2", env=env)
    assert table.returncode == 0, table.stderr
    assert ids[0] in table.stdout and ids[2] not in table.stdout
    assert table.stdout.rstrip().endswith("more: horus dead list r1 --limit 2 --cursor 2")
    last = horus("dead", "list", "r1", "--limit", "2", "--cursor", "2", env=env)
    assert ids[2] in last.stdout and ids[0] not in last.stdout and "more:" not in last.stdout
    past = horus("dead", "list", "r1", "--cursor", "3", env=env)
    assert past.returncode == 0 and past.stdout.startswith("no dead-lettered jobs for runner r1")
    whole = json.loads(horus("dead", "list", "r1", "--json", env=env).stdout)
    assert [e["job_id"] for e in whole] == ids  # without --limit/--cursor: the list, as before
    bad = horus("dead", "list", "r1", "--limit", "0", env=env)
    assert bad.returncode == 2 and "--limit" in bad.stderr
