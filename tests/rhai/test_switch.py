"""The switch expression (Rhai Book: switch)."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine, RhaiParseError

CASES: list[tuple[str, Any]] = [
    ('switch 1 { 1 => "one", 2 => "two", _ => "many" }', "one"),
    ('switch 2 { 1 => "one", 2 => "two", _ => "many" }', "two"),
    ('switch 9 { 1 => "one", 2 => "two", _ => "many" }', "many"),
    ('switch 9 { 1 => "one" }', None),
    ('switch 3 { 1 | 2 => "low", 3 | 4 => "mid", _ => "high" }', "mid"),
    ('switch "b" { "a" => 1, "b" => 2, _ => 3 }', 2),
    ("switch 'c' { 'a' => 1, 'c' => 3, _ => 0 }", 3),
    ("switch true { true => 1, false => 0 }", 1),
    ('switch () { () => "unit", _ => "other" }', "unit"),
    ('switch 1.5 { 1.5 => "f", _ => "x" }', "f"),
    ('switch 5 { 0..5 => "a", 5..10 => "b", _ => "c" }', "b"),
    ('switch 10 { 0..=9 => "a", 10..=19 => "b", _ => "c" }', "b"),
    ("switch 42 { 0..10 => 1, 40..50 if false => 2, 40..50 => 3, _ => 4 }", 3),
    ('let x = 7; switch x { _ if x < 5 => "small", _ if x < 10 => "medium", _ => "big" }', "medium"),
    ("let x = 4; switch x { 4 if x > 10 => 1, 4 => 2, _ => 3 }", 2),
    ("switch 1 { 1 => { let a = 10; a * 2 } _ => 0 }", 20),
    ("switch 1 { 1 => { 5 }, _ => { 6 } }", 5),
    ("let r = 0; switch 2 { 1 => r = 10, 2 => r = 20, _ => r = 30 } r", 20),
    ('let x = switch 3 { 3 => "three", _ => "?" }; x', "three"),
    ("let x = 2; (switch x { 2 => 10, _ => 0 }) + 1", 11),
    ('fn f(x) { switch x { 0 => "zero", _ => "nonzero" } } [f(0), f(1)]', ["zero", "nonzero"]),
    ('switch 42 { 42.0 => "float", _ => "int" }', "float"),
    ('switch "x" { \'x\' => "char", _ => "no" }', "char"),
    ("let r = []; for i in 0..4 { switch i { 0 => continue, 3 => break, _ => r.push(i) } } r", [1, 2]),
    ("let v = [1, 2]; switch v.len() { 2 => v[1], _ => 0 }", 2),
    ('switch 5 { -1 => "neg", 5 => "five", _ => "?" }', "five"),
    ('switch -1 { -1 => "neg", _ => "?" }', "neg"),
    ('switch 3 { _ => "default only" }', "default only"),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_switch(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "source",
    [
        "switch 1 { x => 1 }",
        "switch 1 { 1 => 1 2 => 2 }",
        "switch 1 { 1 -> 1 }",
        "switch 1 { foo() => 1 }",
    ],
)
def test_switch_parse_error(source: str) -> None:
    with pytest.raises(RhaiParseError):
        Engine().compile(source)
