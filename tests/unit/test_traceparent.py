"""The job's traceparent: strict W3C validation, signed when set, absent from the signed bytes
when not (docs/protocol.md), checked again by the worker; and the tracing module's no-op paths."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import orjson
import pytest
from nacl.signing import SigningKey

from horus.admission import check_signatures, parse_job
from horus.broker import stored_json
from horus.errors import JobRejected
from horus.models import Job
from horus.sdk import wire
from horus.signing import generate_key, job_bytes, key_from_hex, public_hex, sign_job
from horus.trust import TrustPolicy
from horus.worker.verify import load_verified
from tests.unit.test_protocol_vector import block

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def job_data(**fields: object) -> dict[str, object]:
    return {"runner_id": "r1", "payload": "x", "created_at": 1763700000, "id": "job-1", **fields}


@pytest.mark.parametrize(
    "value",
    [
        GOOD,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
    ],
)
def test_a_w3c_traceparent_is_accepted(value: str) -> None:
    assert parse_job(job_data(traceparent=value)).traceparent == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # uppercase
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a version we do not read
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        GOOD + "-extra",
        GOOD + "\n",
        " " + GOOD,
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        123,
        ["00"],
    ],
)
def test_a_bad_traceparent_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(JobRejected) as refused:
        parse_job(job_data(traceparent=value))
    assert (refused.value.code, refused.value.field) == ("invalid_field", "traceparent")


def test_the_refusal_says_what_a_traceparent_looks_like() -> None:
    with pytest.raises(JobRejected, match=r"traceparent.*00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>"):
        parse_job(job_data(traceparent="00-abc-def-01"))


def test_vector_with_a_traceparent() -> None:
    """The golden vector in docs/protocol.md; the others, without one, are pinned unchanged."""
    key = key_from_hex(block("vector-secret-key"))
    job = parse_job(json.loads(block("vector-trace-job")))
    canonical = job_bytes(job)
    assert canonical == block("vector-trace-canonical-bytes").encode()
    signed = sign_job(job, key)
    assert signed.signatures[0].signature == block("vector-trace-signature")
    check_signatures(signed)


def test_no_traceparent_signs_the_bytes_of_a_job_from_before_the_field() -> None:
    plain = parse_job(json.loads(block("vector-job")))
    explicit = parse_job({**json.loads(block("vector-job")), "traceparent": None})
    assert job_bytes(explicit) == job_bytes(plain) == block("vector-canonical-bytes").encode()
    assert "traceparent" not in orjson.loads(stored_json(plain))
    assert "traceparent" not in wire(plain)


def test_a_traceparent_is_signed_alongside_options() -> None:
    job = parse_job(job_data(traceparent=GOOD, retries=2))
    assert orjson.loads(job_bytes(job)) == {**job.content(), "traceparent": GOOD, "retries": 2}
    assert wire(job)["traceparent"] == GOOD


@pytest.fixture
def key() -> SigningKey:
    return generate_key()


def stored(key: SigningKey, **fields: object) -> tuple[str, dict[str, object]]:
    job = sign_job(parse_job(job_data(**fields, created_at=int(time.time()))), key)
    return job.id, orjson.loads(stored_json(job))


@pytest.mark.parametrize("options", [{}, {"retries": 1}])
def test_the_worker_reads_a_signed_traceparent(key: SigningKey, options: dict[str, object]) -> None:
    job_id, data = stored(key, traceparent=GOOD, **options)
    job = load_verified(json.dumps(data), job_id, "r1", TrustPolicy({public_hex(key): ["r1"]}), 86_400)
    assert job.traceparent == GOOD


@pytest.mark.parametrize("options", [{}, {"retries": 1}])
def test_the_worker_refuses_a_traceparent_changed_or_added(key: SigningKey, options: dict[str, object]) -> None:
    policy = TrustPolicy({public_hex(key): ["r1"]})
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    for traced in (True, False):
        job_id, data = stored(key, **({"traceparent": GOOD} if traced else {}), **options)
        with pytest.raises(JobRejected) as refused:
            load_verified(json.dumps({**data, "traceparent": other}), job_id, "r1", policy, 86_400)
        assert refused.value.code == "tampered"


@pytest.mark.parametrize("options", [{}, {"retries": 1}])
def test_the_worker_refuses_a_malformed_traceparent(key: SigningKey, options: dict[str, object]) -> None:
    job_id, data = stored(key, **options)
    with pytest.raises(JobRejected) as refused:
        load_verified(
            json.dumps({**data, "traceparent": GOOD.upper()}), job_id, "r1", TrustPolicy({public_hex(key): ["r1"]}), 60
        )
    assert (refused.value.code, refused.value.field) == ("invalid_field", "traceparent")


def test_a_stored_null_traceparent_is_the_default(key: SigningKey) -> None:
    job_id, data = stored(key)
    job = load_verified(
        json.dumps({**data, "traceparent": None}), job_id, "r1", TrustPolicy({public_hex(key): ["r1"]}), 60
    )
    assert job.traceparent is None


def test_the_traceparent_passes_through_unset_without_a_provider() -> None:
    """OpenTelemetry installed, no provider configured, no current span: nothing is stamped."""
    from horus import tracing

    assert tracing.tracer() is None
    job = Job.model_validate(job_data())
    assert tracing.stamp(job, None, owned=True).traceparent is None
    with tracing.submit_span() as span:
        assert span is None
    assert tracing.start_execution(job, "r1", "w1", 1) is None


def test_without_opentelemetry_every_call_is_a_no_op() -> None:
    """A process where ``opentelemetry`` cannot be imported: Horus signs and checks as ever."""
    script = """
import sys
sys.modules["opentelemetry"] = None  # as if not installed: any import of it fails
from horus import tracing
from horus.admission import parse_job
from horus.supervisor.methods import jobs
from horus.worker import child
assert not tracing.AVAILABLE and tracing.tracer() is None
job = parse_job({"runner_id": "r1", "payload": "x"})
assert tracing.stamp(job, None, owned=True) is job and job.traceparent is None
with tracing.submit_span() as span:
    assert span is None
assert tracing.start_execution(job, "r1", "w1", 1) is None
assert tracing.admission(lambda: job, lambda j: j.id, "") == job.id
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
