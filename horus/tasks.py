"""Celery-style task registration for the ``python`` runner: ``@task`` on a plain function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

#: Registered tasks by name (the function's name unless ``name=`` is given).
REGISTRY: dict[str, Callable[..., Any]] = {}


@overload
def task(fn: F, /) -> F: ...


@overload
def task(*, name: str | None = None) -> Callable[[F], F]: ...


def task(fn: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Register ``fn`` so a job with payload ``{"task": name, ...}`` calls it."""

    def register(func: F) -> F:
        key = name or func.__name__
        existing = REGISTRY.get(key)
        if existing is not None and existing is not func:
            raise ValueError(f"task name {key!r} is already registered by {existing.__module__}")
        REGISTRY[key] = func
        return func

    return register(fn) if fn is not None else register
