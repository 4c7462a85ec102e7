"""The horus command: run workers, sign and submit jobs, follow them."""

from __future__ import annotations

import json
import logging
import sys
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from nacl.signing import SigningKey

from horus import __version__
from horus.admission import parse_job
from horus.client import RedisClient
from horus.config import redis_url, setting, toml_settings
from horus.errors import (
    ConfigError,
    HorusError,
    JobNotFound,
    JobRejected,
    NotDeadLettered,
    PluginError,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleRejected,
    WaitTimeout,
)
from horus.keys import DEFAULT_NAMESPACE
from horus.models import DEFAULT_TIMEOUT_S, Job, JobResult, JobStatus
from horus.sdk import Client
from horus.signing import generate_key, load_key, public_hex, save_key, sign_job

from . import waiting
from .admin import keys_add, keys_list, keys_remove, runners_app
from .coordinator import coordinator_command
from .dead import dead_app
from .events import events_command
from .inspect import inspect_app, top_command
from .output import console, fail, for_terminal, result_panel
from .rhai import check_timeout, parse_env, rhai_app
from .schedule import beat_command, schedule_app
from .supervisor import supervisor_command
from .worker import worker_command
from .workflow import workflow_app

#: Exit codes: the job failed (or timed out, or was cancelled), bad input, Redis unreachable.
EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3

#: Help is plain text: rich markup would swallow the "[env: NAME]" hints and show flags as "<bool>".
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Horus: signed jobs on Redis.",
)
keys_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="ed25519 signing keys, and the supervisor's trusted keys."
)
app.add_typer(keys_app, name="keys")
keys_app.command("add")(keys_add)
keys_app.command("remove")(keys_remove)
keys_app.command("list")(keys_list)
app.add_typer(runners_app, name="runners")
app.add_typer(dead_app, name="dead")
app.add_typer(inspect_app, name="inspect")
app.command("top")(top_command)
app.command("worker")(worker_command)
app.command("supervisor")(supervisor_command)
app.command("coordinator")(coordinator_command)
app.add_typer(workflow_app, name="workflow")
app.add_typer(rhai_app, name="rhai")
app.add_typer(schedule_app, name="schedule")
app.command("beat")(beat_command)
app.command("events")(events_command)

RedisOpt = Annotated[str | None, typer.Option("--redis-url", help="Redis URL [env: HORUS_REDIS_URL, REDIS_URL]")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", help="key namespace [env: HORUS_NAMESPACE]")]
SupervisorOpt = Annotated[
    str | None,
    typer.Option("--supervisor", help="go through this supervisor [env: HORUS_SUPERVISOR_URL; token: HORUS_TOKEN]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _version(value: bool) -> None:
    if value:
        print(f"horus {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
    log_level: Annotated[str, typer.Option("--log-level", envvar="HORUS_LOG_LEVEL")] = "INFO",
) -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    toml_settings()  # a horus.toml with a typo is refused by every command, not only by those that read it


def _client(
    redis: str | None, namespace: str | None, supervisor: str | None, key: SigningKey | None = None
) -> RedisClient | Client:
    """Through the supervisor when one is configured, else straight to Redis."""
    url = setting("supervisor_url", supervisor)
    if url:
        return Client(str(url), token=setting("token"), key=key)
    return RedisClient(redis_url(redis), setting("namespace", namespace, DEFAULT_NAMESPACE), key=key)


def _key(path: Path | None) -> SigningKey | None:
    location = setting("key_file", str(path) if path else None)
    return load_key(Path(location)) if location else None


def _read_job_file(path: Path) -> str:
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read job file {str(path)!r}: {exc.strerror}") from None


def _print_result(result: JobResult, as_json: bool) -> None:
    if as_json:
        print(result.model_dump_json())
    else:
        console.print(result_panel(result))


# -- keys -------------------------------------------------------------------------------
@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path, typer.Option("--out", "--key", help="secret key file to write (mode 600)")],
) -> None:
    """Create a key pair; writes the secret key, prints the public key (hex) last."""
    if out.exists():
        raise ConfigError(f"{str(out)!r} exists; refusing to overwrite a key")
    key = generate_key()
    save_key(out, key)
    print(f"secret key written to {out}", file=sys.stderr)
    print(public_hex(key))


@keys_app.command("public")
def keys_public(
    key: Annotated[Path, typer.Option("--key", "--out", help="secret key file (the one keys generate wrote)")],
) -> None:
    """Print the public key of a secret key file."""
    print(public_hex(load_key(key)))


# -- jobs -------------------------------------------------------------------------------
@app.command("sign")
def sign(
    job_file: Annotated[Path, typer.Argument(help="job JSON file, or - for stdin")],
    key: Annotated[Path | None, typer.Option("--key", help="secret key file [env: HORUS_KEY_FILE]")] = None,
) -> None:
    """Print the job signed (id and created_at filled in when missing)."""
    signing_key = _key(key)
    if signing_key is None:
        raise ConfigError("no key: pass --key FILE or set HORUS_KEY_FILE")
    job = sign_job(parse_job(_read_job_file(job_file)), signing_key)
    print(job.model_dump_json(exclude={"status"}, indent=2))


@app.command("submit")
def submit(
    job_file: Annotated[
        Path | None, typer.Argument(help="job JSON file, or - for stdin (or build one: --runner, --payload-file)")
    ] = None,
    runner: Annotated[
        str | None, typer.Option("--runner", help="build the job for this runner id (with --payload-file)")
    ] = None,
    payload_file: Annotated[
        Path | None,
        typer.Option("--payload-file", help="the job's payload: this file's text as is (a script), or - for stdin"),
    ] = None,
    timeout: Annotated[
        int | None,
        typer.Option(
            "--timeout", help=f"with --payload-file: the job's timeout in seconds [default: {DEFAULT_TIMEOUT_S}]"
        ),
    ] = None,
    env: Annotated[
        list[str], typer.Option("--env", help="with --payload-file: a job env var NAME=VALUE (repeatable)")
    ] = [],  # noqa: B006
    key: Annotated[Path | None, typer.Option("--key", help="secret key file [env: HORUS_KEY_FILE]")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the result")] = False,
    wait_timeout: Annotated[float | None, typer.Option("--wait-timeout", help="seconds to wait at most")] = None,
    delay: Annotated[
        float | None, typer.Option("--delay", help="start no sooner than SECONDS from now (sets not_before)")
    ] = None,
    priority: Annotated[int | None, typer.Option("--priority", help="0-9, higher starts first (default 0)")] = None,
    retries: Annotated[
        int | None, typer.Option("--retries", help="attempts after a failed or timed-out one, 0-100")
    ] = None,
    traceparent: Annotated[
        str | None,
        typer.Option(
            "--traceparent", help="W3C trace context the job joins: 00-TRACE_ID-SPAN_ID-FLAGS (docs/tracing.md)"
        ),
    ] = None,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Submit a job (signed with --key unless already signed); prints the job id last.

    The job comes from JOB_FILE, or is built from a script: --runner RUNNER_ID --payload-file
    FILE [--timeout S] [--env NAME=VALUE ...] (the payload is FILE's text as is, for any runner type).

    --delay, --priority, --retries and --traceparent set the job's not_before, priority, retries
    and traceparent before it is signed, over what the file says. With --wait --json, prints the
    JobResult as JSON instead.
    Warns on stderr when no worker serves the job's runner (with --wait, once it has waited a
    second unanswered); with --wait, the job id goes to stderr before the wait.
    """
    client = _client(redis, namespace, supervisor, _key(key))
    job = with_options(
        _job_from_args(job_file, runner, payload_file, timeout, env), delay, priority, retries, traceparent
    )
    job_id = client.submit(job)
    if wait:
        waiting.note(f"job {job_id} submitted; waiting for its result (Ctrl-C stops the wait, not the job)")
    if not wait:
        waiting.warn_if_unserved(client, job)
        print(job_id)
        return
    reopen = partial(_client, redis, namespace, supervisor)
    result = waiting.wait_for(client, job_id, wait_timeout, reopen, partial(waiting.warn_if_unserved, client, job))
    _print_result(result, as_json)
    if not as_json:
        print(result.job_id)
    if result.status != JobStatus.COMPLETED:
        raise typer.Exit(EXIT_JOB_FAILED)


def _job_from_args(
    job_file: Path | None, runner: str | None, payload_file: Path | None, timeout: int | None, env: list[str]
) -> Job:
    """The job of a JOB_FILE, or one built from --runner and --payload-file."""
    if payload_file is None:
        if job_file is None and runner is not None:
            raise ConfigError("--runner needs --payload-file FILE: the script (or payload) the job runs")
        if job_file is None:
            raise ConfigError("nothing to submit: give a JOB_FILE, or --runner RUNNER_ID and --payload-file FILE")
        present = (("--runner", runner is not None), ("--timeout", timeout is not None), ("--env", bool(env)))
        given = [flag for flag, there in present if there]
        if given:
            raise ConfigError(
                f"{', '.join(given)} applies only with --payload-file, which builds the job; "
                "a JOB_FILE sets its own runner_id, timeout and env_vars"
            )
        return parse_job(_read_job_file(job_file))
    if job_file is not None:
        raise ConfigError(
            f"give a JOB_FILE ({str(job_file)!r}) or --payload-file ({str(payload_file)!r}), not both: "
            "the job file holds its own payload"
        )
    if runner is None:
        raise ConfigError("--payload-file needs --runner RUNNER_ID: the runner whose queue the job goes to")
    fields: dict[str, Any] = {"runner_id": runner, "payload": _read_payload_file(payload_file)}
    if timeout is not None:
        fields["timeout"] = check_timeout(timeout)
    if env:
        fields["env_vars"] = parse_env(env)
    return parse_job(fields)


def _read_payload_file(path: Path) -> str:
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read payload file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"payload file {str(path)!r} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def with_options(
    job: Job, delay: float | None, priority: int | None, retries: int | None, traceparent: str | None = None
) -> Job:
    """The job with the options given on the command line; a signed job cannot take any."""
    options: dict[str, Any] = {}
    if delay is not None:
        if not delay >= 0:
            raise ConfigError(f"--delay must be 0 or more seconds (got {delay})")
        options["not_before"] = round(time.time() + delay, 3)
    if priority is not None:
        options["priority"] = priority
    if retries is not None:
        options["retries"] = retries
    if traceparent is not None:
        options["traceparent"] = traceparent
    if not options:
        return job
    if job.signatures:
        flags = ", ".join(f"--{'delay' if name == 'not_before' else name}" for name in options)
        raise ConfigError(
            f"the job file is already signed, and {flags} would change what was signed: "
            "set the option in the job before signing it, or submit the unsigned job with --key"
        )
    return parse_job({**job.model_dump(exclude={"status", "signatures"}), **options})


@app.command("status")
def status(
    job_id: str,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Show a job's status."""
    client = _client(redis, namespace, supervisor)
    info = client.status(job_id)
    if as_json:
        print(json.dumps(info))
    else:
        console.print(result_panel(client.result(job_id), info))


@app.command("result")
def result(
    job_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the job ends")] = False,
    wait_timeout: Annotated[float | None, typer.Option("--wait-timeout")] = None,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Show a job's result."""
    client = _client(redis, namespace, supervisor)
    if wait:
        outcome = waiting.wait_for(client, job_id, wait_timeout, partial(_client, redis, namespace, supervisor))
    else:
        outcome = client.result(job_id)
    _print_result(outcome, as_json)


@app.command("logs")
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="follow until the job ends")] = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Print a job's output lines (control characters escaped on a terminal, as written when piped)."""
    client = _client(redis, namespace, supervisor)
    for line in client.logs(job_id, follow=follow):
        print(for_terminal(line), flush=True)


@app.command("cancel")
def cancel(
    job_id: str,
    as_json: JsonOpt = False,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    supervisor: SupervisorOpt = None,
) -> None:
    """Cancel a job: a queued job leaves its queue, a running job is killed."""
    outcome = _client(redis, namespace, supervisor).cancel(job_id)
    print(json.dumps({"job_id": job_id, "status": outcome}) if as_json else outcome)


@app.command("demo")
def demo(redis: RedisOpt = None) -> None:
    """Start a worker (and an embedded Redis if none is configured), run a signed job, show it."""
    from .demo import run_demo

    raise typer.Exit(run_demo(redis))


def run() -> None:
    """Console-script entry point: Horus errors become one readable line and an exit code."""
    try:
        app()
    except ScheduleRejected as exc:
        fail(f"schedule rejected: {exc} [{exc.code}]")
        sys.exit(EXIT_BAD_INPUT)
    except JobRejected as exc:
        fail(f"job rejected: {exc} [{exc.code}]")
        sys.exit(EXIT_BAD_INPUT)
    except (ScheduleNotFound, ScheduleExists, JobNotFound, NotDeadLettered, ConfigError, PluginError) as exc:
        fail(str(exc))
        sys.exit(EXIT_BAD_INPUT)
    except WaitTimeout as exc:
        fail(str(exc))
        sys.exit(EXIT_JOB_FAILED)
    except HorusError as exc:
        fail(str(exc))
        sys.exit(EXIT_UNAVAILABLE)
