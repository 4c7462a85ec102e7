"""Following a job's output file as the command writes it, one log line at a time."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path


class OutputFollower:
    def __init__(self, path: Path, on_line: Callable[[str], None]) -> None:
        self._file = path.open("rb")
        self._on_line = on_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._text: list[str] = []

    def poll(self) -> None:
        """Read what was written since the last call and log its complete lines."""
        data = self._file.read()
        if data:
            self._feed(self._decoder.decode(data))

    def close(self) -> str:
        """Read to the end, log a last unterminated line, and return the whole output."""
        if self._file.closed:
            return "".join(self._text)
        self.poll()
        self._feed(self._decoder.decode(b"", final=True))
        if self._partial:
            self._on_line(self._partial.rstrip("\r"))
            self._partial = ""
        self._file.close()
        return "".join(self._text)

    def _feed(self, text: str) -> None:
        if not text:
            return
        self._text.append(text)
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._on_line(line.rstrip("\r"))
