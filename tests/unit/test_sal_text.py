"""The ``text`` module."""

from __future__ import annotations

import pytest

from horus.sal.common import SalError
from horus.sal.text import TextModule

text = TextModule()


def test_dedent_and_indent() -> None:
    assert text.dedent("    a\n      b\n    c\n") == "a\n  b\nc\n"
    assert text.indent("a\n\nb\n", "> ") == "> a\n\n> b\n"


def test_replace_is_literal() -> None:
    assert text.replace("a.b.c", ".", "::") == "a::b::c"
    with pytest.raises(SalError, match=r"text to replace is empty"):
        text.replace("abc", "", "x")


def test_regex_match_searches_anywhere_unless_anchored() -> None:
    assert text.regex_match("version 1.2.3", r"\d+\.\d+")
    assert not text.regex_match("version 1.2.3", r"^\d")
    assert text.regex_match("1.2.3", r"^\d+(\.\d+)*$")


def test_regex_replace_with_group_references() -> None:
    assert text.regex_replace("John Smith", r"(\w+) (\w+)", "$2, $1") == "Smith, John"
    assert text.regex_replace("a1b22", r"(?P<n>\d+)", "<${n}>") == "a<1>b<22>"
    assert text.regex_replace("x", "x", "$$1") == "$1"
    assert text.regex_replace("aaa", "a", "b") == "bbb"


def test_regex_errors_name_the_pattern() -> None:
    with pytest.raises(SalError, match=r"invalid regular expression '\(unclosed'"):
        text.regex_match("x", "(unclosed")
    with pytest.raises(SalError, match=r"pattern '\(a\)' has no group 2"):
        text.regex_replace("a", "(a)", "$2")


def test_template_fills_names_and_nested_paths() -> None:
    values = {"name": "web", "port": 8080, "tls": True, "db": {"host": "pg", "ports": [5432]}, "none": None}
    out = text.template("{{name}}:{{ port }} tls={{tls}} db={{db.host}}:{{db.ports.0}} [{{none}}]", values)
    assert out == "web:8080 tls=true db=pg:5432 []"


def test_template_missing_value_is_named() -> None:
    with pytest.raises(SalError, match=r"template: no value for \{\{db.user\}\}"):
        text.template("{{db.user}}", {"db": {}})


def test_non_string_arguments_are_named() -> None:
    with pytest.raises(SalError, match=r"text.dedent: text must be a string, not int"):
        text.dedent(5)  # type: ignore[arg-type]
    with pytest.raises(SalError, match=r"template values must be a map"):
        text.template("x", [1])  # type: ignore[arg-type]
