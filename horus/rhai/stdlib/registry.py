"""Registry of built-in functions; each one checks its argument types and raises NoMatch otherwise."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from horus.errors import HorusError

F = TypeVar("F", bound=Callable[..., Any])


class NoMatch(HorusError):
    """Raised by a built-in when the argument types are not its own, so dispatch tries the next one."""


@dataclass(frozen=True)
class Builtin:
    fn: Callable[..., Any]
    min_args: int
    max_args: int
    needs_rt: bool  # called as fn(runtime, depth, *args) to reach the engine or call function pointers


FUNCTIONS: dict[str, list[Builtin]] = {}
GETTERS: dict[str, list[Callable[[Any], Any]]] = {}


def arity(fn: Callable[..., Any], skip: int) -> tuple[int, int]:
    params = list(inspect.signature(fn).parameters.values())[skip:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return sum(1 for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD), 255
    required = sum(1 for p in params if p.default is p.empty)
    return required, len(params)


def builtin(*names: str, rt: bool = False, getter: bool = False) -> Callable[[F], F]:
    def register(fn: F) -> F:
        low, high = arity(fn, 2 if rt else 0)
        for name in names:
            FUNCTIONS.setdefault(name, []).append(Builtin(fn, low, high, rt))
            if getter:
                GETTERS.setdefault(name, []).append(fn)
        return fn

    return register


def want(cond: bool) -> None:
    if not cond:
        raise NoMatch


def want_int(*values: Any) -> None:
    for v in values:
        if type(v) is not int:
            raise NoMatch
