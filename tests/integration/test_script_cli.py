"""Scripts from files on the command line: ``horus submit --runner R --payload-file FILE`` for every
runner type, and ``horus rhai run FILE --sal|--osiris`` running a script as a worker would."""
# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import redis

from horus.client import RedisClient
from horus.osiris import Store
from tests.conftest import HERO_STANDIN, StartWorker
from tests.integration.coordinator_fixtures import ADMIN, Stack, serve, stack  # noqa: F401
from tests.integration.test_cli import horus

SAL_SCRIPT = """\
let stage = env.get("STAGE", "dev");
print(`deploying to ${stage}`);
os.write_file("note.txt", `stage ${stage}`);
#{stage: stage, note: os.read_file("note.txt"), timeout_env: env.names()}
"""

OSIRIS_SCRIPT = """\
osiris.define("users", #{ unique: ["email"] });
let users = osiris.model("users");
let alice = users.create(#{ name: "Alice", email: "alice@example.com" });
print(`created ${alice.name}`);
users.count()
"""

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def last_json(stdout: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return result


def submit_script(
    key_file: Path, redis_url: str, namespace: str, runner: str, script: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``horus submit --runner RUNNER --payload-file SCRIPT EXTRA... --key ... --wait --json``."""
    return horus(
        "submit",
        "--runner",
        runner,
        "--payload-file",
        script,
        *extra,
        "--key",
        str(key_file),
        "--wait",
        "--json",
        redis_url=redis_url,
        namespace=namespace,
    )


# -- horus submit --runner --payload-file ------------------------------------------------------
def test_submit_sal_script_file_and_wait(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    workdir = tmp_path / "jobs"
    workdir.mkdir()
    start_worker("scripts1", "--root", str(workdir), runner_type="sal")
    script = write(tmp_path, "deploy.rhai", SAL_SCRIPT)
    done = submit_script(
        key_file, redis_url, namespace, "scripts1", str(script), "--env", "STAGE=prod", "--timeout", "30"
    )
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert (result["status"], result["output"]) == ("completed", "deploying to prod")
    assert result["value"] == {
        "stage": "prod",
        "note": "stage prod",
        "timeout_env": ["HORUS_JOB_ID", "HORUS_RUNNER_ID", "STAGE"],
    }
    assert (workdir / "note.txt").read_text() == "stage prod"  # the worker's --root
    with RedisClient(redis_url, namespace) as client:
        job = client.job(str(result["job_id"]))
    assert (job.runner_id, job.payload, job.timeout, job.env_vars) == ("scripts1", SAL_SCRIPT, 30, {"STAGE": "prod"})
    assert job.signatures


def test_submit_sal_script_error_names_the_line(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    start_worker("scripts1", runner_type="sal")
    script = write(tmp_path, "broken.rhai", 'print("one");\nlet x = nope + 1;\n')
    done = submit_script(key_file, redis_url, namespace, "scripts1", str(script))
    assert done.returncode == 1, done.stderr
    result = last_json(done.stdout)
    assert (result["status"], result["output"]) == ("failed", "one")
    assert "nope" in str(result["error"]) and "(line 2, position " in str(result["error"])


def test_submit_osiris_script_file(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    start_worker("notes1", runner_type="osiris")
    script = write(tmp_path, "users.rhai", OSIRIS_SCRIPT)
    done = submit_script(key_file, redis_url, namespace, "notes1", str(script))
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert (result["status"], result["output"], result["value"]) == ("completed", "created Alice", 1)
    with Store(redis_url, namespace=namespace) as store:
        assert [user["name"] for user in store.model("users").list()] == ["Alice"]


def test_submit_python_task_payload_file_as_is(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    start_worker("py1")
    payload = '{"task": "echo_env", "args": ["GREETING"]}\n'
    done = horus(
        "submit",
        "--runner",
        "py1",
        "--payload-file",
        str(write(tmp_path, "call.json", payload)),
        "--env",
        "GREETING=hello",
        "--key",
        str(key_file),
        "--wait",
        "--json",
        "--priority",
        "5",
        "--retries",
        "1",
        "--traceparent",
        TRACEPARENT,
        redis_url=redis_url,
        namespace=namespace,
    )
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert (result["status"], result["value"]) == ("completed", {"GREETING": "hello"})
    with RedisClient(redis_url, namespace) as client:
        job = client.job(str(result["job_id"]))
    assert (job.payload, job.priority, job.retries, job.traceparent) == (payload, 5, 1, TRACEPARENT)


def test_submit_heroscript_payload_file(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    start_worker("hero1", "--hero-bin", str(HERO_STANDIN), runner_type="hero")
    script = write(tmp_path, "setup.hero", "!!deploy\nprint(env.TARGET)\n")
    done = submit_script(key_file, redis_url, namespace, "hero1", str(script), "--env", "TARGET=staging")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert (result["status"], result["output"]) == ("completed", "ran deploy\nstaging\n")


def test_submit_payload_file_with_delay_prints_the_id(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    done = horus(
        "submit",
        "--runner",
        "later1",
        "--payload-file",
        str(write(tmp_path, "later.rhai", "40 + 2\n")),
        "--delay",
        "3600",
        "--key",
        str(key_file),
        redis_url=redis_url,
        namespace=namespace,
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    info = json.loads(horus("status", job_id, "--json", redis_url=redis_url, namespace=namespace).stdout)
    assert (info["status"], info["runner_id"]) == ("scheduled", "later1")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["JOB", "--payload-file", "SCRIPT", "--runner", "r1"], "not both"),
        (["--payload-file", "SCRIPT"], "--payload-file needs --runner"),
        (["--runner", "r1"], "--runner needs --payload-file"),
        ([], "nothing to submit"),
        (["JOB", "--timeout", "5"], "--timeout applies only with --payload-file"),
        (["JOB", "--env", "A=1"], "--env applies only with --payload-file"),
        (["--runner", "r1", "--payload-file", "SCRIPT", "--env", "NOEQUALS"], "must look like NAME=VALUE"),
        (["--runner", "r1", "--payload-file", "SCRIPT", "--env", "1A=x"], "not a valid variable name"),
        (["--runner", "r1", "--payload-file", "SCRIPT", "--env", "A=1", "--env", "A=2"], "given twice"),
        (["--runner", "r1", "--payload-file", "SCRIPT", "--timeout", "0"], "--timeout must be 1 to 86400"),
        (["--runner", "r1", "--payload-file", "MISSING"], "cannot read payload file"),
        (["--runner", "r1", "--payload-file", "EMPTY"], "payload"),
        (["--runner", "bad id", "--payload-file", "SCRIPT"], "runner_id"),
    ],
)
def test_submit_payload_file_refusals(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis, args: list[str], needle: str
) -> None:
    files = {
        "JOB": write(tmp_path, "job.json", json.dumps({"runner_id": "r1", "payload": "1"})),
        "SCRIPT": write(tmp_path, "s.rhai", "1\n"),
        "EMPTY": write(tmp_path, "empty.rhai", ""),
        "MISSING": tmp_path / "missing.rhai",
    }
    argv = [str(files[arg]) if arg in files else arg for arg in args]
    done = horus("submit", *argv, "--key", str(key_file), redis_url=redis_url, namespace=namespace)
    assert done.returncode == 2, done.stdout
    assert needle in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert r.dbsize() == 0


def test_submit_job_file_form_unchanged(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    start_worker()
    job = write(tmp_path, "job.json", json.dumps({"runner_id": "r1", "payload": '{"task": "add", "args": [2, 3]}'}))
    done = horus(
        "submit", str(job), "--key", str(key_file), "--wait", "--json", redis_url=redis_url, namespace=namespace
    )
    assert done.returncode == 0, done.stderr
    assert last_json(done.stdout)["output"] == "5"


# -- horus rhai run --sal / --osiris -----------------------------------------------------------
def test_rhai_run_sal_prints_output_and_value(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    script = write(tmp_path, "deploy.rhai", SAL_SCRIPT)
    done = horus("rhai", "run", str(script), "--sal", "--root", str(root), "--env", "STAGE=test")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "deploying to test",
        '#{"note": "stage test", "stage": "test", "timeout_env": ["HORUS_JOB_ID", "HORUS_RUNNER_ID", "STAGE"]}',
    ]
    assert (root / "note.txt").read_text() == "stage test"


def test_rhai_run_sal_root_and_modules_confine_as_the_worker_does(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    escape = write(tmp_path, "escape.rhai", 'print("before");\nos.read_file("../secret")\n')
    done = horus("rhai", "run", str(escape), "--sal", "--root", str(root))
    assert (done.returncode, done.stdout) == (1, "before\n")
    assert "is outside the root" in done.stderr and "(line 2, position 4)" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    limited = write(tmp_path, "ls.rhai", 'os.list_dir(".")\n')
    refused = horus("rhai", "run", str(limited), "--sal", "--modules", "text,env")
    assert refused.returncode == 1
    assert "SAL module 'os' is not enabled on this runner (enabled: text, env; see --modules)" in refused.stderr
    allowed = horus("rhai", "run", str(limited), "--sal", "--modules", "os", "--root", str(root))
    assert (allowed.returncode, allowed.stdout) == (0, "[]\n")
    unknown = horus("rhai", "run", str(limited), "--sal", "--modules", "os,k8s")
    assert unknown.returncode == 2 and "planned but not built yet" in unknown.stderr


def test_rhai_run_sal_timeout_ends_the_script(tmp_path: Path) -> None:
    script = write(tmp_path, "slow.rhai", 'print("start");\nprocess.run("sleep 30");\n')
    done = horus("rhai", "run", str(script), "--sal", "--timeout", "1")
    assert (done.returncode, done.stdout) == (1, "start\n")
    assert "timed out after 1 s" in done.stderr


def test_rhai_run_osiris_uses_the_configured_redis(
    tmp_path: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    script = write(tmp_path, "users.rhai", OSIRIS_SCRIPT)
    done = horus("rhai", "run", str(script), "--osiris", "--redis-url", redis_url, "--namespace", namespace)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["created Alice", "1"]
    with Store(redis_url, namespace=namespace) as store:
        assert store.model("users").count() == 1
    again = horus("rhai", "run", str(script), "--osiris", redis_url=redis_url, namespace=namespace)  # env settings
    assert again.returncode == 1
    assert "is already used by document" in again.stderr and "(line 3, position" in again.stderr


def test_rhai_run_osiris_unreachable_redis(tmp_path: Path) -> None:
    script = write(tmp_path, "one.rhai", "1\n")
    done = horus("rhai", "run", str(script), "--osiris", "--redis-url", "redis://127.0.0.1:1/0")
    assert done.returncode == 3
    assert "cannot reach Redis" in done.stderr


def test_rhai_run_script_error_names_line_and_column(
    tmp_path: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    script = write(tmp_path, "bad.rhai", "let x = 1;\nlet y = x +;\n")
    for flag in ("--sal", "--osiris"):
        done = horus("rhai", "run", str(script), flag, redis_url=redis_url, namespace=namespace)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr.strip() == "error: Unexpected ';' (line 2, position 12)"
    thrown = write(tmp_path, "throw.rhai", 'print("a");\nthrow "boom";\n')
    done = horus("rhai", "run", str(thrown), "--sal")
    assert (done.returncode, done.stdout, done.stderr.strip()) == (
        1,
        "a\n",
        "error: Runtime error: boom (line 2, position 1)",
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--sal", "--osiris"], "give one of them"),
        (["--root", "."], "--root applies only with --sal"),
        (["--osiris", "--root", "."], "--root applies only with --sal (not with --osiris)"),
        (["--modules", "os"], "--modules applies only with --sal"),
        (["--sal", "--redis-url", "redis://127.0.0.1:6379/0"], "--redis-url applies only with --osiris"),
        (["--sal", "--namespace", "x"], "--namespace applies only with --osiris"),
        (["--env", "A=1"], "--env applies only with --sal or --osiris"),
        (["--timeout", "5"], "--timeout applies only with --sal or --osiris"),
        (["--sal", "--env", "A"], "must look like NAME=VALUE"),
        (["--sal", "--timeout", "100000"], "--timeout must be 1 to 86400"),
        (["--sal", "--root", "/nonexistent-dir"], "is not a directory"),
        (["--sal", "--modules", "os,nope"], "unknown SAL module 'nope'"),
    ],
)
def test_rhai_run_refuses_bad_flags(tmp_path: Path, args: list[str], needle: str) -> None:
    script = write(tmp_path, "one.rhai", "1\n")
    done = horus("rhai", "run", str(script), *args)
    assert done.returncode == 2, done.stdout
    assert needle in done.stderr, done.stderr
    assert done.stdout == ""


def test_submit_payload_file_through_the_supervisor(
    stack: Stack, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.supervisor.call("runner.register", {"runner_id": "sal1", "runner_type": "sal"})
    stack.start_worker_fn("sal1", runner_type="sal")
    monkeypatch.setenv("HORUS_TOKEN", ADMIN)
    script = write(tmp_path, "hello.rhai", "print(`hello ${env.WHO}`);\n6 * 7\n")
    done = horus(
        "submit",
        "--runner",
        "sal1",
        "--payload-file",
        str(script),
        "--env",
        "WHO=supervisor",
        "--key",
        str(key_file),
        "--supervisor",
        stack.supervisor.url,
        "--wait",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert (result["status"], result["output"], result["value"]) == ("completed", "hello supervisor", 42)


@pytest.mark.parametrize(
    ("name", "text", "needle"), [("missing.rhai", None, "cannot read"), ("empty.rhai", "", "empty")]
)
def test_rhai_run_sal_refuses_unreadable_or_empty_scripts(
    tmp_path: Path, name: str, text: str | None, needle: str
) -> None:
    if text is not None:
        write(tmp_path, name, text)
    done = horus("rhai", "run", str(tmp_path / name), "--sal")
    assert done.returncode == 2
    assert needle in done.stderr
