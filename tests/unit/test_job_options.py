"""Job options at admission (``parse_job``), in the signed content, and at the worker's own
check of a stored job (``load_verified``)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from nacl.signing import SigningKey

from horus.admission import parse_job
from horus.errors import JobRejected
from horus.models import CONTENT_FIELDS, Job
from horus.signing import canonical_bytes, generate_key, job_bytes, public_hex, sign_job
from horus.trust import TrustPolicy
from horus.worker.verify import load_verified

BAD = [
    ("retries", -1),
    ("retries", 101),
    ("retries", "2"),
    ("retries", True),
    ("retries", 1.5),
    ("priority", -1),
    ("priority", 10),
    ("priority", "x"),
    ("retry_backoff_s", 0),
    ("retry_backoff_s", -1),
    ("retry_backoff_s", "1"),
    ("retry_backoff_s", float("nan")),
    ("retry_backoff_max_s", 0),
    ("not_before", -5),
    ("not_before", "tomorrow"),
    ("not_before", 1e12),
]
#: The bad values JSON can carry (not NaN: no JSON parser here takes it).
BAD_JSON = [(name, value) for name, value in BAD if not (isinstance(value, float) and value != value)]


def ids(cases: list[tuple[str, object]]) -> list[str]:
    return [f"{name}={value!r}" for name, value in cases]


@pytest.fixture
def key() -> SigningKey:
    return generate_key()


@pytest.fixture
def policy(key: SigningKey) -> TrustPolicy:
    return TrustPolicy({public_hex(key): ["r1"]})


def job_data(**fields: Any) -> dict[str, Any]:
    return {"runner_id": "r1", "payload": "x", **fields}


@pytest.mark.parametrize(("name", "value"), BAD, ids=ids(BAD))
def test_parse_job_refuses_a_bad_option(name: str, value: object) -> None:
    with pytest.raises(JobRejected) as info:
        parse_job(job_data(**{name: value}))
    assert (info.value.code, info.value.field) == ("invalid_field", name)
    assert "must be" in info.value.reason, info.value.reason


@pytest.mark.parametrize(("name", "value"), BAD_JSON, ids=ids(BAD_JSON))
def test_parse_job_refuses_a_bad_option_in_json_text(name: str, value: object) -> None:
    with pytest.raises(JobRejected) as info:
        parse_job(json.dumps(job_data(**{name: value})))
    assert info.value.field == name


def test_good_options_are_taken() -> None:
    now = time.time()
    job = parse_job(
        job_data(retries=100, priority=9, retry_backoff_s=0.001, retry_backoff_max_s=604_800, not_before=now)
    )
    assert (job.retries, job.priority, job.retry_backoff_s, job.retry_backoff_max_s, job.not_before) == (
        100,
        9,
        0.001,
        604_800,
        now,
    )
    # A whole float is an integer, as RFC 8785 would write it.
    assert parse_job(job_data(retries=2.0)).retries == 2


def classic_bytes(job: Job) -> bytes:
    """How a job was signed before it had options: its content fields only."""
    fields = job.model_dump(mode="json")
    return canonical_bytes({name: fields[name] for name in CONTENT_FIELDS})


def test_a_job_at_the_defaults_signs_the_classic_fields_only() -> None:
    job = parse_job(job_data(caller_id="c", env_vars={"A": "1"}))
    assert set(job.content()) == set(CONTENT_FIELDS) and len(CONTENT_FIELDS) == 9
    assert job_bytes(job) == classic_bytes(job)
    # The defaults written out sign the same bytes as when left out.
    explicit = job.model_copy(
        update={"retries": 0, "priority": 0, "retry_backoff_s": 1, "retry_backoff_max_s": 3600, "not_before": None}
    )
    assert job_bytes(explicit) == job_bytes(job)
    written = parse_job({**job_data(caller_id="c", env_vars={"A": "1"}), "retry_backoff_s": 1.0, "priority": 0})
    assert set(written.content()) == set(CONTENT_FIELDS)


def test_a_job_with_options_signs_them() -> None:
    job = parse_job(job_data(retries=3, priority=5, not_before=1_900_000_000.5, retry_backoff_s=0.5))
    content = job.content()
    assert set(content) == {*CONTENT_FIELDS, "retries", "priority", "not_before", "retry_backoff_s"}
    assert (content["retries"], content["priority"], content["not_before"], content["retry_backoff_s"]) == (
        3,
        5,
        1_900_000_000.5,
        0.5,
    )
    assert job_bytes(job) != classic_bytes(job)
    assert json.loads(job_bytes(job)) == content


def stored(key: SigningKey, **fields: Any) -> tuple[str, dict[str, Any]]:
    job = sign_job(parse_job(job_data(**fields)), key)
    return job.id, json.loads(job.model_dump_json())


def check(data: dict[str, Any], job_id: str, policy: TrustPolicy) -> Job:
    return load_verified(json.dumps(data), job_id, "r1", policy, 86_400)


def test_the_worker_loads_a_job_with_its_options(key: SigningKey, policy: TrustPolicy) -> None:
    not_before = time.time() - 1
    job_id, data = stored(key, retries=2, priority=4, retry_backoff_s=0.5, not_before=not_before)
    job = check(data, job_id, policy)
    assert (job.retries, job.priority, job.retry_backoff_s, job.retry_backoff_max_s, job.not_before) == (
        2,
        4,
        0.5,
        3600,
        not_before,
    )


def resigned(key: SigningKey, name: str, value: object) -> tuple[str, dict[str, Any]]:
    """A stored job with ``name`` set to ``value`` behind every client check, signed that way."""
    job_id, data = stored(key)
    data[name] = value
    content = {**{field: data[field] for field in CONTENT_FIELDS}, name: value}
    signature = key.sign(canonical_bytes(content)).signature.hex()
    data["signatures"] = [{"public_key": public_hex(key), "signature": signature, "algorithm": "ed25519"}]
    return job_id, data


@pytest.mark.parametrize(("name", "value"), BAD_JSON, ids=ids(BAD_JSON))
def test_the_worker_refuses_a_stored_job_with_a_bad_option(
    key: SigningKey, policy: TrustPolicy, name: str, value: object
) -> None:
    """The option's own check refuses it, naming the field (the signature is good)."""
    job_id, data = resigned(key, name, value)
    with pytest.raises(JobRejected) as info:
        check(data, job_id, policy)
    assert (info.value.code, info.value.field) == ("invalid_field", name), info.value


def test_a_stored_job_signed_the_same_way_with_good_options_loads(key: SigningKey, policy: TrustPolicy) -> None:
    job_id, data = resigned(key, "retries", 3)
    assert check(data, job_id, policy).retries == 3


@pytest.mark.parametrize(("name", "value"), [("priority", 9), ("retries", 100), ("not_before", time.time() + 60)])
def test_an_option_changed_in_redis_breaks_the_signature(
    key: SigningKey, policy: TrustPolicy, name: str, value: object
) -> None:
    job_id, data = stored(key)
    data[name] = value
    with pytest.raises(JobRejected) as info:
        check(data, job_id, policy)
    assert (info.value.code, info.value.field) == ("tampered", "signatures[0].signature")


def test_the_worker_refuses_a_job_not_due_yet(key: SigningKey, policy: TrustPolicy) -> None:
    """Whoever moved it into the queue early: no job starts past the clock skew before its time."""
    job_id, data = stored(key, not_before=time.time() + 3600)
    with pytest.raises(JobRejected) as info:
        check(data, job_id, policy)
    assert (info.value.code, info.value.field) == ("stale", "not_before")


def test_a_job_with_retries_or_a_start_time_stays_fresh_longer(key: SigningKey, policy: TrustPolicy) -> None:
    """The freshness window opens at not_before and lasts as long as the retries may wait."""
    old = int(time.time()) - 86_400 - 600
    job_id, data = stored(key, created_at=old, not_before=old + 3600)
    assert check(data, job_id, policy).id == job_id
    job_id, data = stored(key, created_at=old, retries=1, retry_backoff_s=3600)
    assert check(data, job_id, policy).id == job_id
    job_id, data = stored(key, created_at=old)
    with pytest.raises(JobRejected) as info:
        check(data, job_id, policy)
    assert info.value.code == "stale"
