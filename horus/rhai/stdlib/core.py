"""Language-level built-ins: printing, type inspection, conversions, function pointers, time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import RhaiRuntimeError
from ..ops import INT_MAX, INT_MIN, fmt_float, to_debug, to_display, type_name
from ..values import Char, FnPtr, Range, Timestamp
from .registry import NoMatch, builtin, want

if TYPE_CHECKING:
    from ..runtime import Runtime


@builtin("print", rt=True)
def print_(rt: Runtime, depth: int, value: Any = "") -> None:
    rt.engine.print_handler(to_display(value))


@builtin("debug", rt=True)
def debug_(rt: Runtime, depth: int, value: Any = "") -> None:
    rt.engine.debug_handler(to_debug(value))


@builtin("type_of")
def type_of(value: Any) -> str:
    return type_name(value)


@builtin("to_string")
def to_string(value: Any) -> str:
    return to_display(value)


@builtin("to_debug")
def to_debug_(value: Any) -> str:
    return to_debug(value)


@builtin("to_int")
def to_int(value: Any) -> int:
    t = type(value)
    if t is int:
        return int(value)
    if t is float:
        if value != value or not INT_MIN <= value <= INT_MAX:
            raise RhaiRuntimeError(f"Integer overflow: {fmt_float(value)}")
        return int(value)
    if t is bool:
        return 1 if value else 0
    if t is Char:
        return ord(value)
    raise NoMatch


@builtin("to_float")
def to_float(value: Any) -> float:
    if type(value) in (int, float):
        return float(value)
    raise NoMatch


@builtin("to_char")
def to_char(value: Any) -> Char:
    if type(value) is int:
        try:
            return Char(chr(value))
        except (ValueError, OverflowError):
            raise RhaiRuntimeError(f"Invalid character code: {value}") from None
    if type(value) is Char:
        return Char(value)
    raise NoMatch


@builtin("parse_int")
def parse_int(text: Any, radix: Any = 10) -> int:
    want(type(text) in (str, Char) and type(radix) is int)
    if not 2 <= radix <= 36:
        raise RhaiRuntimeError(f"Invalid radix: {radix}")
    try:
        value = int(text.strip(), radix)
    except ValueError:
        raise RhaiRuntimeError(f"Error parsing integer number '{text}': invalid digit found in string") from None
    if not INT_MIN <= value <= INT_MAX:
        raise RhaiRuntimeError(f"Error parsing integer number '{text}': number too large")
    return value


@builtin("parse_float")
def parse_float(text: Any) -> float:
    want(type(text) in (str, Char))
    cleaned = str(text).strip().replace("_", "")
    if cleaned.lower() in ("inf", "-inf", "+inf", "nan", "infinity", "-infinity"):
        return float(cleaned)
    try:
        return float(cleaned)
    except ValueError:
        raise RhaiRuntimeError(f"Error parsing floating-point number '{text}': invalid float literal") from None


@builtin("parse_bool")
def parse_bool(text: Any) -> bool:
    want(type(text) in (str, Char))
    cleaned = str(text).strip()
    if cleaned in ("true", "false"):
        return cleaned == "true"
    raise RhaiRuntimeError(f"Error parsing boolean '{text}'")


@builtin("is_string")
def is_string(value: Any) -> bool:
    return type(value) is str


@builtin("is_int")
def is_int(value: Any) -> bool:
    return type(value) is int


@builtin("is_float")
def is_float(value: Any) -> bool:
    return type(value) is float


@builtin("is_array")
def is_array(value: Any) -> bool:
    return type(value) is list


@builtin("is_map")
def is_map(value: Any) -> bool:
    return type(value) is dict


@builtin("is_unit")
def is_unit(value: Any) -> bool:
    return value is None


@builtin("is_char")
def is_char(value: Any) -> bool:
    return type(value) is Char


@builtin("is_bool")
def is_bool(value: Any) -> bool:
    return type(value) is bool


@builtin("is_fn")
def is_fn(value: Any) -> bool:
    return type(value) is FnPtr


# --------------------------------------------------------------- function pointers
@builtin("Fn")
def make_fn(name: Any) -> FnPtr:
    want(type(name) is str)
    if not name.isidentifier():
        raise RhaiRuntimeError(f"Invalid function name: '{name}'")
    return FnPtr(name)


@builtin("call", rt=True)
def call(rt: Runtime, depth: int, ptr: Any, *args: Any) -> Any:
    want(type(ptr) in (FnPtr, str))
    return rt.call_ptr_raw(depth, ptr, args)


@builtin("curry")
def curry(ptr: Any, *args: Any) -> FnPtr:
    want(type(ptr) is FnPtr)
    return FnPtr(ptr.name, ptr.func, ptr.caps, ptr.curry + args)


@builtin("name", getter=True)
def fn_name(ptr: Any) -> str:
    want(type(ptr) is FnPtr)
    return str(ptr.name)


@builtin("is_anonymous", getter=True)
def is_anonymous(ptr: Any) -> bool:
    want(type(ptr) is FnPtr)
    return bool(ptr.is_anonymous)


@builtin("is_def_fn", rt=True)
def is_def_fn(rt: Runtime, depth: int, name: Any, arity: Any, typed_arity: Any = None) -> bool:
    if typed_arity is not None:
        # is_def_fn("type", "name", arity) asks about a typed method `fn type.name(...)`.
        want(type(name) is str and type(arity) is str and type(typed_arity) is int)
        type_name_ = {"int": "i64", "float": "f64"}.get(name, name)
        return (type_name_, arity, typed_arity) in rt.g["_TFNS"]
    want(type(name) is str and type(arity) is int)
    return (name, arity) in rt.g["_FNS"]


@builtin("is_def_var", rt=True)
def is_def_var(rt: Runtime, depth: int, name: Any) -> bool:
    want(type(name) is str)
    return rt.is_def_var(name)


@builtin("is_shared")
def is_shared(value: Any) -> bool:
    return False


# --------------------------------------------------------------------------- time
@builtin("timestamp")
def timestamp() -> Timestamp:
    return Timestamp()


@builtin("elapsed", getter=True)
def elapsed(ts: Any) -> float:
    want(type(ts) is Timestamp)
    return float(ts.elapsed)


# ------------------------------------------------------------------------- ranges
@builtin("range")
def make_range(start: Any, end: Any, step: Any = None) -> Any:
    if step is None:
        want(type(start) is int and type(end) is int)
        return Range(start, end, False)
    if type(start) is int and type(end) is int and type(step) is int:
        if step == 0:
            raise RhaiRuntimeError("Step value cannot be zero")
        # A lazy Python range: `for` can walk a huge stepped range without building it.
        return range(start, end, step)
    want(all(type(v) in (int, float) for v in (start, end, step)))
    if step == 0:
        raise RhaiRuntimeError("Step value cannot be zero")
    out: list[float] = []
    x = float(start)
    if abs((end - start) / step) > 10_000_000:
        raise RhaiRuntimeError("Too many steps in a floating-point range")
    while (x < end) if step > 0 else (x > end):
        out.append(x)
        x += step
    return out


@builtin("start", getter=True)
def range_start(r: Any) -> int:
    want(type(r) is Range)
    return int(r.start)


@builtin("end", getter=True)
def range_end(r: Any) -> int:
    want(type(r) is Range)
    return int(r.end)


@builtin("is_inclusive", getter=True)
def range_inclusive(r: Any) -> bool:
    want(type(r) is Range)
    return bool(r.inclusive)


@builtin("is_exclusive", getter=True)
def range_exclusive(r: Any) -> bool:
    want(type(r) is Range)
    return not r.inclusive


@builtin("contains")
def range_contains(r: Any, value: Any) -> bool:
    want(type(r) is Range)
    return value in r
