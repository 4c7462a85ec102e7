"""Object-map functions; maps are Python dicts with string keys, listed in sorted key order."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from ..errors import RhaiRuntimeError
from ..ops import clone, equals, type_name
from ..values import Char, FnPtr
from .arrays import truthy
from .registry import builtin, want

if TYPE_CHECKING:
    from ..runtime import Runtime


def mapping(value: Any) -> dict[str, Any]:
    want(type(value) is dict)
    assert isinstance(value, dict)
    return value


def key(value: Any) -> str:
    want(type(value) in (str, Char))
    return str(value)


@builtin("get")
def get(m: Any, name: Any) -> Any:
    return clone(mapping(m).get(key(name)))


@builtin("set", rt=True)
def set_(rt: Runtime, depth: int, m: Any, name: Any, value: Any) -> None:
    d = mapping(m)
    d[key(name)] = clone(value)
    rt.check_size(d)


@builtin("clear")
def clear(m: Any) -> None:
    mapping(m).clear()


@builtin("remove")
def remove(m: Any, name: Any) -> Any:
    return mapping(m).pop(key(name), None)


@builtin("contains")
def contains(m: Any, name: Any) -> bool:
    return key(name) in mapping(m)


@builtin("keys")
def keys(m: Any) -> list[Any]:
    return sorted(mapping(m))


@builtin("values")
def values(m: Any) -> list[Any]:
    d = mapping(m)
    return [clone(d[k]) for k in sorted(d)]


@builtin("mixin", rt=True)
def mixin(rt: Runtime, depth: int, m: Any, other: Any) -> None:
    d = mapping(m)
    d.update(clone(mapping(other)))
    rt.check_size(d)


@builtin("fill_with", rt=True)
def fill_with(rt: Runtime, depth: int, m: Any, other: Any) -> None:
    d = mapping(m)
    for k, v in mapping(other).items():
        if k not in d:
            d[k] = clone(v)
    rt.check_size(d)


def call_kv(rt: Runtime, depth: int, fn: Any, k: str, v: Any) -> bool:
    want(type(fn) is FnPtr)
    return truthy(rt.call_ptr(depth, fn, (k, v)))


@builtin("filter", rt=True)
def filter_(rt: Runtime, depth: int, m: Any, fn: Any) -> dict[str, Any]:
    d = mapping(m)
    return {k: clone(d[k]) for k in sorted(d) if call_kv(rt, depth, fn, k, d[k])}


@builtin("drain", rt=True)
def drain(rt: Runtime, depth: int, m: Any, fn: Any) -> dict[str, Any]:
    d = mapping(m)
    removed = {k: d[k] for k in sorted(d) if call_kv(rt, depth, fn, k, d[k])}
    for k in removed:
        del d[k]
    return removed


@builtin("retain", rt=True)
def retain(rt: Runtime, depth: int, m: Any, fn: Any) -> dict[str, Any]:
    d = mapping(m)
    removed = {k: d[k] for k in sorted(d) if not call_kv(rt, depth, fn, k, d[k])}
    for k in removed:
        del d[k]
    return removed


def jsonable(value: Any) -> Any:
    t = type(value)
    if value is None or t in (bool, int, str):
        return value
    if t is Char:
        return str(value)
    if t is float:
        if math.isnan(value) or math.isinf(value):
            raise RhaiRuntimeError("Cannot convert a non-finite number to JSON")
        return value
    if t is list:
        return [jsonable(v) for v in value]
    if t is dict:
        return {k: jsonable(value[k]) for k in sorted(value)}
    raise RhaiRuntimeError(f"Cannot convert {type_name(value)} to JSON")


@builtin("to_json")
def to_json(m: Any) -> str:
    return json.dumps(jsonable(mapping(m)), separators=(",", ":"), ensure_ascii=False)


@builtin("parse_json")
def parse_json(text: Any) -> Any:
    want(type(text) is str)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise RhaiRuntimeError(f"Invalid JSON: {exc}") from None
    return value


@builtin("equals")
def map_equals(a: Any, b: Any) -> bool:
    return equals(mapping(a), b)
