"""Root confinement of the ``os`` module: no escape through ``..``, symlinks or absolute paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from horus.sal.common import SalError
from horus.sal.os_module import OsModule
from horus.sal.paths import PathGuard


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "inside").mkdir(parents=True)
    (tmp_path / "root" / "inside" / "ok.txt").write_text("fine")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    return tmp_path / "root"


@pytest.fixture
def fs(root: Path) -> OsModule:
    return OsModule(PathGuard(root))


ESCAPES: list[tuple[str, Callable[[OsModule, str], Any]]] = [
    ("list_dir", lambda fs, p: fs.list_dir(p)),
    ("exists", lambda fs, p: fs.exists(p)),
    ("is_file", lambda fs, p: fs.is_file(p)),
    ("is_dir", lambda fs, p: fs.is_dir(p)),
    ("read_file", lambda fs, p: fs.read_file(p)),
    ("write_file", lambda fs, p: fs.write_file(p, "x")),
    ("append_file", lambda fs, p: fs.append_file(p, "x")),
    ("mkdir", lambda fs, p: fs.mkdir(p + "/new")),
    ("delete", lambda fs, p: fs.delete(p)),
    ("copy from", lambda fs, p: fs.copy(p, "inside/copy")),
    ("copy to", lambda fs, p: fs.copy("inside/ok.txt", p)),
    ("move from", lambda fs, p: fs.move(p, "inside/moved")),
    ("move to", lambda fs, p: fs.move("inside/ok.txt", p)),
    ("file_size", lambda fs, p: fs.file_size(p)),
    ("find_files", lambda fs, p: fs.find_files(p, "*")),
]


@pytest.mark.parametrize(("name", "call"), ESCAPES, ids=[name for name, _ in ESCAPES])
def test_dotdot_is_refused(fs: OsModule, root: Path, name: str, call: Callable[[OsModule, str], Any]) -> None:
    with pytest.raises(SalError, match=r"is outside the root"):
        call(fs, "inside/../../outside/secret.txt" if "dir" not in name else "../outside")
    assert (root.parent / "outside" / "secret.txt").read_text() == "secret"
    assert (root / "inside" / "ok.txt").read_text() == "fine"


@pytest.mark.parametrize(("name", "call"), ESCAPES, ids=[name for name, _ in ESCAPES])
def test_absolute_path_outside_is_refused(
    fs: OsModule, root: Path, name: str, call: Callable[[OsModule, str], Any]
) -> None:
    with pytest.raises(SalError, match=rf"'{root.parent}/outside.*' is outside the root '{root}'"):
        call(fs, str(root.parent / "outside" / ("secret.txt" if "dir" not in name else "")))
    assert (root.parent / "outside" / "secret.txt").read_text() == "secret"


def test_symlink_pointing_outside_is_refused(fs: OsModule, root: Path) -> None:
    (root / "escape").symlink_to(root.parent / "outside")
    (root / "secret-link").symlink_to(root.parent / "outside" / "secret.txt")
    for attempt in (
        lambda: fs.read_file("escape/secret.txt"),
        lambda: fs.list_dir("escape"),
        lambda: fs.write_file("escape/planted.txt", "x"),
        lambda: fs.read_file("secret-link"),
        lambda: fs.write_file("secret-link", "overwritten"),
        lambda: fs.copy("secret-link", "inside/stolen"),
        lambda: fs.delete("escape/secret.txt"),
    ):
        with pytest.raises(SalError, match=r"is outside the root"):
            attempt()
    assert (root.parent / "outside" / "secret.txt").read_text() == "secret"
    assert not (root.parent / "outside" / "planted.txt").exists()


def test_deleting_a_symlink_to_outside_removes_only_the_link(fs: OsModule, root: Path) -> None:
    (root / "escape").symlink_to(root.parent / "outside")
    assert fs.delete("escape") is True
    assert (root.parent / "outside" / "secret.txt").read_text() == "secret"


def test_symlink_inside_the_root_is_fine(fs: OsModule, root: Path) -> None:
    (root / "alias").symlink_to(root / "inside")
    assert fs.read_file("alias/ok.txt") == "fine"


def test_paths_inside_work_relative_and_absolute(fs: OsModule, root: Path) -> None:
    assert fs.read_file("inside/ok.txt") == "fine"
    assert fs.read_file(str(root / "inside" / "ok.txt")) == "fine"
    assert fs.read_file("inside/../inside/ok.txt") == "fine"


def test_root_itself_cannot_be_deleted_or_moved(fs: OsModule, root: Path) -> None:
    with pytest.raises(SalError, match=r"refusing to delete the root"):
        fs.delete(str(root))
    with pytest.raises(SalError, match=r"refusing to delete the root"):
        fs.delete(".")
    with pytest.raises(SalError, match=r"refusing to move the root"):
        fs.move(str(root), "inside/x")
    assert root.is_dir()


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SalError, match=r"root '.*/missing' is not a directory"):
        PathGuard(tmp_path / "missing")


def test_a_root_given_through_a_symlink_still_confines(tmp_path: Path, root: Path) -> None:
    (tmp_path / "via").symlink_to(root)
    fs = OsModule(PathGuard(tmp_path / "via"))
    assert fs.read_file("inside/ok.txt") == "fine"
    with pytest.raises(SalError, match=r"is outside the root"):
        fs.read_file("../outside/secret.txt")


@pytest.mark.parametrize("bad", ["", 5, None, "a\0b"])
def test_bad_path_values_are_named(fs: OsModule, bad: object) -> None:
    with pytest.raises(SalError, match=r"path"):
        fs.read_file(bad)  # type: ignore[arg-type]
