"""Binds every variable reference to its declaration and finds the variables closures capture.

Doing this before code generation lets the compiler map each Rhai variable to one Python local and
box only the variables that a closure shares with its creator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast as A


@dataclass
class Context:
    closure: A.Closure | None  # None for a script function or the main script
    scopes: list[dict[str, A.Symbol]] = field(default_factory=lambda: [{}])
    is_main: bool = False


class Resolver:
    def __init__(self) -> None:
        self.uid = 0
        self.contexts: list[Context] = []

    def declare(self, name: str, const: bool = False) -> A.Symbol:
        self.uid += 1
        ctx = self.contexts[-1]
        sym = A.Symbol(name, self.uid, const, top_level=ctx.is_main and len(ctx.scopes) == 1)
        ctx.scopes[-1][name] = sym
        return sym

    def lookup(self, name: str) -> A.Symbol | None:
        crossed: list[A.Closure] = []
        for ctx in reversed(self.contexts):
            for scope in reversed(ctx.scopes):
                sym = scope.get(name)
                if sym is not None:
                    if crossed:
                        sym.captured = True
                        for closure in crossed:
                            if sym not in closure.captures:
                                closure.captures.append(sym)
                    return sym
            if ctx.closure is None:
                return None
            crossed.append(ctx.closure)
        return None

    # ------------------------------------------------------------------ entry
    def script(self, script: A.Script) -> None:
        for fn in script.functions:
            self.contexts.append(Context(None))
            fn.param_syms = [self.declare(p) for p in fn.params]
            self.block_body(fn.body)
            self.contexts.pop()
        self.contexts.append(Context(None, is_main=True))
        self.block_body(script.body)
        self.contexts.pop()

    def block_body(self, block: A.Block) -> None:
        for stmt in block.stmts:
            self.node(stmt)

    def scoped_block(self, block: A.Block, *names: str) -> list[A.Symbol]:
        self.contexts[-1].scopes.append({})
        syms = [self.declare(n) for n in names]
        self.block_body(block)
        self.contexts[-1].scopes.pop()
        return syms

    # ------------------------------------------------------------------ nodes
    def node(self, node: A.Node | None) -> None:  # noqa: C901 - a flat dispatch over node types
        if node is None:
            return
        if isinstance(node, A.Var):
            if not node.is_global:
                node.sym = self.lookup(node.name)
        elif isinstance(node, A.Call):
            if node.name == "is_def_var" and len(node.args) == 1 and isinstance(node.args[0], A.Lit):
                # Answered at compile time for locals: the variable is defined if it resolves here.
                node.sym = self.lookup(str(node.args[0].value))
            elif node.namespace is None:
                node.sym = self.lookup(node.name)
            for arg in node.args:
                self.node(arg)
        elif isinstance(node, A.Let):
            self.node(node.init)
            node.sym = self.declare(node.name, node.const)
        elif isinstance(node, A.Block):
            self.scoped_block(node)
        elif isinstance(node, A.Closure):
            self.closure(node)
        elif isinstance(node, A.For):
            self.node(node.iterable)
            names = [node.var] + ([node.counter] if node.counter else [])
            syms = self.scoped_block(node.body, *names)
            node.var_sym = syms[0]
            node.counter_sym = syms[1] if node.counter else None
        elif isinstance(node, A.Try):
            self.scoped_block(node.body)
            syms = self.scoped_block(node.handler, *([node.var] if node.var else []))
            node.var_sym = syms[0] if syms else None
        elif isinstance(node, A.Switch):
            self.node(node.subject)
            for case in node.cases:
                for value in case.values:
                    self.node(value)
                self.node(case.guard)
                self.node(case.body)
        else:
            for child in children(node):
                self.node(child)

    def closure(self, node: A.Closure) -> None:
        self.uid += 1
        node.uid = self.uid
        self.contexts.append(Context(node))
        node.param_syms = [self.declare(p) for p in node.params]
        self.node(node.body)
        self.contexts.pop()


def children(node: A.Node) -> list[A.Node | None]:  # noqa: C901 - a flat table of node shapes
    if isinstance(node, A.Interp):
        return list(node.parts)
    if isinstance(node, A.ArrayLit):
        return list(node.items)
    if isinstance(node, A.MapLit):
        return [v for _, v in node.items]
    if isinstance(node, A.Unary):
        return [node.operand]
    if isinstance(node, A.Binary):
        return [node.left, node.right]
    if isinstance(node, A.Range):
        return [node.start, node.end]
    if isinstance(node, A.Call):
        return list(node.args)
    if isinstance(node, A.MethodCall):
        return [node.obj, *node.args]
    if isinstance(node, A.Prop):
        return [node.obj]
    if isinstance(node, A.Index):
        return [node.obj, node.index]
    if isinstance(node, A.If):
        return [node.cond, node.then, node.other]
    if isinstance(node, A.While):
        return [node.cond, node.body]
    if isinstance(node, A.DoWhile):
        return [node.body, node.cond]
    if isinstance(node, A.Assign):
        return [node.value, node.target]
    if isinstance(node, A.ExprStmt):
        return [node.expr]
    if isinstance(node, A.Return | A.Throw | A.Break):
        return [node.value]
    if isinstance(node, A.StmtExpr):
        return [node.stmt]
    return []


def resolve(script: A.Script) -> None:
    Resolver().script(script)
