"""The supervisor's OpenRPC document against the official OpenRPC meta-schema, and every example
in docs/api.md against the document's own param and result schemas.

The meta-schema is published as the npm package ``@open-rpc/meta-schema`` (it refers to the JSON
Schema meta-schema of ``@json-schema-tools/meta-schema``). Both are taken from the npm registry at
pinned versions, checked against their published integrity hashes and cached under
``tests/.cache``; nothing of them is kept in the repository.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from horus.broker import Broker
from horus.coordinator.link import SupervisorLink
from horus.coordinator.service import Coordinator
from horus.supervisor.app import Supervisor
from horus.supervisor.errors import CODES

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tests" / ".cache"
API_DOC = ROOT / "docs" / "api.md"

#: name, version, the registry's sha512 integrity of the tarball.
OPENRPC = (
    "@open-rpc/meta-schema",
    "1.14.9",
    "2/CbDzOVpcaSnMs28TsRv8MKJwJi0TTYFlQ6q6qobAH26oIuhYgcZooKf4l71emgntU6MMcFQCA0h4mJ4dBCdA==",
)
JSON_SCHEMA_TOOLS = (
    "@json-schema-tools/meta-schema",
    "1.8.0",
    "pbRAbHidPTf96LhmHXA6bl4D4tz4HrwjZ7A5ConcLFPdCj+93GhsCCFsq+AWti4VOs+9QTezX5l0zLNA+TZv1g==",
)


def _package_file(package: tuple[str, str, str], member: str) -> str:
    name, version, integrity = package
    target = CACHE / f"{name.strip('@').replace('/', '-')}-{version}-{Path(member).name}"
    if target.exists():
        return target.read_text()
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to fetch the OpenRPC meta-schema (apt-get install npm; .ci/run does it)")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "pack", f"{name}@{version}", "--pack-destination", str(CACHE), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"npm pack {name}@{version} failed: {done.stderr}"
    tarball = CACHE / json.loads(done.stdout)[0]["filename"].replace("@", "").replace("/", "-")
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    assert digest == integrity, f"{tarball.name}: sha512 {digest} is not the published {integrity}"
    with tarfile.open(tarball) as archive:
        extracted = archive.extractfile(f"package/{member}")
        assert extracted is not None, f"{tarball.name} has no {member}"
        text = extracted.read().decode()
    tarball.unlink()
    target.write_text(text)
    return text


@pytest.fixture(scope="module")
def meta_schema() -> tuple[dict[str, Any], Registry]:
    module = _package_file(OPENRPC, "index.js")
    # index.js assigns the schema JSON: `exports.openrpcDocument = { ... };`
    start = module.index("exports.openrpcDocument = {") + len("exports.openrpcDocument = ")
    schema, _ = json.JSONDecoder().raw_decode(module, start)
    json_schema = json.loads(_package_file(JSON_SCHEMA_TOOLS, "schema.json"))
    resource = Resource.from_contents(json_schema, default_specification=DRAFT7)
    registry = Registry().with_resources(
        [("https://meta.json-schema.tools", resource), ("https://meta.json-schema.tools/", resource)]
    )
    return schema, registry


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # No connection is made: the document is built from the method models alone.
    return Supervisor(Broker.from_url("redis://127.0.0.1:1/0")).openrpc


def coordinator_document() -> dict[str, Any]:
    link = SupervisorLink("http://127.0.0.1:1/")
    return Coordinator(Broker.from_url("redis://127.0.0.1:1/0"), link, coordinator_key="00" * 32).openrpc


@pytest.mark.parametrize("service", ["supervisor", "coordinator"])
def test_the_document_conforms_to_the_openrpc_meta_schema(
    meta_schema: tuple[dict[str, Any], Registry], document: dict[str, Any], service: str
) -> None:
    schema, registry = meta_schema
    checked = document if service == "supervisor" else coordinator_document()
    validator = Draft7Validator(schema, registry=registry)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(checked)]
    assert problems == []


def test_the_meta_schema_check_can_fail(meta_schema: tuple[dict[str, Any], Registry], document: dict[str, Any]) -> None:
    schema, registry = meta_schema
    broken = {**document, "methods": [{**document["methods"][0], "params": "none"}]}
    assert not Draft7Validator(schema, registry=registry).is_valid(broken)


def _examples() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request, response) pairs from docs/api.md: each request block and the block after it."""
    text = API_DOC.read_text()
    # `JOB` and `SCHEDULE` stand for a signed job and schedule there; any object fits their params' schemas.
    blocks = [
        json.loads(re.sub(r"\b(JOB|SCHEDULE)\b", "{}", b)) for b in re.findall(r"```json\n(.*?)```", text, re.DOTALL)
    ]
    pairs = []
    for request, response in itertools.pairwise(blocks):
        is_request = isinstance(request, dict) and "method" in request
        if is_request and isinstance(response, dict) and "jsonrpc" in response and "method" not in response:
            pairs.append((request, response))
    return pairs


def _validator(schema: dict[str, Any], document: dict[str, Any]) -> Draft202012Validator:
    # The method schemas point into #/components/schemas of the document.
    return Draft202012Validator({**schema, "components": document["components"]})


def test_every_api_doc_example_matches_the_document(document: dict[str, Any]) -> None:
    methods = {method["name"]: method for method in document["methods"]}
    pairs = _examples()
    assert {request["method"] for request, _ in pairs} >= set(methods) - {"rpc.discover"}
    generic = {-32700, -32600, -32601, -32602, -32603}
    for request, response in pairs:
        method = methods[request["method"]]
        params = request.get("params", {})
        declared = {param["name"]: param for param in method["params"]}
        assert set(params) <= set(declared), (request["method"], sorted(set(params) - set(declared)))
        for name, param in declared.items():
            if param.get("required"):
                assert name in params, (request["method"], name)
            if name in params:
                errors = [e.message for e in _validator(param["schema"], document).iter_errors(params[name])]
                assert errors == [], (request["method"], name, errors)
        if "result" in response:
            validator = _validator(method["result"]["schema"], document)
            errors = [e.message for e in validator.iter_errors(response["result"])]
            assert errors == [], (request["method"], errors)
        else:
            code = response["error"]["code"]
            allowed = {error["code"] for error in method.get("errors", [])} | generic
            assert code in allowed, (request["method"], code)
            reason = response["error"].get("data", {}).get("reason")
            if reason is not None:
                assert CODES[reason][0] == code, (request["method"], reason)
