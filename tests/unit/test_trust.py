from __future__ import annotations

import time

import pytest
from nacl.signing import SigningKey

from horus.admission import admit, check_signatures, prepare
from horus.errors import ConfigError, JobRejected
from horus.models import Job, Signature
from horus.signing import Signer, generate_key, public_hex, sign_job
from horus.trust import TrustPolicy, check_fresh


@pytest.fixture
def key() -> SigningKey:
    return generate_key()


def signed(key: SigningKey, **fields: object) -> Job:
    return sign_job(Job(runner_id="r1", payload="echo hi", **fields), key)  # type: ignore[arg-type]


def rejection(policy: TrustPolicy, job: Job) -> JobRejected:
    with pytest.raises(JobRejected) as info:
        policy.verify(job)
    return info.value


def test_trusted_signature_passes(key: SigningKey) -> None:
    assert TrustPolicy({public_hex(key): ["*"]}).verify(signed(key)) == public_hex(key)


def test_unsigned(key: SigningKey) -> None:
    error = rejection(TrustPolicy({public_hex(key): ["*"]}), Job(runner_id="r1", payload="x"))
    assert (error.code, error.field) == ("unsigned", "signatures")


def test_untrusted_key(key: SigningKey) -> None:
    error = rejection(TrustPolicy({public_hex(generate_key()): ["*"]}), signed(key))
    assert (error.code, error.field) == ("untrusted_key", "signatures[0].public_key")


def test_key_not_allowed_for_runner(key: SigningKey) -> None:
    error = rejection(TrustPolicy({public_hex(key): ["other", "web-*"]}), signed(key))
    assert error.code == "key_not_allowed"
    assert "r1" in error.reason


def test_runner_patterns(key: SigningKey) -> None:
    policy = TrustPolicy({public_hex(key): ["r*"]})
    assert policy.allows(public_hex(key), "r1")
    assert not policy.allows(public_hex(key), "x1")


def test_tampered_content(key: SigningKey) -> None:
    job = signed(key).model_copy(update={"payload": "rm -rf /"})
    error = rejection(TrustPolicy({public_hex(key): ["*"]}), job)
    assert (error.code, error.field) == ("tampered", "signatures[0].signature")


def test_tampered_env_var(key: SigningKey) -> None:
    job = signed(key, env_vars={"A": "1"})
    job = job.model_copy(update={"env_vars": {"A": "2"}})
    assert rejection(TrustPolicy({public_hex(key): ["*"]}), job).code == "tampered"


def test_malformed_signature(key: SigningKey) -> None:
    job = signed(key)
    job.signatures[0] = Signature(public_key=public_hex(key), signature="zz")
    error = rejection(TrustPolicy({public_hex(key): ["*"]}), job)
    assert (error.code, error.field) == ("bad_signature", "signatures[0].signature")


def test_unknown_algorithm(key: SigningKey) -> None:
    job = signed(key)
    job.signatures[0] = job.signatures[0].model_copy(update={"algorithm": "rsa"})
    assert rejection(TrustPolicy({public_hex(key): ["*"]}), job).field == "signatures[0].algorithm"


def test_threshold_needs_distinct_trusted_keys(key: SigningKey) -> None:
    other = generate_key()
    policy = TrustPolicy({public_hex(key): ["*"], public_hex(other): ["*"]}, threshold=2)
    once = signed(key)
    assert rejection(policy, once).code == "threshold"
    twice = sign_job(once, other)
    assert len(twice.signatures) == 2
    assert policy.verify(twice) == public_hex(key)


def test_one_bad_signature_among_enough_good_ones(key: SigningKey) -> None:
    stranger = generate_key()
    job = sign_job(signed(key), stranger)
    assert TrustPolicy({public_hex(key): ["*"]}).verify(job) == public_hex(key)


def test_bad_trusted_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        TrustPolicy({"abcd": ["*"]})


def test_freshness_window(key: SigningKey) -> None:
    now = time.time()
    check_fresh(signed(key, created_at=int(now) - 100), now)
    with pytest.raises(JobRejected) as old:
        check_fresh(signed(key, created_at=int(now) - 601), now)
    assert (old.value.code, old.value.field) == ("stale", "created_at")
    with pytest.raises(JobRejected) as future:
        check_fresh(signed(key, created_at=int(now) + 120), now)
    assert future.value.code == "stale"


def test_prepare_signs_once_and_checks(key: SigningKey) -> None:
    job = prepare(Job(runner_id="r1", payload="x"), Signer(key))
    assert prepare(job, Signer(key)).signatures == job.signatures
    check_signatures(job)
    with pytest.raises(JobRejected, match="unsigned"):
        prepare(Job(runner_id="r1", payload="x"))


def test_admit_with_policy(key: SigningKey) -> None:
    job = signed(key)
    assert admit(job, TrustPolicy({public_hex(key): ["r1"]})) is job
    with pytest.raises(JobRejected) as info:
        admit(job, TrustPolicy({public_hex(generate_key()): ["*"]}))
    assert info.value.code == "untrusted_key"
