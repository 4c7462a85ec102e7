"""A Rhai scripting engine that compiles Rhai source to Python code objects."""

from .engine import Engine, Program, Scope
from .errors import RhaiError, RhaiLimitError, RhaiParseError, RhaiRuntimeError, RhaiThrow
from .values import FnPtr, Range, Timestamp

__all__ = [
    "Engine",
    "FnPtr",
    "Program",
    "Range",
    "RhaiError",
    "RhaiLimitError",
    "RhaiParseError",
    "RhaiRuntimeError",
    "RhaiThrow",
    "Scope",
    "Timestamp",
]
