"""The Starlette application: JSON-RPC on ``POST /``, the OpenRPC document on ``GET /openrpc.json``."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from horus.broker import Broker
from horus.supervisor.auth import Authenticator
from horus.supervisor.context import Context, Settings
from horus.supervisor.errors import RpcError
from horus.supervisor.methods import jobs, keys, runners
from horus.supervisor.openrpc import document
from horus.supervisor.registry import Registry
from horus.supervisor.rpc import Caller, Dispatcher, Method

log = logging.getLogger("horus.supervisor")

MAX_BODY_BYTES = 1 << 20
_DRAIN_BYTES = 16 << 20


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _json(value: Any) -> Response:
    return Response(orjson.dumps(value), media_type="application/json")


def _error(error: RpcError) -> Response:
    return _json({"jsonrpc": "2.0", "error": error.as_error(), "id": None})


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None past ``limit`` bytes.

    An oversized body is still read (and dropped) up to ``_DRAIN_BYTES``, because a client
    still sending when the answer comes gets a broken pipe instead of the error; past that, the
    connection is given up on.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _DRAIN_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _DRAIN_BYTES:
            return None
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks) if size <= limit else None


class JsonRpcApp:
    """JSON-RPC over HTTP for a set of methods: the transport rules of docs/api.md (body limit,
    batches, notifications, errors as HTTP 200), shared by the supervisor and the coordinator.

    A subclass sets ``dispatcher``, ``openrpc`` and ``auth`` and implements ``_context``.
    """

    dispatcher: Dispatcher
    openrpc: dict[str, Any]
    auth: Authenticator

    def __init__(self, max_body_bytes: int = MAX_BODY_BYTES, threads: int = 64) -> None:
        self.max_body_bytes = max_body_bytes
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None

    def _context(self, caller: Caller | None) -> Any:
        raise NotImplementedError

    def _discover(self, _ctx: Any, _params: NoParams) -> dict[str, Any]:
        return self.openrpc

    def discover_method(self) -> Method:
        return Method("rpc.discover", "This API's OpenRPC document.", NoParams, dict[str, Any], self._discover, None)

    async def rpc(self, request: Request) -> Response:
        try:
            body = await _read_body(request, self.max_body_bytes)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            return _error(RpcError("request_too_large", f"request body larger than {self.max_body_bytes} bytes"))
        authorization = request.headers.get("authorization")
        try:
            # Methods block on Redis (job.run waits for the result): keep them off the event loop,
            # in a pool of our own size rather than anyio's default 40 shared with everything else.
            if self._limiter is None:
                self._limiter = anyio.CapacityLimiter(self.threads)
            answer = await anyio.to_thread.run_sync(
                partial(self.dispatcher.handle, body, lambda: self.auth.caller(authorization), self._context),
                limiter=self._limiter,
            )
        except Exception:  # the dispatcher answers every error itself; this is the last guard
            log.exception("unexpected error handling a request")
            return _error(RpcError("internal", "internal error"))
        if answer is None:  # notifications only: JSON-RPC answers nothing
            return Response(status_code=204)
        return _json(answer)

    async def openrpc_json(self, _request: Request) -> Response:
        return _json(self.openrpc)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.rpc, methods=["POST"]),
                Route("/openrpc.json", self.openrpc_json, methods=["GET"]),
            ]
        )


class Supervisor(JsonRpcApp):
    """One supervisor process's wiring; all state is in Redis (see registry.py)."""

    def __init__(
        self,
        broker: Broker,
        admin_token: str | None = None,
        insecure: bool = False,
        settings: Settings | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        threads: int = 64,
    ) -> None:
        super().__init__(max_body_bytes, threads)
        self.broker = broker
        self.registry = Registry(broker)
        self.auth = Authenticator(self.registry, admin_token, insecure)
        self.settings = settings or Settings()
        methods: list[Method] = [self.discover_method(), *jobs.METHODS, *runners.METHODS, *keys.METHODS]
        self.dispatcher = Dispatcher(methods)
        self.openrpc = document(methods)

    def _context(self, caller: Caller | None) -> Context:
        return Context(self.broker, self.registry, self.settings, caller)


def create_app(broker: Broker, **options: Any) -> Starlette:
    return Supervisor(broker, **options).app()
