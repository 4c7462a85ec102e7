"""What a new user meets first: the ``horus`` command run as a subprocess, on a real Redis,
with real workers and, where it goes through one, a real ``horus supervisor``."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from horus.keys import Keys
from tests.conftest import ROOT, StartWorker, horus_cmd, kill_tree

WAIT = 60
ADMIN = "first-contact-admin-token"


def env_for(redis_url: str, namespace: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORUS_") or k == "HORUS_TEST_REDIS_URL"}
    return {**env, "HORUS_REDIS_URL": redis_url, "HORUS_NAMESPACE": namespace, **extra}


def horus(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(horus_cmd(*args), capture_output=True, text=True, cwd=cwd, env=env, timeout=WAIT)


def write_job(tmp_path: Path, runner_id: str = "r1", task: str = "add", *args: object) -> Path:
    path = tmp_path / f"job-{runner_id}-{task}.json"
    payload = json.dumps(
        {"task": task, "args": list(args) if args else [2, 3]} if task == "add" else {"task": task, "args": list(args)}
    )
    path.write_text(json.dumps({"runner_id": runner_id, "payload": payload}))
    return path


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def serving(r: redis.Redis, namespace: str, runner_id: str) -> bool:
    return bool(r.zcard(Keys(namespace).workers(runner_id)))


# -- a job nobody serves ------------------------------------------------------------------------
def test_unserved_runner_warns_and_the_wait_reports_its_real_length(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    env = env_for(redis_url, namespace)
    plain = horus("submit", str(write_job(tmp_path, "nobody")), "--key", str(key_file), env=env)
    assert plain.returncode == 0, plain.stderr
    assert f"warning: no worker serves runner 'nobody' in namespace '{namespace}'" in plain.stderr
    assert len(plain.stdout.strip().splitlines()[-1]) == 32  # the id, last on stdout as documented
    started = time.monotonic()
    waited = horus(
        "submit", str(write_job(tmp_path, "nobody")), "--key", str(key_file), "--wait", "--wait-timeout", "1.5", env=env
    )
    elapsed = time.monotonic() - started
    assert waited.returncode == 1
    job_id = re.search(r"job (\w{32}) submitted", waited.stderr)
    assert job_id, waited.stderr
    shown = re.search(
        rf"job {job_id[1]} is still dispatched after (\d+\.\d) s; follow it with `horus result --wait {job_id[1]}`",
        waited.stderr,
    )
    assert shown, waited.stderr
    assert 1.5 <= float(shown[1]) <= elapsed + 0.1


def test_ctrl_c_during_a_wait_names_the_job(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    cmd = horus_cmd("submit", str(write_job(tmp_path, "nobody")), "--key", str(key_file), "--wait")
    # As a terminal would start it: a suite run in the background inherits SIGINT ignored.
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env_for(redis_url, namespace),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as proc:
        try:
            assert proc.stderr is not None
            first = proc.stderr.readline()
            job_id = re.search(r"job (\w{32}) submitted", first)
            assert job_id, first
            assert "warning: no worker serves runner 'nobody'" in proc.stderr.readline()
            proc.send_signal(signal.SIGINT)
            rest = proc.stderr.read()
            assert proc.wait(WAIT) == 130
        finally:
            proc.kill()  # a failed check must not leave the context's wait() blocking forever
    assert f"job {job_id[1]} is still dispatched; follow it with `horus result --wait {job_id[1]}`" in rest, rest
    assert "Traceback" not in rest


def test_no_warning_when_a_worker_serves_the_runner(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis, start_worker: StartWorker
) -> None:
    worker = start_worker()
    wait_until(lambda: serving(r, namespace, "r1"), "the worker's heartbeat")
    done = horus(
        "submit",
        str(write_job(tmp_path)),
        "--key",
        str(key_file),
        "--wait",
        "--json",
        env=env_for(redis_url, namespace),
    )
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    assert json.loads(done.stdout)["output"] == "5"
    wait_until(lambda: f"namespace '{namespace}'" in worker.log(), "the worker's start-up line")
    assert f"worker on Redis {redis_url}, namespace '{namespace}'" in worker.log()


# -- one runner type per runner id ----------------------------------------------------------
def test_a_worker_of_another_type_refuses_a_served_runner_id(
    redis_url: str, namespace: str, r: redis.Redis, start_worker: StartWorker, key_file: Path
) -> None:
    start_worker("r1")
    wait_until(lambda: serving(r, namespace, "r1"), "the python worker's heartbeat")
    public = horus("keys", "public", "--key", str(key_file), env=env_for(redis_url, namespace)).stdout.strip()
    refused = horus("worker", "r1", "--type", "sal", "--trusted-key", public, env=env_for(redis_url, namespace))
    assert refused.returncode == 2, refused.stderr
    assert "runner 'r1' is served by live python worker(s)" in refused.stderr
    assert "another runner id" in refused.stderr


def test_a_dead_workers_type_does_not_count(
    redis_url: str, namespace: str, r: redis.Redis, start_worker: StartWorker
) -> None:
    first = start_worker("r1", "--heartbeat-ttl", "1")
    wait_until(lambda: serving(r, namespace, "r1"), "the python worker's heartbeat")
    kill_tree(first.proc)
    keys = Keys(namespace)
    # Dead once every heartbeat deadline (Redis clock) has passed.
    wait_until(
        lambda: not r.zrangebyscore(keys.workers("r1"), f"({int(r.time()[0] * 1000 + r.time()[1] // 1000)}", "+inf"),
        "the dead worker's deadline",
    )
    second = start_worker("r1", runner_type="sal")
    wait_until(lambda: "children of type 'sal'" in second.log(), "the sal worker's start")


# -- key files -------------------------------------------------------------------------------
def test_public_key_as_key_and_secret_key_as_trusted_key_are_refused(
    tmp_path: Path, redis_url: str, namespace: str
) -> None:
    env = env_for(redis_url, namespace)
    secret, public = tmp_path / "client.key", tmp_path / "client.pub"
    done = horus("keys", "generate", "--out", str(secret), env=env)
    public.write_text(done.stdout)  # what `horus keys generate --out client.key > client.pub` leaves
    public.chmod(0o644)
    assert horus("keys", "public", "--out", str(secret), env=env).stdout == done.stdout  # both option names
    signed = horus("sign", str(write_job(tmp_path)), "--key", str(public), env=env)
    assert signed.returncode == 2
    assert "a public key" in signed.stderr and "not a secret key file" in signed.stderr
    for given in (str(secret), secret.read_text()):
        worker = horus("worker", "r1", "--app", "tests.fixtures.tasks", "--trusted-key", given, env=env)
        assert worker.returncode == 2
        assert "is a secret key file, not a public key" in worker.stderr
        assert secret.read_text().splitlines()[-1] not in worker.stderr  # never echoes the secret


def test_unknown_setting_in_horus_toml_is_refused(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str
) -> None:
    (tmp_path / "horus.toml").write_text('namespace = "x"\n[worker]\ntrusted_key = ["ab"]\n')
    done = horus(
        "submit", str(write_job(tmp_path)), "--key", str(key_file), env=env_for(redis_url, namespace), cwd=tmp_path
    )
    assert done.returncode == 2
    assert "unknown setting 'trusted_key' in [worker] of horus.toml (known there: " in done.stderr
    assert "trusted_keys" in done.stderr.partition("known there:")[2]


# -- help and terminal output --------------------------------------------------------------
def test_help_is_plain_text() -> None:
    env = {**os.environ}
    for command in (["submit"], ["worker"], ["result"], ["logs"], ["keys", "public"], ["runners"]):
        shown = horus(*command, "--help", env=env).stdout
        assert "<bool>" not in shown and "``" not in shown, shown
    assert "[env: HORUS_KEY_FILE]" in horus("submit", "--help", env=env).stdout


def run_in_pty(argv: list[str], env: dict[str, str]) -> bytes:
    leader, follower = pty.openpty()
    with subprocess.Popen(argv, stdout=follower, stderr=follower, cwd=ROOT, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            ready, _, _ = select.select([leader], [], [], WAIT)
            assert ready, "no output from the command on the terminal"
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the command exited and closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(WAIT) == 0
    os.close(leader)
    return b"".join(chunks)


def test_job_output_control_characters_are_escaped_on_a_terminal(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis, start_worker: StartWorker
) -> None:
    start_worker()
    env = env_for(redis_url, namespace)
    path = tmp_path / "clear.json"
    path.write_text(json.dumps({"runner_id": "r1", "payload": json.dumps({"task": "shout", "args": ["a\x1b[2Jb"]})}))
    done = horus("submit", str(path), "--key", str(key_file), "--wait", "--json", env=env)
    job_id = json.loads(done.stdout)["job_id"]
    piped = subprocess.run(horus_cmd("logs", job_id), capture_output=True, cwd=ROOT, env=env, timeout=WAIT)
    assert piped.stdout == b"a\x1b[2Jb\n"  # piped or redirected: the job's bytes as it wrote them
    shown = run_in_pty(horus_cmd("logs", job_id), env)
    assert b"\x1b[2J" not in shown and b"a\\x1b[2Jb" in shown


# -- the README's supervisor walk-through, as written ----------------------------------------
def readme_block(heading: str, language: str, after: str = "") -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    section = section[section.index(after) :] if after else section
    start = section.index(f"```{language}\n") + len(language) + 4
    return section[start : section.index("```", start)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def walkthrough(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_readme_supervisor_walkthrough_works_as_written(
    tmp_path: Path, redis_url: str, namespace: str, r: redis.Redis, walkthrough: list[subprocess.Popen[bytes]]
) -> None:
    (tmp_path / "tasks.py").write_text(readme_block("## Using it", "python"))
    (tmp_path / "job.json").write_text(readme_block("## Using it", "json"))
    steps = readme_block("### Through the supervisor", "sh").replace("8080", str(free_port()))
    assert "horus keys add" in steps and "horus runners register" in steps
    env = env_for(redis_url, namespace, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    out = tmp_path / "walkthrough.log"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            ["bash", "-e", "-c", steps],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    walkthrough.append(proc)
    assert proc.wait(WAIT * 2) == 0, out.read_text()
    shown = out.read_text()
    assert re.search(r"output\s+5", shown), shown
    assert re.search(r"runner1\s+│\s+python\s+│\s+yes", shown), shown


def start_supervisor(
    tmp_path: Path, redis_url: str, namespace: str, started: list[subprocess.Popen[bytes]]
) -> dict[str, str]:
    """A real ``horus supervisor``; returns the environment a client needs to reach it."""
    port = free_port()
    env = env_for(redis_url, namespace, HORUS_ADMIN_TOKEN=ADMIN)
    with (tmp_path / "supervisor.log").open("wb") as log:
        proc = subprocess.Popen(
            horus_cmd("supervisor", "--port", str(port)),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started.append(proc)

    def listening() -> bool:
        assert proc.poll() is None, (tmp_path / "supervisor.log").read_text()
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        return False

    wait_until(listening, "the supervisor to listen")
    assert f"supervisor on Redis {redis_url}, namespace '{namespace}'" in (tmp_path / "supervisor.log").read_text()
    return {**env, "HORUS_SUPERVISOR_URL": f"http://127.0.0.1:{port}/", "HORUS_TOKEN": ADMIN}


def test_through_the_supervisor_refusals_name_the_fix_and_an_unserved_wait_reports_its_length(
    tmp_path: Path,
    key_file: Path,
    redis_url: str,
    namespace: str,
    r: redis.Redis,
    walkthrough: list[subprocess.Popen[bytes]],
) -> None:
    env = start_supervisor(tmp_path, redis_url, namespace, walkthrough)
    job = str(write_job(tmp_path, "nobody"))
    public = horus("keys", "public", "--key", str(key_file), env=env).stdout.strip()
    untrusted = horus("submit", job, "--key", str(key_file), env=env)
    assert untrusted.returncode == 2
    assert f"add it with `horus keys add {public}`" in untrusted.stderr
    added = horus("keys", "add", public, "--runner", "nobody", env=env)
    assert added.returncode == 0, added.stderr
    assert json.loads(horus("keys", "list", "--json", env=env).stdout)[0]["runners"] == ["nobody"]
    unknown = horus("submit", job, "--key", str(key_file), env=env)
    assert "register it with `horus runners register nobody --type TYPE`" in unknown.stderr
    assert horus("runners", "register", "nobody", "--type", "python", env=env).returncode == 0
    assert [h["runner_id"] for h in json.loads(horus("runners", "--json", env=env).stdout)] == ["nobody"]
    waited = horus("submit", job, "--key", str(key_file), "--wait", "--wait-timeout", "1.5", env=env)
    assert waited.returncode == 1, waited.stderr
    assert "warning: no worker serves runner 'nobody' at the supervisor" in waited.stderr
    shown = re.search(
        r"is still dispatched after (\d+\.\d) s; follow it with `horus result --wait \w{32}`", waited.stderr
    )
    assert shown and float(shown[1]) >= 1.5, waited.stderr
    assert horus("runners", "remove", "nobody", env=env).returncode == 0
    assert horus("keys", "remove", public, env=env).returncode == 0
    assert json.loads(horus("keys", "list", "--json", env=env).stdout) == []


def test_a_failed_python_task_logs_its_traceback(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis, start_worker: StartWorker
) -> None:
    worker = start_worker()
    done = horus(
        "submit",
        str(write_job(tmp_path, "r1", "boom")),
        "--key",
        str(key_file),
        "--wait",
        "--json",
        env=env_for(redis_url, namespace),
    )
    result = json.loads(done.stdout)
    assert result["status"] == "failed"
    wait_until(lambda: "Traceback" in worker.log(), "the traceback in the worker log")
    # One record: the failure's summary, then the task's traceback (as its result has it).
    assert f"job {result['job_id']} raised RuntimeError: task exploded\n{result['traceback']}\n" in worker.log()
    assert ", in boom\n" in result["traceback"]


def test_a_coordinator_without_tokens_warns_at_start(
    tmp_path: Path, redis_url: str, namespace: str, r: redis.Redis, walkthrough: list[subprocess.Popen[bytes]]
) -> None:
    log_path = tmp_path / "coordinator.log"
    argv = horus_cmd("coordinator", "--port", str(free_port()), "--supervisor", "http://127.0.0.1:1/")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env_for(redis_url, namespace),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    walkthrough.append(proc)
    wait_until(lambda: "coordinator on Redis" in log_path.read_text(), "the coordinator's start-up line")
    shown = log_path.read_text()
    assert "WARNING horus.coordinator: no HORUS_TOKEN" in shown
    assert f"coordinator on Redis {redis_url}, namespace '{namespace}'" in shown
