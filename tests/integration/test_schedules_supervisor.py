"""Schedules through the supervisor's real HTTP API (schedule.*): checked against its key
registry like jobs, roles enforced, the SDK and the CLI seeing the errors they see straight
to Redis, and a run fired through it executed by a real worker."""

# ruff: noqa: F811 - the supervisor fixtures are imported from its tests and used by name.
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis
from nacl.signing import SigningKey

from horus.errors import JobRejected, ScheduleExists, ScheduleNotFound, ScheduleRejected
from horus.keys import Keys
from horus.models import JobStatus
from horus.schedule import JobTemplate, Schedule
from horus.schedules import sign
from horus.sdk import Client, SupervisorError
from horus.signing import generate_key, public_hex
from tests.conftest import ROOT, StartWorker, horus_cmd
from tests.integration.test_supervisor import ADMIN, WAIT, Server, api, code, serve  # noqa: F401

FIB = json.dumps({"task": "fib", "args": [10]})
#: Nothing listens there: a command that reached Redis instead of the supervisor would fail.
NO_REDIS = "redis://127.0.0.1:1/0"


def schedule(name: str = "nightly", runner_id: str = "r1", payload: str = FIB, **fields: Any) -> Schedule:
    rule = {} if "cron" in fields else {"every": "1d"}
    return Schedule(name=name, job=JobTemplate(runner_id=runner_id, payload=payload), **rule, **fields)


def wire(stored: Schedule) -> dict[str, Any]:
    """A signed schedule as schedule.add takes it."""
    return {**stored.stored(), "enabled": stored.enabled}


def user(api: Server, name: str = "alice") -> str:
    return str(api.call("token.create", {"name": name, "role": "user"})["token"])


def stored_names(r: redis.Redis, namespace: str) -> set[str]:
    return set(r.hkeys(Keys(namespace).schedules()))


def test_add_list_pause_resume_run_remove_through_the_sdk(api: Server, key: SigningKey) -> None:
    with Client(api.url, token=ADMIN) as client:
        client.schedules.add([sign(schedule(), key), sign(schedule("hourly", cron="0 * * * *"), key)])
        infos = {info.name: info for info in client.schedules.infos()}
        assert sorted(infos) == ["hourly", "nightly"]
        nightly = infos["nightly"]
        assert (nightly.expression, nightly.runner_id, nightly.public_key) == ("every 1d", "r1", public_hex(key))
        assert not nightly.paused and nightly.next_at is not None and nightly.last_job_id is None
        client.schedules.pause("nightly")
        assert _info(client, "nightly").paused and _info(client, "nightly").next_at is None
        client.schedules.resume("nightly")
        assert not _info(client, "nightly").paused
        job_id = client.schedules.run("nightly")
        assert job_id.startswith("beat:nightly:run:")
        assert (_info(client, "nightly").last_job_id, _info(client, "nightly").last_status) == (job_id, "dispatched")
        client.schedules.remove("hourly")
        assert [info.name for info in client.schedules.infos()] == ["nightly"]


def _info(client: Client, name: str) -> Any:
    return next(info for info in client.schedules.infos() if info.name == name)


def test_the_methods_answer_what_docs_api_says(api: Server, key: SigningKey) -> None:
    added = api.call("schedule.add", {"schedules": [wire(sign(schedule(), key))]})
    assert added == {"names": ["nightly"]}
    for method in ("schedule.pause", "schedule.resume"):
        assert api.call(method, {"name": "nightly"}) == {"name": "nightly"}
    assert api.call("schedule.run", {"name": "nightly"})["job_id"].startswith("beat:nightly:run:")
    assert api.call("schedule.remove", {"name": "nightly"}) == {"name": "nightly"}
    assert api.call("schedule.list") == []


def test_an_unknown_name_is_schedule_not_found(api: Server) -> None:
    for method in ("schedule.remove", "schedule.pause", "schedule.resume", "schedule.run"):
        error = api.error(method, {"name": "nope"})
        assert error["code"] == code("schedule_not_found")
        assert error["data"] == {"reason": "schedule_not_found", "field": "name", "name": "nope"}
    with Client(api.url, token=ADMIN) as client, pytest.raises(ScheduleNotFound) as raised:
        client.schedules.run("nope")
    assert raised.value.name == "nope"


def test_a_stored_name_is_schedule_exists_unless_replaced(api: Server, key: SigningKey) -> None:
    api.call("schedule.add", {"schedules": [wire(sign(schedule(), key))]})
    again = [wire(sign(schedule(), key)), wire(sign(schedule("other"), key))]
    error = api.error("schedule.add", {"schedules": again})
    assert error["code"] == code("schedule_exists")
    assert error["data"] == {"reason": "schedule_exists", "field": "schedules", "name": "nightly"}
    assert [info["name"] for info in api.call("schedule.list")] == ["nightly"]  # all or none
    with Client(api.url, token=ADMIN) as client, pytest.raises(ScheduleExists) as raised:
        client.schedules.add([sign(schedule(), key)])
    assert raised.value.name == "nightly"
    assert api.call("schedule.add", {"schedules": again, "replace": True}) == {"names": ["nightly", "other"]}


def test_a_user_adds_and_lists_but_an_admin_changes(api: Server, key: SigningKey, r: redis.Redis) -> None:
    alice = user(api)
    assert api.call("schedule.add", {"schedules": [wire(sign(schedule(), key))]}, token=alice) == {"names": ["nightly"]}
    assert [info["name"] for info in api.call("schedule.list", token=alice)] == ["nightly"]
    for method in ("schedule.remove", "schedule.pause", "schedule.resume", "schedule.run"):
        assert api.error(method, {"name": "nightly"}, token=alice)["code"] == code("forbidden"), method
    replacing = {"schedules": [wire(sign(schedule(payload="changed"), key))], "replace": True}
    error = api.error("schedule.add", replacing, token=alice)
    assert (error["code"], error["data"]["field"]) == (code("forbidden"), "replace")
    assert api.call("schedule.list")[0]["last_job_id"] is None  # nothing was run
    assert json.loads(r.hget(Keys(api.namespace).schedules(), "nightly") or "")["job"]["payload"] == FIB
    assert api.call("schedule.add", replacing) == {"names": ["nightly"]}  # an admin may


def _refusal(api: Server, entries: list[dict[str, Any]], token: str = ADMIN) -> dict[str, Any]:
    error = api.error("schedule.add", {"schedules": entries}, token=token)
    assert error["message"].startswith("schedule rejected: "), error
    assert error["code"] == code(error["data"]["reason"])
    return error


def test_a_key_the_supervisor_does_not_trust_is_refused(api: Server, key: SigningKey, r: redis.Redis) -> None:
    stranger = generate_key()
    entries = [wire(sign(schedule("fine"), key)), wire(sign(schedule(), stranger))]
    error = _refusal(api, entries, user(api))
    assert error["data"] == {"reason": "untrusted_key", "field": "schedules[1].signatures[0].public_key"}
    assert f"`horus keys add {public_hex(stranger)}`" in error["message"]
    assert stored_names(r, api.namespace) == set()
    with Client(api.url, token=ADMIN) as client, pytest.raises(ScheduleRejected) as raised:
        client.schedules.add([sign(schedule(), stranger)])
    assert (raised.value.code, raised.value.field) == ("untrusted_key", "schedules[0].signatures[0].public_key")


def test_a_key_not_allowed_for_the_runner_is_refused(api: Server, key: SigningKey) -> None:
    api.call("key.add", {"public_key": public_hex(key), "runners": ["other-*"]})
    error = _refusal(api, [wire(sign(schedule(), key))])
    assert error["data"] == {"reason": "key_not_allowed", "field": "schedules[0].signatures[0].public_key"}


def test_an_unregistered_runner_is_refused(api: Server, key: SigningKey, r: redis.Redis) -> None:
    error = _refusal(api, [wire(sign(schedule(runner_id="r9"), key))])
    assert error["data"] == {"reason": "unknown_runner", "field": "schedules[0].job.runner_id"}
    assert "`horus runners register r9 --type TYPE`" in error["message"]
    assert stored_names(r, api.namespace) == set()
    with Client(api.url, token=ADMIN) as client, pytest.raises(ScheduleRejected) as raised:
        client.schedules.add([sign(schedule(runner_id="r9"), key)])
    assert raised.value.code == "unknown_runner"


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        (lambda entry: {**entry, "signatures": []}, "unsigned", "schedules[0].signatures"),
        (lambda entry: {**entry, "every": "1h"}, "tampered", "schedules[0].signatures[0].signature"),
        (lambda entry: {**entry, "every": "often"}, "invalid_field", "schedules[0].every"),
        (lambda entry: {**entry, "colour": "red"}, "unknown_field", "schedules[0].colour"),
        (lambda entry: {k: v for k, v in entry.items() if k != "job"}, "missing_field", "schedules[0]"),
    ],
)
def test_a_malformed_or_altered_schedule_is_refused(
    api: Server, key: SigningKey, change: Any, reason: str, field: str
) -> None:
    error = _refusal(api, [change(wire(sign(schedule(), key)))])
    assert error["data"] == {"reason": reason, "field": field}


def test_a_run_of_a_schedule_signed_without_allow_run_is_refused(api: Server, key: SigningKey) -> None:
    api.call("schedule.add", {"schedules": [wire(sign(schedule(allow_run=False), key))]})
    error = api.error("schedule.run", {"name": "nightly"})
    assert error["data"] == {"reason": "invalid_field", "field": "allow_run"}
    assert error["message"].startswith("schedule rejected: allow_run: ")
    with Client(api.url, token=ADMIN) as client, pytest.raises(ScheduleRejected):
        client.schedules.run("nightly")


def test_a_run_through_the_supervisor_runs_on_a_worker(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    start_worker("r1", "--app", "horus.demo_tasks")
    with Client(api.url, token=ADMIN) as client:
        client.schedules.add([sign(schedule(), key)])
        job_id = client.schedules.run("nightly")
        result = client.wait(job_id, timeout_s=WAIT)
        assert (result.status, result.value) == (JobStatus.COMPLETED, 55), result
        assert _info(client, "nightly").last_status == "completed"


# -- the CLI -----------------------------------------------------------------------------------
def horus(*args: str, token: str = ADMIN, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HORUS_TOKEN": token, **env}
    return subprocess.run(horus_cmd(*args), capture_output=True, text=True, cwd=ROOT, env=environment, timeout=60)


def through(api: Server) -> dict[str, str]:
    return {"HORUS_SUPERVISOR_URL": api.url, "HORUS_REDIS_URL": NO_REDIS}


def straight(redis_url: str, namespace: str) -> dict[str, str]:
    return {"HORUS_SUPERVISOR_URL": "", "HORUS_REDIS_URL": redis_url, "HORUS_NAMESPACE": namespace}


def schedule_file(tmp_path: Path, *entries: Schedule) -> Path:
    path = tmp_path / "schedules.json"
    path.write_text(json.dumps([entry.model_dump(exclude={"signatures", "created_at"}) for entry in entries]))
    return path


def one_line_error(done: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert done.returncode == exit_code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_the_cli_through_the_supervisor(api: Server, key_file: Path, tmp_path: Path) -> None:
    env = through(api)
    path = schedule_file(tmp_path, schedule(), schedule("hourly", cron="0 * * * *", allow_run=False))
    added = horus("schedule", "add", str(path), "--key", str(key_file), **env)
    assert (added.returncode, added.stdout.split()) == (0, ["nightly", "hourly"]), added.stderr
    listed = horus("schedule", "list", "--json", **env)
    assert listed.returncode == 0, listed.stderr
    assert [info["name"] for info in json.loads(listed.stdout)] == ["hourly", "nightly"]
    ran = horus("schedule", "run", "nightly", **env)
    assert ran.returncode == 0, ran.stderr
    job_id = ran.stdout.strip()
    assert job_id.startswith("beat:nightly:run:")
    assert api.call("job.status", {"job_id": job_id})["status"] == "dispatched"
    assert horus("schedule", "pause", "nightly", **env).stdout.strip() == "schedule nightly paused"
    assert json.loads(horus("schedule", "list", "--json", **env).stdout)[1]["paused"] is True


def test_the_cli_prints_the_errors_it_prints_straight_to_redis(
    api: Server, key_file: Path, tmp_path: Path, redis_url: str, namespace: str
) -> None:
    path = schedule_file(tmp_path, schedule(allow_run=False))
    commands = [
        ("schedule", "add", str(path), "--key", str(key_file)),
        ("schedule", "run", "nightly"),
        ("schedule", "resume", "nope"),
        ("schedule", "run", "nope"),
    ]
    assert horus(*commands[0], **through(api)).returncode == 0  # one namespace: both ways see it
    for command in commands:
        via, direct = horus(*command, **through(api)), horus(*command, **straight(redis_url, namespace))
        assert one_line_error(via, 2) == one_line_error(direct, 2), command


def test_the_cli_shows_the_supervisors_refusals(api: Server, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.key"
    assert horus("keys", "generate", "--out", str(stranger)).returncode == 0
    path = schedule_file(tmp_path, schedule(), schedule("lost", runner_id="r9"))
    line = one_line_error(horus("schedule", "add", str(path), "--key", str(stranger), **through(api)), 2)
    assert line.startswith("error: schedule rejected: schedules[0].signatures[0].public_key: key ")
    assert line.endswith(" [untrusted_key]")
    alice = user(api)
    refused = horus("schedule", "run", "nightly", token=alice, **through(api))
    assert one_line_error(refused, 3) == "error: schedule.run needs the admin role"
    replacing = horus("schedule", "add", str(path), "--key", str(stranger), "--replace", token=alice, **through(api))
    assert one_line_error(replacing, 3) == "error: schedule.add with replace: true needs the admin role"


def test_sdk_errors_of_other_kinds_stay_what_they_were(api: Server, key: SigningKey) -> None:
    with Client(api.url, token="wrong") as client, pytest.raises(SupervisorError) as raised:
        client.schedules.infos()
    assert raised.value.reason == "unauthenticated"
    with Client(api.url, token=ADMIN, key=key) as client, pytest.raises(JobRejected) as job_refusal:
        client.submit({"runner_id": "r9", "payload": FIB})
    assert job_refusal.value.code == "unknown_runner" and not isinstance(job_refusal.value, ScheduleRejected)
