from __future__ import annotations

from rich.console import Console

from cli.output import progress_line, runners_table, visible
from horus.models import JobProgress


def test_runners_table_counts_worker_processes_and_shows_the_deadline_as_such() -> None:
    workers = [
        {"worker_id": f"host:{master}:{child}", "alive": True, "deadline_ms": 108_000, "in_flight": 0}
        for master, child in ((10, 11), (10, 12), (20, 21))
    ]
    health = [{"runner_id": "r1", "runner_type": "python", "alive": True, "workers": workers, "last_seen_ms": 108_000}]
    console = Console(width=200, record=True)
    console.print(runners_table(health, now_s=100.0))
    text = console.export_text()
    assert "heartbeat due" in text and "last heartbeat" not in text
    row = next(line for line in text.splitlines() if "r1" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")][5:] == ["2", "3", "in 8 s"]


def test_runners_table_shows_scheduled_jobs_when_there_are_some() -> None:
    health = [
        {"runner_id": "r1", "runner_type": "python", "alive": False, "queue_depth": 4, "scheduled": 7},
        {"runner_id": "r2", "runner_type": "sal", "alive": False, "queue_depth": 1},
    ]
    console = Console(width=200, record=True)
    console.print(runners_table(health, now_s=100.0))
    text = console.export_text()
    assert "scheduled" in text
    row = next(line for line in text.splitlines() if "r1" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")][3:5] == ["4", "7"]
    console = Console(width=200, record=True)
    console.print(runners_table(health[1:], now_s=100.0))
    assert "scheduled" not in console.export_text()


def test_visible_escapes_control_characters_but_newlines_and_tabs() -> None:
    assert visible("a\x1b[2J\tb\x07\r\x9b\n") == "a\\x1b[2J\tb\\x07\\x0d\\x9b\n"


def test_a_progress_line_shows_the_percent_as_reported_then_the_message() -> None:
    assert progress_line(JobProgress(percent=40, message="copying files")) == "40% copying files"
    assert progress_line(JobProgress(percent=12.5)) == "12.5%"
