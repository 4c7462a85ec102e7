"""Signed Rhai jobs using ``osiris`` through real ``horus worker --type osiris`` processes."""

from __future__ import annotations

import redis

from horus.client import RedisClient
from horus.keys import Keys
from horus.models import JobStatus
from horus.osiris import Store
from tests.conftest import StartWorker
from tests.osiris_check import assert_consistent

WAIT = 60
SEED_EXAMPLE = """let users = osiris.model("users");
let user = users.create(#{
    name: "Alice",
    email: "alice@example.com"
});
"""


def osiris_job(script: str) -> dict[str, object]:
    return {"runner_id": "osiris1", "payload": script, "timeout": 30}


def test_the_seed_example_end_to_end(
    client: RedisClient, start_worker: StartWorker, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    start_worker("osiris1", runner_type="osiris", concurrency=1)
    result = client.run(osiris_job(SEED_EXAMPLE), WAIT)
    assert result.status == JobStatus.COMPLETED, result.error
    with Store(redis_url, namespace=namespace) as store:
        (alice,) = store.model("users").list()
    assert (alice["name"], alice["email"]) == ("Alice", "alice@example.com")
    assert r.exists(Keys(namespace).osiris_doc("users", alice["id"]))

    read = client.run(osiris_job('let u = osiris.model("users").find(#{email: "alice@example.com"});'), WAIT)
    assert read.status == JobStatus.FAILED
    assert 'osiris.define("users", #{index: ["email"]})' in (read.error or "")
    assert "(line 1, position" in (read.error or "")

    script = """osiris.define("users", #{index: ["email"], unique: ["email"]});
let found = osiris.model("users").find(#{email: "alice@example.com"});
print(`found ${found.len()}`);
found[0].name
"""
    read = client.run(osiris_job(script), WAIT)
    assert read.status == JobStatus.COMPLETED, read.error
    assert (read.output, read.value) == ("found 1", "Alice")


RACE = """osiris.define("users", #{unique: ["email"]});
// The first jobs wait here until four run at once, one in each worker child, so they race.
let arrivals = osiris.model("arrivals");
arrivals.create(#{});
while arrivals.count() < 4 {}
osiris.model("users").create(#{email: "same@example.com", name: "racer"}).id
"""


def test_concurrent_jobs_creating_one_unique_value(
    client: RedisClient, start_worker: StartWorker, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    start_worker("osiris1", runner_type="osiris", concurrency=2)
    start_worker("osiris1", runner_type="osiris", concurrency=2)
    job_ids = client.submit_many([osiris_job(RACE) for _ in range(20)])
    results = [client.wait(job_id, WAIT) for job_id in job_ids]

    completed = [result for result in results if result.status == JobStatus.COMPLETED]
    failed = [result for result in results if result.status == JobStatus.FAILED]
    assert len(completed) == 1 and len(failed) == 19, [(res.status, res.error) for res in results]
    for result in failed:
        assert 'users: email "same@example.com" is already used by document' in (result.error or "")
        assert "(line 6, position" in (result.error or "")

    keys = Keys(namespace)
    workers = {r.hget(keys.job("osiris1", job_id), "worker") for job_id in job_ids}
    assert len(workers) == 4  # every child of both workers ran some of the jobs
    with Store(redis_url, namespace=namespace) as store:
        (doc,) = store.model("users").list()
    assert doc["id"] == completed[0].value
    assert_consistent(r, keys, "users")
