"""Bounded job text: what a result keeps of a job's output and error, and of what it printed.

Redis refuses a command argument past 512 MB (``proto-max-bulk-len``), and a result that large
would be of no use to anyone: past the worker's ``max_output_bytes`` a text keeps its head and
its tail, joined by a marker saying how much was cut.
"""

from __future__ import annotations

from collections import deque

MARKER = "\n…[{} bytes cut]…\n"


def cut_middle(text: str, limit: int) -> str:
    """``text`` if its UTF-8 form fits in ``limit`` bytes, else its head and tail around a marker."""
    if len(text) * 4 <= limit:  # no character takes more than 4 bytes: fits without encoding
        return text
    data = text.encode()
    if len(data) <= limit:
        return text
    keep = max(limit - len(MARKER.format(len(data))) - 8, 2) // 2
    cut = len(data) - 2 * keep
    # A cut inside a character drops its stray bytes.
    head = data[:keep].decode(errors="ignore")
    tail = data[-keep:].decode(errors="ignore")
    return head + MARKER.format(cut) + tail


class Transcript:
    """The lines a job printed, kept within about ``limit`` bytes: the first half-limit of
    them, and the latest ones within the other half."""

    def __init__(self, limit: int) -> None:
        self._half = max(limit // 2, 1)
        self._head: list[str] = []
        self._head_size = 0
        self._tail: deque[str] = deque()
        self._tail_size = 0
        self._cut = 0

    def add(self, line: str) -> None:
        size = len(line) + 1  # characters, not bytes: cut_middle makes the final text exact
        if self._head_size + size <= self._half and not self._tail:
            self._head.append(line)
            self._head_size += size
            return
        self._tail.append(line)
        self._tail_size += size
        while self._tail_size > self._half and len(self._tail) > 1:
            dropped = self._tail.popleft()
            self._tail_size -= len(dropped) + 1
            self._cut += len(dropped.encode()) + 1

    def text(self, limit: int) -> str:
        lines = self._head + ([MARKER.format(self._cut).strip("\n")] if self._cut else []) + list(self._tail)
        return cut_middle("\n".join(lines), limit)
