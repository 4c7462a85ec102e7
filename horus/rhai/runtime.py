"""Per-run state and the helpers that compiled code calls for everything not inlined."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import ops
from .errors import RhaiError, RhaiLimitError, RhaiRuntimeError, RhaiThrow
from .stdlib import FUNCTIONS, GETTERS, Builtin, NoMatch
from .values import NOTHIS, Char, FnPtr, MethodResult, Range, Timestamp

if TYPE_CHECKING:
    from .engine import Engine

CHECK_EVERY = 1024
# Which overload of a built-in accepted a given (name, first argument type, arity) last time; most
# names have overloads for several types and trying them in turn costs an exception each.
BUILTIN_CACHE: dict[tuple[str, type | None, int], Builtin] = {}
UNSET = object()
#: Methods every value has; a module that defines none of its own gets the built-in one.
ANY_VALUE_METHODS = frozenset({"to_string", "to_debug", "type_of"})


class HostRef:
    """A registered module seen from a script; only its public attributes are reachable."""

    __slots__ = ("name", "obj")
    rhai_type_name = "module"

    def __init__(self, name: str, obj: Any) -> None:
        self.name = name
        self.obj = obj

    def rhai_display(self) -> str:
        return f"<module {self.name}>"

    def has(self, attr: str) -> bool:
        if attr.startswith("_"):
            return False
        return attr in self.obj if isinstance(self.obj, dict) else hasattr(self.obj, attr)

    def member(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise RhaiRuntimeError(f"Property not found: {self.name}.{attr}")
        obj = self.obj
        if isinstance(obj, dict):
            if attr not in obj:
                raise RhaiRuntimeError(f"Property not found: {self.name}.{attr}")
            return obj[attr]
        try:
            return getattr(obj, attr)
        except AttributeError:
            raise RhaiRuntimeError(f"Property not found: {self.name}.{attr}") from None


def public(attr: str) -> bool:
    return not attr.startswith("_")


class Runtime:
    def __init__(self, engine: Engine, scope: dict[str, Any], export: bool, posfix: Callable[[BaseException], None]):
        self.engine = engine
        self.scope = scope
        self.export_lets = export
        self.posfix = posfix
        self.g: dict[str, Any] = {}
        self.consts: dict[str, Any] = {}
        self.max_ops = engine.max_operations
        self.max_string = engine.max_string_size
        self.max_array = engine.max_array_size
        self.max_map = engine.max_map_size
        self.deadline = engine.effective_deadline()
        self.counter = itertools.count(1)
        self.method_cache: dict[tuple[type, str, int], Builtin] = {}

    # ----------------------------------------------------------------- globals
    def build_globals(self) -> dict[str, Any]:
        g: dict[str, Any] = {
            "__builtins__": {},
            "type": type,
            "int": int,
            "float": float,
            "_Char": Char,
            "_UNSET": UNSET,
            "_MR": MethodResult,
            "_NOTHIS": NOTHIS,
            "_unbound_this": unbound_this,
            "_C": self.counter,
            "next": next,
            "_CHK": min(CHECK_EVERY, self.max_ops) if self.max_ops else CHECK_EVERY,
            "_MAXD": self.engine.max_call_depth,
            "_FNS": {},
            "_TFNS": {},
            "_CONSTS": self.consts,
            "_Catchable": RhaiRuntimeError,
            "_LimitError": RhaiLimitError,
            "_add": self.add,
            "_iadd": self.iadd,
            "_sub": ops.sub,
            "_mul": self.mul,
            "_div": ops.div,
            "_mod": ops.mod,
            "_pow": ops.power,
            "_shl": ops.shl,
            "_shr": ops.shr,
            "_band": ops.band,
            "_bor": ops.bor,
            "_bxor": ops.bxor,
            "_eq": ops.eq,
            "_ne": ops.ne,
            "_lt": ops.lt,
            "_le": ops.le,
            "_gt": ops.gt,
            "_ge": ops.ge,
            "_neg": ops.neg,
            "_pos": ops.pos,
            "_not": ops.not_,
            "_cond": ops.cond,
            "_in": ops.contains,
            "_cp": ops.clone,
            "_str": ops.to_display,
            "_checkstr": self.check_str,
            "_range": make_range,
            "_irange": int_range,
            "_iter": self.iterate,
            "_enumerate": enumerate,
            "_throw": RhaiThrow,
            "_closure": FnPtr,
            "_limit": self.limit,
            "_catch_value": self.catch_value,
            "_call": self.call,
            "_callptr": self.call_ptr,
            "_callw": self.call_writeback,
            "_case_range": case_range,
            "len": len,
            "list": list,
            "_EQFAST": frozenset({int, str, bool}),
            "_ns": self.call_namespace,
            "_import": self.import_module,
            "_mc": self.method,
            "_mcw": self.method_writeback,
            "_gp": self.get_prop,
            "_sp": self.set_prop,
            "_gi": self.get_index,
            "_si": self.set_index,
            "_gv": self.get_var,
            "_gvf": self.get_global,
            "_svx": self.set_var,
            "_setcell": set_cell,
            "_export": self.export,
            "_is_def_var": self.is_def_var,
        }
        self.g = g
        return g

    # ------------------------------------------------------------------ limits
    def limit(self, depth: int) -> None:
        g = self.g
        if depth > g["_MAXD"]:
            raise RhaiLimitError(f"Stack overflow: function call depth exceeds {g['_MAXD']}")
        ops_done = next(self.counter)
        if self.max_ops and ops_done > self.max_ops:
            raise RhaiLimitError(f"Too many operations: limit is {self.max_ops}")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise RhaiLimitError("Script timed out")
        nxt = ops_done + CHECK_EVERY
        g["_CHK"] = min(nxt, self.max_ops) if self.max_ops else nxt

    def check_str(self, s: str) -> str:
        if self.max_string and len(s) > self.max_string:
            raise RhaiLimitError(f"Length of string exceeds the limit of {self.max_string}")
        return s

    def check_size(self, value: Any) -> Any:
        t = type(value)
        if t is str:
            return self.check_str(value)
        if t is list and self.max_array and len(value) > self.max_array:
            raise RhaiLimitError(f"Size of array exceeds the limit of {self.max_array}")
        if t is dict and self.max_map and len(value) > self.max_map:
            raise RhaiLimitError(f"Size of object map exceeds the limit of {self.max_map}")
        return value

    # -------------------------------------------------------------- operators
    def add(self, a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta is int and tb is int:
            return ops.check_int(a + b, f"{a} + {b}")
        if ta in ops.NUMBER and tb in ops.NUMBER and ta is not bool and tb is not bool:
            return float(a) + float(b)
        if ta in (str, Char) or tb in (str, Char):
            if ta is list or tb is list or ta is dict or tb is dict:
                raise ops.no_operator("+", a, b)
            return self.check_str(ops.to_display(a) + ops.to_display(b))
        if ta is list and tb is list:
            return self.check_size(a + ops.clone(b))
        if ta is Timestamp and tb in ops.NUMBER and tb is not bool:
            return Timestamp(a.t + b)
        if ta is dict and tb is dict:
            return self.check_size({**a, **ops.clone(b)})
        raise ops.no_operator("+", a, b)

    def iadd(self, a: Any, b: Any) -> Any:
        # Arrays and maps have value semantics, so growing the target in place is unobservable.
        if type(a) is list:
            if type(b) is list:
                a.extend(ops.clone(b))
            else:
                a.append(ops.clone(b))
            return self.check_size(a)
        if type(a) is dict and type(b) is dict:
            a.update(ops.clone(b))
            return self.check_size(a)
        return self.add(a, b)

    def mul(self, a: Any, b: Any) -> Any:
        return ops.mul_numbers(a, b)

    # -------------------------------------------------------------- variables
    def get_var(self, name: str) -> Any:
        scope = self.scope
        if name in scope:
            return scope[name]
        return self.get_global(name)

    def get_global(self, name: str) -> Any:
        if name in self.consts:
            return self.consts[name]
        module = self.engine.modules.get(name)
        if module is not None:
            return HostRef(name, module)
        raise RhaiRuntimeError(f"Variable not found: {name}")

    def set_var(self, name: str, value: Any) -> Any:
        if name not in self.scope:
            # `text.replace(...)` on a host module: the call hands the module back to be stored.
            if isinstance(value, HostRef) and name in self.engine.modules:
                return value
            raise RhaiRuntimeError(f"Variable not found: {name}")
        self.scope[name] = value
        return value

    def is_def_var(self, name: Any) -> bool:
        return name in self.scope or name in self.consts

    def export(self, values: dict[str, Any]) -> None:
        if not self.export_lets:
            return
        for name, value in values.items():
            if value is not UNSET:
                self.scope[name] = value

    # ------------------------------------------------------------------ calls
    def call(self, depth: int, name: str, args: tuple[Any, ...]) -> Any:
        result = self.dispatch(depth, name, args)
        return result.value if type(result) is MethodResult else result

    def call_writeback(self, depth: int, name: str, args: tuple[Any, ...]) -> MethodResult:
        result = self.dispatch(depth, name, args)
        if type(result) is MethodResult:
            if type(result.this) is str:
                self.check_str(result.this)
            return result
        return MethodResult(result, args[0])

    def dispatch(self, depth: int, name: str, args: tuple[Any, ...]) -> Any:
        host = self.engine.functions.get(name)
        if host is not None:
            for fn, low, high in host:
                if low <= len(args) <= high:
                    return self.call_host(name, fn, args)
        key = (name, type(args[0]) if args else None, len(args))
        cached = BUILTIN_CACHE.get(key)
        if cached is not None:
            try:
                return cached.fn(self, depth, *args) if cached.needs_rt else cached.fn(*args)
            except NoMatch:
                pass
        builtins = FUNCTIONS.get(name)
        if builtins is not None:
            for b in builtins:
                if b.min_args <= len(args) <= b.max_args:
                    try:
                        result = b.fn(self, depth, *args) if b.needs_rt else b.fn(*args)
                    except NoMatch:
                        continue
                    BUILTIN_CACHE[key] = b
                    return result
        script = self.g["_FNS"].get((name, len(args)))
        if script is not None:
            return script[0](depth + 1, NOTHIS, *args)
        value = self.scope.get(name)
        if type(value) is FnPtr:
            return self.call_ptr(depth, value, args)
        raise self.not_found(name, args)

    def not_found(self, name: str, args: tuple[Any, ...]) -> RhaiRuntimeError:
        types = ", ".join(ops.type_name(a) for a in args)
        return RhaiRuntimeError(f"Function not found: {name} ({types})")

    def call_host(self, name: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            result = fn(*args)
        except RhaiError:
            raise
        except (RecursionError, MemoryError):
            raise
        except Exception as exc:  # host failures become script errors that `catch` can see
            raise RhaiRuntimeError(f"Error in function '{name}': {exc}") from exc
        return self.from_host(result)

    def from_host(self, value: Any) -> Any:
        t = type(value)
        if t is tuple:
            return [self.from_host(v) for v in value]
        if t is list:
            return [self.from_host(v) for v in value]
        if t is dict:
            return {str(k): self.from_host(v) for k, v in value.items()}
        if value is None or t in (int, float, bool, str, Char, FnPtr, Range):
            if t is int:
                return ops.check_int(value, "value returned by a host function")
            return value
        return value

    def call_ptr(self, depth: int, ptr: Any, args: tuple[Any, ...], this: Any = NOTHIS) -> Any:
        result = self.call_ptr_raw(depth, ptr, args, this)
        return result.value if type(result) is MethodResult else result

    def call_ptr_raw(self, depth: int, ptr: Any, args: tuple[Any, ...], this: Any = NOTHIS) -> Any:
        if type(ptr) is str:
            ptr = FnPtr(ptr)
        if type(ptr) is not FnPtr:
            raise RhaiRuntimeError(f"Function pointer expected but found {ops.type_name(ptr)}")
        full = ptr.curry + tuple(args)
        if ptr.func is not None:
            if ptr.func.__code__.co_argcount != 2 + len(full) + len(ptr.caps):
                raise self.not_found(ptr.name, full)
            return ptr.func(depth + 1, this, *full, *ptr.caps)
        script = self.g["_FNS"].get((ptr.name, len(full)))
        if script is not None:
            return script[0](depth + 1, this, *full)
        if this is not NOTHIS:
            return self.dispatch(depth, ptr.name, (this, *full))
        return self.dispatch(depth, ptr.name, full)

    def import_module(self, name: str) -> HostRef:
        module = self.engine.modules.get(name)
        if module is None:
            raise RhaiRuntimeError(f"Module not found: {name}")
        return HostRef(name, module)

    def call_namespace(self, depth: int, namespace: str, name: str, args: tuple[Any, ...]) -> Any:
        module = self.engine.modules.get(namespace)
        if module is None:
            raise RhaiRuntimeError(f"Module not found: {namespace}")
        fn = HostRef(namespace, module).member(name)
        if not callable(fn):
            raise RhaiRuntimeError(f"Function not found: {namespace}::{name}")
        return self.call_host(f"{namespace}::{name}", fn, args)

    def method(self, depth: int, obj: Any, name: str, args: tuple[Any, ...]) -> Any:
        known = self.method_cache.get((type(obj), name, len(args)))
        if known is not None:
            try:
                result = known.fn(self, depth, obj, *args) if known.needs_rt else known.fn(obj, *args)
            except NoMatch:
                result = self.method_raw(depth, obj, name, args)
        else:
            result = self.method_raw(depth, obj, name, args)
        return result.value if type(result) is MethodResult else result

    def method_writeback(self, depth: int, obj: Any, name: str, args: tuple[Any, ...]) -> MethodResult:
        result = self.method_raw(depth, obj, name, args)
        if type(result) is MethodResult:
            if type(result.this) is str:
                self.check_str(result.this)
            return result
        return MethodResult(result, obj)

    def method_raw(self, depth: int, obj: Any, name: str, args: tuple[Any, ...]) -> Any:
        t = type(obj)
        if t is dict:
            prop = obj.get(name)
            if type(prop) is FnPtr:
                return self.call_ptr_raw(depth, prop, args, obj)
        elif t is HostRef and not (name in ANY_VALUE_METHODS and not obj.has(name)):
            fn = obj.member(name)
            if not callable(fn):
                raise RhaiRuntimeError(f"Function not found: {obj.name}.{name}")
            return self.call_host(f"{obj.name}.{name}", fn, args)
        elif t in self.engine.types and public(name):
            attr = getattr(obj, name, None)
            if callable(attr):
                return self.call_host(name, attr, args)
        if name == "call" and args and type(args[0]) is FnPtr and t is not FnPtr:
            return self.call_ptr_raw(depth, args[0], args[1:], obj)
        typed = self.g["_TFNS"]
        script = typed.get((ops.type_name(obj), name, len(args))) if typed else None
        if script is None:
            script = self.g["_FNS"].get((name, len(args)))
        if script is not None:
            return script[0](depth + 1, obj, *args)
        result = self.dispatch(depth, name, (obj, *args))
        self.remember_method(t, name, len(args))
        return result

    def remember_method(self, t: type, name: str, nargs: int) -> None:
        """After a built-in served `x.name(...)`, later calls on the same type go to it directly.

        Maps (function-pointer properties), modules and host types, and any name the host or script
        defines, always take the full lookup.
        """
        if t in (dict, HostRef) or t in self.engine.types or name in self.engine.functions:
            return
        if name == "call" or any(key[0] == name for key in self.g["_FNS"]):
            return
        builtin = BUILTIN_CACHE.get((name, t, nargs + 1))
        if builtin is not None:
            self.method_cache[(t, name, nargs)] = builtin

    # ------------------------------------------------------------- properties
    def get_prop(self, obj: Any, name: str) -> Any:
        t = type(obj)
        if t is dict:
            return obj.get(name)
        if t is HostRef:
            return obj.member(name)
        if t in self.engine.types and public(name) and hasattr(obj, name):
            return self.from_host(getattr(obj, name))
        getter = self.engine.getters.get(name)
        if getter is not None:
            return self.call_host(name, getter, (obj,))
        for fn in GETTERS.get(name, ()):
            try:
                return fn(obj)
            except NoMatch:
                continue
        raise RhaiRuntimeError(f"Property not found: {name} on {ops.type_name(obj)}")

    def set_prop(self, obj: Any, name: str, value: Any) -> Any:
        t = type(obj)
        if t is dict:
            obj[name] = value
            return self.check_size(obj)
        if t in self.engine.types and public(name):
            setattr(obj, name, value)
            return obj
        setter = self.engine.setters.get(name)
        if setter is not None:
            self.call_host(name, setter, (obj, value))
            return obj
        raise RhaiRuntimeError(f"Cannot set property {name} on {ops.type_name(obj)}")

    def get_index(self, obj: Any, idx: Any) -> Any:
        t = type(obj)
        if t is list:
            if type(idx) is not int:
                raise RhaiRuntimeError(f"Array index must be an integer, not {ops.type_name(idx)}")
            n = len(obj)
            i = idx + n if idx < 0 else idx
            if 0 <= i < n:
                return obj[i]
            raise RhaiRuntimeError(f"Array index {idx} out of bounds: array has {n} elements")
        if t is dict:
            if type(idx) not in (str, Char):
                raise RhaiRuntimeError(f"Object map index must be a string, not {ops.type_name(idx)}")
            return obj.get(str(idx))
        if t is str or t is Char:
            return string_index(obj, idx)
        if t is int:
            return bit_index(obj, idx)
        if t is HostRef and type(idx) is str:
            return obj.member(idx)
        raise RhaiRuntimeError(f"Indexing is not supported on {ops.type_name(obj)}")

    def set_index(self, obj: Any, idx: Any, value: Any) -> Any:
        t = type(obj)
        if t is list:
            if type(idx) is not int:
                raise RhaiRuntimeError(f"Array index must be an integer, not {ops.type_name(idx)}")
            n = len(obj)
            i = idx + n if idx < 0 else idx
            if not 0 <= i < n:
                raise RhaiRuntimeError(f"Array index {idx} out of bounds: array has {n} elements")
            obj[i] = value
            return obj
        if t is dict:
            if type(idx) not in (str, Char):
                raise RhaiRuntimeError(f"Object map index must be a string, not {ops.type_name(idx)}")
            obj[str(idx)] = value
            return self.check_size(obj)
        if t is str and type(idx) is Range:
            if type(value) not in (str, Char):
                raise RhaiRuntimeError("Only a string can be stored into a range of a string")
            lo, hi = range_span(idx, len(obj))
            return self.check_str(obj[:lo] + value + obj[hi:])
        if t is str:
            if type(value) not in (str, Char) or len(value) != 1:
                raise RhaiRuntimeError("Only a character can be stored into a string by index")
            i = normalize_index(idx, len(obj), "String")
            return obj[:i] + value + obj[i + 1 :]
        if t is int:
            return set_bit(obj, idx, value)
        raise RhaiRuntimeError(f"Indexing is not supported on {ops.type_name(obj)}")

    # --------------------------------------------------------------- iteration
    def iterate(self, value: Any) -> Any:
        t = type(value)
        if t is list:
            return [ops.clone(x) if type(x) in (list, dict) else x for x in value]
        if t is Range:
            return value.py_range()
        if t is str or t is Char:
            return [Char(c) for c in value]
        if t is dict:
            return sorted(value)
        if t is range:
            return value
        if t is int:
            return [bool((value >> i) & 1) for i in range(64)]
        if t in self.engine.types or t in self.engine.iterables:
            return iter(value)
        raise RhaiRuntimeError(f"For loop expects an iterable value but found {ops.type_name(value)}")

    # ------------------------------------------------------------------ errors
    def catch_value(self, exc: BaseException) -> Any:
        if isinstance(exc, RhaiThrow):
            return exc.value
        self.posfix(exc)
        assert isinstance(exc, RhaiError)
        return {
            "message": exc.message,
            "line": exc.line,
            "position": exc.column,
            "error": error_kind(exc.message),
        }


def case_range(subject: Any, rng: Range) -> bool:
    if type(subject) is Range:
        return subject == rng
    return subject in rng


def range_span(rng: Range, n: int) -> tuple[int, int]:
    """Slice bounds of a range over a sequence of length n; negative ends count from the end."""
    start = rng.start + n if rng.start < 0 else rng.start
    end = rng.end + n if rng.end < 0 else rng.end
    stop = end + 1 if rng.inclusive and end < n else end
    lo = min(max(start, 0), n)
    return lo, max(min(stop, n), lo)


# Rhai's names for error kinds, recognised from our messages, for the `error` field of caught errors.
ERROR_KINDS = (
    ("Function not found", "ErrorFunctionNotFound"),
    ("Variable not found", "ErrorVariableNotFound"),
    ("Module not found", "ErrorModuleNotFound"),
    ("Property not found", "ErrorPropertyNotFound"),
    ("Division by zero", "ErrorArithmetic"),
    ("Arithmetic", "ErrorArithmetic"),
    ("Integer", "ErrorArithmetic"),
    ("out of bounds", "ErrorArrayBounds"),
    ("Boolean value expected", "ErrorMismatchDataType"),
    ("Unbound 'this'", "ErrorUnboundThis"),
    ("Error in function", "ErrorInFunctionCall"),
    ("For loop expects", "ErrorFor"),
)


def error_kind(message: str) -> str:
    for fragment, kind in ERROR_KINDS:
        if fragment in message:
            return kind
    return "ErrorRuntime"


def unbound_this() -> Any:
    raise RhaiRuntimeError("Unbound 'this': the function was not called as a method")


def set_cell(cell: list[Any], value: Any) -> Any:
    cell[0] = value
    return value


def make_range(a: Any, b: Any, inclusive: bool) -> Range:
    if type(a) is not int or type(b) is not int:
        raise RhaiRuntimeError(f"Range bounds must be integers, not {ops.type_name(a)} and {ops.type_name(b)}")
    return Range(a, b, inclusive)


def int_range(a: Any, b: Any, inclusive: bool) -> range:
    if type(a) is not int or type(b) is not int:
        raise RhaiRuntimeError(f"Range bounds must be integers, not {ops.type_name(a)} and {ops.type_name(b)}")
    return range(a, b + 1 if inclusive else b)


def normalize_index(idx: Any, n: int, what: str) -> int:
    if type(idx) is not int:
        raise RhaiRuntimeError(f"{what} index must be an integer, not {ops.type_name(idx)}")
    i = idx + n if idx < 0 else idx
    if not 0 <= i < n:
        raise RhaiRuntimeError(f"{what} index {idx} out of bounds: length is {n}")
    return i


def string_index(s: str, idx: Any) -> Any:
    if type(idx) is Range:
        lo, hi = range_span(idx, len(s))
        return str(s[lo:hi])
    return Char(s[normalize_index(idx, len(s), "String")])


def bit_index(value: int, idx: Any) -> Any:
    if type(idx) is Range:
        start, stop = max(idx.start, 0), min(idx.stop, 64)
        if stop <= start:
            return 0
        return ((value & ((1 << 64) - 1)) >> start) & ((1 << (stop - start)) - 1)
    i = normalize_index(idx, 64, "Bit-field")
    return bool((value >> i) & 1)


def set_bit(value: int, idx: Any, bit: Any) -> int:
    if type(idx) is Range:
        from .stdlib.math import set_bits

        if type(bit) is not int:
            raise RhaiRuntimeError(f"Bit-field value must be an integer, not {ops.type_name(bit)}")
        return int(set_bits(value, idx, bit).this)
    i = normalize_index(idx, 64, "Bit-field")
    if type(bit) is not bool:
        raise RhaiRuntimeError(f"Bit-field value must be a boolean, not {ops.type_name(bit)}")
    raw = value | (1 << i) if bit else value & ~(1 << i)
    return ops.wrap64(raw)
