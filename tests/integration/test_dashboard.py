"""The dashboard's server side over real HTTP on a real Redis with a real worker: its pages and
their security headers, the live log stream (server-sent events) and the role checks the page
relies on. The page itself is driven in a real browser in test_dashboard_browser.py."""

from __future__ import annotations

import http.client
import json
import re
import select
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import redis
from nacl.signing import SigningKey

from horus.signing import public_hex
from horus.ui.routes import CSP
from tests.conftest import StartWorker
from tests.integration import test_supervisor
from tests.integration.http_get import get
from tests.integration.test_supervisor import ADMIN, Server, signed

serve = test_supervisor.serve  # the fixture: real supervisors on loopback ports
api = test_supervisor.api  # runner r1 registered, the test key trusted

WAIT = 30


@dataclass
class Event:
    type: str
    id: str
    data: str


class EventStream:
    """A job's log stream read event by event, as the page reads it."""

    def __init__(self, server: Server, job_id: str, token: str | None = ADMIN, cursor: str | None = None) -> None:
        parts = urlsplit(server.url)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=WAIT)
        path = f"/ui/jobs/{job_id}/log" + (f"?cursor={cursor}" if cursor else "")
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        self.response = self.conn.getresponse()

    def next(self) -> Event | None:
        """The next event (comments skipped); None once the server closed the stream."""
        fields: dict[str, list[str]] = {}
        while True:
            raw = self.response.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if line == "":
                if "data" in fields:
                    return Event(fields.get("event", [""])[0], fields.get("id", [""])[0], "\n".join(fields["data"]))
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))

    def until(self, wanted: Callable[[Event], bool], what: str) -> tuple[list[Event], Event]:
        seen: list[Event] = []
        while (event := self.next()) is not None:
            if wanted(event):
                return seen, event
            seen.append(event)
        raise AssertionError(f"the stream ended before {what}; saw {seen}")

    def close(self) -> None:
        self.conn.close()


def until(check: Callable[[], bool], what: str) -> None:
    """For state with no event to wait on (a server's counter): look again every 20 ms."""
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        select.select([], [], [], 0.02)


@pytest.fixture
def gate(r: redis.Redis, namespace: str) -> Iterator[str]:
    name = f"{namespace}-gate"
    yield name
    r.lpush(name, *["go"] * 4)  # a test that failed midway leaves no job blocked


# -- pages ------------------------------------------------------------------------------------
def test_the_page_and_its_files_carry_the_security_headers(api: Server) -> None:
    for path in ("ui", "ui/", "ui/static/app.js", "ui/static/style.css", "ui/config.json"):
        status, headers, body = get(api.url + path)
        assert status == 200, path
        assert headers["Content-Security-Policy"] == CSP
        assert (headers["X-Frame-Options"], headers["Referrer-Policy"]) == ("DENY", "no-referrer")
        assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = get(api.url + "ui")
    assert headers["Content-Type"].startswith("text/html") and b'<script src="static/app.js"' in body
    assert b"<script>" not in body and not re.search(rb"\son[a-z]+=", body), "no inline script: the CSP bans it"
    assert json.loads(get(api.url + "ui/config.json")[2]) == {"coordinator_url": None}
    assert get(api.url + "ui/static/secret.txt")[0] == 404
    assert get(api.url + "ui/static/..%2Fapp.py")[0] == 404


def test_the_workflows_link_is_configured(serve: test_supervisor.Serve) -> None:
    server = serve(coordinator_url="http://127.0.0.1:8090/ui")
    assert json.loads(get(server.url + "ui/config.json")[2]) == {"coordinator_url": "http://127.0.0.1:8090/ui"}


# -- the log stream ---------------------------------------------------------------------------
def test_the_stream_follows_a_running_job_and_ends_with_it(
    api: Server, key: SigningKey, start_worker: StartWorker, redis_url: str, r: redis.Redis, gate: str
) -> None:
    start_worker()
    job_id = api.call("job.create", {"job": signed(key, "gated", redis_url, gate)})
    stream = EventStream(api, job_id)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
        assert stream.response.getheader("Content-Security-Policy") == CSP
        _, before = stream.until(lambda e: e.type == "", "the first line")
        assert before.data == "before"
        assert api.call("job.status", {"job_id": job_id})["status"] == "running", "the line came while it ran"
        r.rpush(gate, "go")
        seen, end = stream.until(lambda e: e.type == "end", "the end event")
        assert [e.data for e in seen] == ["after"]
        assert end.data == "completed"
        assert stream.next() is None, "the server closes the stream at the job's end"
    finally:
        stream.close()
    until(lambda: api.supervisor._slots.taken == 0, "the stream's waiter slot given back")


def test_the_stream_resumes_from_the_cursor_of_its_last_line(
    api: Server, key: SigningKey, start_worker: StartWorker, redis_url: str, r: redis.Redis, gate: str
) -> None:
    start_worker()
    job_id = api.call("job.create", {"job": signed(key, "gated", redis_url, gate)})
    stream = EventStream(api, job_id)
    _, before = stream.until(lambda e: e.data == "before", "the first line")
    stream.close()
    assert before.id, "the last line of a page carries the cursor to resume from"
    r.rpush(gate, "go")
    resumed = EventStream(api, job_id, cursor=before.id)
    seen, end = resumed.until(lambda e: e.type == "end", "the end event")
    resumed.close()
    assert ([e.data for e in seen], end.data) == (["after"], "completed")


def test_a_line_with_a_line_break_arrives_whole(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    start_worker()
    job_id = api.call("job.run", {"job": signed(key, "shout", "a\nb"), "wait_s": WAIT})["job_id"]
    stream = EventStream(api, job_id)
    seen, _ = stream.until(lambda e: e.type == "end", "the end event")
    stream.close()
    assert "".join(e.data + "\n" for e in seen) == "a\nb\n"


def test_a_job_that_prints_nothing_ends_its_stream(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    start_worker()
    job_id = api.call("job.run", {"job": signed(key, "add", 1, 2), "wait_s": WAIT})["job_id"]
    stream = EventStream(api, job_id)
    seen, end = stream.until(lambda e: e.type == "end", "the end event")
    stream.close()
    assert (seen, end.data) == ([], "completed")


def test_the_stream_needs_a_token_that_may_see_the_job(api: Server, key: SigningKey) -> None:
    job_id = api.call("job.create", {"job": signed(key, "add", 1, 2)})
    url = f"{api.url}ui/jobs/{job_id}/log"
    status, headers, body = get(url)
    assert status == 401 and json.loads(body)["error"] == "unauthenticated"
    assert headers["WWW-Authenticate"] == 'Bearer realm="horus"'
    assert get(url, "not-a-token")[0] == 401
    other = api.call("token.create", {"name": "mallory", "role": "user"})["token"]
    status, _, body = get(url, other)
    assert status == 404 and json.loads(body)["error"] == "job_not_found", "another user's job is not found"
    assert get(f"{api.url}ui/jobs/nope/log", ADMIN)[0] == 404
    assert get(f"{api.url}ui/jobs/{job_id}/log?cursor=x", ADMIN)[0] == 400
    assert api.supervisor._slots.taken == 0


def test_a_user_follows_its_own_job(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    start_worker()
    user = api.call("token.create", {"name": "alice", "role": "user"})["token"]
    job_id = api.call("job.run", {"job": signed(key, "shout", "mine"), "wait_s": WAIT}, token=user)["job_id"]
    stream = EventStream(api, job_id, token=user)
    seen, _ = stream.until(lambda e: e.type == "end", "the end event")
    stream.close()
    assert [e.data for e in seen] == ["mine"]


def test_a_reader_that_leaves_gives_its_slot_back(
    api: Server, key: SigningKey, start_worker: StartWorker, redis_url: str, gate: str
) -> None:
    start_worker()
    job_id = api.call("job.create", {"job": signed(key, "gated", redis_url, gate)})
    stream = EventStream(api, job_id)
    stream.until(lambda e: e.data == "before", "the first line")
    assert api.supervisor._slots.taken == 1
    stream.close()  # while the job still runs: the server notices within a wait
    until(lambda: api.supervisor._slots.taken == 0, "the waiter slot of a reader gone")


def test_streams_count_against_the_waiter_limit(serve: test_supervisor.Serve, key: SigningKey) -> None:
    server = serve(max_waiters=1)
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key)})
    job_id = server.call("job.create", {"job": signed(key, "add", 1, 2)})  # no worker: it stays queued
    first = EventStream(server, job_id)  # holds the one slot while it waits for a line
    assert first.response.status == 200
    status, _, body = get(f"{server.url}ui/jobs/{job_id}/log", ADMIN)
    assert status == 503 and json.loads(body)["error"] == "busy"
    first.close()
    until(lambda: server.supervisor._slots.taken == 0, "the slot given back")


# -- roles ------------------------------------------------------------------------------------
def test_whoami_tells_the_page_its_role(api: Server) -> None:
    user = api.call("token.create", {"name": "alice", "role": "user"})["token"]
    assert api.call("token.whoami", token=user) == {"role": "user", "identity": "token:alice"}
    assert api.call("token.whoami") == {"role": "admin", "identity": "bootstrap-admin"}
    assert api.error("token.whoami", token=None)["data"]["reason"] == "unauthenticated"


def test_a_user_token_may_not_use_the_admin_buttons(api: Server) -> None:
    user = api.call("token.create", {"name": "alice", "role": "user"})["token"]
    for method, params in (
        ("dead.retry", {"runner_id": "r1", "all": True}),
        ("dead.purge", {"runner_id": "r1"}),
        ("dead.list", {"runner_id": "r1"}),
        ("schedule.pause", {"name": "nightly"}),
        ("schedule.run", {"name": "nightly"}),
    ):
        assert api.error(method, params, token=user)["data"]["reason"] == "forbidden", method


def test_the_runner_counters_for_rates(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    start_worker()
    for _ in range(2):
        api.call("job.run", {"job": signed(key, "add", 1, 2), "wait_s": WAIT})
    (stats,) = api.call("inspect.stats", {"runner_id": "r1"})
    assert stats["runner_id"] == "r1" and stats["ended"]["completed"] == 2
