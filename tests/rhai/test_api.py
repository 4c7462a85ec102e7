"""The Python-facing API: Engine, Scope, compiled programs, host functions and modules, callbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from horus.rhai import Engine, FnPtr, Program, RhaiRuntimeError, Scope


def test_eval_returns_python_values() -> None:
    engine = Engine()
    assert engine.eval("42") == 42
    assert engine.eval("4.5") == 4.5
    assert engine.eval("true") is True
    assert engine.eval("()") is None
    assert engine.eval("'c'") == "c" and type(engine.eval("'c'")) is str
    assert engine.eval('"s"') == "s"
    assert engine.eval("[1, [2, 'x']]") == [1, [2, "x"]]
    assert engine.eval("#{a: #{b: ['c']}}") == {"a": {"b": ["c"]}}
    assert isinstance(engine.eval("|x| x"), FnPtr)


def test_compile_once_run_many() -> None:
    engine = Engine()
    program = engine.compile("let n = base * 2; n + 1")
    assert isinstance(program, Program)
    assert "def __main__" in program.python
    assert engine.run(program, {"base": 1}) == 3
    assert engine.run(program, {"base": 10}) == 21


def test_dict_scope_is_readable_and_assignable() -> None:
    engine = Engine()
    scope: dict[str, Any] = {"x": 5}
    assert engine.eval("x = x + 1; x * 2", scope) == 12
    assert scope["x"] == 6


def test_scope_object_receives_top_level_lets() -> None:
    engine = Engine()
    scope = Scope({"a": 2})
    engine.run(engine.compile("let b = a * 10; let c = [b]; { let hidden = 1; } a = 3;"), scope)
    assert scope["a"] == 3
    assert scope["b"] == 20
    assert scope["c"] == [20]
    assert "hidden" not in scope
    assert engine.eval("b + a", scope) == 23


def test_scope_push_and_repr() -> None:
    scope = Scope().push("a", 1).push("b", [2])
    assert Engine().eval("a + b[0]", scope) == 3
    assert repr(scope) == "Scope({'a': 1, 'b': [2]})"
    assert len(scope) == 2 and sorted(scope) == ["a", "b"]


def test_scope_keeps_variables_across_runs_and_shadowing() -> None:
    engine = Engine()
    scope = Scope()
    engine.eval("let x = 1;", scope)
    engine.eval("let x = x + 1;", scope)
    assert scope.get("x") == 2
    assert scope.to_dict() == {"x": 2}


def test_scope_export_happens_even_on_error() -> None:
    engine = Engine()
    scope = Scope()
    with pytest.raises(RhaiRuntimeError):
        engine.eval("let done = 1; let y = 1 / 0;", scope)
    assert scope["done"] == 1
    assert "y" not in scope


def test_captured_top_level_variable_is_exported() -> None:
    scope = Scope()
    Engine().eval("let n = 1; let f = || n += 1; f.call(); f.call();", scope)
    assert scope["n"] == 3


def test_register_fn_and_overloads_by_arity() -> None:
    engine = Engine()
    engine.register_fn("add", lambda a, b: a + b)
    engine.register_fn("add", lambda a, b, c: a + b + c)
    assert engine.eval("add(1, 2)") == 3
    assert engine.eval("add(1, 2, 3)") == 6
    assert engine.eval("1.add(2)") == 3


def test_host_function_overrides_builtin_method_even_after_it_was_used() -> None:
    engine = Engine()
    assert engine.eval("let n = 0; for i in 0..5 { n += [1, 2].len() } n") == 10
    engine.register_fn("len", lambda x: 100)
    assert engine.eval("let n = 0; for i in 0..5 { n += [1, 2].len() } n") == 500


def test_register_fn_overrides_builtins() -> None:
    engine = Engine()
    engine.register_fn("abs", lambda x: "mine")
    assert engine.eval("abs(-1)") == "mine"


def test_host_function_results_are_converted() -> None:
    engine = Engine()
    engine.register_fn("pair", lambda: (1, "a"))
    engine.register_fn("table", lambda: {1: [2]})
    assert engine.eval("pair()") == [1, "a"]
    assert engine.eval("table()['1'][0]") == 2
    engine.register_fn("huge", lambda: 1 << 70)
    with pytest.raises(RhaiRuntimeError, match="overflow"):
        engine.eval("huge()")


def test_host_function_receives_function_pointer() -> None:
    engine = Engine()
    seen: list[Any] = []
    engine.register_fn("keep", seen.append)
    engine.eval("keep(|x| x + 1)")
    assert isinstance(seen[0], FnPtr)


class Files:
    """A stand-in host module with a public method and a private one."""

    root = "/data"

    def list_dir(self, path: str) -> list[str]:
        return [f"{path}/a", f"{path}/b"]

    def _secret(self) -> str:
        return "hidden"


def test_register_module_object_methods_and_namespace() -> None:
    engine = Engine()
    engine.register_module("os", Files())
    assert engine.eval('os.list_dir("/x")') == ["/x/a", "/x/b"]
    assert engine.eval('os::list_dir("/y")') == ["/y/a", "/y/b"]
    assert engine.eval("os.root") == "/data"
    assert engine.eval("type_of(os)") == "module"
    with pytest.raises(RhaiRuntimeError, match="not found"):
        engine.eval("os._secret()")
    with pytest.raises(RhaiRuntimeError, match="not found"):
        engine.eval("os.nothing()")
    with pytest.raises(RhaiRuntimeError, match="Module not found"):
        engine.eval("nope::f()")


def test_module_methods_named_like_mutating_methods() -> None:
    # `replace`, `pop`, `remove`… change a variable receiver in place; on a module they are plain calls.
    engine = Engine()
    engine.register_module("text", {"replace": lambda s, a, b: s.replace(a, b), "pop": lambda: 1})
    assert engine.eval('text.replace("a.b", ".", "/")') == "a/b"
    assert engine.eval("fn f() { text.pop() } f() + text.pop()") == 2
    assert engine.eval("type_of(text)") == "module"
    with pytest.raises(RhaiRuntimeError, match="Variable not found: text"):
        engine.eval("text = 1")


def test_import_binds_a_registered_module() -> None:
    engine = Engine()
    engine.register_module("fs", {"ls": lambda p: [p + "/a"], "sep": "/"})
    assert engine.eval('import "fs" as f; f::ls("x") + [f.sep]') == ["x/a", "/"]
    assert engine.eval('import "fs"; fs.ls("y")') == ["y/a"]
    with pytest.raises(RhaiRuntimeError, match="Module not found: nope"):
        engine.eval('import "nope" as n;')


def test_register_module_dict_and_module_in_functions() -> None:
    engine = Engine()
    engine.register_module("m", {"double": lambda x: x * 2, "k": 7})
    assert engine.eval("m::double(4) + m.k") == 15
    assert engine.eval("fn f() { m.double(1) } f()") == 2


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


def test_register_type_exposes_public_members() -> None:
    engine = Engine()
    engine.register_type(Point)
    engine.register_fn("point", Point)
    assert engine.eval("let p = point(3, -4); p.norm1()") == 7
    assert engine.eval("let p = point(1, 2); p.x = 10; p.x + p.y") == 12
    assert engine.eval("type_of(point(1, 2))") == "Point"
    with pytest.raises(RhaiRuntimeError):
        engine.eval("point(1, 2).__dict__")


def test_register_get_and_set() -> None:
    engine = Engine()
    engine.register_fn("point", Point)
    engine.register_get("sum", lambda p: p.x + p.y)
    assert engine.eval("point(1, 2).sum") == 3


def test_print_and_debug_callbacks() -> None:
    engine = Engine()
    printed: list[str] = []
    debugged: list[str] = []
    engine.on_print(printed.append).on_debug(debugged.append)
    engine.eval('print("hi"); print(42); print([1, "a"]); print(()); debug("hi"); debug(\'c\'); debug(1.0)')
    assert printed == ["hi", "42", '[1, "a"]', ""]
    assert debugged == ['"hi"', "'c'", "1.0"]


def test_timestamp_and_elapsed() -> None:
    engine = Engine()
    assert engine.eval("let t = timestamp(); t.elapsed >= 0.0") is True
    assert engine.eval("type_of(timestamp().elapsed)") == "f64"


def test_compile_cache_returns_same_program() -> None:
    engine = Engine()
    assert engine.compile("1 + 1") is engine.compile("1 + 1")


def test_program_source_is_python_not_a_tree_walker() -> None:
    program = Engine().compile("fn f(a) { a + 1 } let x = f(2); x")
    assert "def F_f_1(_d, _this, v_a_" in program.python
    compile(program.python, "check", "exec")


def test_run_accepts_source_text(tmp_path: Path) -> None:
    assert Engine().run("40 + 2") == 42


def test_function_pointer_returned_to_python_keeps_name() -> None:
    ptr = Engine().eval('Fn("abs")')
    assert isinstance(ptr, FnPtr)
    assert ptr.name == "abs"


def test_call_fn_runs_top_level_then_calls() -> None:
    engine = Engine()
    program = engine.compile("let base = 10; fn add(a, b) { a + b } fn make(n) { |x| x + n }")
    assert engine.call_fn(program, "add", 1, 2) == 3
    adder = engine.call_fn(program, "make", 5)
    assert isinstance(adder, FnPtr)
    assert engine.call_fn_ptr(program, adder, 10) == 15
    with pytest.raises(RhaiRuntimeError, match="Function not found"):
        engine.call_fn(program, "missing")


def test_timestamps_support_arithmetic_and_comparison() -> None:
    engine = Engine()
    assert engine.eval("let t = timestamp(); let u = t + 1.5; u - t") == 1.5
    assert engine.eval("let t = timestamp(); t < t + 1") is True
    assert engine.eval("let t = timestamp(); (t - 2).elapsed >= 2.0") is True


def test_concurrent_runs_in_threads() -> None:
    import sys
    import threading

    limit_before = sys.getrecursionlimit()
    engine = Engine(max_call_depth=200)
    program = engine.compile(
        "fn f(n) { if n == 0 { 0 } else { 1 + f(n - 1) } } let s = 0; for i in 0..50 { s += f(150) } s"
    )
    results: list[Any] = []

    def work() -> None:
        results.append(engine.run(program))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [7500] * 4
    assert sys.getrecursionlimit() == limit_before


def test_huge_float_literal_is_infinity() -> None:
    assert Engine().eval("1e999") == float("inf")
    assert Engine().eval("-1e999 < 0.0") is True
