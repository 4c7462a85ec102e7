"""The supervisor's registries from the command line: trusted keys and runners (admin token)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from horus.config import setting
from horus.errors import ConfigError
from horus.sdk import Client
from horus.signing import public_key_text

from .output import console, runners_table

SupervisorOpt = Annotated[
    str | None,
    typer.Option("--supervisor", help="the supervisor's URL [env: HORUS_SUPERVISOR_URL; admin token: HORUS_TOKEN]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]

runners_app = typer.Typer(
    rich_markup_mode=None, help="The supervisor's runner registry: list (the default), register, remove."
)


def supervisor_client(supervisor: str | None) -> Client:
    url = setting("supervisor_url", supervisor)
    if not url:
        raise ConfigError("the registries are the supervisor's: pass --supervisor URL or set HORUS_SUPERVISOR_URL")
    return Client(str(url), token=setting("token"))


# -- keys (added to the `horus keys` group by main) -------------------------------------------
def keys_add(
    public_key: Annotated[str, typer.Argument(help="public key hex (as `horus keys generate` prints it), or its file")],
    runner: Annotated[
        list[str], typer.Option("--runner", help="runner id or pattern the key may target (repeatable; default all)")
    ] = [],  # noqa: B006
    supervisor: SupervisorOpt = None,
) -> None:
    """Trust a public key to sign jobs (through the supervisor)."""
    hex_key = public_key_text(public_key).lower()
    with supervisor_client(supervisor) as client:
        info = client.add_key(hex_key, runner or ["*"])
    print(f"trusted {info['public_key']} for runners {', '.join(info['runners'])}")


def keys_remove(
    public_key: Annotated[str, typer.Argument(help="public key hex")], supervisor: SupervisorOpt = None
) -> None:
    """Stop trusting a public key (through the supervisor)."""
    with supervisor_client(supervisor) as client:
        client.remove_key(public_key_text(public_key).lower())
    print(f"removed {public_key.strip().lower()}")


def keys_list(as_json: JsonOpt = False, supervisor: SupervisorOpt = None) -> None:
    """The supervisor's trusted public keys."""
    with supervisor_client(supervisor) as client:
        keys = client.keys()
    if as_json:
        print(json.dumps(keys))
        return
    table = Table(title="Trusted keys")
    for column in ("public key", "runners", "added"):
        table.add_column(column)
    for info in keys:
        added = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["added_at"]))
        table.add_row(info["public_key"], ", ".join(info["runners"]), added)
    console.print(table)


# -- runners ----------------------------------------------------------------------------------
def _list(as_json: bool, supervisor: str | None) -> None:
    with supervisor_client(supervisor) as client:
        health = [client.runner_health(runner["runner_id"]) for runner in client.runners()]
    if as_json:
        print(json.dumps(health))
    else:
        console.print(runners_table(health))


@runners_app.callback(invoke_without_command=True)
def runners(ctx: typer.Context, as_json: JsonOpt = False, supervisor: SupervisorOpt = None) -> None:
    """List the supervisor's runners with their health (`horus runners` alone lists them)."""
    if ctx.invoked_subcommand is None:
        _list(as_json, supervisor)


@runners_app.command("list")
def runners_list(as_json: JsonOpt = False, supervisor: SupervisorOpt = None) -> None:
    """List the supervisor's runners with their health."""
    _list(as_json, supervisor)


@runners_app.command("register")
def runners_register(
    runner_id: Annotated[str, typer.Argument(help="the runner id jobs name in runner_id")],
    runner_type: Annotated[str, typer.Option("--type", "-t", help="its workers' --type, e.g. python")],
    supervisor: SupervisorOpt = None,
) -> None:
    """Register a runner so the supervisor accepts jobs for it."""
    with supervisor_client(supervisor) as client:
        info = client.register_runner(runner_id, runner_type)
    print(f"registered runner {info['runner_id']} ({info['runner_type']})")


@runners_app.command("remove")
def runners_remove(
    runner_id: Annotated[str, typer.Argument(help="the runner id")], supervisor: SupervisorOpt = None
) -> None:
    """Unregister a runner: its queued jobs stay, new ones are refused."""
    with supervisor_client(supervisor) as client:
        client.remove_runner(runner_id)
    print(f"removed runner {runner_id}")
