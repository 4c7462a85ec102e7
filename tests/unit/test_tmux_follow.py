"""Following a growing output file: whole lines as they complete, nothing lost or split."""

from __future__ import annotations

from pathlib import Path

from horus.tmux.follow import OutputFollower


def test_lines_come_as_they_complete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"")
    logged: list[str] = []
    follower = OutputFollower(out, logged.append)
    with out.open("ab", buffering=0) as writer:
        writer.write(b"one\ntw")
        follower.poll()
        assert logged == ["one"]
        writer.write(b"o\r\nthr")
        follower.poll()
        assert logged == ["one", "two"]
        writer.write(b"ee")
    assert follower.close() == "one\ntwo\r\nthree"
    assert logged == ["one", "two", "three"]
    assert follower.close() == "one\ntwo\r\nthree"  # again: a timeout may close it after the end


def test_utf8_split_across_reads_and_bad_bytes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"")
    logged: list[str] = []
    follower = OutputFollower(out, logged.append)
    encoded = "héllo\n".encode()
    with out.open("ab", buffering=0) as writer:
        writer.write(encoded[:2])  # ends inside 'é'
        follower.poll()
        writer.write(encoded[2:] + b"\xff\n")
    assert follower.close() == "héllo\n\ufffd\n"
    assert logged == ["héllo", "\ufffd"]
