"""throw / try / catch and how errors report their position (Rhai Book: Exceptions)."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import (
    Engine,
    RhaiError,
    RhaiLimitError,
    RhaiParseError,
    RhaiRuntimeError,
    RhaiThrow,
)

CASES: list[tuple[str, Any]] = [
    ("try { throw 42; } catch (e) { e }", 42),
    ('try { throw "oops"; } catch (e) { e }', "oops"),
    ("try { throw #{code: 7}; } catch (e) { e.code }", 7),
    ("try { throw [1, 2]; } catch (e) { e.len() }", 2),
    ("try { throw; } catch (e) { e }", None),
    ("try { 1 } catch { 2 }", 1),
    ("try { throw 1; } catch { 2 }", 2),
    ("let x = 0; try { x = 1; throw 5; x = 2; } catch { } x", 1),
    ('fn f() { throw "deep"; } try { f() } catch (e) { `caught ${e}` }', "caught deep"),
    ("fn f(n) { if n == 0 { throw n; } f(n - 1) } try { f(5) } catch (e) { e }", 0),
    ("try { try { throw 1; } catch (e) { throw e + 1; } } catch (e) { e * 10 }", 20),
    ("try { try { throw 3; } catch { throw; } } catch (e) { e }", 3),
    ("try { 1 / 0 } catch (e) { type_of(e) }", "map"),
    ("try { 1 / 0 } catch (e) { e.message }", "Division by zero: 1 / 0"),
    ("try { 1 / 0 } catch (e) { e.error }", "ErrorArithmetic"),
    ("try { nope() } catch (e) { e.error }", "ErrorFunctionNotFound"),
    ("try { [1][3] } catch (e) { e.error }", "ErrorArrayBounds"),
    ("try { 1 / 0 } catch (e) { e.keys() }", ["error", "line", "message", "position"]),
    ('try { [1][5] } catch (e) { e.message.contains("out of bounds") }', True),
    ("try { no_fn() } catch (e) { e.message }", "Function not found: no_fn ()"),
    ("try { let a = undefined_var; } catch (e) { e.message }", "Variable not found: undefined_var"),
    ("try {\n  1 + true\n} catch (e) { e.line }", 2),
    ('try { 9223372036854775807 + 1 } catch { "overflow" }', "overflow"),
    (
        "let r = []; for i in 0..4 { try { if i % 2 == 0 { throw i; } r.push(i); } catch (e) { r.push(-e); } } r",
        [0, 1, -2, 3],
    ),
    ("let r = 0; for i in 0..5 { try { if i == 3 { break; } r += 1; } catch { } } r", 3),
    ("let r = 0; for i in 0..5 { try { if i == 3 { continue; } r += 1; } catch { } } r", 4),
    ("fn f() { try { return 1; } catch { return 2; } } f()", 1),
    ("let e = 5; try { throw 1; } catch (e) { } e", 5),
    ("let v = try { throw 10; } catch (x) { x + 1 }; v", 11),
    ('let f = || throw "from closure"; try { f.call() } catch (e) { e }', "from closure"),
    ("try { [1].map(|x| throw x * 9) } catch (e) { e }", 9),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_try_catch(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("throw 42;", 42),
        ('throw "x";', "x"),
        ("throw;", None),
        ("throw [1, 'a'];", [1, "a"]),
        ("throw #{a: 1};", {"a": 1}),
    ],
)
def test_uncaught_throw_carries_value(source: str, value: Any) -> None:
    with pytest.raises(RhaiThrow) as info:
        Engine().eval(source)
    assert info.value.value == value
    assert isinstance(info.value, RhaiRuntimeError)


def test_runtime_error_position_and_caret() -> None:
    source = 'let a = 1;\nlet b = a + "x" * 2;\n'
    with pytest.raises(RhaiRuntimeError) as info:
        Engine().eval(source)
    err = info.value
    assert (err.line, err.column) == (2, 17)
    lines = str(err).splitlines()
    assert lines[0].startswith("Function not found: * (string, i64)")
    assert lines[1] == 'let b = a + "x" * 2;'
    assert lines[2] == " " * 16 + "^"


def test_error_inside_function_points_into_the_function() -> None:
    source = "fn f(x) {\n    x[10]\n}\nf([1])"
    with pytest.raises(RhaiRuntimeError) as info:
        Engine().eval(source)
    assert info.value.line == 2
    assert "out of bounds" in str(info.value)


def test_parse_error_position_and_caret() -> None:
    with pytest.raises(RhaiParseError) as info:
        Engine().compile("let x = 1;\nlet y = (2 + ;")
    err = info.value
    assert (err.line, err.column) == (2, 14)
    assert str(err).splitlines()[-1] == " " * 13 + "^"


def test_throw_position() -> None:
    with pytest.raises(RhaiThrow) as info:
        Engine().eval("let a = 1;\n\n  throw a;")
    assert (info.value.line, info.value.column) == (3, 3)
    assert str(info.value).startswith("Runtime error: 1")


def test_all_errors_share_the_base_class() -> None:
    for source in ("let", "throw 1", "1/0"):
        with pytest.raises(RhaiError):
            Engine(max_operations=100).eval(source)
    assert issubclass(RhaiLimitError, RhaiError)


def test_limit_errors_are_not_catchable() -> None:
    engine = Engine(max_operations=500)
    with pytest.raises(RhaiLimitError):
        engine.eval("try { loop { } } catch { 1 }")


def test_stack_overflow_is_not_catchable() -> None:
    with pytest.raises(RhaiLimitError):
        Engine(max_call_depth=20).eval("fn f(n) { f(n + 1) } try { f(0) } catch { 0 }")


def test_host_function_exception_is_catchable() -> None:
    engine = Engine()

    def boom() -> None:
        raise ValueError("bad thing")

    engine.register_fn("boom", boom)
    assert engine.eval("try { boom() } catch (e) { e.message }") == "Error in function 'boom': bad thing"
    with pytest.raises(RhaiRuntimeError, match="bad thing"):
        engine.eval("boom()")
