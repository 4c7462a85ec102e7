"""``horus workflow``: submit, follow and cancel workflows through a coordinator (docs/workflows.md)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.tree import Tree

from horus.config import setting
from horus.coordinator.client import CoordinatorClient
from horus.coordinator.document import read_workflow
from horus.coordinator.errors import WorkflowNotFound, WorkflowRejected
from horus.coordinator.models import StepInfo, StepStatus, WorkflowInfo, WorkflowStatus
from horus.errors import ConfigError
from horus.signing import load_key

from .output import console, fail

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

workflow_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Durable DAG workflows through a coordinator."
)

CoordinatorOpt = Annotated[
    str | None,
    typer.Option("--coordinator", help="coordinator URL [env: HORUS_COORDINATOR_URL; token: HORUS_TOKEN]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]

STEP_STYLE = {
    StepStatus.WAITING: "dim",
    StepStatus.READY: "cyan",
    StepStatus.DISPATCHED: "yellow",
    StepStatus.RETRYING: "magenta",
    StepStatus.COMPLETED: "green",
    StepStatus.FAILED: "red",
    StepStatus.SKIPPED: "dim",
    StepStatus.CANCELLED: "dim",
}
FLOW_STYLE = {"running": "yellow", "completed": "green", "failed": "red", "cancelled": "dim"}


def _client(url: str | None, key: Path | None = None) -> CoordinatorClient:
    address = setting("coordinator_url", url)
    if not address:
        raise ConfigError("no coordinator: pass --coordinator URL or set HORUS_COORDINATOR_URL")
    location = setting("key_file", str(key) if key else None)
    return CoordinatorClient(str(address), token=setting("token"), key=load_key(Path(location)) if location else None)


def _refused(exc: WorkflowRejected | WorkflowNotFound) -> typer.Exit:
    if isinstance(exc, WorkflowRejected):
        fail(f"workflow rejected: {exc} [{exc.code}]")
    else:
        fail(str(exc))
    return typer.Exit(EXIT_BAD_INPUT)


def _duration(step: StepInfo) -> str:
    if step.started_at is None:
        return ""
    if step.ended_at is None:
        return " (running)" if step.status == StepStatus.DISPATCHED else ""
    return f" {(step.ended_at - step.started_at) * 1000:.0f} ms"


def _label(step: StepInfo, extra_parents: list[str]) -> str:
    style = STEP_STYLE[step.status]
    status = step.status.value
    if step.status == StepStatus.DISPATCHED and step.job_status:
        status = f"{status}/{step.job_status}"
    text = f"[bold]{escape(step.id)}[/] [dim]{escape(step.runner_id)}[/] [{style}]{status}[/]{_duration(step)}"
    if step.attempt > 1:
        text += f" [magenta]attempt {step.attempt}[/]"
    if extra_parents:
        shown = ", ".join(extra_parents[:5]) + (f" +{len(extra_parents) - 5}" if len(extra_parents) > 5 else "")
        text += f" [dim](also after {escape(shown)})[/]"
    if step.error and step.status != StepStatus.COMPLETED:
        text += f"\n[red]{escape(step.error.strip().splitlines()[-1] if step.error.strip() else step.error)}[/]"
    return text


def status_tree(info: WorkflowInfo) -> Tree:
    """The DAG as a tree: each step under its first dependency, its other ones named beside it."""
    style = FLOW_STYLE.get(info.status.value, "")
    title = f"[bold]{escape(info.name or 'workflow')}[/] {info.workflow_id} [{style}]{info.status.value}[/]"
    if info.ended_at is not None:
        title += f" [dim]{info.policy.value}[/]"
    root = Tree(title)
    nodes: dict[str, Tree] = {}
    pending = list(info.steps)
    while pending:  # steps come in definition order; a step is placed once its first parent is
        later = []
        for step in pending:
            parent = step.depends_on[0] if step.depends_on else None
            if parent is not None and parent not in nodes:
                later.append(step)
                continue
            branch = nodes[parent] if parent is not None else root
            nodes[step.id] = branch.add(_label(step, step.depends_on[1:]))
        if len(later) == len(pending):  # cannot happen for a validated DAG; never loop forever
            for step in later:
                nodes[step.id] = root.add(_label(step, step.depends_on))
            break
        pending = later
    return root


@workflow_app.command("submit")
def submit(
    workflow_file: Annotated[Path, typer.Argument(help="workflow file (JSON or YAML), or - for stdin")],
    key: Annotated[Path | None, typer.Option("--key", help="secret key file [env: HORUS_KEY_FILE]")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the workflow ends")] = False,
    wait_timeout: Annotated[float | None, typer.Option("--wait-timeout", help="seconds to wait at most")] = None,
    as_json: JsonOpt = False,
    coordinator: CoordinatorOpt = None,
) -> None:
    """Sign and submit a workflow; prints its id last. With --wait --json, prints every step's result."""
    client = _client(coordinator, key)
    if client.signer is None:
        raise ConfigError("no key: pass --key FILE or set HORUS_KEY_FILE")
    try:
        source = read_workflow(workflow_file) if str(workflow_file) != "-" else client.build(sys.stdin.read())
        workflow_id = client.submit(source)
        if not wait:
            print(workflow_id)
            return
        outcome = client.wait(workflow_id, wait_timeout)
    except (WorkflowRejected, WorkflowNotFound) as exc:
        raise _refused(exc) from None
    if as_json:
        print(outcome.model_dump_json())
    else:
        console.print(status_tree(client.status(workflow_id)))
        print(workflow_id)
    if outcome.status != WorkflowStatus.COMPLETED:
        raise typer.Exit(EXIT_FAILED)


@workflow_app.command("status")
def status(workflow_id: str, as_json: JsonOpt = False, coordinator: CoordinatorOpt = None) -> None:
    """A tree of the workflow's steps with each one's status and duration."""
    try:
        info = _client(coordinator).status(workflow_id)
    except (WorkflowRejected, WorkflowNotFound) as exc:
        raise _refused(exc) from None
    if as_json:
        print(info.model_dump_json())
    else:
        console.print(status_tree(info))


@workflow_app.command("result")
def result(
    workflow_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the workflow ends")] = False,
    wait_timeout: Annotated[float | None, typer.Option("--wait-timeout")] = None,
    coordinator: CoordinatorOpt = None,
) -> None:
    """Every step's result as JSON: {"workflow_id", "status", "steps": {STEP: JobResult}}."""
    client = _client(coordinator)
    try:
        outcome = client.wait(workflow_id, wait_timeout) if wait else client.result(workflow_id)
    except (WorkflowRejected, WorkflowNotFound) as exc:
        raise _refused(exc) from None
    print(outcome.model_dump_json())


@workflow_app.command("cancel")
def cancel(workflow_id: str, as_json: JsonOpt = False, coordinator: CoordinatorOpt = None) -> None:
    """Cancel a workflow: steps not started never run; running ones are cancelled."""
    try:
        outcome = _client(coordinator).cancel(workflow_id)
    except (WorkflowRejected, WorkflowNotFound) as exc:
        raise _refused(exc) from None
    print(json.dumps({"workflow_id": workflow_id, "status": outcome}) if as_json else outcome)


@workflow_app.command("list")
def list_(
    status_filter: Annotated[str | None, typer.Option("--status", help="only workflows in this status")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: JsonOpt = False,
    coordinator: CoordinatorOpt = None,
) -> None:
    """Workflows, newest first."""
    if status_filter is not None and status_filter not in {status.value for status in WorkflowStatus}:
        known = ", ".join(status.value for status in WorkflowStatus)
        raise ConfigError(f"--status {status_filter!r} is not a workflow status ({known})")
    page = _client(coordinator).list(status_filter, limit)
    if as_json:
        print(page.model_dump_json())
        return
    from rich.table import Table

    table = Table(title="Workflows")
    for column in ("workflow", "name", "status", "steps", "created"):
        table.add_column(column)
    for flow in page.workflows:
        style = FLOW_STYLE.get(flow.status.value, "")
        table.add_row(
            flow.workflow_id,
            escape(flow.name),
            f"[{style}]{flow.status.value}[/]",
            str(flow.steps),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(flow.created_at)),
        )
    console.print(table)
