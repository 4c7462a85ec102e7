"""The coordinator's workflows page (GET /ui) and its DAG endpoints, over a real coordinator,
supervisor, worker and Redis."""
# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from email.message import Message
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from horus.sdk import Client
from tests.conftest import ROOT
from tests.integration.coordinator_fixtures import ADMIN, WAIT, Stack, python_step, serve, stack  # noqa: F401
from tests.integration.http_get import get

SVG_NS = "{http://www.w3.org/2000/svg}"
DIAMOND = {
    "name": "diamond <b>",
    "steps": [
        python_step("top", "wf_value", 1),
        python_step("left", "wf_inc", 1, depends_on=["top"]),
        python_step("right", "wf_inc", 2, depends_on=["top"]),
        python_step("join", "wf_sum", depends_on=["left", "right"]),
    ],
}


def get_json(url: str, token: str | None = ADMIN) -> Any:
    status, _, body = get(url, token)
    assert status == 200, body
    return orjson.loads(body)


def assert_locked_down(headers: Message) -> None:
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_and_its_dag_show_each_steps_status_once_the_workflow_completes(stack: Stack) -> None:
    stack.start_worker()
    coordinator = stack.start_coordinator()
    base = coordinator.url.rstrip("/")
    with stack.client() as client:
        workflow_id = client.submit(DIAMOND)
        assert client.wait(workflow_id, WAIT).status == "completed"

    status, headers, page = get(f"{base}/ui")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert_locked_down(headers)
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert b'<script src="/ui/static/workflows.js" defer></script>' in page
    assert b"<script>" not in page and b"style=" not in page  # nothing inline: the CSP forbids it
    for name, kind in (("workflows.js", "text/javascript"), ("workflows.css", "text/css")):
        status, headers, body = get(f"{base}/ui/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
        assert_locked_down(headers)
    assert get(f"{base}/ui/static/index.py")[0] == 404
    assert get(f"{base}/ui/static/..%2F..%2Fservice.py")[0] == 404
    assert b".innerHTML" not in get(f"{base}/ui/static/workflows.js")[2]

    data = get_json(f"{base}/ui/api/workflows/{workflow_id}/dag")
    assert data["workflow"]["status"] == "completed"
    assert data["workflow"]["name"] == "diamond <b>"
    assert {s["id"]: s["status"] for s in data["workflow"]["steps"]} == dict.fromkeys(
        ("top", "left", "right", "join"), "completed"
    )
    layers = {n["id"]: n["layer"] for n in data["layout"]["nodes"]}
    assert layers == {"top": 0, "left": 1, "right": 1, "join": 2}
    assert sorted((e["source"], e["target"]) for e in data["layout"]["edges"]) == [
        ("left", "join"),
        ("right", "join"),
        ("top", "left"),
        ("top", "right"),
    ]

    status, headers, svg = get(f"{base}/ui/api/workflows/{workflow_id}/dag.svg", ADMIN)
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    nodes = ET.fromstring(svg).findall(f".//{SVG_NS}g[@class='node']")
    assert {g.get("data-step"): g.get("data-status") for g in nodes} == dict.fromkeys(
        ("top", "left", "right", "join"), "completed"
    )


def test_the_data_needs_a_token_the_coordinator_accepts(stack: Stack) -> None:
    stack.start_worker()
    coordinator = stack.start_coordinator()
    base = coordinator.url.rstrip("/")
    with stack.client() as client:
        workflow_id = client.submit(DIAMOND)
        client.wait(workflow_id, WAIT)

    assert get(f"{base}/ui")[0] == 200  # the page itself is public: it holds no data
    for path in ("/ui/api/session", f"/ui/api/workflows/{workflow_id}/dag", f"/ui/api/workflows/{workflow_id}/dag.svg"):
        for token in (None, "not-a-token"):
            status, headers, body = get(base + path, token)
            assert status == 401, (path, token, body)
            assert headers["WWW-Authenticate"] == 'Bearer realm="horus"'
            assert orjson.loads(body)["error"]["data"]["reason"] == "unauthenticated"
            assert b"top" not in body
    with Client(coordinator.url) as anonymous, pytest.raises(Exception, match="authentication required"):
        anonymous.call("workflow.list", {})

    missing = get(f"{base}/ui/api/workflows/no-such-flow/dag", ADMIN)
    assert missing[0] == 404
    assert orjson.loads(missing[2])["error"]["data"]["reason"] == "workflow_not_found"
    assert get(f"{base}/ui/api/workflows/{'x' * 60}/dag", ADMIN)[0] == 400

    user = stack.supervisor.call("token.create", {"name": "viewer", "role": "user"})["token"]
    assert get_json(f"{base}/ui/api/session", user) == {"role": "user", "identity": "token:viewer"}
    assert get_json(f"{base}/ui/api/session", ADMIN)["role"] == "admin"
    assert get_json(f"{base}/ui/api/workflows/{workflow_id}/dag", user)["workflow"]["workflow_id"] == workflow_id
    stack.supervisor.call("token.revoke", {"name": "viewer"})
    assert get(f"{base}/ui/api/session", user)[0] == 401


def test_the_list_says_when_each_workflow_ended(stack: Stack) -> None:
    stack.start_worker()
    stack.start_coordinator()
    gate = f"{stack.namespace}:gate"
    with stack.client() as client:
        done = client.submit(DIAMOND)
        client.wait(done, WAIT)
        held = client.submit({"name": "held", "steps": [python_step("wait", "gated", stack.redis_url, gate)]})
        listed = {w.workflow_id: w for w in client.list().workflows}
        assert listed[done].ended_at is not None and listed[done].ended_at >= listed[done].created_at
        assert listed[held].ended_at is None and listed[held].status == "running"
        redis.Redis.from_url(stack.redis_url).lpush(gate, "go")
        assert client.wait(held, WAIT).status == "completed"


def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("horus-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"horus/ui/workflows_static/{p.name}" for p in (ROOT / "horus/ui/workflows_static").iterdir()}
    assert {"horus/ui/workflows_static/index.html", "horus/ui/workflows_static/workflows.js"} <= shipped <= names
    assert {"horus/ui/dag.py", "horus/ui/workflows.py"} <= names
