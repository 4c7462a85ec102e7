"""End-to-end smoke cases spanning the language, one line each."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine

CASES: list[tuple[str, Any]] = [
    ("1 + 2 * 3", 7),
    ("let x = 5; x", 5),
    ("let x = [1,2,3]; x[-1]", 3),
    ("`a${1+1}b`", "a2b"),
    ("let m = #{a: 1, b: #{c: 2}}; m.b.c", 2),
    ("let a = [1,2]; let b = a; b.push(3); a.len()", 2),
    ("let r = 0; for i in 0..10 { r += i } r", 45),
    ("let x = loop { break 42; }; x", 42),
    ("fn add(a, b) { a + b } add(1, 2)", 3),
    ("let y = 10; let f = |x| x + y; y = 20; f.call(1)", 21),
    ("fn inc() { this += 1; } let x = 5; x.inc(); x", 6),
    ("try { throw 42; } catch (e) { e + 1 }", 43),
    ("let obj = #{v: 1, inc: |n| this.v += n}; obj.inc(5); obj.v", 6),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_smoke(source: str, expected: Any) -> None:
    assert Engine().eval(source) == expected
