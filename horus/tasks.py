"""Tasks of the ``python`` runner: the registry, a call's encoding, and what a running task sees.

A task is registered by the bare ``@task`` decorator or by :meth:`horus.Horus.task`; both put
it into :data:`REGISTRY` under its name (the function's qualified name unless ``name=`` is
given), which the worker's ``--app`` modules fill when imported. A call travels as the job's
payload ``{"task": NAME, "args": [...], "kwargs": {...}}``: the client encodes it with
:func:`encode_call` and the worker (or eager mode) decodes it with :func:`decode_call`.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import TracebackType
from typing import Any, TypeVar, overload

import orjson

F = TypeVar("F", bound=Callable[..., Any])

#: The longest progress message kept; a longer one is cut.
MAX_PROGRESS_MESSAGE = 1_000

#: Types orjson would turn into strings or objects on its own (a datetime into ISO text, a
#: dataclass into a dict): refused instead, so a task never gets a type its caller did not send.
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A registered task: the function and how it is called."""

    name: str
    fn: Callable[..., Any]
    #: The function takes the job's :class:`TaskContext` as its first argument.
    bind: bool = False
    #: ``async def``: run on the worker child's event loop.
    is_async: bool = False
    #: The function declares an ``inputs`` parameter (workflow steps' upstream results).
    takes_inputs: bool = False

    @classmethod
    def of(cls, fn: Callable[..., Any], name: str | None = None, bind: bool = False) -> TaskSpec:
        return cls(
            name=name or fn.__qualname__,
            fn=fn,
            bind=bind,
            is_async=inspect.iscoroutinefunction(fn),
            takes_inputs=_declares(fn, "inputs"),
        )


def _declares(fn: Callable[..., Any], parameter: str) -> bool:
    try:
        return parameter in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


#: Registered tasks by name.
REGISTRY: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task to :data:`REGISTRY`; a second function under a taken name is refused."""
    existing = REGISTRY.get(spec.name)
    if existing is not None and existing.fn is not spec.fn:
        raise ValueError(
            f"task name {spec.name!r} is already registered by {existing.fn.__module__}; pass name= to tell them apart"
        )
    REGISTRY[spec.name] = spec
    return spec


@overload
def task(fn: F, /) -> F: ...


@overload
def task(*, name: str | None = None, bind: bool = False) -> Callable[[F], F]: ...


def task(fn: F | None = None, /, *, name: str | None = None, bind: bool = False) -> F | Callable[[F], F]:
    """Register ``fn`` so a job with payload ``{"task": name, ...}`` calls it; returns ``fn``
    unchanged (:meth:`horus.Horus.task` also gives it ``delay()``)."""

    def decorate(func: F) -> F:
        register(TaskSpec.of(func, name, bind))
        return func

    return decorate(fn) if fn is not None else decorate


# -- a call's encoding ---------------------------------------------------------------------
def dumps(value: Any) -> str:
    """JSON of ``value``; TypeError when JSON cannot hold it (NaN is written as null)."""
    try:
        return orjson.dumps(value, option=_STRICT).decode()
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
    import json  # only for integers past 64 bits, which orjson refuses

    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_not_json)
    except ValueError as exc:
        raise TypeError(str(exc)) from None


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _culprit(args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    named = [(f"argument {position}", value) for position, value in enumerate(args)]
    named += [(f"argument {name!r}", value) for name, value in kwargs.items()]
    for where, value in named:
        try:
            dumps(value)
        except TypeError as exc:
            return f"{where} ({type(value).__name__}: {exc})"
    return "a keyword argument's name"


def encode_call(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """The payload of a call. Raises TypeError naming the first argument JSON cannot hold
    (its position or name, and its type), so a bad call fails where it is made."""
    call = {"task": name, "args": args, "kwargs": kwargs} if kwargs else {"task": name, "args": args}
    try:
        return dumps(call)
    except TypeError:
        pass
    raise TypeError(
        f"task {name!r}: {_culprit(args, kwargs)} cannot be sent as JSON; "
        "pass str, int, float, bool, None, list, tuple or dict with str keys"
    ) from None


def decode_call(payload: str) -> tuple[str, list[Any], dict[str, Any]]:
    """The task name, args and kwargs of a payload; ValueError saying what is wrong with it."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("task"), str):
        raise ValueError('payload must be an object {"task": NAME, "args": [...], "kwargs": {...}}')
    args, kwargs = data.get("args", []), data.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError("payload args must be a list and kwargs an object")
    return data["task"], args, kwargs


# -- what a running task sees ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Progress:
    """How far a running task says it is."""

    percent: float
    message: str = ""


def checked_progress(percent: Any, message: Any = "") -> Progress:
    """A progress report, or ValueError naming what is wrong with it."""
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not math.isfinite(percent):
        raise ValueError(f"progress percent must be a number from 0 to 100 (got {percent!r})")
    if not 0 <= percent <= 100:
        raise ValueError(f"progress percent must be from 0 to 100 (got {percent!r})")
    if not isinstance(message, str):
        raise ValueError(f"progress message must be a string (got {type(message).__name__})")
    return Progress(int(percent) if float(percent).is_integer() else float(percent), message[:MAX_PROGRESS_MESSAGE])


@dataclass
class TaskContext:
    """The job a task runs for: given as the first argument of a ``bind=True`` task, and
    returned by :func:`current_job`. Outside a job (a plain call) ``id`` is empty and
    :meth:`progress` goes nowhere, so a task runs the same when called directly."""

    id: str = ""
    #: This attempt's number: 1, then 2 on the first retry, …
    attempt: int = 1
    runner_id: str = ""
    #: How many retries the job allows in all.
    retries: int = 0
    _report: Callable[[Progress], None] | None = field(default=None, repr=False)

    def progress(self, percent: float, message: str = "") -> None:
        """Report how far the task is (0 to 100, and what it is doing): ``horus status JOB``
        shows the latest while the job runs. Cheap: the worker sends it in the background."""
        report = checked_progress(percent, message)
        if self._report is not None:
            self._report(report)


_DETACHED = TaskContext()
_current: TaskContext = _DETACHED


def current_job() -> TaskContext:
    """The job the calling task runs for (one job at a time runs in a worker process); outside
    a job, a detached context with no id."""
    return _current


def enter(ctx: TaskContext) -> TaskContext:
    """Make ``ctx`` the current job; returns the one to restore with :func:`leave`."""
    global _current
    previous, _current = _current, ctx
    return previous


def leave(previous: TaskContext) -> None:
    global _current
    _current = previous


def detached() -> TaskContext:
    return _DETACHED


def _directory(path: str) -> str:
    return os.path.dirname(os.path.abspath(path)) + os.sep


@cache
def _horus_dirs() -> tuple[str, ...]:
    """Where Horus's own code lives (``horus.workers`` may be installed apart from ``horus``)."""
    dirs = [_directory(__file__)]
    spec = importlib.util.find_spec("horus.workers")
    if spec is not None and spec.submodule_search_locations:
        dirs += [os.path.join(os.path.abspath(d), "") for d in spec.submodule_search_locations]
    return tuple(dirs)


def task_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from its first frame outside Horus and asyncio on (the loop an async task
    runs on, once imported); the whole of it if there is none: then the error is Horus's own."""
    aio = sys.modules.get("asyncio")
    skipped = _horus_dirs()
    if aio is not None and aio.__file__ is not None:
        skipped = (*skipped, _directory(aio.__file__))
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename.startswith(skipped):
        first = first.tb_next
    return first if first is not None else tb


def task_traceback(exc: BaseException) -> str:
    """The traceback of an exception a task raised, from the task's own first frame on: the
    frames of Horus that called it are left out (later ones, called by the task, are kept)."""
    return "".join(traceback.format_exception(type(exc), exc, task_frames(exc.__traceback__))).rstrip()
