"""Anonymous functions and closures (Rhai Book: Anonymous Functions, Closures)."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine, RhaiRuntimeError

CASES: list[tuple[str, Any]] = [
    ("let f = |x| x * x; f.call(7)", 49),
    ("let f = || 42; f.call()", 42),
    ("let f = |x| { let y = x + 1; y * 2 }; f.call(1)", 4),
    ("let x = 1; let f = |y| x + y; f.call(2)", 3),
    ("let x = 1; let f = |y| x + y; x = 40; f.call(2)", 42),
    ("let x = 1; let f = || { x += 1; }; f.call(); f.call(); x", 3),
    ("let count = 0; let inc = || count += 1; inc.call(); inc.call(); count", 2),
    ("fn make(n) { |x| x + n } let add5 = make(5); add5.call(10)", 15),
    ("fn counter() { let c = 0; || { c += 1; c } } let f = counter(); f.call(); f.call(); f.call()", 3),
    (
        "fn counter() { let c = 0; || { c += 1; c } }"
        " let f = counter(); let g = counter(); f.call(); f.call(); g.call()",
        1,
    ),
    ("let fs = []; for i in 0..3 { fs.push(|| i) } fs.map(|f| f.call())", [2, 2, 2]),
    ("let fs = []; for i in 0..3 { let j = i; fs.push(|| j) } fs.map(|f| f.call())", [0, 1, 2]),
    ("let a = 1; let f = || { let b = 2; || a + b }; f.call().call()", 3),
    ("let x = 10; let f = |x| x * 2; f.call(3)", 6),
    ("let x = 1; let f = || { let x = 5; x }; f.call() + x", 6),
    ("let v = [1, 2]; let f = || v.len(); v.push(3); f.call()", 3),
    ("let total = 0; [1, 2, 3].for_each(|| total += this); total", 6),
    ("let k = 10; [1, 2].map(|x| x + k)", [11, 12]),
    ('let f = |x| if x > 0 { "pos" } else { "neg" }; [f.call(1), f.call(-1)]', ["pos", "neg"]),
    ("let f = |n| { let s = 0; for i in 0..n { s += i } s }; f.call(5)", 10),
    ("let compose = |f, g| |x| f.call(g.call(x)); let h = compose.call(|x| x + 1, |x| x * 2); h.call(5)", 11),
    ("let f = |x| this + x; let v = 40; v.call(f, 2)", 42),
    ("let f = |x| { this += x; }; let v = 40; v.call(f, 2); v", 42),
    # captured variables are shared both ways and outlive their scope
    ("let x = 1; let f = || x; x += 10; let y = f.call(); x = 0; y", 11),
    (
        "fn mk() { let v = []; [|| v.push(1), || v.len()] } let fs = mk(); fs[0].call(); fs[0].call(); fs[1].call()",
        2,
    ),
    ("let f; { let hidden = 7; f = || hidden * 2; } f.call()", 14),
    ('let s = "a"; let f = || { s += "b"; }; f.call(); f.call(); s', "abb"),
    ("let x = 1; let f = |x| x + 100; f.call(5) + x", 106),
    ("let n = 3; let f = || { let n = n * 2; n }; [f.call(), n]", [6, 3]),
    ("let a = 1; let f = || || || a; a = 9; f.call().call().call()", 9),
    ("fn apply(f, x) { f.call(x) } let k = 3; apply(|v| v * k, 5)", 15),
    ("let f = |x| x; type_of(f)", "Fn"),
    ('let f = || 1; f.name.starts_with("anon")', True),
    ("let add = |a, b| a + b; add.curry(1).call(2)", 3),
    ("let m = #{f: |x| x + 1}; m.f(1)", 2),
    ("let x = 5; let f = || is_shared(x); f.call()", True),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_closure(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("let f = |x| x; f.call()", "Function not found"),
        ("let f = |x| x; f.call(1, 2)", "Function not found"),
        ("let f = || later; let later = 1; f.call()", "Variable not found"),
        ("let fact = |n| if n < 2 { 1 } else { n * fact.call(n - 1) }; fact.call(3)", "Variable not found"),
    ],
)
def test_closure_error(source: str, message: str) -> None:
    with pytest.raises(RhaiRuntimeError, match=message):
        Engine().eval(source)
