"""``horus inspect`` and ``horus top``: live workers, the jobs they run, and each runner's counts.

Straight to Redis, or through the supervisor when one is configured (as ``horus status`` does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from horus.client import RedisClient
from horus.config import redis_url, setting
from horus.inspect import ActiveJob, QueueInfo, WorkerInfo
from horus.keys import DEFAULT_NAMESPACE
from horus.sdk import Client

from .output import console

RedisOpt = Annotated[str | None, typer.Option("--redis-url", help="Redis URL [env: HORUS_REDIS_URL, REDIS_URL]")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", help="key namespace [env: HORUS_NAMESPACE]")]
SupervisorOpt = Annotated[
    str | None,
    typer.Option("--supervisor", help="go through this supervisor [env: HORUS_SUPERVISOR_URL; token: HORUS_TOKEN]"),
]
RunnerOpt = Annotated[str | None, typer.Option("--runner", help="only this runner id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON list")]

inspect_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Live workers, the jobs they run, and each runner's queue counts.",
)


def _client(redis: str | None, namespace: str | None, supervisor: str | None) -> RedisClient | Client:
    url = setting("supervisor_url", supervisor)
    if url:
        return Client(str(url), token=setting("token"))
    return RedisClient(redis_url(redis), setting("namespace", namespace, DEFAULT_NAMESPACE))


def _print_json(items: Sequence[BaseModel]) -> None:
    print(json.dumps([item.model_dump(mode="json") for item in items]))


def _elapsed(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def workers_table(workers: list[WorkerInfo], now_s: float | None = None) -> Table:
    now_s = time.time() if now_s is None else now_s
    table = Table(title="Workers")
    for column in ("runner", "type", "host", "pid", "children", "up", "jobs"):
        table.add_column(column, justify="right" if column in ("pid", "children", "up") else "left")
    for worker in workers:
        jobs = ", ".join(f"{job.job_id} ({_elapsed(job.elapsed_s)})" for job in worker.jobs)
        table.add_row(
            escape(worker.runner_id),
            escape(worker.runner_type),
            escape(worker.host),
            str(worker.pid),
            f"{worker.children}/{worker.concurrency}",
            _elapsed(now_s - worker.started_at),
            escape(jobs) or "-",
        )
    return table


def active_table(jobs: list[ActiveJob]) -> Table:
    table = Table(title="Running jobs")
    for column in ("job", "runner", "worker", "elapsed"):
        table.add_column(column, justify="right" if column == "elapsed" else "left", overflow="fold")
    for job in jobs:
        table.add_row(escape(job.job_id), escape(job.runner_id), escape(job.worker_id), _elapsed(job.elapsed_s))
    return table


def queues_table(queues: list[QueueInfo]) -> Table:
    table = Table(title="Queues")
    numbers = ("queued", "in flight", "scheduled", "dead", "workers", "children")
    for column in ("runner", *numbers):
        table.add_column(column, justify="right" if column in numbers else "left")
    for queue in queues:
        table.add_row(
            escape(queue.runner_id),
            str(queue.queued),
            str(queue.in_flight),
            str(queue.scheduled),
            f"[red]{queue.dead}[/]" if queue.dead else "0",
            str(queue.workers),
            str(queue.children),
        )
    return table


@inspect_app.command("workers")
def inspect_workers(
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Each live worker master: host, pid, concurrency, type and the jobs it runs now."""
    with _client(redis, namespace, supervisor) as client:
        workers = client.inspect_workers(runner)
    _print_json(workers) if as_json else console.print(workers_table(workers))


@inspect_app.command("active")
def inspect_active(
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """The jobs running now: runner, worker, start time and elapsed time."""
    with _client(redis, namespace, supervisor) as client:
        jobs = client.inspect_active(runner)
    _print_json(jobs) if as_json else console.print(active_table(jobs))


@inspect_app.command("queues")
def inspect_queues(
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Each runner's queue depth, jobs in flight, scheduled and dead-lettered jobs, live workers."""
    with _client(redis, namespace, supervisor) as client:
        queues = client.inspect_queues(runner)
    _print_json(queues) if as_json else console.print(queues_table(queues))


def frame(client: RedisClient | Client, runner: str | None, source: str) -> RenderableType:
    """One screen of ``horus top``: queues, workers, running jobs."""
    queues = client.inspect_queues(runner)
    workers = client.inspect_workers(runner)
    # The workers' jobs are the running jobs, read in the same pass.
    jobs = [job for worker in workers for job in worker.jobs]
    jobs.sort(key=lambda job: -(job.elapsed_s or 0.0))
    stamp = time.strftime("%H:%M:%S")
    header = Text(f"horus top - {source} - {stamp} - {len(workers)} worker(s), {len(jobs)} running", style="bold")
    return Group(header, queues_table(queues), workers_table(workers), active_table(jobs))


def top_command(
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="seconds between refreshes")] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="print one frame and exit")] = False,
    runner: RunnerOpt = None,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """A live view of queues, workers and running jobs, refreshed every --interval seconds until Ctrl-C."""
    url = setting("supervisor_url", supervisor)
    source = f"supervisor {url}" if url else f"namespace {setting('namespace', namespace, DEFAULT_NAMESPACE)}"
    with _client(redis, namespace, supervisor) as client:
        render: Callable[[], RenderableType] = lambda: frame(client, runner, source)  # noqa: E731
        if once:
            console.print(render())
            return
        try:
            if not console.is_terminal:
                # No screen to redraw: one frame after another, as a log would hold them.
                while True:
                    console.print(render())
                    time.sleep(interval)
            with Live(render(), console=console, screen=False, auto_refresh=False) as live:
                while True:
                    time.sleep(interval)
                    live.update(render(), refresh=True)
        except KeyboardInterrupt:
            pass
