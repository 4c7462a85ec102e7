"""Syntax tree produced by the parser and annotated by the resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def py_safe(name: str) -> str:
    """A Rhai identifier as part of a Python name (Rhai allows letters Python identifiers reject)."""
    if name.isascii():
        return name
    return "x" + name.encode().hex()


@dataclass(eq=False)
class Symbol:
    """One declared variable; shadowing declarations get distinct symbols."""

    name: str
    uid: int
    const: bool = False
    captured: bool = False
    top_level: bool = False

    @property
    def py(self) -> str:
        return f"v_{py_safe(self.name)}_{self.uid}"


@dataclass(eq=False)
class Node:
    line: int
    col: int


@dataclass(eq=False)
class Expr(Node):
    pass


@dataclass(eq=False)
class Lit(Expr):
    value: Any  # int, float, bool, str, Char, None (unit)


@dataclass(eq=False)
class Interp(Expr):
    parts: list[Expr]


@dataclass(eq=False)
class Var(Expr):
    name: str
    sym: Symbol | None = None
    is_global: bool = False  # `global::NAME`: a constant of the main script


@dataclass(eq=False)
class This(Expr):
    pass


@dataclass(eq=False)
class ArrayLit(Expr):
    items: list[Expr]


@dataclass(eq=False)
class MapLit(Expr):
    items: list[tuple[str, Expr]]


@dataclass(eq=False)
class Unary(Expr):
    op: str
    operand: Expr


@dataclass(eq=False)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(eq=False)
class Range(Expr):
    start: Expr | None  # None: from the beginning
    end: Expr | None  # None: to the end
    inclusive: bool


@dataclass(eq=False)
class Call(Expr):
    name: str
    args: list[Expr]
    namespace: str | None = None
    sym: Symbol | None = None  # set when the name is also a variable that may hold a function pointer


@dataclass(eq=False)
class MethodCall(Expr):
    obj: Expr
    name: str
    args: list[Expr]
    safe: bool = False


@dataclass(eq=False)
class Prop(Expr):
    obj: Expr
    name: str
    safe: bool = False


@dataclass(eq=False)
class Index(Expr):
    obj: Expr
    index: Expr
    safe: bool = False


@dataclass(eq=False)
class Block(Expr):
    stmts: list[Node]


@dataclass(eq=False)
class Closure(Expr):
    params: list[str]
    body: Expr
    param_syms: list[Symbol] = field(default_factory=list)
    captures: list[Symbol] = field(default_factory=list)
    uid: int = 0


@dataclass(eq=False)
class If(Expr):
    cond: Expr
    then: Block
    other: Expr | None


@dataclass(eq=False)
class SwitchCase:
    values: list[Expr]  # empty means the `_` default arm
    guard: Expr | None
    body: Expr


@dataclass(eq=False)
class Switch(Expr):
    subject: Expr
    cases: list[SwitchCase]


@dataclass(eq=False)
class While(Expr):
    cond: Expr | None  # None is `loop`
    body: Block


@dataclass(eq=False)
class DoWhile(Expr):
    body: Block
    cond: Expr
    until: bool


@dataclass(eq=False)
class For(Expr):
    var: str
    counter: str | None
    iterable: Expr
    body: Block
    var_sym: Symbol | None = None
    counter_sym: Symbol | None = None


@dataclass(eq=False)
class Try(Expr):
    body: Block
    var: str | None
    handler: Block
    var_sym: Symbol | None = None


@dataclass(eq=False)
class Import(Expr):
    """`import "name" as alias`: a module the host registered under `name`."""

    module: str


@dataclass(eq=False)
class StmtExpr(Expr):
    """`break`, `continue`, `return` or `throw` used where an expression is expected (`x ?? break`)."""

    stmt: Node


@dataclass(eq=False)
class Let(Node):
    name: str
    init: Expr | None
    const: bool
    sym: Symbol | None = None


@dataclass(eq=False)
class Assign(Node):
    target: Expr
    op: str  # "=" or a compound operator such as "+="
    value: Expr


@dataclass(eq=False)
class ExprStmt(Node):
    expr: Expr


@dataclass(eq=False)
class Return(Node):
    value: Expr | None


@dataclass(eq=False)
class Throw(Node):
    value: Expr | None


@dataclass(eq=False)
class Break(Node):
    value: Expr | None


@dataclass(eq=False)
class Continue(Node):
    pass


@dataclass(eq=False)
class FnDef(Node):
    name: str
    params: list[str]
    body: Block
    private: bool = False
    this_type: str | None = None  # `fn int.name()`: callable only as a method on that type
    param_syms: list[Symbol] = field(default_factory=list)
    mutates_this: bool = False


@dataclass(eq=False)
class Script:
    body: Block
    functions: list[FnDef]
    source: str
