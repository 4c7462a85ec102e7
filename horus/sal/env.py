"""``env``: the job's own environment variables (never the worker's)."""

from __future__ import annotations

from typing import Any


class EnvModule:
    """``env.NAME`` reads a variable (``()`` when unset); ``env.get("NAME", default)`` too."""

    def __init__(self, variables: dict[str, str]) -> None:
        self._vars = dict(variables)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._vars.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self._vars.get(name, default)

    def names(self) -> list[str]:
        """The names of the job's variables, sorted."""
        return sorted(self._vars)
