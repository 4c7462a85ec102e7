"""``horus events``: the job event stream the scripts keep (docs/operations.md, "Events")."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from horus.broker import Broker
from horus.config import redis_url, setting
from horus.errors import ConfigError
from horus.events import JobEvent, follow_events, read_events
from horus.keys import DEFAULT_NAMESPACE
from horus.models import JobStatus

from .output import STATUS_STYLE, console, errors, for_terminal
from .waiting import EXIT_INTERRUPTED

RedisOpt = Annotated[str | None, typer.Option("--redis-url", help="Redis URL [env: HORUS_REDIS_URL, REDIS_URL]")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", help="key namespace [env: HORUS_NAMESPACE]")]

#: How an event is shown: the colour of the status it leads to.
EVENT_STYLE = {
    "dispatched": STATUS_STYLE[JobStatus.DISPATCHED],
    "scheduled": STATUS_STYLE[JobStatus.SCHEDULED],
    "started": STATUS_STYLE[JobStatus.RUNNING],
    "completed": STATUS_STYLE[JobStatus.COMPLETED],
    "failed": STATUS_STYLE[JobStatus.FAILED],
    "timeout": STATUS_STYLE[JobStatus.TIMEOUT],
    "cancelled": STATUS_STYLE[JobStatus.CANCELLED],
    "retried": "yellow",
    "dead-lettered": "bold red",
    "requeued": "cyan",
}


def event_line(event: JobEvent) -> str:
    """One event as rich markup: time, runner, job, event, then what is known of it. Every
    value from Redis is escaped: anyone who can write the stream can write anything there."""

    def shown(text: str) -> str:
        return escape(for_terminal(text))

    style = EVENT_STYLE.get(event.event, "bold")
    parts = [
        f"[dim]{event.time}[/]",
        shown(event.runner_id),
        shown(event.job_id),
        f"[{style}]{shown(event.event)}[/]",
    ]
    if event.attempt is not None:
        parts.append(f"attempt {event.attempt}")
    if event.status is not None:
        parts.append(shown(event.status))
    if event.duration_ms is not None:
        parts.append(f"{event.duration_ms:.1f} ms")
    if event.deliveries is not None:
        parts.append(f"{event.deliveries} deliveries")
    if event.worker:
        parts.append(f"[dim]on {shown(event.worker)}[/]")
    return "  ".join(parts)


def _show(event: JobEvent, as_json: bool) -> None:
    if as_json:
        print(json.dumps(event.as_json()), flush=True)
    else:
        console.print(event_line(event), highlight=False, soft_wrap=True)


def events_command(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new events until Ctrl-C")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object per line (at: Unix seconds, time: ISO-8601 UTC)")
    ] = False,
    count: Annotated[int, typer.Option("--count", "-n", help="how many of the latest events to print first")] = 20,
    runner: Annotated[
        list[str], typer.Option("--runner", "-r", help="only this runner's events (repeatable) [default: all]")
    ] = [],  # noqa: B006
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Print the latest job events across runners, oldest first (dispatched, started, completed, ...).

    With --follow, keep printing new events as they happen until Ctrl-C. Events are kept by the
    scripts while HORUS_EVENTS is on (the default); each runner keeps about its last 10 000.
    """
    if count < 0:
        raise ConfigError(f"--count must be 0 or more (got {count})")
    broker = Broker(redis_url(redis), str(setting("namespace", namespace, DEFAULT_NAMESPACE)))
    runners = runner or None
    try:
        if not follow:
            events = read_events(broker, runners, count)
            for event in events:
                _show(event, as_json)
            if not events and count:
                where = f"runner {', '.join(runner)}" if runner else f"namespace {broker.keys.namespace}"
                errors.print(escape(f"no job events for {where} (they are kept while HORUS_EVENTS is on)"))
            return
        for event in follow_events(broker, runners, last=count):
            _show(event, as_json)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        broker.close()
