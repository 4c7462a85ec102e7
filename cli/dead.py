"""``horus dead``: a runner's dead-letter list (jobs whose worker was lost on every delivery).

Straight to Redis, or through the supervisor (admin token) when one is configured.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from horus.client import RedisClient
from horus.config import redis_url, setting
from horus.deadletter import PAGE_DEFAULT, PAGE_MAX, RETRY_NOTE, DeadJob
from horus.errors import ConfigError
from horus.keys import DEFAULT_NAMESPACE
from horus.sdk import Client

from .output import STATUS_STYLE, console, errors, for_terminal

RedisOpt = Annotated[str | None, typer.Option("--redis-url", help="Redis URL [env: HORUS_REDIS_URL, REDIS_URL]")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", help="key namespace [env: HORUS_NAMESPACE]")]
SupervisorOpt = Annotated[
    str | None,
    typer.Option(
        "--supervisor", help="go through this supervisor [env: HORUS_SUPERVISOR_URL; admin token: HORUS_TOKEN]"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
RunnerArg = Annotated[str, typer.Argument(help="the runner id whose dead-letter list to use")]

dead_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="A runner's dead-letter list: jobs given up after --max-deliveries lost deliveries.",
)


def _open(redis: str | None, namespace: str | None, supervisor: str | None) -> tuple[RedisClient | Client, str]:
    """The client (the supervisor's when one is configured) and where it looks, for messages."""
    url = setting("supervisor_url", supervisor)
    if url:
        return Client(str(url), token=setting("token")), f"at supervisor {url}"
    ns = str(setting("namespace", namespace, DEFAULT_NAMESPACE))
    return RedisClient(redis_url(redis), ns), f"in namespace {ns}"


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def dead_table(runner_id: str, jobs: list[DeadJob]) -> Table:
    table = Table(title=f"Dead-lettered jobs of {runner_id}")
    # Ids and times whole, on any width: the reason wraps instead (--json has every field).
    table.add_column("job", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("deliveries", justify="right", no_wrap=True)
    table.add_column("dead-lettered", no_wrap=True)
    table.add_column("caller")
    table.add_column("reason", min_width=24)
    for job in jobs:
        status = f"[{STATUS_STYLE[job.status]}]{job.status.value}[/]" if job.status else "[dim]expired[/]"
        table.add_row(
            job.job_id,
            status,
            str(job.deliveries),
            _when(job.dead_at or job.completed_at),
            escape(job.caller_id) or "-",
            escape(for_terminal(job.reason)),
        )
    return table


@dead_app.command("list")
def dead_list(
    runner_id: RunnerArg,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, max=PAGE_MAX, help=f"show a page of this many ({PAGE_DEFAULT} with only --cursor)"
        ),
    ] = None,
    cursor: Annotated[
        int | None, typer.Option("--cursor", min=0, help="start where the previous page said (0: the latest)")
    ] = None,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """List the runner's dead-lettered jobs, the latest first, with why each failed: all of them,
    or a page with --limit/--cursor (the next page's --cursor is printed under it; with --json the
    page is {"jobs": [...], "next_cursor": N or null})."""
    client, where = _open(redis, namespace, supervisor)
    paged = limit is not None or cursor is not None
    with client:
        if paged:
            page = client.dead_page(runner_id, limit or PAGE_DEFAULT, cursor or 0)
            jobs, next_cursor = page.jobs, page.next_cursor
        else:
            jobs, next_cursor = client.dead_list(runner_id), None
    if as_json:
        listed = [job.model_dump(mode="json") for job in jobs]
        print(json.dumps({"jobs": listed, "next_cursor": next_cursor} if paged else listed))
        return
    if not jobs:
        print(f"no dead-lettered jobs for runner {runner_id} {where}" + (f" from cursor {cursor}" if cursor else ""))
    else:
        console.print(dead_table(runner_id, jobs))
    if next_cursor is not None:
        print(f"more: horus dead list {runner_id} --limit {limit or PAGE_DEFAULT} --cursor {next_cursor}")


@dead_app.command("retry")
def dead_retry(
    runner_id: RunnerArg,
    job_ids: Annotated[list[str] | None, typer.Argument(help="dead-lettered job ids (all or none are retried)")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="retry every dead-lettered job of the runner")] = False,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Queue dead-lettered jobs again, deliveries reset to 0: the ids given (all or none; an id
    not in the dead-letter list is an error and nothing is retried) or --all.

    A retried job keeps its original signature: the worker verifies it again, with its
    max_job_age, so a job signed longer ago than that is refused (failed, stale).
    """
    if bool(job_ids) == retry_all:
        raise ConfigError("give the job ids to retry, or --all (one of them)")
    client, where = _open(redis, namespace, supervisor)
    with client:
        outcome = client.dead_retry(runner_id, None if retry_all else list(job_ids or []))
    if as_json:
        print(outcome.model_dump_json())
        return
    for skipped in outcome.skipped:
        errors.print(f"skipped {skipped.job_id}: {skipped.why}", highlight=False)
    if not outcome.retried:
        print(f"no dead-lettered jobs to retry for runner {runner_id} {where}")
        return
    errors.print(f"note: {RETRY_NOTE}", highlight=False)
    for job_id in outcome.retried:
        print(f"retried {job_id}")


@dead_app.command("purge")
def dead_purge(
    runner_id: RunnerArg,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Forget every dead-lettered job of the runner; their ids stay claimed (a replay is refused)."""
    client, where = _open(redis, namespace, supervisor)
    with client:
        outcome = client.dead_purge(runner_id)
    if as_json:
        print(outcome.model_dump_json())
        return
    for job_id in outcome.left:
        errors.print(f"left {job_id}: retried meanwhile or still being dead-lettered", highlight=False)
    print(f"purged {outcome.purged} dead-lettered job(s) of runner {runner_id} {where}")
