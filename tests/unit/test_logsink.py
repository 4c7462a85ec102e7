"""The job log sink: lines batched by its own thread, the last drain included."""

from __future__ import annotations

import threading

from horus.worker.logsink import LogSink


def test_every_line_is_sent_from_the_sink_thread_and_it_then_says_done() -> None:
    sent: list[str] = []
    senders: set[threading.Thread] = set()
    done: list[threading.Thread] = []

    def send(lines: list[str]) -> None:
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
    sink = LogSink(lambda _lines: None, done=lambda: done.append(True))
    sink.close()
    assert done == []
    assert sink.printed() == ""
