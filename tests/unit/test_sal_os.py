"""The ``os`` module on real files in a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from horus.sal.common import SalError
from horus.sal.os_module import OsModule
from horus.sal.paths import PathGuard


@pytest.fixture
def fs() -> OsModule:
    return OsModule()


def test_list_dir_gives_sorted_names(fs: OsModule, tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "sub"):
        (tmp_path / name).touch() if "." in name else (tmp_path / name).mkdir()
    assert fs.list_dir(str(tmp_path)) == ["a.txt", "b.txt", "sub"]


def test_list_dir_of_missing_directory_names_it(fs: OsModule, tmp_path: Path) -> None:
    with pytest.raises(SalError, match=rf"cannot list {tmp_path}/nope: no such file or directory"):
        fs.list_dir(str(tmp_path / "nope"))


def test_exists_is_file_is_dir(fs: OsModule, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    assert (fs.exists(str(tmp_path / "f")), fs.exists(str(tmp_path / "none"))) == (True, False)
    assert (fs.is_file(str(tmp_path / "f")), fs.is_file(str(tmp_path / "d"))) == (True, False)
    assert (fs.is_dir(str(tmp_path / "d")), fs.is_dir(str(tmp_path / "f"))) == (True, False)


def test_write_read_append(fs: OsModule, tmp_path: Path) -> None:
    path = str(tmp_path / "notes.txt")
    assert fs.write_file(path, "héllo\n") == len("héllo\n".encode())
    fs.append_file(path, "world\n")
    assert fs.read_file(path) == "héllo\nworld\n"
    fs.write_file(path, "replaced")
    assert fs.read_file(path) == "replaced"


def test_read_binary_file_is_a_clear_error(fs: OsModule, tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SalError, match=r"cannot read .*/bin: not UTF-8 text"):
        fs.read_file(str(tmp_path / "bin"))


def test_write_into_missing_directory_names_the_path(fs: OsModule, tmp_path: Path) -> None:
    with pytest.raises(SalError, match=r"cannot write .*/no/such/file: no such file or directory"):
        fs.write_file(str(tmp_path / "no" / "such" / "file"), "x")


def test_write_refuses_non_string_content(fs: OsModule, tmp_path: Path) -> None:
    with pytest.raises(SalError, match=r"must be a string, not int"):
        fs.write_file(str(tmp_path / "f"), 5)  # type: ignore[arg-type]


def test_mkdir_creates_parents_and_is_idempotent(fs: OsModule, tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c"
    assert fs.mkdir(str(path)) is True
    assert path.is_dir()
    assert fs.mkdir(str(path)) is False


def test_mkdir_over_a_file_fails(fs: OsModule, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(SalError, match=r"cannot create directory .*/f: file exists"):
        fs.mkdir(str(tmp_path / "f"))


def test_delete_file_tree_and_missing(fs: OsModule, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "tree" / "deep").mkdir(parents=True)
    (tmp_path / "tree" / "deep" / "x").write_text("x")
    assert fs.delete(str(tmp_path / "f")) is True
    assert fs.delete(str(tmp_path / "tree")) is True
    assert fs.delete(str(tmp_path / "tree")) is False
    assert list(tmp_path.iterdir()) == []


def test_delete_symlink_removes_the_link_not_its_target(fs: OsModule, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("x")
    (tmp_path / "link").symlink_to(target)
    assert fs.delete(str(tmp_path / "link")) is True
    assert (target / "keep").exists() and not (tmp_path / "link").exists()


def test_copy_file_into_directory_and_tree(fs: OsModule, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("A")
    (tmp_path / "dst").mkdir()
    assert fs.copy(str(tmp_path / "src" / "a.txt"), str(tmp_path / "dst")) == str(tmp_path / "dst" / "a.txt")
    assert fs.copy(str(tmp_path / "src" / "a.txt"), str(tmp_path / "b.txt")) == str(tmp_path / "b.txt")
    assert fs.copy(str(tmp_path / "src"), str(tmp_path / "copy")) == str(tmp_path / "copy")
    assert (tmp_path / "copy" / "a.txt").read_text() == "A"
    assert (tmp_path / "b.txt").read_text() == "A"


def test_copy_missing_source_names_it(fs: OsModule, tmp_path: Path) -> None:
    with pytest.raises(SalError, match=r"cannot copy .*/ghost: no such file or directory"):
        fs.copy(str(tmp_path / "ghost"), str(tmp_path / "x"))


def test_move_renames_and_moves_into_directory(fs: OsModule, tmp_path: Path) -> None:
    (tmp_path / "a").write_text("A")
    (tmp_path / "dir").mkdir()
    assert fs.move(str(tmp_path / "a"), str(tmp_path / "b")) == str(tmp_path / "b")
    assert fs.move(str(tmp_path / "b"), str(tmp_path / "dir")) == str(tmp_path / "dir" / "b")
    assert (tmp_path / "dir" / "b").read_text() == "A" and not (tmp_path / "a").exists()


def test_move_missing_source_names_it(fs: OsModule, tmp_path: Path) -> None:
    with pytest.raises(SalError, match=r"cannot move .*/ghost: no such file or directory"):
        fs.move(str(tmp_path / "ghost"), str(tmp_path / "x"))


def test_file_size(fs: OsModule, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    assert fs.file_size(str(tmp_path / "f")) == 5
    with pytest.raises(SalError, match=r"is a directory"):
        fs.file_size(str(tmp_path))
    with pytest.raises(SalError, match=r"cannot size .*/none: no such file or directory"):
        fs.file_size(str(tmp_path / "none"))


def test_find_files_recurses_and_matches_names(fs: OsModule, tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("x.log", "a/y.log", "a/b/z.log", "a/b/z.txt"):
        (tmp_path / rel).write_text("")
    assert fs.find_files(str(tmp_path), "*.log") == sorted(
        str(tmp_path / rel) for rel in ("x.log", "a/y.log", "a/b/z.log")
    )
    assert fs.find_files(str(tmp_path), "*.none") == []


def test_find_files_does_not_follow_symlinked_directories(fs: OsModule, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_text("")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "escape").symlink_to(outside)
    assert fs.find_files(str(tmp_path / "root"), "*.log") == []


def test_relative_paths_start_at_the_root(tmp_path: Path) -> None:
    fs = OsModule(PathGuard(tmp_path))
    fs.write_file("rel.txt", "x")
    assert (tmp_path / "rel.txt").read_text() == "x"
    assert fs.list_dir(".") == ["rel.txt"]


def test_relative_paths_without_root_start_at_the_working_directory(
    fs: OsModule, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fs.write_file("here.txt", "x")
    assert (tmp_path / "here.txt").exists()
    assert os.path.isabs(fs.find_files(".", "*.txt")[0])
