"""String and character functions.

Python strings are immutable, so the functions that modify a Rhai string in place return a
MethodResult carrying the new string, which compiled code stores back into the receiver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import RhaiRuntimeError
from ..ops import to_display
from ..values import Char, MethodResult, Range
from .registry import NoMatch, builtin, want

if TYPE_CHECKING:
    from ..runtime import Runtime

TEXT = (str, Char)


def is_text(value: Any) -> bool:
    return type(value) in TEXT


def string(value: Any) -> str:
    want(type(value) is str)
    return str(value)


def clamp_start(start: int, n: int) -> int:
    if start < 0:
        return max(n + start, 0)
    return min(start, n)


def span(n: int, start: Any, length: Any = None) -> tuple[int, int]:
    """Rhai's (start, optional length) or range argument turned into Python slice bounds."""
    if type(start) is Range:
        lo = min(max(start.start, 0), n)
        return lo, max(min(start.stop, n), lo)
    want(type(start) is int and (length is None or type(length) is int))
    lo = clamp_start(start, n)
    if length is None:
        return lo, n
    return lo, max(min(lo + max(length, 0), n), lo)


@builtin("len", getter=True)
def length(value: Any) -> int:
    want(type(value) in (str, Char, list, dict))
    return len(value)


@builtin("is_empty", getter=True)
def is_empty(value: Any) -> bool:
    want(type(value) in (str, Char, list, dict))
    return len(value) == 0


@builtin("bytes", getter=True)
def byte_len(value: Any) -> int:
    return len(string(value).encode())


@builtin("to_chars")
def to_chars(value: Any) -> list[Any]:
    return [Char(c) for c in string(value)]


@builtin("chars", getter=True)
def chars(value: Any, start: Any = 0, length: Any = None) -> list[Any]:
    s = string(value)
    lo, hi = span(len(s), start, length)
    return [Char(c) for c in s[lo:hi]]


@builtin("get")
def get_char(value: Any, index: Any) -> Any:
    s = string(value)
    want(type(index) is int)
    i = index + len(s) if index < 0 else index
    return Char(s[i]) if 0 <= i < len(s) else None


@builtin("set")
def set_char(value: Any, index: Any, ch: Any) -> Any:
    s = string(value)
    want(type(index) is int and type(ch) is Char)
    i = index + len(s) if index < 0 else index
    if 0 <= i < len(s):
        s = s[:i] + ch + s[i + 1 :]
    return MethodResult(None, s)


@builtin("pad")
def pad(value: Any, target: Any, filler: Any) -> Any:
    s = string(value)
    want(type(target) is int and is_text(filler))
    if target <= len(s) or not filler:
        return MethodResult(None, s)
    if target > 100_000_000:
        raise RhaiRuntimeError(f"String too long: {target} characters")
    missing = target - len(s)
    return MethodResult(None, s + (str(filler) * (missing // len(filler) + 1))[:missing])


@builtin("append")
def append(value: Any, item: Any) -> Any:
    s = string(value)
    return MethodResult(None, s + to_display(item))


@builtin("remove")
def remove(value: Any, item: Any) -> Any:
    s = string(value)
    want(is_text(item))
    return MethodResult(None, s.replace(str(item), "", 1))


@builtin("pop")
def pop(value: Any, count: Any = None) -> Any:
    s = string(value)
    if count is None:
        if not s:
            return MethodResult(None, s)
        return MethodResult(Char(s[-1]), s[:-1])
    want(type(count) is int)
    if count <= 0:
        return MethodResult("", s)
    return MethodResult(s[-count:], s[:-count] if count < len(s) else "")


@builtin("clear")
def clear(value: Any) -> Any:
    string(value)
    return MethodResult(None, "")


@builtin("truncate")
def truncate(value: Any, n: Any) -> Any:
    s = string(value)
    want(type(n) is int)
    return MethodResult(None, s[: max(n, 0)])


@builtin("to_upper")
def to_upper(value: Any) -> Any:
    want(is_text(value))
    return Char(value.upper()) if type(value) is Char and len(value.upper()) == 1 else str(value).upper()


@builtin("to_lower")
def to_lower(value: Any) -> Any:
    want(is_text(value))
    return Char(value.lower()) if type(value) is Char and len(value.lower()) == 1 else str(value).lower()


@builtin("make_upper")
def make_upper(value: Any) -> Any:
    return MethodResult(None, string(value).upper())


@builtin("make_lower")
def make_lower(value: Any) -> Any:
    return MethodResult(None, string(value).lower())


@builtin("trim")
def trim(value: Any) -> Any:
    return MethodResult(None, string(value).strip())


@builtin("contains")
def contains(value: Any, item: Any) -> bool:
    s = string(value)
    want(is_text(item))
    return str(item) in s


@builtin("starts_with")
def starts_with(value: Any, prefix: Any) -> bool:
    want(is_text(prefix))
    return string(value).startswith(str(prefix))


@builtin("ends_with")
def ends_with(value: Any, suffix: Any) -> bool:
    want(is_text(suffix))
    return string(value).endswith(str(suffix))


@builtin("index_of")
def index_of(value: Any, item: Any, start: Any = 0) -> int:
    s = string(value)
    want(is_text(item) and type(start) is int)
    return s.find(str(item), clamp_start(start, len(s)))


@builtin("sub_string")
def sub_string(value: Any, start: Any, length: Any = None) -> str:
    s = string(value)
    lo, hi = span(len(s), start, length)
    return s[lo:hi]


@builtin("crop")
def crop(value: Any, start: Any, length: Any = None) -> Any:
    s = string(value)
    lo, hi = span(len(s), start, length)
    return MethodResult(None, s[lo:hi])


@builtin("replace")
def replace(value: Any, target: Any, replacement: Any) -> Any:
    s = string(value)
    want(is_text(target) and is_text(replacement))
    return MethodResult(None, s.replace(str(target), str(replacement)))


@builtin("split")
def split(value: Any, sep: Any = None, limit: Any = None) -> list[Any]:
    s = string(value)
    if sep is None:
        return s.split()
    if type(sep) is int and limit is None:
        i = clamp_start(sep, len(s))
        return [s[:i], s[i:]]
    want(is_text(sep) and (limit is None or type(limit) is int))
    if limit is None:
        return s.split(str(sep))
    return s.split(str(sep), max(limit, 1) - 1)


@builtin("split_rev")
def split_rev(value: Any, sep: Any, limit: Any = None) -> list[Any]:
    s = string(value)
    want(is_text(sep) and (limit is None or type(limit) is int))
    parts = s.split(str(sep)) if limit is None else s.rsplit(str(sep), max(limit, 1) - 1)
    return list(reversed(parts))


@builtin("trim_start")
def trim_start(value: Any) -> Any:
    return MethodResult(None, string(value).lstrip())


@builtin("trim_end")
def trim_end(value: Any) -> Any:
    return MethodResult(None, string(value).rstrip())


@builtin("min")
def text_min(a: Any, b: Any) -> Any:
    if is_text(a) and is_text(b):
        return a if str(a) <= str(b) else b
    raise NoMatch


@builtin("max")
def text_max(a: Any, b: Any) -> Any:
    if is_text(a) and is_text(b):
        return a if str(a) >= str(b) else b
    raise NoMatch


@builtin("is_digit", getter=True)
def is_digit(value: Any) -> bool:
    want(type(value) is Char)
    return bool(value.isdigit())


@builtin("is_alphabetic", getter=True)
def is_alphabetic(value: Any) -> bool:
    want(type(value) is Char)
    return bool(value.isalpha())


@builtin("is_whitespace", getter=True)
def is_whitespace(value: Any) -> bool:
    want(type(value) is Char)
    return bool(value.isspace())


@builtin("repeat", rt=True)
def repeat(rt: Runtime, depth: int, value: Any, count: Any) -> str:
    s = string(value)
    want(type(count) is int)
    if len(s) * max(count, 0) > 100_000_000:
        raise RhaiRuntimeError("String too long")
    return rt.check_str(str(s * max(count, 0)))
