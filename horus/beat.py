"""``horus beat``: fires the stored schedules' occurrences. Any number may run; one leads.

The leader holds a lease in Redis (renewed every second, 5 s long) and fires; the others only
try to take the lease every half second, so one takes over within about the lease's length
when the leader dies or loses Redis. A firing's job id is the schedule's name and the
occurrence, so an occurrence fired twice (two leaders for a moment, a crash between sending a
firing and recording it) is refused by the replay guard: each occurrence makes at most one job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from horus.broker import Broker
from horus.errors import HorusError
from horus.models import Job
from horus.schedule import Schedule, firing_job, plan
from horus.schedules import ScheduleStore, check_signed, fired_record

log = logging.getLogger("horus.beat")

DEFAULT_LEASE_TTL_S = 5.0
#: An occurrence reached within this long of its time fires, whatever its catch_up policy.
DEFAULT_GRACE_S = 10.0
#: How often a standby beat tries to take the lease.
STANDBY_POLL_S = 0.5
#: The longest a leader sleeps between looks at the next due time (a schedule added meanwhile
#: may be due sooner).
IDLE_POLL_S = 0.25
#: Schedules handled per round trip of a pass.
BATCH = 500
#: When a stored schedule cannot be read, the beat looks at it again this much later.
BROKEN_RETRY_MS = 60_000


class Beat:
    def __init__(
        self,
        broker: Broker,
        *,
        beat_id: str | None = None,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        grace_s: float = DEFAULT_GRACE_S,
    ) -> None:
        self.broker = broker
        self.store = ScheduleStore(broker)
        self.id = beat_id or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.lease_ttl_ms = int(lease_ttl_s * 1000)
        self.renew_every_s = lease_ttl_s / 5
        self.grace_s = grace_s
        self.leading = False
        #: Redis's clock minus ours (ms), measured at each lease call.
        self._offset_ms = 0.0
        self._renewed_at = 0.0
        #: Stored schedule JSON -> (its schedule, its stored form), or None when unreadable.
        self._parsed: dict[str, tuple[Schedule, dict[str, Any]] | None] = {}
        #: Schedules parsed during this pass, their signatures not checked yet.
        self._unchecked: list[tuple[str, Schedule]] = []
        #: Firings sent, and the latest (ms after its occurrence) of the last pass.
        self.fired = 0
        self.lateness_ms = 0.0

    # -- the loop ----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Stand by or lead until ``stop`` is set; give the lease up on the way out."""
        try:
            while not stop.is_set():
                try:
                    if self._lease():
                        self._lead(stop)
                    else:
                        stop.wait(STANDBY_POLL_S)
                except HorusError as exc:
                    self._step_down(f"lost Redis ({exc})")
                    stop.wait(STANDBY_POLL_S)
        finally:
            self._release()

    def _lead(self, stop: threading.Event) -> None:
        if not self.leading:
            log.info("beat %s leads", self.id)
            self.leading = True
        while not stop.is_set():
            if time.monotonic() - self._renewed_at >= self.renew_every_s and not self._lease():
                self._step_down("another beat took the lease")
                return
            if not self.fire_due(self.now_ms()):
                self._step_down("another beat took the lease during a pass")
                return
            stop.wait(self._idle_s())

    def _idle_s(self) -> float:
        until_renew = self.renew_every_s - (time.monotonic() - self._renewed_at)
        next_ms = self.store.next_due_ms()
        # The clock unrounded: a whole ms less would wake it up to a ms after the due time.
        until_due = IDLE_POLL_S if next_ms is None else (next_ms - self._clock_ms()) / 1000
        return max(0.0, min(IDLE_POLL_S, until_due, until_renew))

    def _lease(self) -> bool:
        sent = time.time() * 1000
        held, redis_ms = self.store.lease(self.id, self.lease_ttl_ms)
        received = time.time() * 1000
        self._offset_ms = redis_ms - (sent + received) / 2
        if held:
            self._renewed_at = time.monotonic()
        return held

    def _step_down(self, why: str) -> None:
        if self.leading:
            log.warning("beat %s stands by: %s", self.id, why)
        self.leading = False

    def _release(self) -> None:
        with contextlib.suppress(HorusError):  # the lease expires on its own
            self.store.lease(self.id, self.lease_ttl_ms, release=True)
        self.leading = False

    def now_ms(self) -> int:
        """Redis's clock, read from ours: the clock every job's times are on."""
        return int(self._clock_ms())

    def _clock_ms(self) -> float:
        return time.time() * 1000 + self._offset_ms

    # -- a pass ------------------------------------------------------------------------
    def fire_due(self, now_ms: int) -> bool:
        """Fire every schedule due at ``now_ms``; False when another beat leads by the end."""
        held = self._fire_batches(now_ms)
        self._check_new()
        return held

    def _fire_batches(self, now_ms: int) -> bool:
        while True:
            entries = self.store.due(now_ms, BATCH)
            if not entries:
                return True
            if not self._fire(entries, now_ms):
                return False
            if len(entries) < BATCH:
                return True
            if time.monotonic() - self._renewed_at >= self.renew_every_s and not self._lease():
                return False

    def _fire(self, entries: Sequence[tuple[str, int]], now_ms: int) -> bool:
        now_s = now_ms / 1000
        raws = self.store.stored([name for name, _ in entries])
        jobs: list[Job] = []
        plans: list[tuple[str, int, int, list[Job]]] = []
        for (name, due_ms), raw in zip(entries, raws, strict=True):
            parsed = self._schedule(name, raw)
            if parsed is None:
                plans.append((name, due_ms, now_ms + BROKEN_RETRY_MS, []))
                continue
            schedule, stored = parsed
            fired = [firing_job(schedule, t, stored) for t in plan(schedule, due_ms // 1000, now_s, self.grace_s)]
            jobs += fired
            plans.append((name, due_ms, schedule.next_after(now_s) * 1000, fired))
        queued = self.broker.enqueue_each(jobs) if jobs else []
        sent_at = self.now_ms() / 1000
        if jobs:
            self.fired += sum(queued)
            self.lateness_ms = max(0.0, (sent_at - max(job.created_at for job in jobs)) * 1000)
            if not all(queued):
                log.info("%d firing(s) were sent before (refused as replays)", len(queued) - sum(queued))
        rows = [
            (name, due, next_ms, fired_record(fired[-1], sent_at) if fired else "")
            for name, due, next_ms, fired in plans
        ]
        return self.store.record(self.id, rows) != -1

    def _schedule(self, name: str, raw: Any) -> tuple[Schedule, dict[str, Any]] | None:
        """The stored schedule, parsed once per stored text. Its signatures are checked after
        the pass (:meth:`_check_new`): the check changes nothing the pass does, and it would
        cost a first pass more than everything else together."""
        if raw is None:
            return None
        if raw in self._parsed:
            return self._parsed[raw]
        parsed: tuple[Schedule, dict[str, Any]] | None = None
        try:
            schedule = Schedule.model_validate_json(raw)
            parsed = (schedule, orjson.loads(raw))
            self._unchecked.append((name, schedule))
        except ValueError as exc:  # pydantic's ValidationError and orjson's error are ValueErrors
            log.error("schedule %r as stored cannot be read, not fired: %s", name, exc)
        if len(self._parsed) > 100_000:
            self._parsed.clear()
        self._parsed[raw] = parsed
        return parsed

    def _check_new(self) -> None:
        """Check the signatures of the schedules parsed since the last check. One that does not
        verify was fired all the same, so the workers refuse it where it shows (``rejected
        (tampered)``); the warning here says why."""
        unchecked, self._unchecked = self._unchecked, []
        for name, schedule in unchecked:
            try:
                check_signed(schedule)
            except HorusError as exc:
                log.warning("schedule %r as stored does not verify (%s): its workers will refuse it", name, exc)
