"""Why a workflow is refused: a stable code, the field at fault and a reason a person can act on."""

from __future__ import annotations

from pydantic import ValidationError

from horus.errors import HorusError

#: Codes a refused workflow can carry (besides the signature codes of docs/protocol.md), in the
#: order workflow.submit lists them.
WORKFLOW_REFUSALS = (
    "invalid_workflow",
    "duplicate_step",
    "unknown_dependency",
    "cycle",
    "unknown_runner",
    "unsigned",
    "bad_signature",
    "tampered",
    "untrusted_key",
    "key_not_allowed",
    "stale",
    "coordinator_not_allowed",
    "replayed_id",
)


class WorkflowRejected(HorusError):
    """A workflow failed validation; ``code`` is stable, ``field`` names the culprit."""

    def __init__(self, code: str, field: str, reason: str, path: list[str] | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.code = code
        self.field = field
        self.reason = reason
        #: For a cycle: the step ids along it, the first repeated at the end.
        self.path = path or []


class WorkflowNotFound(HorusError):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} not found (never submitted, or expired)")
        self.workflow_id = workflow_id


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def rejection(exc: ValidationError) -> WorkflowRejected:
    """pydantic's first complaint as a refusal naming the field, e.g. ``steps[2].timeout``."""
    error = exc.errors(include_url=False)[0]
    field = _location(tuple(error["loc"])) or "workflow"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "extra_forbidden":
        message = "not a workflow field"
    return WorkflowRejected("invalid_workflow", field, message)
