"""Values, literals, variables, constants, blocks and statement expressions (Rhai Book: Language)."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine, RhaiParseError

CASES: list[tuple[str, Any]] = [
    # integer literals
    ("42", 42),
    ("-42", -42),
    ("1_000_000", 1_000_000),
    ("0x1f", 31),
    ("0xFF_FF", 65535),
    ("0o17", 15),
    ("0b1011", 11),
    ("0b1111_0000", 240),
    ("9223372036854775807", 9223372036854775807),
    ("-9223372036854775807 - 1", -9223372036854775808),
    ("0xffffffffffffffff", -1),
    # float literals
    ("1.5", 1.5),
    ("1.0e3", 1000.0),
    ("1e3", 1000.0),
    ("2.5e-1", 0.25),
    ("1_000.5", 1000.5),
    ("-0.5", -0.5),
    # other literals
    ("true", True),
    ("false", False),
    ("()", None),
    ('"hello"', "hello"),
    ("'x'", "x"),
    ("'\\n'", "\n"),
    ("'\\t'", "\t"),
    ("'\\x41'", "A"),
    ("'\\u2764'", "\u2764"),
    ("'\\U0001F603'", "\U0001f603"),
    ('"a\\"b"', 'a"b'),
    ('"a""b"', 'a"b'),
    ('"tab\\there"', "tab\there"),
    ('"back\\\\slash"', "back\\slash"),
    ('#"raw \\n string"#', "raw \\n string"),
    ('##"has "# inside"##', 'has "# inside'),
    ("[]", []),
    ("[1, 2, 3,]", [1, 2, 3]),
    ("#{}", {}),
    ('#{a: 1, "b c": 2}', {"a": 1, "b c": 2}),
    # variables and shadowing
    ("let x = 1; x", 1),
    ("let x; x", None),
    ("let x = 1; let x = x + 1; x", 2),
    ("let x = 1; { let x = 2; } x", 1),
    ("let x = 1; { x = 2; } x", 2),
    ("let x = 1; { let y = x + 1; x = y * 10; } x", 20),
    ("let _x1 = 5; _x1", 5),
    ("let αβ = 3; αβ * 2", 6),
    ("let x² = 4; fn ƒ(a) { a * 2 } ƒ(x²)", 8),
    ("const A = 40; A + 2", 42),
    ("const A = [1, 2]; A.len()", 2),
    # blocks as expressions: the last statement is the value, with or without semicolon
    ("let a = { 40 + 2 }; a", 42),
    ("let a = { 40 + 2; }; a", 42),
    ("let a = { let b = 1; b + 1 }; a", 2),
    ("let a = { let b = 1; }; a", None),
    ("let a = { }; a", None),
    ("1 + { 2 * 3 } + 4", 11),
    ("let x = { 1; 2; 3 }; x", 3),
    # if expressions
    ("if true { 1 } else { 2 }", 1),
    ("if false { 1 } else { 2 }", 2),
    ("if false { 1 }", None),
    ("let x = if 1 > 2 { 'a' } else if 2 > 1 { 'b' } else { 'c' }; x", "b"),
    ("let x = 5; let y = if x > 3 { let z = x * 2; z + 1 } else { 0 }; y", 11),
    ("let x = 0; if x == 0 { x = 10 } x", 10),
    ('let v = 3; if v < 0 { "neg" } else if v == 0 { "zero" } else { "pos" }', "pos"),
    ("let x = if true { if false { 1 } else { 2 } } else { 3 }; x", 2),
    # statement termination rules
    ("let x = 1; if x == 1 { x = 2 } x + 1", 3),
    ("fn f() { 1 } f()", 1),
    ("let x = 3\n;x", 3),
    ("let s = 0; for x in [1, 2] { s += x } [s, 1]", [3, 1]),
    ("let s = 0; if true { s = 1 } (s + 1)", 2),
    ("let s = 0; while s < 2 { s += 1 } -s", -2),
    ("switch 1 { _ => 0 } [2][0]", 2),
    # comments
    ("// line\n1 + /* block */ 2", 3),
    ("/* nested /* comment */ still */ 5", 5),
    ("/// doc comment\nlet x = 5; x", 5),
    ("/** doc block */ 7", 7),
    ("#!/usr/bin/env rhai\n8", 8),
    # type_of
    ("type_of(1)", "i64"),
    ("type_of(1.0)", "f64"),
    ("type_of(true)", "bool"),
    ("type_of('a')", "char"),
    ('type_of("a")', "string"),
    ("type_of(())", "()"),
    ("type_of([])", "array"),
    ("type_of(#{})", "map"),
    ("type_of(|x| x)", "Fn"),
    ('type_of(Fn("abs"))', "Fn"),
    ("type_of(1..2)", "range"),
    ("type_of(1..=2)", "range="),
    ("type_of(timestamp())", "timestamp"),
    ("42.type_of()", "i64"),
    # conversions
    ("to_string(42)", "42"),
    ("42.to_string()", "42"),
    ("1.5.to_string()", "1.5"),
    ("true.to_string()", "true"),
    ("'c'.to_string()", "c"),
    ('[1, "a"].to_string()', '[1, "a"]'),
    ("(1.0).to_string()", "1.0"),
    ("1e20.to_string()", "1e20"),
    ("1.5e14.to_string()", "1.5e14"),
    ("0.00001.to_string()", "0.00001"),
    ("1e-14.to_string()", "1e-14"),
    ("(-2.5).to_string()", "-2.5"),
    ("`${0.0}`", "0.0"),
    ("[1e-5, 2.0].to_string()", "[1e-5, 2.0]"),
    ("3.7.to_int()", 3),
    ("(-3.7).to_int()", -3),
    ("3.to_float()", 3.0),
    ("'A'.to_int()", 65),
    ("65.to_char()", "A"),
    ('parse_int("42")', 42),
    ('parse_int(" -7 ")', -7),
    ('parse_int("ff", 16)', 255),
    ('parse_int("101", 2)', 5),
    ('parse_float("1.5")', 1.5),
    ('parse_float("3")', 3.0),
    ('parse_bool("true")', True),
    ('to_debug("a")', '"a"'),
    ("to_debug('a')", "'a'"),
    ("to_debug(())", "()"),
    ('is_def_var("x")', False),
    ('let x = 1; is_def_var("x")', True),
    ('fn f(a) { a } is_def_fn("f", 1)', True),
    ('fn f(a) { a } is_def_fn("f", 2)', False),
    # global constants from inside functions
    ("const K = 7; fn f() { global::K * 2 } f()", 14),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_expression(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


PARSE_ERRORS = [
    "let = 5;",
    "let x = ;",
    "1 +",
    "(1 + 2",
    "[1, 2",
    "#{a 1}",
    "#{a: 1, a: 2}",
    "let x = 1 let y = 2;",
    '"unterminated',
    "'ab'",
    "9223372036854775808",
    "0xZZ",
    "12abc",
    "/* never closed",
    "fn f(a, a) { }",
    "fn f() {} fn f() {}",
    "{ fn inner() {} }",
    "const X;",
    "const X = 1; X = 2;",
    "1 = 2;",
    "f() = 1;",
    "break;",
    "continue;",
    "import x;",
    "export x;",
    "'\\q'",
    "`unterminated ${1",
    "x.",
    "if true 1 else 2",
    "let x = 1; x ++;",
    'eval("1")',
]


@pytest.mark.parametrize("source", PARSE_ERRORS)
def test_parse_error(source: str) -> None:
    with pytest.raises(RhaiParseError):
        Engine().compile(source)
