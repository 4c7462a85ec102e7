"""docs/workflows.md names every coordinator method and workflow error code the service has."""

from __future__ import annotations

import re
from pathlib import Path

from horus.broker import Broker
from horus.coordinator.link import SupervisorLink
from horus.coordinator.service import WORKFLOW_CODES, Coordinator

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflows.md"


def test_every_method_is_in_the_methods_table() -> None:
    link = SupervisorLink("http://127.0.0.1:1/")  # nothing connects: the document comes from the models
    coordinator = Coordinator(Broker.from_url("redis://127.0.0.1:1/0"), link, "00" * 32)
    documented = set(re.findall(r"^\| `(workflow\.\w+)` \|", DOC.read_text(), re.MULTILINE))
    assert {m["name"] for m in coordinator.openrpc["methods"]} - {"rpc.discover"} == documented


def test_every_workflow_error_code_is_documented() -> None:
    text = DOC.read_text()
    for name, (code, _) in WORKFLOW_CODES.items():
        assert f"| {code} | `{name}` |" in text, name
