"""Schedules without Redis: the file's rules, occurrence times (DST included), catch-up plans,
the signed bytes, and the worker's check of a firing."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from nacl.signing import SigningKey

from horus.broker import stored_json
from horus.errors import JobRejected, ScheduleRejected
from horus.models import Job
from horus.schedule import MAX_CATCH_UP, Schedule, firing_job, plan
from horus.schedules import check_signed, parse_schedules, sign
from horus.signing import generate_key, public_hex
from horus.trust import TrustPolicy
from horus.worker.verify import load_verified

BERLIN = ZoneInfo("Europe/Berlin")
JOB = {"runner_id": "r1", "payload": "echo hi"}


def schedule(**fields: Any) -> Schedule:
    return parse_schedules([{"name": "s", "job": JOB, **fields}])[0]


def at(*parts: int, tz: ZoneInfo = BERLIN) -> int:
    return int(dt.datetime(*parts, tzinfo=tz).timestamp())  # type: ignore[misc]


# -- the file's rules ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"cron": "61 * * * *"}, "schedules[0].cron", "not a valid cron expression"),
        ({"cron": "* * * *"}, "schedules[0].cron", "must have 5 fields"),
        ({"cron": "0 * * * * *"}, "schedules[0].cron", "must have 5 fields"),
        ({"cron": "@daily"}, "schedules[0].cron", "must have 5 fields"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "schedules[0].timezone", "not an IANA time zone"),
        ({"cron": "0 3 * * *", "every": "1h"}, "schedules[0]", "not both or neither"),
        ({}, "schedules[0]", "not both or neither"),
        ({"every": "5 minutes"}, "schedules[0].every", 'whole number and a unit: "30s"'),
        ({"every": "0s"}, "schedules[0].every", "whole number and a unit"),
        ({"every": "1h", "timezone": "Europe/Berlin"}, "schedules[0]", "timezone applies to cron schedules only"),
        ({"every": "1s", "catch_up": "some"}, "schedules[0].catch_up", "'skip', 'last' or 'all'"),
        ({"every": "1s", "enabled": "yes"}, "schedules[0].enabled", "valid boolean"),
        ({"every": "1s", "color": "red"}, "schedules[0].color", "not a schedule field"),
        ({"every": "1s", "name": "a b"}, "schedules[0].name", "1-64 letters"),
        ({"every": "1s", "job": {"runner_id": "r1"}}, "schedules[0].job.payload", "missing"),
        ({"every": "1s", "job": {**JOB, "not_before": 5}}, "schedules[0].job.not_before", "not a schedule field"),
        ({"every": "1s", "job": {**JOB, "timeout": 0}}, "schedules[0].job.timeout", "between 1 and 86400"),
    ],
)
def test_a_bad_schedule_is_refused_with_the_field_and_a_reason(fields: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ScheduleRejected) as caught:
        parse_schedules([{"name": "s", "job": JOB, **fields}])
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_a_name_twice_in_one_file_is_refused() -> None:
    entry = {"name": "s", "every": "1m", "job": JOB}
    with pytest.raises(ScheduleRejected, match="appears twice") as caught:
        parse_schedules([entry, entry])
    assert caught.value.field == "schedules[1].name"


def test_a_file_that_is_not_a_list_of_schedules_is_refused() -> None:
    with pytest.raises(ScheduleRejected, match="must be a list"):
        parse_schedules("every 1s")


# -- occurrences -----------------------------------------------------------------------
def test_every_counts_from_the_unix_epoch() -> None:
    s = schedule(every="30s")
    assert s.next_after(1_000_000_000) == 1_000_000_020
    assert s.next_after(1_000_000_020) == 1_000_000_050
    assert s.last_at_or_before(1_000_000_049.9) == 1_000_000_020
    assert s.is_occurrence(1_000_000_050)
    assert not s.is_occurrence(1_000_000_051)


def test_cron_fires_on_local_time_in_its_timezone() -> None:
    s = schedule(cron="0 9 * * 1-5", timezone="Europe/Berlin")
    friday_evening = at(2026, 12, 4, 18, 0)
    assert s.next_after(friday_evening) == at(2026, 12, 7, 9, 0)  # Monday, 08:00 UTC
    assert s.is_occurrence(at(2026, 12, 7, 9, 0))
    assert not s.is_occurrence(at(2026, 12, 7, 9, 0, tz=ZoneInfo("UTC")))


def test_a_time_skipped_by_the_spring_dst_change_fires_at_the_next_valid_time() -> None:
    """Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist that
    day; croniter fires at 03:00 instead, once, and at 02:30 again from the next day."""
    s = schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    first = s.next_after(at(2026, 3, 28, 12, 0))
    assert dt.datetime.fromtimestamp(first, BERLIN).isoformat() == "2026-03-29T03:00:00+02:00"
    second = s.next_after(first)
    assert dt.datetime.fromtimestamp(second, BERLIN).isoformat() == "2026-03-30T02:30:00+02:00"
    assert second - first == 23.5 * 3600


def test_a_time_repeated_by_the_autumn_dst_change_fires_at_both_instants() -> None:
    """Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice (an hour
    apart); croniter fires at each, and each is its own occurrence with its own job id."""
    s = schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    first = s.next_after(at(2026, 10, 24, 12, 0))
    second = s.next_after(first)
    assert second - first == 3600
    shown = [dt.datetime.fromtimestamp(t, BERLIN).isoformat() for t in (first, second)]
    assert shown == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]
    assert s.is_occurrence(first) and s.is_occurrence(second)
    assert firing_job(s, first, {}).id != firing_job(s, second, {}).id


def test_an_hourly_cron_keeps_one_occurrence_per_real_hour_across_both_changes() -> None:
    s = schedule(cron="0 * * * *", timezone="Europe/Berlin")
    for day in ((2026, 3, 29), (2026, 10, 25)):
        start = at(*day, 0, 0)
        times = s.occurrences(start, start + 6 * 3600, 100)
        assert [b - a for a, b in itertools.pairwise(times)] == [3600] * (len(times) - 1)


# -- catch-up plans --------------------------------------------------------------------
@pytest.mark.parametrize("catch_up", ["skip", "last", "all"])
def test_catch_up_after_a_downtime(catch_up: str) -> None:
    """An hourly schedule whose first unfired occurrence is 3 hours back (a beat down that long):
    nothing is within the grace, so the policy alone decides."""
    s = schedule(every="1h", catch_up=catch_up)
    now = 1_800_000_000 // 3600 * 3600 + 1800.0
    due = int(now) - 1800 - 3 * 3600
    missed = [due, due + 3600, due + 7200, due + 10_800]
    expected = {"skip": [], "last": missed[-1:], "all": missed}[catch_up]
    assert plan(s, due, now, grace_s=10) == expected


def test_occurrences_within_the_grace_fire_late_whatever_the_policy() -> None:
    s = schedule(every="1s", catch_up="skip")
    fired = plan(s, 1_800_000_000 - 30, 1_800_000_000.5, grace_s=4)
    assert fired == [1_800_000_000 - 3, 1_800_000_000 - 2, 1_800_000_000 - 1, 1_800_000_000]


def test_a_pass_on_time_fires_the_due_occurrence_only() -> None:
    s = schedule(every="1m", catch_up="all")
    assert plan(s, 1_800_000_000 - 1_800_000_000 % 60, 1_800_000_000 - 1_800_000_000 % 60 + 0.05, 10) == [
        1_800_000_000 - 1_800_000_000 % 60
    ]


def test_catch_up_all_is_bounded() -> None:
    s = schedule(every="1s", catch_up="all")
    fired = plan(s, 1_800_000_000 - 50_000, 1_800_000_000.0, grace_s=0)
    missed = [t for t in fired if t < 1_800_000_000]
    assert len(missed) == MAX_CATCH_UP
    assert missed[-1] == 1_800_000_000 - 1  # the latest are kept


# -- what is signed --------------------------------------------------------------------
def test_the_signed_bytes_cover_the_rule_and_template_but_not_the_paused_state() -> None:
    s = schedule(cron="*/5 * * * *", created_at=1_763_700_000, job={**JOB, "retries": 2, "env_vars": {"B": "2"}})
    assert s.signed_bytes() == (
        b'{"allow_run":true,"catch_up":"skip","created_at":1763700000,"cron":"*/5 * * * *",'
        b'"job":{"caller_id":"","context_id":"","env_vars":{"B":"2"},"executor":"","payload":"echo hi",'
        b'"retries":2,"runner_id":"r1","timeout":60},"name":"s","timezone":"UTC"}'
    )
    assert schedule(
        cron="*/5 * * * *", created_at=1_763_700_000, enabled=False, job=s.job.model_dump()
    ).signed_bytes() == (s.signed_bytes())


def test_an_unsigned_or_altered_schedule_does_not_pass_its_own_check() -> None:
    s = schedule(every="1m")
    with pytest.raises(JobRejected, match="unsigned"):
        check_signed(s)
    signed = sign(s, generate_key())
    check_signed(signed)
    with pytest.raises(JobRejected) as caught:
        check_signed(signed.model_copy(update={"every": "1s"}))
    assert caught.value.code == "tampered"


# -- a worker's check of a firing ------------------------------------------------------
@pytest.fixture
def signing_key() -> SigningKey:
    return generate_key()


@pytest.fixture
def trusting(signing_key: SigningKey) -> TrustPolicy:
    return TrustPolicy({public_hex(signing_key): ["r1"]})


def fired(s: Schedule, occurrence: int, run_ms: int | None = None, **changes: Any) -> dict[str, Any]:
    """A firing as stored in Redis, with ``changes`` made to it afterwards."""
    data: dict[str, Any] = orjson.loads(stored_json(firing_job(s, occurrence, s.stored(), run_ms)))
    data.update(changes)
    return data


@pytest.mark.parametrize("run_ms", [None, 1_700_000_000_123])
def test_a_firing_is_the_job_a_validated_template_makes(run_ms: int | None) -> None:
    """firing_job assembles the job without pydantic: it must be the job validation would give."""
    s = schedule(every="1m", job={**JOB, "env_vars": {"A": "1"}, "retries": 2, "priority": 3, "timeout": 5})
    occurrence = s.next_after(1_700_000_000)
    job = firing_job(s, occurrence, s.stored(), run_ms)
    expected = Job.model_validate(
        {
            **s.job.model_dump(),
            "id": job.id,
            "created_at": occurrence,
            "firing": {"schedule": s.stored(), "run": run_ms is not None},
        }
    )
    assert job == expected
    assert job.model_fields_set == set(Job.model_fields)
    assert job.env_vars is not s.job.env_vars  # a firing's env_vars are its own


def verified(data: dict[str, Any], policy: TrustPolicy) -> Any:
    return load_verified(orjson.dumps(data).decode(), data["id"], "r1", policy, max_age_s=86_400)


def recent(s: Schedule) -> int:
    return s.last_at_or_before(dt.datetime.now().timestamp())


def test_a_worker_runs_a_firing_of_a_schedule_signed_by_a_key_it_trusts(
    signing_key: SigningKey, trusting: TrustPolicy
) -> None:
    s = sign(schedule(every="1m", job={**JOB, "env_vars": {"A": "1"}, "retries": 1}), signing_key)
    occurrence = recent(s)
    job = verified(fired(s, occurrence), trusting)
    assert (job.id, job.payload, job.env_vars, job.retries) == (f"beat:s:{occurrence}", "echo hi", {"A": "1"}, 1)
    assert job.signatures == s.signatures


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"payload": "rm -rf /"}, "tampered", "payload"),
        ({"env_vars": {"A": "2"}}, "tampered", "env_vars"),
        ({"timeout": 5}, "tampered", "timeout"),
        ({"retries": 9}, "tampered", "retries"),
    ],
)
def test_a_firing_changed_in_redis_is_refused(
    signing_key: SigningKey, trusting: TrustPolicy, change: dict[str, Any], code: str, field: str
) -> None:
    s = sign(schedule(every="1m", job={**JOB, "env_vars": {"A": "1"}}), signing_key)
    with pytest.raises(JobRejected) as caught:
        verified(fired(s, recent(s), **change), trusting)
    assert (caught.value.code, caught.value.field) == (code, field)


@pytest.mark.parametrize(
    "change", [{"every": "1s"}, {"job": {**JOB, "payload": "rm -rf /"}}, {"job": {**JOB, "runner_id": "r2"}}]
)
def test_a_schedule_changed_in_redis_is_refused(
    signing_key: SigningKey, trusting: TrustPolicy, change: dict[str, Any]
) -> None:
    s = sign(schedule(every="1m"), signing_key)
    forged = Schedule.model_validate({**s.stored(), **change})
    data = fired(s, recent(s))
    data["firing"]["schedule"] = forged.stored()
    with pytest.raises(JobRejected) as caught:
        verified(data, trusting)
    assert caught.value.code == "tampered"
    assert caught.value.field.startswith("firing.schedule.signatures")


def test_a_time_that_is_not_an_occurrence_is_refused(signing_key: SigningKey, trusting: TrustPolicy) -> None:
    s = sign(schedule(every="1m"), signing_key)
    off = recent(s) + 7
    data = fired(s, recent(s), id=f"beat:s:{off}", created_at=off)
    with pytest.raises(JobRejected) as caught:
        verified(data, trusting)
    assert (caught.value.code, caught.value.field) == ("bad_firing", "created_at")


def test_a_firing_under_another_id_is_refused(signing_key: SigningKey, trusting: TrustPolicy) -> None:
    s = sign(schedule(every="1m"), signing_key)
    data = fired(s, recent(s), id="nightly-copy")
    with pytest.raises(JobRejected) as caught:
        verified(data, trusting)
    assert (caught.value.code, caught.value.field) == ("bad_firing", "id")


def test_a_firing_by_an_untrusted_key_is_refused(trusting: TrustPolicy) -> None:
    s = sign(schedule(every="1m"), generate_key())
    with pytest.raises(JobRejected) as caught:
        verified(fired(s, recent(s)), trusting)
    assert caught.value.code == "untrusted_key"
    assert caught.value.field == "firing.schedule.signatures[0].public_key"


def test_a_run_is_accepted_only_when_the_schedule_allows_runs(signing_key: SigningKey, trusting: TrustPolicy) -> None:
    now_ms = int(dt.datetime.now().timestamp() * 1000)
    allowed = sign(schedule(every="1h"), signing_key)
    job = verified(fired(allowed, now_ms // 1000, run_ms=now_ms), trusting)
    assert job.id == f"beat:s:run:{now_ms}"
    strict = sign(schedule(every="1h", allow_run=False), signing_key)
    with pytest.raises(JobRejected) as caught:
        verified(fired(strict, now_ms // 1000, run_ms=now_ms), trusting)
    assert (caught.value.code, caught.value.field) == ("bad_firing", "firing.run")


def test_an_old_occurrence_is_stale_like_any_old_job(signing_key: SigningKey, trusting: TrustPolicy) -> None:
    s = sign(schedule(every="1m"), signing_key)
    old = recent(s) - 2 * 86_400
    with pytest.raises(JobRejected) as caught:
        verified(fired(s, old), trusting)
    assert caught.value.code == "stale"


def test_a_submitted_job_cannot_pose_as_a_firing() -> None:
    from horus.admission import parse_job

    with pytest.raises(JobRejected) as caught:
        parse_job({**JOB, "firing": {"schedule": {}}})
    assert caught.value.field == "firing"


def test_a_key_given_twice_in_a_schedule_file_is_refused(tmp_path: Any) -> None:
    from horus.schedules import load_file

    path = tmp_path / "s.yaml"
    path.write_text("- name: s\n  every: 1s\n  job: {runner_id: r1}\n  job: {runner_id: r1, payload: x}\n")
    with pytest.raises(ScheduleRejected, match="'job' is given twice") as caught:
        load_file(path)
    assert caught.value.field == "file"
