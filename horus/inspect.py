"""The operator's view of live workers and queues, read from Redis in a few pipelined round trips.

``horus inspect``, ``horus top``, the supervisor's ``inspect.*`` methods and ``GET /metrics``
all read through :func:`snapshot`, so they agree. Nothing here writes to Redis.

What is read (docs/protocol.md, "Redis keys"): each runner's masters hash (a master's record,
kept only while its heartbeat is fresh), its workers sorted set (one entry per child, ``HOST:
MASTER_PID:CHILD_PID``), its queue, scheduled set and dead-letter list, each child's in-flight
list, and the job hashes of the jobs in flight (status, ``started_at``, ``worker``). Liveness is
judged on Redis's clock, as the heartbeats are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, Field

from horus.keys import PRIORITY_TOKEN

if TYPE_CHECKING:  # the models travel in the HTTP client too, which has no Redis transport
    from horus.broker import Broker
    from horus.resp import Arg


class ActiveJob(BaseModel):
    """A job running now on a live worker."""

    job_id: str
    runner_id: str
    master_id: str = Field(description="the worker master running it, HOST:PID")
    worker_id: str = Field(description="the child process running it, HOST:MASTER_PID:CHILD_PID")
    started_at: float | None = Field(description="Unix seconds (this attempt's start)")
    elapsed_s: float | None = Field(description="seconds since started_at, on Redis's clock")


class WorkerInfo(BaseModel):
    """A live worker master: what it is, and the jobs its children run now."""

    master_id: str = Field(description="HOST:PID")
    host: str
    pid: int
    runner_id: str
    runner_type: str
    concurrency: int = Field(description="child processes it keeps")
    started_at: float = Field(description="Unix seconds, the master's start")
    version: str = Field(description="the Horus version it runs")
    heartbeat_ms: int = Field(description="its last heartbeat, ms since the epoch (Redis clock)")
    children: int = Field(description="children with a live heartbeat")
    jobs: list[ActiveJob]


class QueueInfo(BaseModel):
    """One runner's counts."""

    runner_id: str
    queued: int = Field(description="jobs waiting in its queue (dispatched)")
    in_flight: int = Field(description="jobs reserved by its workers' children, running or about to")
    scheduled: int = Field(description="jobs waiting for their not_before or their next attempt")
    dead: int = Field(description="entries in its dead-letter list")
    workers: int = Field(description="live worker masters")
    children: int = Field(description="live worker children (processes running jobs)")


class Snapshot(BaseModel):
    """Everything the readers give, from one read."""

    now_ms: int
    workers: list[WorkerInfo]
    active: list[ActiveJob]
    queues: list[QueueInfo]


def _checked(replies: list[Any]) -> list[Any]:
    from horus.resp import ReplyError

    for reply in replies:
        if isinstance(reply, ReplyError):
            raise reply
    return replies


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> list[tuple[str, Any]]:
    return [(_text(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]


def _live_record(raw: Any, now_ms: int) -> dict[str, Any] | None:
    """A master's record while its heartbeat is fresh; None for a stale or unreadable one."""
    try:
        record = orjson.loads(raw)
        fresh = int(record["heartbeat_ms"]) + int(record["ttl_ms"]) > now_ms
    except (ValueError, TypeError, KeyError):
        return None
    return record if fresh and isinstance(record, dict) else None


def runner_ids(broker: Broker) -> list[str]:
    """Every runner Redis knows of: those that have had workers, and the supervisor's registry."""
    seen, registered = _checked(
        broker.conn.pipeline([("SMEMBERS", broker.keys.runners()), ("HKEYS", broker.keys.supervisor_runners())])
    )
    return sorted({_text(r) for r in seen} | {_text(r) for r in registered})


def snapshot(broker: Broker, runner: str | None = None, jobs: bool = True) -> Snapshot:
    """Read the live workers, the jobs they run and the runners' counts: ``runner`` alone, or
    every runner. Four pipelined round trips (three with ``runner`` given, one less without
    ``jobs``), whatever the number of runners and workers."""
    runners = [runner] if runner is not None else runner_ids(broker)
    keys = broker.keys
    commands: list[tuple[Arg, ...]] = [("TIME",)]
    for runner_id in runners:
        commands += [
            ("HGETALL", keys.masters(runner_id)),
            ("ZRANGE", keys.workers(runner_id), 0, -1, "WITHSCORES"),
            ("LLEN", keys.queue(runner_id)),
            ("ZCARD", keys.scheduled(runner_id)),
            ("LLEN", keys.dead(runner_id)),
        ]
    (seconds, micros), *per_runner = _checked(broker.conn.pipeline(commands))
    now_ms = int(seconds) * 1000 + int(micros) // 1000

    masters: dict[str, list[dict[str, Any]]] = {}
    children: dict[str, list[tuple[str, bool]]] = {}
    counts: dict[str, tuple[int, int, int]] = {}
    for i, runner_id in enumerate(runners):
        records, deadlines, queued, scheduled, dead = per_runner[5 * i : 5 * i + 5]
        masters[runner_id] = [record for _, raw in _pairs(records) if (record := _live_record(raw, now_ms)) is not None]
        children[runner_id] = [(worker, float(deadline) > now_ms) for worker, deadline in _pairs(deadlines)]
        counts[runner_id] = (int(queued), int(scheduled), int(dead))

    # Every child in the sorted set, live or not yet reaped: what a dead one reserved is still
    # in flight until a reaper returns it to the queue.
    every_child = [(runner_id, worker, live) for runner_id in runners for worker, live in children[runner_id]]
    inflight = _checked(
        broker.conn.pipeline(
            [("LRANGE", keys.inflight(runner_id, worker), 0, -1) for runner_id, worker, _ in every_child]
        )
    )
    reserved: list[tuple[str, str, str]] = [
        (runner_id, worker, _text(job_id))
        for (runner_id, worker, live), ids in zip(every_child, inflight, strict=True)
        if live
        for job_id in ids
        if _text(job_id) != PRIORITY_TOKEN
    ]
    in_flight: dict[str, int] = dict.fromkeys(runners, 0)
    for (runner_id, _, _), ids in zip(every_child, inflight, strict=True):
        in_flight[runner_id] += len(ids)

    active: list[ActiveJob] = []
    if jobs and reserved:
        fields = _checked(
            broker.conn.pipeline(
                [
                    ("HMGET", keys.job(runner_id, job_id), "status", "started_at", "worker")
                    for runner_id, _, job_id in reserved
                ]
            )
        )
        for (runner_id, worker, job_id), (status, started, on) in zip(reserved, fields, strict=True):
            # A reserved job not started yet, or one another worker took over, is not running here.
            if status is None or _text(status) != "running" or on is None or _text(on) != worker:
                continue
            started_at = float(started) if started else None
            active.append(
                ActiveJob(
                    job_id=job_id,
                    runner_id=runner_id,
                    master_id=worker.rsplit(":", 1)[0],
                    worker_id=worker,
                    started_at=started_at,
                    elapsed_s=None if started_at is None else round(max(0.0, now_ms / 1000 - started_at), 3),
                )
            )
    active.sort(key=lambda job: (job.runner_id, job.started_at or 0.0, job.job_id))

    workers: list[WorkerInfo] = []
    for runner_id in runners:
        for record in masters[runner_id]:
            master_id = str(record.get("master_id", ""))
            prefix = master_id + ":"
            workers.append(
                WorkerInfo(
                    master_id=master_id,
                    host=str(record.get("host", "")),
                    pid=int(record.get("pid", 0)),
                    runner_id=runner_id,
                    runner_type=str(record.get("runner_type", "")),
                    concurrency=int(record.get("concurrency", 0)),
                    started_at=float(record.get("started_at", 0.0)),
                    version=str(record.get("version", "")),
                    heartbeat_ms=int(record["heartbeat_ms"]),
                    children=sum(1 for worker, live in children[runner_id] if live and worker.startswith(prefix)),
                    jobs=[job for job in active if job.runner_id == runner_id and job.master_id == master_id],
                )
            )
    workers.sort(key=lambda w: (w.runner_id, w.host, w.pid))

    queues = [
        QueueInfo(
            runner_id=runner_id,
            queued=counts[runner_id][0],
            in_flight=in_flight[runner_id],
            scheduled=counts[runner_id][1],
            dead=counts[runner_id][2],
            workers=len(masters[runner_id]),
            children=sum(1 for _, live in children[runner_id] if live),
        )
        for runner_id in runners
    ]
    return Snapshot(now_ms=now_ms, workers=workers, active=active, queues=queues)


def workers(broker: Broker, runner: str | None = None) -> list[WorkerInfo]:
    """Each live worker master, with the jobs its children run now."""
    return snapshot(broker, runner).workers


def active(broker: Broker, runner: str | None = None) -> list[ActiveJob]:
    """The jobs running now on live workers, the longest-running first within each runner."""
    return snapshot(broker, runner).active


def queues(broker: Broker, runner: str | None = None) -> list[QueueInfo]:
    """Each runner's queue depth, jobs in flight, scheduled and dead-lettered jobs, live workers."""
    return snapshot(broker, runner, jobs=False).queues
