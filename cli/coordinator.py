"""``horus coordinator``: the workflow API over HTTP, and the engine that drives workflows."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from horus.broker import Broker
from horus.config import redacted, redis_url, setting
from horus.errors import ConfigError
from horus.keys import DEFAULT_NAMESPACE
from horus.signing import Signer, load_key

from .supervisor import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_WAITERS,
    AdminTokenFileOpt,
    HostOpt,
    InsecureDevOpt,
    MaxBatchOpt,
    MaxWaitersOpt,
    NamespaceOpt,
    RedisOpt,
    SslCertfileOpt,
    SslKeyfileOpt,
    _admin_token,
    serve,
)

log = logging.getLogger("horus.coordinator")

DEFAULT_PORT = 8090


def _warn_about_tokens(insecure: bool, admin_token: str | None, link_token: str | None) -> None:
    if insecure:
        log.warning("--insecure-dev: no authentication, every caller is admin")
    elif admin_token is None:
        log.warning("no HORUS_ADMIN_TOKEN or --admin-token-file: only tokens already in Redis are accepted")
    if link_token is None:
        log.warning(
            "no HORUS_TOKEN (or HORUS_ADMIN_TOKEN): calls to the supervisor carry no token and are refused "
            "unless it runs --insecure-dev"
        )


def coordinator_command(
    host: HostOpt = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", help="env HORUS_COORDINATOR_PORT, PORT; default 8090")] = None,
    supervisor: Annotated[
        str | None, typer.Option("--supervisor", help="the supervisor's URL; env HORUS_SUPERVISOR_URL")
    ] = None,
    redis: RedisOpt = None,
    namespace: NamespaceOpt = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="optional: a key of the coordinator's own to sign the jobs of workflows sent without job "
            "signatures; env HORUS_COORDINATOR_KEY_FILE",
        ),
    ] = None,
    admin_token_file: AdminTokenFileOpt = None,
    insecure_dev: InsecureDevOpt = False,
    lease_ttl: Annotated[
        float, typer.Option("--lease-ttl", min=0.5, help="seconds before a dead coordinator's workflows are adopted")
    ] = 10.0,
    ssl_certfile: SslCertfileOpt = None,
    ssl_keyfile: SslKeyfileOpt = None,
    threads: Annotated[int, typer.Option("--threads", min=1, help="calls served at once")] = 64,
    max_batch: MaxBatchOpt = DEFAULT_MAX_BATCH,
    max_waiters: MaxWaitersOpt = DEFAULT_MAX_WAITERS,
) -> None:
    """Serve the workflow API and drive workflows; step jobs go to the supervisor as the submitter
    signed them (or, for workflows sent without job signatures, signed with --key).

    The supervisor token comes from HORUS_TOKEN (else HORUS_ADMIN_TOKEN)."""

    from horus.coordinator.engine import Engine, EngineSettings
    from horus.coordinator.link import SupervisorLink
    from horus.coordinator.service import Coordinator
    from horus.coordinator.store import WorkflowStore

    try:
        listen_port = int(setting("coordinator_port", port) or setting("port", None, DEFAULT_PORT, "coordinator"))
    except ValueError:
        raise ConfigError("the port must be a number") from None
    supervisor_url = setting("supervisor_url", supervisor)
    if not supervisor_url:
        raise ConfigError("the coordinator needs a supervisor: pass --supervisor URL or set HORUS_SUPERVISOR_URL")
    key_file = setting("coordinator_key_file", str(key) if key else None)
    signer = Signer(load_key(Path(key_file))) if key_file else None
    token = _admin_token(admin_token_file)
    link_token = os.environ.get("HORUS_TOKEN") or token
    _warn_about_tokens(insecure_dev, token, link_token)
    link = SupervisorLink(str(supervisor_url), token=link_token, timeout_s=60)
    url, ns = redis_url(redis), setting("namespace", namespace, DEFAULT_NAMESPACE)
    broker = Broker.from_url(url, ns)
    broker.ping()
    log.info("coordinator on Redis %s, namespace %r, supervisor %s", redacted(url), ns, supervisor_url)
    engine = Engine(WorkflowStore(broker), link, signer, EngineSettings(lease_ttl_s=lease_ttl))
    own_key = signer.public_key if signer else ""
    app = Coordinator(
        broker,
        link,
        own_key,
        admin_token=token,
        insecure=insecure_dev,
        threads=threads,
        engine=engine,
        max_batch=max_batch,
        max_waiters=max_waiters,
    ).app()
    if signer:
        log.info("coordinator key %s signs the jobs of workflows sent without job signatures", own_key)
    else:
        log.info("no coordinator key: workflows must carry their steps' job signatures (workflow submit --key)")
    engine.start()
    try:
        serve(app, host, listen_port, ssl_certfile, ssl_keyfile)
    finally:
        engine.stop()
