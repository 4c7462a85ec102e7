"""The worker's own check of stored jobs (the fast path without pydantic)."""

from __future__ import annotations

import json
import time

import pytest
from nacl.signing import SigningKey

from horus.errors import JobRejected
from horus.models import Job
from horus.signing import generate_key, public_hex, sign_job
from horus.trust import TrustPolicy
from horus.worker.verify import load_verified


@pytest.fixture
def key() -> SigningKey:
    return generate_key()


@pytest.fixture
def policy(key: SigningKey) -> TrustPolicy:
    return TrustPolicy({public_hex(key): ["r1"]})


def stored(key: SigningKey, **fields: object) -> tuple[str, str]:
    job = sign_job(Job(runner_id="r1", payload="x", **fields), key)  # type: ignore[arg-type]
    return job.id, job.model_dump_json()


def check(job_json: str, job_id: str, policy: TrustPolicy) -> Job:
    return load_verified(job_json, job_id, "r1", policy, 86_400)


def test_valid_job_loads(key: SigningKey, policy: TrustPolicy) -> None:
    job_id, text = stored(key, env_vars={"A": "1"}, timeout=5)
    job = check(text, job_id, policy)
    assert (job.id, job.timeout, job.env_vars, job.payload) == (job_id, 5, {"A": "1"}, "x")


def test_defaults_are_signed_as_the_model_fills_them(key: SigningKey, policy: TrustPolicy) -> None:
    job_id, text = stored(key)
    minimal = {k: v for k, v in json.loads(text).items() if k not in ("timeout", "env_vars", "caller_id", "status")}
    assert check(json.dumps(minimal), job_id, policy).timeout == 60


@pytest.mark.parametrize(
    ("mutate", "code", "field"),
    [
        (lambda d: d.update(payload=7), "invalid_field", "payload"),
        (lambda d: d.update(payload=" "), "empty_payload", "payload"),
        (lambda d: d.update(timeout="60"), "timeout_out_of_bounds", "timeout"),
        (lambda d: d.update(timeout=True), "timeout_out_of_bounds", "timeout"),
        (lambda d: d.update(env_vars={"A": 1}), "invalid_field", "env_vars"),
        (lambda d: d.update(created_at="now"), "invalid_field", "created_at"),
        (lambda d: d.update(created_at=int(time.time()) - 90_000), "stale", "created_at"),
        (lambda d: d.update(created_at=int(time.time()) + 10 * 365 * 86_400), "stale", "created_at"),
        (lambda d: d.update(created_at=int(time.time()) + 120), "stale", "created_at"),
        (lambda d: d.update(runner_id="r2"), "invalid_field", "runner_id"),
        (lambda d: d.update(signatures="abc"), "bad_signature", "signatures"),
        (lambda d: d.update(signatures=[{"public_key": 1}]), "bad_signature", "signatures"),
        (lambda d: d.update(signatures=[]), "unsigned", "signatures"),
        (lambda d: d.update(caller_id="someone else"), "tampered", "signatures[0].signature"),
    ],
)
def test_malformed_or_tampered_jobs_are_refused(
    key: SigningKey, policy: TrustPolicy, mutate: object, code: str, field: str
) -> None:
    job_id, text = stored(key)
    data = json.loads(text)
    mutate(data)  # type: ignore[operator]
    with pytest.raises(JobRejected) as info:
        check(json.dumps(data), job_id, policy)
    assert (info.value.code, info.value.field) == (code, field)


def test_not_json(policy: TrustPolicy) -> None:
    with pytest.raises(JobRejected) as info:
        check("{oops", "x", policy)
    assert info.value.code == "invalid_json"


def test_queued_under_another_id(key: SigningKey, policy: TrustPolicy) -> None:
    _, text = stored(key)
    with pytest.raises(JobRejected, match="queued as 'other'"):
        check(text, "other", policy)


def test_stored_form_round_trips_through_the_verifier(key: SigningKey, policy: TrustPolicy) -> None:
    from horus.broker import stored_json

    for fields in ({}, {"timeout": 5, "env_vars": {"A": "1"}, "caller_id": "c", "executor": "tmux.s"}):
        job = sign_job(Job(runner_id="r1", payload="x", **fields), key)  # type: ignore[arg-type]
        stored = json.loads(stored_json(job))
        assert {"id", "created_at", "signatures"} <= set(stored) and "status" not in stored
        assert check(stored_json(job), job.id, policy).content() == job.content()
        assert Job.model_validate_json(stored_json(job)).content() == job.content()


def test_clock_skew_allowed_ahead_is_the_runner_setting(key: SigningKey, policy: TrustPolicy) -> None:
    job_id, text = stored(key, created_at=int(time.time()) + 30)
    assert load_verified(text, job_id, "r1", policy, 86_400, max_skew_s=60).id == job_id
    with pytest.raises(JobRejected, match=r"in the future; at most 10 s is allowed") as info:
        load_verified(text, job_id, "r1", policy, 86_400, max_skew_s=10)
    assert info.value.code == "stale"
