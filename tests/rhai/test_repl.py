"""The CLI helpers: run_file and the interactive loop; and the fib benchmark script."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from horus.rhai.repl import repl, run_file

ROOT = Path(__file__).resolve().parents[2]


def test_run_file_prints_output_and_result(tmp_path: Path) -> None:
    script = tmp_path / "ok.rhai"
    script.write_text('print("hello");\nlet a = [1, "x"];\na', encoding="utf-8")
    out = io.StringIO()
    assert run_file(script, out) == 0
    assert out.getvalue() == 'hello\n[1, "x"]\n'


def test_run_file_unit_result_prints_nothing(tmp_path: Path) -> None:
    script = tmp_path / "unit.rhai"
    script.write_text("let x = 1;", encoding="utf-8")
    out = io.StringIO()
    assert run_file(script, out) == 0
    assert out.getvalue() == ""


def test_run_file_reports_error_with_caret(tmp_path: Path) -> None:
    script = tmp_path / "bad.rhai"
    script.write_text("let a = 1;\na.nope(2)\n", encoding="utf-8")
    out = io.StringIO()
    assert run_file(script, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("error: Function not found: nope (i64, i64) (line 2, position 3)")
    assert lines[1:] == ["a.nope(2)", "  ^"]


def test_run_file_reports_parse_error(tmp_path: Path) -> None:
    script = tmp_path / "syntax.rhai"
    script.write_text("let = 1;", encoding="utf-8")
    out = io.StringIO()
    assert run_file(script, out) == 1
    assert "error: Expected variable name" in out.getvalue()


def test_run_file_missing_file(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_file(tmp_path / "missing.rhai", out) == 2
    assert out.getvalue().startswith("error: cannot read")


def test_repl_keeps_variables_and_functions() -> None:
    lines = iter(["let x = 5;", "fn sq(n) {", "  n * n", "}", "sq(x)", "x +", "1", 'print("hi")', "y", ":quit"])
    output: list[str] = []
    assert repl(lambda prompt: next(lines), output.append) == 0
    assert output[:3] == ["25", "6", "hi"]
    assert output[3].startswith("error: Variable not found: y")


def test_repl_redefines_functions_and_reports_true_lines() -> None:
    lines = iter(["fn f() { 1 }", "fn f() { 2 }", "f()", "let a = 1;\na.nope()", ":q"])
    output: list[str] = []
    repl(lambda prompt: next(lines), output.append)
    assert output[0] == "2"
    assert "(line 2, position 3)" in output[1]


def test_repl_ends_on_eof() -> None:
    def no_input(prompt: str) -> str:
        raise EOFError

    assert repl(no_input, print) == 0


def test_fib_benchmark_prints_json() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rhai_fib.py"), "--n", "15", "--repeat", "1", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    data = json.loads(proc.stdout)
    assert data["n"] == 15
    assert data["ratio"] > 0
