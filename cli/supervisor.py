"""``horus supervisor``: the JSON-RPC API over HTTP (docs/api.md)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from horus.broker import Broker
from horus.config import flag_setting, redacted, redis_url, setting
from horus.errors import ConfigError
from horus.keys import DEFAULT_NAMESPACE

log = logging.getLogger("horus.supervisor")

DEFAULT_PORT = 8080
DEFAULT_THREADS = 64

#: Options every HTTP service command (supervisor, coordinator) takes.
HostOpt = Annotated[str, typer.Option("--host", help="address to listen on; '::' for IPv6")]
RedisOpt = Annotated[str | None, typer.Option("--redis-url", help="env HORUS_REDIS_URL, REDIS_URL")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", help="env HORUS_NAMESPACE; default horus")]
AdminTokenFileOpt = Annotated[
    Path | None, typer.Option("--admin-token-file", help="bootstrap admin token file; else env HORUS_ADMIN_TOKEN")
]
InsecureDevOpt = Annotated[
    bool, typer.Option("--insecure-dev", help="no authentication at all: every caller is admin (development only)")
]
SslCertfileOpt = Annotated[str | None, typer.Option("--ssl-certfile", help="TLS certificate (PEM)")]
SslKeyfileOpt = Annotated[str | None, typer.Option("--ssl-keyfile", help="TLS private key (PEM)")]
MaxBatchOpt = Annotated[int, typer.Option("--max-batch", min=1, help="calls per JSON-RPC batch at most")]
MaxWaitersOpt = Annotated[
    int, typer.Option("--max-waiters", min=1, help="requests waiting at once at most (job.run, wait_s); then busy")
]
# horus.supervisor.rpc.MAX_BATCH and app.MAX_WAITERS, not imported so that --help stays quick.
DEFAULT_MAX_BATCH = 100
DEFAULT_MAX_WAITERS = 256


def _admin_token(path: Path | None) -> str | None:
    if path is not None:
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read admin token file {str(path)!r}: {exc.strerror}") from None
        if not token:
            raise ConfigError(f"admin token file {str(path)!r} is empty")
        return token
    return os.environ.get("HORUS_ADMIN_TOKEN") or None


def supervisor_command(
    host: HostOpt = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", help="env HORUS_PORT, PORT; default 8080")] = None,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    admin_token_file: AdminTokenFileOpt = None,
    insecure_dev: InsecureDevOpt = False,
    ssl_certfile: SslCertfileOpt = None,
    ssl_keyfile: SslKeyfileOpt = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="calls served at once (a waiting call holds none while it waits)")
    ] = DEFAULT_THREADS,
    max_batch: MaxBatchOpt = DEFAULT_MAX_BATCH,
    max_waiters: MaxWaitersOpt = DEFAULT_MAX_WAITERS,
    metrics_token_required: Annotated[
        bool,
        typer.Option(
            "--metrics-token-required",
            help="GET /metrics needs a token from every client, loopback too (default: loopback "
            "clients need none) [env: HORUS_METRICS_TOKEN_REQUIRED]",
        ),
    ] = False,
    coordinator_url: Annotated[
        str | None,
        typer.Option(
            "--coordinator-url",
            help="the coordinator's workflows page, linked as Workflows from /ui (an http or https URL)",
        ),
    ] = None,
) -> None:
    """Serve the supervisor's JSON-RPC API and its dashboard at /ui; bootstrap admin token from HORUS_ADMIN_TOKEN."""

    from horus.supervisor.app import create_app

    try:
        listen_port = int(setting("port", port, DEFAULT_PORT, section="supervisor"))
    except ValueError:
        raise ConfigError("the port must be a number") from None
    token = _admin_token(admin_token_file)
    if insecure_dev:
        log.warning("--insecure-dev: no authentication, every caller is admin")
    elif token is None:
        log.warning("no HORUS_ADMIN_TOKEN or --admin-token-file: only tokens already in Redis are accepted")
    url, ns = redis_url(redis), setting("namespace", namespace, DEFAULT_NAMESPACE)
    broker = Broker.from_url(url, ns)
    broker.ping()
    log.info("supervisor on Redis %s, namespace %r", redacted(url), ns)
    app = create_app(
        broker,
        admin_token=token,
        insecure=insecure_dev,
        threads=threads,
        max_batch=max_batch,
        max_waiters=max_waiters,
        metrics_token_required=flag_setting("metrics_token_required", metrics_token_required, section="supervisor"),
        coordinator_url=coordinator_url,
    )
    serve(app, host, listen_port, ssl_certfile, ssl_keyfile)


def serve(app: Any, host: str, port: int, ssl_certfile: str | None, ssl_keyfile: str | None) -> None:
    """Run an ASGI app under uvicorn at our log level, without access logs (tokens stay out of logs)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_level=logging.getLevelName(logging.getLogger().level).lower(),
        access_log=False,
    )
