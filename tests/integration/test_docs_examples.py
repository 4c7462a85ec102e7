"""Every Python example in README.md and docs/*.md runs as written, each in a process of its own.

Convention (a marker is an HTML comment on the line(s) just before a ```python block):

* A block with no marker runs as a script in a fresh directory, with the test's Redis: the
  default URLs ``redis://localhost:6379/0`` and ``redis://127.0.0.1:6379/0`` in its text stand
  for the test's own database, so an example can be written with the address a reader has.
* ``<!-- not-run: REASON -->``: skipped, with the reason (for what truly cannot run here).
* ``<!-- example: KEY=VALUE; ... -->`` says more about the block:
  ``file=NAME`` saves it as NAME in the directory every block of that document runs in (a task
  module a later example or a worker uses), before any block runs; ``needs=coordinator`` starts
  a supervisor, a python worker for runner ``py`` with the document's ``tasks.py`` and a
  coordinator, puts the client's key in ``client.key`` and sets ``HORUS_COORDINATOR_URL`` and
  ``HORUS_TOKEN``; ``needs=worker:RUNNER`` starts a python worker for ``RUNNER`` with the
  document's ``tasks.py``, trusting the key it puts in ``client.key``, and sets
  ``HORUS_NAMESPACE`` to the worker's; ``stdout=TEXT`` is what the run must print (stripped).

Every ```rhai block of docs/sal.md and docs/osiris.md runs as ``horus rhai run FILE ARGS`` in a
fresh directory (its working directory), as a reader runs it: ARGS are the marker's
``args=...`` (default ``--sal`` in sal.md, ``--osiris`` in osiris.md, which gets the test's Redis
and a namespace of its own). In ``args`` the default Redis URLs stand for the test's database;
``needs=http`` starts an HTTP server (``GET /health``, ``POST /deploy``) and points
``APP_PORT=8080`` at it; ``needs=postgres`` uses ``HORUS_TEST_POSTGRES_URL`` for the URL written
(skipped when no PostgreSQL answers there).
"""
# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from horus.signing import save_key
from tests.conftest import ROOT, horus_cmd
from tests.integration.coordinator_fixtures import ADMIN, Stack, serve, stack  # noqa: F401
from tests.postgres import DEFAULT_TEST_POSTGRES, postgres_url

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)")  # a fence may name more than its language (docs/protocol.md)
MARKER = re.compile(r"^<!--\s*(not-run|example):\s*(.*?)\s*-->\s*$")
DEFAULT_URLS = ("redis://localhost:6379/0", "redis://127.0.0.1:6379/0")
RUN_TIMEOUT_S = 180


@dataclass
class Example:
    doc: Path
    line: int  # of the opening fence, 1-based
    code: str
    skip: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def parse_options(text: str) -> dict[str, str]:
    options = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        assert sep, f"example marker part {part!r} is not KEY=VALUE"
        assert key in ("file", "needs", "stdout", "args"), f"unknown example marker key {key!r}"
        options[key] = value.strip()
    return options


def python_blocks(doc: Path) -> list[Example]:
    return fenced_blocks(doc, "python")


def fenced_blocks(doc: Path, language: str) -> list[Example]:
    lines = doc.read_text().splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if fence.group(1) == language:
            example = Example(doc, i + 1, "\n".join(lines[i + 1 : end]) + "\n")
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            while k >= 0 and (marker := MARKER.match(lines[k])):
                if marker.group(1) == "not-run":
                    example.skip = marker.group(2) or "no reason given"
                else:
                    example.options.update(parse_options(marker.group(2)))
                k -= 1
            found.append(example)
        i = end + 1
    return found


EXAMPLES = [example for doc in DOCS for example in python_blocks(doc)]


def prepare_dir(doc: Path, directory: Path, redis_url: str) -> None:
    for example in python_blocks(doc):
        if "file" in example.options:
            (directory / example.options["file"]).write_text(with_test_redis(example.code, redis_url))


def with_test_redis(code: str, redis_url: str) -> str:
    for url in DEFAULT_URLS:
        code = code.replace(url, redis_url)
    return code


def start_coordinator_stack(stack: Stack, directory: Path) -> dict[str, str]:
    """The services a workflow example talks to, as the docs' CLI walk-through sets them up."""
    save_key(directory / "client.key", stack.key)
    stack.supervisor.call("runner.register", {"runner_id": "py", "runner_type": "python"})
    stack.start_worker_fn("py", "--app", "tasks", env={"PYTHONPATH": str(directory)}, trusted=None)
    coordinator = stack.start_coordinator()
    return {"HORUS_COORDINATOR_URL": coordinator.url, "HORUS_TOKEN": ADMIN}


def start_python_worker(request: pytest.FixtureRequest, runner_id: str, directory: Path) -> dict[str, str]:
    """A worker for the runner an example's app submits to, trusting the example's key."""
    save_key(directory / "client.key", request.getfixturevalue("key"))
    start_worker = request.getfixturevalue("start_worker")
    start_worker(runner_id, "--app", "tasks", env={"PYTHONPATH": str(directory)})
    return {"HORUS_NAMESPACE": request.getfixturevalue("namespace")}


def test_examples_were_found() -> None:
    assert len(EXAMPLES) >= 5
    assert all("stdout" not in e.options or e.skip is None for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_python_example_runs(
    example: Example, r: redis.Redis, redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if example.skip is not None:
        pytest.skip(example.skip)
    prepare_dir(example.doc, tmp_path, redis_url)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for name in (
        "HORUS_TOKEN",
        "HORUS_COORDINATOR_URL",
        "HORUS_SUPERVISOR_URL",
        "HORUS_KEY_FILE",
        "HORUS_EAGER",
        "HORUS_NAMESPACE",
    ):
        env.pop(name, None)
    needs = example.options.get("needs", "")
    if needs == "coordinator":
        env.update(start_coordinator_stack(request.getfixturevalue("stack"), tmp_path))
    elif needs.startswith("worker:"):
        env.update(start_python_worker(request, needs.removeprefix("worker:"), tmp_path))
    elif "needs" in example.options:
        pytest.fail(f"unknown service {example.options['needs']!r} in the example marker")
    script = tmp_path / f"example_{example.line}.py"
    script.write_text(with_test_redis(example.code, redis_url))
    done = subprocess.run(
        [sys.executable, script.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, f"{example.name} failed:\n{done.stdout}\n{done.stderr}"
    if "stdout" in example.options:
        assert done.stdout.strip() == example.options["stdout"], done.stdout


# -- Rhai examples of the script runners ------------------------------------------------------
RHAI_DOCS = {ROOT / "docs" / "sal.md": "--sal", ROOT / "docs" / "osiris.md": "--osiris"}
RHAI_EXAMPLES = [example for doc in RHAI_DOCS for example in fenced_blocks(doc, "rhai")]


class _App(http.server.BaseHTTPRequestHandler):
    """What the net example talks to: a health check and a deploy hook."""

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(200 if self.path == "/health" else 404, b"ok", "text/plain")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        authorized = self.headers.get("Authorization", "").startswith("Bearer ")
        self._reply(200 if self.path == "/deploy" and authorized else 403, b'{"ok": true}', "application/json")

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextlib.contextmanager
def app_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_rhai_examples_were_found() -> None:
    assert sum(e.doc.name == "sal.md" for e in RHAI_EXAMPLES) >= 8
    assert sum(e.doc.name == "osiris.md" for e in RHAI_EXAMPLES) >= 2


@pytest.mark.parametrize("example", RHAI_EXAMPLES, ids=[e.name for e in RHAI_EXAMPLES])
def test_rhai_example_runs(example: Example, r: redis.Redis, redis_url: str, namespace: str, tmp_path: Path) -> None:
    """Each script of the runners' docs runs with ``horus rhai run`` as the docs show it."""
    if example.skip is not None:
        pytest.skip(example.skip)
    args = with_test_redis(example.options.get("args", RHAI_DOCS[example.doc]), redis_url)
    env = {**os.environ, "HORUS_REDIS_URL": redis_url, "HORUS_NAMESPACE": namespace}
    with contextlib.ExitStack() as stack:
        needs = example.options.get("needs")
        if needs == "http":
            assert "APP_PORT=8080" in args, "needs=http points APP_PORT=8080 at the test's server"
            args = args.replace("APP_PORT=8080", f"APP_PORT={stack.enter_context(app_server())}")
        elif needs == "postgres":
            args = args.replace(DEFAULT_TEST_POSTGRES, postgres_url())
        elif needs is not None:
            pytest.fail(f"unknown service {needs!r} in the example marker")
        script = tmp_path / f"example_{example.line}.rhai"
        script.write_text(example.code)
        done = subprocess.run(
            horus_cmd("rhai", "run", script.name, *shlex.split(args)),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    assert done.returncode == 0, f"{example.name} failed:\n{done.stdout}\n{done.stderr}"
    assert done.stderr == "", done.stderr
    if "stdout" in example.options:
        assert done.stdout.strip() == example.options["stdout"], done.stdout
