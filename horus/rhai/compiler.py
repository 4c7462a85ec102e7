"""Translates the resolved syntax tree into Python source, compiled once into a code object.

Rhai variables become Python locals (captured ones become one-element lists shared with closures),
Rhai functions become Python functions taking `(depth, this, *params)`, and arithmetic on integers
is inlined with a range check; everything else calls the runtime helpers bound into the globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from types import CodeType

from . import ast as A
from .errors import RhaiParseError
from .values import Char

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


class Compiler:
    def __init__(self, script: A.Script, count_ops: bool = True) -> None:
        # Without an operation limit or deadline nothing needs counting, so loops and calls skip it.
        self.count_ops = count_ops
        self.script = script
        self.source = script.source
        self.temp = 0
        self.indent = 0
        self.pos = (1, 1)
        self.epos = (1, 1)
        self.fn = FnState()
        self.chunks: list[list[Line]] = []
        self.consts: list[str] = []
        self.script_fns = {(f.name, len(f.params)): f for f in script.functions if f.this_type is None}
        self.typed_fns = {(f.name, len(f.params)) for f in script.functions if f.this_type is not None}
        self.mutating = self.find_this_mutators()

    # ------------------------------------------------------------- emitting
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
            self.emit("_this = None")
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

    def find_this_mutators(self) -> set[tuple[str, int]]:
        result: set[tuple[str, int]] = set()
        changed = True
        while changed:
            changed = False
            for fn in self.script.functions:
                key = (fn.name, len(fn.params))
                if key not in result and self.mutates_this(fn.body, result):
                    result.add(key)
                    changed = True
        return result

    def mutates_this(self, node: A.Node | None, known: set[tuple[str, int]]) -> bool:
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
        return any(self.mutates_this(child, known) for child in all_children(node))

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
            value = self.arith(
                op, place.load, self.expr(node.value), node.value, "_iadd" if op == "+" else None
            )
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
        with self.block(
            f"if type({arr}) is list and type({idx}) is int and -len({arr}) <= {idx} < len({arr}):"
        ):
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
    def cond(self, expr: A.Expr) -> str:
        code = self.expr(expr)
        return code if is_bool_expr(expr) else f"_cond({code})"

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

    def chain(
        self, arms: list[tuple[Callable[[], str], Callable[[], None]]], otherwise: Callable[[], None]
    ) -> None:
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
            arms.append(
                (partial(self.case_condition, subject, case), partial(self.expr_statement, case.body, sink))
            )
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
            self.emit("if _tick() > _CHK: _limit(_d)")

    def entry_check(self) -> None:
        if self.count_ops:
            self.emit("if _tick() > _CHK or _d > _MAXD: _limit(_d)")
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

    # ------------------------------------------------------------ expressions
    def value(self, expr: A.Expr) -> str:
        """An expression whose result is stored somewhere: arrays and maps are copied (value semantics)."""
        code = self.expr(expr)
        if isinstance(expr, PLACES):
            return f"_cp({code})"
        return code

    def exprs(self, nodes: list[A.Expr], values: bool = True) -> list[str]:
        """Compile operands left to right; if a later one needs statements, earlier ones are hoisted."""
        out: list[str] = []
        for node in nodes:
            mark = len(self.fn.lines)
            code = self.value(node) if values else self.expr(node)
            if len(self.fn.lines) > mark:
                self.hoist(out, mark)
            out.append(code)
        return out

    def hoist(self, codes: list[str], mark: int) -> None:
        for i, code in enumerate(codes):
            if is_trivial(code):
                continue
            tmp = self.new_temp()
            self.fn.lines.insert(mark, Line(self.indent, f"{tmp} = {code}", self.pos))
            mark += 1
            codes[i] = tmp

    def range_bounds(self, e: A.Range) -> tuple[str, str]:
        zero = A.Lit(e.line, e.col, 0)
        end = A.Lit(e.line, e.col, INT_MAX) if e.end is None else e.end
        inclusive_open = e.end is None and e.inclusive
        a, b = self.pair(e.start or zero, end)
        return a, (str(INT_MAX - 1) if inclusive_open else b)

    def pair(self, left: A.Expr, right: A.Expr) -> tuple[str, str]:
        a, b = self.exprs([left, right], values=False)
        return a, b

    def expr(self, e: A.Expr) -> str:
        saved = self.epos
        self.epos = (e.line, e.col)
        try:
            code = self.expr_inner(e)
        finally:
            self.epos = saved
        if len(code) > 400 and paren_depth(code) > 50:
            # CPython refuses more than 200 nested parentheses, so deep expressions go through temps.
            tmp = self.new_temp()
            self.emit(f"{tmp} = {code}")
            return tmp
        return code

    def m(self, code: str) -> str:
        """Put a helper call on its own physical line tagged with the Rhai position, for error reports."""
        return f"(\n#@{self.epos[0]}:{self.epos[1]}\n{code})"

    def expr_inner(self, e: A.Expr) -> str:  # noqa: C901 - dispatch over expression kinds
        if isinstance(e, A.Lit):
            return self.literal(e.value)
        if isinstance(e, A.Var):
            if e.is_global:
                return self.m(f"_gvf({e.name!r})")
            return self.load_var(e)
        if isinstance(e, A.This):
            return "_this"
        if isinstance(e, A.Binary):
            return self.binary(e)
        if isinstance(e, A.Call):
            return self.call(e)
        if isinstance(e, A.MethodCall):
            return self.method_call(e)
        if isinstance(e, A.Prop):
            return self.safe_access(e.obj, e.safe, lambda o: self.m(f"_gp({o}, {e.name!r})"))
        if isinstance(e, A.Index) and not e.safe:
            obj, idx_code = self.pair(e.obj, e.index)
            slow = self.m(f"_gi({obj}, {idx_code})")
            if is_name(obj) and (is_name(idx_code) or is_int_literal(idx_code)):
                # Inline list indexing; Python's negative indices count from the end like Rhai's.
                return (
                    f"({obj}[{idx_code}] if type({obj}) is list and type({idx_code}) is int"
                    f" and -len({obj}) <= {idx_code} < len({obj}) else {slow})"
                )
            return slow
        if isinstance(e, A.Index):
            idx = e.index
            return self.safe_access(e.obj, e.safe, lambda o: self.m(f"_gi({o}, {self.expr(idx)})"))
        if isinstance(e, A.Unary):
            return self.unary(e)
        if isinstance(e, A.ArrayLit):
            return "[" + "".join(f"{c}, " for c in self.exprs(e.items)) + "]"
        if isinstance(e, A.MapLit):
            codes = self.exprs([v for _, v in e.items])
            return "{" + ", ".join(f"{k!r}: {c}" for (k, _), c in zip(e.items, codes, strict=True)) + "}"
        if isinstance(e, A.Interp):
            return self.interp(e)
        if isinstance(e, A.Range):
            a, b = self.range_bounds(e)
            return self.m(f"_range({a}, {b}, {e.inclusive})")
        if isinstance(e, A.Closure):
            return self.closure(e)
        if isinstance(e, STATEMENT_EXPRS):
            return self.inline_statement(e)
        if isinstance(e, A.Import):
            return self.m(f"_import({e.module!r})")
        if isinstance(e, A.StmtExpr):
            self.statement(e.stmt, None)
            return "None"
        raise self.error(f"Unsupported expression {type(e).__name__}", e)

    def inline_statement(self, e: A.Expr) -> str:
        if isinstance(e, A.If) and e.other is not None:
            ternary = self.ternary(e)
            if ternary is not None:
                return ternary
        tmp = self.new_temp()
        self.statement_expr(e, tmp)
        return tmp

    def ternary(self, e: A.If) -> str | None:
        branches = [e.then, e.other]
        simple: list[A.Expr] = []
        for branch in branches:
            if (
                isinstance(branch, A.Block)
                and len(branch.stmts) == 1
                and isinstance(branch.stmts[0], A.ExprStmt)
            ):
                inner = branch.stmts[0].expr
                if not isinstance(inner, STATEMENT_EXPRS) or isinstance(inner, A.If):
                    simple.append(inner)
                    continue
            return None
        mark = len(self.fn.lines)
        cond = self.cond(e.cond)
        then = self.value(simple[0])
        other = self.value(simple[1])
        if len(self.fn.lines) > mark:
            del self.fn.lines[mark:]
            return None
        return f"({then} if {cond} else {other})"

    def literal(self, value: object) -> str:
        if isinstance(value, Char):
            return self.const(f"_Char({str(value)!r})")
        if isinstance(value, float) and value != value:
            return self.const("float('nan')")
        return repr(value)

    def load_sym(self, sym: A.Symbol) -> str:
        return f"{sym.py}[0]" if sym.captured else sym.py

    def load_var(self, e: A.Var) -> str:
        if e.sym is not None:
            return self.load_sym(e.sym)
        if any(name == e.name for name, _ in self.script_fns):
            # A bare function name is shorthand for `Fn("name")`.
            return f"_closure({e.name!r})"
        if self.fn.is_main:
            return f"_gv({e.name!r})"
        return f"_gvf({e.name!r})"

    def interp(self, e: A.Interp) -> str:
        codes = self.exprs(e.parts, values=False)
        parts = [
            c if isinstance(p, A.Lit) and type(p.value) is str else f"_str({c})"
            for p, c in zip(e.parts, codes, strict=True)
        ]
        if not parts:
            return "''"
        return f"_checkstr(''.join(({', '.join(parts)},)))"

    def unary(self, e: A.Unary) -> str:
        operand = self.expr(e.operand)
        if e.op == "!":
            return f"(not {operand})" if is_bool_expr(e.operand) else self.m(f"_not({operand})")
        if e.op == "-":
            t = self.new_temp()
            return (
                f"(-{t} if type({t} := {operand}) is float or (type({t}) is int and {t} != {INT_MIN})"
                f" else {self.m(f'_neg({t})')})"
            )
        return self.m(f"_pos({operand})")

    def binary(self, e: A.Binary) -> str:
        op = e.op
        if op in ("&&", "||"):
            return self.logic(e)
        if op == "??":
            return self.coalesce(e)
        a, b = self.pair(e.left, e.right)
        if op in ("in", "!in"):
            return self.m(f"_in({a}, {b})") if op == "in" else self.m(f"(not _in({a}, {b}))")
        if op in COMPARE_HELPERS:
            return self.compare(op, a, b, e.right)
        return self.arith(op, a, b, e.right)

    def logic(self, e: A.Binary) -> str:
        left = self.cond(e.left)
        mark = len(self.fn.lines)
        right = self.cond(e.right)
        pyop = "and" if e.op == "&&" else "or"
        if len(self.fn.lines) == mark:
            return f"({left} {pyop} {right})"
        # The right operand needs statements: evaluate it only when the left one does not decide.
        stmts = self.fn.lines[mark:]
        del self.fn.lines[mark:]
        tmp = self.new_temp()
        self.emit(f"{tmp} = {left}")
        with self.block(f"if {tmp}:" if pyop == "and" else f"if not {tmp}:"):
            self.splice(stmts)
            self.emit(f"{tmp} = {right}")
        return tmp

    def splice(self, stmts: list[Line]) -> None:
        base = min(line.indent for line in stmts)
        for line in stmts:
            self.fn.lines.append(Line(self.indent + line.indent - base, line.text, line.pos))

    def coalesce(self, e: A.Binary) -> str:
        left = self.expr(e.left)
        t = self.new_temp()
        mark = len(self.fn.lines)
        right = self.expr(e.right)
        if len(self.fn.lines) == mark:
            return f"({t} if ({t} := {left}) is not None else {right})"
        stmts = self.fn.lines[mark:]
        del self.fn.lines[mark:]
        self.emit(f"{t} = {left}")
        with self.block(f"if {t} is None:"):
            self.splice(stmts)
            self.emit(f"{t} = {right}")
        return t

    def operands(self, a: str, b: str) -> tuple[str, str, str, str]:
        """(first-use, later-use) code for both operands; temps are bound unless cheap to re-read."""
        if is_name(a):
            a1 = a2 = a
        else:
            a2 = self.new_temp()
            a1 = f"({a2} := {a})"
        if is_name(b) or is_int_literal(b):
            b1 = b2 = b
        else:
            b2 = self.new_temp()
            b1 = f"({b2} := {b})"
        return a1, a2, b1, b2

    def compare(self, op: str, a: str, b: str, right: A.Expr) -> str:
        helper = COMPARE_HELPERS[op]
        if op in ("==", "!="):
            a1, a2, b1, b2 = self.operands(a, b)
            slow = self.m(f"{helper}({a2}, {b2})")
            return f"({a2} {op} {b2} if type({a1}) is type({b1}) in _EQFAST else {slow})"
        if is_int_literal(b):
            a1, a2, _, _ = self.operands(a, b)
            return f"({a2} {op} {b} if type({a1}) is int else " + self.m(f"{helper}({a2}, {b})") + ")"
        a1, a2, b1, b2 = self.operands(a, b)
        return (
            f"({a2} {op} {b2} if type({a1}) is type({b1}) is int else "
            + self.m(f"{helper}({a2}, {b2})")
            + ")"
        )

    def arith(self, op: str, a: str, b: str, right: A.Expr, helper: str | None = None) -> str:
        helper = helper or ARITH_HELPERS.get(op)
        if helper is None:
            raise self.error(f"Unknown operator '{op}'", right)
        if op not in ("+", "-", "*"):
            return self.m(f"{helper}({a}, {b})")
        if is_int_literal(b) and op in ("+", "-"):
            k = int(b)
            a1, a2, _, _ = self.operands(a, b)
            if op == "-":
                k = -k
            bound = f"{a2} <= {INT_MAX - k}" if k >= 0 else f"{a2} >= {INT_MIN - k}"
            return (
                f"({a2} {op} {b} if type({a1}) is int and {bound} else "
                + self.m(f"{helper}({a2}, {b})")
                + ")"
            )
        a1, a2, b1, b2 = self.operands(a, b)
        r = self.new_temp()
        check = RANGE_CHECK.format(r=f"({r} := {a2} {op} {b2})")
        return (
            f"({r} if type({a1}) is type({b1}) is int and {check} else "
            + self.m(f"{helper}({a2}, {b2})")
            + ")"
        )

    def safe_access(self, obj: A.Expr, safe: bool, build: Callable[[str], str]) -> str:
        o = self.expr(obj)
        if not safe:
            return build(o)
        t = self.new_temp()
        return f"(None if ({t} := {o}) is None else {build(t)})"

    # ------------------------------------------------------------------ calls
    def call(self, e: A.Call) -> str:
        if (
            e.namespace is None
            and e.args
            and isinstance(e.args[0], PLACES)
            and (e.name, len(e.args)) not in self.script_fns
            and e.sym is None
            and e.name not in ("is_def_var", "eval", "is_shared")
        ):
            return self.native_call_by_ref(e)
        args = self.exprs(e.args)
        joined = "".join(f", {a}" for a in args)
        tup = "(" + "".join(f"{a}, " for a in args) + ")"
        if e.namespace is not None:
            return self.m(f"_ns(_d, {e.namespace!r}, {e.name!r}, {tup})")
        if e.name == "is_shared" and len(e.args) == 1 and is_captured(e.args[0]):
            return "True"
        if e.name == "is_def_var" and len(e.args) == 1 and isinstance(e.args[0], A.Lit):
            return "True" if e.sym is not None else f"_is_def_var({args[0]})"
        if e.name == "eval":
            raise self.error("'eval' is not supported", e)
        key = (e.name, len(args))
        if key in self.script_fns:
            call = self.m(f"{fn_py(e.name, len(args))}(_d + 1, None{joined})")
            return f"{call}.value" if key in self.mutating else call
        if e.sym is not None:
            return self.m(f"_callptr(_d, {self.load_sym(e.sym)}, {tup})")
        return self.m(f"_call(_d, {e.name!r}, {tup})")

    def native_call_by_ref(self, e: A.Call) -> str:
        """Native functions get their first argument by reference, as in Rhai: `pad(arr, 5, 0)` pads arr."""
        first = e.args[0]
        root = root_of(first)
        writeback = (
            e.name in WRITEBACK_METHODS
            and isinstance(root, A.Var | A.This)
            and not (isinstance(root, A.Var) and root.sym is not None and root.sym.const)
        )
        place = self.place(first) if writeback else None
        obj = place.load if place is not None else self.expr(first)
        mark = len(self.fn.lines)
        rest = self.exprs(e.args[1:])
        if len(self.fn.lines) > mark and place is None:
            holder = [obj]
            self.hoist(holder, mark)
            obj = holder[0]
        tup = "(" + "".join(f"{a}, " for a in [obj, *rest]) + ")"
        if place is None:
            return self.m(f"_call(_d, {e.name!r}, {tup})")
        t = self.new_temp()
        invoke = self.m(f"_callw(_d, {e.name!r}, {tup})")
        return f"(({t} := {invoke}), {place.store(f'{t}.this')}, {t}.value)[2]"

    def method_call(self, e: A.MethodCall) -> str:
        if e.name == "is_shared" and not e.args and is_captured(e.obj):
            return "True"
        key = (e.name, len(e.args))
        writeback = isinstance(root_of(e.obj), A.Var | A.This) and (
            e.name in WRITEBACK_METHODS or key in self.mutating or key in self.typed_fns
        )
        if isinstance(root_of(e.obj), A.Var):
            root = root_of(e.obj)
            assert isinstance(root, A.Var)
            if root.sym is not None and root.sym.const:
                writeback = False
        if e.safe:
            writeback = False
        if writeback:
            place = self.place(e.obj)
            obj = place.load
        else:
            obj = self.expr(e.obj)
        mark = len(self.fn.lines)
        args = self.exprs(e.args)
        if len(self.fn.lines) > mark and not writeback:
            holder = [obj]
            self.hoist(holder, mark)
            obj = holder[0]
        joined = "".join(f", {a}" for a in args)
        tup = "(" + "".join(f"{a}, " for a in args) + ")"
        if key in self.script_fns and key not in self.typed_fns:
            call = self.m(f"{fn_py(e.name, len(args))}(_d + 1, \x00{joined})")
            if key not in self.mutating:
                return self.guard_safe(e.safe, obj, call)
        else:
            call = self.m(
                f"_mcw(_d, \x00, {e.name!r}, {tup})" if writeback else f"_mc(_d, \x00, {e.name!r}, {tup})"
            )
            if not writeback:
                return self.guard_safe(e.safe, obj, call)
        if not writeback:
            return self.guard_safe(e.safe, obj, call + ".value")
        t = self.new_temp()
        invoke = call.replace(HOLE, obj)
        return f"(({t} := {invoke}), {place.store(f'{t}.this')}, {t}.value)[2]"

    def guard_safe(self, safe: bool, obj: str, call: str) -> str:
        if not safe:
            return call.replace(HOLE, obj)
        t = self.new_temp()
        invoke = call.replace(HOLE, t)
        return f"(None if ({t} := {obj}) is None else {invoke})"

    # ---------------------------------------------------------------- places
    def place(self, target: A.Expr, hoist: bool = False) -> Place:
        """An assignable location; with `hoist`, index expressions are evaluated once into temps first."""
        if isinstance(target, A.Var):
            sym = target.sym
            if sym is None:
                name = target.name
                load = f"_gv({name!r})" if self.fn.is_main else f"_gvf({name!r})"
                return Place(load, lambda v: f"_svx({name!r}, {v})")
            if sym.captured:
                return Place(f"{sym.py}[0]", lambda v: f"_setcell({sym.py}, {v})")
            return Place(sym.py, lambda v: f"({sym.py} := {v})")
        if isinstance(target, A.This):
            self.fn.mutates_this = self.fn.mutates_this or not self.fn.is_main
            return Place("_this", lambda v: f"(_this := {v})")
        if isinstance(target, A.Prop):
            outer = self.place(target.obj, hoist)
            name = target.name
            return Place(
                f"_gp({outer.load}, {name!r})", lambda v: outer.store(f"_sp({outer.load}, {name!r}, {v})")
            )
        if isinstance(target, A.Index):
            outer = self.place(target.obj, hoist)
            idx = self.expr(target.index)
            if is_trivial(idx):
                first = later = idx
            elif hoist:
                first = later = self.new_temp()
                self.emit(f"{later} = {idx}")
            else:
                later = self.new_temp()
                first = f"({later} := {idx})"
            return Place(
                f"_gi({outer.load}, {first})", lambda v: outer.store(f"_si({outer.load}, {later}, {v})")
            )
        raise self.error("Cannot assign to this expression", target)

    # --------------------------------------------------------------- closures
    def closure(self, e: A.Closure) -> str:
        saved = (self.fn, self.indent, self.pos)
        self.fn = FnState(mutates_this=self.mutates_this(e.body, self.mutating))
        self.indent = 0
        self.at(e)
        name = f"_anon_{e.uid}"
        params = "".join(f", {s.py}" for s in e.param_syms)
        caps = "".join(f", {s.py}" for s in e.captures)
        with self.block(f"def {name}(_d, _this{params}{caps}):"):
            self.entry_check()
            for sym in e.param_syms:
                if sym.captured:
                    self.emit(f"{sym.py} = [{sym.py}]")
            self.block_body(A.Block(e.line, e.col, [A.ExprStmt(e.line, e.col, e.body)]), "return")
        self.chunks.append(self.fn.lines)
        self.fn, self.indent, self.pos = saved
        captured = "(" + "".join(f"{s.py}, " for s in e.captures) + ")"
        return f"_closure('anon${e.uid}', {name}, {captured})"


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


def compile_script(
    script: A.Script, filename: str, count_ops: bool = True
) -> tuple[CodeType, str, dict[int, tuple[int, int]]]:
    text, posmap = Compiler(script, count_ops).compile()
    return compile(text, filename, "exec"), text, posmap
