"""A Rhai scripting engine that compiles Rhai source to Python code objects."""

from .engine import Engine, Program, Scope
from .errors import RhaiError, RhaiLimitError, RhaiMemoryError, RhaiParseError, RhaiRuntimeError, RhaiThrow
from .values import FnPtr, Range, Timestamp

__all__ = [
    "Engine",
    "FnPtr",
    "Program",
    "Range",
    "RhaiError",
    "RhaiLimitError",
    "RhaiMemoryError",
    "RhaiParseError",
    "RhaiRuntimeError",
    "RhaiThrow",
    "Scope",
    "Timestamp",
]
