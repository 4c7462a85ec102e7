"""A workflow from JSON, YAML or a dict; its canonical bytes, digest and signatures."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import yaml
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey
from pydantic import ValidationError

from horus.coordinator.errors import WorkflowRejected, rejection
from horus.coordinator.models import Workflow
from horus.coordinator.stepjobs import attempt_job, attempts, sign_attempts
from horus.errors import ConfigError, JobRejected
from horus.models import Signature
from horus.signing import Signer, canonical_bytes, job_bytes
from horus.trust import TrustPolicy


def parse_workflow(data: str | bytes | dict[str, Any]) -> Workflow:
    """Validate a workflow given as JSON or YAML text or as a decoded object."""
    if isinstance(data, str | bytes):
        data = _decode(data)
    if not isinstance(data, dict):
        raise WorkflowRejected("invalid_workflow", "workflow", "expected an object with name, steps and policy")
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        raise rejection(exc) from None


def _decode(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:  # YAML is a superset of JSON: reached for YAML files, and for broken JSON with YAML's message
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkflowRejected("invalid_workflow", "workflow", f"neither JSON nor YAML: {exc}") from None


def read_workflow(path: Path) -> Workflow:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read workflow file {str(path)!r}: {exc.strerror}") from None
    return parse_workflow(text)


def workflow_bytes(workflow: Workflow) -> bytes:
    """The signed bytes: JCS of :meth:`Workflow.content` (integers and strings only, like a job's)."""
    return canonical_bytes(workflow.content())


def digest(workflow: Workflow) -> str:
    return hashlib.sha256(workflow_bytes(workflow)).hexdigest()


def sign_workflow(workflow: Workflow, signer: Signer) -> Workflow:
    """``workflow`` with ``signer``'s signature (replacing an earlier one by the same key) and
    the signature of every attempt's job, so runners trusting ``signer`` run its steps."""
    message = workflow_bytes(workflow)
    raw = signer.key.sign(message).signature.hex()
    signature = Signature(public_key=signer.public_key, signature=raw)
    kept = [s for s in workflow.signatures if s.public_key != signer.public_key]
    jobs = sign_attempts(workflow, hashlib.sha256(message).hexdigest(), signer)
    return workflow.model_copy(update={"signatures": [*kept, signature], "job_signatures": jobs})


def verify_attempts(workflow: Workflow, digest: str, submitter: str) -> None:
    """Every step has a signature by the submitter for each of its attempts' jobs, and each verifies."""
    try:
        verify_key = VerifyKey(bytes.fromhex(submitter))
    except (ValueError, TypeError, CryptoError):  # verify_workflow accepted it, so only a bug lands here
        raise WorkflowRejected("bad_signature", "signatures", "the submitter's key is not an ed25519 key") from None
    unknown = sorted(set(workflow.job_signatures) - {step.id for step in workflow.steps})
    if unknown:
        raise WorkflowRejected("invalid_workflow", "job_signatures", f"no step with id {unknown[0]!r}")
    for step in workflow.steps:
        signatures = workflow.job_signatures.get(step.id, [])
        field = f"job_signatures.{step.id}"
        if len(signatures) != len(attempts(step)):
            raise WorkflowRejected(
                "unsigned",
                field,
                f"step {step.id!r} needs {len(attempts(step))} job signature(s), one per attempt "
                f"(retries {step.retries} + 1); got {len(signatures)}",
            )
        for attempt, signature in zip(attempts(step), signatures, strict=True):
            message = job_bytes(attempt_job(workflow, digest, submitter, step, attempt))
            try:
                verify_key.verify(message, bytes.fromhex(signature))
            except BadSignatureError:
                raise WorkflowRejected(
                    "tampered", f"{field}[{attempt - 1}]", "does not sign this attempt's job (changed after signing?)"
                ) from None


def verify_workflow(workflow: Workflow, policy: TrustPolicy) -> str:
    """The signer's public key, when a key the policy trusts for every step's runner signed it."""
    if not workflow.signatures:
        raise WorkflowRejected("unsigned", "signatures", "workflow is unsigned: submit it with a key (--key)")
    message = workflow_bytes(workflow)
    signer = ""
    for runner_id in dict.fromkeys(step.runner_id for step in workflow.steps):
        try:
            signer = policy.verify_message(message, workflow.signatures, runner_id)
        except JobRejected as exc:
            reason = exc.reason
            if exc.code == "tampered":
                reason = "signature does not match the workflow's content (changed after signing, or wrong key)"
            raise WorkflowRejected(exc.code, exc.field, reason) from None
    return signer
