"""Numeric functions from the Rhai Book's arithmetic and math packages."""

from __future__ import annotations

import math
from typing import Any

from ..errors import RhaiRuntimeError
from ..ops import INT_MAX, INT_MIN, check_int, wrap64
from ..values import MethodResult, Range
from .registry import builtin, want

NUM = (int, float)


def num(value: Any) -> float:
    want(type(value) in NUM)
    return float(value)


def integer(value: Any) -> int:
    want(type(value) is int)
    assert isinstance(value, int)
    return value


@builtin("abs")
def abs_(x: Any) -> Any:
    if type(x) is int:
        return check_int(abs(x), f"abs({x})")
    return abs(num(x))


@builtin("sign")
def sign(x: Any) -> int:
    v = num(x)
    return (v > 0) - (v < 0)


@builtin("is_zero", getter=True)
def is_zero(x: Any) -> bool:
    return num(x) == 0


@builtin("is_odd", getter=True)
def is_odd(x: Any) -> bool:
    return integer(x) % 2 == 1


@builtin("is_even", getter=True)
def is_even(x: Any) -> bool:
    return integer(x) % 2 == 0


def float_fn(name: str, fn: Any) -> None:
    def wrapper(x: Any) -> Any:
        try:
            return fn(num(x))
        except (ValueError, OverflowError):
            return math.nan

    wrapper.__name__ = name
    builtin(name)(wrapper)


for _name, _fn in {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": math.acosh,
    "atanh": math.atanh,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "ln": math.log,
    "log10": math.log10,
    "to_degrees": math.degrees,
    "to_radians": math.radians,
}.items():
    float_fn(_name, _fn)


@builtin("log")
def log(x: Any, base: Any = 10.0) -> float:
    try:
        return math.log(num(x), num(base))
    except (ValueError, ZeroDivisionError):
        return math.nan


@builtin("atan")
def atan2(y: Any, x: Any) -> float:
    return math.atan2(num(y), num(x))


@builtin("hypot")
def hypot(x: Any, y: Any) -> float:
    return math.hypot(num(x), num(y))


def rounding(name: str, fn: Any) -> None:
    def wrapper(x: Any) -> float:
        v = num(x)
        if math.isnan(v) or math.isinf(v):
            return v
        return float(fn(v))

    wrapper.__name__ = name
    builtin(name, getter=True)(wrapper)


def _round_half_away(v: float) -> float:
    return float(math.floor(v + 0.5)) if v >= 0 else float(math.ceil(v - 0.5))


_ROUNDING: dict[str, Any] = {
    "floor": math.floor,
    "ceiling": math.ceil,
    "round": _round_half_away,
    "int": math.trunc,
    "fraction": lambda v: v - math.trunc(v),
}
for _name, _fn in _ROUNDING.items():
    rounding(_name, _fn)


@builtin("is_nan", getter=True)
def is_nan(x: Any) -> bool:
    want(type(x) is float)
    return math.isnan(x)


@builtin("is_infinite", getter=True)
def is_infinite(x: Any) -> bool:
    want(type(x) is float)
    return math.isinf(x)


@builtin("is_finite", getter=True)
def is_finite(x: Any) -> bool:
    want(type(x) is float)
    return math.isfinite(x)


@builtin("PI")
def pi() -> float:
    return math.pi


@builtin("E")
def e() -> float:
    return math.e


@builtin("max_int")
def max_int() -> int:
    return INT_MAX


@builtin("min_int")
def min_int() -> int:
    return INT_MIN


@builtin("to_binary")
def to_binary(x: Any) -> str:
    return format(integer(x) & ((1 << 64) - 1), "b")


@builtin("to_octal")
def to_octal(x: Any) -> str:
    return format(integer(x) & ((1 << 64) - 1), "o")


@builtin("to_hex")
def to_hex(x: Any) -> str:
    return format(integer(x) & ((1 << 64) - 1), "x")


@builtin("get_bit")
def get_bit(x: Any, bit: Any) -> bool:
    v, b = integer(x), integer(bit)
    if not 0 <= b < 64:
        raise RhaiRuntimeError(f"Bit-field index {b} out of bounds")
    return bool((v >> b) & 1)


@builtin("set_bit")
def set_bit(x: Any, bit: Any, value: Any) -> MethodResult:
    v, b = integer(x), integer(bit)
    want(type(value) is bool)
    if not 0 <= b < 64:
        raise RhaiRuntimeError(f"Bit-field index {b} out of bounds")
    raw = v | (1 << b) if value else v & ~(1 << b)
    return MethodResult(None, wrap64(raw))


def bit_span(start: Any, length: Any) -> tuple[int, int]:
    """(first bit, number of bits) from Rhai's (start, length) or a range; negative start counts from 64."""
    if type(start) is Range:
        lo = start.start + 64 if start.start < 0 else start.start
        end = start.end + 64 if start.end < 0 else start.end
        hi = end + 1 if start.inclusive else end
        return max(lo, 0), max(min(hi, 64) - max(lo, 0), 0)
    first = integer(start) + 64 if integer(start) < 0 else integer(start)
    if not 0 <= first < 64:
        raise RhaiRuntimeError(f"Bit-field index {start} out of bounds")
    count = 64 - first if length is None else max(min(integer(length), 64 - first), 0)
    return first, count


@builtin("bits")
def bits(x: Any, start: Any = 0, length: Any = None) -> list[bool]:
    v = integer(x)
    first, count = bit_span(start, length)
    return [bool((v >> i) & 1) for i in range(first, first + count)]


@builtin("get_bits")
def get_bits(x: Any, start: Any, length: Any = None) -> int:
    v = integer(x)
    first, count = bit_span(start, length)
    return ((v & ((1 << 64) - 1)) >> first) & ((1 << count) - 1)


@builtin("set_bits")
def set_bits(x: Any, start: Any, length: Any, value: Any = None) -> MethodResult:
    if value is None:
        start, length, value = start, None, length
    v, new = integer(x), integer(value)
    first, count = bit_span(start, length)
    mask = ((1 << count) - 1) << first
    return MethodResult(None, wrap64((v & ~mask) | ((new << first) & mask)))


@builtin("clamp")
def clamp(x: Any, low: Any, high: Any) -> Any:
    num(x), num(low), num(high)
    return min(max(x, low), high)
