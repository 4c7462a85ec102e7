"""Turning a script's path into a real one, confined to a root directory when one is set.

Every path is resolved (``..`` collapsed, symlinks followed) before it is compared with the
root, so neither ``..`` nor a symlink that points outside reaches past it. This is a guard
against mistakes and casual escapes, not a kernel sandbox: a process that can swap a path for a
symlink between the check and the use can still race it (run the worker as its own user or in
a container for hard isolation).
"""

from __future__ import annotations

import os
from pathlib import Path

from horus.sal.common import SalError, show_value


class PathGuard:
    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            self.root: Path | None = None
            return
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise SalError(f"root {str(root)!r} is not a directory")
        self.root = real

    def resolve(self, path: object, what: str = "path") -> Path:
        """The real path for ``path``; relative paths start at the root (or the working directory)."""
        if not isinstance(path, str) or not path:
            raise SalError(f"{what} must be a non-empty string, not {show_value(path)}")
        if "\0" in path:
            raise SalError(f"{what} {path!r} contains a NUL character")
        base = self.root or Path.cwd()
        real = Path(os.path.realpath(base / path))
        if self.root is not None and not real.is_relative_to(self.root):
            raise SalError(f"{what} {path!r} is outside the root {str(self.root)!r}")
        return real

    def is_root(self, path: Path) -> bool:
        return self.root is not None and path == self.root
