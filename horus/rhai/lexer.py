"""Turns Rhai source text into a flat list of tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import RhaiParseError

KEYWORDS = frozenset(
    {
        "let",
        "const",
        "if",
        "else",
        "switch",
        "do",
        "while",
        "until",
        "loop",
        "for",
        "in",
        "break",
        "continue",
        "return",
        "throw",
        "try",
        "catch",
        "fn",
        "private",
        "true",
        "false",
        "this",
        "import",
        "export",
        "as",
        "global",
    }
)

# Longest operators first so that greedy matching picks `**=` over `**` over `*`.
OPERATORS = sorted(
    [
        "+",
        "-",
        "*",
        "/",
        "%",
        "**",
        "<<",
        ">>",
        "&",
        "|",
        "^",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "&&",
        "||",
        "!",
        "=",
        "+=",
        "-=",
        "*=",
        "/=",
        "%=",
        "**=",
        "<<=",
        ">>=",
        "&=",
        "|=",
        "^=",
        "??",
        "??=",
        "?",
        "?.",
        "?[",
        ".",
        "..",
        "..=",
        "::",
        "=>",
        ",",
        ";",
        ":",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "#{",
        "@",
        "$",
    ],
    key=len,
    reverse=True,
)

# Regex alternation tries left to right, so the longest operators come first.
OPERATOR_RE = re.compile("|".join(re.escape(op) for op in OPERATORS))
WORD_RE = re.compile(r"\w+")
SPACE_RE = re.compile("[ \t\r\n\ufeff]+")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
INT_MAX = (1 << 63) - 1


@dataclass
class Token:
    kind: str  # int, float, str, char, interp, ident, kw, op, eof
    value: Any
    line: int
    col: int
    parts: list[str | list[Token]] = field(default_factory=list)

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.value in ops

    def is_kw(self, *kws: str) -> bool:
        return self.kind == "kw" and self.value in kws


class Lexer:
    def __init__(self, src: str, pos: int = 0, line: int = 1, col: int = 1) -> None:
        self.src = src
        self.pos = pos
        self.line = line
        self.col = col

    def error(self, msg: str, line: int | None = None, col: int | None = None) -> RhaiParseError:
        return RhaiParseError(msg, line or self.line, col or self.col, self.src)

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.src[i] if i < len(self.src) else ""

    def advance(self, n: int = 1) -> str:
        text = self.src[self.pos : self.pos + n]
        newlines = text.count("\n")
        if newlines:
            self.line += newlines
            self.col = len(text) - text.rfind("\n")
        else:
            self.col += len(text)
        self.pos += n
        return text

    def tokens(self, stop_at_brace: bool = False) -> list[Token]:
        """Tokenise to the end, or (for `${...}` interpolation) to the unmatched closing brace."""
        out: list[Token] = []
        depth = 0
        while True:
            self.skip_trivia()
            if self.pos >= len(self.src):
                if stop_at_brace:
                    raise self.error("Unterminated string interpolation")
                out.append(Token("eof", None, self.line, self.col))
                return out
            if stop_at_brace and self.peek() == "}" and depth == 0:
                out.append(Token("eof", None, self.line, self.col))
                self.advance()
                return out
            tok = self.next_token()
            if tok.kind == "op" and tok.value in ("{", "#{"):
                depth += 1
            elif tok.kind == "op" and tok.value == "}":
                depth -= 1
            out.append(tok)

    def skip_trivia(self) -> None:
        while self.pos < len(self.src):
            ch = self.peek()
            if ch in " \t\r\n\ufeff":
                found = SPACE_RE.match(self.src, self.pos)
                assert found is not None
                self.advance(found.end() - self.pos)
            elif ch == "/" and self.peek(1) == "/":
                end = self.src.find("\n", self.pos)
                self.advance((len(self.src) if end < 0 else end) - self.pos)
            elif ch == "/" and self.peek(1) == "*":
                self.skip_block_comment()
            elif ch == "#" and self.peek(1) == "!" and self.pos == 0:
                while self.pos < len(self.src) and self.peek() != "\n":
                    self.advance()
            else:
                return

    def skip_block_comment(self) -> None:
        line, col = self.line, self.col
        self.advance(2)
        depth = 1
        while depth:
            if self.pos >= len(self.src):
                raise self.error("Unterminated comment", line, col)
            if self.peek() == "/" and self.peek(1) == "*":
                depth += 1
                self.advance(2)
            elif self.peek() == "*" and self.peek(1) == "/":
                depth -= 1
                self.advance(2)
            else:
                self.advance()

    def next_token(self) -> Token:
        ch = self.peek()
        line, col = self.line, self.col
        if ch.isdigit():
            return self.number(line, col)
        if ch.isalpha() or ch == "_":
            return self.word(line, col)
        if ch == '"':
            return Token("str", self.quoted('"', line, col), line, col)
        if ch == "'":
            text = self.quoted("'", line, col)
            if len(text) != 1:
                raise self.error("Invalid character literal", line, col)
            return Token("char", text, line, col)
        if ch == "`":
            return self.backtick(line, col)
        if ch == "#" and self.peek(1) in ('"', "#"):
            return Token("str", self.raw_string(line, col), line, col)
        if ch == "!" and self.src.startswith("in", self.pos + 1) and not _ident_char(self.peek(3)):
            self.advance(3)
            return Token("op", "!in", line, col)
        found = OPERATOR_RE.match(self.src, self.pos)
        if found is None:
            raise self.error(f"Unexpected character '{ch}'", line, col)
        op = found.group()
        self.advance(len(op))
        return Token("op", op, line, col)

    def word(self, line: int, col: int) -> Token:
        found = WORD_RE.match(self.src, self.pos)
        assert found is not None
        text = found.group()
        self.advance(len(text))
        if text in KEYWORDS:
            return Token("kw", text, line, col)
        return Token("ident", text, line, col)

    def number(self, line: int, col: int) -> Token:
        start = self.pos
        if self.peek() == "0" and self.peek(1) in "xXoObB" and self.peek(1):
            base = {"x": 16, "o": 8, "b": 2}[self.peek(1).lower()]
            self.advance(2)
            while _ident_char(self.peek()):
                self.advance()
            digits = self.src[start + 2 : self.pos].replace("_", "")
            try:
                value = int(digits, base)
            except ValueError:
                raise self.error(f"Invalid number literal '{self.src[start : self.pos]}'", line, col) from None
            if value > 0xFFFF_FFFF_FFFF_FFFF:
                raise self.error("Integer literal too large", line, col)
            # Hex literals spell out the bit pattern, so the top bit makes them negative.
            return Token("int", value - (1 << 64) if value > INT_MAX else value, line, col)
        is_float = self.digits()
        if self.peek() == "." and self.peek(1).isdigit():
            is_float = True
            self.advance()
            self.digits()
        elif self.peek() == "." and self.peek(1) != "." and not _ident_char(self.peek(1)):
            # `1.` is a float; `1..2` is a range and `1.abs()` a method call.
            is_float = True
            self.advance()
        if (
            self.peek() in "eE"
            and self.peek()
            and (self.peek(1).isdigit() or (self.peek(1) in "+-" and self.peek(1) and self.peek(2).isdigit()))
        ):
            is_float = True
            self.advance(2)
            self.digits()
        text = self.src[start : self.pos].replace("_", "")
        if _ident_char(self.peek()):
            raise self.error(f"Invalid number literal '{self.src[start : self.pos + 1]}'", line, col)
        if is_float:
            return Token("float", float(text), line, col)
        value = int(text)
        if value > INT_MAX:
            raise self.error(f"Integer literal too large: {text}", line, col)
        return Token("int", value, line, col)

    def digits(self) -> bool:
        while self.peek().isdigit() or self.peek() == "_":
            self.advance()
        return False

    def quoted(self, quote: str, line: int, col: int) -> str:
        self.advance()
        buf: list[str] = []
        while True:
            ch = self.peek()
            if not ch or ch == "\n":
                raise self.error("Unterminated string literal", line, col)
            if ch == quote:
                if quote == '"' and self.peek(1) == '"':
                    buf.append('"')
                    self.advance(2)
                    continue
                self.advance()
                return "".join(buf)
            if ch == "\\":
                buf.append(self.escape(col))
                continue
            buf.append(self.advance())

    def escape(self, quote_col: int) -> str:
        self.advance()
        ch = self.peek()
        if ch == "\n":
            # Line continuation skips the newline and the indentation up to the opening quote.
            self.advance()
            while self.peek() in " \t" and self.peek() and self.col <= quote_col:
                self.advance()
            return ""
        if ch in ESCAPES:
            self.advance()
            return ESCAPES[ch]
        width = {"x": 2, "u": 4, "U": 8}.get(ch)
        if width is None:
            raise self.error(f"Invalid escape sequence '\\{ch}'")
        self.advance()
        digits = self.src[self.pos : self.pos + width]
        try:
            code = int(digits, 16)
            if len(digits) != width:
                raise ValueError(digits)
            text = chr(code)
        except ValueError:
            raise self.error(f"Invalid escape sequence '\\{ch}{digits}'") from None
        self.advance(width)
        return text

    def raw_string(self, line: int, col: int) -> str:
        hashes = 0
        while self.peek() == "#":
            hashes += 1
            self.advance()
        if self.peek() != '"':
            raise self.error("Invalid raw string", line, col)
        self.advance()
        end = '"' + "#" * hashes
        idx = self.src.find(end, self.pos)
        if idx < 0:
            raise self.error("Unterminated raw string", line, col)
        text = self.src[self.pos : idx]
        self.advance(idx - self.pos + len(end))
        return text

    def backtick(self, line: int, col: int) -> Token:
        self.advance()
        # A line break right after the opening back-tick is not part of the string.
        if self.peek() == "\r" and self.peek(1) == "\n":
            self.advance(2)
        elif self.peek() == "\n":
            self.advance()
        parts: list[str | list[Token]] = []
        buf: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise self.error("Unterminated string literal", line, col)
            if ch == "`":
                if self.peek(1) == "`":
                    buf.append("`")
                    self.advance(2)
                    continue
                self.advance()
                break
            if ch == "$" and self.peek(1) == "{":
                parts.append("".join(buf))
                buf = []
                self.advance(2)
                parts.append(self.tokens(stop_at_brace=True))
                continue
            buf.append(self.advance())
        parts.append("".join(buf))
        return Token("interp", None, line, col, parts)


def _ident_char(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch == "_")


def tokenize(src: str) -> list[Token]:
    return Lexer(src).tokens()
