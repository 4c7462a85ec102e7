"""Job events and ended-job counters, as the Lua scripts keep them (docs/operations.md).

Every job state change appends an entry to its runner's capped stream (``Keys.events``) inside
the script that makes the change, and every ended job is counted in its runner's stats hash
(``Keys.stats``). This module reads both: the dashboard, ``/metrics`` and ``horus events`` use it.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from horus.broker import Broker
from horus.connect import connect
from horus.models import TERMINAL
from horus.stream_fanin import StreamFanIn

#: The duration histogram's upper bounds in seconds (horus/lua/events_lib.lua holds the same).
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: How often a follower with no stream to block on looks for a runner's first event.
IDLE_S = 0.5
#: Every event a stream entry may name.
EVENTS: tuple[str, ...] = (
    "dispatched",
    "scheduled",
    "started",
    "completed",
    "failed",
    "timeout",
    "cancelled",
    "retried",
    "dead-lettered",
    "requeued",
)
#: Ended statuses, in the order readers list them.
ENDED: tuple[str, ...] = tuple(sorted(str(status) for status in TERMINAL))


def bucket_label(bound: float) -> str:
    """A bound as the stats hash (and Prometheus's ``le``) writes it: ``0.005``, ``1``, ``+Inf``."""
    if bound == float("inf"):
        return "+Inf"
    return f"{bound:g}"


class JobEvent(BaseModel):
    """One entry of a runner's events stream."""

    #: The stream entry's id (``MS-SEQ``): the order events happened in, and a cursor.
    id: str
    job_id: str
    runner_id: str
    event: str
    #: When, in ms on Redis's clock.
    at_ms: int
    worker: str | None = None
    #: The attempt the event belongs to (1 for the first).
    attempt: int | None = None
    #: For an ended or retried attempt: how long it ran (its start to its end, Redis's clock).
    duration_ms: float | None = None
    #: For ``retried``: how the attempt ended (``failed``, ``timeout``).
    status: str | None = None
    #: For ``scheduled`` and ``retried``: when the job is due, ms on Redis's clock.
    due_at_ms: int | None = None
    #: For ``dead-lettered``: the deliveries counted.
    deliveries: int | None = None

    @property
    def at(self) -> float:
        """Unix seconds."""
        return self.at_ms / 1000

    @property
    def time(self) -> str:
        """ISO-8601, UTC, with ms."""
        moment = dt.datetime.fromtimestamp(self.at_ms / 1000, dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.at_ms % 1000:03d}Z"

    def as_json(self) -> dict[str, Any]:
        """The ``horus events --json`` line: ``at`` and ``due_at`` in Unix seconds, ``time`` ISO."""
        data: dict[str, Any] = {
            "id": self.id,
            "job_id": self.job_id,
            "runner_id": self.runner_id,
            "event": self.event,
            "at": self.at,
            "time": self.time,
        }
        for name in ("worker", "attempt", "duration_ms", "status", "deliveries"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.due_at_ms is not None:
            data["due_at"] = self.due_at_ms / 1000
        return data


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def event_of(entry_id: str, flat: Sequence[Any], runner_id: str) -> JobEvent:
    """An event from a stream entry. Anyone who can write Redis can write the stream, so a
    field that does not parse is left out rather than refused."""
    fields = {str(k): str(v) for k, v in zip(flat[::2], flat[1::2], strict=False)}
    at = _int(fields.get("at"))
    return JobEvent(
        id=str(entry_id),
        job_id=fields.get("job_id", ""),
        runner_id=fields.get("runner_id", runner_id),
        event=fields.get("event", ""),
        at_ms=at if at is not None else int(str(entry_id).split("-")[0]),
        worker=fields.get("worker") or None,
        attempt=_int(fields.get("attempt")),
        duration_ms=_float(fields.get("duration_ms")),
        status=fields.get("status"),
        due_at_ms=_int(fields.get("due_at")),
        deliveries=_int(fields.get("deliveries")),
    )


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def runners(broker: Broker, runner_ids: Iterable[str] | None = None) -> list[str]:
    """The runners asked for, else every runner of the namespace (its runners set), sorted."""
    if runner_ids is not None:
        return sorted(set(runner_ids))
    return sorted(str(r) for r in broker.call("SMEMBERS", broker.keys.runners()))


def read_events(
    broker: Broker, runner_ids: Iterable[str] | None = None, count: int = 20, since: float | None = None
) -> list[JobEvent]:
    """The latest ``count`` events across the runners (all of the namespace's when None),
    oldest first; with ``since`` (Unix seconds), only those at or after it."""
    names = runners(broker, runner_ids)
    if not names or count <= 0:
        return []
    low = "-" if since is None else str(int(since * 1000))
    commands = [("XREVRANGE", broker.keys.events(r), "+", low, "COUNT", count) for r in names]
    events = [
        event_of(str(entry_id), flat, runner)
        for runner, reply in zip(names, broker.conn.pipeline(commands), strict=True)
        if not isinstance(reply, Exception)
        for entry_id, flat in reply
    ]
    events.sort(key=lambda e: (_order(e.id), e.runner_id))
    return events[-count:]


def follow_events(
    broker: Broker, runner_ids: Iterable[str] | None = None, last: int = 0, block_ms: int = 5_000
) -> Iterator[JobEvent]:
    """The latest ``last`` events, then every new one as it is appended (XREAD BLOCK over the
    runners' streams), forever. With ``runner_ids`` None, runners that get their first event
    meanwhile are followed too (the runners set is read again after each block)."""
    asked = None if runner_ids is None else list(runner_ids)
    names = runners(broker, asked)
    cursors: dict[str, str] = {}
    for runner, reply in zip(
        names,
        broker.conn.pipeline([("XREVRANGE", broker.keys.events(r), "+", "-", "COUNT", 1) for r in names]),
        strict=True,
    ):
        cursors[runner] = str(reply[0][0]) if reply and not isinstance(reply, Exception) else "0-0"
    if last > 0:
        yield from read_events(broker, names, last)
    if broker.cluster:
        yield from _follow_across_slots(broker, asked, cursors, block_ms)
        return
    while True:
        if asked is None:
            for runner in runners(broker):
                cursors.setdefault(runner, "0-0")
        if not cursors:
            # No runner has an event yet: nothing to block on, so look again in a while.
            time.sleep(min(block_ms / 1000, IDLE_S))
            continue
        order = sorted(cursors)
        streams = [broker.keys.events(r) for r in order]
        reply = broker.call(
            "XREAD",
            "COUNT",
            1_000,
            "BLOCK",
            block_ms,
            "STREAMS",
            *streams,
            *(cursors[r] for r in order),
            timeout_s=block_ms / 1000 + 10,
        )
        if not reply:
            continue
        by_key = dict(zip(streams, order, strict=True))
        fresh: list[JobEvent] = []
        for key, entries in reply:
            runner = by_key[str(key)]
            for entry_id, flat in entries:
                cursors[runner] = str(entry_id)
                fresh.append(event_of(str(entry_id), flat, runner))
        fresh.sort(key=lambda e: (_order(e.id), e.runner_id))
        yield from fresh


def _follow_across_slots(
    broker: Broker, asked: list[str] | None, cursors: dict[str, str], block_ms: int
) -> Iterator[JobEvent]:
    """:func:`follow_events` on a cluster, where each runner's stream is in a slot of its own:
    one blocking reader per slot (:class:`StreamFanIn`)."""
    fanin = StreamFanIn(functools.partial(connect, broker.target), block_ms=block_ms)
    by_key: dict[str, str] = {}
    try:
        while True:
            if asked is None:
                for runner in runners(broker):
                    cursors.setdefault(runner, "0-0")
            for runner, cursor in cursors.items():
                key = broker.keys.events(runner)
                if key not in by_key:
                    by_key[key] = runner
                    fanin.follow(key, cursor)
            fresh = [
                event_of(entry_id, flat, by_key[key])
                for key, entries in fanin.read(block_ms / 1000 if by_key else min(block_ms / 1000, IDLE_S))
                for entry_id, flat in entries
            ]
            fresh.sort(key=lambda e: (_order(e.id), e.runner_id))
            yield from fresh
    finally:
        fanin.close()


class Bucket(BaseModel):
    """A histogram bucket, cumulative as Prometheus has it: jobs that ran at most ``le`` seconds."""

    le: str
    count: int


class RunnerStats(BaseModel):
    """A runner's counters (its stats hash), since the hash was created."""

    runner_id: str
    #: Ended jobs by final status: every ended status, 0 when none.
    ended: dict[str, int]
    #: Attempts that failed or timed out and were scheduled again.
    retried: int = 0
    #: Jobs given up after too many deliveries (they end ``failed`` too).
    dead_lettered: int = 0
    #: Ended jobs that ran, by duration: cumulative buckets, the last ``+Inf``.
    buckets: list[Bucket]
    #: The same by final status (every ended status; a job cancelled before it ran is in none).
    status_buckets: dict[str, list[Bucket]]
    #: Their durations added up, in seconds, and how many they are.
    duration_sum_s: float = 0.0
    duration_count: int = 0


def stats_of(runner_id: str, flat: Sequence[Any]) -> RunnerStats:
    fields = {str(k): str(v) for k, v in zip(flat[::2], flat[1::2], strict=False)}

    def number(name: str) -> int:
        return max(_int(fields.get(name)) or 0, 0)

    labels = [bucket_label(bound) for bound in (*BUCKETS, float("inf"))]
    by_status: dict[str, list[Bucket]] = {}
    for status in ENDED:
        total, buckets = 0, []
        for label in labels:
            total += number(f"bucket:{status}:{label}")
            buckets.append(Bucket(le=label, count=total))
        by_status[status] = buckets
    overall = [
        Bucket(le=label, count=sum(by_status[status][i].count for status in ENDED)) for i, label in enumerate(labels)
    ]
    return RunnerStats(
        runner_id=runner_id,
        ended={status: number(f"ended:{status}") + by_status[status][-1].count for status in ENDED},
        retried=number("retried"),
        dead_lettered=number("dead_lettered"),
        buckets=overall,
        status_buckets=by_status,
        duration_sum_s=number("duration_sum_us") / 1_000_000,
        duration_count=overall[-1].count,
    )


def read_stats(broker: Broker, runner_id: str) -> RunnerStats:
    """One runner's counters."""
    return stats_of(runner_id, broker.call("HGETALL", broker.keys.stats(runner_id)))


def read_all_stats(broker: Broker, runner_ids: Iterable[str] | None = None) -> list[RunnerStats]:
    """The counters of the runners asked for (all of the namespace's when None), one round trip."""
    names = runners(broker, runner_ids)
    replies = broker.conn.pipeline([("HGETALL", broker.keys.stats(r)) for r in names]) if names else []
    return [stats_of(r, reply) for r, reply in zip(names, replies, strict=True) if not isinstance(reply, Exception)]
