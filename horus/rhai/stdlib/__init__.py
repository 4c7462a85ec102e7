"""The standard packages; importing the modules registers their functions."""

from . import arrays, core, maps, math, strings
from .registry import FUNCTIONS, GETTERS, Builtin, NoMatch

__all__ = ["FUNCTIONS", "GETTERS", "Builtin", "NoMatch", "arrays", "core", "maps", "math", "strings"]
