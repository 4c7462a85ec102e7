"""What a worker refuses to run and what its jobs can reach: job dates, memory, credentials."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.models import Job, JobStatus
from horus.signing import sign_job
from tests.conftest import StartWorker, children_of
from tests.integration.test_worker import write_directly

WAIT = 30
TEN_YEARS_S = 10 * 365 * 86_400


def add_job(key: SigningKey, created_at: int) -> Job:
    payload = json.dumps({"task": "add", "args": [1, 1]})
    return sign_job(Job(runner_id="r1", payload=payload, created_at=created_at), key)


def sal_job(script: str, **fields: object) -> dict[str, object]:
    return {"runner_id": "sal1", "payload": script, **fields}


# -- job dates ----------------------------------------------------------------------------
def test_job_dated_years_ahead_is_refused(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis, key: SigningKey
) -> None:
    start_worker(concurrency=1)
    job = add_job(key, int(time.time()) + TEN_YEARS_S)
    write_directly(r, client, job)
    result = client.wait(job.id, WAIT)
    assert result.status == JobStatus.FAILED
    assert "rejected (stale)" in (result.error or "")
    assert "in the future; at most 60 s is allowed" in (result.error or "")
    # A job dated now still runs.
    assert client.run({"runner_id": "r1", "payload": json.dumps({"task": "add", "args": [2, 3]})}, WAIT).value == 5


@pytest.mark.parametrize("source", ["flag", "env", "toml"])
def test_max_job_age_from_flag_env_or_toml(
    client: RedisClient, start_worker: StartWorker, r: redis.Redis, key: SigningKey, tmp_path: Path, source: str
) -> None:
    toml = tmp_path / "worker.toml"
    toml.write_text("[worker]\nmax_job_age = 30\n")
    extra, env = {
        "flag": (["--max-job-age", "30"], {}),
        "env": ([], {"HORUS_MAX_JOB_AGE": "30"}),
        "toml": ([], {"HORUS_CONFIG": str(toml)}),
    }[source]
    start_worker("r1", *extra, concurrency=1, env=env)
    job = add_job(key, int(time.time()) - 100)  # well inside the default day
    write_directly(r, client, job)
    result = client.wait(job.id, WAIT)
    assert result.status == JobStatus.FAILED
    assert "rejected (stale)" in (result.error or "")
    assert "the freshness window is 30 s" in (result.error or "")


def test_bad_max_job_age_stops_the_worker_with_a_clear_error(start_worker: StartWorker) -> None:
    worker = start_worker("r1", concurrency=1, env={"HORUS_MAX_JOB_AGE": "a day"})
    assert worker.proc.wait(timeout=WAIT) != 0
    assert "max_job_age must be a whole number of seconds (1 or more), not 'a day'" in worker.log()


# -- memory -------------------------------------------------------------------------------
#: Builds distinct 16 MiB strings until something gives (each value stays under Rhai's own
#: per-string limit, so only the worker's memory limit can stop it).
HOG = 'let s = "x"; while s.len() < 16777216 { s += s; } let a = []; for i in 0..400 { a.push(s + i); } a.len()'


def test_job_past_the_memory_limit_fails_and_the_worker_goes_on(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker("sal1", "--max-job-memory", "256", runner_type="sal", concurrency=1)
    hog = client.run(sal_job('print("start");\n' + HOG), WAIT * 2)
    assert hog.status == JobStatus.FAILED
    assert hog.error == "out of memory: the job passed the worker's 256 MiB limit (--max-job-memory)"
    assert hog.output == "start"
    assert client.run(sal_job("[1, 2, 3].len()"), WAIT).value == 3
    assert worker.proc.poll() is None


def py_task(name: str, *args: object) -> dict[str, object]:
    return {"runner_id": "r1", "payload": json.dumps({"task": name, "args": list(args)})}


def test_a_child_is_replaced_after_a_job_runs_out_of_memory(client: RedisClient, start_worker: StartWorker) -> None:
    worker = start_worker("r1", "--max-job-memory", "256", concurrency=1)
    before = client.run(py_task("pid"), WAIT).value
    hog = client.run(py_task("big", 512 * 1_048_576), WAIT)
    assert (hog.status, hog.error) == (JobStatus.FAILED, "MemoryError")
    after = client.run(py_task("pid"), WAIT).value
    assert isinstance(after, int) and after != before, "the child that ran out of memory ran the next job"
    assert worker.proc.poll() is None
    assert f"job {hog.job_id} ran out of memory; this child takes no more jobs and is replaced" in worker.log()


def test_a_script_child_is_replaced_after_a_job_runs_out_of_memory(
    client: RedisClient, start_worker: StartWorker
) -> None:
    start_worker("sal1", "--max-job-memory", "256", runner_type="sal", concurrency=1)
    parent = 'process.run("echo $PPID").stdout'  # the shell's parent: the child running the script
    before = client.run(sal_job(parent), WAIT)
    assert before.status == JobStatus.COMPLETED, before.error
    hog = client.run(sal_job(HOG), WAIT * 2)
    assert hog.error == "out of memory: the job passed the worker's 256 MiB limit (--max-job-memory)"
    after = client.run(sal_job(parent), WAIT)
    assert after.status == JobStatus.COMPLETED, after.error
    assert str(after.value).strip() != str(before.value).strip()


def test_a_child_past_max_memory_per_child_is_replaced(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("r1", "--max-memory-per-child", "200", concurrency=1)
    small = client.run(py_task("hold", 1), WAIT).value
    assert client.run(py_task("pid"), WAIT).value == small  # under the threshold: the same child
    big = client.run(py_task("hold", 256), WAIT).value
    assert big == small
    assert client.run(py_task("pid"), WAIT).value != big


def test_script_runners_have_a_memory_limit_by_default(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("sal1", runner_type="sal", concurrency=1)
    # Commands a job starts inherit the limit (ulimit -d reports KiB).
    result = client.run(sal_job('process.run("ulimit -d").stdout'), WAIT)
    assert result.status == JobStatus.COMPLETED, result.error
    assert str(result.value).strip() == str(1024 * 1024)


# -- credentials ----------------------------------------------------------------------------
PROBE = """\
master=$(cut -d' ' -f4 /proc/$PPID/stat)
for pid in $PPID $master; do
  echo "== $pid"; tr '\\0' ' ' < /proc/$pid/cmdline; echo; tr '\\0' ' ' < /proc/$pid/environ; echo
done 2>&1
echo "== env"; env
"""
#: The script reads its own child's start-up memory too, as any sal job can through ``os``.
SNOOP = """\
let out = process.run(["sh", "PROBE"]).stdout;
for path in ["/proc/self/cmdline", "/proc/self/environ"] {
    out += "== " + path + "\\n" + os.read_file(path) + "\\n";
}
out
"""


@pytest.fixture
def redis_user(r: redis.Redis, redis_url: str) -> Iterator[tuple[str, str]]:
    """A Redis URL whose password the server checks (an ACL user of this test's own), and the password."""
    user, password = f"horus-guard-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    r.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    parts = urlsplit(redis_url)
    try:
        yield parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}").geturl(), password
    finally:
        r.execute_command("ACL", "DELUSER", user)


def test_a_job_sees_none_of_the_worker_credentials(
    client: RedisClient, start_worker: StartWorker, redis_user: tuple[str, str], tmp_path: Path
) -> None:
    url, password = redis_user
    token, admin = f"token-{uuid.uuid4().hex}", f"admin-{uuid.uuid4().hex}"
    probe = tmp_path / "probe.sh"
    probe.write_text(PROBE)
    worker = start_worker(
        "sal1",
        runner_type="sal",
        concurrency=1,
        url=url,
        env={"HORUS_TOKEN": token, "HORUS_ADMIN_TOKEN": admin, "REDIS_URL": url},
    )
    try:
        result = client.run(sal_job(SNOOP.replace("PROBE", str(probe)), env_vars={"STAGE": "prod"}), WAIT)
        assert result.status == JobStatus.COMPLETED, result.error
        seen = str(result.value)
        # The job did read the worker's command line and the environment it was given...
        assert seen.count("--trusted-key") == 3, seen
        assert "HORUS_JOB_ID=" in seen and "STAGE=prod" in seen
        # ...but no secret in any of it.
        for secret in (password, token, admin):
            assert secret not in seen
        # Nor can another process of the user read them (root still reads environ: masked).
        for pid in (worker.pid, *children_of(worker.pid)):
            assert password not in Path(f"/proc/{pid}/cmdline").read_text()
            if os.geteuid() == 0:
                assert password.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
            else:
                assert "Permission denied" in seen
                with pytest.raises(PermissionError):
                    Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        worker.stop()
    log = worker.log()
    assert "the Redis password came on the command line (--redis-url)" in log
    assert password not in log


def test_worker_children_are_not_dumpable_and_tasks_see_no_credentials(
    client: RedisClient, start_worker: StartWorker
) -> None:
    secret = f"token-{uuid.uuid4().hex}"
    start_worker(concurrency=1, env={"HORUS_TOKEN": secret, "REDIS_URL": "redis://:x@nowhere:1/0"})
    task = {"runner_id": "r1", "payload": json.dumps({"task": "dumpable"})}
    assert client.run(task, WAIT).value == 0
    names = ["HORUS_TOKEN", "REDIS_URL", "HORUS_REDIS_URL"]
    echo = {"runner_id": "r1", "payload": json.dumps({"task": "echo_env", "args": names})}
    assert client.run(echo, WAIT).value == dict.fromkeys(names)
