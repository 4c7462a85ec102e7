"""The beat with real Redis, real beat processes and real workers: high availability, catch-up,
tampering, and the schedule commands as a user types them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
from nacl.signing import SigningKey

from horus import scripts
from horus.broker import Broker
from horus.keys import Keys
from horus.schedule import Schedule
from horus.schedules import ScheduleStore, parse_schedules, sign
from tests.conftest import ROOT, StartWorker, horus_cmd, kill_tree

WAIT = 30
FIB = '{"task": "fib", "args": [10]}'
StartBeat = Callable[..., subprocess.Popen[str]]
#: What a process sends as it connects, before any work.
CONNECTING = {b"HELLO", b"AUTH", b"SELECT", b"CLIENT", b"PING", b"SCRIPT"}


def wait_for(condition: Callable[[], object], what: str, deadline_s: float = WAIT) -> Any:
    deadline = time.monotonic() + deadline_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def until_clock(t: float) -> None:
    """Wait for the wall clock to pass ``t``: what a schedule's next occurrence waits for too."""
    while time.time() < t:
        time.sleep(min(0.05, max(0.0, t - time.time())))


def one(runner_id: str = "r1", **fields: Any) -> Schedule:
    return parse_schedules(
        [{"name": "tick", "every": "1s", "job": {"runner_id": runner_id, "payload": FIB}, **fields}]
    )[0]


@pytest.fixture
def store(broker: Broker) -> ScheduleStore:
    return ScheduleStore(broker)


@pytest.fixture
def start_beat(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[StartBeat]:
    started: list[subprocess.Popen[str]] = []

    def start(*extra: str) -> subprocess.Popen[str]:
        argv = horus_cmd("beat", "--redis-url", redis_url, "--namespace", namespace, *extra)
        with (tmp_path / f"beat-{len(started)}.log").open("w") as log:
            proc = subprocess.Popen(
                argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True
            )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        kill_tree(proc)


def leader_pid(r: redis.Redis, namespace: str) -> int | None:
    holder = r.get(Keys(namespace).beat_lease())
    return int(str(holder).split(":")[1]) if holder else None


def fired_occurrences(r: redis.Redis, namespace: str, runner_id: str = "r1", name: str = "tick") -> list[int]:
    """The occurrences queued for ``runner_id``, each as often as it was queued, oldest first."""
    ids = r.lrange(Keys(namespace).queue(runner_id), 0, -1)
    prefix = f"beat:{name}:"
    return sorted(int(job_id.removeprefix(prefix)) for job_id in ids if str(job_id).startswith(prefix))


@pytest.mark.slow
def test_three_beats_with_the_leader_killed_twice_fire_each_occurrence_once(
    r: redis.Redis, namespace: str, store: ScheduleStore, key: SigningKey, start_beat: StartBeat
) -> None:
    store.add([sign(one(), key)])
    beats = [start_beat() for _ in range(3)]
    takeovers: list[float] = []
    for _ in range(2):
        leader = wait_for(lambda: leader_pid(r, namespace), "a beat to lead")
        count = len(fired_occurrences(r, namespace))
        wait_for(lambda c=count: len(fired_occurrences(r, namespace)) >= c + 4, "four firings by the leader")
        os.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda old=leader: leader_pid(r, namespace) not in (None, old), "a standby to take over")
        takeovers.append(time.monotonic() - killed_at)
    count = len(fired_occurrences(r, namespace))
    wait_for(lambda: len(fired_occurrences(r, namespace)) >= count + 4, "four firings by the third leader")
    for proc in beats:
        proc.send_signal(signal.SIGTERM)
    for proc in beats:
        proc.wait(timeout=WAIT)
    fired = fired_occurrences(r, namespace)
    assert len(fired) == len(set(fired)), "an occurrence was queued twice"
    # Every occurrence from the first to the last: a takeover (lease 5 s) is within the 10 s grace.
    assert fired == list(range(fired[0], fired[-1] + 1)), fired
    assert len(fired) >= 12
    assert all(t < 20 for t in takeovers), takeovers  # the lease (5 s) plus a standby's poll, on a busy machine


@pytest.mark.parametrize(("catch_up", "fired"), [("skip", 0), ("last", 1), ("all", 4)])
def test_catch_up_after_a_beat_was_down_for_three_hours(
    r: redis.Redis,
    namespace: str,
    store: ScheduleStore,
    key: SigningKey,
    start_beat: StartBeat,
    catch_up: str,
    fired: int,
) -> None:
    """The state a 3-hour downtime leaves: the due time still at the first occurrence not fired."""
    hourly = sign(one(every="1h", catch_up=catch_up), key)
    store.add([hourly])
    hour = hourly.last_at_or_before(time.time())
    missed = [hour - 3 * 3600 + i * 3600 for i in range(4)]
    r.zadd(Keys(namespace).schedules_due(), {"tick": missed[0] * 1000})
    start_beat("--grace", "0")
    next_due = (hour + 3600) * 1000
    wait_for(lambda: r.zscore(Keys(namespace).schedules_due(), "tick") == next_due, "the pass after the downtime")
    assert fired_occurrences(r, namespace) == (missed[len(missed) - fired :] if fired else [])
    [info] = store.infos()
    assert info.next_at == hour + 3600
    assert info.last_job_id == (f"beat:tick:{missed[-1]}" if fired else None)


def test_a_real_downtime_with_catch_up_all_leaves_no_gap(
    r: redis.Redis, namespace: str, store: ScheduleStore, key: SigningKey, start_beat: StartBeat
) -> None:
    store.add([sign(one(catch_up="all"), key)])
    beat = start_beat("--grace", "0")
    wait_for(lambda: len(fired_occurrences(r, namespace)) >= 2, "two firings")
    beat.send_signal(signal.SIGTERM)
    beat.wait(timeout=WAIT)
    stopped = fired_occurrences(r, namespace)[-1]
    until_clock(stopped + 4)  # at least three occurrences pass with no beat running
    start_beat("--grace", "0")
    wait_for(lambda: fired_occurrences(r, namespace)[-1] > stopped + 4, "firings after the restart")
    fired = fired_occurrences(r, namespace)
    assert fired == list(range(fired[0], fired[-1] + 1)), fired


def test_with_catch_up_skip_a_real_downtime_fires_none_of_what_was_missed(
    r: redis.Redis, namespace: str, store: ScheduleStore, key: SigningKey, start_beat: StartBeat
) -> None:
    store.add([sign(one(), key)])
    beat = start_beat("--grace", "0")
    wait_for(lambda: fired_occurrences(r, namespace), "a firing")
    beat.send_signal(signal.SIGTERM)
    beat.wait(timeout=WAIT)
    stopped = fired_occurrences(r, namespace)[-1]
    until_clock(stopped + 5)
    restarted = time.time()
    start_beat("--grace", "0")
    wait_for(lambda: fired_occurrences(r, namespace)[-1] > restarted + 1, "firings after the restart")
    gap = [t for t in fired_occurrences(r, namespace) if stopped < t < restarted - 1]
    assert gap == []


class Cut:
    """A TCP relay to Redis that can be cut: the process behind it loses Redis while the others
    keep it (a network partition, not a Redis restart)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.open = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        #: Every byte the processes behind the relay sent to Redis.
        self.sent = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.open:
                    client.close()
                    continue
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, a is client), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                if record:
                    with self.lock:
                        self.sent += data
                b.sendall(data)
        for end in (a, b):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            self.open = False
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def commands(self) -> list[list[bytes]]:
        """The commands sent through the relay so far (RESP arrays of bulk strings)."""
        with self.lock:
            data = bytes(self.sent)
        found: list[list[bytes]] = []
        at = 0
        while data.startswith(b"*", at):
            end = data.index(b"\r\n", at)
            count, at = int(data[at + 1 : end]), end + 2
            words: list[bytes] = []
            for _ in range(count):
                end = data.index(b"\r\n", at)
                size = int(data[at + 1 : end])
                words.append(data[end + 2 : end + 2 + size])
                at = end + 2 + size + 2
            found.append(words)
        return found

    def close(self) -> None:
        """Close every socket here: the pipe threads only shut them down, and a socket left to the
        garbage collector warns in whichever test happens to run then."""
        self.cut()
        self.listener.close()
        for end in self.sockets:
            end.close()


@pytest.mark.slow
@pytest.mark.single_redis  # a relay in front of one server's port
def test_a_standby_takes_over_when_the_leader_loses_redis(
    r: redis.Redis, redis_url: str, namespace: str, store: ScheduleStore, key: SigningKey, start_beat: StartBeat
) -> None:
    address = urlparse(redis_url)
    relay = Cut(address.port or 6379)
    try:
        store.add([sign(one(), key)])
        cut_off = start_beat("--redis-url", f"redis://127.0.0.1:{relay.port}{address.path}")
        wait_for(lambda: leader_pid(r, namespace) == cut_off.pid, "the first beat to lead")
        standby = start_beat()
        wait_for(lambda: len(fired_occurrences(r, namespace)) >= 3, "three firings")
        relay.cut()
        wait_for(lambda: leader_pid(r, namespace) == standby.pid, "the standby to take over")
        count = len(fired_occurrences(r, namespace))
        wait_for(lambda: len(fired_occurrences(r, namespace)) >= count + 3, "three firings by the new leader")
    finally:
        relay.close()
    fired = fired_occurrences(r, namespace)
    assert len(fired) == len(set(fired)), "an occurrence was queued twice"
    assert fired == list(range(fired[0], fired[-1] + 1)), fired


@pytest.mark.single_redis  # a relay in front of one server's port
def test_a_standby_only_watches_the_lease(
    r: redis.Redis, redis_url: str, namespace: str, store: ScheduleStore, key: SigningKey, start_beat: StartBeat
) -> None:
    address = urlparse(redis_url)
    relay = Cut(address.port or 6379)
    try:
        store.add([sign(one(), key)])
        leader = start_beat()
        wait_for(lambda: leader_pid(r, namespace) == leader.pid, "the first beat to lead")
        start_beat("--redis-url", f"redis://127.0.0.1:{relay.port}{address.path}")
        wait_for(lambda: len(fired_occurrences(r, namespace)) >= 3, "three firings by the leader")
        wait_for(lambda: len(relay.commands()) >= 3, "the standby to try the lease a few times")
        commands = relay.commands()
    finally:
        relay.close()
    assert leader_pid(r, namespace) == leader.pid
    lease = scripts.sha("beat_lease")
    work = [c for c in commands if c[0].upper() not in CONNECTING and c[:2] != [b"EVALSHA", lease.encode()]]
    assert work == [], "the standby did more than try the lease"


# -- trust -----------------------------------------------------------------------------
def results(r: redis.Redis, namespace: str, runner_id: str = "r1") -> dict[str, dict[str, Any]]:
    """Every ended firing's result, by job id."""
    keys = Keys(namespace)
    found = {}
    for job_key in r.scan_iter(keys.result(runner_id, "beat:*")):
        value = r.lindex(job_key, 0)
        if value:
            result = json.loads(value)
            found[result["job_id"]] = result
    return found


def test_a_firing_runs_on_a_worker_trusting_only_the_schedules_key(
    r: redis.Redis,
    namespace: str,
    store: ScheduleStore,
    key: SigningKey,
    start_beat: StartBeat,
    start_worker: StartWorker,
) -> None:
    store.add([sign(one(job={"runner_id": "r1", "payload": FIB, "env_vars": {"A": "1"}}), key)])
    start_worker("r1", "--app", "horus.demo_tasks")
    start_beat()
    done = wait_for(lambda: results(r, namespace), "a firing to end")
    assert {result["status"] for result in done.values()} == {"completed"}
    assert {result["value"] for result in done.values()} == {55}
    wait_for(lambda: store.infos()[0].last_status == "completed", "the list to show the last job completed")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s: {**s, "job": {**s["job"], "payload": '{"task": "fib", "args": [20]}'}}, id="payload"),
        pytest.param(lambda s: {**s, "job": {**s["job"], "env_vars": {"A": "2"}}}, id="env"),
        pytest.param(lambda s: {**s, "every": "2s"}, id="expression"),
    ],
)
def test_a_schedule_changed_in_redis_runs_nothing(
    r: redis.Redis,
    namespace: str,
    store: ScheduleStore,
    key: SigningKey,
    start_beat: StartBeat,
    start_worker: StartWorker,
    tamper: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    store.add([sign(one(job={"runner_id": "r1", "payload": FIB, "env_vars": {"A": "1"}}), key)])
    defs = Keys(namespace).schedules()
    r.hset(defs, "tick", json.dumps(tamper(json.loads(str(r.hget(defs, "tick"))))))
    start_worker("r1", "--app", "horus.demo_tasks")
    start_beat()
    done = wait_for(lambda: len(results(r, namespace)) >= 2 and results(r, namespace), "two firings to end")
    assert {result["status"] for result in done.values()} == {"failed"}, done
    assert all(result["error"].startswith("rejected (tampered)") for result in done.values()), done
    assert all(result["value"] is None and result["output"] == "" for result in done.values()), done


def test_a_firing_changed_in_its_queue_runs_nothing(
    r: redis.Redis,
    namespace: str,
    store: ScheduleStore,
    key: SigningKey,
    start_beat: StartBeat,
    start_worker: StartWorker,
) -> None:
    store.add([sign(one(), key)])
    beat = start_beat()
    [first] = wait_for(lambda: fired_occurrences(r, namespace)[:1], "a firing")
    beat.send_signal(signal.SIGTERM)
    beat.wait(timeout=WAIT)
    keys = Keys(namespace)
    queued = fired_occurrences(r, namespace)
    for occurrence in queued:
        spec_key = keys.spec("r1", f"beat:tick:{occurrence}")
        spec = json.loads(str(r.get(spec_key)))
        r.set(spec_key, json.dumps({**spec, "payload": '{"task": "fib", "args": [25]}'}))
    forged = json.loads(str(r.get(keys.spec("r1", f"beat:tick:{first}"))))
    start_worker("r1", "--app", "horus.demo_tasks")
    done = wait_for(lambda: len(results(r, namespace)) == len(queued) and results(r, namespace), "every firing to end")
    assert {result["status"] for result in done.values()} == {"failed"}, done
    assert all("payload" in result["error"] for result in done.values()), done
    assert forged["payload"] != FIB


# -- the commands ----------------------------------------------------------------------
@pytest.fixture
def cli(redis_url: str, namespace: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {**os.environ, "HORUS_REDIS_URL": redis_url, "HORUS_NAMESPACE": namespace, "COLUMNS": "120"}
    env.pop("HORUS_SUPERVISOR_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(horus_cmd(*args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=WAIT)

    return run


SCHEDULE_FILE = """\
- name: tick
  every: 1s
  job:
    runner_id: r1
    payload: '{"task": "fib", "args": [10]}'
- name: nightly
  cron: "30 2 * * *"
  timezone: Europe/Berlin
  catch_up: last
  job: {runner_id: r1, payload: '{"task": "noop"}', timeout: 30}
"""


def test_add_list_pause_resume_run_remove_as_typed(
    r: redis.Redis,
    namespace: str,
    tmp_path: Path,
    key_file: Path,
    cli: Callable[..., subprocess.CompletedProcess[str]],
    start_beat: StartBeat,
    start_worker: StartWorker,
) -> None:
    (tmp_path / "schedules.yaml").write_text(SCHEDULE_FILE)
    added = cli("schedule", "add", "schedules.yaml", "--key", str(key_file))
    assert added.returncode == 0, added.stderr
    assert added.stdout.split() == ["tick", "nightly"]
    again = cli("schedule", "add", "schedules.yaml", "--key", str(key_file))
    assert again.returncode == 2 and "exists already: add it with --replace" in again.stderr
    assert cli("schedule", "add", "schedules.yaml", "--key", str(key_file), "--replace").returncode == 0

    start_worker("r1", "--app", "horus.demo_tasks")
    start_beat()
    wait_for(lambda: fired_occurrences(r, namespace) or results(r, namespace), "tick to fire")
    assert cli("schedule", "pause", "tick").returncode == 0

    def listed() -> dict[str, dict[str, Any]]:
        shown = cli("schedule", "list", "--json")
        assert shown.returncode == 0, shown.stderr
        return {entry["name"]: entry for entry in json.loads(shown.stdout)}

    paused = listed()
    assert paused["tick"]["paused"] is True and paused["tick"]["next_at"] is None
    assert paused["nightly"]["timezone"] == "Europe/Berlin" and paused["nightly"]["expression"] == "30 2 * * *"
    assert paused["nightly"]["next_at"] > time.time() and paused["nightly"]["last_job_id"] is None
    last = paused["tick"]["last_job_id"]
    until_clock(time.time() + 2.5)  # two occurrences pass paused
    assert listed()["tick"]["last_job_id"] == last

    ran = cli("schedule", "run", "tick")
    assert ran.returncode == 0, ran.stderr
    run_id = ran.stdout.strip()
    assert run_id.startswith("beat:tick:run:")
    wait_for(lambda: results(r, namespace).get(run_id, {}).get("status") == "completed", "the run to complete")

    assert cli("schedule", "resume", "tick").returncode == 0
    wait_for(lambda: (listed()["tick"]["last_job_id"] or "").count(":") == 2, "an occurrence after the resume")
    table = cli("schedule", "list")
    assert "tick" in table.stdout and "every 1s" in table.stdout and "Europe/Berlin" in table.stdout

    assert cli("schedule", "remove", "tick").returncode == 0
    assert set(listed()) == {"nightly"}
    gone = cli("schedule", "pause", "tick")
    assert gone.returncode == 2 and "schedule 'tick' not found" in gone.stderr


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('cron: "61 * * * *"', "schedules[0].cron: '61 * * * *' is not a valid cron expression"),
        ('cron: "0 3 * * *"\n  timezone: Mars/Olympus', "schedules[0].timezone: 'Mars/Olympus' is not an IANA"),
        ('cron: "0 3 * * *"\n  every: 1h', "schedules[0]: give either cron"),
        ("catch_up: skip", "schedules[0]: give either cron"),
    ],
)
def test_a_bad_schedule_file_is_refused_naming_the_field(
    tmp_path: Path, key_file: Path, cli: Callable[..., subprocess.CompletedProcess[str]], entry: str, message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(f"- name: bad\n  {entry}\n  job: {{runner_id: r1, payload: x}}\n")
    refused = cli("schedule", "add", "bad.yaml", "--key", str(key_file))
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: schedule rejected: " + message), refused.stderr
    assert json.loads(cli("schedule", "list", "--json").stdout) == []


def test_add_without_a_key_says_how_to_sign(
    tmp_path: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    (tmp_path / "s.yaml").write_text(SCHEDULE_FILE)
    refused = cli("schedule", "add", "s.yaml")
    assert refused.returncode == 2 and "pass --key KEY" in refused.stderr
