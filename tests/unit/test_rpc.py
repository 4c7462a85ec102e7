"""The JSON-RPC dispatcher's protocol rules without a server, and the API doc kept in step."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ConfigDict

from horus.broker import Broker
from horus.errors import ConnectionFailed, JobRejected
from horus.supervisor.app import Supervisor
from horus.supervisor.errors import CODES, RpcError
from horus.supervisor.rpc import Caller, Dispatcher, Method, Role

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    times: int = 1


def echo(_ctx: Any, params: EchoParams) -> str:
    return params.text * params.times


def explode(_ctx: Any, _params: EchoParams) -> str:
    raise RuntimeError("secret detail")


def refuse(_ctx: Any, _params: EchoParams) -> str:
    raise JobRejected("tampered", "signatures[0].signature", "does not verify")


def offline(_ctx: Any, _params: EchoParams) -> str:
    raise ConnectionFailed("cannot reach Redis")


METHODS = [
    Method("echo", "", EchoParams, str, echo),
    Method("admin.echo", "", EchoParams, str, echo, Role.ADMIN),
    Method("public.echo", "", EchoParams, str, echo, None),
    Method("explode", "", EchoParams, str, explode),
    Method("refuse", "", EchoParams, str, refuse),
    Method("offline", "", EchoParams, str, offline),
]


def call(body: Any, role: Role | None = Role.USER) -> Any:
    def identify() -> Caller:
        if role is None:
            raise RpcError("unauthenticated", "no token")
        return Caller(role, "token:test")

    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    answer = Dispatcher(METHODS).handle(raw, identify, lambda r: r)
    return None if answer is None else orjson.loads(answer)


def request(method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        message["params"] = params
    return message


def reason(answer: dict[str, Any]) -> str:
    return str(answer["error"]["data"]["reason"])


def test_result_by_name_and_by_position() -> None:
    assert call(request("echo", {"text": "ab", "times": 2})) == {"jsonrpc": "2.0", "result": "abab", "id": 1}
    assert call(request("echo", ["x", 3], "s"))["result"] == "xxx"


def test_protocol_errors() -> None:
    assert reason(call(b"{")) == "parse_error"
    assert reason(call(b"[]")) == "invalid_request"
    assert reason(call({"jsonrpc": "2.0", "id": 1})) == "invalid_request"
    assert reason(call({**request("echo", {"text": "a"}), "extra": 1})) == "invalid_request"
    assert call({"jsonrpc": "2.0", "method": "echo", "id": [1]})["id"] is None
    assert reason(call(request("nope"))) == "method_not_found"
    assert reason(call(request("echo", ["a", 1, 2]))) == "invalid_params"


def test_invalid_params_name_the_field() -> None:
    error = call(request("echo", {"text": "a", "times": "many"}))["error"]
    assert error["code"] == CODES["invalid_params"][0]
    assert error["data"]["field"] == "times"
    assert error["data"]["errors"][0]["type"] == "int_parsing"


def test_roles() -> None:
    assert reason(call(request("echo", {"text": "a"}), role=None)) == "unauthenticated"
    assert reason(call(request("admin.echo", {"text": "a"}))) == "forbidden"
    assert call(request("admin.echo", {"text": "a"}), role=Role.ADMIN)["result"] == "a"
    assert call(request("public.echo", {"text": "a"}), role=None)["result"] == "a"


def test_failures_become_errors_without_details() -> None:
    internal = call(request("explode", {"text": "a"}))
    assert reason(internal) == "internal"
    assert "secret" not in orjson.dumps(internal).decode()
    refused = call(request("refuse", {"text": "a"}))["error"]
    assert refused["data"] == {"reason": "tampered", "field": "signatures[0].signature"}
    assert refused["code"] == CODES["tampered"][0]
    assert reason(call(request("offline", {"text": "a"}))) == "unavailable"


def test_batches_and_notifications() -> None:
    answers = call([request("echo", {"text": "a"}, 1), {"jsonrpc": "2.0", "method": "echo"}, request("nope", None, 2)])
    assert [answer["id"] for answer in answers] == [1, 2]
    assert call({"jsonrpc": "2.0", "method": "echo", "params": {"text": "a"}}) is None
    assert call([{"jsonrpc": "2.0", "method": "echo", "params": {"text": "a"}}]) is None


def test_codes_are_distinct() -> None:
    codes = [code for code, _ in CODES.values()]
    assert len(codes) == len(set(codes))


@pytest.fixture(scope="module")
def openrpc() -> dict[str, Any]:
    # No connection is made: the document is built from the method models alone.
    return Supervisor(Broker.from_url("redis://127.0.0.1:1/0")).openrpc


def test_every_method_is_documented(openrpc: dict[str, Any]) -> None:
    documented = set(re.findall(r"^### (\S+)$", API_DOC.read_text(), re.MULTILINE))
    assert {method["name"] for method in openrpc["methods"]} == documented


def test_every_error_code_is_documented() -> None:
    table = API_DOC.read_text()
    for name, (code, _) in CODES.items():
        assert f"| {code} | `{name}` |" in table


def test_openrpc_methods_have_schemas(openrpc: dict[str, Any]) -> None:
    assert openrpc["openrpc"].startswith("1.2.")
    schemas = openrpc["components"]["schemas"]
    for method in openrpc["methods"]:
        assert method["result"]["schema"], method["name"]
        for param in method["params"]:
            assert param["schema"], (method["name"], param["name"])
        refs = re.findall(r'"#/components/schemas/([^"]+)"', orjson.dumps(method).decode())
        assert all(ref in schemas for ref in refs), method["name"]
