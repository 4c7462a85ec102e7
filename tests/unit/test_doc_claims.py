"""The README, the docs and the package metadata claim only what the code does."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_BUILT = re.compile(r"sentinel|cluster", re.IGNORECASE)


def json_blocks(text: str) -> list[str]:
    return re.findall(r"^```json\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_every_api_example_request_has_an_id_of_its_own() -> None:
    seen: dict[object, str] = {}
    for block in json_blocks((ROOT / "docs" / "api.md").read_text()):
        if '"method"' not in block:
            continue  # a response repeats its request's id
        # JOB and SCHEDULE stand for a signed job and schedule in the doc.
        parsed = json.loads(re.sub(r"\b(JOB|SCHEDULE)\b", "null", block))
        for request in parsed if isinstance(parsed, list) else [parsed]:
            if "id" not in request:
                continue  # a notification
            request_id = request["id"]
            assert request_id not in seen, f"id {request_id!r} of {request['method']} is used by {seen[request_id]} too"
            seen[request_id] = request["method"]
    assert len(seen) >= 15


def test_the_package_metadata_claims_no_unbuilt_feature() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    claims = " ".join([project["description"], *project.get("keywords", []), *project.get("classifiers", [])])
    assert not NOT_BUILT.search(claims), claims


def test_the_readme_claims_for_cluster_and_sentinel_are_the_tested_ones() -> None:
    features = (ROOT / "README.md").read_text().split("## Quick start")[0]
    bullets = [b for b in features.split("\n* ") if re.search(r"cluster|sentinel", b, re.IGNORECASE)]
    assert len(bullets) == 1, bullets
    claim = " ".join(bullets[0].split())
    assert "docs/scaling.md" in claim
    for test in (
        "test_cluster_runtime.py",
        "test_cluster_failover.py",
        "test_cluster_coordinator.py",
        "test_redis_sentinel.py",
    ):
        assert (ROOT / "tests" / "integration" / test).exists(), test
    # What cannot run on a cluster yet says so at its start; the README must say it too.
    refuses = "refuse_cluster(" in (ROOT / "horus" / "coordinator" / "service.py").read_text()
    assert ("the coordinator needs one Redis or Sentinel" in claim) == refuses, claim


def test_docs_point_only_inside_the_repository() -> None:
    for doc in DOCS:
        assert "../shared" not in doc.read_text(), doc.name
        assert "seeds/" not in doc.read_text(), doc.name


def test_docs_say_the_client_signs_step_jobs() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert "signed by the coordinator)" not in text, doc.name
        assert "job signed with the\ncoordinator's own key" not in text, doc.name


def test_the_tmux_runner_does_not_claim_retries() -> None:
    intro = (ROOT / "docs" / "tmux.md").read_text().split("```")[0]
    assert not re.search(r"cancel, retries", intro), intro


def test_the_coordinator_unit_keeps_its_key_optional() -> None:
    unit = (ROOT / "deploy" / "systemd" / "horus-coordinator.service").read_text()
    assert "Optional: HORUS_COORDINATOR_KEY_FILE" in unit
    assert "--key" not in unit.split("ExecStart=")[1].splitlines()[0]


def test_every_lua_script_is_documented() -> None:
    """Each script's keys and effect are part of the protocol: a new one needs its row."""
    text = "".join(doc.read_text() for doc in DOCS)
    missing = [path.name for path in sorted((ROOT / "horus" / "lua").glob("*.lua")) if f"`{path.name}`" not in text]
    assert missing == []


def test_no_merge_markers_are_left_in_the_docs() -> None:
    for doc in DOCS:
        for marker in ("<<<<<<< ", ">>>>>>> "):
            assert not any(line.startswith(marker) for line in doc.read_text().splitlines()), doc.name
