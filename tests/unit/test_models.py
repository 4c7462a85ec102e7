from __future__ import annotations

import time

import pytest

from horus.admission import parse_job
from horus.errors import JobRejected
from horus.models import Job, JobStatus


def test_id_and_created_at_filled_in() -> None:
    job = parse_job('{"runner_id": "r1", "payload": "x"}')
    assert len(job.id) == 32
    assert abs(job.created_at - time.time()) < 5
    assert job.timeout == 60
    assert job.status == JobStatus.PENDING


def test_two_jobs_get_distinct_ids() -> None:
    assert Job(runner_id="r", payload="x").id != Job(runner_id="r", payload="x").id


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ("not json", "invalid_json", "job"),
        ('{"payload": "x"}', "missing_field", "runner_id"),
        ('{"runner_id": "r1"}', "missing_field", "payload"),
        ('{"runner_id": "r1", "payload": ""}', "empty_payload", "payload"),
        ('{"runner_id": "r1", "payload": "  \\n "}', "empty_payload", "payload"),
        ('{"runner_id": "r1", "payload": "x", "timeout": 0}', "timeout_out_of_bounds", "timeout"),
        ('{"runner_id": "r1", "payload": "x", "timeout": 86401}', "timeout_out_of_bounds", "timeout"),
        ('{"runner_id": "r1", "payload": "x", "timeout": "soon"}', "invalid_field", "timeout"),
        ('{"runner_id": "r 1", "payload": "x"}', "invalid_field", "runner_id"),
        ('{"runner_id": "r1", "payload": "x", "id": "{tag}"}', "invalid_field", "id"),
        ('{"runner_id": "r1", "payload": "x", "env_vars": {"1BAD": "v"}}', "invalid_field", "env_vars"),
        ('{"runner_id": "r1", "payload": "x", "env_vars": {"A": 1}}', "invalid_field", "env_vars.A"),
        ('{"runner_id": "r1", "payload": "x", "priorty": 9}', "unknown_field", "priorty"),
    ],
)
def test_bad_input_names_field_and_reason(data: str, code: str, field: str) -> None:
    with pytest.raises(JobRejected) as info:
        parse_job(data)
    assert info.value.code == code
    assert info.value.field == field
    assert info.value.reason
    assert field in str(info.value) or code == "invalid_json"


def test_content_excludes_signatures_and_status() -> None:
    job = Job(runner_id="r1", payload="x")
    assert set(job.content()) == {
        "id",
        "runner_id",
        "payload",
        "timeout",
        "env_vars",
        "created_at",
        "caller_id",
        "context_id",
        "executor",
    }


def test_terminal_statuses() -> None:
    assert {s for s in JobStatus if s.terminal} == {"completed", "failed", "timeout", "cancelled"}


def test_assemble_matches_model_construct() -> None:
    from horus.models import Signature, assemble

    data = Job(runner_id="r1", payload="x", env_vars={"A": "1"}).model_dump()
    data["signatures"] = [assemble(Signature, {"public_key": "a", "signature": "b", "algorithm": "ed25519"})]
    fast = assemble(Job, dict(data))
    slow = Job.model_construct(**data)
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.signatures[0].public_key == "a"
