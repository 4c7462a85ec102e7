"""Rich rendering shared by the commands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from horus.models import JobResult, JobStatus

console = Console()
errors = Console(stderr=True, soft_wrap=True)

STATUS_STYLE = {
    JobStatus.PENDING: "dim",
    JobStatus.DISPATCHED: "cyan",
    JobStatus.RUNNING: "yellow",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.TIMEOUT: "magenta",
    JobStatus.CANCELLED: "dim",
}


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def result_panel(result: JobResult, info: Mapping[str, Any] | None = None) -> Panel:
    """A job's result; ``info`` (``horus status``) adds who asked for it and where it runs."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    style = STATUS_STYLE[result.status]
    table.add_row("job", result.job_id)
    table.add_row("runner", result.runner_id or "-")
    for label, name in (("caller", "caller_id"), ("context", "context_id"), ("executor", "executor")):
        if info and info.get(name):
            table.add_row(label, escape(str(info[name])))
    table.add_row("status", f"[{style}]{result.status.value}[/]")
    table.add_row("exit code", "-" if result.exit_code is None else str(result.exit_code))
    table.add_row("started", _when(result.started_at))
    table.add_row("completed", _when(result.completed_at))
    if result.started_at and result.completed_at:
        table.add_row("duration", f"{(result.completed_at - result.started_at) * 1000:.1f} ms")
    if result.output:
        table.add_row("output", escape(result.output.rstrip()))
    if result.error:
        table.add_row("error", f"[red]{escape(result.error)}[/]")
    return Panel(table, title="Horus job", border_style=style, expand=False)


def fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def runners_table(health: list[dict[str, Any]]) -> Table:
    table = Table(title="Runners")
    for column in ("runner", "type", "alive", "queued", "in flight", "workers", "last heartbeat"):
        table.add_column(column, justify="right" if column in ("queued", "in flight", "workers") else "left")
    for runner in health:
        seen = runner.get("last_seen_ms")
        table.add_row(
            runner["runner_id"],
            runner.get("runner_type", ""),
            "[green]yes[/]" if runner.get("alive") else "[red]no[/]",
            str(runner.get("queue_depth", 0)),
            str(runner.get("in_flight", 0)),
            str(len(runner.get("workers", []))),
            _when(seen / 1000) if seen else "-",
        )
    return table
