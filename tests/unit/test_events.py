"""The event reader's parsing and the histogram both sides share."""

from __future__ import annotations

import re

from horus import scripts
from horus.events import BUCKETS, EVENTS, bucket_label, event_of, stats_of


def test_the_scripts_and_the_reader_share_the_buckets() -> None:
    pairs = re.findall(r"\{(\d+), '([^']+)'\}", scripts.source("events_lib"))
    assert [label for _, label in pairs] == [bucket_label(b) for b in BUCKETS]
    assert [int(us) for us, _ in pairs] == [round(b * 1_000_000) for b in BUCKETS]


def test_every_event_the_scripts_write_is_known() -> None:
    written = set()
    for name in ("enqueue", "release", "start", "finish", "cancel", "requeued", "dead_retry"):
        source = scripts.source(name)
        written |= set(re.findall(r"'event', '([a-z-]+)'", source))
        written |= set(re.findall(r"event, due_at = '([a-z-]+)'", source))
    # finish.lua writes the ended status itself: completed, failed, timeout or cancelled.
    assert written | {"completed", "failed", "timeout", "cancelled"} == set(EVENTS)


def test_an_event_keeps_what_parses() -> None:
    flat = ["event", "completed", "job_id", "j1", "runner_id", "r1", "at", "1763700000123", "attempt", "x"]
    flat += ["duration_ms", "2.5", "worker", "h:1:2"]
    event = event_of("1763700000123-0", flat, "r1")
    assert (event.event, event.job_id, event.at_ms, event.attempt, event.duration_ms) == (
        "completed",
        "j1",
        1763700000123,
        None,
        2.5,
    )
    line = event.as_json()
    assert (line["at"], line["time"], line["worker"]) == (1763700000.123, "2025-11-21T04:40:00.123Z", "h:1:2")
    assert "attempt" not in line and "due_at" not in line


def test_an_event_without_a_time_takes_its_entry_id() -> None:
    assert event_of("1763700000999-3", ["event", "started"], "r9").at_ms == 1763700000999


def test_stats_are_cumulative() -> None:
    flat = ["bucket:completed:0.005", "2", "bucket:completed:1", "1", "bucket:timeout:+Inf", "1"]
    flat += ["ended:cancelled", "2", "duration_sum_us", "9500000", "bucket:nonsense:1", "7"]
    stats = stats_of("r1", flat)
    assert stats.ended == {"cancelled": 2, "completed": 3, "failed": 0, "timeout": 1}
    counts = {b.le: b.count for b in stats.buckets}
    assert (counts["0.005"], counts["0.5"], counts["1"], counts["300"], counts["+Inf"]) == (2, 2, 3, 3, 4)
    assert [b.count for b in stats.status_buckets["timeout"]] == [0] * 15 + [1]
    assert stats.status_buckets["completed"][-1].count == 3
    assert (stats.duration_count, stats.duration_sum_s) == (4, 9.5)
