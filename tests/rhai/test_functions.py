"""Functions, overloading, `this`, function pointers and currying (Rhai Book: Functions)."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine, RhaiRuntimeError

CASES: list[tuple[str, Any]] = [
    # definitions and calls
    ("fn add(x, y) { x + y } add(40, 2)", 42),
    ("fn f() { 42 } f()", 42),
    ("fn f() { } f()", None),
    ("fn f() { return 1; 2 } f()", 1),
    ("fn f() { return; } f()", None),
    ("fn f(x) { if x { return 1; } 2 } f(true) + f(false)", 3),
    ("let r = f(2); fn f(x) { x * 3 } r", 6),
    ("fn f(x) { x * 2 } fn g(x) { f(x) + 1 } g(5)", 11),
    ("fn fact(n) { if n <= 1 { 1 } else { n * fact(n - 1) } } fact(20)", 2432902008176640000),
    ("fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } } fib(20)", 6765),
    (
        "fn even(n) { if n == 0 { true } else { odd(n - 1) } }"
        " fn odd(n) { if n == 0 { false } else { even(n - 1) } } even(10)",
        True,
    ),
    ("fn f(x) { let y = x * 2; y + 1 } f(3)", 7),
    ("fn f(x) { x = x + 1; x } let a = 1; f(a); a", 1),
    ("fn f(x) { x.push(1); x } let a = []; f(a).len() + a.len()", 1),
    ("fn f(x) { let r = []; for i in 0..x { r.push(i) } r } f(3)", [0, 1, 2]),
    ("fn f(n) { let s = 0; while n > 0 { s += n; n -= 1; } s } f(4)", 10),
    ("fn f(a, b, c, d, e) { a + b + c + d + e } f(1, 2, 3, 4, 5)", 15),
    # overloading by arity
    ("fn f() { 0 } fn f(a) { 1 } fn f(a, b) { 2 } f() + f(1) * 10 + f(1, 2) * 100", 210),
    ("fn len(x) { 99 } len([1])", 99),
    ("fn abs(x) { 1 } abs(-5)", 1),
    # method-call style and `this`
    ("fn double() { this * 2 } 21.double()", 42),
    ("fn me() { this } ().me()", None),
    ("let n = 0; for i in 0..3 { n += [1].len() } fn len() { 10 } n", 30),
    ('let r = []; for x in [[1], "ab", [1, 2]] { r.push(x.len()) } r', [1, 2, 2]),
    ('fn grow() { append(this, "!"); 1 } let s = "hi"; let r = s.grow(); [s, r]', ["hi!", 1]),
    (
        "fn g(x) { if x { return 5; } this += 1; 7 } let n = 1; let a = n.g(true); let b = n.g(false); [n, a, b]",
        [2, 5, 7],
    ),
    ("fn inc() { this += 1; } let x = 41; x.inc(); x", 42),
    ("fn change() { this = 42; } let x = 500; x.change(); x", 42),
    ("fn add_n(n) { this += n; } let x = 1; x.add_n(10); x", 11),
    ("fn push2() { this.push(2); } let a = [1]; a.push2(); a", [1, 2]),
    ("fn set_x(v) { this.x = v; } let m = #{}; m.set_x(3); m", {"x": 3}),
    ('fn grow() { this += "!"; } let s = "hi"; s.grow(); s', "hi!"),
    ("fn inc() { this += 1; } let m = #{n: 1}; m.n.inc(); m.n", 2),
    ("fn inc() { this += 1; } let a = [5]; a[0].inc(); a", [6]),
    ("fn inc() { this += 1; this } let x = 1; x.inc()", 2),
    ("fn inc() { this += 1; } fn inc2() { this.inc(); this.inc(); } let x = 0; x.inc2(); x", 2),
    ("fn area() { this.w * this.h } let r = #{w: 2, h: 3}; r.area()", 6),
    ("fn int.twice() { this * 2 } 4.twice()", 8),
    ('fn string.twice() { this + this } "ab".twice()', "abab"),
    ('fn int.kind() { "int" } fn string.kind() { "str" } [1.kind(), "x".kind()]', ["int", "str"]),
    ("fn int.bump() { this += 1; } let x = 1; x.bump(); x", 2),
    # function pointers
    ('fn foo(x) { 41 + x } let f = Fn("foo"); f.call(1)', 42),
    ("fn foo(x) { 41 + x } let f = foo; f.call(1)", 42),
    ('fn foo(x) { 41 + x } let f = Fn("foo"); call(f, 1)', 42),
    ('fn foo(x) { 41 + x } Fn("foo").name', "foo"),
    ('let f = Fn("len"); f.call("hello")', 5),
    ('let f = Fn("abs"); f.call(-3)', 3),
    ('fn a() { 1 } fn b() { 2 } let fs = [Fn("a"), Fn("b")]; fs[1].call()', 2),
    ('fn add(x) { this += x; } let f = Fn("add"); let x = 41; x.call(f, 1); x', 42),
    ("let f = |x| x + 1; f.is_anonymous", True),
    ('Fn("abs").is_anonymous', False),
    ("let f = |x| x * 2; f(21)", 42),
    ('let f = Fn("abs"); `${f}`', "Fn(abs)"),
    # currying
    ('fn add(x, y) { x + y } let f = Fn("add").curry(40); f.call(2)', 42),
    ("let f = |a, b, c| a + b + c; let g = f.curry(1).curry(2); g.call(3)", 6),
    ("let f = |a, b| a * b; curry(f, 6).call(7)", 42),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_function(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


ERRORS: list[tuple[str, str]] = [
    ("fn f(x) { x } f()", "Function not found"),
    ("fn f(x) { x } f(1, 2)", "Function not found"),
    ("let x = 1; fn f() { x } f()", "Variable not found"),
    ("no_such_fn(1)", "Function not found: no_such_fn \\(i64\\)"),
    ('Fn("nope").call(1)', "Function not found"),
    ("let f = 5; f.call()", "Function not found"),
    ('Fn("1abc")', "Invalid function name"),
    ('fn int.twice() { this * 2 } "x".twice()', "Function not found"),
    ("fn f() { this } f()", "Unbound 'this'"),
    ("this", "Unbound 'this'"),
    ("let g = || this; g.call()", "Unbound 'this'"),
]


@pytest.mark.parametrize(("source", "message"), ERRORS)
def test_function_error(source: str, message: str) -> None:
    with pytest.raises(RhaiRuntimeError, match=message):
        Engine().eval(source)
