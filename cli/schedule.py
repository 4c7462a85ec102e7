"""``horus schedule`` (signed cron and interval schedules) and ``horus beat`` (fires them).

Straight to Redis, or through the supervisor when one is configured (docs/beat.md).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from horus.config import redis_url, setting
from horus.errors import ConfigError
from horus.keys import DEFAULT_NAMESPACE
from horus.signing import load_key

from .output import STATUS_STYLE, console

RedisOpt = Annotated[str | None, typer.Option("--redis-url", help="Redis URL [env: HORUS_REDIS_URL, REDIS_URL]")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", help="key namespace [env: HORUS_NAMESPACE]")]
SupervisorOpt = Annotated[
    str | None,
    typer.Option("--supervisor", help="go through this supervisor [env: HORUS_SUPERVISOR_URL; token: HORUS_TOKEN]"),
]
NameArg = Annotated[str, typer.Argument(help="the schedule's name")]

schedule_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Signed cron and interval schedules, fired by `horus beat` (docs/beat.md).",
)


def _schedules(redis: str | None, namespace: str | None, supervisor: str | None) -> Any:
    """The schedules API: the supervisor's when one is configured, else Redis's."""
    url = setting("supervisor_url", supervisor)
    if url:
        from horus.sdk import Client

        return Client(str(url), token=setting("token")).schedules
    from horus.broker import Broker
    from horus.schedules import ScheduleStore

    return ScheduleStore(Broker(redis_url(redis), str(setting("namespace", namespace, DEFAULT_NAMESPACE))))


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%m-%d %H:%M:%S")


@schedule_app.command("add")
def add(
    file: Annotated[Path, typer.Argument(help="YAML or JSON file: a list of schedules")],
    key: Annotated[
        Path | None, typer.Option("--key", help="secret key file that signs them [env: HORUS_KEY_FILE]")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="replace schedules of the same name")] = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Check, sign and store the file's schedules, all or none; prints each name."""
    from horus.schedules import load_file, sign

    schedules = load_file(file)
    location = setting("key_file", str(key) if key else None)
    if location:
        signer = load_key(Path(str(location)))
        schedules = [sign(schedule, signer) for schedule in schedules]
    elif not all(schedule.signatures for schedule in schedules):
        raise ConfigError("schedules are signed when added: pass --key KEY (or set HORUS_KEY_FILE)")
    _schedules(redis, namespace, supervisor).add(schedules, replace=replace)
    for schedule in schedules:
        print(schedule.name)


@schedule_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON, one list")] = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Every stored schedule: when it fires next, and what it fired last."""
    infos = _schedules(redis, namespace, supervisor).infos()
    if as_json:
        print(json.dumps([info.model_dump() for info in infos]))
        return
    if not infos:
        console.print("no schedules: add some with `horus schedule add FILE --key KEY`")
        return
    table = Table(title="Schedules (times UTC)")
    table.add_column("name")
    table.add_column("when")
    table.add_column("next", no_wrap=True)
    table.add_column("last job")
    table.add_column("status", no_wrap=True)
    for info in infos:
        status = info.last_status
        when = info.expression if info.timezone == "UTC" else f"{info.expression} ({info.timezone})"
        table.add_row(
            escape(info.name),
            escape(when),
            "[yellow]paused[/]" if info.paused else _when(info.next_at),
            escape(info.last_job_id or "-"),
            f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]" if status else "-",
        )
    console.print(table)


def _one(op: str, done: str) -> Any:
    def command(
        name: NameArg, redis: RedisOpt = None, namespace: NamespaceOpt = None, supervisor: SupervisorOpt = None
    ) -> None:
        getattr(_schedules(redis, namespace, supervisor), op)(name)
        console.print(f"schedule {escape(name)} {done}")

    command.__doc__ = f"{op.capitalize()} a schedule."
    return command


schedule_app.command("remove", help="Remove a schedule; jobs it fired are kept.")(_one("remove", "removed"))
schedule_app.command("pause", help="Pause a schedule: the beat fires nothing of it until resumed.")(
    _one("pause", "paused")
)
schedule_app.command("resume", help="Resume a paused schedule at its next occurrence (missed ones stay missed).")(
    _one("resume", "resumed")
)


@schedule_app.command("run")
def run_(
    name: NameArg, redis: RedisOpt = None, namespace: NamespaceOpt = None, supervisor: SupervisorOpt = None
) -> None:
    """Fire a schedule once now, paused or not; prints the job id."""
    print(_schedules(redis, namespace, supervisor).run(name))


def beat_command(
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    lease_ttl: Annotated[
        float, typer.Option("--lease-ttl", min=1.0, help="seconds the leader's lease lasts unrenewed (takeover time)")
    ] = 5.0,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0.0, help="seconds late an occurrence still fires whatever its catch_up policy"),
    ] = 10.0,
) -> None:
    """Fire the stored schedules. Run as many as you like: one leads, the others stand by."""
    from horus.beat import Beat
    from horus.broker import Broker

    url = redis_url(redis)
    broker = Broker(url, str(setting("namespace", namespace, DEFAULT_NAMESPACE)))
    broker.ping()
    beat = Beat(broker, lease_ttl_s=lease_ttl, grace_s=grace)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    console.print(f"beat {beat.id} started; it leads or stands by (lease {lease_ttl:g} s)", highlight=False)
    beat.run(stop)
