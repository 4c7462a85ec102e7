"""Expression code generation: operators with inlined integer paths, calls, places and closures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from .codegen import (
    ARITH_HELPERS,
    COMPARE_HELPERS,
    HOLE,
    INT_MAX,
    INT_MIN,
    PLACES,
    RANGE_CHECK,
    STATEMENT_EXPRS,
    WRITEBACK_METHODS,
    Emitter,
    FnState,
    Place,
    Sink,
    fn_py,
    is_bool_expr,
    is_captured,
    is_int_literal,
    is_name,
    is_trivial,
    mutates_this,
    paren_depth,
    root_of,
)
from .values import Char


class ExpressionCompiler(Emitter):
    """Turns expressions into Python expression text, emitting statements before it when needed."""

    def __init__(self, script: A.Script, count_ops: bool) -> None:
        super().__init__(script.source)
        # Without an operation limit or deadline nothing needs counting, so loops and calls skip it.
        self.count_ops = count_ops
        self.script = script
        self.script_fns = {(f.name, len(f.params)): f for f in script.functions if f.this_type is None}
        self.typed_fns = {(f.name, len(f.params)) for f in script.functions if f.this_type is not None}
        self.mutating = find_this_mutators(script)

    # Statement generation lives in the Compiler subclass; expressions need it for blocks and closures.
    def statement(self, node: A.Node, sink: Sink) -> None:
        raise NotImplementedError

    def statement_expr(self, expr: A.Expr, sink: Sink) -> None:
        raise NotImplementedError

    def block_body(self, block: A.Block, sink: Sink) -> None:
        raise NotImplementedError

    def entry_check(self) -> None:
        raise NotImplementedError

    def cond(self, expr: A.Expr) -> str:
        code = self.expr(expr)
        return code if is_bool_expr(expr) else f"_cond({code})"

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

    def expr_inner(self, e: A.Expr) -> str:
        handler = EXPRESSION_HANDLERS.get(type(e))
        if handler is None:
            raise self.error(f"Unsupported expression {type(e).__name__}", e)
        return handler(self, e)

    def lit_expr(self, e: A.Lit) -> str:
        return self.literal(e.value)

    def var_expr(self, e: A.Var) -> str:
        if e.is_global:
            return self.m(f"_gvf({e.name!r})")
        return self.load_var(e)

    def this_expr(self, e: A.This) -> str:
        # Outside a method call `this` is unbound, which is an error in Rhai rather than `()`.
        return f"(_this if _this is not _NOTHIS else {self.m('_unbound_this()')})"

    def prop_expr(self, e: A.Prop) -> str:
        return self.safe_access(e.obj, e.safe, lambda o: self.m(f"_gp({o}, {e.name!r})"))

    def index_expr(self, e: A.Index) -> str:
        if e.safe:
            idx = e.index
            return self.safe_access(e.obj, e.safe, lambda o: self.m(f"_gi({o}, {self.expr(idx)})"))
        obj, idx_code = self.pair(e.obj, e.index)
        slow = self.m(f"_gi({obj}, {idx_code})")
        if is_name(obj) and (is_name(idx_code) or is_int_literal(idx_code)):
            # Inline list indexing; Python's negative indices count from the end like Rhai's.
            return (
                f"({obj}[{idx_code}] if type({obj}) is list and type({idx_code}) is int"
                f" and -len({obj}) <= {idx_code} < len({obj}) else {slow})"
            )
        return slow

    def array_expr(self, e: A.ArrayLit) -> str:
        return "[" + "".join(f"{c}, " for c in self.exprs(e.items)) + "]"

    def map_expr(self, e: A.MapLit) -> str:
        codes = self.exprs([v for _, v in e.items])
        return "{" + ", ".join(f"{k!r}: {c}" for (k, _), c in zip(e.items, codes, strict=True)) + "}"

    def range_expr(self, e: A.Range) -> str:
        a, b = self.range_bounds(e)
        return self.m(f"_range({a}, {b}, {e.inclusive})")

    def import_expr(self, e: A.Import) -> str:
        return self.m(f"_import({e.module!r})")

    def control_expr(self, e: A.StmtExpr) -> str:
        self.statement(e.stmt, None)
        return "None"

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
            if isinstance(branch, A.Block) and len(branch.stmts) == 1 and isinstance(branch.stmts[0], A.ExprStmt):
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
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            # `inf` and `nan` have no Python literal, so they become module constants.
            return self.const(f"float({str(value)!r})")
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
        return f"({a2} {op} {b2} if type({a1}) is type({b1}) is int else " + self.m(f"{helper}({a2}, {b2})") + ")"

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
            return f"({a2} {op} {b} if type({a1}) is int and {bound} else " + self.m(f"{helper}({a2}, {b})") + ")"
        a1, a2, b1, b2 = self.operands(a, b)
        r = self.new_temp()
        check = RANGE_CHECK.format(r=f"({r} := {a2} {op} {b2})")
        return f"({r} if type({a1}) is type({b1}) is int and {check} else " + self.m(f"{helper}({a2}, {b2})") + ")"

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
            call = self.m(f"{fn_py(e.name, len(args))}(_d + 1, _NOTHIS{joined})")
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
            call = self.m(f"_mcw(_d, \x00, {e.name!r}, {tup})" if writeback else f"_mc(_d, \x00, {e.name!r}, {tup})")
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
            # Whether the function hands the new `this` back was decided up front by mutates_this().
            return Place("_this", lambda v: f"(_this := {v})")
        if isinstance(target, A.Prop):
            outer = self.place(target.obj, hoist)
            name = target.name
            return Place(f"_gp({outer.load}, {name!r})", lambda v: outer.store(f"_sp({outer.load}, {name!r}, {v})"))
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
            return Place(f"_gi({outer.load}, {first})", lambda v: outer.store(f"_si({outer.load}, {later}, {v})"))
        raise self.error("Cannot assign to this expression", target)

    # --------------------------------------------------------------- closures
    def closure(self, e: A.Closure) -> str:
        saved = (self.fn, self.indent, self.pos)
        self.fn = FnState(mutates_this=mutates_this(e.body, self.mutating))
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


def find_this_mutators(script: A.Script) -> set[tuple[str, int]]:
    """Script functions that assign to `this` (directly or through another such method)."""
    result: set[tuple[str, int]] = set()
    changed = True
    while changed:
        changed = False
        for fn in script.functions:
            key = (fn.name, len(fn.params))
            if key not in result and mutates_this(fn.body, result):
                result.add(key)
                changed = True
    return result


EXPRESSION_HANDLERS: dict[type, Callable[[ExpressionCompiler, Any], str]] = {
    A.Lit: ExpressionCompiler.lit_expr,
    A.Var: ExpressionCompiler.var_expr,
    A.This: ExpressionCompiler.this_expr,
    A.Binary: ExpressionCompiler.binary,
    A.Call: ExpressionCompiler.call,
    A.MethodCall: ExpressionCompiler.method_call,
    A.Prop: ExpressionCompiler.prop_expr,
    A.Index: ExpressionCompiler.index_expr,
    A.Unary: ExpressionCompiler.unary,
    A.ArrayLit: ExpressionCompiler.array_expr,
    A.MapLit: ExpressionCompiler.map_expr,
    A.Interp: ExpressionCompiler.interp,
    A.Range: ExpressionCompiler.range_expr,
    A.Closure: ExpressionCompiler.closure,
    A.Import: ExpressionCompiler.import_expr,
    A.StmtExpr: ExpressionCompiler.control_expr,
    **{kind: ExpressionCompiler.inline_statement for kind in STATEMENT_EXPRS},
}
