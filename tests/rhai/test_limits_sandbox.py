"""Resource limits and the sandbox: scripts reach Python only through what the host registered."""

from __future__ import annotations

import time

import pytest

from horus.rhai import Engine, RhaiError, RhaiLimitError, RhaiMemoryError, RhaiRuntimeError


def test_max_operations_stops_infinite_loop() -> None:
    with pytest.raises(RhaiLimitError, match="Too many operations"):
        Engine(max_operations=10_000).eval("loop { }")


def test_max_operations_counts_function_calls() -> None:
    source = "fn f(n) { if n < 2 { n } else { f(n - 1) + f(n - 2) } } f(30)"
    with pytest.raises(RhaiLimitError, match="Too many operations"):
        Engine(max_operations=5_000).eval(source)


def test_max_operations_allows_small_scripts() -> None:
    assert Engine(max_operations=5_000).eval("let s = 0; for i in 0..100 { s += i } s") == 4950


@pytest.mark.parametrize(
    "source",
    ["while true { }", "do { } while true", "for i in 0..1000000000 { }", "let f = || { loop {} }; f.call()"],
)
def test_every_loop_kind_is_counted(source: str) -> None:
    with pytest.raises(RhaiLimitError):
        Engine(max_operations=2_000).eval(source)


def test_timeout_stops_a_long_script() -> None:
    start = time.monotonic()
    with pytest.raises(RhaiLimitError, match="timed out"):
        Engine(timeout=0.2).eval("let x = 0; loop { x += 1; }")
    assert time.monotonic() - start < 2.0


def test_absolute_deadline() -> None:
    engine = Engine(deadline=time.monotonic() + 0.1)
    with pytest.raises(RhaiLimitError, match="timed out"):
        engine.eval("fn f(n) { if n < 2 { n } else { f(n - 1) + f(n - 2) } } f(40)")


def test_call_depth_limit() -> None:
    with pytest.raises(RhaiLimitError, match="Stack overflow"):
        Engine(max_call_depth=50).eval("fn f(n) { f(n + 1) } f(0)")
    assert Engine(max_call_depth=50).eval("fn f(n) { if n == 0 { 0 } else { 1 + f(n - 1) } } f(40)") == 40


def test_deep_recursion_within_a_raised_limit() -> None:
    engine = Engine(max_call_depth=3000)
    assert engine.eval("fn f(n) { if n == 0 { 0 } else { 1 + f(n - 1) } } f(2500)") == 2500


def test_closure_recursion_depth_is_limited() -> None:
    with pytest.raises(RhaiLimitError):
        Engine(max_call_depth=30).eval("fn f(g) { g.call(g) } f(|h| f(h))")


def test_max_string_size() -> None:
    engine = Engine(max_string_size=100)
    with pytest.raises(RhaiLimitError, match="string"):
        engine.eval('let s = ""; loop { s += "abcd"; }')
    with pytest.raises(RhaiLimitError, match="string"):
        engine.eval('let s = "x"; let t = `${s}${s}`; loop { t = `${t}${t}`; }')
    assert engine.eval('"ok"') == "ok"


def test_max_array_size() -> None:
    engine = Engine(max_array_size=10)
    with pytest.raises(RhaiLimitError, match="array"):
        engine.eval("let a = []; for i in 0..100 { a.push(i); }")
    with pytest.raises(RhaiLimitError, match="array"):
        engine.eval("let a = []; a.pad(11, 0);")
    with pytest.raises(RhaiLimitError, match="array"):
        engine.eval("let a = [1]; loop { a += a; }")


def test_max_map_size() -> None:
    engine = Engine(max_map_size=3)
    with pytest.raises(RhaiLimitError, match="map"):
        engine.eval("let m = #{}; for i in 0..10 { m[`k${i}`] = i; }")
    assert engine.eval("let m = #{a: 1}; m.b = 2; m.len()") == 2


def test_limit_error_is_a_runtime_error_with_position() -> None:
    with pytest.raises(RhaiLimitError) as info:
        Engine(max_operations=100).eval("let x = 1;\nloop { x += 1; }")
    assert isinstance(info.value, RhaiRuntimeError)
    assert info.value.line == 2


SANDBOX_ESCAPES = [
    "__import__",
    '__import__("os")',
    "open",
    'open("/etc/passwd")',
    "eval",
    "exec",
    "globals",
    "_limit",
    "_call",
    "_FNS",
    "type",
    '"x".__class__',
    '"x".__class__.__mro__',
    "[].__class__",
    "(|x| x).func",
    "(|x| x).__code__",
    'Fn("__import__").call("os")',
    'Fn("print").func',
    'let f = Fn("F_x_0"); f.call()',
    "timestamp().t",
    "timestamp().__class__",
    'call("__import__", "os")',
    'os::system("true")',
    "sys",
    "1.__class__",
    "print.__globals__",
]


@pytest.mark.parametrize("source", SANDBOX_ESCAPES)
def test_scripts_cannot_reach_python(source: str) -> None:
    with pytest.raises(RhaiError):
        Engine().eval(source)


class Host:
    visible = 1
    _hidden = 2

    def ping(self) -> str:
        return "pong"

    def __repr__(self) -> str:
        raise AssertionError("scripts must not trigger repr of host objects")


def test_unregistered_host_objects_are_opaque() -> None:
    engine = Engine()
    engine.register_fn("make", Host)
    with pytest.raises(RhaiRuntimeError):
        engine.eval("make().ping()")
    with pytest.raises(RhaiRuntimeError):
        engine.eval("make().visible")
    assert engine.eval("type_of(make())") == "Host"
    assert engine.eval("`${make()}`") == "<Host>"


def test_registered_module_hides_private_and_dunder_names() -> None:
    engine = Engine()
    engine.register_module("h", Host())
    assert engine.eval("h.ping()") == "pong"
    assert engine.eval("h.visible") == 1
    for source in ("h._hidden", "h.__class__", "h.__init__()", "h::__repr__()", 'h["__dict__"]'):
        with pytest.raises(RhaiRuntimeError):
            engine.eval(source)


def test_map_properties_are_only_keys() -> None:
    assert Engine().eval("#{}.__class__") is None
    assert Engine().eval('#{"__class__": 1}.__class__') == 1


def test_generated_code_has_no_builtins() -> None:
    program = Engine().compile("1")
    assert "import" not in program.python
    assert "__builtins__" not in program.python


def test_program_without_counting_is_recompiled_when_limits_appear() -> None:
    engine = Engine()
    program = engine.compile("loop { }")
    assert not program.counts_ops
    assert "next(_C)" not in program.python
    engine.max_operations = 1_000
    with pytest.raises(RhaiLimitError):
        engine.run(program)


def test_unlimited_engine_still_limits_call_depth() -> None:
    with pytest.raises(RhaiLimitError, match="Stack overflow"):
        Engine().eval("fn f() { f() } f()")


def _exhausted() -> None:
    raise MemoryError


@pytest.mark.parametrize(
    "source",
    ["hog()", "try { hog() } catch (e) { 1 }", "fn f() { hog() } try { f() } catch { 2 }"],
)
def test_running_out_of_memory_is_a_limit_no_script_can_catch(source: str) -> None:
    engine = Engine().register_fn("hog", _exhausted)
    with pytest.raises(RhaiMemoryError, match="Out of memory"):
        engine.run(engine.compile(source))
