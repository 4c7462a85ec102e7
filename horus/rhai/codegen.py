"""Shared pieces of code generation: emitted lines, per-function state, naming and tree helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import ast as A
from .errors import RhaiParseError

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
RANGE_CHECK = f"{INT_MIN} <= {{r}} <= {INT_MAX}"

# Methods that may replace an immutable receiver (strings, numbers), so the new value is stored back.
# Only strings (immutable in Python) need this; arrays and maps are changed in place.
WRITEBACK_METHODS = frozenset(
    {
        "append",
        "pop",
        "clear",
        "truncate",
        "make_upper",
        "make_lower",
        "trim",
        "trim_start",
        "trim_end",
        "pad",
        "remove",
        "replace",
        "crop",
        "set",
        "call",
        "set_bit",
        "set_bits",
    }
)
ARITH_HELPERS = {
    "+": "_add",
    "-": "_sub",
    "*": "_mul",
    "/": "_div",
    "%": "_mod",
    "**": "_pow",
    "<<": "_shl",
    ">>": "_shr",
    "&": "_band",
    "|": "_bor",
    "^": "_bxor",
}
COMPARE_HELPERS = {"==": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}
BOOL_OPS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "!in", "&&", "||"})
STATEMENT_EXPRS = (A.If, A.Switch, A.While, A.DoWhile, A.For, A.Try, A.Block)
PLACES = (A.Var, A.This, A.Prop, A.Index)
HOLE = "\x00"  # placeholder for the receiver; never appears in generated code otherwise
Sink = str | None  # None: discard; "return": return it; otherwise the name of a Python variable


@dataclass
class Line:
    indent: int
    text: str
    pos: tuple[int, int]


@dataclass
class LoopInfo:
    sink: str | None


@dataclass
class FnState:
    lines: list[Line] = field(default_factory=list)
    loops: list[LoopInfo] = field(default_factory=list)
    mutates_this: bool = False
    in_catch: int = 0
    is_main: bool = False


class Emitter:
    """Collects the Python lines of the function being generated, with their Rhai positions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.temp = 0
        self.indent = 0
        self.pos = (1, 1)
        self.epos = (1, 1)
        self.fn = FnState()
        self.chunks: list[list[Line]] = []
        self.consts: list[str] = []

    def error(self, msg: str, node: A.Node) -> RhaiParseError:
        return RhaiParseError(msg, node.line, node.col, self.source)

    def emit(self, text: str) -> None:
        self.fn.lines.append(Line(self.indent, text, self.pos))

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.emit(header)
        self.indent += 1
        start = len(self.fn.lines)
        try:
            yield
        finally:
            if len(self.fn.lines) == start:
                self.emit("pass")
            self.indent -= 1

    def new_temp(self) -> str:
        self.temp += 1
        return f"_t{self.temp}"

    def const(self, code: str) -> str:
        name = f"_k{len(self.consts)}"
        self.consts.append(f"{name} = {code}")
        return name

    def at(self, node: A.Node) -> None:
        self.pos = (node.line, node.col)

    def hoist(self, codes: list[str], mark: int) -> None:
        for i, code in enumerate(codes):
            if is_trivial(code):
                continue
            tmp = self.new_temp()
            self.fn.lines.insert(mark, Line(self.indent, f"{tmp} = {code}", self.pos))
            mark += 1
            codes[i] = tmp

    def splice(self, stmts: list[Line]) -> None:
        base = min(line.indent for line in stmts)
        for line in stmts:
            self.fn.lines.append(Line(self.indent + line.indent - base, line.text, line.pos))

    def m(self, code: str) -> str:
        """Put a helper call on its own physical line tagged with the Rhai position, for error reports."""
        return f"(\n#@{self.epos[0]}:{self.epos[1]}\n{code})"


@dataclass
class Place:
    load: str
    store: Callable[[str], str]


def fn_py(name: str, arity: int) -> str:
    return f"F_{A.py_safe(name)}_{arity}"


def exported(sym: A.Symbol) -> str:
    if sym.captured:
        return f"{sym.py}[0] if {sym.py} is not _UNSET else _UNSET"
    return sym.py


def root_of(expr: A.Expr) -> A.Expr:
    while isinstance(expr, A.Prop | A.Index):
        expr = expr.obj
    return expr


def all_children(node: A.Node) -> list[A.Node]:
    from .resolver import children

    if isinstance(node, A.Block):
        return list(node.stmts)
    if isinstance(node, A.Switch):
        out: list[A.Node] = [node.subject]
        for case in node.cases:
            out.extend(case.values)
            if case.guard is not None:
                out.append(case.guard)
            out.append(case.body)
        return out
    if isinstance(node, A.For):
        return [node.iterable, node.body]
    if isinstance(node, A.Try):
        return [node.body, node.handler]
    if isinstance(node, A.Let):
        return [node.init] if node.init is not None else []
    return [c for c in children(node) if c is not None]


def is_local_index(target: A.Expr) -> bool:
    return (
        isinstance(target, A.Index)
        and not target.safe
        and isinstance(target.obj, A.Var)
        and target.obj.sym is not None
        and not target.obj.sym.captured
    )


def is_captured(expr: A.Expr) -> bool:
    """A variable shared with a closure: Rhai reports it as a shared value."""
    return isinstance(expr, A.Var) and expr.sym is not None and expr.sym.captured


def is_plain_local(expr: A.Expr) -> bool:
    return isinstance(expr, A.Var) and expr.sym is not None and not expr.sym.captured


def paren_depth(code: str) -> int:
    depth = deepest = 0
    for ch in code:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


def is_name(code: str) -> bool:
    return code.isidentifier()


def is_int_literal(code: str) -> bool:
    return code.lstrip("-").isdigit()


def is_trivial(code: str) -> bool:
    return is_name(code) or is_int_literal(code) or code in ("None", "True", "False")


def is_bool_expr(expr: A.Expr) -> bool:
    if isinstance(expr, A.Binary):
        return expr.op in BOOL_OPS
    if isinstance(expr, A.Unary):
        return expr.op == "!"  # `_not` either returns a bool or raises
    return isinstance(expr, A.Lit) and type(expr.value) is bool


def mutates_this(node: A.Node | None, known: set[tuple[str, int]]) -> bool:
    if node is None or isinstance(node, A.Closure):
        return False
    if isinstance(node, A.Assign) and isinstance(root_of(node.target), A.This):
        return True
    if (
        isinstance(node, A.MethodCall)
        and isinstance(root_of(node.obj), A.This)
        and (node.name in WRITEBACK_METHODS or (node.name, len(node.args)) in known)
    ):
        return True
    if (
        isinstance(node, A.Call)
        and node.args
        and isinstance(root_of(node.args[0]), A.This)
        and node.name in WRITEBACK_METHODS
    ):
        return True  # `append(this, x)`: native calls take their first argument by reference
    return any(mutates_this(child, known) for child in all_children(node))
