"""The sal runner on whole scripts: modules as scripts see them, guard rails, errors and values."""

from __future__ import annotations

import os
import select
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from horus.workers.sal import SalRunner

from horus.errors import PluginError
from horus.models import JobStatus
from horus.sal import registry
from horus.sal.common import SalError
from horus.worker.context import JobTimeout
from tests.postgres import postgres_url
from tests.unit.sal_support import job_context, run_script

SEED_EXAMPLE = 'let files = os.list_dir("/tmp");\nfor file in files {\n    print(file);\n}\n'


def test_seed_example_prints_each_entry() -> None:
    fd, marker = tempfile.mkstemp(prefix="sal-seed-", dir="/tmp")
    os.close(fd)
    try:
        outcome = run_script(SEED_EXAMPLE)
    finally:
        os.unlink(marker)
    lines = outcome.output.splitlines()
    assert outcome.status == JobStatus.COMPLETED
    assert os.path.basename(marker) in lines
    assert lines == sorted(lines)
    assert outcome.value is None


def test_prints_stream_to_the_log_and_the_value_is_kept(tmp_path: Path) -> None:
    ctx = job_context(payload=f'os.write_file("{tmp_path}/a", "x"); print("one"); print("two"); #{{n: 1}}')
    logged: list[str] = []
    ctx.log = logged.append
    runner = SalRunner()
    runner.setup()
    outcome = runner.execute(ctx.job, ctx)
    assert (outcome.output, logged, outcome.value) == ("one\ntwo", ["one", "two"], {"n": 1})


def test_both_call_styles_and_module_errors_with_position(tmp_path: Path) -> None:
    assert run_script(f'os::exists("{tmp_path}") && os.is_dir("{tmp_path}")').value is True
    outcome = run_script(f'let x = 1;\nos.read_file("{tmp_path}/missing.txt")')
    assert outcome.status == JobStatus.FAILED
    assert outcome.error == (
        f"Error in function 'os.read_file': cannot read {tmp_path}/missing.txt: no such file or directory"
        " (line 2, position 4)"
    )


def test_scripts_can_catch_module_errors() -> None:
    outcome = run_script('try { process.run("false", #{check: true}) } catch (e) { e.message }')
    assert outcome.value == "Error in function 'process.run': command 'false' exited with code 1"


def test_throw_fails_with_line_and_column() -> None:
    outcome = run_script('print("before");\n  throw "disk full";')
    assert outcome.status == JobStatus.FAILED
    assert outcome.output == "before"
    assert "disk full" in (outcome.error or "") and "(line 2, position 3)" in (outcome.error or "")


def test_process_module_from_a_script() -> None:
    outcome = run_script('let r = process.run("echo $GREETING", #{env: #{GREETING: "hi"}}); [r.stdout, r.success]')
    assert outcome.value == ["hi\n", True]
    assert run_script('process.which("sh")').value in ("/bin/sh", "/usr/bin/sh")


def test_process_run_past_the_job_deadline_ends_the_job(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f'try {{ process.run("echo $$ > {pidfile}; exec sleep 60") }} catch {{ print("caught") }}'
    began = time.monotonic()
    with pytest.raises(JobTimeout):  # no script catch can keep the job alive
        run_script(script, timeout=1)
    assert time.monotonic() - began < 10
    pid = int(pidfile.read_text())
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    assert select.select([fd], [], [], 5)[0], "the command outlived the job"
    os.close(fd)


def test_text_and_env_from_a_script() -> None:
    script = 'text.template("{{who}} in {{where}}", #{who: env.USER_NAME, where: env.get("PLACE", "lab")})'
    assert run_script(script, env={"USER_NAME": "ada"}).value == "ada in lab"
    assert run_script("env.NOT_SET").value is None
    assert run_script("env.HORUS_JOB_ID").value is not None


def test_text_replace_in_namespace_style() -> None:
    assert run_script('text::replace("a.b", ".", "::")').value == "a::b"


def test_text_replace_in_method_style() -> None:
    assert run_script('text.replace("a.b", ".", "::")').value == "a::b"


def test_env_shows_the_job_env_not_the_worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_SECRET", "s3cret")
    assert run_script("env.WORKER_SECRET").value is None


def test_redis_client_from_a_script(redis_url: str, r: redis.Redis) -> None:
    key = f"sal-script:{uuid.uuid4().hex[:8]}"
    script = f"""
        let c = redis.connect("{redis_url}");
        c.set("{key}", "v", 60);
        c.hset("{key}:h", "f", 1);
        let seen = [c.get("{key}"), c.exists("{key}"), c.hgetall("{key}:h")];
        c.del("{key}");
        seen.push(c.exists("{key}"));
        seen
    """
    assert run_script(script).value == ["v", True, {"f": "1"}, False]


def test_postgres_connection_from_a_script() -> None:
    url = postgres_url()
    table = f"sal_script_{uuid.uuid4().hex[:10]}"
    script = f"""
        let db = postgres.connect("{url}");
        db.execute("CREATE TABLE {table} (name text, n int)");
        let added = db.execute("INSERT INTO {table} VALUES (%s, %s), (%s, %s)", ["a", 1, "b", 2]);
        let rows = db.query("SELECT name, n FROM {table} WHERE n > %(min)s ORDER BY n", #{{min: 0}});
        db.execute("DROP TABLE {table}");
        #{{added: added, rows: rows}}
    """
    try:
        assert run_script(script).value == {"added": 2, "rows": [{"name": "a", "n": 1}, {"name": "b", "n": 2}]}
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_postgres_password_is_redacted_in_the_job_error() -> None:
    outcome = run_script('postgres.connect("postgresql://app:pa55word@127.0.0.1:1/db")')
    assert outcome.status == JobStatus.FAILED
    assert "postgresql://app:***@127.0.0.1:1/db" in (outcome.error or "")
    assert "pa55word" not in (outcome.error or "")


# -- guard rails -----------------------------------------------------------------------------
def test_module_not_exposed_is_a_clear_error() -> None:
    outcome = run_script('process.run("id")', modules="os,text")
    assert outcome.status == JobStatus.FAILED
    assert (
        "SAL module 'process' is not enabled on this runner (enabled: os, text; see --modules)" in outcome.error  # type: ignore[operator]
    )
    assert run_script('text::replace("a-b", "-", "+")', modules="os,text").value == "a+b"
    outcome = run_script('redis::connect("redis://127.0.0.1")', modules="os")
    assert "SAL module 'redis' is not enabled" in (outcome.error or "")


def test_root_confines_os_paths_in_scripts(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_text("s")
    (root / "link").symlink_to(tmp_path / "secret")
    assert run_script('os.write_file("a.txt", "x"); os.list_dir(".")', root=root).value == ["a.txt", "link"]
    for path in ("../secret", str(tmp_path / "secret"), "link", "/etc/passwd"):
        outcome = run_script(f'os.read_file("{path}")', root=root)
        assert outcome.status == JobStatus.FAILED
        assert f"path '{path}' is outside the root '{root}'" in (outcome.error or "")


def test_seed_example_under_a_root_names_the_refused_path(tmp_path: Path) -> None:
    outcome = run_script(SEED_EXAMPLE, root=tmp_path)
    assert f"path '/tmp' is outside the root '{tmp_path}'" in (outcome.error or "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"modules": "os,ftp"}, "unknown SAL module 'ftp' (built: os, process, net, text, redis, postgres, env)"),
        ({"modules": "os,k8s"}, "SAL module 'k8s' is planned but not built yet"),
        ({"modules": "hetzner"}, "SAL module 'hetzner' is planned but not built yet"),
        ({"root": "/nonexistent/root"}, "root '/nonexistent/root' is not a directory"),
    ],
)
def test_bad_options_stop_the_runner_at_start(options: dict[str, str], message: str) -> None:
    with pytest.raises(PluginError, match=f"sal runner: {message}".replace("(", r"\(").replace(")", r"\)")):
        SalRunner(config=options).prepare()


def test_options_are_declared_for_the_worker_flags() -> None:
    SalRunner.check_options({"modules": "os", "root": "/tmp"})
    with pytest.raises(PluginError, match=r"has no option shell"):
        SalRunner.check_options({"shell": "x"})


def test_parse_modules() -> None:
    assert registry.parse_modules(None) == registry.MODULES
    assert registry.parse_modules(" os , text,os ") == ("os", "text")
    with pytest.raises(SalError):
        registry.parse_modules("OS")


@pytest.mark.parametrize(
    ("script", "value"),
    [
        ("os", "<module os>"),
        ("[os, text]", ["<module os>", "<module text>"]),
        ("#{m: process}", {"m": "<module process>"}),
        ("os.list_dir", "Fn(list_dir)"),
        ('text.template("{{a}}", #{a: os})', "<module os>"),
        ('text.template("{{a}}", #{a: [1, "x"]})', '[1, "x"]'),
        ("os.to_string()", "<module os>"),
    ],
)
def test_host_values_are_stored_by_their_rhai_name(script: str, value: object) -> None:
    outcome = run_script(script)
    assert (outcome.status, outcome.value) == (JobStatus.COMPLETED, value)


def test_printed_host_values_and_errors_carry_no_address() -> None:
    outcome = run_script("print(os); print(`${text.template}`); debug(env); redis.connect(os)")
    assert outcome.output == "<module os>\nFn(template)\n<module env>"
    assert outcome.error is not None and "not <module os>" in outcome.error
    assert "0x" not in outcome.output + outcome.error
