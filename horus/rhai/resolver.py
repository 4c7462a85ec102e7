"""Binds every variable reference to its declaration and finds the variables closures capture.

Doing this before code generation lets the compiler map each Rhai variable to one Python local and
box only the variables that a closure shares with its creator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    def node(self, node: A.Node | None) -> None:
        if node is None:
            return
        special = RESOLVERS.get(type(node))
        if special is not None:
            special(self, node)
            return
        for child in children(node):
            self.node(child)

    def var(self, node: A.Var) -> None:
        if not node.is_global:
            node.sym = self.lookup(node.name)

    def call(self, node: A.Call) -> None:
        if node.name == "is_def_var" and len(node.args) == 1 and isinstance(node.args[0], A.Lit):
            # Answered at compile time for locals: the variable is defined if it resolves here.
            node.sym = self.lookup(str(node.args[0].value))
        elif node.namespace is None:
            node.sym = self.lookup(node.name)
        for arg in node.args:
            self.node(arg)

    def let(self, node: A.Let) -> None:
        self.node(node.init)
        node.sym = self.declare(node.name, node.const)

    def block(self, node: A.Block) -> None:
        self.scoped_block(node)

    def for_loop(self, node: A.For) -> None:
        self.node(node.iterable)
        names = [node.var] + ([node.counter] if node.counter else [])
        syms = self.scoped_block(node.body, *names)
        node.var_sym = syms[0]
        node.counter_sym = syms[1] if node.counter else None

    def try_catch(self, node: A.Try) -> None:
        self.scoped_block(node.body)
        syms = self.scoped_block(node.handler, *([node.var] if node.var else []))
        node.var_sym = syms[0] if syms else None

    def switch(self, node: A.Switch) -> None:
        self.node(node.subject)
        for case in node.cases:
            for value in case.values:
                self.node(value)
            self.node(case.guard)
            self.node(case.body)

    def closure(self, node: A.Closure) -> None:
        self.uid += 1
        node.uid = self.uid
        self.contexts.append(Context(node))
        node.param_syms = [self.declare(p) for p in node.params]
        self.node(node.body)
        self.contexts.pop()


# The sub-nodes of each node kind, in evaluation order (kinds with scopes are handled above).
CHILDREN: dict[type, Callable[[Any], list[A.Node | None]]] = {
    A.Interp: lambda n: list(n.parts),
    A.ArrayLit: lambda n: list(n.items),
    A.MapLit: lambda n: [v for _, v in n.items],
    A.Unary: lambda n: [n.operand],
    A.Binary: lambda n: [n.left, n.right],
    A.Range: lambda n: [n.start, n.end],
    A.Call: lambda n: list(n.args),
    A.MethodCall: lambda n: [n.obj, *n.args],
    A.Prop: lambda n: [n.obj],
    A.Index: lambda n: [n.obj, n.index],
    A.If: lambda n: [n.cond, n.then, n.other],
    A.While: lambda n: [n.cond, n.body],
    A.DoWhile: lambda n: [n.body, n.cond],
    A.Assign: lambda n: [n.value, n.target],
    A.ExprStmt: lambda n: [n.expr],
    A.Return: lambda n: [n.value],
    A.Throw: lambda n: [n.value],
    A.Break: lambda n: [n.value],
    A.StmtExpr: lambda n: [n.stmt],
}


def children(node: A.Node) -> list[A.Node | None]:
    shape = CHILDREN.get(type(node))
    return shape(node) if shape is not None else []


RESOLVERS: dict[type, Callable[[Resolver, Any], None]] = {
    A.Var: Resolver.var,
    A.Call: Resolver.call,
    A.Let: Resolver.let,
    A.Block: Resolver.block,
    A.Closure: Resolver.closure,
    A.For: Resolver.for_loop,
    A.Try: Resolver.try_catch,
    A.Switch: Resolver.switch,
}


def resolve(script: A.Script) -> None:
    Resolver().script(script)
