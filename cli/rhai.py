"""``horus rhai``: run a Rhai script locally, or an interactive loop."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from horus.rhai.repl import repl, run_file

rhai_app = typer.Typer(
    rich_markup_mode=None, help="Run Rhai scripts locally (the engine the sal and osiris runners use)."
)


@rhai_app.callback(invoke_without_command=True)
def rhai_main(ctx: typer.Context) -> None:
    """With no command: an interactive loop (`:quit` or Ctrl-D to leave)."""
    if ctx.invoked_subcommand is None:
        print("Rhai (horus.rhai) - :quit or Ctrl-D to leave", file=sys.stderr)
        raise typer.Exit(repl(input, print))


@rhai_app.command("run")
def rhai_run(script: Annotated[Path, typer.Argument(help="a .rhai file")]) -> None:
    """Run a script: prints what it prints, then its value, or the error with a caret."""
    raise typer.Exit(run_file(script, sys.stdout))
