"""Helpers for a command-line front end: run a script file, or an interactive loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .engine import Engine, Scope
from .errors import RhaiError, RhaiParseError
from .ops import to_debug
from .parser import parse

PROMPT = "rhai> "
CONTINUE_PROMPT = "  ... "


def run_file(path: str | Path, out: TextIO, engine: Engine | None = None) -> int:
    """Run a script file, writing its output, then its result (if any) or the error with a caret.

    Returns a process exit code: 0 on success, 1 for a script error, 2 if the file cannot be read.
    """
    try:
        source = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        out.write(f"error: cannot read {path}: {exc.strerror or exc}\n")
        return 2
    engine = engine or Engine()
    engine.on_print(lambda text: out.write(text + "\n"))
    engine.on_debug(lambda text: out.write(text + "\n"))
    try:
        result = engine.eval(source)
    except RhaiError as exc:
        out.write(f"error: {exc}\n")
        return 1
    if result is not None:
        out.write(to_debug(result) + "\n")
    return 0


def incomplete(source: str) -> bool:
    """True when the only problem with `source` is that it ends too early (keep reading lines)."""
    try:
        parse(source)
    except RhaiParseError as exc:
        return "end of script" in exc.message or "Unterminated" in exc.message
    return False


def repl(
    input_fn: Callable[[str], str],
    output_fn: Callable[[str], object],
    engine: Engine | None = None,
) -> int:
    """Read-eval-print loop; variables persist in a Scope and functions defined alone persist too.

    `input_fn(prompt)` returns a line and raises EOFError at the end; `:quit` also ends the loop.
    """
    engine = engine or Engine()
    engine.on_print(output_fn)
    engine.on_debug(output_fn)
    scope = Scope()
    definitions: dict[frozenset[tuple[str, int]], str] = {}
    while True:
        try:
            source = read_statement(input_fn)
        except (EOFError, KeyboardInterrupt):
            return 0
        if source.strip() in (":quit", ":q", "exit"):
            return 0
        if not source.strip():
            continue
        evaluate(engine, scope, definitions, source, output_fn)


def read_statement(input_fn: Callable[[str], str]) -> str:
    source = input_fn(PROMPT)
    while incomplete(source):
        source += "\n" + input_fn(CONTINUE_PROMPT)
    return source


def evaluate(
    engine: Engine,
    scope: Scope,
    definitions: dict[frozenset[tuple[str, int]], str],
    source: str,
    output_fn: Callable[[str], object],
) -> None:
    try:
        script = parse(source)
        defined = frozenset((f.name, len(f.params)) for f in script.functions)
        # Earlier definitions go after the input (functions are hoisted), so error lines stay right;
        # an input that redefines a function replaces the earlier text.
        kept = [text for keys, text in definitions.items() if not keys & defined]
        result = engine.run(engine.compile("\n;\n".join([source, *kept])), scope)
    except RhaiError as exc:
        output_fn(f"error: {exc}")
        return
    if script.functions and not script.body.stmts:
        for keys in [k for k in definitions if k & defined]:
            del definitions[keys]
        definitions[defined] = source
    if result is not None:
        output_fn(to_debug(result))
