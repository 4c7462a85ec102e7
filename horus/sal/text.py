"""``text``: indentation, replacement, regular expressions and ``{{name}}`` templates."""

from __future__ import annotations

import re
import textwrap
from typing import Any

from horus.rhai.ops import to_display
from horus.sal.common import SalError, show_value

#: ``{{ name }}`` or ``{{ a.b.c }}``; ``{{{{`` is not special (templates rarely need a literal pair).
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")
#: ``$1``, ``${1}``, ``${name}`` and ``$$`` in a regex replacement, as in Rust's regex crate.
_GROUP_REF = re.compile(r"\$(?:(\$)|(\d+)|\{([A-Za-z0-9_]+)\})")


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise SalError(f"invalid regular expression {pattern!r}: {exc}") from None


def _strings(function: str, **values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise SalError(f"text.{function}: {name} must be a string, not {type(value).__name__}")


def _render(value: Any) -> str:
    """A template value as Rhai's `to_string` writes it (arrays and maps in Rhai syntax, a host
    value by its name, never a Python repr)."""
    return to_display(value)


class TextModule:
    def dedent(self, text: str) -> str:
        """Remove the indentation every line shares."""
        _strings("dedent", text=text)
        return textwrap.dedent(text)

    def indent(self, text: str, prefix: str) -> str:
        """Put ``prefix`` before every non-blank line."""
        _strings("indent", text=text, prefix=prefix)
        return textwrap.indent(text, prefix)

    def replace(self, text: str, old: str, new: str) -> str:
        """Replace every occurrence of ``old`` (plain text, not a pattern)."""
        _strings("replace", text=text, old=old, new=new)
        if old == "":
            raise SalError("text.replace: the text to replace is empty")
        return text.replace(old, new)

    def regex_match(self, text: str, pattern: str) -> bool:
        """True when ``pattern`` matches anywhere in ``text`` (anchor with ``^``/``$`` for all of it)."""
        _strings("regex_match", text=text, pattern=pattern)
        return _compile(pattern).search(text) is not None

    def regex_replace(self, text: str, pattern: str, replacement: str) -> str:
        """Replace every match; ``$1``, ``${1}``, ``${name}`` insert groups, ``$$`` a dollar sign."""
        _strings("regex_replace", text=text, pattern=pattern, replacement=replacement)
        regex = _compile(pattern)

        def expand(match: re.Match[str]) -> str:
            def group(ref: re.Match[str]) -> str:
                if ref.group(1):
                    return "$"
                key: int | str = int(ref.group(2)) if ref.group(2) else ref.group(3)
                if isinstance(key, str) and key.isdigit():
                    key = int(key)
                try:
                    return match.group(key) or ""
                except IndexError:
                    raise SalError(f"regex_replace: pattern {pattern!r} has no group {key!r}") from None

            return _GROUP_REF.sub(group, replacement)

        return regex.sub(expand, text)

    def template(self, template: str, values: dict[str, Any]) -> str:
        """Fill ``{{name}}`` (or ``{{a.b}}`` for nested maps) from ``values``; a missing name is an error."""
        _strings("template", template=template)
        if not isinstance(values, dict):
            raise SalError(f"template values must be a map, not {show_value(values)}")

        def fill(match: re.Match[str]) -> str:
            path = match.group(1)
            current: Any = values
            for part in path.split("."):
                if isinstance(current, dict) and part in current:
                    current = current[part]
                elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
                    current = current[int(part)]
                else:
                    raise SalError(f"template: no value for {{{{{path}}}}}")
            return _render(current)

        return _PLACEHOLDER.sub(fill, template)
