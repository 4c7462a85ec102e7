"""horus.Client against a real supervisor, a real worker and a real Redis."""
# ruff: noqa: F811 - the supervisor fixtures are imported from its tests and used by name.

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from nacl.signing import SigningKey

from horus import Client
from horus.errors import ConnectionFailed, JobNotFound, JobRejected, WaitTimeout
from horus.models import JobStatus
from horus.sdk import SupervisorError
from horus.signing import generate_key, public_hex
from tests.conftest import ROOT, StartWorker, horus_cmd
from tests.integration.test_supervisor import ADMIN, Server, api, serve, start_cli  # noqa: F401

WAIT = 30


def job(task: str, *args: object, **fields: object) -> dict[str, object]:
    return {"runner_id": "r1", "payload": json.dumps({"task": task, "args": list(args)}), **fields}


def test_run_submit_result_status_logs(api: Server, key: SigningKey, start_worker: StartWorker) -> None:
    start_worker()
    with Client(api.url, token=ADMIN, key=key) as client:
        assert client.run(job("add", 2, 3), WAIT).value == 5
        job_id = client.submit(job("shout", "one", "two"))
        result = client.run(job("add", 1, 1), WAIT)  # by then the earlier job has run too (FIFO)
        assert result.value == 2
        assert client.result(job_id).status == JobStatus.COMPLETED
        assert client.status(job_id)["status"] == "completed"
        assert list(client.logs(job_id)) == ["one", "two"]
        assert client.cancel(job_id) == "completed"


def test_wait_and_follow_a_running_job(
    api: Server, key: SigningKey, start_worker: StartWorker, redis_url: str, r: redis.Redis
) -> None:
    start_worker()
    gate = f"gate-{uuid.uuid4().hex}"
    with Client(api.url, token=ADMIN, key=key) as client:
        job_id = client.submit(job("gated", redis_url, gate))
        follower = client.logs(job_id, follow=True)
        assert next(follower) == "before"  # yielded while the job is held mid-run
        with pytest.raises(WaitTimeout):
            client.wait(job_id, timeout_s=0.3)
        assert client.result(job_id, wait_s=0.2).status == JobStatus.RUNNING
        r.rpush(gate, "go")
        assert list(follower) == ["after"]  # and the iterator ends with the job
        assert client.wait(job_id, timeout_s=WAIT).value == "done"
        assert client.result(job_id, wait_s=5).status == JobStatus.COMPLETED
        with pytest.raises(JobNotFound):
            list(client.logs("no-such-job", follow=True))


def test_refusals_raise_the_same_errors_as_a_direct_submit(api: Server, key: SigningKey) -> None:
    with Client(api.url, token=ADMIN, key=generate_key()) as stranger:
        with pytest.raises(JobRejected) as refused:
            stranger.submit(job("add", 1, 1))
        assert (refused.value.code, refused.value.field) == ("untrusted_key", "signatures[0].public_key")
    with Client(api.url, token=ADMIN, key=key) as client:
        with pytest.raises(JobRejected) as unknown:
            client.submit({**job("add", 1, 1), "runner_id": "nobody"})
        assert unknown.value.code == "unknown_runner"
        with pytest.raises(JobNotFound):
            client.result("no-such-job")


def test_authentication_and_reachability(api: Server, key: SigningKey) -> None:
    with Client(api.url, token="wrong", key=key) as client, pytest.raises(SupervisorError) as info:
        client.submit(job("add", 1, 1))
    assert info.value.reason == "unauthenticated"
    with pytest.raises(ConnectionFailed):
        Client("http://127.0.0.1:1/", token=ADMIN).runners()
    with pytest.raises(ConnectionFailed):
        Client("ftp://example")


@pytest.mark.parametrize("role", ["admin", "user"])
def test_cli_through_the_supervisor(
    api: Server, key: SigningKey, key_file: Path, start_worker: StartWorker, tmp_path: Path, role: str
) -> None:
    start_worker()
    token = ADMIN if role == "admin" else api.call("token.create", {"name": "cli", "role": "user"})["token"]
    env = {
        **os.environ,
        "HORUS_SUPERVISOR_URL": api.url,
        "HORUS_TOKEN": token,
        "HORUS_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job("shout", "hi")))

    def horus(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(horus_cmd(*args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)

    done = horus("submit", str(path), "--key", str(key_file), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["value"]) == ("completed", 1)
    job_id = result["job_id"]
    assert json.loads(horus("status", job_id, "--json").stdout)["status"] == "completed"
    assert json.loads(horus("result", job_id, "--json").stdout)["output"] == "1"
    assert horus("logs", job_id).stdout == "hi\n"
    assert horus("cancel", job_id).stdout.strip() == "completed"
    runners = json.loads(horus("runners", "--json").stdout)
    assert [(r["runner_id"], r["alive"]) for r in runners] == [("r1", True)]
    assert horus("logs", "-f", job_id).stdout == "hi\n"
    waited = horus("result", job_id, "--wait", "--wait-timeout", "5", "--json")
    assert json.loads(waited.stdout)["status"] == "completed"
    # Another user's token: the job is not found, as if it did not exist.
    env["HORUS_TOKEN"] = api.call("token.create", {"name": "someone-else", "role": "user"})["token"]
    for command in (["status", job_id], ["result", job_id], ["logs", job_id], ["cancel", job_id]):
        hidden = horus(*command)
        assert (hidden.returncode, hidden.stdout) == (2, ""), hidden
        assert "not found" in hidden.stderr


def test_sdk_with_user_tokens(api: Server, key: SigningKey) -> None:
    alice = api.call("token.create", {"name": "alice", "role": "user"})["token"]
    bob = api.call("token.create", {"name": "bob", "role": "user"})["token"]
    with Client(api.url, token=alice, key=key) as mine, Client(api.url, token=bob, key=key) as theirs:
        job_id = mine.submit(job("add", 1, 1))
        assert mine.status(job_id)["owner"] == "token:alice"
        assert [j["job_id"] for j in mine.jobs()["jobs"]] == [job_id]
        assert theirs.jobs()["jobs"] == []
        for lookup in (theirs.status, theirs.result, theirs.cancel, theirs.delete, lambda i: list(theirs.logs(i))):
            with pytest.raises(JobNotFound):
                lookup(job_id)
        assert mine.cancel(job_id) == "cancelled"
        mine.delete(job_id)
        with pytest.raises(JobNotFound):
            mine.status(job_id)


def test_runners_needs_a_supervisor() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HORUS_SUPERVISOR_URL"}
    done = subprocess.run(horus_cmd("runners"), capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 2
    assert "supervisor" in done.stderr


def test_delete_through_the_supervisor(api: Server, key: SigningKey) -> None:
    from horus.errors import JobActive

    with Client(api.url, token=ADMIN, key=key) as client:
        job_id = client.submit(job("add", 1, 1))
        with pytest.raises(JobActive):
            client.delete(job_id)
        client.cancel(job_id)
        client.delete(job_id)
        with pytest.raises(JobNotFound):
            client.status(job_id)


def test_two_supervisor_processes_serve_the_same_jobs(
    start_cli: Callable[..., int], key: SigningKey, start_worker: StartWorker
) -> None:
    start_worker()
    first, second = (Client(f"http://127.0.0.1:{start_cli()}/", token=ADMIN, key=key) for _ in range(2))
    with first, second:
        first.register_runner("r1", "python")
        second.add_key(public_hex(key))
        job_id = first.submit(job("add", 20, 22))
        assert second.run(job("add", 1, 1), WAIT).value == 2
        assert second.result(job_id).value == 42
        assert {j["job_id"] for j in second.jobs()["jobs"]} >= {job_id}
        assert [r["runner_id"] for r in first.runners()] == ["r1"]


def test_async_client_waits_for_many_jobs_at_once(
    api: Server, key: SigningKey, start_worker: StartWorker, redis_url: str, r: redis.Redis
) -> None:
    from horus import AsyncClient

    start_worker()
    gate = f"gate-{uuid.uuid4().hex}"

    def pool_threads() -> int:
        """The event loop's executor threads (asyncio.to_thread's), not the in-process server's."""
        return sum(thread.name.startswith("asyncio") for thread in threading.enumerate())

    async def scenario() -> tuple[list[int], list[str], list[int]]:
        threads = [pool_threads()]
        async with AsyncClient(api.url, token=ADMIN, key=key) as client:
            held = await client.submit(job("gated", redis_url, gate))
            lines: list[str] = []

            async def follow() -> None:
                async for line in client.logs(held, follow=True):
                    lines.append(line)
                    if line == "before":
                        threads.append(pool_threads())  # while the waits are in flight
                        r.rpush(gate, "go")  # released only once the follower has seen it live

            ids = await asyncio.gather(*(client.submit(job("add", n, n)) for n in range(5)))
            results = await asyncio.gather(*(client.wait(job_id, WAIT) for job_id in ids), follow())
            return [result.value for result in results[:5]], lines, threads

    values, lines, threads = asyncio.run(scenario())
    assert values == [0, 2, 4, 6, 8]
    assert lines == ["before", "after"]
    assert threads == [0, 0]  # the calls hold no thread
