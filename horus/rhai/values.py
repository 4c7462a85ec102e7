"""Runtime value types that have no direct Python equivalent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any


class Char(str):
    """A Rhai `char`: a one-character string that keeps its own type name."""

    __slots__ = ()


class Range:
    """An integer range `a..b` or `a..=b`."""

    __slots__ = ("end", "inclusive", "start")

    def __init__(self, start: int, end: int, inclusive: bool) -> None:
        self.start = start
        self.end = end
        self.inclusive = inclusive

    @property
    def stop(self) -> int:
        return self.end + 1 if self.inclusive else self.end

    def py_range(self) -> range:
        return range(self.start, self.stop)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __contains__(self, item: object) -> bool:
        return type(item) is int and self.start <= item < self.stop

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and (self.start, self.end, self.inclusive) == (
            other.start,
            other.end,
            other.inclusive,
        )

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.inclusive))

    def __repr__(self) -> str:
        return f"{self.start}..{'=' if self.inclusive else ''}{self.end}"


class FnPtr:
    """A function pointer: a name, an optional compiled body, and curried arguments.

    `func` takes (depth, this, *args); named pointers to script functions are resolved lazily.
    """

    __slots__ = ("caps", "curry", "func", "name")

    def __init__(
        self,
        name: str,
        func: Callable[..., Any] | None = None,
        caps: tuple[Any, ...] = (),
        curry: tuple[Any, ...] = (),
    ) -> None:
        self.name = name
        self.func = func
        self.caps = caps  # shared cells of the variables a closure captured
        self.curry = curry

    @property
    def is_anonymous(self) -> bool:
        return self.name.startswith("anon$")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FnPtr) and (self.name, self.func, self.curry) == (
            other.name,
            other.func,
            other.curry,
        )

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Fn({self.name})"


class Timestamp:
    """The value returned by `timestamp()`; `elapsed` measures seconds since it was taken."""

    __slots__ = ("t",)

    def __init__(self, t: float | None = None) -> None:
        self.t = time.monotonic() if t is None else t

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t

    def __repr__(self) -> str:
        return "<timestamp>"


class Unbound:
    """The `this` of a function called without a receiver (distinct from the unit value `()`)."""

    __slots__ = ()


NOTHIS = Unbound()


class MethodResult:
    """Returned by script methods that assign `this`, so the caller can write the new value back."""

    __slots__ = ("this", "value")

    def __init__(self, value: Any, this: Any) -> None:
        self.value = value
        self.this = this
