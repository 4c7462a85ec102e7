"""The sal runner end to end: signed jobs through real ``horus worker --type sal`` processes on real Redis."""

from __future__ import annotations

import os
import select
import tempfile
from pathlib import Path

from horus.client import RedisClient
from horus.models import JobStatus
from tests.conftest import StartWorker

WAIT = 30
SEED_EXAMPLE = 'let files = os.list_dir("/tmp");\nfor file in files {\n    print(file);\n}\n'


def sal_job(script: str, **fields: object) -> dict[str, object]:
    return {"runner_id": "sal1", "payload": script, **fields}


def gone_within(pid: int, seconds: float) -> bool:
    """True once ``pid`` has exited (its pidfd becomes readable), waiting at most ``seconds``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


def test_seed_example_runs_as_a_signed_job(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("sal1", runner_type="sal", concurrency=1)
    fd, marker = tempfile.mkstemp(prefix="sal-e2e-", dir="/tmp")
    os.close(fd)
    try:
        result = client.run(sal_job(SEED_EXAMPLE), WAIT)
    finally:
        os.unlink(marker)
    assert result.status == JobStatus.COMPLETED, result.error
    lines = result.output.splitlines()
    assert os.path.basename(marker) in lines
    assert list(client.logs(result.job_id)) == lines


def test_env_value_and_errors_through_the_worker(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("sal1", runner_type="sal", concurrency=1)
    ok = client.run(sal_job("print(env.STAGE); #{stage: env.STAGE, n: [1, 2.5]}", env_vars={"STAGE": "prod"}), WAIT)
    assert (ok.status, ok.output, ok.value) == (JobStatus.COMPLETED, "prod", {"stage": "prod", "n": [1, 2.5]})
    failed = client.run(sal_job('print("start");\nlet r = process.run("exit 4", #{check: true});'), WAIT)
    assert failed.status == JobStatus.FAILED
    assert failed.output == "start"
    assert failed.error == (
        "Error in function 'process.run': command 'exit 4' exited with code 4 (line 2, position 17)"
    )


def test_job_timeout_kills_a_running_command(client: RedisClient, start_worker: StartWorker, tmp_path: Path) -> None:
    worker = start_worker("sal1", runner_type="sal", concurrency=1)
    pidfile = tmp_path / "sleep.pid"
    script = f'print("go"); process.run("echo $$ > {pidfile}; exec sleep 60")'
    result = client.run(sal_job(script, timeout=2), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert "timed out after 2 s" in (result.error or "")
    assert result.output == "go"
    assert gone_within(int(pidfile.read_text()), 5), "sleep 60 outlived its job"
    # The worker lives on and takes the next job.
    assert client.run(sal_job("1 + 1"), WAIT).value == 2
    assert worker.proc.poll() is None


def test_timed_out_script_keeps_what_it_printed(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("sal1", runner_type="sal", concurrency=1)
    result = client.run(sal_job('print("one"); print("two"); let n = 0; loop { n += 1; }', timeout=1), WAIT)
    assert result.status == JobStatus.TIMEOUT
    assert (result.output, result.deliveries) == ("one\ntwo", 1)
    assert result.started_at is not None


def test_modules_flag_limits_what_scripts_see(client: RedisClient, start_worker: StartWorker) -> None:
    start_worker("sal1", "--modules", "os,text", runner_type="sal", concurrency=1)
    refused = client.run(sal_job('process.run("id")'), WAIT)
    assert refused.status == JobStatus.FAILED
    assert "SAL module 'process' is not enabled on this runner (enabled: os, text; see --modules)" in (
        refused.error or ""
    )
    assert client.run(sal_job('text::dedent("  a")'), WAIT).value == "a"


def test_root_flag_confines_os_paths(client: RedisClient, start_worker: StartWorker, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (root / "escape").symlink_to(tmp_path)
    start_worker("sal1", "--root", str(root), runner_type="sal", concurrency=1)
    inside = client.run(sal_job('os.mkdir("a/b"); os.write_file("a/b/f.txt", "hi"); os.find_files(".", "*.txt")'), WAIT)
    assert inside.value == [str(root / "a" / "b" / "f.txt")]
    for path in ("../secret.txt", str(tmp_path / "secret.txt"), "escape/secret.txt"):
        result = client.run(sal_job(f'os.read_file("{path}")'), WAIT)
        assert result.status == JobStatus.FAILED
        assert f"path '{path}' is outside the root '{root}'" in (result.error or "")


def test_bad_modules_flag_stops_the_worker_with_a_clear_error(start_worker: StartWorker) -> None:
    worker = start_worker("sal1", "--modules", "os,k8s", runner_type="sal", concurrency=1)
    assert worker.proc.wait(timeout=WAIT) != 0
    assert "SAL module 'k8s' is planned but not built yet" in worker.log()


def test_modules_flag_is_refused_by_other_runner_types(start_worker: StartWorker) -> None:
    worker = start_worker("h1", "--modules", "os", runner_type="hero", concurrency=1)
    assert worker.proc.wait(timeout=WAIT) != 0
    assert "runner type 'hero' has no option modules" in worker.log()
