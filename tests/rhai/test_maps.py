"""Object maps (Rhai Book: Object Maps), property access and the map package."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine, RhaiRuntimeError

CASES: list[tuple[str, Any]] = [
    ("let m = #{a: 1, b: 2}; m.a + m.b", 3),
    ('let m = #{a: 1}; m["a"]', 1),
    ('let m = #{"with space": 1}; m["with space"]', 1),
    ("let m = #{a: 1}; m.b", None),
    ('let m = #{a: 1}; m["b"]', None),
    ("let m = #{a: 1}; m.b = 2; m", {"a": 1, "b": 2}),
    ('let m = #{a: 1}; m["b"] = 2; m.b', 2),
    ("let m = #{a: #{b: #{c: 1}}}; m.a.b.c", 1),
    ("let m = #{a: #{b: 1}}; m.a.b = 5; m", {"a": {"b": 5}}),
    ("let m = #{a: [1, 2]}; m.a[1]", 2),
    ("let m = #{a: [1, 2]}; m.a.push(3); m.a", [1, 2, 3]),
    ("let m = #{a: [#{b: 1}]}; m.a[0].b = 7; m", {"a": [{"b": 7}]}),
    ("let m = #{a: 1, b: 2}; m.len()", 2),
    ("#{}.is_empty()", True),
    ("let m = #{b: 2, a: 1, c: 3}; m.keys()", ["a", "b", "c"]),
    ("let m = #{b: 2, a: 1}; m.values()", [1, 2]),
    ('let m = #{a: 1}; m.contains("a")', True),
    ('let m = #{a: 1}; "a" in m', True),
    ('let m = #{a: 1}; m.get("a")', 1),
    ('let m = #{a: 1}; m.get("z")', None),
    ('let m = #{}; m.set("a", 5); m', {"a": 5}),
    ('let m = #{a: 1, b: 2}; m.remove("a")', 1),
    ('let m = #{a: 1, b: 2}; m.remove("a"); m', {"b": 2}),
    ('let m = #{a: 1}; m.remove("z")', None),
    ("let m = #{a: 1}; m.clear(); m", {}),
    ("let m = #{a: 1}; m.mixin(#{b: 2, a: 3}); m", {"a": 3, "b": 2}),
    ("let m = #{a: 1}; m.fill_with(#{b: 2, a: 3}); m", {"a": 1, "b": 2}),
    ("let m = #{a: 1}; m += #{b: 2}; m", {"a": 1, "b": 2}),
    ("#{a: 1} + #{b: 2}", {"a": 1, "b": 2}),
    ("let m = #{a: 1, b: 2, c: 3}; m.filter(|k, v| v > 1)", {"b": 2, "c": 3}),
    ('let m = #{a: 1, b: 2}; let r = m.drain(|k, v| k == "a"); [m, r]', [{"b": 2}, {"a": 1}]),
    ("let m = #{a: 1, b: 2}; m.retain(|k, v| v > 1); m", {"b": 2}),
    ('#{a: 1, b: [1, 2], c: "x", d: ()}.to_json()', '{"a":1,"b":[1,2],"c":"x","d":null}'),
    ('parse_json("{\\"a\\": [1, 2.5, null, true]}")', {"a": [1, 2.5, None, True]}),
    ("let m = #{a: 1}; let n = m; n.a = 2; m.a", 1),
    ("let m = #{a: #{b: 1}}; let n = m.a; n.b = 2; m.a.b", 1),
    ("fn f(m) { m.x = 1; } let m = #{}; f(m); m", {}),
    ("let r = []; for k in #{b: 1, a: 2} { r.push(k) } r", ["a", "b"]),
    ("let m = #{a: 1}; m.a ?? 5", 1),
    ("let m = #{a: 1}; m.z ?? 5", 5),
    ("let m = #{len: 7}; m.len", 7),
    ("let m = #{a: 1}; m.len()", 1),
    ('`${#{b: 1, a: "x"}}`', '#{"a": "x", "b": 1}'),
    ("#{a: 1} == #{a: 1.0}", True),
    ("type_of(#{a: 1}.a)", "i64"),
    # object-oriented style with function pointers as properties
    ("let o = #{n: 1, inc: |d| this.n += d}; o.inc(5); o.n", 6),
    ("let o = #{n: 1, get: || this.n * 10}; o.get()", 10),
    ("let o = #{v: [1], add: |x| this.v.push(x)}; o.add(2); o.v", [1, 2]),
    ("fn make() { #{n: 0, bump: || { this.n += 1; this.n }} } let o = make(); o.bump(); o.bump()", 2),
    ("let o = #{f: |x| x * 2}; o.f(4)", 8),
    ("let o = #{f: |x| x * 2}; o.f.call(5)", 10),
    ('let o = #{name: "obj", hello: || `hi ${this.name}`}; o.hello()', "hi obj"),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_map(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


ERRORS: list[tuple[str, str]] = [
    ("let m = #{a: 1}; m[1]", "string"),
    ("let m = #{a: 1}; m.a.b", "Property not found"),
    ("let m = #{a: 1}; m.nope()", "Function not found"),
    ("let x = 1; x.y = 2;", "Cannot set property"),
    ("#{a: 1.0 / 0.0}.to_json()", "JSON"),
    ('parse_json("{oops")', "JSON"),
]


@pytest.mark.parametrize(("source", "message"), ERRORS)
def test_map_error(source: str, message: str) -> None:
    with pytest.raises(RhaiRuntimeError, match=message):
        Engine().eval(source)
