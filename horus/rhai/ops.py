"""Slow paths of the operators and value formatting; the compiler inlines the integer fast paths."""

from __future__ import annotations

import math
import types
from decimal import Decimal
from typing import Any

from .errors import RhaiRuntimeError
from .values import Char, FnPtr, Range, Timestamp

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
NUMBER = (int, float)


def type_name(value: Any) -> str:
    t = type(value)
    name = _TYPE_NAMES.get(t)
    if name is not None:
        return name
    if t is Range:
        return "range=" if value.inclusive else "range"
    host = getattr(value, "rhai_type_name", None)
    if isinstance(host, str):
        return host
    return t.__name__


_TYPE_NAMES: dict[type, str] = {
    int: "i64",
    float: "f64",
    bool: "bool",
    str: "string",
    Char: "char",
    type(None): "()",
    list: "array",
    dict: "map",
    FnPtr: "Fn",
    Timestamp: "timestamp",
    range: "iterator",
}


def is_int(value: Any) -> bool:
    return type(value) is int


def check_int(value: int, what: str) -> int:
    if INT_MIN <= value <= INT_MAX:
        return value
    raise RhaiRuntimeError(f"Arithmetic overflow: {what}")


def no_operator(op: str, a: Any, b: Any) -> RhaiRuntimeError:
    return RhaiRuntimeError(f"Function not found: {op} ({type_name(a)}, {type_name(b)})")


def numeric_pair(a: Any, b: Any) -> bool:
    return type(a) in NUMBER and type(b) in NUMBER


# ------------------------------------------------------------------ arithmetic
def sub(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return check_int(a - b, f"{a} - {b}")
    if numeric_pair(a, b):
        return float(a) - float(b)
    if type(a) is str and type(b) in (str, Char):
        return a.replace(b, "")
    if type(a) is Timestamp:
        if type(b) is Timestamp:
            return a.t - b.t
        if type(b) in NUMBER and type(b) is not bool:
            return Timestamp(a.t - b)
    raise no_operator("-", a, b)


def mul_numbers(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return check_int(a * b, f"{a} * {b}")
    if numeric_pair(a, b):
        return float(a) * float(b)
    raise no_operator("*", a, b)


def div(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        if b == 0:
            raise RhaiRuntimeError(f"Division by zero: {a} / {b}")
        q = abs(a) // abs(b)
        return check_int(q if (a < 0) == (b < 0) else -q, f"{a} / {b}")
    if numeric_pair(a, b):
        fa, fb = float(a), float(b)
        if fb == 0.0:
            if fa == 0.0 or math.isnan(fa):
                return math.nan
            return math.copysign(math.inf, fa) * math.copysign(1.0, fb)
        return fa / fb
    raise no_operator("/", a, b)


def mod(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        if b == 0:
            raise RhaiRuntimeError(f"Division by zero: {a} % {b}")
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    if numeric_pair(a, b):
        if float(b) == 0.0:
            return math.nan
        return math.fmod(float(a), float(b))
    raise no_operator("%", a, b)


def power(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        if b < 0:
            raise RhaiRuntimeError(f"Integer raised to a negative power: {a} ** {b}")
        if b > 64 and a not in (0, 1, -1):
            raise RhaiRuntimeError(f"Arithmetic overflow: {a} ** {b}")
        return check_int(a**b, f"{a} ** {b}")
    if numeric_pair(a, b):
        try:
            result = math.pow(float(a), float(b))
        except (OverflowError, ValueError):
            return math.inf if float(a) > 0 else math.nan
        return result
    raise no_operator("**", a, b)


def wrap64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value > INT_MAX else value


def shl(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        if b < 0:
            return shr(a, -b)
        if b >= 64:
            raise RhaiRuntimeError(f"Left-shift by too many bits: {a} << {b}")
        return wrap64(a << b)
    raise no_operator("<<", a, b)


def shr(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        if b < 0:
            return shl(a, -b)
        if b >= 64:
            raise RhaiRuntimeError(f"Right-shift by too many bits: {a} >> {b}")
        return a >> b
    raise no_operator(">>", a, b)


def band(a: Any, b: Any) -> Any:
    if type(a) is type(b) and type(a) in (int, bool):
        return a & b
    raise no_operator("&", a, b)


def bor(a: Any, b: Any) -> Any:
    if type(a) is type(b) and type(a) in (int, bool):
        return a | b
    raise no_operator("|", a, b)


def bxor(a: Any, b: Any) -> Any:
    if type(a) is type(b) and type(a) in (int, bool):
        return a ^ b
    raise no_operator("^", a, b)


def neg(a: Any) -> Any:
    if type(a) is int:
        return check_int(-a, f"-{a}")
    if type(a) is float:
        return -a
    raise RhaiRuntimeError(f"Function not found: - ({type_name(a)})")


def pos(a: Any) -> Any:
    if type(a) in NUMBER:
        return a
    raise RhaiRuntimeError(f"Function not found: + ({type_name(a)})")


def not_(a: Any) -> bool:
    if type(a) is bool:
        return not a
    raise RhaiRuntimeError(f"Function not found: ! ({type_name(a)})")


def cond(a: Any) -> bool:
    if type(a) is bool:
        return a
    raise RhaiRuntimeError(f"Boolean value expected but found {type_name(a)}")


# ------------------------------------------------------------------ comparison
def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    ta, tb = type(a), type(b)
    if ta in NUMBER and tb in NUMBER and ta is not bool and tb is not bool:
        return a, b
    if ta in (str, Char) and tb in (str, Char):
        return str(a), str(b)
    if ta is tb:
        if ta is Timestamp:
            return a.t, b.t
        return a, b
    return None


EPSILON = 2.220446049250313e-16


def float_cmp(a: float, b: float) -> int:
    """Rhai's epsilon-based float ordering: -1, 0 or 1 (0 means "equal within epsilon")."""
    if a != a or b != b:
        return 2  # NaN: unordered, every comparison but != is false
    if math.isinf(a) or math.isinf(b):
        return (a > b) - (a < b)
    diff = a - b
    tolerance = EPSILON if a == 0.0 or b == 0.0 else max(abs(a), abs(b)) * EPSILON
    if diff >= tolerance:
        return 1
    if -diff >= tolerance:
        return -1
    return 0


def equals(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb and (ta is int or ta is str):
        return bool(a == b)
    if (ta is float or tb is float) and ta in NUMBER and tb in NUMBER and bool not in (ta, tb):
        return float_cmp(float(a), float(b)) == 0
    if ta is list and tb is list:
        return len(a) == len(b) and all(equals(x, y) for x, y in zip(a, b, strict=True))
    if ta is dict and tb is dict:
        return a.keys() == b.keys() and all(equals(v, b[k]) for k, v in a.items())
    pair = _comparable(a, b)
    if pair is None:
        return False
    return bool(pair[0] == pair[1])


def eq(a: Any, b: Any) -> bool:
    return equals(a, b)


def ne(a: Any, b: Any) -> bool:
    return not equals(a, b)


def _ordered(op: str, a: Any, b: Any) -> tuple[Any, Any] | None:
    pair = _comparable(a, b)
    if pair is None:
        return None
    if type(pair[0]) not in (int, float, str, bool, Char):
        if type(a) is type(b):
            raise no_operator(op, a, b)
        return None
    return pair


def float_pair(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    return (ta is float or tb is float) and ta in NUMBER and tb in NUMBER and bool not in (ta, tb)


def lt(a: Any, b: Any) -> bool:
    if float_pair(a, b):
        return float_cmp(float(a), float(b)) == -1
    p = _ordered("<", a, b)
    return p is not None and bool(p[0] < p[1])


def le(a: Any, b: Any) -> bool:
    if float_pair(a, b):
        return float_cmp(float(a), float(b)) in (-1, 0)
    p = _ordered("<=", a, b)
    return p is not None and bool(p[0] <= p[1])


def gt(a: Any, b: Any) -> bool:
    if float_pair(a, b):
        return float_cmp(float(a), float(b)) == 1
    p = _ordered(">", a, b)
    return p is not None and bool(p[0] > p[1])


def ge(a: Any, b: Any) -> bool:
    if float_pair(a, b):
        return float_cmp(float(a), float(b)) in (0, 1)
    p = _ordered(">=", a, b)
    return p is not None and bool(p[0] >= p[1])


def contains(item: Any, container: Any) -> bool:
    t = type(container)
    if t is list:
        return any(equals(item, x) for x in container)
    if t is dict:
        if type(item) not in (str, Char):
            raise no_operator("in", item, container)
        return str(item) in container
    if t in (str, Char):
        if type(item) not in (str, Char):
            raise no_operator("in", item, container)
        return str(item) in container
    if t is Range:
        return item in container
    if t is int and type(item) is int:
        return 0 <= item < 64 and bool((container >> item) & 1)
    raise no_operator("in", item, container)


# ------------------------------------------------------------------ formatting
def fmt_float(x: float) -> str:
    """Rhai's float display: plain digits with a `.0` for whole numbers, exponent form when extreme."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    magnitude = abs(x)
    if magnitude == 0.0:
        return "0.0"
    exact = Decimal(repr(x))
    if magnitude > 1e13 or magnitude < 1e-13:
        return format(exact.normalize(), "e").replace("e+", "e")
    text = format(exact, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + ".0" if magnitude == math.floor(magnitude) else text


def fmt_float_debug(x: float) -> str:
    """Rust's `{:?}` for floats: shortest round-trip digits, exponent without `+` or leading zeros."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = repr(x)
    if "e" in text:
        mantissa, exp = text.split("e")
        return f"{mantissa.removesuffix('.0')}e{int(exp)}"
    return text


def to_display(value: Any) -> str:
    t = type(value)
    if t is str or t is Char:
        return str(value)
    if t is int:
        return str(value)
    if t is bool:
        return "true" if value else "false"
    if t is float:
        return fmt_float(value)
    if value is None:
        return ""
    return to_debug(value)


def quote(text: str, q: str) -> str:
    out = text.replace("\\", "\\\\").replace(q, "\\" + q).replace("\n", "\\n").replace("\t", "\\t")
    return q + out.replace("\r", "\\r") + q


def to_debug(value: Any) -> str:
    t = type(value)
    if t is str:
        return quote(value, '"')
    if t is Char:
        return quote(value, "'")
    if value is None:
        return "()"
    if t is list:
        return "[" + ", ".join(to_debug(x) for x in value) + "]"
    if t is dict:
        items = (f"{quote(k, chr(34))}: {to_debug(value[k])}" for k in sorted(value))
        return "#{" + ", ".join(items) + "}"
    if t is FnPtr:
        return f"Fn({value.name})"
    if t is Range:
        return repr(value)
    if t is float:
        return fmt_float_debug(value)
    if t in (int, bool):
        return to_display(value)
    return describe(value)


def describe(value: Any) -> str:
    """A stable Rhai-style name for a host value that has no Rhai form.

    Never Python's repr: it carries a memory address (`<... object at 0x7f...>`), which changes
    from run to run and tells a script's reader nothing.
    """
    shown = getattr(type(value), "rhai_display", None)
    if callable(shown):
        return str(shown(value))
    if isinstance(value, types.ModuleType):
        return f"<module {value.__name__}>"
    if callable(value) and not isinstance(value, type):
        name = getattr(value, "__name__", None)
        if isinstance(name, str):
            return f"Fn({name})"
    return f"<{type_name(value)}>"


def clone(value: Any) -> Any:
    t = type(value)
    if t is list:
        return [clone(x) if type(x) in (list, dict) else x for x in value]
    if t is dict:
        return {k: clone(v) if type(v) in (list, dict) else v for k, v in value.items()}
    return value
