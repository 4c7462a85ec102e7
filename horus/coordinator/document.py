"""A workflow from JSON, YAML or a dict; its canonical bytes, digest and signatures."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from horus.coordinator.errors import WorkflowRejected, rejection
from horus.coordinator.models import Workflow
from horus.errors import ConfigError, JobRejected
from horus.models import Signature
from horus.signing import Signer, canonical_bytes
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
    """``workflow`` with ``signer``'s signature (replacing an earlier one by the same key)."""
    raw = signer.key.sign(workflow_bytes(workflow)).signature.hex()
    signature = Signature(public_key=signer.public_key, signature=raw)
    kept = [s for s in workflow.signatures if s.public_key != signer.public_key]
    return workflow.model_copy(update={"signatures": [*kept, signature]})


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
