"""Host values (modules, Python functions, host objects) as scripts print them: stable Rhai-style
names, never a Python repr with a memory address."""

from __future__ import annotations

import os.path

import pytest

from horus.rhai import Engine


class Account:
    """A host type scripts may use."""

    def __init__(self) -> None:
        self.owner = "ada"

    def greet(self) -> str:
        return f"hi {self.owner}"


class Connection:
    """A host object the engine keeps opaque (not registered as a type)."""

    rhai_type_name = "Connection"


def engine_with_hosts(lines: list[str]) -> Engine:
    engine = Engine()
    engine.on_print(lines.append)
    engine.on_debug(lines.append)
    engine.register_type(Account)
    engine.register_module("paths", os.path)
    engine.register_module("tools", {"double": lambda x: x * 2})
    engine.register_fn("account", Account)
    engine.register_fn("connection", Connection)
    engine.register_fn("py_len", lambda: len)
    engine.register_fn("py_module", lambda: os)
    engine.register_fn("plain", object)
    return engine


CASES = [
    ("paths", "<module paths>"),
    ("tools", "<module tools>"),
    ("py_module()", "<module os>"),
    ("py_len()", "Fn(len)"),
    ("paths.join", "Fn(join)"),
    ("account().greet", "Fn(greet)"),
    ("account()", "<Account>"),
    ("connection()", "<Connection>"),
    ("plain()", "<object>"),
    ('Fn("abs")', "Fn(abs)"),
    ("[paths, account()]", "[<module paths>, <Account>]"),
    ("#{m: paths}", '#{"m": <module paths>}'),
]


@pytest.mark.parametrize(("expr", "text"), CASES)
def test_print_to_string_debug_and_interpolation_name_the_value(expr: str, text: str) -> None:
    lines: list[str] = []
    engine = engine_with_hosts(lines)
    script = f"let v = {expr}; print(v); debug(v); print(v.to_string()); print(`<${{v}}>`); print(to_debug(v));"
    engine.run(script)
    assert lines == [text, text, text, f"<{text}>", text]


def test_closures_print_as_function_pointers() -> None:
    lines: list[str] = []
    engine = engine_with_hosts(lines)
    engine.run("let y = 2; let c = |x| x + y; let f = |x| x; print(c); print(`${f}`); debug(c.curry(1))")
    assert all(line.startswith("Fn(") for line in lines), lines


def test_no_address_in_any_text() -> None:
    lines: list[str] = []
    engine = engine_with_hosts(lines)
    exprs = ", ".join(expr for expr, _ in CASES)
    engine.run(f"let all = [{exprs}]; print(all); debug(all); print(`${{all}}`);")
    engine.run('print("x" + account() + paths + py_len())')
    joined = "\n".join(lines)
    assert "0x" not in joined and "object at" not in joined, joined
