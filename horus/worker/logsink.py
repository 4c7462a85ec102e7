"""Sends a job's output lines to its log stream in small batches from a background thread, with
the latest progress its task reported, and keeps a bounded transcript of the lines for a result
that ends the job early (timeout, exception)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from horus.worker.transcript import Transcript

if TYPE_CHECKING:
    from horus.tasks import Progress

#: How often buffered lines are flushed, so ``horus logs -f`` follows with little delay.
FLUSH_INTERVAL_S = 0.05
MAX_LINE_CHARS = 16_384


class LogSink:
    """``send`` gets the lines printed since its last call and the latest progress report made
    since then (None if none); it runs in the sink's thread, then ``done`` once when the thread
    ends (to close what the thread opened: its Redis connection)."""

    def __init__(
        self,
        send: Callable[[list[str], Progress | None], None],
        keep_bytes: int = 1_048_576,
        done: Callable[[], None] | None = None,
    ) -> None:
        self._send = send
        self._done = done
        self._keep_bytes = keep_bytes
        self._transcript: Transcript | None = None  # made on the first line, like the thread
        self._lines: list[str] = []
        #: Only the latest report is kept: a task reporting in a tight loop costs one write per batch.
        self._progress: Progress | None = None
        self._lock = threading.Lock()
        self._closed = False
        # Made on the first line or report: most jobs print nothing, and an Event costs more than the job.
        self._wake: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def __call__(self, line: str) -> None:
        line = line[:MAX_LINE_CHARS]
        with self._lock:
            self._lines.append(line)
            if self._transcript is None:
                self._transcript = Transcript(self._keep_bytes)
            self._transcript.add(line)
            if self._thread is None:
                self._start()

    def progress(self, report: Progress) -> None:
        """Keep ``report`` as the latest; the thread sends it with the next batch of lines."""
        with self._lock:
            self._progress = report
            if self._thread is None:
                self._start()

    def _start(self) -> None:
        """Start the thread (under the lock), unless the job has ended: nothing sent after
        :meth:`close` would be sent before the job's result."""
        if self._closed:
            return
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._wake,), name="horus-log", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            progress, self._progress = self._progress, None
        if lines or progress is not None:
            self._send(lines, progress)

    def _run(self, wake: threading.Event) -> None:
        try:
            while not self._closed:
                wake.wait(FLUSH_INTERVAL_S)
                self._drain()
            # Once closed is seen, nothing more comes from the job: this drain is the last, and
            # it is this thread's, never the caller's (whose connection has replies in flight).
            self._drain()
        finally:
            if self._done is not None:
                self._done()

    def printed(self) -> str:
        """What the job printed so far, one line per line, cut in the middle past the limit."""
        with self._lock:
            return self._transcript.text(self._keep_bytes) if self._transcript is not None else ""

    def close(self) -> None:
        """Flush what is left (the thread's last drain); called before the job's result is stored."""
        with self._lock:
            self._closed = True
            thread, wake = self._thread, self._wake
        if wake is not None and thread is not None:
            wake.set()
            thread.join()
