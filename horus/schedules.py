"""Schedules in Redis: reading schedule files, signing, storing, and what the beat reads and
records (docs/beat.md; the keys are in docs/protocol.md, "Schedule keys")."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml
from nacl.signing import SigningKey
from pydantic import BaseModel, Field, ValidationError

from horus import scripts
from horus.admission import check_each, rejection
from horus.broker import Broker
from horus.errors import JobRejected, ScheduleExists, ScheduleNotFound, ScheduleRejected
from horus.models import Job
from horus.schedule import Schedule, firing_job
from horus.signing import Signer


class ScheduleInfo(BaseModel):
    """One stored schedule as ``horus schedule list --json`` and ``schedule.list`` show it."""

    name: str
    expression: str = Field(description="the cron expression, or `every 30s`")
    cron: str | None
    every: str | None
    timezone: str
    catch_up: str
    allow_run: bool
    paused: bool
    runner_id: str
    public_key: str | None = Field(description="the key that signed it (the first signature)")
    next_at: float | None = Field(description="its next occurrence (Unix seconds); null while paused")
    last_at: float | None = Field(description="the occurrence (or run) it last fired (Unix seconds)")
    last_fired_at: float | None = Field(description="when the beat sent that firing (Unix seconds)")
    last_job_id: str | None
    last_status: str | None = Field(description="that job's status; null once its record expired")


# -- schedule files --------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping: plain YAML keeps the last
    one, so a second ``job:`` would silently replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_file(path: str | Path) -> list[Schedule]:
    """The schedules of a YAML or JSON file (a list of schedules, or one), each checked; an
    error names ``schedules[i].field`` and the reason."""
    try:
        data = yaml.load(Path(path).read_text(), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise ScheduleRejected("invalid_field", "file", f"cannot read {str(path)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScheduleRejected("invalid_json", "file", f"{str(path)!r} is not valid YAML or JSON: {exc}") from None
    return parse_schedules(data)


def parse_schedules(data: Any) -> list[Schedule]:
    entries = [data] if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ScheduleRejected("invalid_field", "schedules", "must be a list of schedules (a YAML or JSON list)")
    schedules: list[Schedule] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        schedule = parse_schedule(entry, f"schedules[{index}]")
        if schedule.name in seen:
            raise ScheduleRejected("invalid_field", f"schedules[{index}].name", f"{schedule.name!r} appears twice")
        seen.add(schedule.name)
        schedules.append(schedule)
    return schedules


def parse_schedule(entry: Any, where: str = "schedule") -> Schedule:
    if not isinstance(entry, dict):
        raise ScheduleRejected("invalid_field", where, "must be a mapping with name, cron or every, and job")
    try:
        return Schedule.model_validate(entry)
    except ValidationError as exc:
        problem = rejection(exc)
        field = f"{where}.{problem.field}" if problem.field != "job" else where
        reason = "not a schedule field" if problem.code == "unknown_field" else problem.reason
        raise ScheduleRejected(problem.code, field, reason) from None


# -- signatures ------------------------------------------------------------------------
def sign(schedule: Schedule, key: SigningKey) -> Schedule:
    """``schedule`` with ``key``'s signature (replacing an earlier one by the same key)."""
    signer = Signer(key)
    kept = [s for s in schedule.signatures if s.public_key != signer.public_key]
    return schedule.model_copy(update={"signatures": [*kept, signer.signature_of(schedule.signed_bytes())]})


def check_signed(schedule: Schedule) -> None:
    """Every signature must verify against the schedule (trust is each runner's decision)."""
    try:
        check_each(schedule.signed_bytes(), schedule.signatures, "schedule is unsigned: add it with --key KEY")
    except JobRejected as exc:
        raise ScheduleRejected(exc.code, exc.field, exc.reason) from None


# -- the store -------------------------------------------------------------------------
class ScheduleStore:
    """Schedules of one namespace, on the broker's connection."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.keys = broker.keys

    def _state_keys(self) -> list[str]:
        k = self.keys
        return [k.schedules(), k.schedules_due(), k.schedules_paused(), k.schedules_fired()]

    def add(self, schedules: Sequence[Schedule], replace: bool = False, now: float | None = None) -> None:
        """Store signed schedules, all or none: :class:`ScheduleExists` for a name stored
        already unless ``replace``. Each first fires at its next occurrence after ``now``."""
        now = time.time() if now is None else now
        args: list[str | int] = ["1" if replace else "0"]
        for schedule in schedules:
            check_signed(schedule)
            stored = orjson.dumps(schedule.stored()).decode()
            args += [schedule.name, stored, schedule.next_after(now) * 1000, "0" if schedule.enabled else "1"]
        position = int(scripts.call(self.broker.conn, "schedule_add", self._state_keys()[:3], args))
        if position:
            raise ScheduleExists(schedules[position - 1].name)

    def get(self, name: str) -> Schedule:
        raw = self.broker.call("HGET", self.keys.schedules(), name)
        if raw is None:
            raise ScheduleNotFound(name)
        return Schedule.model_validate_json(raw)

    def remove(self, name: str) -> None:
        self._state("remove", name)

    def pause(self, name: str) -> None:
        self._state("pause", name)

    def resume(self, name: str, now: float | None = None) -> None:
        """Resume at the next occurrence after ``now``: what was missed while paused stays missed."""
        next_ms = self.get(name).next_after(time.time() if now is None else now) * 1000
        self._state("resume", name, next_ms)

    def _state(self, op: str, name: str, next_ms: int = 0) -> None:
        if not scripts.call(self.broker.conn, "schedule_state", self._state_keys(), [op, name, next_ms]):
            raise ScheduleNotFound(name)

    def run(self, name: str, now: float | None = None) -> str:
        """Fire ``name`` once now (``horus schedule run``), paused or not; the job's id."""
        schedule = self.get(name)
        if not schedule.allow_run:
            raise ScheduleRejected(
                "invalid_field",
                "allow_run",
                f"schedule {name!r} was signed with allow_run: false: it fires only on time",
            )
        at = time.time() if now is None else now
        job = firing_job(schedule, int(at), schedule.stored(), run_ms=int(at * 1000))
        self.broker.enqueue(job)
        self.broker.call("HSET", self.keys.schedules_fired(), name, fired_record(job, at))
        return job.id

    def infos(self) -> list[ScheduleInfo]:
        k = self.keys
        defs, due, paused, fired = self.broker.conn.pipeline(
            [
                ("HGETALL", k.schedules()),
                ("ZRANGE", k.schedules_due(), 0, -1, "WITHSCORES"),
                ("SMEMBERS", k.schedules_paused()),
                ("HGETALL", k.schedules_fired()),
            ]
        )
        due_ms = dict(zip(due[::2], (float(score) for score in due[1::2]), strict=True))
        fired_by = {name: orjson.loads(raw) for name, raw in zip(fired[::2], fired[1::2], strict=True)}
        schedules = sorted(
            (Schedule.model_validate_json(raw) for raw in defs[1::2]), key=lambda schedule: schedule.name
        )
        statuses = self._statuses([fired_by.get(s.name) for s in schedules])
        return [
            _info(
                schedule, due_ms.get(schedule.name), schedule.name in set(paused), fired_by.get(schedule.name), status
            )
            for schedule, status in zip(schedules, statuses, strict=True)
        ]

    def _statuses(self, records: list[dict[str, Any] | None]) -> list[str | None]:
        asked = [(r["runner_id"], r["job_id"]) for r in records if r]
        replies = iter(
            self.broker.conn.pipeline([("HGET", self.keys.job(runner, job), "status") for runner, job in asked])
            if asked
            else []
        )
        return [next(replies) if r else None for r in records]

    # -- what the beat uses ---------------------------------------------------------
    def lease(self, beat_id: str, ttl_ms: int, release: bool = False) -> tuple[bool, int]:
        """Take or keep the lease (or give it up): whether this beat leads, and Redis's time (ms)."""
        held, now_ms, _ = scripts.call(
            self.broker.conn, "beat_lease", [self.keys.beat_lease()], [beat_id, ttl_ms, "release" if release else ""]
        )
        return bool(held), int(now_ms)

    def due(self, until_ms: int, limit: int) -> list[tuple[str, int]]:
        """Schedules whose next occurrence is at or before ``until_ms``, earliest first."""
        flat = self.broker.call(
            "ZRANGE", self.keys.schedules_due(), "-inf", until_ms, "BYSCORE", "LIMIT", 0, limit, "WITHSCORES"
        )
        return [(name, int(float(score))) for name, score in zip(flat[::2], flat[1::2], strict=True)]

    def next_due_ms(self) -> int | None:
        flat = self.broker.call("ZRANGE", self.keys.schedules_due(), 0, 0, "WITHSCORES")
        return int(float(flat[1])) if flat else None

    def stored(self, names: Sequence[str]) -> list[str | None]:
        return list(self.broker.call("HMGET", self.keys.schedules(), *names)) if names else []

    def record(self, beat_id: str, entries: Sequence[tuple[str, int, int, str]]) -> int:
        """After a pass: (name, due read, next due, firing record or '') each; -1 if another
        beat leads now (nothing recorded)."""
        k = self.keys
        args: list[str | int] = [beat_id]
        for entry in entries:
            args += list(entry)
        keys = [k.beat_lease(), k.schedules(), k.schedules_due(), k.schedules_fired()]
        return int(scripts.call(self.broker.conn, "schedule_fired", keys, args))


def fired_record(job: Job, sent_at: float) -> str:
    return orjson.dumps(
        {"at": job.created_at, "job_id": job.id, "runner_id": job.runner_id, "fired_at": round(sent_at, 3)}
    ).decode()


def _info(
    schedule: Schedule, due_ms: float | None, paused: bool, fired: dict[str, Any] | None, status: str | None
) -> ScheduleInfo:
    last_at: float | None = None
    if fired:
        job_id = str(fired["job_id"])
        # A run's id ends in its time in ms; an occurrence's is the occurrence itself.
        last_at = int(job_id.rsplit(":", 1)[1]) / 1000 if ":run:" in job_id else float(fired["at"])
    return ScheduleInfo(
        name=schedule.name,
        expression=schedule.cron if schedule.cron is not None else f"every {schedule.every}",
        cron=schedule.cron,
        every=schedule.every,
        timezone=schedule.timezone,
        catch_up=schedule.catch_up,
        allow_run=schedule.allow_run,
        paused=paused,
        runner_id=schedule.job.runner_id,
        public_key=schedule.signatures[0].public_key if schedule.signatures else None,
        next_at=None if paused or due_ms is None else due_ms / 1000,
        last_at=last_at,
        last_fired_at=fired["fired_at"] if fired else None,
        last_job_id=fired["job_id"] if fired else None,
        last_status=status,
    )
