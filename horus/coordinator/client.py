"""``CoordinatorClient``: the coordinator's API from Python; signs workflows with the client's key."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from horus.coordinator.canvas import Node, workflow
from horus.coordinator.document import parse_workflow, read_workflow, sign_workflow
from horus.coordinator.errors import WORKFLOW_REFUSALS, WorkflowNotFound, WorkflowRejected
from horus.coordinator.models import Policy, Workflow, WorkflowInfo, WorkflowPage, WorkflowResult, WorkflowStatus
from horus.errors import JobRejected, WaitTimeout
from horus.sdk import Client, SupervisorError, ride_out
from horus.signing import Signer

#: One server-side wait (the server caps it too); a longer wait is several calls.
_WAIT_STEP_S = 60.0


class CoordinatorClient:
    def __init__(
        self, url: str, token: str | None = None, key: SigningKey | None = None, timeout_s: float = 30.0
    ) -> None:
        self.rpc = Client(url, token=token, timeout_s=timeout_s)
        self.signer = Signer(key) if key is not None else None

    def call(self, method: str, timeout_s: float | None = None, **params: Any) -> Any:
        try:
            return self.rpc.call(method, timeout_s=timeout_s, **params)
        except JobRejected as exc:  # a signature or replay refusal, told with the job codes
            raise WorkflowRejected(exc.code, exc.field, exc.reason) from None
        except SupervisorError as exc:
            if exc.reason == "workflow_not_found":
                raise WorkflowNotFound(str(params.get("workflow_id", ""))) from None
            if exc.reason in WORKFLOW_REFUSALS:
                reason = str(exc).removeprefix("workflow rejected: ").removeprefix(f"{exc.field}: ")
                raise WorkflowRejected(exc.reason, exc.field, reason, exc.data.get("path")) from None
            raise

    def close(self) -> None:
        self.rpc.close()

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- workflows --------------------------------------------------------------------
    def build(self, source: Workflow | Node | dict[str, Any] | str | bytes | Path, **options: Any) -> Workflow:
        """A signed workflow from a Workflow, a canvas (chain/group/chord), a dict, text or a file."""
        if isinstance(source, Path):
            flow = read_workflow(source)
        elif isinstance(source, Workflow):
            flow = source
        elif isinstance(source, dict | str | bytes):
            flow = parse_workflow(source)
        else:
            flow = workflow(source, options.get("name", ""), options.get("policy", Policy.FAIL_FAST))
        if self.signer is not None:
            flow = sign_workflow(flow, self.signer)
        return flow

    def submit(self, source: Workflow | Node | dict[str, Any] | str | bytes | Path, **options: Any) -> str:
        flow = self.build(source, **options)
        return str(self.call("workflow.submit", workflow=flow.model_dump(mode="json")))

    def status(self, workflow_id: str) -> WorkflowInfo:
        return WorkflowInfo.model_validate(self.call("workflow.status", workflow_id=workflow_id))

    def result(self, workflow_id: str, wait_s: float | None = None) -> WorkflowResult:
        if wait_s is None:
            return WorkflowResult.model_validate(self.call("workflow.result", workflow_id=workflow_id))
        raw = self.call("workflow.result", timeout_s=wait_s + 10, workflow_id=workflow_id, wait_s=wait_s)
        return WorkflowResult.model_validate(raw)

    def wait(self, workflow_id: str, timeout_s: float | None = None) -> WorkflowResult:
        """Block until the workflow has ended (woken by the server, not polled); raises WaitTimeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = _WAIT_STEP_S if deadline is None else max(deadline - time.monotonic(), 0.001)
            outcome = ride_out(functools.partial(self.result, workflow_id, wait_s=min(left, _WAIT_STEP_S)), deadline)
            ended = outcome.status != WorkflowStatus.RUNNING
            info = ride_out(functools.partial(self.status, workflow_id), deadline) if ended else None
            if info is not None and info.ended_at is not None:
                return outcome
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"workflow {workflow_id} still {outcome.status} after {timeout_s} s")

    def run(
        self,
        source: Workflow | Node | dict[str, Any] | str | bytes | Path,
        timeout_s: float | None = None,
        **options: Any,
    ) -> WorkflowResult:
        return self.wait(self.submit(source, **options), timeout_s)

    def cancel(self, workflow_id: str) -> str:
        return str(self.call("workflow.cancel", workflow_id=workflow_id)["status"])

    def list(self, status: str | None = None, limit: int = 50, cursor: int = 0) -> WorkflowPage:
        params: dict[str, Any] = {"limit": limit, "cursor": cursor}
        if status:
            params["status"] = status
        return WorkflowPage.model_validate(self.call("workflow.list", **params))
