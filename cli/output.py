"""Rich rendering shared by the commands."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from horus.models import Attempt, JobProgress, JobResult, JobStatus

console = Console()
errors = Console(stderr=True, soft_wrap=True)

#: Control characters a job's output may hold, but an operator's terminal must not obey
#: (clear screen, move the cursor, retitle the window): everything but newline and tab.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}


def visible(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN`` escapes."""
    return text.translate(_CONTROL)


def for_terminal(text: str, stream: TextIO | None = None) -> str:
    """Job output as written to ``stream`` (stdout): escaped on a terminal, unchanged when piped
    or redirected, so a file or a pipe gets the job's bytes as the job wrote them."""
    target = stream or sys.stdout
    return visible(text) if target.isatty() else text


STATUS_STYLE = {
    JobStatus.PENDING: "dim",
    JobStatus.SCHEDULED: "blue",
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


def _from_now(ts: float, now_s: float | None = None) -> str:
    left = ts - (time.time() if now_s is None else now_s)
    return f"in {left:.1f} s" if left >= 0 else f"{-left:.1f} s ago"


def _attempt_line(attempt: Attempt) -> str:
    """One earlier attempt: how it ended, when, and why."""
    took = ""
    if attempt.started_at is not None and attempt.completed_at is not None:
        took = f" after {(attempt.completed_at - attempt.started_at) * 1000:.1f} ms"
    line = f"{attempt.status.value} at {_when(attempt.completed_at)}{took}"
    return f"{line}: {attempt.error}" if attempt.error else line


def progress_line(progress: JobProgress) -> str:
    """``40% copying files``."""
    line = f"{progress.percent:g}%"
    return f"{line} {progress.message}" if progress.message else line


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
    if result.progress is not None:
        table.add_row("progress", escape(for_terminal(progress_line(result.progress))))
    if result.due_at is not None:
        table.add_row("due", f"{_when(result.due_at)} ({_from_now(result.due_at)})")
    if result.attempts > 1 or result.history:
        table.add_row("attempts", str(result.attempts))
    for attempt in result.history:
        table.add_row(f"attempt {attempt.attempt}", escape(for_terminal(_attempt_line(attempt))))
    table.add_row("exit code", "-" if result.exit_code is None else str(result.exit_code))
    table.add_row("started", _when(result.started_at))
    table.add_row("completed", _when(result.completed_at))
    if result.started_at and result.completed_at:
        table.add_row("duration", f"{(result.completed_at - result.started_at) * 1000:.1f} ms")
    if result.output:
        table.add_row("output", escape(for_terminal(result.output.rstrip())))
    if result.error:
        table.add_row("error", f"[red]{escape(for_terminal(result.error))}[/]")
    if result.traceback:
        table.add_row("traceback", escape(for_terminal(result.traceback)))
    return Panel(table, title="Horus job", border_style=style, expand=False)


def fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def _masters(workers: list[dict[str, Any]]) -> set[str]:
    """Worker processes (masters) among heartbeating children: ``HOST:MASTER_PID:CHILD_PID``."""
    return {str(w["worker_id"]).rpartition(":")[0] for w in workers}


def _deadline(deadline_ms: int | None, now_s: float) -> str:
    if not deadline_ms:
        return "-"
    left = deadline_ms / 1000 - now_s
    return f"in {left:.0f} s" if left >= 0 else f"{-left:.0f} s ago"


def runners_table(health: list[dict[str, Any]], now_s: float | None = None) -> Table:
    """Each runner's health; ``workers`` counts worker processes, ``children`` their job processes."""
    now_s = time.time() if now_s is None else now_s
    table = Table(title="Runners")
    # The scheduled column shows only when some runner has scheduled jobs: 80 columns hold no more.
    later = any(runner.get("scheduled") for runner in health)
    numbers = ("queued", *(("scheduled",) if later else ()), "in flight", "workers", "children")
    for column in ("runner", "type", "alive", *numbers, "heartbeat due"):
        table.add_column(column, justify="right" if column in numbers else "left")
    for runner in health:
        alive = [w for w in runner.get("workers", []) if w.get("alive")]
        table.add_row(
            runner["runner_id"],
            runner.get("runner_type", ""),
            "[green]yes[/]" if runner.get("alive") else "[red]no[/]",
            str(runner.get("queue_depth", 0)),
            *((str(runner.get("scheduled", 0)),) if later else ()),
            str(runner.get("in_flight", 0)),
            str(len(_masters(alive))),
            str(len(alive)),
            _deadline(runner.get("last_seen_ms"), now_s),
        )
    return table
