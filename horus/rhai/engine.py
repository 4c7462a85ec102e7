"""Public API: Engine, Scope and compiled Program."""

from __future__ import annotations

import inspect
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import CodeType, TracebackType
from typing import Any

from .compiler import compile_script
from .errors import RhaiError, RhaiLimitError, RhaiMemoryError, RhaiParseError, RhaiRuntimeError, RhaiThrow
from .parser import parse
from .resolver import resolve
from .runtime import HostRef, Runtime
from .values import Char, FnPtr, Range

_program_ids = iter(range(1, sys.maxsize))


@dataclass
class Program:
    """A compiled script, reusable across runs and engines with the same registrations."""

    source: str
    code: CodeType
    python: str  # the generated Python source, handy for debugging the compiler
    positions: dict[int, tuple[int, int]]
    filename: str
    counts_ops: bool = True  # compiled with operation counting (needed for max_operations / deadlines)


class Scope:
    """Variables visible to a script; top-level `let`s are written back after a run."""

    def __init__(self, variables: dict[str, Any] | None = None) -> None:
        self.vars: dict[str, Any] = dict(variables or {})

    def set(self, name: str, value: Any) -> Scope:
        self.vars[name] = value
        return self

    push = set  # Rhai's name for adding a variable

    def __repr__(self) -> str:
        return f"Scope({self.to_dict()!r})"

    def get(self, name: str, default: Any = None) -> Any:
        return to_python(self.vars.get(name, default))

    def __getitem__(self, name: str) -> Any:
        return to_python(self.vars[name])

    def __setitem__(self, name: str, value: Any) -> None:
        self.vars[name] = value

    def __contains__(self, name: object) -> bool:
        return name in self.vars

    def __iter__(self) -> Iterator[str]:
        return iter(self.vars)

    def __len__(self) -> int:
        return len(self.vars)

    def to_dict(self) -> dict[str, Any]:
        return {k: to_python(v) for k, v in self.vars.items()}


def default_print(text: str) -> None:
    print(text)


def default_debug(text: str) -> None:
    print(text, file=sys.stderr)


class Engine:
    def __init__(
        self,
        *,
        max_operations: int = 0,
        max_call_depth: int = 64,
        max_string_size: int = 0,
        max_array_size: int = 0,
        max_map_size: int = 0,
        deadline: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """Limits of 0 mean unlimited; `deadline` is a time.monotonic() instant, `timeout` seconds per run."""
        self.max_operations = max_operations
        self.max_call_depth = max_call_depth
        self.max_string_size = max_string_size
        self.max_array_size = max_array_size
        self.max_map_size = max_map_size
        self.deadline = deadline
        self.timeout = timeout
        self.functions: dict[str, list[tuple[Callable[..., Any], int, int]]] = {}
        self.modules: dict[str, Any] = {}
        self.types: set[type] = set()
        self.iterables: set[type] = set()
        self.getters: dict[str, Callable[..., Any]] = {}
        self.setters: dict[str, Callable[..., Any]] = {}
        self.print_handler: Callable[[str], object] = default_print
        self.debug_handler: Callable[[str], object] = default_debug
        self._cache: OrderedDict[str, Program] = OrderedDict()

    # ----------------------------------------------------------- registration
    def register_fn(self, name: str, fn: Callable[..., Any]) -> Engine:
        low, high = host_arity(fn)
        overloads = [o for o in self.functions.get(name, []) if (o[1], o[2]) != (low, high)]
        self.functions[name] = [(fn, low, high), *overloads]
        return self

    def register_module(self, name: str, obj: Any) -> Engine:
        """Expose `obj` as `name::fn(...)` and as a variable `name` with public attributes/methods."""
        self.modules[name] = obj
        return self

    def register_type(self, cls: type, iterable: bool = False) -> Engine:
        """Allow scripts to use the public attributes and methods of instances of `cls`."""
        self.types.add(cls)
        if iterable:
            self.iterables.add(cls)
        return self

    def register_get(self, name: str, fn: Callable[[Any], Any]) -> Engine:
        self.getters[name] = fn
        return self

    def register_set(self, name: str, fn: Callable[[Any, Any], Any]) -> Engine:
        self.setters[name] = fn
        return self

    def on_print(self, callback: Callable[[str], object]) -> Engine:
        self.print_handler = callback
        return self

    def on_debug(self, callback: Callable[[str], object]) -> Engine:
        self.debug_handler = callback
        return self

    def effective_deadline(self) -> float | None:
        candidates = [d for d in (self.deadline,) if d is not None]
        if self.timeout is not None:
            candidates.append(time.monotonic() + self.timeout)
        return min(candidates) if candidates else None

    # -------------------------------------------------------------- compiling
    def counts_operations(self) -> bool:
        return bool(self.max_operations) or self.deadline is not None or self.timeout is not None

    def compile(self, source: str) -> Program:
        counting = self.counts_operations()
        cached = self._cache.get(source)
        if cached is not None and cached.counts_ops == counting:
            self._cache.move_to_end(source)
            return cached
        filename = f"<rhai-{next(_program_ids)}>"
        # The parser and compiler recurse over the tree; long operator chains need more than 1000 frames.
        with recursion_room(20_000):
            try:
                script = parse(source)
                resolve(script)
                code, python, positions = compile_script(script, filename, counting)
            except (RecursionError, SyntaxError, MemoryError) as exc:
                raise RhaiParseError(f"Script too complex to compile: {exc}", source=source) from None
        program = Program(source, code, python, positions, filename, counting)
        self._cache[source] = program
        if len(self._cache) > 64:
            self._cache.popitem(last=False)
        return program

    # ---------------------------------------------------------------- running
    def eval(self, source: str, scope: Scope | dict[str, Any] | None = None) -> Any:
        return self.run(self.compile(source), scope)

    def run(self, program: Program | str, scope: Scope | dict[str, Any] | None = None) -> Any:
        return self.execute(program, scope, None)

    def call_fn(
        self, program: Program | str, name: str, *args: Any, scope: Scope | dict[str, Any] | None = None
    ) -> Any:
        """Run the script's top level, then call its function `name` with `args` (like Rhai's call_fn)."""
        return self.execute(program, scope, (name, args))

    def call_fn_ptr(self, program: Program | str, ptr: FnPtr, *args: Any) -> Any:
        """Call a function pointer (e.g. a closure a script returned) in the context of `program`."""
        return self.execute(program, None, (ptr, args))

    def execute(
        self,
        program: Program | str,
        scope: Scope | dict[str, Any] | None,
        call: tuple[str | FnPtr, tuple[Any, ...]] | None,
    ) -> Any:
        if isinstance(program, str) or (self.counts_operations() and not program.counts_ops):
            program = self.compile(program if isinstance(program, str) else program.source)
        if isinstance(scope, Scope):
            variables, export = scope.vars, True
        else:
            variables, export = (scope if scope is not None else {}), False
        prog = program

        def fix(exc: BaseException) -> None:
            locate(exc, prog)

        runtime = Runtime(self, variables, export, fix)
        namespace = runtime.build_globals()
        # Each Rhai call costs a few Python frames (more through function pointers and built-ins);
        # leave that much room above wherever the host called us from.
        with recursion_room(stack_depth() + self.max_call_depth * 8 + 200):
            return self.execute_in(program, namespace, runtime, call)

    def execute_in(
        self,
        program: Program,
        namespace: dict[str, Any],
        runtime: Runtime,
        call: tuple[str | FnPtr, tuple[Any, ...]] | None,
    ) -> Any:
        try:
            exec(program.code, namespace)
            if call is None:
                return to_python(namespace["__main__"](0))
            target, args = call
            if isinstance(target, str):
                namespace["__main__"](0)
                return to_python(runtime.call(0, target, tuple(args)))
            return to_python(runtime.call_ptr(0, target, tuple(args)))
        except RhaiError as exc:
            locate(exc, program)
            if isinstance(exc, RhaiThrow):
                exc.value = to_python(exc.value)
            raise exc.with_traceback(None) from None
        except RecursionError:
            raise RhaiLimitError("Stack overflow: too many nested calls", source=program.source) from None
        except MemoryError:
            # Not a script error a `catch` could swallow: the host decides (a memory limit).
            raise RhaiMemoryError("Out of memory", source=program.source) from None
        except Exception as exc:
            err = RhaiRuntimeError(f"{type(exc).__name__}: {exc}")
            locate_from(err, exc.__traceback__, program)
            raise err from exc


_limit_lock = threading.Lock()
_limit_users = 0
_limit_saved = 0


@contextmanager
def recursion_room(wanted: int) -> Iterator[None]:
    """Raise the interpreter's recursion limit while any run needs it; restore it after the last one.

    The limit is process-wide, so concurrent runs in threads share one raised value.
    """
    global _limit_users, _limit_saved
    with _limit_lock:
        if _limit_users == 0:
            _limit_saved = sys.getrecursionlimit()
        _limit_users += 1
        if wanted > sys.getrecursionlimit():
            sys.setrecursionlimit(wanted)
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                sys.setrecursionlimit(_limit_saved)


def stack_depth() -> int:
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


def host_arity(fn: Callable[..., Any]) -> tuple[int, int]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 0, 255
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return sum(1 for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD), 255
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return sum(1 for p in positional if p.default is p.empty), len(positional)


def locate(exc: BaseException, program: Program) -> None:
    if isinstance(exc, RhaiError):
        locate_from(exc, exc.__traceback__, program)


def locate_from(exc: RhaiError, tb: TracebackType | None, program: Program) -> None:
    """Map the innermost generated-code frame of the traceback back to a Rhai position."""
    found: tuple[int, int] | None = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == program.filename:
            found = program.positions.get(tb.tb_lineno, found)
        tb = tb.tb_next
    if found is not None:
        exc.with_position(found[0], found[1], program.source)
    elif exc.source is None:
        exc.source = program.source


def to_python(value: Any) -> Any:
    t = type(value)
    if t is Char:
        return str(value)
    if t is list:
        return [to_python(v) for v in value]
    if t is dict:
        return {k: to_python(v) for k, v in value.items()}
    if t is HostRef:
        return value.obj
    if t is range:
        return list(value)
    if t is Range:
        return value
    return value
