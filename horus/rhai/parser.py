"""Recursive-descent / precedence-climbing parser from tokens to the syntax tree."""

from __future__ import annotations

from . import ast as A
from .errors import RhaiParseError
from .lexer import Token, tokenize
from .values import Char

# Binding powers from the Rhai Book's precedence table.
BINARY_PREC = {
    "||": 30,
    "|": 30,
    "^": 30,
    "&&": 60,
    "&": 60,
    "==": 90,
    "!=": 90,
    "in": 110,
    "!in": 110,
    ">": 130,
    ">=": 130,
    "<": 130,
    "<=": 130,
    "??": 135,
    "..": 140,
    "..=": 140,
    "+": 150,
    "-": 150,
    "*": 180,
    "/": 180,
    "%": 180,
    "**": 190,
    "<<": 210,
    ">>": 210,
}
ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "**=", "<<=", ">>=", "&=", "|=", "^=", "??="})
BLOCK_ENDED = (A.If, A.Switch, A.While, A.DoWhile, A.For, A.Try, A.Block)
STATEMENT_KW = ("if", "switch", "while", "loop", "do", "for", "try")
MAX_NESTING = 150
UNSUPPORTED_KW = frozenset({"export"})
TYPE_ALIASES = {"int": "i64", "float": "f64"}


class Parser:
    def __init__(self, tokens: list[Token], source: str) -> None:
        self.toks = tokens
        self.i = 0
        self.source = source
        self.functions: list[A.FnDef] = []
        self.depth = 0
        self.aliases: dict[str, str] = {}

    # ----------------------------------------------------------------- helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, msg: str, tok: Token | None = None) -> RhaiParseError:
        tok = tok or self.tok
        return RhaiParseError(msg, tok.line, tok.col, self.source)

    def expect_op(self, op: str) -> Token:
        if not self.tok.is_op(op):
            raise self.error(f"Expected '{op}' but found {describe(self.tok)}")
        return self.next()

    def accept_op(self, op: str) -> bool:
        if self.tok.is_op(op):
            self.next()
            return True
        return False

    def ident(self, what: str = "identifier") -> str:
        tok = self.tok
        if tok.kind != "ident":
            raise self.error(f"Expected {what} but found {describe(tok)}")
        self.next()
        return str(tok.value)

    # -------------------------------------------------------------- statements
    def parse_script(self) -> A.Script:
        stmts = self.statements(top=True, end=None)
        return A.Script(A.Block(1, 1, stmts), self.functions, self.source)

    def statements(self, top: bool, end: str | None) -> list[A.Node]:
        stmts: list[A.Node] = []
        while True:
            while self.accept_op(";"):
                pass
            if (end and self.tok.is_op(end)) or self.tok.kind == "eof":
                if end and self.tok.kind == "eof":
                    raise self.error(f"Expected '{end}' but found end of script")
                return stmts
            if self.tok.is_kw("fn") or (self.tok.is_kw("private") and self.toks[self.i + 1].is_kw("fn")):
                if not top:
                    raise self.error("Functions can only be defined at global level")
                self.functions.append(self.fn_def())
                continue
            stmt = self.statement()
            stmts.append(stmt)
            if self.accept_op(";"):
                continue
            if (end and self.tok.is_op(end)) or self.tok.kind == "eof":
                continue
            if isinstance(stmt, A.ExprStmt) and isinstance(stmt.expr, BLOCK_ENDED):
                continue
            raise self.error(f"Expected ';' but found {describe(self.tok)}")

    def fn_def(self) -> A.FnDef:
        private = False
        if self.tok.is_kw("private"):
            private = True
            self.next()
        start = self.next()
        this_type: str | None = None
        if self.tok.kind == "str" or (self.tok.kind == "ident" and self.toks[self.i + 1].is_op(".")):
            type_tok = self.next()
            this_type = TYPE_ALIASES.get(str(type_tok.value), str(type_tok.value))
            self.expect_op(".")
        name = self.ident("function name")
        self.expect_op("(")
        params: list[str] = []
        while not self.tok.is_op(")"):
            pname = self.ident("parameter name")
            if pname in params:
                raise self.error(f"Duplicated parameter '{pname}'")
            params.append(pname)
            if not self.accept_op(","):
                break
        self.expect_op(")")
        if any(f.name == name and len(f.params) == len(params) and f.this_type == this_type for f in self.functions):
            raise self.error(f"Function '{name}' with {len(params)} parameters already defined", start)
        body = self.block()
        return A.FnDef(start.line, start.col, name, params, body, private, this_type)

    def statement(self) -> A.Node:
        tok = self.tok
        if tok.kind == "kw":
            handler = {
                "let": self.let_stmt,
                "const": self.let_stmt,
                "return": self.return_stmt,
                "throw": self.throw_stmt,
                "break": self.break_stmt,
                "import": self.import_stmt,
            }.get(str(tok.value))
            if handler is not None:
                return handler()
            if tok.value == "continue":
                self.next()
                return A.Continue(tok.line, tok.col)
            if tok.value in UNSUPPORTED_KW:
                raise self.error(f"'{tok.value}' is not supported")
        if tok.is_kw(*STATEMENT_KW) or tok.is_op("{"):
            # A statement that starts with a block construct ends with its closing brace.
            return A.ExprStmt(tok.line, tok.col, self.primary())
        expr = self.expression()
        if self.tok.kind == "op" and self.tok.value in ASSIGN_OPS:
            op_tok = self.next()
            if not isinstance(expr, A.Var | A.This | A.Prop | A.Index):
                raise self.error("Cannot assign to this expression", op_tok)
            value = self.expression()
            return A.Assign(op_tok.line, op_tok.col, expr, str(op_tok.value), value)
        return A.ExprStmt(tok.line, tok.col, expr)

    def import_stmt(self) -> A.Node:
        """`import "name" [as alias];` binds a module registered with Engine.register_module."""
        tok = self.next()
        name_tok = self.tok
        if name_tok.kind != "str":
            raise self.error("Only a string literal naming a registered module can be imported")
        self.next()
        module = str(name_tok.value)
        alias = module if module.isidentifier() else None
        if self.tok.is_kw("as"):
            self.next()
            alias = self.ident("module alias")
        if alias is None:
            raise self.error('This module needs an alias: import "..." as name;')
        self.aliases[alias] = module
        return A.Let(tok.line, tok.col, alias, A.Import(name_tok.line, name_tok.col, module), True)

    def let_stmt(self) -> A.Node:
        tok = self.next()
        name = self.ident("variable name")
        init: A.Expr | None = None
        if self.accept_op("="):
            init = self.expression()
        elif tok.value == "const":
            raise self.error("Constants must be initialised")
        return A.Let(tok.line, tok.col, name, init, tok.value == "const")

    def optional_value(self) -> A.Expr | None:
        if self.tok.is_op(";", "}", ",") or self.tok.kind == "eof":
            return None
        return self.expression()

    def return_stmt(self) -> A.Node:
        tok = self.next()
        return A.Return(tok.line, tok.col, self.optional_value())

    def throw_stmt(self) -> A.Node:
        tok = self.next()
        return A.Throw(tok.line, tok.col, self.optional_value())

    def break_stmt(self) -> A.Node:
        tok = self.next()
        return A.Break(tok.line, tok.col, self.optional_value())

    def block(self) -> A.Block:
        tok = self.expect_op("{")
        stmts = self.statements(top=False, end="}")
        self.expect_op("}")
        return A.Block(tok.line, tok.col, stmts)

    # ------------------------------------------------------------- expressions
    def expression(self, min_prec: int = 0) -> A.Expr:
        left = self.unary()
        while True:
            tok = self.tok
            op = tok.value if tok.kind == "op" or tok.is_kw("in") else None
            prec = BINARY_PREC.get(str(op)) if op is not None else None
            if prec is None or prec <= min_prec:
                return left
            self.next()
            if op in ("..", "..=") and self.range_ends_here():
                left = A.Range(tok.line, tok.col, left, None, op == "..=")
                continue
            # `**` is right-associative, everything else binds left.
            right = self.expression(prec - 1 if op == "**" else prec)
            if op in ("..", "..="):
                left = A.Range(tok.line, tok.col, left, right, op == "..=")
            else:
                left = A.Binary(tok.line, tok.col, str(op), left, right)

    def unary(self) -> A.Expr:
        tok = self.tok
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise self.error("Expression nested too deeply")
            return self.unary_inner(tok)
        finally:
            self.depth -= 1

    def range_ends_here(self) -> bool:
        """An open-ended range such as `s[2..]`: nothing that could start an expression follows."""
        return self.tok.kind == "eof" or self.tok.is_op("]", ")", ",", ";", "}", "=>", "{")

    def unary_inner(self, tok: Token) -> A.Expr:
        if tok.is_op("..", "..="):
            # `..end`, `..=end` and the full range `..` start from zero.
            self.next()
            end = None if self.range_ends_here() else self.expression(BINARY_PREC[".."])
            return A.Range(tok.line, tok.col, None, end, tok.value == "..=")
        if tok.is_op("-", "+", "!"):
            self.next()
            operand = self.unary()
            if tok.value == "-" and isinstance(operand, A.Lit) and type(operand.value) in (int, float):
                return A.Lit(tok.line, tok.col, -operand.value)
            return A.Unary(tok.line, tok.col, str(tok.value), operand)
        return self.postfix(self.primary())

    def postfix(self, expr: A.Expr) -> A.Expr:
        while True:
            tok = self.tok
            if tok.is_op(".", "?."):
                self.next()
                name_tok = self.tok
                if name_tok.kind not in ("ident", "kw"):
                    raise self.error(f"Expected property or method name but found {describe(name_tok)}")
                self.next()
                name = str(name_tok.value)
                safe = tok.value == "?."
                if self.tok.is_op("("):
                    args = self.call_args()
                    expr = A.MethodCall(name_tok.line, name_tok.col, expr, name, args, safe)
                else:
                    expr = A.Prop(name_tok.line, name_tok.col, expr, name, safe)
            elif tok.is_op("[", "?["):
                self.next()
                index = self.expression()
                self.expect_op("]")
                expr = A.Index(tok.line, tok.col, expr, index, tok.value == "?[")
            else:
                return expr

    def call_args(self) -> list[A.Expr]:
        self.expect_op("(")
        args: list[A.Expr] = []
        while not self.tok.is_op(")"):
            args.append(self.expression())
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return args

    def primary(self) -> A.Expr:
        tok = self.tok
        kind = tok.kind
        if kind in ("int", "float", "str"):
            self.next()
            return A.Lit(tok.line, tok.col, tok.value)
        if kind == "char":
            self.next()
            return A.Lit(tok.line, tok.col, Char(tok.value))
        if kind == "interp":
            self.next()
            return self.interpolation(tok)
        if kind == "ident":
            return self.identifier()
        if tok.is_kw("global"):
            self.next()
            self.expect_op("::")
            name_tok = self.tok
            return A.Var(name_tok.line, name_tok.col, self.ident("constant name"), is_global=True)
        if kind == "kw":
            return self.keyword_expr(tok)
        if tok.is_op("("):
            self.next()
            if self.accept_op(")"):
                return A.Lit(tok.line, tok.col, None)
            inner = self.expression()
            self.expect_op(")")
            return inner
        if tok.is_op("["):
            return self.array_lit()
        if tok.is_op("#{"):
            return self.map_lit()
        if tok.is_op("{"):
            return self.block()
        if tok.is_op("|", "||"):
            return self.closure()
        raise self.error(f"Unexpected {describe(tok)}")

    def keyword_expr(self, tok: Token) -> A.Expr:
        value = tok.value
        if value in ("true", "false"):
            self.next()
            return A.Lit(tok.line, tok.col, value == "true")
        if value == "this":
            self.next()
            return A.This(tok.line, tok.col)
        if value in ("break", "continue", "return", "throw"):
            return A.StmtExpr(tok.line, tok.col, self.statement())
        parsers = {
            "if": self.if_expr,
            "switch": self.switch_expr,
            "while": self.while_expr,
            "loop": self.loop_expr,
            "do": self.do_expr,
            "for": self.for_expr,
            "try": self.try_expr,
        }
        handler = parsers.get(str(value))
        if handler is None:
            if value in UNSUPPORTED_KW:
                raise self.error(f"'{value}' is not supported")
            raise self.error(f"Unexpected keyword '{value}'")
        return handler()

    def identifier(self) -> A.Expr:
        tok = self.next()
        name = str(tok.value)
        if self.tok.is_op("::"):
            self.next()
            fname = self.ident("function name")
            if not self.tok.is_op("("):
                raise self.error("Only function calls are supported in a namespace path")
            module = self.aliases.get(name, name)
            return A.Call(tok.line, tok.col, fname, self.call_args(), namespace=module)
        if self.tok.is_op("!") and self.toks[self.i + 1].is_op("("):
            raise self.error("Calling a function with '!' (capturing the scope) is not supported")
        if self.tok.is_op("("):
            return A.Call(tok.line, tok.col, name, self.call_args())
        return A.Var(tok.line, tok.col, name)

    def interpolation(self, tok: Token) -> A.Expr:
        parts: list[A.Expr] = []
        for part in tok.parts:
            if isinstance(part, str):
                if part:
                    parts.append(A.Lit(tok.line, tok.col, part))
                continue
            sub = Parser(part, self.source)
            stmts = sub.statements(top=False, end=None)
            if len(stmts) == 1 and isinstance(stmts[0], A.ExprStmt):
                parts.append(stmts[0].expr)
            else:
                parts.append(A.Block(tok.line, tok.col, stmts))
        return A.Interp(tok.line, tok.col, parts)

    def array_lit(self) -> A.Expr:
        tok = self.next()
        items: list[A.Expr] = []
        while not self.tok.is_op("]"):
            items.append(self.expression())
            if not self.accept_op(","):
                break
        self.expect_op("]")
        return A.ArrayLit(tok.line, tok.col, items)

    def map_lit(self) -> A.Expr:
        tok = self.next()
        items: list[tuple[str, A.Expr]] = []
        seen: set[str] = set()
        while not self.tok.is_op("}"):
            key_tok = self.next()
            if key_tok.kind not in ("ident", "str", "kw"):
                raise self.error(f"Expected a property name but found {describe(key_tok)}", key_tok)
            key = str(key_tok.value)
            if key in seen:
                raise self.error(f"Duplicated property '{key}'", key_tok)
            seen.add(key)
            self.expect_op(":")
            items.append((key, self.expression()))
            if not self.accept_op(","):
                break
        self.expect_op("}")
        return A.MapLit(tok.line, tok.col, items)

    def closure(self) -> A.Expr:
        tok = self.next()
        params: list[str] = []
        if tok.value == "|":
            while not self.tok.is_op("|"):
                params.append(self.ident("parameter name"))
                if not self.accept_op(","):
                    break
            self.expect_op("|")
        start = self.tok
        body: A.Expr
        if start.is_op("{"):
            # A block body ends the closure, so `|x| { .. }.curry(1)` curries the closure.
            body = self.block()
        else:
            stmt = self.statement()
            body = stmt.expr if isinstance(stmt, A.ExprStmt) else A.Block(start.line, start.col, [stmt])
        return A.Closure(tok.line, tok.col, params, body)

    def if_expr(self) -> A.Expr:
        tok = self.next()
        cond = self.expression()
        then = self.block()
        other: A.Expr | None = None
        if self.tok.is_kw("else"):
            self.next()
            other = self.if_expr() if self.tok.is_kw("if") else self.block()
        return A.If(tok.line, tok.col, cond, then, other)

    def switch_expr(self) -> A.Expr:
        tok = self.next()
        subject = self.expression()
        self.expect_op("{")
        cases: list[A.SwitchCase] = []
        while not self.tok.is_op("}"):
            values: list[A.Expr] = []
            if self.tok.kind == "ident" and self.tok.value == "_":
                self.next()
            else:
                # Parse above `|` precedence so that `1 | 2 =>` lists alternatives.
                values.append(self.expression(BINARY_PREC["|"]))
                while self.accept_op("|"):
                    values.append(self.expression(BINARY_PREC["|"]))
            guard = None
            if self.tok.is_kw("if"):
                self.next()
                guard = self.expression()
            self.expect_op("=>")
            body = self.block() if self.tok.is_op("{") else self.arm_body()
            if isinstance(body, A.Block) and self.tok.is_op("{"):
                raise self.error("Unexpected '{'")
            cases.append(A.SwitchCase(values, guard, body))
            if not self.accept_op(",") and not isinstance(body, A.Block) and not self.tok.is_op("}"):
                raise self.error(f"Expected ',' but found {describe(self.tok)}")
        self.expect_op("}")
        return A.Switch(tok.line, tok.col, subject, cases)

    def arm_body(self) -> A.Expr:
        # Arms may hold statements such as `break value` or an assignment, not only expressions.
        start = self.tok
        stmt = self.statement()
        return stmt.expr if isinstance(stmt, A.ExprStmt) else A.Block(start.line, start.col, [stmt])

    def while_expr(self) -> A.Expr:
        tok = self.next()
        cond = self.expression()
        return A.While(tok.line, tok.col, cond, self.block())

    def loop_expr(self) -> A.Expr:
        tok = self.next()
        return A.While(tok.line, tok.col, None, self.block())

    def do_expr(self) -> A.Expr:
        tok = self.next()
        body = self.block()
        if not self.tok.is_kw("while", "until"):
            raise self.error("Expected 'while' or 'until' after a do block")
        until = self.next().value == "until"
        return A.DoWhile(tok.line, tok.col, body, self.expression(), until)

    def for_expr(self) -> A.Expr:
        tok = self.next()
        counter: str | None = None
        if self.accept_op("("):
            var = self.ident("loop variable")
            self.expect_op(",")
            counter = self.ident("counter variable")
            self.expect_op(")")
        else:
            var = self.ident("loop variable")
        if not self.tok.is_kw("in"):
            raise self.error(f"Expected 'in' but found {describe(self.tok)}")
        self.next()
        iterable = self.expression()
        return A.For(tok.line, tok.col, var, counter, iterable, self.block())

    def try_expr(self) -> A.Expr:
        tok = self.next()
        body = self.block()
        if not self.tok.is_kw("catch"):
            raise self.error("Expected 'catch' after a try block")
        self.next()
        var: str | None = None
        if self.accept_op("("):
            var = self.ident("error variable")
            self.expect_op(")")
        return A.Try(tok.line, tok.col, body, var, self.block())


def describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "end of script"
    if tok.kind == "interp":
        return "string"
    return f"'{tok.value}'"


def parse(source: str) -> A.Script:
    return Parser(tokenize(source), source).parse_script()
