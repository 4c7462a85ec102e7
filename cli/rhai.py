"""``horus rhai``: run a Rhai script locally, or an interactive loop.

``horus rhai run FILE --sal`` / ``--osiris`` runs the script as a worker of that runner type
would run it as a job's payload: the same runner class builds the same modules, with the same
engine limits, deadline and memory limit, so a script tried here behaves the same once submitted.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from horus import plugin
from horus.admission import parse_job
from horus.broker import Broker
from horus.config import redis_url, setting
from horus.errors import ConfigError, PluginError
from horus.keys import DEFAULT_NAMESPACE
from horus.models import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, MIN_TIMEOUT_S, JobStatus, check_env_names
from horus.plugin import Outcome
from horus.procutil import limit_memory
from horus.rhai.ops import to_debug
from horus.rhai.repl import repl, run_file
from horus.scripting import RhaiScriptRunner
from horus.worker.context import JobContext, JobTimeout

from .output import fail
from .worker import int_setting

rhai_app = typer.Typer(
    rich_markup_mode=None, help="Run Rhai scripts locally (the engine the sal and osiris runners use)."
)

#: The runner id a local run's script sees as ``HORUS_RUNNER_ID`` (``env`` module).
LOCAL_RUNNER_ID = "local"


@rhai_app.callback(invoke_without_command=True)
def rhai_main(ctx: typer.Context) -> None:
    """With no command: an interactive loop (`:quit` or Ctrl-D to leave)."""
    if ctx.invoked_subcommand is None:
        print("Rhai (horus.rhai) - :quit or Ctrl-D to leave", file=sys.stderr)
        raise typer.Exit(repl(input, print))


def parse_env(pairs: list[str], flag: str = "--env") -> dict[str, str]:
    """``["K=V", ...]`` as a dict; a pair without ``=``, a bad name or a name given twice is refused."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"{flag} {pair!r} must look like NAME=VALUE")
        try:
            check_env_names({name: value})
        except ValueError as exc:
            raise ConfigError(f"{flag} {pair!r}: {exc}") from None
        if name in env:
            raise ConfigError(f"{flag} {name} is given twice")
        env[name] = value
    return env


def check_timeout(timeout: int) -> int:
    if not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S:
        raise ConfigError(f"--timeout must be {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} seconds (got {timeout})")
    return timeout


@rhai_app.command("run")
def rhai_run(
    script: Annotated[Path, typer.Argument(help="a .rhai file")],
    sal: Annotated[bool, typer.Option("--sal", help="run it as a sal job: os, process, net, text, redis, …")] = False,
    osiris: Annotated[
        bool, typer.Option("--osiris", help="run it as an osiris job: osiris, the store in the configured Redis")
    ] = False,
    modules: Annotated[
        str | None, typer.Option("--modules", help="with --sal: offer only these modules, e.g. os,text")
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="with --sal: confine os paths to DIR")] = None,
    timeout: Annotated[
        int | None,
        typer.Option(
            "--timeout", help=f"with --sal/--osiris: the job's timeout in seconds [default: {DEFAULT_TIMEOUT_S}]"
        ),
    ] = None,
    env: Annotated[
        list[str], typer.Option("--env", help="with --sal/--osiris: a job env var NAME=VALUE (repeatable)")
    ] = [],  # noqa: B006
    redis: Annotated[
        str | None, typer.Option("--redis-url", help="with --osiris: Redis URL [env: HORUS_REDIS_URL, REDIS_URL]")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="with --osiris: key namespace [env: HORUS_NAMESPACE]")
    ] = None,
) -> None:
    """Run a script: prints what it prints, then its value, or the error.

    Alone, with the plain engine (the error with a caret). With --sal or --osiris, as a worker of
    that runner type runs a job's payload: the same modules, engine limits, timeout and memory
    limit (--max-job-memory's default, or HORUS_MAX_JOB_MEMORY); the error is one line naming
    line and position. Exit codes: 0, 1 for a script error or timeout, 2 for bad input, 3 when
    --osiris's Redis does not answer.
    """
    if sal and osiris:
        raise ConfigError("--sal and --osiris are two runner types: give one of them")
    runner_type = "sal" if sal else "osiris" if osiris else None
    given = {
        "--modules": (modules is not None, ("sal",)),
        "--root": (root is not None, ("sal",)),
        "--redis-url": (redis is not None, ("osiris",)),
        "--namespace": (namespace is not None, ("osiris",)),
        "--timeout": (timeout is not None, ("sal", "osiris")),
        "--env": (bool(env), ("sal", "osiris")),
    }
    for flag, (present, types) in given.items():
        if present and runner_type not in types:
            where = " or ".join(f"--{kind}" for kind in types)
            now = f"not with --{runner_type}" if runner_type else "the plain engine has no job around the script"
            raise ConfigError(f"{flag} applies only with {where} ({now})")
    if runner_type is None:
        raise typer.Exit(run_file(script, sys.stdout))
    try:
        source = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {str(script)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    options = {"modules": modules} if modules is not None else {}
    options.update({"root": str(root)} if root is not None else {})
    url = redis_url(redis) if osiris else ""
    ns = str(setting("namespace", namespace, DEFAULT_NAMESPACE))
    if osiris:
        _reachable(url, ns)
    raise typer.Exit(
        run_as_job(runner_type, options, source, check_timeout(timeout or DEFAULT_TIMEOUT_S), parse_env(env), url, ns)
    )


def _reachable(url: str, namespace: str) -> None:
    """Fail before the script runs when the Redis the store lives in does not answer."""
    broker = Broker.from_url(url, namespace)
    try:
        broker.conn.call("PING")
    finally:
        broker.close()


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise JobTimeout


def run_as_job(
    runner_type: str, options: dict[str, str], source: str, timeout: int, env: dict[str, str], url: str, namespace: str
) -> int:
    """Run ``source`` through a runner of ``runner_type`` as a job's payload; an exit code."""
    runner_cls = plugin.load(runner_type)
    runner_cls.check_options(options)
    runner = runner_cls(config=options)
    if not isinstance(runner, RhaiScriptRunner):
        raise PluginError(f"runner type {runner_type!r} does not run Rhai scripts")
    runner.prepare()  # a bad --modules or --root stops here, as it stops a worker at start
    limit_memory(int_setting("max_job_memory", None, runner.default_max_job_memory_mb, "MiB"))
    job = parse_job({"runner_id": LOCAL_RUNNER_ID, "payload": source, "timeout": timeout, "env_vars": env})
    ctx = JobContext(
        job=job,
        runner_id=LOCAL_RUNNER_ID,
        worker_id="local",
        deadline=time.monotonic() + timeout,
        log=lambda line: print(line, flush=True),
        redis_url=url,
        namespace=namespace,
    )
    runner.setup()
    # As in a worker child: an alarm at the timeout raises JobTimeout into whatever is running.
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            outcome = runner.execute(job, ctx)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except JobTimeout:
        outcome = Outcome(JobStatus.TIMEOUT, error=f"timed out after {timeout} s")
    finally:
        signal.signal(signal.SIGALRM, previous)
        ctx.kill_process_groups()
        runner.teardown()
    if outcome.status == JobStatus.COMPLETED:
        if outcome.value is not None:
            print(to_debug(outcome.value), flush=True)
        return 0
    fail(outcome.error or f"the script ended {outcome.status}")
    return 1
