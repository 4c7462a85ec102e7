"""Turning untrusted job input into a checked :class:`Job`, with errors that name the field."""

from __future__ import annotations

import time
from typing import Any

from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey
from pydantic import ValidationError

from horus.errors import JobRejected
from horus.models import Job, Signature
from horus.signing import Signer, job_bytes
from horus.trust import DEFAULT_MAX_AGE_S, DEFAULT_MAX_SKEW_S, TrustPolicy, check_algorithm, check_fresh, verify_with

_CODES_BY_FIELD = {"payload": "empty_payload", "timeout": "timeout_out_of_bounds"}
#: A payload given as an object: what a python task's payload looks like as text.
PAYLOAD_HINT = (
    "must be a string, not an object or array: a python task's call is JSON text inside the job, "
    '"payload": "{\\"task\\": \\"add\\", \\"args\\": [2, 3]}" (from Python, task.delay(2, 3) writes it)'
)


def rejection(exc: ValidationError) -> JobRejected:
    """The first problem pydantic found, as a JobRejected naming the field."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "job"
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return JobRejected("missing_field", field, "required field is missing")
    if kind == "extra_forbidden":
        return JobRejected("unknown_field", field, "not a job field")
    if kind == "value_error":
        return JobRejected(_CODES_BY_FIELD.get(field, "invalid_field"), field, message)
    if field == "payload" and isinstance(error.get("input"), dict | list):
        return JobRejected("invalid_field", field, PAYLOAD_HINT)
    return JobRejected("invalid_field", field, message)


def parse_job(data: str | bytes | dict[str, Any]) -> Job:
    """Validate job JSON (or a decoded object); fills ``id`` and ``created_at`` when absent."""
    try:
        job = Job.model_validate(data) if isinstance(data, dict) else Job.model_validate_json(data)
    except ValidationError as exc:
        if isinstance(data, str | bytes) and exc.errors()[0]["type"] == "json_invalid":
            raise JobRejected("invalid_json", "job", f"not valid JSON: {exc.errors()[0]['msg']}") from None
        raise rejection(exc) from None
    return refuse_firing(job)


def refuse_firing(job: Job) -> Job:
    """Only the beat makes firings (a schedule's occurrences, checked against the schedule by
    the worker); a submitted job is signed on its own."""
    if job.firing is not None:
        raise JobRejected(
            "invalid_field", "firing", "set only by `horus beat` on a schedule's firings; submit the job without it"
        )
    return job


def check_signatures(job: Job) -> None:
    """Every signature must verify against the content (trust is the runner's decision)."""
    check_each(job_bytes(job), job.signatures, "job is unsigned: sign it with `horus sign` or --key")


def check_each(message: bytes, signatures: list[Signature], unsigned: str) -> None:
    """Each signature is well formed and verifies ``message`` under its own public key."""
    if not signatures:
        raise JobRejected("unsigned", "signatures", unsigned)
    for index, signature in enumerate(signatures):
        check_algorithm(index, signature)
        try:
            verify_key = VerifyKey(bytes.fromhex(signature.public_key))
        except (ValueError, TypeError, CryptoError):
            raise JobRejected(
                "bad_signature", f"signatures[{index}].public_key", "not a 32-byte ed25519 public key in hex"
            ) from None
        verify_with(verify_key, index, signature, message)


def prepare(job: Job, signer: Signer | None = None, owned: bool = False) -> Job:
    """Sign with ``signer`` unless its key already signed; check every signature we did not make.

    ``owned``: the caller built ``job`` and lets it be signed in place instead of copied.
    """
    refuse_firing(job)
    if signer is not None and not job.signatures:
        return signer.sign(job, in_place=owned)  # our own fresh signature needs no second look
    check_signatures(job)
    if signer is not None and all(s.public_key != signer.public_key for s in job.signatures):
        job = signer.sign(job)
    return job


def admit(
    job: Job,
    policy: TrustPolicy | None = None,
    now: float | None = None,
    max_age_s: int = DEFAULT_MAX_AGE_S,
    max_skew_s: int = DEFAULT_MAX_SKEW_S,
) -> Job:
    """Freshness and, given a policy, trust; the replay guard is the broker's (atomic) job.

    Signatures were checked by :func:`prepare`."""
    check_fresh(job, time.time() if now is None else now, max_age_s, max_skew_s)
    if policy is not None:
        policy.verify(job)
    return job
