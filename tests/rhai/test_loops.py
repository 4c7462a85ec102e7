"""while, loop, do, for, break/continue and loop expressions (Rhai Book: Loops)."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine, RhaiParseError, RhaiRuntimeError

CASES: list[tuple[str, Any]] = [
    # while
    ("let x = 0; while x < 10 { x += 1; } x", 10),
    ("let x = 10; while x > 0 { x -= 3; } x", -2),
    ("let x = 0; while false { x = 1; } x", 0),
    ("let x = 0; while true { x += 1; if x == 5 { break; } } x", 5),
    ("let s = 0; let i = 0; while i < 10 { i += 1; if i % 2 == 0 { continue; } s += i; } s", 25),
    ("let x = 0; let r = while x < 3 { x += 1; }; r", None),
    ("let x = 0; let r = while true { x += 1; if x > 2 { break x * 10; } }; r", 30),
    # loop
    ("let x = 0; loop { x += 1; if x >= 7 { break; } } x", 7),
    ("let x = loop { break 42; }; x", 42),
    ("let i = 0; let x = loop { i += 1; if i == 3 { break i; } }; x", 3),
    ("let n = 0; loop { n += 1; if n < 5 { continue; } break; } n", 5),
    ("let x = loop { break; }; x", None),
    # do
    ("let x = 0; do { x += 1; } while x < 5; x", 5),
    ("let x = 10; do { x += 1; } while x < 5; x", 11),
    ("let x = 0; do { x += 1; } until x == 3; x", 3),
    ("let x = 0; do { x += 1; if x == 2 { continue; } } while x < 4; x", 4),
    ('let x = 0; let r = do { x += 1; if x == 3 { break "found"; } } while x < 10; r', "found"),
    # for over ranges
    ("let s = 0; for i in 0..5 { s += i; } s", 10),
    ("let s = 0; for i in 0..=5 { s += i; } s", 15),
    ("let s = 0; for i in 5..0 { s += i; } s", 0),
    ("let s = 0; for i in -3..3 { s += i; } s", -3),
    ("let r = 2..4; let s = []; for i in r { s.push(i) } s", [2, 3]),
    ("let s = []; for i in range(0, 10, 4) { s.push(i) } s", [0, 4, 8]),
    ("let n = 3; let s = 0; for i in 0..n * 2 { s += 1 } s", 6),
    # for over arrays, strings, maps
    ("let s = 0; for x in [1, 2, 3] { s += x; } s", 6),
    ('let r = []; for (x, i) in ["a", "b"] { r.push(`${i}:${x}`) } r', ["0:a", "1:b"]),
    ('let r = []; for c in "hey" { r.push(c.to_upper()) } r', ["H", "E", "Y"]),
    ("let r = []; for k in #{z: 1, a: 2} { r.push(k) } r", ["a", "z"]),
    ("let m = #{a: 1, b: 2}; let s = 0; for k in m.keys() { s += m[k]; } s", 3),
    ("let m = #{a: 1, b: 2}; let s = 0; for v in m.values() { s += v; } s", 3),
    ("let n = 0; for b in 5 { if b { n += 1 } } n", 2),
    # break/continue in nested loops
    ("let c = 0; for i in 0..3 { for j in 0..3 { if j == 1 { break; } c += 1; } } c", 3),
    ("let c = 0; for i in 0..3 { for j in 0..3 { if j == 1 { continue; } c += 1; } } c", 6),
    ("let r = for x in [5, 6, 7] { if x == 6 { break x * 2; } }; r", 12),
    ("let r = for x in [5, 6, 7] { if x == 9 { break x; } }; r", None),
    ("let x = 0; for i in 0..10 { x = i; } x", 9),
    ("let i = 100; for i in 0..3 { } i", 100),
    ("fn f() { for i in 0..10 { if i == 4 { return i; } } -1 } f()", 4),
    ("fn f() { let i = 0; loop { i += 1; if i == 6 { return i * 2; } } } f()", 12),
    ('fn f() { while true { return "out"; } } f()', "out"),
    ("fn f() { for x in [1] { } } f()", None),
    ("fn f() { loop { break 5; } } f()", 5),
    ("let total = 0; for row in [[1, 2], [3, 4]] { for v in row { total += v; } } total", 10),
    ("let a = [1, 2, 3]; let s = 0; for (v, i) in a { s += v * i; } s", 8),
    ('let s = ""; for i in 0..3 { s += i; } s', "012"),
    ("let found = false; for x in [1, 2, 3] { if x == 2 { found = true; break; } } found", True),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_loop(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "source",
    ["break;", "continue;", "fn f() { break; }", "for in [1] {}", "for x [1] {}", "do { } 1", "while { }"],
)
def test_loop_parse_error(source: str) -> None:
    with pytest.raises(RhaiParseError):
        Engine().compile(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("for x in 1.5 { }", "iterable"),
        ("for x in () { }", "iterable"),
        ('for x in 0.."a" { }', "Range"),
        ("let x = 0; do { x += 1 } while 1;", "Boolean"),
    ],
)
def test_loop_runtime_error(source: str, message: str) -> None:
    with pytest.raises(RhaiRuntimeError, match=message):
        Engine().eval(source)
