"""A workflow's signed bytes, digest and the trust check against a key registry's policy."""

from __future__ import annotations

import json

import pytest

from horus.coordinator.document import digest, parse_workflow, sign_workflow, verify_workflow, workflow_bytes
from horus.coordinator.errors import WorkflowRejected
from horus.coordinator.stepjobs import INPUTS_ENV
from horus.signing import Signer, generate_key, public_hex
from horus.trust import TrustPolicy


def make() -> object:
    return parse_workflow(
        {
            "id": "wf1",
            "name": "n",
            "created_at": 1763700000,
            "steps": [
                {"id": "a", "runner_id": "r1", "payload": "p"},
                {"id": "b", "runner_id": "r2", "payload": "q", "depends_on": ["a"]},
            ],
        }
    )


def test_canonical_bytes_are_sorted_compact_and_cover_every_step_field() -> None:
    raw = workflow_bytes(make())  # type: ignore[arg-type]
    data = json.loads(raw)
    assert raw == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert set(data) == {"id", "name", "policy", "created_at", "steps"}
    assert set(data["steps"][0]) == {
        "id", "runner_id", "payload", "depends_on", "timeout", "retries", "backoff_ms", "env_vars",
    }  # fmt: skip
    assert len(digest(make())) == 64  # type: ignore[arg-type]


def test_signed_by_a_key_trusted_for_every_runner() -> None:
    key = generate_key()
    signed = sign_workflow(make(), Signer(key))  # type: ignore[arg-type]
    assert verify_workflow(signed, TrustPolicy({public_hex(key): ["*"]})) == public_hex(key)


def test_refusals() -> None:
    key = generate_key()
    signed = sign_workflow(make(), Signer(key))  # type: ignore[arg-type]
    cases = {
        "unsigned": (make(), TrustPolicy({public_hex(key): ["*"]})),
        "untrusted_key": (signed, TrustPolicy({public_hex(generate_key()): ["*"]})),
        "key_not_allowed": (signed, TrustPolicy({public_hex(key): ["r1"]})),
        "tampered": (signed.model_copy(update={"name": "other"}), TrustPolicy({public_hex(key): ["*"]})),
    }
    for code, (workflow, policy) in cases.items():
        with pytest.raises(WorkflowRejected) as caught:
            verify_workflow(workflow, policy)  # type: ignore[arg-type]
        assert caught.value.code == code


def test_inputs_variable_matches_the_script_runners() -> None:
    from horus.workers.python import INPUTS_ENV as PYTHON_INPUTS

    from horus.scripting import INPUTS_ENV as SCRIPTS_INPUTS

    assert INPUTS_ENV == SCRIPTS_INPUTS == PYTHON_INPUTS
