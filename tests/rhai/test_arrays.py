"""Arrays (Rhai Book: Arrays): literals, indexing, value semantics and the array package."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine, RhaiRuntimeError

CASES: list[tuple[str, Any]] = [
    ("let a = [1, 2, 3]; a[0]", 1),
    ("let a = [1, 2, 3]; a[-1]", 3),
    ("let a = [1, 2, 3]; a[-3]", 1),
    ("let a = [1, [2, [3]]]; a[1][1][0]", 3),
    ("let a = [1, 2, 3]; a[1] = 20; a", [1, 20, 3]),
    ("let a = [1, 2, 3]; a[-1] = 30; a", [1, 2, 30]),
    ("[1, 'a', \"b\", 2.5, true, ()]", [1, "a", "b", 2.5, True, None]),
    ("let a = [1, 2, 3]; a.len()", 3),
    ("let a = [1, 2, 3]; a.len", 3),
    ("[].is_empty()", True),
    ("[1].is_empty", False),
    ("let a = [1]; a.push(2); a", [1, 2]),
    ("let a = [1]; a.push([2]); a", [1, [2]]),
    ("let a = [1]; a.append([2, 3]); a", [1, 2, 3]),
    ("let a = [1, 3]; a.insert(1, 2); a", [1, 2, 3]),
    ("let a = [1, 2]; a.insert(-1, 9); a", [1, 9, 2]),
    ("let a = [1, 2]; a.insert(10, 9); a", [1, 2, 9]),
    ("let a = [1, 2, 3]; a.pop()", 3),
    ("let a = [1, 2, 3]; a.pop(); a", [1, 2]),
    ("let a = []; a.pop()", None),
    ("let a = [1, 2, 3]; a.shift()", 1),
    ("let a = [1, 2, 3]; a.shift(); a", [2, 3]),
    ("let a = [1, 2, 3]; a.remove(1)", 2),
    ("let a = [1, 2, 3]; a.remove(-1); a", [1, 2]),
    ("let a = [1, 2, 3]; a.remove(9)", None),
    ("let a = [1, 2, 3]; a.reverse(); a", [3, 2, 1]),
    ("let a = [1]; a.pad(3, 0); a", [1, 0, 0]),
    ("let a = [1, 2, 3]; a.clear(); a", []),
    ("let a = [1, 2, 3, 4]; a.truncate(2); a", [1, 2]),
    ("let a = [1, 2, 3, 4]; a.chop(2); a", [3, 4]),
    ("let a = [1, 2, 3, 4]; let b = a.split(1); [a, b]", [[1], [2, 3, 4]]),
    ("[1, 2, 3, 4].extract(1, 2)", [2, 3]),
    ("[1, 2, 3, 4].extract(2)", [3, 4]),
    ("[1, 2, 3, 4].extract(1..3)", [2, 3]),
    ("[1, 2, 3, 4].extract(-2)", [3, 4]),
    ("[1, 2, 3].get(1)", 2),
    ("[1, 2, 3].get(-1)", 3),
    ("[1, 2, 3].get(5)", None),
    ("let a = [1, 2, 3]; a.set(0, 9); a", [9, 2, 3]),
    ("[1, 2, 3].contains(2)", True),
    ('[1, 2, 3].contains("2")', False),
    ("[1, 2, 3].index_of(3)", 2),
    ("[1, 2, 3].index_of(4)", -1),
    ("[1, 2, 3, 2].index_of(2, 2)", 3),
    ("[1, 2, 3].index_of(|x| x > 1)", 1),
    ("[1, 2, 3].find(|x| x > 1)", 2),
    ("[1, 2, 3].find(|x| x > 5)", None),
    ("[1, 2, 3].find_map(|x| if x > 1 { x * 10 })", 20),
    ("[1, 2, 3].map(|x| x * 2)", [2, 4, 6]),
    ("[1, 2, 3].map(|x, i| x * i)", [0, 2, 6]),
    ("[1, 2, 3].map(|| this + 1)", [2, 3, 4]),
    ("[1, 2, 3, 4].filter(|x| x % 2 == 0)", [2, 4]),
    ("[1, 2, 3, 4].filter(|x, i| i < 2)", [1, 2]),
    ("[1, 2, 3].reduce(|sum, x| sum + x, 0)", 6),
    ("[1, 2, 3].reduce(|sum, x| sum + x, 10)", 16),
    ("[1, 2, 3].reduce(|sum, x| (sum ?? 0) + x)", 6),
    ('["a", "b"].reduce_rev(|acc, x| acc + x, "")', "ba"),
    ("[1, 2, 3].some(|x| x > 2)", True),
    ("[1, 2, 3].all(|x| x > 2)", False),
    ("[1, 2, 3].all(|x| x > 0)", True),
    ("[1, 2].zip([3, 4], |a, b| a + b)", [4, 6]),
    ("let a = [3, 1, 2]; a.sort(); a", [1, 2, 3]),
    ('let a = ["b", "c", "a"]; a.sort(); a', ["a", "b", "c"]),
    ("let a = [3, 1, 2]; a.sort_desc(); a", [3, 2, 1]),
    ("let a = [3, 1, 2]; a.sort(|x, y| y - x); a", [3, 2, 1]),
    ("let a = [3, 1, 2]; a.sort_by(|x, y| x - y); a", [1, 2, 3]),
    ("let a = [3, 1, 2]; let b = a.order(); [a, b]", [[3, 1, 2], [1, 2, 3]]),
    ("[3, 1, 2].order_desc()", [3, 2, 1]),
    ("[3, 1, 2].order_by(|x, y| y - x)", [3, 2, 1]),
    ("let a = [1, 1, 2, 2, 1]; a.dedup(); a", [1, 2, 1]),
    ("let a = [1, 2, 3, 4]; let r = a.drain(|x| x % 2 == 0); [a, r]", [[1, 3], [2, 4]]),
    ("let a = [1, 2, 3, 4]; let r = a.drain(1, 2); [a, r]", [[1, 4], [2, 3]]),
    ("let a = [1, 2, 3, 4]; let r = a.drain(1..3); [a, r]", [[1, 4], [2, 3]]),
    ("let a = [1, 2, 3, 4]; let r = a.retain(|x| x > 2); [a, r]", [[3, 4], [1, 2]]),
    ("let a = [1, 2, 3, 4]; a.retain(1, 2); a", [2, 3]),
    ("let a = [1, 2, 3, 4]; a.splice(1, 2, [9, 9, 9]); a", [1, 9, 9, 9, 4]),
    ("let a = [1, 2, 3, 4]; a.splice(1..3, []); a", [1, 4]),
    ("let a = [1, 2, 3]; a.for_each(|| this *= 2); a", [2, 4, 6]),
    ("let a = [1, 2, 3]; let s = 0; a.for_each(|| s += this); s", 6),
    ("let a = [1, 2, 3]; a.for_each(|i| this += i); a", [1, 3, 5]),
    ("[1, 2] + [3]", [1, 2, 3]),
    ("let a = [1, 2]; a += [3]; a", [1, 2, 3]),
    ("let a = [1, 2]; a += 3; a", [1, 2, 3]),
    ("[1, 2] == [1, 2]", True),
    ("[[1, 2], [3]] == [[1, 2], [3]]", True),
    ("[1, 2] != [1, 2, 3]", True),
    ("range(0, 10, 3)", [0, 3, 6, 9]),
    ("range(10, 0, -4)", [10, 6, 2]),
    ("let s = 0; for x in range(0, 5) { s += x } s", 10),
    ("let a = []; a.pad(3, [0]); a[0].push(1); a", [[0, 1], [0], [0]]),
    # value semantics
    ("let a = [1, 2]; let b = a; b.push(3); a", [1, 2]),
    ("let a = [1, 2]; let b = a; b[0] = 9; a", [1, 2]),
    ("let a = [[1]]; let b = a; b[0].push(2); a", [[1]]),
    ("let a = [[1]]; let b = a[0]; b.push(2); a", [[1]]),
    ("fn f(x) { x.push(9); x.len() } let a = [1]; f(a); a", [1]),
    ("let a = [1]; let m = #{arr: a}; m.arr.push(2); a", [1]),
    ("let a = [1]; let b = [a, a]; b[0].push(2); b", [[1, 2], [1]]),
    ("let a = [1, 2, 3]; for x in a { a.push(x) } a", [1, 2, 3, 1, 2, 3]),
    ("let a = [[1], [2]]; for x in a { x.push(0) } a", [[1], [2]]),
    ("let x = [1]; x.push(x); x", [1, [1]]),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_array(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


ERRORS: list[tuple[str, str]] = [
    ("let a = [1, 2]; a[2]", "out of bounds"),
    ("let a = [1, 2]; a[-3]", "out of bounds"),
    ("let a = [1, 2]; a[5] = 1;", "out of bounds"),
    ('let a = [1]; a["x"]', "integer"),
    ("[1].map(42)", "Function"),
    ("[1].filter(|x| 1)", "Boolean"),
    ("[[1], 2].sort()", "sort"),
    ("[1, 2].sort(|a, b| true)", "integer"),
]


@pytest.mark.parametrize(("source", "message"), ERRORS)
def test_array_error(source: str, message: str) -> None:
    with pytest.raises(RhaiRuntimeError, match=message):
        Engine().eval(source)


VALUE_SEMANTICS: list[tuple[str, Any]] = [
    ("fn get() { this.items } let o = #{items: [1]}; let x = o.get(); x.push(2); o.items", [1]),
    ("let v = [1]; let f = || v; let a = f.call(); a.push(2); v", [1]),
    ("let a = [[1]]; let x = a.get(0); x.push(2); a", [[1]]),
    ("let a = [[1]]; let x = a.find(|v| true); x.push(2); a", [[1]]),
    ('let m = #{k: [1]}; let x = m.get("k"); x.push(2); m.k', [1]),
    ("let a = [1]; let b = { a }; b.push(2); a", [1]),
    ("let a = [1]; let b = if true { a } else { [] }; b.push(2); a", [1]),
    ("let a = [1]; let b = loop { break a; }; b.push(2); a", [1]),
    ("let m = #{a: [1]}; let b = m.a; b.push(2); m.a", [1]),
]


@pytest.mark.parametrize(("source", "expected"), VALUE_SEMANTICS)
def test_value_semantics(source: str, expected: Any) -> None:
    assert Engine().eval(source) == expected
