"""Real ``horus worker`` processes started through the CLI, on a real Redis."""

from __future__ import annotations

import json
import os
import select
import signal
from pathlib import Path

import pytest
import redis
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.models import Job, JobStatus
from horus.signing import generate_key, public_hex, sign_job
from tests.conftest import HERO_STANDIN, StartWorker, private_redis

WAIT = 30


def task(name: str, *args: object, **fields: object) -> dict[str, object]:
    return {"runner_id": "r1", "payload": json.dumps({"task": name, "args": list(args)}), **fields}


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie (killed, not yet reaped by init) counts as dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def follow_until(client: RedisClient, job_id: str, line: str) -> None:
    """Block on the job's log stream (no polling) until ``line`` appears."""
    for seen in client.logs(job_id, follow=True):
        if seen == line:
            return
    raise AssertionError(f"job {job_id} ended without printing {line!r}")


def test_python_task_completes(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("add", 2, 3), WAIT)
    assert result.status == JobStatus.COMPLETED
    assert (result.output, result.value, result.deliveries) == ("5", 5, 1)
    assert result.started_at is not None and result.completed_at is not None


def test_task_exception_fails_the_job(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("boom"), WAIT)
    assert result.status == JobStatus.FAILED
    assert "RuntimeError: task exploded" in (result.error or "")


def test_unknown_task(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("nope"), WAIT)
    assert result.status == JobStatus.FAILED
    assert "unknown task 'nope'" in (result.error or "")


def test_env_vars_reach_the_job_only(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1, env={"WORKER_SECRET": "s3cret"})
    with_env = client.run(task("echo_env", "GREETING", "WORKER_SECRET", env_vars={"GREETING": "hi"}), WAIT)
    assert with_env.value == {"GREETING": "hi", "WORKER_SECRET": "s3cret"}
    after = client.run(task("echo_env", "GREETING"), WAIT)
    assert after.value == {"GREETING": None}


def test_output_streams_to_log(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("shout", "one", "two", "three"), WAIT)
    assert result.value == 3
    assert list(client.logs(result.job_id)) == ["one", "two", "three"]


@pytest.mark.single_redis  # counts the connections to one server
def test_jobs_that_print_leave_no_redis_connection_behind(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis
) -> None:
    """Each printing job's log thread has a connection of its own: it is closed with the thread."""
    db = r.connection_pool.connection_kwargs.get("db", 0)
    start_worker(concurrency=1)

    def connections() -> int:
        return sum(1 for c in r.client_list() if int(c["db"]) == db)

    client.run(task("shout", "warm"), WAIT)
    before = connections()
    for n in range(20):
        assert client.run(task("shout", f"line {n}"), WAIT).value == 1
    assert connections() == before


def test_soft_timeout(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker()
    result = client.run(task("sleep", 30, True, timeout=1), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert "timed out after 1 s" in (result.error or "")
    assert (result.output, result.deliveries) == ("started", 1)
    assert result.started_at is not None


def test_hard_timeout_kills_a_stubborn_job(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker(concurrency=1)
    result = client.run(task("stubborn", 60, timeout=1), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert result.exit_code == -signal.SIGKILL
    # What it printed, when it started and how often it was delivered survive the kill.
    assert (result.output, result.deliveries) == ("started", 1)
    assert result.started_at is not None and result.completed_at is not None
    # The master replaced the killed child: the next job still runs.
    assert client.run(task("add", 1, 1), WAIT).value == 2
    assert worker.proc.poll() is None


def test_cancel_running_job(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1)
    job_id = client.submit(task("chatty", 4, 60))
    follow_until(client, job_id, "line 3")
    assert client.cancel(job_id) == "cancelling"
    result = client.wait(job_id, WAIT)
    assert result.status == JobStatus.CANCELLED
    assert result.output.splitlines() == ["line 0", "line 1", "line 2", "line 3"]
    assert result.deliveries == 1
    assert result.started_at is not None and result.completed_at is not None
    assert client.run(task("add", 1, 2), WAIT).value == 3


def test_cancel_queued_job(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1)
    blocker = client.submit(task("sleep", 60, True))
    follow_until(client, blocker, "started")
    queued = client.submit(task("add", 1, 2))
    assert client.cancel(queued) == "cancelled"
    assert client.broker.queue_length("r1") == 0
    client.cancel(blocker)
    assert client.wait(blocker, WAIT).status == JobStatus.CANCELLED
    assert client.result(queued).status == JobStatus.CANCELLED


# -- signatures at the runner ---------------------------------------------------------------
def write_directly(r: redis.Redis, client: RedisClient, job: Job) -> None:
    """Bypass every client check, as someone with write access to Redis could."""
    keys = client.broker.keys
    r.set(keys.job_index(job.id), job.runner_id)
    r.hset(keys.job(job.runner_id, job.id), mapping={"status": "dispatched"})
    r.set(keys.spec(job.runner_id, job.id), job.model_dump_json())
    r.lpush(keys.queue(job.runner_id), job.id)


def payload(name: str, *args: object) -> str:
    return json.dumps({"task": name, "args": list(args)})


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda key: Job(runner_id="r1", payload=payload("add", 1, 1)), "unsigned"),
        (lambda key: sign_job(Job(runner_id="r1", payload=payload("add", 1, 1)), generate_key()), "untrusted_key"),
        (
            lambda key: sign_job(Job(runner_id="r1", payload=payload("add", 1, 1)), key).model_copy(
                update={"payload": payload("add", 40, 2)}
            ),
            "tampered",
        ),
        (
            lambda key: sign_job(Job(runner_id="r1", payload=payload("add", 1, 1), created_at=1), key),
            "stale",
        ),
    ],
)
def test_unverified_job_written_into_redis_never_runs(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis, key: SigningKey, make: object, reason: str
) -> None:
    start_worker()
    job = make(key)  # type: ignore[operator]
    write_directly(r, client, job)
    result = client.wait(job.id, WAIT)
    assert result.status == JobStatus.FAILED
    assert f"rejected ({reason})" in (result.error or "")
    assert result.output == ""


def test_job_copied_under_another_id_is_refused(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis, key: SigningKey
) -> None:
    start_worker()
    original = sign_job(Job(runner_id="r1", payload=payload("add", 1, 1)), key)
    keys = client.broker.keys
    r.set(keys.job_index("copy"), "r1")
    r.hset(keys.job("r1", "copy"), mapping={"status": "dispatched"})
    r.set(keys.spec("r1", "copy"), original.model_dump_json())
    r.lpush(keys.queue("r1"), "copy")
    result = client.wait("copy", WAIT)
    assert result.status == JobStatus.FAILED
    assert "queued as 'copy'" in (result.error or "")


def test_key_not_allowed_for_this_runner(
    client: RedisClient, start_worker: StartWorker, key: SigningKey, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"keys": {public_hex(key): ["billing-*"]}}))
    start_worker("r1", "--trust-policy", str(policy), trusted=[])
    result = client.run(task("add", 1, 1), WAIT)
    assert result.status == JobStatus.FAILED
    assert "rejected (key_not_allowed)" in (result.error or "")


def test_threshold_of_two_signatures(
    redis_url: str, namespace: str, start_worker: StartWorker, key: SigningKey
) -> None:
    second = generate_key()
    start_worker("r1", "--signature-threshold", "2", trusted=[public_hex(key), public_hex(second)])
    with RedisClient(redis_url, namespace, key=key) as one:
        assert one.run(task("add", 1, 1), WAIT).status == JobStatus.FAILED
        both = sign_job(sign_job(Job.model_validate(task("add", 2, 2)), key), second)
        assert one.run(both, WAIT).value == 4


# -- hero ------------------------------------------------------------------------------------
def hero_job(script: str, **fields: object) -> dict[str, object]:
    return {"runner_id": "h1", "payload": script, **fields}


@pytest.fixture
def hero(start_worker: StartWorker) -> None:
    start_worker("h1", "--hero-bin", str(HERO_STANDIN), runner_type="hero")


@pytest.mark.usefixtures("hero")
def test_hero_runs_script_with_env(client: RedisClient) -> None:
    script = 'print("Hello from heroscript!")\nprint(env.MY_VAR)\n!!git.list'
    result = client.run(hero_job(script, env_vars={"MY_VAR": "from env"}), WAIT)
    assert result.status == JobStatus.COMPLETED
    assert result.output.splitlines() == ["Hello from heroscript!", "from env", "ran git.list"]
    assert result.exit_code == 0
    assert list(client.logs(result.job_id)) == result.output.splitlines()


@pytest.mark.usefixtures("hero")
def test_hero_nonzero_exit_fails_with_stderr(client: RedisClient) -> None:
    result = client.run(hero_job('print("partial")\n!!fail 7 disk is full'), WAIT)
    assert result.status == JobStatus.FAILED
    assert (result.exit_code, result.error, result.output) == (7, "disk is full", "partial\n")


@pytest.mark.usefixtures("hero")
def test_hero_timeout_kills_the_process_group(client: RedisClient, tmp_path: Path) -> None:
    """The result comes only once the job's processes are gone: one holding much memory takes
    a while to die after its SIGKILL."""
    pidfile, big = tmp_path / "grandchild.pid", tmp_path / "big.pid"
    script = f'!!spawn {pidfile}\n!!spawn_big {big} 256\nprint("ready")\n!!ignore_term\n!!sleep 60'
    result = client.run(hero_job(script, timeout=3), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert not alive(int(pidfile.read_text()))
    assert not alive(int(big.read_text()))
    assert result.output == "ready"


@pytest.mark.usefixtures("hero")
def test_hero_cancel_keeps_output_and_kills_the_process_group(client: RedisClient, tmp_path: Path) -> None:
    big = tmp_path / "big.pid"
    lines = ["one", "two", "three", "four"]
    script = f"!!spawn_big {big} 256\n" + "".join(f'print("{line}")\n' for line in lines) + "!!sleep 60"
    job_id = client.submit(hero_job(script))
    follow_until(client, job_id, "four")
    assert client.cancel(job_id) == "cancelling"
    result = client.wait(job_id, WAIT)
    assert result.status == JobStatus.CANCELLED
    assert not alive(int(big.read_text()))
    assert result.output.splitlines() == lines
    assert result.deliveries == 1 and result.started_at is not None


def test_hero_missing_binary(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("h1", "--hero-bin", "/nonexistent/hero", runner_type="hero")
    result = client.run(hero_job("!!git.list"), WAIT)
    assert result.status == JobStatus.FAILED
    assert "hero binary '/nonexistent/hero' not found" in (result.error or "")


# -- how jobs end -------------------------------------------------------------------------------
def test_huge_output_keeps_its_head_and_tail(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1)
    result = client.run(task("big", 3_000_000), WAIT)
    assert result.status == JobStatus.COMPLETED
    assert result.deliveries == 1
    head, _, tail = result.output.partition("…[")
    assert head.startswith('"<xxx') and tail.endswith('xxx>"')
    cut = int(tail.split(" bytes cut]…")[0])
    assert len(result.output.encode()) <= 1_048_576 < cut + 1_048_576
    assert result.value is None  # a value too large to keep is not stored


def test_max_output_flag_sets_the_cap(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("r1", "--max-output", "4096", concurrency=1)
    result = client.run(task("big", 10_000), WAIT)
    assert result.status == JobStatus.COMPLETED
    assert len(result.output.encode()) <= 4096
    assert "bytes cut]…" in result.output


def test_result_redis_refuses_fails_the_job_once(key: SigningKey, tmp_path: Path, start_worker: StartWorker) -> None:
    """A result Redis refuses ends its job as failed with Redis's reason; it never runs again."""
    with private_redis(tmp_path) as url:
        redis.Redis.from_url(url).config_set("proto-max-bulk-len", "1mb")
        worker = start_worker("r1", "--max-output", str(4 << 20), url=url, concurrency=1)
        with RedisClient(url, worker.namespace, key=key) as own:
            result = own.run(task("big", 1_500_000), WAIT)
            assert result.status == JobStatus.FAILED
            assert "is larger than Redis accepts (1048576 bytes, proto-max-bulk-len)" in (result.error or "")
            assert result.deliveries == 1
            assert own.run(task("add", 1, 2), WAIT).value == 3


def test_task_exiting_its_process_fails_only_its_job(client: RedisClient, start_worker: StartWorker) -> None:
    """3 is also what a child whose runner setup failed used to exit with: the worker lives on."""
    worker = start_worker(concurrency=1)
    for code in (3, 0):
        result = client.run(task("hard_exit", code), WAIT)
        assert result.status == JobStatus.FAILED
        assert result.error == f"the job ended its worker process (exit {code})"
        assert result.deliveries == 1 and result.started_at is not None
    assert client.run(task("add", 1, 1), WAIT).value == 2
    assert worker.proc.poll() is None


def test_sys_exit_in_a_task_fails_its_job(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker(concurrency=1)
    result = client.run(task("sys_exit", 2), WAIT)
    assert (result.status, result.error, result.deliveries) == (JobStatus.FAILED, "SystemExit: 2", 1)
    assert client.run(task("add", 1, 1), WAIT).value == 2
    assert worker.proc.poll() is None


# -- the engine --------------------------------------------------------------------------------
def test_children_recycle_after_max_jobs(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("r1", "--max-jobs-per-child", "2", concurrency=1)
    pids = [client.run(task("pid"), WAIT).value for _ in range(6)]
    assert len(set(pids)) == 3


def test_killed_child_is_replaced_and_its_job_rerun(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker(concurrency=1)
    child_pid = client.run(task("pid"), WAIT).value
    job_id = client.submit(task("sleep", 0.5, True))
    follow_until(client, job_id, "started")
    os.kill(child_pid, signal.SIGKILL)
    result = client.wait(job_id, WAIT)
    assert result.status == JobStatus.COMPLETED
    assert result.deliveries == 2


def test_warm_shutdown_finishes_running_jobs(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker(concurrency=1)
    job_id = client.submit(task("sleep", 1, True))
    follow_until(client, job_id, "started")
    assert worker.stop(signal.SIGTERM) == 0
    assert client.result(job_id).status == JobStatus.COMPLETED


def test_grace_period_over_returns_jobs_to_queue(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker("r1", "--grace", "0.5", concurrency=1)
    job_id = client.submit(task("sleep", 30, True))
    follow_until(client, job_id, "started")
    assert worker.stop(signal.SIGTERM) == 0
    assert client.result(job_id).status == JobStatus.DISPATCHED
    assert client.broker.queue_length("r1") == 1
    start_worker(concurrency=1)
    client.cancel(job_id)
    assert client.wait(job_id, WAIT).status == JobStatus.CANCELLED


def test_second_signal_is_a_cold_shutdown(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker(concurrency=1)
    job_id = client.submit(task("sleep", 60, True))
    follow_until(client, job_id, "started")
    worker.proc.send_signal(signal.SIGTERM)
    assert client.result(job_id).status == JobStatus.RUNNING  # warm: still running
    assert worker.stop(signal.SIGINT) == 0
    assert client.result(job_id).status == JobStatus.DISPATCHED
    assert client.broker.queue_length("r1") == 1


def test_sigquit_alone_is_a_cold_shutdown(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker(concurrency=1)
    job_id = client.submit(task("sleep", 60, True))
    follow_until(client, job_id, "started")
    assert worker.stop(signal.SIGQUIT) == 0  # at once: no grace period, no second signal
    assert client.result(job_id).status == JobStatus.DISPATCHED
    assert client.broker.queue_length("r1") == 1


def test_unknown_runner_type_lists_installed(start_worker: StartWorker) -> None:
    worker = start_worker(runner_type="nosuch")
    assert worker.proc.wait(30) == 2
    assert "unknown runner type 'nosuch'; installed types: hero, osiris, python, sal, tmux" in worker.log()


def test_worker_without_trusted_keys_refuses_to_start(start_worker: StartWorker) -> None:
    worker = start_worker(trusted=[])
    assert worker.proc.wait(30) == 2
    assert "no trusted keys" in worker.log()


@pytest.mark.slow
def test_sigkill_under_load_loses_no_job(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis, redis_url: str
) -> None:
    """Kill a whole worker (master and children) mid-load; another worker finishes every job."""
    victim = start_worker("r1", "--heartbeat-ttl", "1", concurrency=2)
    ids = client.submit_many(task("count", redis_url, "runs", str(n), 0.01) for n in range(300))
    client.wait(ids[20], WAIT)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.proc.wait()
    start_worker("r1", "--heartbeat-ttl", "1", concurrency=2)
    results = [client.wait(job_id, 60) for job_id in ids]
    assert all(res.status == JobStatus.COMPLETED for res in results)
    runs = r.hgetall("runs")
    assert set(runs) == {str(n) for n in range(300)}
    # At least once: only the jobs in flight at the kill may have run twice.
    assert sum(int(v) for v in runs.values()) <= 300 + 2
    assert r.llen(client.broker.keys.queue("r1")) == 0


@pytest.mark.slow
def test_sigkill_children_repeatedly_loses_no_job(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis, redis_url: str
) -> None:
    start_worker(concurrency=2)
    ids = client.submit_many(task("count", redis_url, "runs", str(n), 0.005) for n in range(200))
    for job_id in ids[10:100:15]:
        client.wait(job_id, WAIT)
        for pid in {res.value for res in [client.run(task("pid"), WAIT)]}:
            os.kill(pid, signal.SIGKILL)
    results = [client.wait(job_id, 60) for job_id in ids]
    assert all(res.status == JobStatus.COMPLETED for res in results)
    assert set(r.hgetall("runs")) == {str(n) for n in range(200)}


def test_results_expire(client: RedisClient, start_worker: StartWorker, r: redis.Redis) -> None:
    start_worker("r1", "--result-ttl", "60")
    result = client.run(task("add", 1, 1), WAIT)
    keys = client.broker.keys
    for key in (keys.job("r1", result.job_id), keys.spec("r1", result.job_id), keys.result("r1", result.job_id)):
        assert 0 < r.ttl(key) <= 60


@pytest.mark.slow
def test_no_child_outlives_a_killed_master(client: RedisClient, start_worker: StartWorker, namespace: str) -> None:
    """Children recycle after every job, so the master is always forking; SIGKILL it mid-stream
    several times: every process of that worker must end (none left consuming jobs)."""
    for _ in range(5):
        worker = start_worker("r1", "--max-jobs-per-child", "1", concurrency=2)
        ids = client.submit_many(task("add", n, n) for n in range(40))
        client.wait(ids[5], WAIT)
        os.kill(worker.pid, signal.SIGKILL)
        worker.proc.wait()
        for pid in worker_processes(namespace):
            fd = os.pidfd_open(pid)
            ready, _, _ = select.select([fd], [], [], 10)  # readable once that process has exited
            os.close(fd)
            assert ready, f"process {pid} outlived its master"
        client.broker.call("DEL", client.broker.keys.queue("r1"))


@pytest.mark.slow
def test_a_stop_signal_reaches_a_child_being_forked(client: RedisClient, start_worker: StartWorker) -> None:
    """Children recycle after every job, so a SIGTERM often lands while one is being forked; a
    child that missed it would idle until the grace period ended (120 s here)."""
    for _ in range(20):
        worker = start_worker("r1", "--max-jobs-per-child", "1", "--grace", "120", concurrency=2)
        ids = client.submit_many(task("add", n, n) for n in range(20))
        client.wait(ids[-1], WAIT)
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=60) == 0


def worker_processes(namespace: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if namespace.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
