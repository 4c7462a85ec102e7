"""Finer points of Rhai semantics: by-reference native calls, open ranges, control flow in expressions."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine

CASES: list[tuple[str, Any]] = [
    # native functions receive their first argument by reference, even in function-call style
    ("let y = [1, 2, 3]; pad(y, 5, 42); len(y)", 5),
    ("let y = [1, 2, 3]; push(y, 4); y", [1, 2, 3, 4]),
    ('let s = "ab"; append(s, "c"); s', "abc"),
    ('let s = "abc"; pop(s); s', "ab"),
    ("let m = #{a: [1]}; push(m.a, 2); m.a", [1, 2]),
    ("fn f(a) { a.push(9); a } let x = [1]; f(x); x", [1]),
    ("let x = [1]; let y = [x]; y[0].push(2); x", [1]),
    # open-ended and negative-end ranges on strings
    ('let y = "hello"; y[..]', "hello"),
    ('let y = "hello"; y[..2]', "he"),
    ('let y = "hello"; y[2..]', "llo"),
    ('let y = "hello"; y[..=1]', "he"),
    ('let y = "hello"; y[1..-1]', "ell"),
    ('let y = "hello"; y[1..=-1]', "ello"),
    ('let y = "hello"; y[1..3] = "iii"; y', "hiiilo"),
    ('let y = "hello"; y[..] = "x"; y', "x"),
    ("let r = ..3; [r.start, r.end]", [0, 3]),
    ("let n = 0; for i in ..4 { n += i } n", 6),
    ("let s = 0; for i in 5.. { if i > 7 { break; } s += i; } s", 18),
    ('switch 1..3 { 1..3 => "same range", _ => "other" }', "same range"),
    # control flow inside expressions
    ("let r = for n in 0..10 { let x = if n <= 5 { n }; x ?? break 42; }; r", 42),
    ("fn f(x) { let y = x ?? return -1; y * 2 } [f(()), f(3)]", [-1, 6]),
    ("let s = 0; for i in 0..5 { let v = if i % 2 == 0 { i }; s += v ?? continue; } s", 6),
    ('fn f(x) { x ?? throw "missing" } try { f(()) } catch (e) { e }', "missing"),
    # closures with a block body end at the brace
    ("|y, z| { y * z }.curry(6).call(7)", 42),
    (
        "let x = 8; let res = |y, z| { let w = 12; return (|| x + y + z + w).call(); }"
        ".curry(15).call(2); res + (|| x - 3).call()",
        42,
    ),
    # a line break right after the opening back-tick is dropped
    ("`\nline`", "line"),
    ("`\r\nline`", "line"),
    # functions named by strings act as predicates
    ('fn is_two(x) { x == 2 } [1, 2, 3, 2].index_of("is_two")', 1),
    ('fn is_two(x) { x == 2 } [1, 2, 3, 2].index_of("is_two", 2)', 3),
    # floats compare with an epsilon (Rhai Book: Floating-point Comparison)
    ("0.1 + 0.2 == 0.3", True),
    ("0.1 + 0.2 != 0.3", False),
    ("0 < 1e-16", False),
    ("0 < 1e-15", True),
    ("1e-19 < 1e-18", True),
    ("0.00000000000000000001 < 0.00000000000000000001000000000000001", True),
    ("0.00000000000000000001 < 0.000000000000000000010000000000000001", False),
    ("let x = 0.; let y = 1.; x < y", True),
    ("type_of(2.)", "f64"),
    ("1.0 / 0.0 > 1e308", True),
    # shared (captured) variables and typed-method introspection
    ("let a = 41; let f = |x| { a += x }; is_shared(a)", True),
    ("let a = 41; a.is_shared()", False),
    ('fn int.twice() { this * 2 } is_def_fn("int", "twice", 0)', True),
    ('fn int.twice() { this * 2 } is_def_fn("string", "twice", 0)', False),
    # for_each binds the element to `this` and passes the index
    ("let x = [1, 2, 3]; x.for_each(|i| this += i); x[2]", 5),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_semantics(source: str, expected: Any) -> None:
    assert Engine().eval(source) == expected
