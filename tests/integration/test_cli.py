"""The ``horus`` command line as a user runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
import redis

from horus import __version__
from horus.admission import check_signatures, parse_job
from tests.conftest import ROOT, StartWorker, horus_cmd


def horus(
    *args: str, redis_url: str | None = None, namespace: str | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if redis_url:
        env["HORUS_REDIS_URL"] = redis_url
    if namespace:
        env["HORUS_NAMESPACE"] = namespace
    return subprocess.run(horus_cmd(*args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, **kwargs)  # type: ignore[call-overload,no-any-return]


def write_job(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"runner_id": "r1", "payload": json.dumps({"task": "add", "args": [2, 3]}), **fields}))
    return path


def test_version() -> None:
    assert horus("--version").stdout.strip() == f"horus {__version__}"


def test_keys_generate_and_sign(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    done = horus("keys", "generate", "--out", str(out))
    assert done.returncode == 0
    public = done.stdout.strip().splitlines()[-1]
    assert len(public) == 64 and int(public, 16) >= 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert horus("keys", "generate", "--out", str(out)).returncode == 2  # never overwrites a key
    signed = horus("sign", str(write_job(tmp_path)), "--key", str(out))
    assert signed.returncode == 0, signed.stderr
    job = parse_job(signed.stdout)
    assert job.signatures[0].public_key == public
    check_signatures(job)


def test_submit_wait_json(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    start_worker()
    done = horus(
        "submit",
        str(write_job(tmp_path)),
        "--key",
        str(key_file),
        "--wait",
        "--json",
        redis_url=redis_url,
        namespace=namespace,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"job_id", "status", "output", "error", "exit_code", "started_at", "completed_at"} <= set(result)
    assert (result["status"], result["output"]) == ("completed", "5")
    status = horus("status", result["job_id"], "--json", redis_url=redis_url, namespace=namespace)
    assert json.loads(status.stdout)["status"] == "completed"
    again = horus("result", result["job_id"], "--json", redis_url=redis_url, namespace=namespace)
    assert json.loads(again.stdout)["output"] == "5"
    assert result["job_id"] in horus("result", result["job_id"], redis_url=redis_url, namespace=namespace).stdout


def test_status_shows_caller_context_and_executor(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    job = write_job(tmp_path, caller_id="billing-app", context_id="run-42", executor="tmux.build.main")
    job_id = horus("submit", str(job), "--key", str(key_file), redis_url=redis_url, namespace=namespace).stdout.strip()
    shown = horus("status", job_id, redis_url=redis_url, namespace=namespace).stdout
    for label, value in (("caller", "billing-app"), ("context", "run-42"), ("executor", "tmux.build.main")):
        assert any(line.split()[1:3] == [label, value] for line in shown.splitlines() if len(line.split()) > 2), shown
    info = json.loads(horus("status", job_id, "--json", redis_url=redis_url, namespace=namespace).stdout)
    assert (info["status"], info["caller_id"], info["context_id"]) == ("dispatched", "billing-app", "run-42")


def test_submit_prints_id_last_and_presigned_goes_as_is(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    signed = horus("sign", str(write_job(tmp_path)), "--key", str(key_file)).stdout
    path = tmp_path / "signed.json"
    path.write_text(signed)
    done = horus("submit", str(path), "--json", redis_url=redis_url, namespace=namespace)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == json.loads(signed)["id"]
    stored = json.loads(r.get(f"{namespace}:runner:{{r1}}:job:{json.loads(signed)['id']}:spec"))
    assert stored["signatures"] == json.loads(signed)["signatures"]


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"payload": ""}, "payload"),
        ({"timeout": 100000}, "timeout"),
        ({"created_at": 1}, "created_at"),
    ],
)
def test_submit_refuses_bad_jobs(
    tmp_path: Path,
    key_file: Path,
    redis_url: str,
    namespace: str,
    r: redis.Redis,
    fields: dict[str, object],
    needle: str,
) -> None:
    done = horus(
        "submit", str(write_job(tmp_path, **fields)), "--key", str(key_file), redis_url=redis_url, namespace=namespace
    )
    assert done.returncode == 2
    assert needle in done.stderr
    assert r.dbsize() == 0


def test_submit_unsigned_without_key(tmp_path: Path, redis_url: str, namespace: str, r: redis.Redis) -> None:
    done = horus("submit", str(write_job(tmp_path)), redis_url=redis_url, namespace=namespace)
    assert done.returncode == 2
    assert "unsigned" in done.stderr
    assert r.dbsize() == 0


def test_submit_tampered(tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis) -> None:
    signed = json.loads(horus("sign", str(write_job(tmp_path)), "--key", str(key_file)).stdout)
    signed["payload"] = json.dumps({"task": "add", "args": [100, 1]})
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(signed))
    done = horus("submit", str(path), redis_url=redis_url, namespace=namespace)
    assert done.returncode == 2
    assert "tampered" in done.stderr
    assert r.dbsize() == 0


def test_submit_replayed(tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis) -> None:
    path = tmp_path / "signed.json"
    path.write_text(horus("sign", str(write_job(tmp_path)), "--key", str(key_file)).stdout)
    assert horus("submit", str(path), redis_url=redis_url, namespace=namespace).returncode == 0
    again = horus("submit", str(path), redis_url=redis_url, namespace=namespace)
    assert again.returncode == 2
    assert "replayed_id" in again.stderr


def test_logs_follow_and_cancel(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    start_worker()
    path = write_job(tmp_path, payload=json.dumps({"task": "sleep", "args": [60, True]}))
    job_id = (
        horus("submit", str(path), "--key", str(key_file), redis_url=redis_url, namespace=namespace)
        .stdout.strip()
        .splitlines()[-1]
    )
    env = {**os.environ, "HORUS_REDIS_URL": redis_url, "HORUS_NAMESPACE": namespace}
    with subprocess.Popen(horus_cmd("logs", "-f", job_id), stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env) as f:
        assert f.stdout is not None
        assert f.stdout.readline().strip() == "started"
        cancelled = horus("cancel", job_id, redis_url=redis_url, namespace=namespace)
        assert cancelled.stdout.strip() == "cancelling"
        assert f.wait(30) == 0
    result = json.loads(horus("result", job_id, "--wait", "--json", redis_url=redis_url, namespace=namespace).stdout)
    assert result["status"] == "cancelled"


def test_wait_exit_code_reflects_failure(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, start_worker: StartWorker
) -> None:
    start_worker()
    path = write_job(tmp_path, payload=json.dumps({"task": "boom"}))
    done = horus(
        "submit", str(path), "--key", str(key_file), "--wait", "--json", redis_url=redis_url, namespace=namespace
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "failed"


def test_unknown_job(redis_url: str, namespace: str, r: redis.Redis) -> None:
    done = horus("status", "nope", redis_url=redis_url, namespace=namespace)
    assert done.returncode == 2
    assert "not found" in done.stderr


def test_unreachable_redis(tmp_path: Path, key_file: Path) -> None:
    done = horus("submit", str(write_job(tmp_path)), "--key", str(key_file), redis_url="redis://127.0.0.1:1/0")
    assert done.returncode == 3
    assert "cannot reach Redis" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_runs_with_embedded_redis() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HORUS_REDIS_URL", "REDIS_URL")}
    started = time.monotonic()
    done = subprocess.run(horus_cmd("demo"), capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "embedded redis-server" in done.stdout
    assert "completed" in done.stdout
    assert "200/200" in done.stdout
    assert time.monotonic() - started < 120


def test_rhai_run_and_repl(tmp_path: Path) -> None:
    script = tmp_path / "hello.rhai"
    script.write_text('let files = ["a", "b"];\nfor f in files { print(f); }\nfiles.len() * 21\n')
    done = horus("rhai", "run", str(script))
    assert (done.returncode, done.stdout) == (0, "a\nb\n42\n")
    broken = tmp_path / "broken.rhai"
    broken.write_text("let x = 1;\nx +* 2\n")
    failed = horus("rhai", "run", str(broken))
    assert failed.returncode == 1
    assert "line 2" in failed.stdout and "^" in failed.stdout
    session = horus("rhai", input="let a = 20;\na + 22\n:quit\n")
    assert session.returncode == 0
    assert "42" in session.stdout
