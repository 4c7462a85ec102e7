"""The test vector in docs/protocol.md is what the code produces, byte for byte."""

from __future__ import annotations

import json
import re
from pathlib import Path

from nacl.signing import VerifyKey

from horus.admission import check_signatures, parse_job
from horus.signing import job_bytes, key_from_hex, public_hex, sign_job

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def block(name: str) -> str:
    match = re.search(rf"```\w+ {re.escape(name)}\n(.*?)\n```", DOC.read_text(), re.S)
    assert match, f"docs/protocol.md has no block {name!r}"
    return match.group(1)


def test_vector_canonical_bytes_and_signature() -> None:
    key = key_from_hex(block("vector-secret-key"))
    assert public_hex(key) == block("vector-public-key")
    job = parse_job(json.loads(block("vector-job")))
    canonical = job_bytes(job)
    assert canonical == block("vector-canonical-bytes").encode()
    assert canonical.hex() == block("vector-canonical-hex")
    signed = sign_job(job, key)
    assert signed.signatures[0].signature == block("vector-signature")
    VerifyKey(bytes.fromhex(block("vector-public-key"))).verify(canonical, bytes.fromhex(block("vector-signature")))
    check_signatures(signed)


def test_vector_with_options() -> None:
    """The second vector sets every option; the first, with none, still holds above."""
    key = key_from_hex(block("vector-secret-key"))
    job = parse_job(json.loads(block("vector-options-job")))
    canonical = job_bytes(job)
    assert canonical == block("vector-options-canonical-bytes").encode()
    signed = sign_job(job, key)
    assert signed.signatures[0].signature == block("vector-options-signature")
    check_signatures(signed)


def test_options_at_their_defaults_are_not_signed() -> None:
    """A job that names its options at their defaults signs the bytes of one that does not."""
    plain = parse_job(json.loads(block("vector-job")))
    explicit = parse_job(
        {
            **json.loads(block("vector-job")),
            "retries": 0,
            "retry_backoff_s": 1.0,
            "retry_backoff_max_s": 3600,
            "not_before": None,
            "priority": 0,
        }
    )
    assert job_bytes(explicit) == job_bytes(plain) == block("vector-canonical-bytes").encode()
