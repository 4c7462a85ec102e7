"""The beat (``horus beat``): how long one leader pass takes to fire 10,000 signed schedules due
in the same second, and how late an ``every: 1s`` schedule's firings reach its queue.

Both use the real :class:`horus.beat.Beat` on the private Redis. No worker runs: the firings
stay queued (the pass) or are popped by the measuring process (the lateness)."""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import redis

from benchmarks.peers.common import RUNS, percentile
from horus.beat import Beat
from horus.broker import Broker
from horus.models import Job
from horus.schedule import Schedule
from horus.schedules import ScheduleStore, parse_schedules, sign
from horus.signing import generate_key

NAMESPACE = "bench-beat"
RUNNER = "bench-beat"
NOOP = '{"task": "noop"}'
#: The pass's schedules recur hourly: the measurement hands the beat each occurrence's time as
#: its clock, so it never waits for the wall clock to reach one.
PASS_EVERY = "1h"
STEP_S = 3_600
#: Schedules stored per ``ScheduleStore.add`` call while setting up.
ADD_BATCH = 1_000
#: How long a BRPOP of the lateness measurement blocks before it looks at the stop flag.
POP_BLOCK_S = 0.2
START_TIMEOUT_S = 30.0

#: The first pass's profile and the later pass's.
Profiles = tuple[cProfile.Profile, cProfile.Profile]
#: A pass's seconds until its last firing was queued, and until it returned.
Timing = tuple[float, float]


class TimedBroker(Broker):
    """A broker that notes when a pass's last firings were sent: a pass goes on after that
    (it records what it fired, and checks the signatures of schedules it has not seen)."""

    last_sent = 0.0

    def enqueue_each(self, jobs: Sequence[Job]) -> list[bool]:
        queued = super().enqueue_each(jobs)
        self.last_sent = time.perf_counter()
        return queued


def schedules(count: int, every: str, prefix: str) -> list[Schedule]:
    key = generate_key()
    entries = [
        {"name": f"{prefix}{i:05d}", "every": every, "job": {"runner_id": RUNNER, "payload": NOOP}}
        for i in range(count)
    ]
    return [sign(schedule, key) for schedule in parse_schedules(entries)]


def store_all(store: ScheduleStore, signed: list[Schedule], now: float) -> None:
    for offset in range(0, len(signed), ADD_BATCH):
        store.add(signed[offset : offset + ADD_BATCH], now=now)


def timed_pass(beat: Beat, broker: TimedBroker, occurrence: int, profile: cProfile.Profile | None) -> Timing:
    """One leader pass at ``occurrence`` (its time given as the beat's clock): seconds until the
    last firing was queued, and until the pass returned."""
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    held = beat.fire_due(occurrence * 1000)
    if profile is not None:
        profile.disable()
    elapsed = time.perf_counter() - started
    if not held:
        raise SystemExit("beat: the beat lost its lease during the pass")
    return broker.last_sent - started, elapsed


def check_pass(r: redis.Redis, broker: Broker, count: int, passes: int, next_ms: int) -> None:
    """After a pass: every schedule fired once more, its job queued, its next occurrence stored."""
    queued = broker.queue_length(RUNNER)
    if queued != count * passes:
        raise SystemExit(f"beat: {queued} firings queued after {passes} pass(es) of {count} schedules")
    later = r.zcount(broker.keys.schedules_due(), next_ms, next_ms)
    if later != count:
        raise SystemExit(f"beat: {later} of {count} schedules moved on to their next occurrence")
    if r.hlen(broker.keys.schedules_fired()) != count:
        raise SystemExit("beat: not every schedule has a firing record")


def one_round(url: str, count: int, profiles: Profiles | None = None) -> tuple[Timing, Timing]:
    """Store ``count`` schedules, then a fresh beat fires their first occurrence (parsing and
    checking each) and the next one (parsed already): the two passes' timings."""
    r = redis.Redis.from_url(url)
    r.flushdb()
    broker = TimedBroker(url, NAMESPACE)
    with broker:
        store = ScheduleStore(broker)
        # Stored just before an hour: each one's first occurrence is that hour.
        first = (int(time.time()) // STEP_S + 1) * STEP_S
        store_all(store, schedules(count, PASS_EVERY, "s"), now=first - 1)
        beat = Beat(broker, beat_id="bench-beat")
        if not beat._lease():
            raise SystemExit("beat: the beat could not take the lease")
        first_pass = timed_pass(beat, broker, first, profiles[0] if profiles else None)
        check_pass(r, broker, count, 1, (first + STEP_S) * 1000)
        later_pass = timed_pass(beat, broker, first + STEP_S, profiles[1] if profiles else None)
        check_pass(r, broker, count, 2, (first + 2 * STEP_S) * 1000)
        beat._release()
    r.flushdb()
    return first_pass, later_pass


def warm_up(url: str) -> None:
    """Load the scripts and import what a first pass imports, then FLUSHDB (scripts stay)."""
    one_round(url, 2)


def popped(r: redis.Redis, queue: str, stop: threading.Event) -> Iterator[tuple[str, float]]:
    """Firing ids as they reach ``queue``, with the wall-clock time each was taken from it."""
    while not stop.is_set():
        reply = r.brpop([queue], timeout=POP_BLOCK_S)
        if reply is not None:
            yield str(reply[1]), time.time()


@contextlib.contextmanager
def beat_process(url: str, r: redis.Redis, lease_key: str) -> Iterator[subprocess.Popen[bytes]]:
    """``horus beat`` in a process of its own (in this one it would share the GIL with the
    measuring), once it leads."""
    argv = [
        sys.executable,
        "-m",
        "horus",
        "--log-level",
        "WARNING",
        "beat",
        "--redis-url",
        url,
        "--namespace",
        NAMESPACE,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)  # its start-up line
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while r.get(lease_key) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("beat: horus beat did not take the lease")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(START_TIMEOUT_S)


def lateness(url: str, count: int, duration_s: float) -> list[float]:
    """A ``horus beat`` fires ``count`` ``every: 1s`` schedules for ``duration_s``: the ms from
    each occurrence until its firing was taken from the queue (Redis runs on this machine, so
    its clock and ours agree)."""
    r = redis.Redis.from_url(url, decode_responses=True)
    r.flushdb()
    late: list[float] = []
    with Broker(url, NAMESPACE) as broker, beat_process(url, r, broker.keys.beat_lease()):
        # Stored once the beat leads, so its start is not counted in the first firings.
        store_all(ScheduleStore(broker), schedules(count, "1s", "tick"), now=time.time())
        done = threading.Event()
        timer = threading.Timer(duration_s, done.set)
        timer.start()
        try:
            for job_id, at in popped(r, broker.keys.queue(RUNNER), done):
                occurrence = int(job_id.rsplit(":", 1)[1])
                late.append((at - occurrence) * 1000)
        finally:
            timer.cancel()
    r.flushdb()
    expected = count * (duration_s - 2)
    if len(late) < expected:
        raise SystemExit(f"beat: {len(late)} firings in {duration_s} s of {count} every-1s schedules")
    return sorted(late)


def measure(
    url: str, count: int, tick_schedules: int, duration_s: float, profiles: Profiles | None = None
) -> dict[str, float]:
    """``RUNS`` rounds of a ``count``-schedule pass (medians), then the lateness of
    ``tick_schedules`` every-1s schedules over ``duration_s``."""
    warm_up(url)
    rounds = [one_round(url, count, profiles if i == 0 else None) for i in range(RUNS)]
    first_queued, first_s = (statistics.median(t[i] for t, _ in rounds) for i in (0, 1))
    later_queued, later_s = (statistics.median(t[i] for _, t in rounds) for i in (0, 1))
    late = lateness(url, tick_schedules, duration_s)
    return {
        "schedules": count,
        "first_queued_s": first_queued,
        "first_pass_s": first_s,
        "first_pass_rate": count / first_s,
        "later_queued_s": later_queued,
        "later_pass_s": later_s,
        "later_pass_rate": count / later_s,
        "tick_schedules": tick_schedules,
        "tick_duration_s": duration_s,
        "tick_firings": len(late),
        "lateness_p50_ms": percentile(late, 0.50),
        "lateness_p99_ms": percentile(late, 0.99),
        "lateness_max_ms": late[-1],
    }


if __name__ == "__main__":
    import argparse
    import json

    from benchmarks.redis_server import private_redis

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=10_000, help="schedules due in the same second")
    parser.add_argument("--ticks", type=int, default=3, help="every-1s schedules whose lateness is measured")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds the every-1s schedules run")
    parser.add_argument("--profile", action="store_true", help="print the first round's profiles of both passes")
    args = parser.parse_args()
    profiles = (cProfile.Profile(), cProfile.Profile()) if args.profile else None
    with private_redis() as redis_url:
        print(json.dumps(measure(redis_url, args.schedules, args.ticks, args.duration, profiles), indent=2))
    if profiles is not None:
        for title, profile in zip(("first pass", "later pass"), profiles, strict=True):
            print(f"--- {title}")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
