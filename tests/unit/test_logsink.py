"""The job log sink: lines and the latest progress report, sent by its own thread, the last
drain included."""

from __future__ import annotations

import threading

from horus.tasks import Progress
from horus.worker.logsink import LogSink


def test_every_line_is_sent_from_the_sink_thread_and_it_then_says_done() -> None:
    sent: list[str] = []
    senders: set[threading.Thread] = set()
    done: list[threading.Thread] = []

    def send(lines: list[str], progress: Progress | None) -> None:
        assert progress is None
        senders.add(threading.current_thread())
        sent.extend(lines)

    sink = LogSink(send, done=lambda: done.append(threading.current_thread()))
    for n in range(2_000):
        sink(f"line {n}")
    sink.close()
    assert sent == [f"line {n}" for n in range(2_000)]
    # The caller's connection may have replies in flight: the sink never sends on it.
    assert threading.current_thread() not in senders
    assert len(senders) == 1 and done == list(senders)


def test_a_job_that_prints_nothing_starts_no_thread() -> None:
    done: list[bool] = []
    sink = LogSink(lambda _lines, _progress: None, done=lambda: done.append(True))
    sink.close()
    assert done == []
    assert sink.printed() == ""


def test_only_the_latest_report_is_sent_and_never_twice() -> None:
    batches: list[tuple[list[str], Progress | None]] = []
    held = threading.Event()
    sink = LogSink(lambda lines, progress: (held.wait(), batches.append((lines, progress))))
    sink.progress(Progress(1, "first"))  # starts the thread, like a first line
    for percent in range(2, 101):
        sink.progress(Progress(percent, f"at {percent}"))
    sink("a line")
    held.set()
    sink.close()
    reports = [progress for _, progress in batches if progress is not None]
    # A report is sent at most once, the last one last, and a task reporting in a loop costs at
    # most one write per batch, not one per report.
    assert reports[-1] == Progress(100, "at 100")
    assert len(reports) <= 2 and len(set(reports)) == len(reports)
    assert [line for lines, _ in batches for line in lines] == ["a line"]


def test_a_report_after_close_is_not_sent() -> None:
    sent: list[Progress | None] = []
    sink = LogSink(lambda _lines, progress: sent.append(progress))
    sink.close()
    sink.progress(Progress(50, "late"))  # from a thread the task left behind
    sink("late line")
    assert sent == []
