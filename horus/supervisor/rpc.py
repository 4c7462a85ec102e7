"""A small JSON-RPC 2.0 dispatcher: one request or a batch, in bytes, to the response value.

Transport-free (the Starlette app feeds it bytes) so the protocol rules are testable alone.
Every failure becomes a JSON-RPC error object: callers never see a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from horus.errors import ConnectionFailed, JobActive, JobNotFound, JobRejected, TransportError
from horus.supervisor.errors import RpcError

log = logging.getLogger("horus.supervisor")

_MISSING = object()


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"

    def may(self, required: Role) -> bool:
        """An admin may do what a user may; not the other way round."""
        return self is Role.ADMIN or self is required


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's role, and the identity that owns the jobs it submits."""

    role: Role
    identity: str


@dataclass(frozen=True)
class Method:
    """One RPC method: the models here are also what the OpenRPC document is generated from."""

    name: str
    summary: str
    params: type[BaseModel]
    result: Any  # a type annotation, turned into a schema and a serializer by pydantic
    handler: Callable[[Any, Any], Any]  # (context, params) -> result
    role: Role | None = Role.USER  # None: no token needed
    errors: tuple[str, ...] = ()
    adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "adapter", TypeAdapter(self.result))


#: Resolves the caller once per HTTP request; raises RpcError("unauthenticated").
Identify = Callable[[], Caller]
#: Builds the per-call context handed to handlers, given the caller (None: a method without a role).
MakeContext = Callable[[Caller | None], Any]


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _response(request_id: Any, *, result: Any = _MISSING, error: RpcError | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "error": error.as_error(), "id": request_id}
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def _field(loc: Iterable[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def invalid_params(exc: ValidationError) -> RpcError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    where = _field(first["loc"])
    return RpcError(
        "invalid_params",
        f"invalid params: {where or 'params'}: {first['msg']}",
        where,
        {"errors": [{"field": _field(e["loc"]), "message": e["msg"], "type": e["type"]} for e in errors]},
    )


def translate(exc: Exception) -> RpcError:
    """A Horus error as the JSON-RPC error the API documents for it."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, JobRejected):
        return RpcError(exc.code, f"job rejected: {exc}", exc.field)
    if isinstance(exc, JobNotFound):
        return RpcError("job_not_found", str(exc), "job_id")
    if isinstance(exc, JobActive):
        return RpcError("job_active", str(exc), "job_id", {"status": exc.status})
    if isinstance(exc, ConnectionFailed):
        log.warning("Redis unavailable: %s", exc)
        return RpcError("unavailable", "the job store is unavailable; try again")
    if isinstance(exc, TransportError):
        log.error("Redis error: %s", exc)
        return RpcError("internal", "internal error")
    log.exception("unexpected error in a method")
    return RpcError("internal", "internal error")


class Dispatcher:
    def __init__(self, methods: Iterable[Method]) -> None:
        self.methods = {method.name: method for method in methods}

    def handle(self, body: bytes, identify: Identify, make_context: MakeContext) -> Any:
        """The response value for ``body`` (an object, a list for a batch), or None when
        nothing is to be answered (only notifications)."""
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _response(None, error=RpcError("parse_error", f"parse error: {exc}"))
        cached: list[Caller] = []

        def caller() -> Caller:
            if not cached:
                cached.append(identify())
            return cached[0]

        if isinstance(message, list):
            if not message:
                return _response(None, error=RpcError("invalid_request", "invalid request: empty batch"))
            answers = [self.one(item, caller, make_context) for item in message]
            return [answer for answer in answers if answer is not None] or None
        return self.one(message, caller, make_context)

    def one(self, request: Any, identify: Identify, make_context: MakeContext) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _response(None, error=RpcError("invalid_request", "invalid request: expected an object"))
        request_id = request.get("id", _MISSING)
        shown_id = request_id if request_id is not _MISSING and _valid_id(request_id) else None
        problem = self._shape_problem(request, request_id)
        if problem:
            return _response(shown_id, error=RpcError("invalid_request", f"invalid request: {problem}"))
        try:
            result = self._call(request, identify, make_context)
        except Exception as exc:  # every failure is answered, never raised to the server
            answer = _response(shown_id, error=translate(exc))
        else:
            answer = _response(shown_id, result=result)
        return None if request_id is _MISSING else answer

    @staticmethod
    def _shape_problem(request: dict[str, Any], request_id: Any) -> str:
        if request.get("jsonrpc") != "2.0":
            return '"jsonrpc" must be "2.0"'
        if not isinstance(request.get("method"), str):
            return '"method" must be a string'
        if "params" in request and not isinstance(request["params"], dict | list):
            return '"params" must be an object or an array'
        if request_id is not _MISSING and not _valid_id(request_id):
            return '"id" must be a string, a number or null'
        extra = set(request) - {"jsonrpc", "method", "params", "id"}
        if extra:
            return f"unexpected member(s) {sorted(extra)}"
        return ""

    def _call(self, request: dict[str, Any], identify: Identify, make_context: MakeContext) -> Any:
        method = self.methods.get(request["method"])
        if method is None:
            raise RpcError("method_not_found", f"method not found: {request['method']!r}")
        caller: Caller | None = None
        if method.role is not None:
            caller = identify()
            if not caller.role.may(method.role):
                raise RpcError("forbidden", f"{method.name} needs the {method.role.value} role")
        params = self._params(method, request.get("params", {}))
        result = method.handler(make_context(caller), params)
        return method.adapter.dump_python(result, mode="json")

    @staticmethod
    def _params(method: Method, raw: dict[str, Any] | list[Any]) -> BaseModel:
        if isinstance(raw, list):  # by position, in the order the params model declares its fields
            names = list(method.params.model_fields)
            if len(raw) > len(names):
                raise RpcError("invalid_params", f"invalid params: at most {len(names)} positional params")
            raw = dict(zip(names, raw, strict=False))
        try:
            return method.params.model_validate(raw)
        except ValidationError as exc:
            raise invalid_params(exc) from None
