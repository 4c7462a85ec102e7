"""``horus worker``: a prefork master with N children running one runner type."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from horus import middleware, plugin, scripts
from horus.broker import Broker
from horus.config import (
    events_enabled,
    events_maxlen,
    redacted,
    redis_url,
    setting,
    split_list,
    wait_replicas,
    wait_timeout_ms,
)
from horus.errors import ConfigError
from horus.keys import DEFAULT_NAMESPACE
from horus.signing import public_key_text
from horus.trust import TrustPolicy
from horus.worker import guard
from horus.worker.config import RateLimit, WorkerConfig
from horus.worker.master import Master
from horus.worker.startup import patiently

log = logging.getLogger("horus.worker")


def _options(pairs: list[str], app_module: str | None, hero_bin: str | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--option {pair!r} must look like NAME=VALUE")
        options[name.strip().replace("-", "_")] = value
    if app_module:
        options["app"] = app_module
    if hero_bin:
        options["hero_bin"] = hero_bin
    return options


def _trust(keys: list[str], policy_file: Path | None, runner_id: str, threshold: int) -> TrustPolicy:
    policy = TrustPolicy.from_file(policy_file) if policy_file else TrustPolicy(threshold=threshold)
    for key in split_list(setting("trusted_keys", keys, section="worker")):
        policy.add(public_key_text(key), [runner_id])
    if not policy:
        raise ConfigError(
            "no trusted keys: a worker runs only jobs signed by keys it trusts; pass --trusted-key HEX "
            "(repeatable), --trust-policy FILE, or set HORUS_TRUSTED_KEYS"
        )
    return policy


def _max_output(value: object) -> int:
    """The result output cap, checked here so a bad value names the setting."""
    try:
        size = int(str(value))
    except ValueError:
        size = -1
    if not 1024 <= size <= 64 << 20:
        raise ConfigError(f"--max-output / HORUS_MAX_OUTPUT must be a byte count from 1024 to 67108864, not {value!r}")
    return size


def _metrics_port(value: object) -> int | None:
    if value is None:
        return None
    try:
        port = int(str(value))
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"--metrics-port / HORUS_METRICS_PORT must be a port number (0 to 65535), not {value!r}")
    return port


def int_setting(name: str, flag: int | None, default: int, unit: str, minimum: int = 0) -> int:
    """A whole-number worker setting from flag, ``HORUS_<NAME>`` or ``[worker] name``."""
    value = setting(name, flag, default, section="worker")
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < minimum or isinstance(value, bool | float):
        raise ConfigError(
            f"{name} must be a whole number of {unit} ({minimum} or more), not {value!r}: "
            f"set --{name.replace('_', '-')}, HORUS_{name.upper()} or [worker] {name} in horus.toml"
        )
    return number


def worker_command(
    runner_id: Annotated[str, typer.Argument(help="the runner id whose queue this worker serves")],
    runner_type: Annotated[str, typer.Option("--type", "-t", help="runner type (plugin name)")] = "python",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="child processes")] = os.cpu_count() or 2,
    redis: Annotated[str | None, typer.Option("--redis-url", help="[env: HORUS_REDIS_URL, REDIS_URL]")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="[env: HORUS_NAMESPACE]")] = None,
    trusted_key: Annotated[list[str], typer.Option("--trusted-key", help="public key hex (repeatable)")] = [],  # noqa: B006
    trust_policy: Annotated[Path | None, typer.Option("--trust-policy", help="JSON trust policy file")] = None,
    threshold: Annotated[int, typer.Option("--signature-threshold", help="valid signatures needed")] = 1,
    app_module: Annotated[str | None, typer.Option("--app", help="python runner: module(s) with @task")] = None,
    hero_bin: Annotated[str | None, typer.Option("--hero-bin", help="hero runner: executable")] = None,
    sal_modules: Annotated[str | None, typer.Option("--modules", help="sal runner: modules, e.g. os,text")] = None,
    sal_root: Annotated[Path | None, typer.Option("--root", help="sal runner: confine os paths to DIR")] = None,
    option: Annotated[list[str], typer.Option("--option", "-o", help="runner option NAME=VALUE")] = [],  # noqa: B006
    max_jobs_per_child: Annotated[int, typer.Option("--max-jobs-per-child", help="recycle after N jobs")] = 0,
    max_memory: Annotated[int, typer.Option("--max-memory-per-child", help="recycle above N MiB RSS")] = 0,
    grace: Annotated[float, typer.Option("--grace", help="seconds running jobs get on SIGTERM")] = 30.0,
    heartbeat_ttl: Annotated[
        float, typer.Option("--heartbeat-ttl", help="seconds before a silent worker is reaped")
    ] = 10.0,
    max_deliveries: Annotated[int, typer.Option("--max-deliveries", help="dead-letter after N deliveries")] = 5,
    result_ttl: Annotated[int, typer.Option("--result-ttl", help="seconds results are kept")] = 86_400,
    max_output: Annotated[
        int | None,
        typer.Option(
            "--max-output", help="bytes of output/error a result keeps (head and tail) [env: HORUS_MAX_OUTPUT]"
        ),
    ] = None,
    max_job_age: Annotated[
        int | None,
        typer.Option("--max-job-age", help="oldest job run, in seconds since it was signed [default: 86400]"),
    ] = None,
    max_clock_skew: Annotated[
        int | None,
        typer.Option("--max-clock-skew", help="how far ahead a job may be dated, in seconds [default: 60]"),
    ] = None,
    max_job_memory: Annotated[
        int | None,
        typer.Option(
            "--max-job-memory",
            help="hard memory limit of each child in MiB, a job passing it fails (0: none) "
            "[default: 1024 for sal and osiris, else 0]",
        ),
    ] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            "--rate-limit",
            help="at most N job starts in any second, minute or hour for this runner id, across all "
            "its workers: N/s, N/m or N/h [env: HORUS_RATE_LIMIT]",
        ),
    ] = None,
    middleware_names: Annotated[
        list[str],
        typer.Option(
            "--middleware",
            help="middleware to run around each job: an installed name or module:Class (repeatable) "
            "[env: HORUS_MIDDLEWARE]",
        ),
    ] = [],  # noqa: B006
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="serve this worker's process metrics and job counts for Prometheus on PORT [env: HORUS_METRICS_PORT]",
        ),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option(
            "--metrics-host", help="address the metrics port listens on [env: HORUS_METRICS_HOST; default 127.0.0.1]"
        ),
    ] = None,
    events: Annotated[
        bool | None,
        typer.Option(
            "--events/--no-events",
            help="record job events and ended-job counters in Redis (docs/operations.md) [env: HORUS_EVENTS; "
            "default: on]",
        ),
    ] = None,
    replicas: Annotated[
        int | None,
        typer.Option(
            "--wait-replicas",
            help="store each result only once N Redis replicas confirm it (WAIT; docs/scaling.md) "
            "[env: HORUS_WAIT_REPLICAS; default: 0, none]",
        ),
    ] = None,
    replicas_timeout: Annotated[
        int | None,
        typer.Option(
            "--wait-timeout-ms",
            help="how long a result waits for its replicas [env: HORUS_WAIT_TIMEOUT_MS; default: 1000]",
        ),
    ] = None,
) -> None:
    """Run a worker serving one runner id (horus worker runner1 --type python --app tasks --trusted-key HEX)."""
    runner_cls = plugin.load(runner_type)
    rate = setting("rate_limit", rate_limit, section="worker")
    limit = None if rate is None else RateLimit.parse(rate)
    options = _options(option, setting("app", app_module, section="worker"), setting("hero_bin", hero_bin))
    options.update({"modules": sal_modules} if sal_modules else {})
    options.update({"root": str(sal_root)} if sal_root else {})
    hooks = middleware.load(split_list(setting("middleware", middleware_names, section="worker")), options)
    # A middleware's options are its own: the runner gets one only if it declares it too.
    owned = middleware.owned_options(hooks)
    options = {name: value for name, value in options.items() if name not in owned or name in runner_cls.options}
    runner_cls.check_options(options)
    policy = _trust(trusted_key, trust_policy, runner_id, threshold)
    config = WorkerConfig(
        runner_type=runner_type,
        runner_id=runner_id,
        redis_url=redis_url(redis),
        namespace=setting("namespace", namespace, DEFAULT_NAMESPACE),
        concurrency=concurrency,
        trusted_keys={key: list(runners) for key, runners in policy.keys.items()},
        signature_threshold=policy.threshold,
        max_jobs_per_child=max_jobs_per_child,
        max_memory_per_child_mb=max_memory,
        grace_s=grace,
        heartbeat_ttl_s=heartbeat_ttl,
        heartbeat_interval_s=max(0.2, heartbeat_ttl / 5),
        max_deliveries=max_deliveries,
        result_ttl_s=result_ttl,
        max_output_bytes=_max_output(setting("max_output", max_output, 1_048_576, section="worker")),
        max_job_age_s=int_setting("max_job_age", max_job_age, 86_400, "seconds", minimum=1),
        max_clock_skew_s=int_setting("max_clock_skew", max_clock_skew, 60, "seconds"),
        max_job_memory_mb=int_setting(
            "max_job_memory", max_job_memory, getattr(runner_cls, "default_max_job_memory_mb", 0), "MiB"
        ),
        rate_limit=limit,
        events=events_enabled(events, section="worker"),
        events_maxlen=events_maxlen(section="worker"),
        options=options,
        metrics_port=_metrics_port(setting("metrics_port", metrics_port, section="worker")),
        metrics_host=str(setting("metrics_host", metrics_host, "127.0.0.1", section="worker")),
        wait_replicas=wait_replicas(replicas, section="worker"),
        wait_timeout_ms=wait_timeout_ms(replicas_timeout, section="worker"),
    )
    runner = runner_cls(config=options)
    runner.prepare()
    log.info("worker on Redis %s, namespace %r", redacted(config.redis_url), config.namespace)
    patiently(lambda: _claim_runner_type(config))
    # After prepare: an --app module may read its own settings from the environment at import.
    guard.protect(config.redis_url, redis)
    if config.rate_limit is not None:
        log.info("rate limit: %s job starts for runner %r", config.rate_limit, config.runner_id)
    if hooks:
        log.info("middleware: %s", ", ".join(hooks.names))
    if config.wait_replicas:
        log.info("each result waits for %d replica(s), up to %d ms", config.wait_replicas, config.wait_timeout_ms)
    raise typer.Exit(Master(config, runner, hooks).run())


def _claim_runner_type(config: WorkerConfig) -> None:
    """Refuse to serve a runner id that live workers of another type serve: each would take
    the other's jobs and fail them."""
    broker = Broker.from_url(config.redis_url, config.namespace)
    try:
        master_id = f"{socket.gethostname()}:{os.getpid()}"
        keys = [broker.keys.worker_types(config.runner_id), broker.keys.workers(config.runner_id)]
        ttl_ms = int(config.heartbeat_ttl_s * 1000)
        conflicts = scripts.call(broker.conn, "claim_type", keys, [master_id, config.runner_type, ttl_ms])
    finally:
        broker.close()
    if conflicts:
        others = sorted({str(kind) for kind in conflicts[1::2]})
        masters = ", ".join(str(master) for master in conflicts[0::2])
        raise ConfigError(
            f"runner {config.runner_id!r} is served by live {'/'.join(others)} worker(s) ({masters}) in namespace "
            f"{config.namespace!r}; a runner id has one type: start this {config.runner_type} worker on another "
            "runner id (and point its jobs' runner_id there)"
        )
