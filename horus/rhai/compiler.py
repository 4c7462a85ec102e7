"""Translates the resolved syntax tree into Python source, compiled once into a code object.

Rhai variables become Python locals (captured ones become one-element lists shared with closures),
Rhai functions become Python functions taking `(depth, this, *params)`, and arithmetic on integers
is inlined with a range check; everything else calls the runtime helpers bound into the globals.
This module generates statements and control flow; expressions.py generates expressions.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import CodeType

from . import ast as A
from .codegen import (
    STATEMENT_EXPRS,
    FnState,
    LoopInfo,
    Sink,
    exported,
    fn_py,
    is_local_index,
    is_plain_local,
    is_trivial,
    root_of,
)
from .expressions import ExpressionCompiler


class Compiler(ExpressionCompiler):
    def __init__(self, script: A.Script, count_ops: bool = True) -> None:
        super().__init__(script, count_ops)

    # ------------------------------------------------------------ top level
    def compile(self) -> tuple[str, dict[int, tuple[int, int]]]:
        for fn in self.script.functions:
            self.function(fn)
        self.main()
        out: list[str] = ["# generated from Rhai source", *self.consts]
        posmap: dict[int, tuple[int, int]] = {}
        for chunk in self.chunks:
            for line in chunk:
                pos = line.pos
                for i, physical in enumerate(line.text.split("\n")):
                    if physical.startswith("#@"):
                        row, col = physical[2:].split(":")
                        pos = (int(row), int(col))
                    out.append("    " * line.indent + physical if i == 0 else physical)
                    posmap[len(out)] = pos
        return "\n".join(out) + "\n", posmap

    def function(self, fn: A.FnDef) -> None:
        self.fn = FnState(mutates_this=(fn.name, len(fn.params)) in self.mutating)
        self.indent = 0
        self.at(fn)
        params = "".join(f", {s.py}" for s in fn.param_syms)
        pyname = fn_py(fn.name, len(fn.params))
        table, key = "_FNS", f"{fn.name!r}, {len(fn.params)}"
        if fn.this_type is not None:
            self.temp += 1
            pyname = f"T{self.temp}_{A.py_safe(fn.name)}_{len(fn.params)}"
            table, key = "_TFNS", f"{fn.this_type!r}, {key}"
        with self.block(f"def {pyname}(_d, _this{params}):"):
            self.entry_check()
            for sym in fn.param_syms:
                if sym.captured:
                    self.emit(f"{sym.py} = [{sym.py}]")
            self.block_body(fn.body, "return")
        self.emit(f"{table}[{key}] = ({pyname}, {self.fn.mutates_this})")
        self.chunks.append(self.fn.lines)

    def main(self) -> None:
        self.fn = FnState(is_main=True)
        self.indent = 0
        tops = self.top_level_symbols()
        with self.block("def __main__(_d):"):
            self.emit("_this = _NOTHIS")
            for sym in tops.values():
                self.emit(f"{sym.py} = _UNSET")
            with self.block("try:"):
                self.block_body(self.script.body, "return")
            with self.block("finally:"):
                items = ", ".join(f"{name!r}: {exported(s)}" for name, s in tops.items())
                self.emit(f"_export({{{items}}})")
        self.chunks.append(self.fn.lines)

    def top_level_symbols(self) -> dict[str, A.Symbol]:
        found: dict[str, A.Symbol] = {}
        for stmt in self.script.body.stmts:
            if isinstance(stmt, A.Let) and stmt.sym is not None:
                found[stmt.name] = stmt.sym
        return found

    # ------------------------------------------------------------- statements
    def block_body(self, block: A.Block, sink: Sink) -> None:
        stmts = block.stmts
        if not stmts:
            self.sink(sink, "None")
            return
        for stmt in stmts[:-1]:
            self.statement(stmt, None)
        self.statement(stmts[-1], sink)

    def sink(self, sink: Sink, code: str) -> None:
        if sink is None:
            if not is_trivial(code):
                self.emit(code)
        elif sink == "return":
            if self.fn.mutates_this:
                self.emit(f"return _MR({code}, _this)")
            else:
                self.emit(f"return {code}")
        else:
            self.emit(f"{sink} = {code}")

    def statement(self, node: A.Node, sink: Sink) -> None:
        self.at(node)
        if isinstance(node, A.ExprStmt):
            self.expr_statement(node.expr, sink)
            return
        if isinstance(node, A.Let):
            self.let(node)
        elif isinstance(node, A.Assign):
            self.assign(node)
        elif isinstance(node, A.Return):
            if node.value is None:
                value = "None"
            else:
                value = self.expr(node.value) if is_plain_local(node.value) else self.value(node.value)
            self.sink("return", value)
            return
        elif isinstance(node, A.Throw):
            self.throw(node)
            return
        elif isinstance(node, A.Break):
            self.break_(node)
            return
        elif isinstance(node, A.Continue):
            if not self.fn.loops:
                raise self.error("'continue' outside of a loop", node)
            self.emit("continue")
            return
        else:
            raise self.error(f"Unsupported statement {type(node).__name__}", node)
        self.sink(sink, "None")

    def expr_statement(self, expr: A.Expr, sink: Sink) -> None:
        if isinstance(expr, STATEMENT_EXPRS):
            self.statement_expr(expr, sink)
        else:
            # A block's value escapes (returned or stored), so arrays and maps are copied out.
            if sink is None or (sink == "return" and is_plain_local(expr)):
                # A returned local dies with the frame, so it needs no copy.
                self.sink(sink, self.expr(expr))
            else:
                self.sink(sink, self.value(expr))

    def statement_expr(self, expr: A.Expr, sink: Sink) -> None:
        if isinstance(expr, A.Block):
            self.block_body(expr, sink)
        elif isinstance(expr, A.If):
            self.if_stmt(expr, sink)
        elif isinstance(expr, A.Switch):
            self.switch(expr, sink)
        elif isinstance(expr, A.While):
            self.loop(expr, sink)
        elif isinstance(expr, A.DoWhile):
            self.do_while(expr, sink)
        elif isinstance(expr, A.For):
            self.for_loop(expr, sink)
        elif isinstance(expr, A.Try):
            self.try_stmt(expr, sink)

    def let(self, node: A.Let) -> None:
        assert node.sym is not None
        value = self.value(node.init) if node.init is not None else "None"
        sym = node.sym
        self.emit(f"{sym.py} = [{value}]" if sym.captured else f"{sym.py} = {value}")
        if sym.const and sym.top_level:
            self.emit(f"_CONSTS[{sym.name!r}] = {self.load_sym(sym)}")

    def throw(self, node: A.Throw) -> None:
        if node.value is None and self.fn.in_catch:
            self.emit("raise")
            return
        value = self.value(node.value) if node.value is not None else "None"
        self.emit(f"raise _throw({value})")

    def break_(self, node: A.Break) -> None:
        if not self.fn.loops:
            raise self.error("'break' outside of a loop", node)
        loop = self.fn.loops[-1]
        if node.value is not None:
            value = self.value(node.value)
            if loop.sink is not None:
                self.emit(f"{loop.sink} = {value}")
            elif not is_trivial(value):
                self.emit(value)
        self.emit("break")

    def assign(self, node: A.Assign) -> None:
        target = node.target
        self.check_assignable(target)
        if node.op == "=":
            value = self.value(node.value)
        elif node.op == "??=":
            current = self.expr(target)
            value = self.new_temp()
            self.emit(f"{value} = {current}")
            with self.block(f"if {value} is None:"):
                self.emit(f"{value} = {self.value(node.value)}")
        else:
            place = self.place(target, hoist=True)
            op = node.op[:-1]
            value = self.arith(op, place.load, self.expr(node.value), node.value, "_iadd" if op == "+" else None)
            if isinstance(target, A.Var) and target.sym is not None and not target.sym.captured:
                self.emit(f"{target.sym.py} = {value}")
            else:
                self.emit(place.store(value))
            return
        if isinstance(target, A.Var) and target.sym is not None and not target.sym.captured:
            self.emit(f"{target.sym.py} = {value}")
        elif is_local_index(target):
            self.store_list_item(target, value)
        else:
            self.emit(self.place(target, hoist=True).store(value))

    def store_list_item(self, target: A.Expr, value: str) -> None:
        """`a[i] = v` on a local: store straight into a list, or fall back to the generic helper."""
        assert isinstance(target, A.Index) and isinstance(target.obj, A.Var) and target.obj.sym is not None
        arr = target.obj.sym.py
        idx = self.expr(target.index)
        if not is_trivial(idx):
            tmp = self.new_temp()
            self.emit(f"{tmp} = {idx}")
            idx = tmp
        if not is_trivial(value):
            tmp = self.new_temp()
            self.emit(f"{tmp} = {value}")
            value = tmp
        with self.block(f"if type({arr}) is list and type({idx}) is int and -len({arr}) <= {idx} < len({arr}):"):
            self.emit(f"{arr}[{idx}] = {value}")
        with self.block("else:"):
            self.emit(f"{arr} = " + self.m(f"_si({arr}, {idx}, {value})"))

    def check_assignable(self, target: A.Expr) -> None:
        root = root_of(target)
        if isinstance(root, A.Var) and root.sym is not None and root.sym.const:
            raise self.error(f"Cannot modify constant '{root.name}'", target)
        if not isinstance(root, A.Var | A.This):
            raise self.error("Cannot assign to a calculated value", target)

    # ----------------------------------------------------------- control flow
    def if_stmt(self, node: A.If, sink: Sink) -> None:
        self.at(node)
        arms: list[tuple[Callable[[], str], Callable[[], None]]] = []
        other: A.Expr | None = node
        while isinstance(other, A.If):
            arms.append((partial(self.cond, other.cond), partial(self.block_body, other.then, sink)))
            other = other.other
        last = other
        if last is None:
            self.chain(arms, partial(self.sink, sink, "None"))
        else:
            self.chain(arms, partial(self.expr_statement, last, sink))

    def chain(self, arms: list[tuple[Callable[[], str], Callable[[], None]]], otherwise: Callable[[], None]) -> None:
        """An if/elif/else chain; an arm whose test needs statements nests under `else:` instead."""
        opened = 0
        for i, (test_fn, body_fn) in enumerate(arms):
            mark = len(self.fn.lines)
            test = test_fn()
            keyword = "if" if i == 0 else "elif"
            if i and len(self.fn.lines) > mark:
                stmts = self.fn.lines[mark:]
                del self.fn.lines[mark:]
                self.emit("else:")
                self.indent += 1
                opened += 1
                self.splice(stmts)
                keyword = "if"
            with self.block(f"{keyword} {test}:"):
                body_fn()
        with self.block("else:"):
            otherwise()
        self.indent -= opened

    def switch(self, node: A.Switch, sink: Sink) -> None:
        self.at(node)
        subject = self.new_temp()
        self.emit(f"{subject} = {self.expr(node.subject)}")
        arms: list[tuple[Callable[[], str], Callable[[], None]]] = []
        otherwise: Callable[[], None] = partial(self.sink, sink, "None")
        for case in node.cases:
            if not case.values and case.guard is None:
                otherwise = partial(self.expr_statement, case.body, sink)
                break
            arms.append((partial(self.case_condition, subject, case), partial(self.expr_statement, case.body, sink)))
        if not arms:
            otherwise()
            return
        self.chain(arms, otherwise)

    def case_condition(self, subject: str, case: A.SwitchCase) -> str:
        tests = [self.case_test(subject, v) for v in case.values]
        test = " or ".join(tests) if tests else "True"
        if case.guard is not None:
            test = f"({test}) and {self.cond(case.guard)}"
        return test

    def case_test(self, subject: str, value: A.Expr) -> str:
        if isinstance(value, A.Range):
            return f"_case_range({subject}, {self.expr(value)})"
        if not isinstance(value, A.Lit):
            raise self.error("Switch cases must be constant values", value)
        return f"_eq({subject}, {self.expr(value)})"

    def loop_sink(self, sink: Sink) -> tuple[str | None, bool]:
        """Loops deliver their `break` value through a variable; returns (variable, needs_return)."""
        if sink is None:
            return None, False
        if sink == "return":
            tmp = self.new_temp()
            self.emit(f"{tmp} = None")
            return tmp, True
        self.emit(f"{sink} = None")
        return sink, False

    def tick(self) -> None:
        if self.count_ops:
            self.emit("if next(_C) > _CHK: _limit(_d)")

    def entry_check(self) -> None:
        if self.count_ops:
            self.emit("if next(_C) > _CHK or _d > _MAXD: _limit(_d)")
        else:
            self.emit("if _d > _MAXD: _limit(_d)")

    def loop_body(self, body: A.Block, var: str | None) -> None:
        self.fn.loops.append(LoopInfo(var))
        self.block_body(body, None)
        self.fn.loops.pop()

    def finish_loop(self, var: str | None, needs_return: bool) -> None:
        if needs_return:
            self.sink("return", str(var))

    def loop(self, node: A.While, sink: Sink) -> None:
        var, ret = self.loop_sink(sink)
        with self.block("while True:"):
            self.tick()
            if node.cond is not None:
                with self.block(f"if not {self.cond(node.cond)}:"):
                    self.emit("break")
            self.loop_body(node.body, var)
        self.finish_loop(var, ret)

    def do_while(self, node: A.DoWhile, sink: Sink) -> None:
        var, ret = self.loop_sink(sink)
        first = self.new_temp()
        self.emit(f"{first} = True")
        with self.block("while True:"):
            with self.block(f"if {first}:"):
                self.emit(f"{first} = False")
            with self.block("else:"):
                test = self.cond(node.cond)
                with self.block(f"if {test}:" if node.until else f"if not {test}:"):
                    self.emit("break")
            self.tick()
            self.loop_body(node.body, var)
        self.finish_loop(var, ret)

    def for_loop(self, node: A.For, sink: Sink) -> None:
        var, ret = self.loop_sink(sink)
        assert node.var_sym is not None
        it = node.iterable
        if isinstance(it, A.Range):
            a, b = self.range_bounds(it)
            source = f"_irange({a}, {b}, {it.inclusive})"
        else:
            source = f"_iter({self.expr(it)})"
        item_sym, counter_sym = node.var_sym, node.counter_sym
        item = self.new_temp() if item_sym.captured else item_sym.py
        if item_sym.captured:
            self.emit(f"{item_sym.py} = [None]")
        if counter_sym is not None:
            counter = self.new_temp() if counter_sym.captured else counter_sym.py
            if counter_sym.captured:
                self.emit(f"{counter_sym.py} = [None]")
            header = f"for {counter}, {item} in _enumerate({source}):"
        else:
            header = f"for {item} in {source}:"
        with self.block(header):
            self.tick()
            if item_sym.captured:
                self.emit(f"{item_sym.py}[0] = {item}")
            if counter_sym is not None and counter_sym.captured:
                self.emit(f"{counter_sym.py}[0] = {counter}")
            self.loop_body(node.body, var)
        self.finish_loop(var, ret)

    def try_stmt(self, node: A.Try, sink: Sink) -> None:
        self.at(node)
        with self.block("try:"):
            self.block_body(node.body, sink)
        err = self.new_temp()
        with self.block(f"except _Catchable as {err}:"):
            self.emit(f"if type({err}) is _LimitError: raise")
            sym = node.var_sym
            if sym is not None:
                value = f"_catch_value({err})"
                self.emit(f"{sym.py} = [{value}]" if sym.captured else f"{sym.py} = {value}")
            self.fn.in_catch += 1
            self.block_body(node.handler, sink)
            self.fn.in_catch -= 1


def compile_script(
    script: A.Script, filename: str, count_ops: bool = True
) -> tuple[CodeType, str, dict[int, tuple[int, int]]]:
    text, posmap = Compiler(script, count_ops).compile()
    return compile(text, filename, "exec"), text, posmap
