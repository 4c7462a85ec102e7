"""``os``: files and directories, every path passed through the runner's :class:`PathGuard`."""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from horus.sal.common import SalError
from horus.sal.paths import PathGuard

T = TypeVar("T")


def _reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)


def _attempt(action: str, path: object, step: Callable[[], T]) -> T:
    """Run one filesystem step; an OSError becomes a SalError naming the action and the path."""
    try:
        return step()
    except SalError:
        raise
    except UnicodeDecodeError:
        raise SalError(f"cannot {action} {path}: not UTF-8 text") from None
    except OSError as exc:
        raise SalError(f"cannot {action} {path}: {_reason(exc)}") from None


class OsModule:
    def __init__(self, guard: PathGuard | None = None) -> None:
        self._guard = guard or PathGuard()

    def _path(self, path: object) -> Path:
        return self._guard.resolve(path)

    # -- queries -------------------------------------------------------------------
    def list_dir(self, path: str) -> list[str]:
        """Names of the entries of a directory, sorted."""
        real = self._path(path)
        return _attempt("list", path, lambda: sorted(os.listdir(real)))

    def exists(self, path: str) -> bool:
        return self._path(path).exists()

    def is_file(self, path: str) -> bool:
        return self._path(path).is_file()

    def is_dir(self, path: str) -> bool:
        return self._path(path).is_dir()

    def file_size(self, path: str) -> int:
        real = self._path(path)
        if real.is_dir():
            raise SalError(f"cannot size {path}: is a directory")
        return _attempt("size", path, lambda: real.stat().st_size)

    def find_files(self, path: str, glob: str) -> list[str]:
        """Files under ``path`` (recursively) whose name matches ``glob``, as full paths, sorted.

        Symlinked directories are not descended into, so the search stays inside the tree.
        """
        real = self._path(path)
        if not real.is_dir():
            raise SalError(f"cannot search {path}: not a directory")
        found: list[str] = []
        for folder, _dirs, files in os.walk(real, followlinks=False):
            found.extend(os.path.join(folder, name) for name in files if fnmatch.fnmatchcase(name, glob))
        return sorted(found)

    # -- contents ------------------------------------------------------------------
    def read_file(self, path: str) -> str:
        real = self._path(path)
        return _attempt("read", path, lambda: real.read_text(encoding="utf-8"))

    def write_file(self, path: str, content: str) -> int:
        """Replace the file's content; returns the number of bytes written."""
        return self._write(path, content, "w")

    def append_file(self, path: str, content: str) -> int:
        return self._write(path, content, "a")

    def _write(self, path: str, content: object, mode: str) -> int:
        if not isinstance(content, str):
            raise SalError(f"content for {path} must be a string, not {type(content).__name__}")
        real = self._path(path)
        data = content.encode("utf-8")

        def write() -> int:
            with real.open(mode + "b") as handle:
                return handle.write(data)

        return _attempt("write", path, write)

    # -- changes -------------------------------------------------------------------
    def mkdir(self, path: str) -> bool:
        """Create the directory and any missing parents; true if it was created."""
        real = self._path(path)
        if real.is_dir():
            return False
        _attempt("create directory", path, lambda: real.mkdir(parents=True))
        return True

    def delete(self, path: str) -> bool:
        """Remove a file, a symlink (not its target) or a whole tree; false if nothing was there."""
        real = self._unresolved_leaf(path)
        if self._guard.is_root(real) or real == Path(real.anchor):
            raise SalError(f"refusing to delete the root {path}")
        if real.is_symlink() or real.is_file():
            _attempt("delete", path, real.unlink)
        elif real.is_dir():
            _attempt("delete", path, lambda: shutil.rmtree(real))
        else:
            return False
        return True

    def copy(self, src: str, dst: str) -> str:
        """Copy a file or a tree; into ``dst`` when it is an existing directory. Returns the new path."""
        source = self._path(src)
        target = self._path(dst)
        if not source.exists():
            raise SalError(f"cannot copy {src}: no such file or directory")
        if target.is_dir():
            target = target / source.name
        if source.is_dir():
            _attempt("copy", f"{src} to {dst}", lambda: shutil.copytree(source, target, symlinks=True))
        else:
            _attempt("copy", f"{src} to {dst}", lambda: shutil.copy2(source, target))
        return str(target)

    def move(self, src: str, dst: str) -> str:
        """Move or rename; into ``dst`` when it is an existing directory. Returns the new path."""
        source = self._unresolved_leaf(src)
        target = self._path(dst)
        if self._guard.is_root(source):
            raise SalError(f"refusing to move the root {src}")
        if not source.exists() and not source.is_symlink():
            raise SalError(f"cannot move {src}: no such file or directory")
        if target.is_dir():
            target = target / source.name
        return str(_attempt("move", f"{src} to {dst}", lambda: shutil.move(source, target)))

    def _unresolved_leaf(self, path: str) -> Path:
        """The path with its directory resolved but its last part kept, so a symlink names itself.

        Deleting or moving a symlink acts on the link (which may point outside the root); the
        link's directory must still be inside the root.
        """
        try:
            full: Path | None = self._path(path)
        except SalError:
            full = None
        if full is not None and self._guard.is_root(full):
            return full
        stripped = path.rstrip("/") if isinstance(path, str) else ""
        name = os.path.basename(stripped)
        if name not in ("", ".", ".."):
            leaf = self._path(os.path.dirname(stripped) or ".") / name
            if leaf.is_symlink():
                return leaf
        return full if full is not None else self._path(path)
