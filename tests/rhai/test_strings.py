"""Strings, characters and string interpolation (Rhai Book: Strings and Characters)."""

from __future__ import annotations

from typing import Any

import pytest

from horus.rhai import Engine, RhaiRuntimeError

CASES: list[tuple[str, Any]] = [
    # indexing
    ('let s = "hello"; s[0]', "h"),
    ('let s = "hello"; s[-1]', "o"),
    ('let s = "hello"; s[-5]', "h"),
    ('type_of("abc"[1])', "char"),
    ('let s = "héllo"; s[1]', "é"),
    ('let s = "hello"; s[1..3]', "el"),
    ('let s = "hello"; s[1..=3]', "ell"),
    ("let s = \"hello\"; s[0] = 'j'; s", "jello"),
    ("let s = \"hello\"; s[-1] = '!'; s", "hell!"),
    # length and properties
    ('"hello".len()', 5),
    ('"hello".len', 5),
    ('"".is_empty()', True),
    ('"x".is_empty', False),
    ('"héllo".bytes', 6),
    ('"❤".len()', 1),
    # interpolation
    ("`plain`", "plain"),
    ("`1 + 1 = ${1 + 1}`", "1 + 1 = 2"),
    ("let x = 42; `x is ${x}!`", "x is 42!"),
    ("`${1}${2}${3}`", "123"),
    ("`nested ${`inner ${1 + 2}`}`", "nested inner 3"),
    ("`arr ${[1, 2]}`", "arr [1, 2]"),
    ("`map ${#{a: 1}}`", 'map #{"a": 1}'),
    ("`unit [${()}]`", "unit []"),
    ("`float ${1.0}`", "float 1.0"),
    ("`char ${'c'}`", "char c"),
    ("`bool ${true}`", "bool true"),
    ("`multi\nline`", "multi\nline"),
    ("`no \\n escape`", "no \\n escape"),
    ("`tick `` inside`", "tick ` inside"),
    ("`dollar $ sign`", "dollar $ sign"),
    ("`block ${ let y = 2; y * 3 }`", "block 6"),
    ('`call ${"abc".to_upper()}`', "call ABC"),
    ('"no ${interp}"', "no ${interp}"),
    ('let s = "line \\\n         continued"; s', "line continued"),
    ('let s = "a\\\n  b"; s', "ab"),
    # functions
    ('"Hello".to_upper()', "HELLO"),
    ('"Hello".to_lower()', "hello"),
    ("'a'.to_upper()", "A"),
    ("type_of('a'.to_upper())", "char"),
    ('let s = "Hello"; s.make_upper(); s', "HELLO"),
    ('let s = "Hello"; s.make_lower(); s', "hello"),
    ('let s = "  hi  "; s.trim(); s', "hi"),
    ('let s = "abc"; s.append("def"); s', "abcdef"),
    ('let s = "abc"; s.append(1); s', "abc1"),
    ('let s = "abc"; s.pop()', "c"),
    ('let s = "abc"; s.pop(); s', "ab"),
    ('let s = "abcdef"; s.pop(2)', "ef"),
    ('let s = "abcdef"; s.pop(2); s', "abcd"),
    ('let s = ""; s.pop()', None),
    ('let s = "abc"; s.clear(); s', ""),
    ('let s = "abcdef"; s.truncate(3); s', "abc"),
    ("let s = \"abc\"; s.pad(6, '-'); s", "abc---"),
    ("let s = \"abc\"; s.pad(2, '-'); s", "abc"),
    ("let s = \"hello\"; s.remove('l'); s", "helo"),
    ('let s = "hello world"; s.remove("o w"); s', "hellorld"),
    ('let s = "a-b-c"; s.replace("-", "+"); s', "a+b+c"),
    ("let s = \"aaa\"; s.replace('a', 'b'); s", "bbb"),
    ('"hello".contains("ell")', True),
    ("\"hello\".contains('z')", False),
    ('"hello".starts_with("he")', True),
    ('"hello".ends_with("lo")', True),
    ("\"hello\".index_of('l')", 2),
    ('"hello".index_of("lo")', 3),
    ("\"hello\".index_of('l', 3)", 3),
    ("\"hello\".index_of('z')", -1),
    ('"hello".sub_string(1, 3)', "ell"),
    ('"hello".sub_string(2)', "llo"),
    ('"hello".sub_string(-3, 2)', "ll"),
    ('"hello".sub_string(1..3)', "el"),
    ('"hello".sub_string(1..=3)', "ell"),
    ('let s = "hello"; s.crop(1, 3); s', "ell"),
    ('let s = "hello"; s.crop(2); s', "llo"),
    ('"a,b,c".split(",")', ["a", "b", "c"]),
    ('"a,b,c".split(",", 2)', ["a", "b,c"]),
    ('"a b  c".split()', ["a", "b", "c"]),
    ('"hello".split(2)', ["he", "llo"]),
    ('"a,b,c".split_rev(",")', ["c", "b", "a"]),
    ('"abc".to_chars()', ["a", "b", "c"]),
    ('"abc".chars()', ["a", "b", "c"]),
    ('"hello".get(1)', "e"),
    ('"hello".get(-1)', "o"),
    ('"hello".get(10)', None),
    ("let s = \"hello\"; s.set(0, 'y'); s", "yello"),
    ('"ab".repeat(3)', "ababab"),
    ('min("a", "b")', "a"),
    ('max("a", "b")', "b"),
    ("'5'.is_digit", True),
    ("'x'.is_alphabetic", True),
    ("' '.is_whitespace", True),
    # iteration
    ('let r = []; for c in "abc" { r.push(c) } r', ["a", "b", "c"]),
    ("let n = 0; for c in \"hello\" { if c == 'l' { n += 1 } } n", 2),
    ('let r = ""; for (c, i) in "ab" { r += `${i}${c}`; } r', "0a1b"),
    # value semantics
    ('let a = "x"; let b = a; b += "y"; a', "x"),
    ('let a = "abc"; let b = a; b.clear(); a', "abc"),
    ('let m = #{s: "ab"}; m.s.append("c"); m.s', "abc"),
    ('let a = ["ab"]; a[0].append("c"); a[0]', "abc"),
    ('let a = ["ab"]; a[0].pop(); a', ["a"]),
    ("let m = #{s: \"hey\"}; m.s[0] = 'H'; m.s", "Hey"),
    ('let s = "x"; s.len().to_string()', "1"),
    ('fn f(s) { s.append("!"); s } let x = "a"; let y = f(x); x + y', "aa!"),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_string(source: str, expected: Any) -> None:
    result = Engine().eval(source)
    assert result == expected
    assert type(result) is type(expected)


ERRORS: list[tuple[str, str]] = [
    ('let s = "abc"; s[3]', "out of bounds"),
    ('let s = "abc"; s[-4]', "out of bounds"),
    ('let s = "abc"; s["x"]', "integer"),
    ('let s = "abc"; s[0] = "xy";', "character"),
    ('"abc".no_such_method()', "Function not found"),
    ('parse_int("abc")', "Error parsing"),
    ('parse_float("x1")', "Error parsing"),
    ('"abc".starts_with(1)', "Function not found"),
]


@pytest.mark.parametrize(("source", "message"), ERRORS)
def test_string_error(source: str, message: str) -> None:
    with pytest.raises(RhaiRuntimeError, match=message):
        Engine().eval(source)
