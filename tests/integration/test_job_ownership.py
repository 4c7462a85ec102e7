"""Job ownership over the supervisor's real HTTP API: a user token reaches only the jobs it
submitted, an admin every job; a deleted job's id stays claimed."""

# ruff: noqa: F811 - the supervisor fixtures are imported from its tests and used by name.
from __future__ import annotations

from typing import Any

import pytest
import redis
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.keys import Keys
from tests.conftest import StartWorker
from tests.integration.test_supervisor import ADMIN, WAIT, Server, api, code, serve, signed  # noqa: F401

MISSING = {"reason": "job_not_found", "field": "job_id"}


def user(api: Server, name: str) -> str:
    return str(api.call("token.create", {"name": name, "role": "user"})["token"])


def listed(api: Server, token: str, **params: Any) -> set[str]:
    return {job["job_id"] for job in api.call("job.list", params, token=token)["jobs"]}


def lookups(job_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("job.status", {"job_id": job_id}),
        ("job.result", {"job_id": job_id}),
        ("job.result", {"job_id": job_id, "wait_s": 5}),
        ("job.logs", {"job_id": job_id}),
        ("job.tail", {"job_id": job_id}),
        ("job.tail", {"job_id": job_id, "wait_s": 5}),
        ("job.cancel", {"job_id": job_id}),
        ("job.delete", {"job_id": job_id}),
    ]


def assert_hidden(api: Server, job_id: str, token: str) -> None:
    """Every job.* lookup answers exactly as for an id never submitted."""
    for method, params in lookups(job_id):
        error = api.error(method, params, token=token)
        absent = api.error(method, {**params, "job_id": "never-submitted"}, token=token)
        assert (error["code"], error["data"]) == (absent["code"], absent["data"]) == (code("job_not_found"), MISSING)
        assert error["message"] == absent["message"].replace("never-submitted", job_id)


def test_a_user_reaches_only_its_own_jobs(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    alice, bob = user(api, "alice"), user(api, "bob")
    start_worker()
    finished = api.call("job.run", {"job": signed(key, "shout", "hi"), "wait_s": WAIT}, token=alice)
    assert finished["status"] == "completed"
    mine = finished["job_id"]
    assert_hidden(api, mine, bob)
    bobs = api.call("job.create", {"job": signed(key, "add", 1, 2)}, token=bob)
    assert api.call("job.result", {"job_id": bobs, "wait_s": WAIT}, token=bob)["status"] == "completed"

    # The owner still reaches it all, and nothing bob tried changed it.
    assert api.call("job.status", {"job_id": mine}, token=alice)["owner"] == "token:alice"
    assert api.call("job.result", {"job_id": mine}, token=alice) == finished
    assert api.call("job.logs", {"job_id": mine}, token=alice) == ["hi"]
    assert api.call("job.tail", {"job_id": mine}, token=alice)["lines"] == ["hi"]
    assert listed(api, alice) == {mine}
    assert listed(api, bob) == {bobs}
    assert listed(api, bob, runner_id="r1", status="completed") == {bobs}
    everything = api.call("job.list")["jobs"]
    assert {job["job_id"] for job in everything} == {mine, bobs}
    assert api.call("job.status", {"job_id": bobs})["owner"] == "token:bob"
    assert api.call("job.delete", {"job_id": mine}, token=alice) is True
    assert api.call("job.delete", {"job_id": bobs}) is True  # an admin may delete any job


def test_another_user_cannot_cancel_or_delete_a_queued_job(api: Server, key: SigningKey) -> None:
    alice, bob = user(api, "alice"), user(api, "bob")
    job_id = api.call("job.create", {"job": signed(key)}, token=alice)  # no worker: it stays queued
    assert_hidden(api, job_id, bob)
    assert api.call("job.status", {"job_id": job_id}, token=alice)["status"] == "dispatched"
    assert api.call("job.cancel", {"job_id": job_id}, token=alice)["status"] == "cancelled"
    assert api.error("job.delete", {"job_id": job_id}, token=bob)["data"] == MISSING
    assert api.call("job.delete", {"job_id": job_id}, token=alice) is True


def test_a_refused_replay_does_not_take_the_job_over(api: Server, key: SigningKey) -> None:
    alice, bob = user(api, "alice"), user(api, "bob")
    job = signed(key)
    api.call("job.create", {"job": job}, token=alice)
    for method in ("job.create", "job.run"):
        assert api.error(method, {"job": job}, token=bob)["data"]["reason"] == "replayed_id"
    assert_hidden(api, job["id"], bob)
    assert listed(api, bob) == set()
    assert api.call("job.status", {"job_id": job["id"]}, token=alice)["owner"] == "token:alice"


def test_tokens_with_one_name_share_their_jobs(api: Server, key: SigningKey) -> None:
    old = user(api, "ci")
    job_id = api.call("job.create", {"job": signed(key)}, token=old)
    new = user(api, "ci")
    assert api.call("job.status", {"job_id": job_id}, token=new)["owner"] == "token:ci"
    # A user token named like the bootstrap admin's identity gets the token: prefix all the same.
    impostor = user(api, "bootstrap-admin")
    admins = api.call("job.create", {"job": signed(key)})
    assert api.call("job.status", {"job_id": admins})["owner"] == "bootstrap-admin"
    assert_hidden(api, admins, impostor)


def test_jobs_queued_straight_into_redis_are_for_admins_only(api: Server, client: RedisClient) -> None:
    alice = user(api, "alice")
    job_id = client.submit({"runner_id": "r1", "payload": "x"})
    assert_hidden(api, job_id, alice)
    assert listed(api, alice) == set()
    status = api.call("job.status", {"job_id": job_id})
    assert (status["status"], status["owner"]) == ("dispatched", None)
    assert client.status(job_id)["owner"] is None


def test_a_deleted_job_cannot_be_submitted_again(
    api: Server, key: SigningKey, start_worker: StartWorker, r: redis.Redis
) -> None:
    alice = user(api, "alice")
    start_worker()
    job = signed(key, "add", 2, 3)
    assert api.call("job.run", {"job": job, "wait_s": WAIT}, token=alice)["status"] == "completed"
    assert api.call("job.delete", {"job_id": job["id"]}, token=alice) is True
    for token in (alice, ADMIN):
        for method, params in lookups(job["id"]):
            assert api.error(method, params, token=token)["data"] == MISSING
    for method in ("job.create", "job.run"):
        error = api.error(method, {"job": job}, token=alice)
        assert (error["code"], error["data"]) == (code("replayed_id"), {"reason": "replayed_id", "field": "id"})
    assert listed(api, alice) == set()
    # Claimed for longer than the job could pass the supervisor's freshness check.
    settings = api.supervisor.settings
    assert r.ttl(Keys(api.namespace).job_index(job["id"])) > settings.max_age_s + settings.max_skew_s
    assert r.llen(Keys(api.namespace).queue("r1")) == 0


@pytest.mark.parametrize("method", ["job.status", "job.delete"])
def test_a_user_gets_job_not_found_for_an_unknown_id(api: Server, method: str) -> None:
    assert api.error(method, {"job_id": "nope"}, token=user(api, "alice"))["data"] == MISSING
