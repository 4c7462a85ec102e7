"""The supervisor's JSON-RPC API over real HTTP (uvicorn on a loopback port), on a real Redis."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from horus.admission import parse_job
from horus.broker import Broker
from horus.keys import Keys
from horus.signing import generate_key, public_hex, sign_job
from horus.supervisor.app import Supervisor
from horus.supervisor.context import Settings
from horus.supervisor.errors import CODES
from tests.conftest import ROOT, StartWorker, horus_cmd, kill_tree
from tests.redis_clients import client_list

ADMIN = "admin-token-for-tests"
WAIT = 30


def code(reason: str) -> int:
    return CODES[reason][0]


@dataclass
class Server:
    url: str
    supervisor: Supervisor
    namespace: str
    ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def post(self, body: bytes, token: str | None = ADMIN, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url, data=body, method="POST", headers=dict(headers or {}))
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=WAIT + 10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw) if raw else None

    def request(self, method: str, params: Any = None, token: str | None = ADMIN) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": next(self.ids)}
        if params is not None:
            message["params"] = params
        status, answer = self.post(json.dumps(message).encode(), token)
        assert status == 200
        assert answer["id"] == message["id"]
        assert isinstance(answer, dict)
        return answer

    def call(self, method: str, params: Any = None, token: str | None = ADMIN) -> Any:
        answer = self.request(method, params, token)
        assert "error" not in answer, answer
        return answer["result"]

    def error(self, method: str, params: Any = None, token: str | None = ADMIN) -> dict[str, Any]:
        answer = self.request(method, params, token)
        assert "result" not in answer, answer
        error: dict[str, Any] = answer["error"]
        return error


Serve = Callable[..., Server]


@pytest.fixture
def serve(r: redis.Redis, redis_url: str, namespace: str) -> Iterator[Serve]:
    """Start supervisors in threads, each on a loopback port of its own."""
    running: list[tuple[uvicorn.Server, threading.Thread, Broker]] = []

    def start(admin_token: str | None = ADMIN, **options: Any) -> Server:
        broker = Broker.from_url(redis_url, namespace)
        supervisor = Supervisor(broker, admin_token=admin_token, **options)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # the port is ours from here on: no race with other tests
        config = uvicorn.Config(supervisor.app(), log_level="warning", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + WAIT
        while not server.started:
            assert time.monotonic() < deadline, "supervisor did not start"
            time.sleep(0.01)
        running.append((server, thread, broker))
        return Server(f"http://127.0.0.1:{sock.getsockname()[1]}/", supervisor, namespace)

    yield start
    for server, thread, broker in running:
        server.should_exit = True
        thread.join(10)
        broker.close()


@pytest.fixture
def api(serve: Serve, key: SigningKey) -> Server:
    """A supervisor with runner r1 registered and the test key trusted for every runner."""
    server = serve()
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key), "runners": ["*"]})
    return server


def signed(key: SigningKey, task: str = "add", *args: object, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"runner_id": "r1", "payload": json.dumps({"task": task, "args": list(args)}), **fields}
    job = sign_job(parse_job(data), key)
    return job.model_dump(mode="json", exclude={"status"})


def nothing_stored(r: redis.Redis, namespace: str) -> bool:
    keys = Keys(namespace)
    return r.llen(keys.queue("r1")) == 0 and r.zcard(keys.supervisor_jobs()) == 0 and not r.keys(f"{namespace}:job:*")


# -- jobs -----------------------------------------------------------------------------------
def test_signed_job_runs_over_http(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    start_worker()
    result = api.call("job.run", {"job": signed(key, "add", 2, 3), "wait_s": WAIT})
    assert (result["status"], result["value"], result["runner_id"]) == ("completed", 5, "r1")
    job_id = result["job_id"]
    assert api.call("job.result", {"job_id": job_id}) == result
    status = api.call("job.status", {"job_id": job_id})
    assert (status["status"], status["deliveries"]) == ("completed", 1)
    listed = api.call("job.list", {"runner_id": "r1"})
    assert [job["job_id"] for job in listed["jobs"]] == [job_id]


def test_logs_of_a_job(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    start_worker()
    result = api.call("job.run", {"job": signed(key, "shout", "one", "two"), "wait_s": WAIT})
    assert api.call("job.logs", {"job_id": result["job_id"]}) == ["one", "two"]


def test_status_of_a_running_job_has_its_tasks_progress(
    api: Server, key: SigningKey, start_worker: StartWorker, redis_url: str, r: redis.Redis
) -> None:
    start_worker()
    gate = f"gate-{os.getpid()}-{time.monotonic_ns()}"
    job_id = api.call("job.create", {"job": signed(key, "reports", redis_url, gate, 60, "indexing")})
    _until(lambda: api.call("job.status", {"job_id": job_id})["progress"] is not None, "a progress report")
    status = api.call("job.status", {"job_id": job_id})
    assert (status["status"], status["progress"]) == ("running", {"percent": 60, "message": "indexing"})
    assert api.call("job.result", {"job_id": job_id})["progress"] == {"percent": 60, "message": "indexing"}
    r.rpush(gate, "go")
    assert api.call("job.result", {"job_id": job_id, "wait_s": WAIT})["status"] == "completed"
    assert api.call("job.status", {"job_id": job_id})["progress"] is None


def test_create_then_cancel_a_queued_job(api: Server, key: SigningKey) -> None:
    job = signed(key, "add", 1, 1)
    assert api.call("job.create", {"job": job}) == job["id"]
    assert api.call("job.status", {"job_id": job["id"]})["status"] == "dispatched"
    assert api.call("job.cancel", {"job_id": job["id"]}) == {"job_id": job["id"], "status": "cancelled"}
    assert api.call("job.result", {"job_id": job["id"]})["status"] == "cancelled"


def test_job_run_returns_the_status_when_the_wait_ends_first(api: Server, key: SigningKey) -> None:
    result = api.call("job.run", {"job": signed(key), "wait_s": 0.2})
    assert result["status"] == "dispatched"


def test_waiting_job_runs_leave_room_for_others(serve: Serve, key: SigningKey, r: redis.Redis) -> None:
    server = serve(threads=2)
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key)})
    jobs = [signed(key) for _ in range(4)]  # queued: no worker serves r1
    waits = [_in_thread(lambda job=job: server.call("job.run", {"job": job, "wait_s": WAIT * 2})) for job in jobs]
    _until(lambda: _blocked_in_redis(r, "blmove") >= 4, "4 job.run waits with 2 threads: each must hold no thread")
    listing, out = _in_thread(lambda: server.call("runner.list"))
    listing.join(WAIT)
    assert out and out[0][0]["runner_id"] == "r1", "runner.list must be answered while 4 job.run calls wait"
    for job in jobs:
        server.call("job.cancel", {"job_id": job["id"]})
    for thread, result in waits:
        thread.join(WAIT)
        assert result and result[0]["status"] == "cancelled"


@pytest.mark.parametrize("method", ["job.status", "job.result", "job.logs", "job.cancel"])
def test_unknown_job(api: Server, method: str) -> None:
    error = api.error(method, {"job_id": "nope"})
    assert error["code"] == code("job_not_found")
    assert error["data"] == {"reason": "job_not_found", "field": "job_id"}


def test_job_list_filters_and_pages(api: Server, key: SigningKey) -> None:
    api.call("runner.register", {"runner_id": "r2", "runner_type": "python"})
    now = int(time.time())
    ids = [api.call("job.create", {"job": signed(key, created_at=now - 10 + i)}) for i in range(5)]
    other = api.call("job.create", {"job": signed(key, runner_id="r2", created_at=now)})
    api.call("job.cancel", {"job_id": ids[0]})
    first = api.call("job.list", {"runner_id": "r1", "limit": 2})
    second = api.call("job.list", {"runner_id": "r1", "limit": 2, "cursor": first["next_cursor"]})
    third = api.call("job.list", {"runner_id": "r1", "limit": 2, "cursor": second["next_cursor"]})
    assert [j["job_id"] for j in first["jobs"] + second["jobs"] + third["jobs"]] == ids[::-1]
    assert third["next_cursor"] is None
    cancelled = api.call("job.list", {"status": "cancelled"})
    assert [j["job_id"] for j in cancelled["jobs"]] == [ids[0]]
    assert api.call("job.list", {"runner_id": "r2"})["jobs"][0]["job_id"] == other


def test_job_list_filters_by_creation_time(api: Server, key: SigningKey) -> None:
    now = int(time.time())
    ids = [api.call("job.create", {"job": signed(key, created_at=now - 40 + 10 * i)}) for i in range(4)]

    def listed(**params: float) -> list[str]:
        page = api.call("job.list", params)
        return [job["job_id"] for job in page["jobs"]]

    assert listed(created_after=now - 20) == [ids[3], ids[2]]
    assert listed(created_before=now - 30) == [ids[1], ids[0]]
    assert listed(created_after=now - 30, created_before=now - 20) == [ids[2], ids[1]]
    assert listed(created_after=now + 60) == []
    assert api.call("job.list", {"created_after": now - 20, "limit": 1})["next_cursor"] is not None


def test_job_list_filters_by_caller_and_context(api: Server, key: SigningKey) -> None:
    made = {
        (caller, context): api.call("job.create", {"job": signed(key, caller_id=caller, context_id=context)})
        for caller, context in (("billing", "run-1"), ("billing", "run-2"), ("reports", "run-1"), ("", ""))
    }

    def listed(**params: str) -> set[str]:
        return {job["job_id"] for job in api.call("job.list", params)["jobs"]}

    assert listed(caller_id="billing") == {made["billing", "run-1"], made["billing", "run-2"]}
    assert listed(context_id="run-1") == {made["billing", "run-1"], made["reports", "run-1"]}
    assert listed(caller_id="reports", context_id="run-2") == set()
    assert listed(caller_id="", runner_id="r1") == {made["", ""]}
    status = api.call("job.status", {"job_id": made["reports", "run-1"]})
    assert (status["caller_id"], status["context_id"]) == ("reports", "run-1")


# -- admission refusals -----------------------------------------------------------------------
def _unsigned(key: SigningKey) -> dict[str, Any]:
    job = signed(key)
    del job["signatures"]
    return job


def _tampered(key: SigningKey) -> dict[str, Any]:
    job = signed(key)
    job["payload"] = json.dumps({"task": "add", "args": [6, 6]})
    return job


def _bad_signature(key: SigningKey) -> dict[str, Any]:
    job = signed(key)
    job["signatures"][0]["signature"] = "zz"
    return job


REFUSALS: dict[str, tuple[Callable[[SigningKey], dict[str, Any]], str]] = {
    "missing_field": (lambda k: {"payload": "x"}, "runner_id"),
    "unknown_field": (lambda k: {**signed(k), "colour": "red"}, "colour"),
    "invalid_field": (lambda k: {**signed(k), "runner_id": "no spaces"}, "runner_id"),
    "empty_payload": (lambda k: {"runner_id": "r1", "payload": "  "}, "payload"),
    "timeout_out_of_bounds": (lambda k: {"runner_id": "r1", "payload": "x", "timeout": 0}, "timeout"),
    "unsigned": (_unsigned, "signatures"),
    "bad_signature": (_bad_signature, "signatures[0].signature"),
    "tampered": (_tampered, "signatures[0].signature"),
    "untrusted_key": (lambda k: signed(generate_key()), "signatures[0].public_key"),
    "unknown_runner": (lambda k: signed(k, runner_id="r9"), "runner_id"),
    "stale": (lambda k: signed(k, created_at=int(time.time()) - 3600), "created_at"),
}


@pytest.mark.parametrize("method", ["job.create", "job.run"])
@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_refusals(api: Server, key: SigningKey, r: redis.Redis, reason: str, method: str) -> None:
    make, where = REFUSALS[reason]
    error = api.error(method, {"job": make(key)})
    assert error["code"] == code(reason), error
    assert error["data"] == {"reason": reason, "field": where}
    assert error["message"]
    assert nothing_stored(r, api.namespace)


def test_key_not_allowed_for_the_runner(serve: Serve, key: SigningKey, r: redis.Redis) -> None:
    server = serve()
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key), "runners": ["other-*"]})
    error = server.error("job.create", {"job": signed(key)})
    assert error["data"] == {"reason": "key_not_allowed", "field": "signatures[0].public_key"}
    assert nothing_stored(r, server.namespace)


def test_a_removed_key_is_no_longer_trusted(api: Server, key: SigningKey) -> None:
    assert api.call("key.remove", {"public_key": public_hex(key)}) is True
    assert api.error("job.create", {"job": signed(key)})["code"] == code("untrusted_key")


def test_replayed_id(api: Server, key: SigningKey, r: redis.Redis) -> None:
    job = signed(key)
    api.call("job.create", {"job": job})
    error = api.error("job.run", {"job": job})
    assert error["code"] == code("replayed_id")
    assert error["data"] == {"reason": "replayed_id", "field": "id"}
    assert r.llen(Keys(api.namespace).queue("r1")) == 1
    assert r.zcard(Keys(api.namespace).supervisor_jobs()) == 1
    # The same id for another runner: refused, and the index entry written with it taken back.
    api.call("runner.register", {"runner_id": "r2", "runner_type": "python"})
    again = signed(key, id=job["id"], runner_id="r2")
    assert api.error("job.create", {"job": again})["data"]["reason"] == "replayed_id"
    assert r.zrange(Keys(api.namespace).supervisor_jobs(), 0, -1) == [f"r1/{job['id']}"]
    assert r.llen(Keys(api.namespace).queue("r2")) == 0


# -- runners and keys -------------------------------------------------------------------------
def test_runner_registry(api: Server) -> None:
    again = api.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    assert again["runner_type"] == "python"
    conflict = api.error("runner.register", {"runner_id": "r1", "runner_type": "hero"})
    assert conflict["code"] == code("runner_type_conflict")
    assert [r["runner_id"] for r in api.call("runner.list")] == ["r1"]
    assert api.call("runner.remove", {"runner_id": "r1"}) is True
    assert api.error("runner.remove", {"runner_id": "r1"})["code"] == code("runner_not_found")
    assert api.call("runner.list") == []


def test_runner_health(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    idle = api.call("runner.health", {"runner_id": "r1"})
    assert (idle["alive"], idle["workers"], idle["queue_depth"], idle["last_seen_ms"]) == (False, [], 0, None)
    api.call("job.create", {"job": signed(key)})
    assert api.call("runner.health", {"runner_id": "r1"})["queue_depth"] == 1
    start_worker(concurrency=2)
    deadline = time.monotonic() + WAIT
    while True:
        health = api.call("runner.health", {"runner_id": "r1"})
        if health["alive"] and health["queue_depth"] == 0 and len(health["workers"]) >= 2:
            break
        assert time.monotonic() < deadline, health
        time.sleep(0.1)
    assert health["last_seen_ms"] > time.time() * 1000
    assert health["in_flight"] == sum(w["in_flight"] for w in health["workers"])
    assert api.error("runner.health", {"runner_id": "r9"})["code"] == code("runner_not_found")


def test_key_registry(api: Server, key: SigningKey) -> None:
    other = public_hex(generate_key())
    api.call("key.add", {"public_key": other.upper(), "runners": ["r1"]})
    listed = {k["public_key"]: k["runners"] for k in api.call("key.list")}
    assert listed == {public_hex(key): ["*"], other: ["r1"]}
    assert api.error("key.add", {"public_key": "abcd"})["code"] == code("invalid_key")
    assert api.error("key.remove", {"public_key": "ab" * 32})["code"] == code("key_not_found")


# -- authentication -----------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_unauthenticated_calls_are_refused(api: Server, key: SigningKey, token: str | None) -> None:
    for method, params in [("runner.list", None), ("job.create", {"job": signed(key)}), ("key.list", None)]:
        error = api.error(method, params, token=token)
        assert error["code"] == code("unauthenticated")


def test_roles(api: Server, key: SigningKey) -> None:
    user = api.call("token.create", {"name": "alice", "role": "user"})["token"]
    assert api.call("runner.list", token=user)[0]["runner_id"] == "r1"
    assert api.call("job.create", {"job": signed(key)}, token=user)
    for method, params in [("key.list", None), ("runner.register", {"runner_id": "x", "runner_type": "python"})]:
        assert api.error(method, params, token=user)["code"] == code("forbidden")
    assert api.call("token.revoke", {"name": "alice"}) == 1
    assert api.error("runner.list", token=user)["code"] == code("unauthenticated")


def test_tokens_are_stored_hashed(api: Server, r: redis.Redis) -> None:
    token = api.call("token.create", {"name": "bob"})["token"]
    stored = r.hgetall(Keys(api.namespace).supervisor_tokens())
    assert token not in json.dumps(stored)
    assert len(stored) == 1 and len(next(iter(stored))) == 64


def test_discover_needs_no_token(api: Server) -> None:
    assert api.call("rpc.discover", token=None)["openrpc"].startswith("1.2.")


def test_insecure_dev_needs_no_token(serve: Serve) -> None:
    server = serve(admin_token=None, insecure=True)
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"}, token=None)


# -- protocol -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "parse_error"),
        (b"\xff\xfe", "parse_error"),
        (b"", "parse_error"),
        (b"[]", "invalid_request"),
        (b'"job.list"', "invalid_request"),
        (b'{"jsonrpc": "1.0", "method": "runner.list", "id": 1}', "invalid_request"),
        (b'{"jsonrpc": "2.0", "method": 5, "id": 1}', "invalid_request"),
        (b'{"jsonrpc": "2.0", "method": "runner.list", "params": "x", "id": 1}', "invalid_request"),
        (b'{"jsonrpc": "2.0", "method": "runner.list", "id": {"a": 1}}', "invalid_request"),
        (b'{"jsonrpc": "2.0", "method": "no.such", "id": 1}', "method_not_found"),
    ],
)
def test_malformed_requests(api: Server, body: bytes, reason: str) -> None:
    status, answer = api.post(body)
    assert status == 200
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"]["code"] == code(reason)
    assert answer["error"]["data"]["reason"] == reason


@pytest.mark.parametrize(
    ("method", "params", "where"),
    [
        ("job.status", {"job_id": 5}, "job_id"),
        ("job.status", {}, "job_id"),
        ("job.status", {"job_id": "x", "extra": 1}, "extra"),
        ("job.run", {"job": {}, "wait_s": "soon"}, "wait_s"),
        ("job.create", {"job": "not an object"}, "job"),
        ("job.list", {"limit": 0}, "limit"),
        ("job.list", {"status": "sleeping"}, "status"),
        ("runner.register", {"runner_id": "a b", "runner_type": "python"}, "runner_id"),
        ("job.status", ["a", "b"], ""),
    ],
)
def test_bad_params(api: Server, method: str, params: Any, where: str) -> None:
    error = api.error(method, params)
    assert error["code"] == code("invalid_params")
    assert error["data"]["field"] == where


def test_positional_params(api: Server) -> None:
    assert api.error("job.status", ["nope"])["code"] == code("job_not_found")


def test_a_huge_declared_length_is_answered_without_reading(api: Server) -> None:
    port = int(api.url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n{")
        reply = b""
        while b"}}" not in reply and b"0\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["error"]["code"] == code("request_too_large")


def test_huge_body(api: Server) -> None:
    body = json.dumps({"jsonrpc": "2.0", "method": "job.create", "params": {"job": {"payload": "x" * (2 << 20)}}})
    status, answer = api.post(body.encode())
    assert status == 200
    assert answer["error"]["code"] == code("request_too_large")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_random_bytes_always_get_a_json_rpc_error(api: Server, body: bytes) -> None:
    status, answer = api.post(body)
    assert status == 200
    answers = answer if isinstance(answer, list) else [answer]
    for one in answers:
        assert one["jsonrpc"] == "2.0"
        assert isinstance(one["error"]["code"], int) and one["error"]["message"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
METHOD_NAMES = [
    *(f"job.{m}" for m in ("create", "run", "status", "result", "logs", "cancel", "list")),
    *(f"runner.{m}" for m in ("register", "remove", "list", "health")),
    *(f"key.{m}" for m in ("add", "remove", "list")),
    "token.revoke",
    "rpc.discover",
]
PARAM_NAMES = ["job", "wait_s", "job_id", "runner_id", "runner_type", "status", "limit", "cursor", "public_key"]
REQUESTS = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": st.sampled_from(METHOD_NAMES), "id": st.integers(0, 1000)},
    optional={"params": st.dictionaries(st.sampled_from(PARAM_NAMES), JSON, max_size=4) | st.lists(JSON, max_size=3)},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=REQUESTS)
def test_random_calls_never_fail_inside(api: Server, message: dict[str, Any]) -> None:
    """Whatever the params, a method answers a result or a documented error, never 'internal'."""
    status, answer = api.post(json.dumps(message).encode())
    assert status == 200
    assert answer["id"] == message["id"]
    if "error" in answer:
        assert answer["error"]["data"]["reason"] != "internal", answer
        assert answer["error"]["code"] == code(answer["error"]["data"]["reason"])


def test_batch(api: Server) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "runner.list", "id": "a"},
        {"jsonrpc": "2.0", "method": "job.status", "params": {"job_id": "nope"}, "id": 2},
        {"jsonrpc": "2.0", "method": "runner.list"},  # a notification: no answer
        5,
    ]
    status, answer = api.post(json.dumps(batch).encode())
    assert status == 200
    assert len(answer) == 3
    assert answer[0]["id"] == "a" and answer[0]["result"][0]["runner_id"] == "r1"
    assert answer[1]["id"] == 2 and answer[1]["error"]["code"] == code("job_not_found")
    assert answer[2]["id"] is None and answer[2]["error"]["code"] == code("invalid_request")


def test_only_notifications_get_no_body(api: Server) -> None:
    status, answer = api.post(b'[{"jsonrpc": "2.0", "method": "runner.list"}]')
    assert (status, answer) == (204, None)


# -- deployment -----------------------------------------------------------------------------------
def test_two_supervisors_share_one_redis(serve: Serve, key: SigningKey, start_worker: StartWorker) -> None:
    first, second = serve(), serve()
    first.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    second.call("key.add", {"public_key": public_hex(key)})
    job_id = first.call("job.create", {"job": signed(key, "add", 4, 4)})
    assert [j["job_id"] for j in second.call("job.list")["jobs"]] == [job_id]
    start_worker()
    assert second.call("job.run", {"job": signed(key, "add", 1, 2), "wait_s": WAIT})["value"] == 3
    assert first.call("job.status", {"job_id": job_id})["status"] in ("dispatched", "running", "completed")
    assert {r["runner_id"] for r in second.call("runner.list")} == {"r1"}


def test_openrpc_document(api: Server) -> None:
    document = api.call("rpc.discover")
    names = {method["name"] for method in document["methods"]}
    expected = {
        "rpc.discover",
        *(f"job.{m}" for m in ("create", "run", "status", "result", "logs", "cancel", "list")),
        *(f"runner.{m}" for m in ("register", "remove", "list", "health")),
        *(f"key.{m}" for m in ("add", "remove", "list")),
    }
    assert expected <= names
    run = next(method for method in document["methods"] if method["name"] == "job.run")
    assert [p["name"] for p in run["params"]] == ["job", "wait_s"]
    assert run["result"]["schema"] == {"$ref": "#/components/schemas/JobResult"}
    assert "JobResult" in document["components"]["schemas"]
    assert code("tampered") in {e["code"] for e in run["errors"]}
    with urllib.request.urlopen(api.url + "openrpc.json", timeout=10) as response:
        assert json.loads(response.read()) == document


def _free_port(family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def start_cli(redis_url: str, r: redis.Redis, namespace: str, tmp_path: Path) -> Iterator[Callable[..., int]]:
    """Start ``horus supervisor`` through the CLI; returns the port once it listens."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None, connect: str = "127.0.0.1", port: int = 0) -> int:
        if not port:
            port = _free_port()
            args = (*args, "--port", str(port))
        full_env = {**os.environ, "HORUS_ADMIN_TOKEN": ADMIN, "HORUS_REDIS_URL": redis_url, **(env or {})}
        log_path = tmp_path / f"supervisor-{len(procs)}.log"
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                horus_cmd("supervisor", "--namespace", namespace, *args),
                cwd=ROOT,
                env=full_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        procs.append(proc)
        deadline = time.monotonic() + WAIT * 2
        while True:
            try:
                socket.create_connection((connect, port), timeout=1).close()
                return port
            except OSError:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "supervisor did not listen"
                time.sleep(0.05)

    yield start
    for proc in procs:
        kill_tree(proc)


def test_cli_serves_on_the_port_from_the_environment(
    start_cli: Callable[..., int], redis_url: str, r: redis.Redis, namespace: str
) -> None:
    port = _free_port()
    env = {"PORT": str(port), "REDIS_URL": redis_url, "HORUS_REDIS_URL": "", "HORUS_PORT": ""}
    start_cli(env=env, port=port)
    server = Server(f"http://127.0.0.1:{port}/", None, namespace)  # type: ignore[arg-type]
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    assert r.hexists(Keys(namespace).supervisor_runners(), "r1")
    assert server.error("runner.list", token="wrong")["code"] == code("unauthenticated")


def test_cli_listens_on_ipv6(start_cli: Callable[..., int], namespace: str) -> None:
    try:
        port = _free_port(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    start_cli("--host", "::", "--port", str(port), connect="::1", port=port)
    server = Server(f"http://[::1]:{port}/", None, namespace)  # type: ignore[arg-type]
    assert server.call("rpc.discover", token=None)["openrpc"].startswith("1.2.")


def test_cli_serves_tls(start_cli: Callable[..., int], namespace: str, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    cert, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key_file),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    port = start_cli("--ssl-certfile", str(cert), "--ssl-keyfile", str(key_file))
    context = ssl.create_default_context(cafile=str(cert))
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/", data=b'{"jsonrpc": "2.0", "method": "rpc.discover", "id": 1}', method="POST"
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        assert json.loads(response.read())["result"]["openrpc"].startswith("1.2.")


# -- limits: batch length, response size, waiting --------------------------------------------
def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _pid_listening(port: int) -> int:
    """The pid of the ``horus supervisor`` started with ``--port PORT``."""
    wanted = f"\0--port\0{port}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"\0supervisor\0" in cmdline and wanted in cmdline + b"\0":
                return int(entry.name)
    raise AssertionError(f"no supervisor process on port {port}")


def _discover_batch(calls: int) -> bytes:
    """``calls`` rpc.discover calls (ids repeat, to fit 21,000 of them in 1 MiB)."""
    return (
        b"[" + b",".join(b'{"jsonrpc":"2.0","method":"rpc.discover","id":%d}' % (i % 100) for i in range(calls)) + b"]"
    )


def test_a_huge_batch_without_a_token_is_refused_whole(start_cli: Callable[..., int], namespace: str) -> None:
    port = start_cli()
    server = Server(f"http://127.0.0.1:{port}/", None, namespace)  # type: ignore[arg-type]
    pid = _pid_listening(port)
    assert server.call("rpc.discover", token=None)["openrpc"].startswith("1.2.")  # warm: imports, document
    before = _rss_kib(pid)
    body = _discover_batch(21_000)
    assert len(body) < 1 << 20
    request = urllib.request.Request(server.url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=120) as response:
        raw = response.read()
    assert len(raw) < 4096, f"a refused batch is answered with one small error, not {len(raw)} bytes"
    answer = json.loads(raw)
    assert answer["error"]["code"] == code("batch_too_large")
    assert answer["error"]["data"]["limit"] == 100
    assert "100 calls" in answer["error"]["message"]
    grown_mib = (_rss_kib(pid) - before) / 1024
    assert grown_mib < 200, f"the server grew by {grown_mib:.0f} MiB answering one refused batch"


def test_batch_length_is_configurable(serve: Serve) -> None:
    server = serve(max_batch=3)
    status, answers = server.post(_discover_batch(3), token=None)
    assert status == 200 and len(answers) == 3
    status, answer = server.post(_discover_batch(4), token=None)
    assert answer["error"]["data"] == {"reason": "batch_too_large", "field": "", "limit": 3}


def test_past_the_response_limit_later_calls_are_not_run(serve: Serve, key: SigningKey, r: redis.Redis) -> None:
    probe = serve()
    document_size = len(probe.supervisor.openrpc_bytes())
    server = serve(max_response_bytes=int(document_size * 2.5))
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key)})
    late = signed(key)
    calls = [{"jsonrpc": "2.0", "method": "rpc.discover", "id": i} for i in range(3)]
    calls.append({"jsonrpc": "2.0", "method": "job.create", "params": {"job": late}, "id": 3})
    status, answers = server.post(json.dumps(calls).encode())
    assert status == 200
    assert [answer["id"] for answer in answers] == [0, 1, 2, 3]
    assert answers[0]["result"] == answers[1]["result"] == server.supervisor.openrpc
    for answer, ran in ((answers[2], True), (answers[3], False)):
        assert answer["error"]["code"] == code("response_too_large")
        assert answer["error"]["data"]["ran"] is ran
    assert not r.exists(Keys(server.namespace).job_index(late["id"])), "a call past the limit must not run"


def _blocked_in_redis(r: redis.Redis, command: str) -> int:
    """Connections of this test's database blocked in ``command`` right now (on every master)."""
    return sum(1 for c in client_list(r) if c.get("cmd") == command)


def _until(condition: Callable[[], bool], what: str, deadline_s: float = WAIT) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


def test_waiting_calls_hold_no_thread(serve: Serve, key: SigningKey, r: redis.Redis) -> None:
    server = serve(threads=2)
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key)})
    job_id = server.call("job.create", {"job": signed(key)})  # queued: no worker serves r1
    waits = [_in_thread(lambda: server.call("job.result", {"job_id": job_id, "wait_s": WAIT * 2})) for _ in range(20)]
    _until(lambda: _blocked_in_redis(r, "blmove") >= 20, "20 waits with 2 threads: each wait must hold no thread")
    status, _ = _in_thread(lambda: server.call("job.status", {"job_id": job_id}))
    status.join(WAIT)
    assert not status.is_alive(), "job.status must be answered while 20 calls wait"
    server.call("job.cancel", {"job_id": job_id})
    for thread, out in waits:
        thread.join(WAIT)
        assert out and out[0]["status"] == "cancelled"


def test_the_waits_of_one_request_share_one_budget(serve: Serve, key: SigningKey) -> None:
    server = serve(settings=Settings(max_wait_s=1))
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key)})
    job_id = server.call("job.create", {"job": signed(key)})
    calls = [
        {"jsonrpc": "2.0", "method": "job.result", "params": {"job_id": job_id, "wait_s": 1}, "id": i}
        for i in range(100)
    ]
    # 100 waits of 1 s each would take 100 s; the request's waits together take 1 s.
    request = urllib.request.Request(server.url, data=json.dumps(calls).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {ADMIN}")
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        answers = json.loads(response.read())
    assert [answer["result"]["status"] for answer in answers] == ["dispatched"] * 100


def test_past_the_waiter_limit_waiting_calls_are_busy(serve: Serve, key: SigningKey, r: redis.Redis) -> None:
    server = serve(max_waiters=1)
    server.call("runner.register", {"runner_id": "r1", "runner_type": "python"})
    server.call("key.add", {"public_key": public_hex(key)})
    job_id = server.call("job.create", {"job": signed(key)})
    waiting, out = _in_thread(lambda: server.call("job.result", {"job_id": job_id, "wait_s": WAIT * 2}))
    _until(lambda: _blocked_in_redis(r, "blmove") >= 1, "the first wait did not start")
    assert server.error("job.result", {"job_id": job_id, "wait_s": 5})["code"] == code("busy")
    assert server.error("job.tail", {"job_id": job_id, "wait_s": 5})["code"] == code("busy")
    refused = signed(key)
    assert server.error("job.run", {"job": refused, "wait_s": 5})["code"] == code("busy")
    assert server.error("job.status", {"job_id": refused["id"]})["code"] == code("job_not_found")
    assert server.call("job.result", {"job_id": job_id})["status"] == "dispatched"  # no wait: served
    server.call("job.cancel", {"job_id": job_id})
    waiting.join(WAIT)
    assert out and out[0]["status"] == "cancelled"
    assert server.call("job.result", {"job_id": job_id, "wait_s": 5})["status"] == "cancelled"  # the slot is free
