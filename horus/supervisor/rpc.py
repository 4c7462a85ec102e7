"""A small JSON-RPC 2.0 dispatcher: one request or a batch, in bytes, to the response bytes.

Transport-free (the Starlette app feeds it bytes) so the protocol rules are testable alone.
Every failure becomes a JSON-RPC error object: callers never see a stack trace.

A method that waits (job.run, job.result with wait_s, ...) is a generator: it yields the
:class:`Block` it would block on instead of blocking, and gets the reply sent back. The server
runs that command on its event loop, so a waiting call holds no thread (app.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from horus.errors import (
    ConnectionFailed,
    JobActive,
    JobNotFound,
    JobRejected,
    NotReplicated,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleRejected,
    TransportError,
)
from horus.resp import Arg
from horus.supervisor.errors import RpcError

log = logging.getLogger("horus.supervisor")

_MISSING = object()

#: Calls in one batch at most: a batch is answered in one piece, so its length bounds the memory
#: and time one request can take (before authentication, for methods that need none).
MAX_BATCH = 100
#: Bytes of one response at most; see :meth:`Dispatcher.steps` for what happens past it.
MAX_RESPONSE_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class Block:
    """A blocking Redis command a waiting method yields instead of running it.

    ``command(seconds)`` is the command blocking at most that long; the server may pass less
    than ``timeout_s`` (a request's waits share one budget) and sends back the reply (None
    when the block timed out), or throws :class:`horus.errors.WaitTimeout` into the method
    when the request has no wait left.
    """

    command: Callable[[float], tuple[Arg, ...]]
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Reserve:
    """Yielded by a waiting method before a side effect (job.run's enqueue): the server makes
    sure it may wait at all, else throws RpcError("busy") there, before anything happened."""


#: What a waiting method's generator yields, and what it returns.
Step = Block | Reserve
Waiting = Generator[Step, Any, Any]


def rotation(key: str, timeout_s: float) -> Block:
    """A wait for an item on a list rotated in place (a result notice), so every waiter sees it."""
    return Block(lambda seconds: ("BLMOVE", key, key, "LEFT", "RIGHT", max(seconds, 0.001)), timeout_s)


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
    handler: Callable[[Any, Any], Any]  # (context, params) -> result, or a Waiting generator of it
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


def _shown_id(request: Any) -> Any:
    """The id to answer with: the request's own when it is a valid one, else null."""
    request_id = request.get("id") if isinstance(request, dict) else None
    return request_id if _valid_id(request_id) else None


def _dumps(answer: dict[str, Any]) -> bytes:
    return orjson.dumps(answer)


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
        kind = "schedule" if isinstance(exc, ScheduleRejected) else "job"
        return RpcError(exc.code, f"{kind} rejected: {exc}", exc.field)
    if isinstance(exc, ScheduleNotFound):
        return RpcError("schedule_not_found", str(exc), "name", {"name": exc.name})
    if isinstance(exc, ScheduleExists):
        return RpcError("schedule_exists", str(exc), "schedules", {"name": exc.name})
    if isinstance(exc, JobNotFound):
        return RpcError("job_not_found", str(exc), "job_id")
    if isinstance(exc, JobActive):
        return RpcError("job_active", str(exc), "job_id", {"status": exc.status})
    if isinstance(exc, NotReplicated):
        log.warning("%s", exc)
        return RpcError("not_replicated", str(exc), "", {"acknowledged": exc.acknowledged, "wanted": exc.wanted})
    if isinstance(exc, ConnectionFailed):
        log.warning("Redis unavailable: %s", exc)
        return RpcError("unavailable", "the job store is unavailable; try again")
    if isinstance(exc, TransportError):
        log.error("Redis error: %s", exc)
        return RpcError("internal", "internal error")
    log.exception("unexpected error in a method")
    return RpcError("internal", "internal error")


class Dispatcher:
    def __init__(
        self, methods: Iterable[Method], max_batch: int = MAX_BATCH, max_response_bytes: int = MAX_RESPONSE_BYTES
    ) -> None:
        self.methods = {method.name: method for method in methods}
        self.max_batch = max_batch
        self.max_response_bytes = max_response_bytes

    def handle(
        self, body: bytes, identify: Identify, make_context: MakeContext, block: Callable[[Block], Any] | None = None
    ) -> bytes | None:
        """:meth:`steps` run to the end, ``block`` running each blocking command in turn."""
        steps = self.steps(body, identify, make_context)
        reply: Any = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                answer: bytes | None = stop.value
                return answer
            if isinstance(step, Block):
                if block is None:
                    raise TypeError("a waiting method needs a block runner")
                reply = block(step)
            else:
                reply = None

    def steps(self, body: bytes, identify: Identify, make_context: MakeContext) -> Generator[Step, Any, bytes | None]:
        """The response for ``body`` (an object, an array for a batch), or None when nothing is
        to be answered (only notifications); yields what waiting methods block on.

        A batch longer than ``max_batch`` is refused whole, before any call runs. Past
        ``max_response_bytes``, the answer that passed the limit and every later one become a
        ``response_too_large`` error: later calls are not run (``data.ran`` says which did),
        so the caller can send them again, and the memory a response takes stays bounded
        whatever the calls return.
        """
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _dumps(_response(None, error=RpcError("parse_error", f"parse error: {exc}")))
        cached: list[Caller] = []

        def caller() -> Caller:
            if not cached:
                cached.append(identify())
            return cached[0]

        if not isinstance(message, list):
            answer = yield from self.one(message, caller, make_context)
            if answer is None:
                return None
            raw = _dumps(answer)
            if len(raw) > self.max_response_bytes:
                return _dumps(_response(answer["id"], error=self._too_large(len(raw), ran=True)))
            return raw
        return (yield from self._batch(message, caller, make_context))

    def _batch(
        self, message: list[Any], identify: Identify, make_context: MakeContext
    ) -> Generator[Step, Any, bytes | None]:
        if not message:
            return _dumps(_response(None, error=RpcError("invalid_request", "invalid request: empty batch")))
        if len(message) > self.max_batch:
            return _dumps(
                _response(
                    None,
                    error=RpcError(
                        "batch_too_large",
                        f"batch of {len(message)} calls is longer than this server's limit of {self.max_batch} "
                        "calls per request: send it in smaller batches",
                        "",
                        {"limit": self.max_batch},
                    ),
                )
            )
        parts: list[bytes] = []
        size = 2  # the brackets
        for item in message:
            if size > self.max_response_bytes:  # an earlier answer passed the limit: do not run this one
                answer = _response(_shown_id(item), error=self._too_large(size, ran=False))
                if isinstance(item, dict) and "id" not in item:
                    continue
            else:
                answer = yield from self.one(item, identify, make_context)
                if answer is None:
                    continue
            raw = _dumps(answer)
            size += len(raw) + 1
            if size > self.max_response_bytes and "result" in answer:
                raw = _dumps(_response(answer["id"], error=self._too_large(size, ran=True)))
            parts.append(raw)
        return b"[" + b",".join(parts) + b"]" if parts else None

    def _too_large(self, size: int, ran: bool) -> RpcError:
        what = "this call ran but its answer was dropped" if ran else "this call was not run"
        return RpcError(
            "response_too_large",
            f"the response passed this server's limit of {self.max_response_bytes} bytes at {size} bytes: {what}; "
            "ask for less per call (a smaller limit, job.tail instead of job.logs) or per batch",
            "",
            {"limit": self.max_response_bytes, "ran": ran},
        )

    def one(self, request: Any, identify: Identify, make_context: MakeContext) -> Waiting:
        """The answer to one request object (None for a notification); yields what it waits on."""
        if not isinstance(request, dict):
            return _response(None, error=RpcError("invalid_request", "invalid request: expected an object"))
        request_id = request.get("id", _MISSING)
        shown_id = _shown_id(request)
        problem = self._shape_problem(request, request_id)
        if problem:
            return _response(shown_id, error=RpcError("invalid_request", f"invalid request: {problem}"))
        try:
            result = yield from self._call(request, identify, make_context)
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

    def _call(self, request: dict[str, Any], identify: Identify, make_context: MakeContext) -> Waiting:
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
        if isinstance(result, Generator):
            result = yield from result
        if isinstance(result, orjson.Fragment):  # already serialized (rpc.discover)
            return result
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
