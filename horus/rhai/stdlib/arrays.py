"""Array functions; arrays are Python lists and are modified in place."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from ..errors import RhaiRuntimeError
from ..ops import clone, equals, type_name
from ..values import Char, FnPtr, Range
from .registry import builtin, want
from .strings import span

if TYPE_CHECKING:
    from ..runtime import Runtime


def array(value: Any) -> list[Any]:
    want(type(value) is list)
    assert isinstance(value, list)
    return value


def ptr_params(rt: Runtime, ptr: FnPtr) -> int | None:
    """How many arguments a function pointer takes beyond its curried ones, when known."""
    if ptr.func is not None:
        code = getattr(ptr.func, "__code__", None)
        if code is None:
            return None
        return int(code.co_argcount) - 2 - len(ptr.caps) - len(ptr.curry)
    for n in (1, 2, 3):
        if (ptr.name, n + len(ptr.curry)) in rt.g["_FNS"]:
            return n
    return None


def apply(rt: Runtime, depth: int, ptr: Any, item: Any, index: int) -> Any:
    """Call a predicate/mapper with `this` bound to the item, passing the index if it takes two."""
    if type(ptr) is not FnPtr:
        raise RhaiRuntimeError(f"Function pointer expected but found {type_name(ptr)}")
    return rt.call_ptr(depth, ptr, fit_args(rt, ptr, (item, index)), item)


def fit_args(rt: Runtime, ptr: FnPtr, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pass only as many of (item, index, ...) as the callback declares; `this` carries the item too."""
    wanted = ptr_params(rt, ptr)
    if wanted is None:
        return args[:1]
    return args[: max(wanted, 0)]


def truthy(value: Any) -> bool:
    if type(value) is not bool:
        raise RhaiRuntimeError(f"Boolean value expected but found {type_name(value)}")
    return value


def norm(n: int, index: int) -> int:
    return max(n + index, 0) if index < 0 else min(index, n)


@builtin("get")
def get(arr: Any, index: Any) -> Any:
    a = array(arr)
    want(type(index) is int)
    i = index + len(a) if index < 0 else index
    return clone(a[i]) if 0 <= i < len(a) else None


@builtin("set")
def set_(arr: Any, index: Any, value: Any) -> None:
    a = array(arr)
    want(type(index) is int)
    i = index + len(a) if index < 0 else index
    if 0 <= i < len(a):
        a[i] = clone(value)


@builtin("push", rt=True)
def push(rt: Runtime, depth: int, arr: Any, value: Any) -> None:
    a = array(arr)
    a.append(clone(value))
    rt.check_size(a)


@builtin("append", rt=True)
def append(rt: Runtime, depth: int, arr: Any, other: Any) -> None:
    a = array(arr)
    if type(other) is list:
        a.extend(clone(other))
    else:
        a.append(clone(other))
    rt.check_size(a)


@builtin("insert", rt=True)
def insert(rt: Runtime, depth: int, arr: Any, index: Any, value: Any) -> None:
    a = array(arr)
    want(type(index) is int)
    a.insert(norm(len(a), index), clone(value))
    rt.check_size(a)


@builtin("pop")
def pop(arr: Any) -> Any:
    a = array(arr)
    return a.pop() if a else None


@builtin("shift")
def shift(arr: Any) -> Any:
    a = array(arr)
    return a.pop(0) if a else None


@builtin("remove")
def remove(arr: Any, index: Any) -> Any:
    a = array(arr)
    want(type(index) is int)
    i = index + len(a) if index < 0 else index
    return a.pop(i) if 0 <= i < len(a) else None


@builtin("extract")
def extract(arr: Any, start: Any, length: Any = None) -> list[Any]:
    a = array(arr)
    lo, hi = span(len(a), start, length)
    return list(clone(a[lo:hi]))


@builtin("reverse")
def reverse(arr: Any) -> None:
    array(arr).reverse()


@builtin("pad", rt=True)
def pad(rt: Runtime, depth: int, arr: Any, target: Any, value: Any) -> None:
    a = array(arr)
    want(type(target) is int)
    if rt.max_array and target > rt.max_array:
        rt.check_size([None] * (rt.max_array + 1))
    if len(a) >= target:
        return
    if type(value) in (list, dict):
        a.extend(clone(value) for _ in range(target - len(a)))
    else:
        a.extend([value] * (target - len(a)))


@builtin("clear")
def clear(arr: Any) -> None:
    array(arr).clear()


@builtin("truncate")
def truncate(arr: Any, n: Any) -> None:
    a = array(arr)
    want(type(n) is int)
    del a[max(n, 0) :]


@builtin("chop")
def chop(arr: Any, n: Any) -> None:
    a = array(arr)
    want(type(n) is int)
    if n <= 0:
        a.clear()
    elif n < len(a):
        del a[: len(a) - n]


@builtin("split")
def split(arr: Any, index: Any) -> list[Any]:
    a = array(arr)
    want(type(index) is int)
    i = norm(len(a), index)
    tail = a[i:]
    del a[i:]
    return tail


@builtin("contains")
def contains(arr: Any, value: Any) -> bool:
    return any(equals(value, x) for x in array(arr))


@builtin("index_of", rt=True)
def index_of(rt: Runtime, depth: int, arr: Any, target: Any, start: Any = 0) -> int:
    a = array(arr)
    want(type(start) is int)
    if type(target) is str and (target, 1) in rt.g["_FNS"]:
        target = FnPtr(target)  # a script function's name works as a predicate, as in Rhai
    for i in range(norm(len(a), start), len(a)):
        if type(target) is FnPtr:
            if truthy(apply(rt, depth, target, a[i], i)):
                return i
        elif equals(target, a[i]):
            return i
    return -1


@builtin("find", rt=True)
def find(rt: Runtime, depth: int, arr: Any, pred: Any, start: Any = 0) -> Any:
    a = array(arr)
    for i in range(norm(len(a), start), len(a)):
        if truthy(apply(rt, depth, pred, a[i], i)):
            return clone(a[i])
    return None


@builtin("find_map", rt=True)
def find_map(rt: Runtime, depth: int, arr: Any, pred: Any, start: Any = 0) -> Any:
    a = array(arr)
    for i in range(norm(len(a), start), len(a)):
        result = apply(rt, depth, pred, a[i], i)
        if result is not None:
            return result
    return None


@builtin("for_each", rt=True)
def for_each(rt: Runtime, depth: int, arr: Any, fn: Any) -> None:
    a = array(arr)
    for i, item in enumerate(a):
        a[i] = item
        apply_this(rt, depth, fn, a, i)


def apply_this(rt: Runtime, depth: int, ptr: Any, a: list[Any], i: int) -> None:
    # `for_each` binds `this` to the element itself, so a write to `this` updates the array.
    from ..values import MethodResult

    if type(ptr) is not FnPtr:
        raise RhaiRuntimeError(f"Function pointer expected but found {type_name(ptr)}")
    # The element is `this`; the only parameter a callback may take is the index.
    result = rt.call_ptr_raw(depth, ptr, fit_args(rt, ptr, (i,)), a[i])
    if type(result) is MethodResult:
        a[i] = result.this


@builtin("map", rt=True)
def map_(rt: Runtime, depth: int, arr: Any, fn: Any) -> list[Any]:
    a = array(arr)
    return [apply(rt, depth, fn, item, i) for i, item in enumerate(a)]


@builtin("filter", rt=True)
def filter_(rt: Runtime, depth: int, arr: Any, fn: Any) -> list[Any]:
    a = array(arr)
    return [clone(item) for i, item in enumerate(a) if truthy(apply(rt, depth, fn, item, i))]


@builtin("some", rt=True)
def some(rt: Runtime, depth: int, arr: Any, fn: Any) -> bool:
    return any(truthy(apply(rt, depth, fn, item, i)) for i, item in enumerate(array(arr)))


@builtin("all", rt=True)
def all_(rt: Runtime, depth: int, arr: Any, fn: Any) -> bool:
    return all(truthy(apply(rt, depth, fn, item, i)) for i, item in enumerate(array(arr)))


@builtin("reduce", rt=True)
def reduce(rt: Runtime, depth: int, arr: Any, fn: Any, initial: Any = None) -> Any:
    acc = initial
    for i, item in enumerate(array(arr)):
        acc = reduce_step(rt, depth, fn, acc, item, i)
    return acc


@builtin("reduce_rev", rt=True)
def reduce_rev(rt: Runtime, depth: int, arr: Any, fn: Any, initial: Any = None) -> Any:
    a = array(arr)
    acc = initial
    for i in range(len(a) - 1, -1, -1):
        acc = reduce_step(rt, depth, fn, acc, a[i], i)
    return acc


def reduce_step(rt: Runtime, depth: int, fn: Any, acc: Any, item: Any, i: int) -> Any:
    want(type(fn) is FnPtr)
    args: tuple[Any, ...] = (acc, item, i) if ptr_params(rt, fn) == 3 else (acc, item)
    return rt.call_ptr(depth, fn, args)


@builtin("zip", rt=True)
def zip_(rt: Runtime, depth: int, arr: Any, other: Any, fn: Any) -> list[Any]:
    a, b = array(arr), array(other)
    want(type(fn) is FnPtr)
    return [rt.call_ptr(depth, fn, (x, y)) for x, y in zip(a, b, strict=False)]


def default_key(value: Any) -> tuple[int, Any]:
    t = type(value)
    if t in (int, float):
        return (0, value)
    if t in (str, Char):
        return (1, str(value))
    if t is bool:
        return (2, value)
    if value is None:
        return (3, 0)
    raise RhaiRuntimeError(f"Cannot sort values of type {type_name(value)}")


def comparator(rt: Runtime, depth: int, fn: Any) -> Any:
    want(type(fn) is FnPtr)

    def compare(x: Any, y: Any) -> int:
        result = rt.call_ptr(depth, fn, (x, y))
        if type(result) is not int:
            raise RhaiRuntimeError("A sort comparer must return an integer")
        return (result > 0) - (result < 0)

    return functools.cmp_to_key(compare)


@builtin("sort", rt=True)
def sort(rt: Runtime, depth: int, arr: Any, fn: Any = None) -> None:
    a = array(arr)
    a.sort(key=default_key if fn is None else comparator(rt, depth, fn))


@builtin("sort_by", rt=True)
def sort_by(rt: Runtime, depth: int, arr: Any, fn: Any) -> None:
    array(arr).sort(key=comparator(rt, depth, fn))


@builtin("sort_desc")
def sort_desc(arr: Any) -> None:
    array(arr).sort(key=default_key, reverse=True)


@builtin("order", rt=True)
def order(rt: Runtime, depth: int, arr: Any, fn: Any = None) -> list[Any]:
    a = list(clone(array(arr)))
    a.sort(key=default_key if fn is None else comparator(rt, depth, fn))
    return a


@builtin("order_by", rt=True)
def order_by(rt: Runtime, depth: int, arr: Any, fn: Any) -> list[Any]:
    return sorted(clone(array(arr)), key=comparator(rt, depth, fn))


@builtin("order_desc")
def order_desc(arr: Any) -> list[Any]:
    return sorted(clone(array(arr)), key=default_key, reverse=True)


@builtin("dedup", rt=True)
def dedup(rt: Runtime, depth: int, arr: Any, fn: Any = None) -> None:
    a = array(arr)
    out: list[Any] = []
    for item in a:
        if out:
            same = equals(out[-1], item) if fn is None else truthy(rt.call_ptr(depth, fn, (out[-1], item)))
            if same:
                continue
        out.append(item)
    a[:] = out


def select(rt: Runtime, depth: int, a: list[Any], what: Any, length: Any) -> list[bool]:
    """Which elements a drain/retain call selects: a predicate, a range, or (start, length)."""
    if type(what) is FnPtr:
        return [truthy(apply(rt, depth, what, item, i)) for i, item in enumerate(a)]
    lo, hi = span(len(a), what, length if length is not None else len(a))
    return [lo <= i < hi for i in range(len(a))]


@builtin("drain", rt=True)
def drain(rt: Runtime, depth: int, arr: Any, what: Any, length: Any = None) -> list[Any]:
    a = array(arr)
    want(type(what) in (FnPtr, int, Range))
    picks = select(rt, depth, a, what, length)
    removed = [x for x, p in zip(a, picks, strict=True) if p]
    a[:] = [x for x, p in zip(a, picks, strict=True) if not p]
    return removed


@builtin("retain", rt=True)
def retain(rt: Runtime, depth: int, arr: Any, what: Any, length: Any = None) -> list[Any]:
    a = array(arr)
    want(type(what) in (FnPtr, int, Range))
    picks = select(rt, depth, a, what, length)
    removed = [x for x, p in zip(a, picks, strict=True) if not p]
    a[:] = [x for x, p in zip(a, picks, strict=True) if p]
    return removed


@builtin("splice")
def splice(arr: Any, start: Any, length: Any, other: Any = None) -> None:
    a = array(arr)
    if other is None:
        want(type(start) is Range and type(length) is list)
        lo, hi = span(len(a), start)
        a[lo:hi] = clone(length)
        return
    want(type(other) is list)
    lo, hi = span(len(a), start, length)
    a[lo:hi] = clone(other)


@builtin("min")
def min_(a: Any, b: Any) -> Any:
    want(type(a) in (int, float) and type(b) in (int, float))
    return a if a <= b else b


@builtin("max")
def max_(a: Any, b: Any) -> Any:
    want(type(a) in (int, float) and type(b) in (int, float))
    return a if a >= b else b
