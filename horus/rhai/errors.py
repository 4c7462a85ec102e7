"""Error hierarchy shared by the lexer, parser, compiler and runtime."""

from __future__ import annotations

from typing import Any

from horus.errors import HorusError


class RhaiError(HorusError):
    """Base class of every error the engine raises; carries a 1-based source position."""

    def __init__(self, message: str, line: int = 0, column: int = 0, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.source = source

    def with_position(self, line: int, column: int, source: str | None) -> RhaiError:
        # Runtime helpers do not know where they were called from; the engine fills it in once.
        if not self.line:
            self.line, self.column = line, column
        if self.source is None:
            self.source = source
        return self

    def __str__(self) -> str:
        if not self.line:
            return self.message
        text = f"{self.message} (line {self.line}, position {self.column})"
        if self.source is None:
            return text
        lines = self.source.splitlines()
        if not 0 < self.line <= len(lines):
            return text
        src = lines[self.line - 1].expandtabs(1)
        return f"{text}\n{src}\n{' ' * max(self.column - 1, 0)}^"


class RhaiParseError(RhaiError):
    """The script is not valid Rhai."""


class RhaiRuntimeError(RhaiError):
    """An error raised while evaluating a script (catchable by `try`/`catch`)."""


class RhaiLimitError(RhaiRuntimeError):
    """A resource limit was exceeded; scripts cannot catch it."""


class RhaiMemoryError(RhaiLimitError):
    """The process ran out of memory (often a limit the host set) while the script ran."""


class RhaiThrow(RhaiRuntimeError):
    """A value thrown by the script with `throw`."""

    def __init__(self, value: Any, line: int = 0, column: int = 0, source: str | None = None) -> None:
        super().__init__(_describe(value), line, column, source)
        self.value = value


def _describe(value: Any) -> str:
    if value is None:
        return "Runtime error"
    return f"Runtime error: {value}"
