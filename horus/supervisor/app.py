"""The Starlette application: JSON-RPC on ``POST /``, the OpenRPC document on ``GET /openrpc.json``, and
(the supervisor) Prometheus metrics on ``GET /metrics`` and the dashboard under ``/ui`` (horus/ui)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from horus import metrics
from horus.broker import Broker
from horus.connect import async_pool
from horus.errors import WaitTimeout
from horus.resp_async import AsyncCaller
from horus.supervisor.auth import Authenticator
from horus.supervisor.context import Context, Settings
from horus.supervisor.errors import RpcError
from horus.supervisor.methods import dead, inspect, jobs, keys, runners, schedules
from horus.supervisor.openrpc import document
from horus.supervisor.registry import Registry
from horus.supervisor.rpc import MAX_BATCH, MAX_RESPONSE_BYTES, Block, Caller, Dispatcher, Method, Reserve, Step
from horus.ui.routes import Dashboard

log = logging.getLogger("horus.supervisor")

MAX_BODY_BYTES = 1 << 20
_DRAIN_BYTES = 16 << 20
#: Requests waiting at once at most (each holds a Redis connection while it waits, no thread).
MAX_WAITERS = 256
_BATCH = re.compile(rb"[ \t\r\n]*\[")


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _json(value: Any) -> Response:
    return _raw(orjson.dumps(value))


def _raw(body: bytes) -> Response:
    return Response(body, media_type="application/json")


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


class _Slots:
    """Waiter slots: taken from the thread pool (a Reserve) or the event loop (a Block)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.taken = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.taken >= self.most:
                return False
            self.taken += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.taken -= 1


@dataclass
class _Turn:
    """One request's run of the dispatcher: what to send back next, and its share of waiting."""

    steps: Generator[Step, Any, bytes | None]
    slots: _Slots
    send: Any = None
    throw: BaseException | None = None
    slot: bool = False
    spent_s: float = 0.0

    def take_slot(self) -> bool:
        """Whether this request holds a slot (taking one if free); else ``throw`` is busy."""
        if not self.slot:
            self.slot = self.slots.take()
            if not self.slot:
                self.throw = RpcError("busy", f"this server has {self.slots.most} waiting calls already: retry later")
        return self.slot

    def advance(self) -> tuple[bool, Any]:
        """Run the dispatcher to its next wait: (False, the Block) or (True, the response).
        A Reserve is answered here, in the same thread, to save a trip to the event loop."""
        while True:
            send, throw, self.send, self.throw = self.send, self.throw, None, None
            try:
                step = self.steps.throw(throw) if throw is not None else self.steps.send(send)
            except StopIteration as stop:
                return True, stop.value
            if not isinstance(step, Reserve):
                return False, step
            self.take_slot()


class JsonRpcApp:
    """JSON-RPC over HTTP for a set of methods: the transport rules of docs/api.md (body limit,
    batch and response limits, notifications, errors as HTTP 200), shared by the supervisor and
    the coordinator.

    A subclass sets ``dispatcher`` (built with :meth:`make_dispatcher`), ``openrpc``, ``auth``,
    ``settings`` and ``pool`` (for waiting calls) and implements ``_context``.
    """

    dispatcher: Dispatcher
    openrpc: dict[str, Any]
    auth: Authenticator
    settings: Settings
    pool: AsyncCaller

    def __init__(
        self,
        max_body_bytes: int = MAX_BODY_BYTES,
        threads: int = 64,
        max_batch: int = MAX_BATCH,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_waiters: int = MAX_WAITERS,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        # A batch parses to many small objects before any call is checked: its body keeps the
        # supervisor's limit even where single calls may be larger (a coordinator's workflow).
        self.max_batch_body_bytes = min(max_body_bytes, MAX_BODY_BYTES)
        self.threads = threads
        self.max_batch = max_batch
        self.max_response_bytes = max_response_bytes
        self.max_waiters = max_waiters
        self._limiter: anyio.CapacityLimiter | None = None
        self._slots = _Slots(max_waiters)
        self._openrpc_bytes: bytes | None = None

    def make_dispatcher(self, methods: list[Method]) -> Dispatcher:
        return Dispatcher(methods, self.max_batch, self.max_response_bytes)

    def _context(self, caller: Caller | None) -> Any:
        raise NotImplementedError

    def limiter(self) -> anyio.CapacityLimiter:
        """The thread pool's limit: our own, not anyio's default 40 shared with everything else."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._limiter

    def take_waiter(self) -> bool:
        """Take a waiter slot for a wait outside the dispatcher (the dashboard's log stream)."""
        return self._slots.take()

    def give_back_waiter(self) -> None:
        self._slots.give_back()

    def openrpc_bytes(self) -> bytes:
        """The OpenRPC document serialized once: rpc.discover and GET /openrpc.json send these bytes."""
        if self._openrpc_bytes is None:
            self._openrpc_bytes = orjson.dumps(self.openrpc)
        return self._openrpc_bytes

    def _discover(self, _ctx: Any, _params: NoParams) -> orjson.Fragment:
        return orjson.Fragment(self.openrpc_bytes())

    def discover_method(self) -> Method:
        return Method("rpc.discover", "This API's OpenRPC document.", NoParams, dict[str, Any], self._discover, None)

    async def rpc(self, request: Request) -> Response:
        try:
            body = await _read_body(request, self.max_body_bytes)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            return _error(RpcError("request_too_large", f"request body larger than {self.max_body_bytes} bytes"))
        if len(body) > self.max_batch_body_bytes and _BATCH.match(body):
            return _error(RpcError("request_too_large", f"batch body larger than {self.max_batch_body_bytes} bytes"))
        authorization = request.headers.get("authorization")
        steps = self.dispatcher.steps(body, lambda: self.auth.caller(authorization), self._context)
        try:
            answer = await self._drive(steps)
        except Exception:  # the dispatcher answers every error itself; this is the last guard
            log.exception("unexpected error handling a request")
            return _error(RpcError("internal", "internal error"))
        finally:
            steps.close()
        if answer is None:  # notifications only: JSON-RPC answers nothing
            return Response(status_code=204)
        return _raw(answer)

    async def _drive(self, steps: Generator[Step, Any, bytes | None]) -> bytes | None:
        """Run the dispatcher: its Redis calls in our thread pool (they block, briefly), its waits
        on the event loop, so a waiting call holds no thread.

        A request takes one waiter slot at its first wait and keeps it to the end; past
        ``max_waiters`` slots, its waiting calls are refused with ``busy``. Its waits together
        last at most ``settings.max_wait_s``: past that, each later wait ends at once, as a
        wait_s that ran out does.
        """
        limiter = self.limiter()
        turn = _Turn(steps, self._slots)
        try:
            while True:
                done, step = await anyio.to_thread.run_sync(turn.advance, limiter=limiter)
                if done:
                    answer: bytes | None = step
                    return answer
                assert isinstance(step, Block)
                if turn.take_slot():
                    await self._block(turn, step)
        finally:
            if turn.slot:
                self._slots.give_back()

    async def _block(self, turn: _Turn, step: Block) -> None:
        """Run what a method waits on, within what is left of the request's waiting time."""
        allowed = self.settings.max_wait_s - turn.spent_s
        if allowed <= 0:
            turn.throw = WaitTimeout(f"this request's waits took the {self.settings.max_wait_s} s one request may wait")
            return
        seconds = min(step.timeout_s, allowed)
        started = time.monotonic()
        try:
            turn.send = await self.pool.call(*step.command(seconds), timeout_s=seconds + 10)
        except Exception as exc:  # handed to the method, which answers it as its error
            turn.throw = exc
        turn.spent_s += time.monotonic() - started

    async def openrpc_json(self, _request: Request) -> Response:
        return _raw(self.openrpc_bytes())

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.pool.aclose()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.rpc, methods=["POST"]),
                Route("/openrpc.json", self.openrpc_json, methods=["GET"]),
            ],
            lifespan=self._lifespan,
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
        max_batch: int = MAX_BATCH,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_waiters: int = MAX_WAITERS,
        metrics_token_required: bool = False,
        coordinator_url: str | None = None,
    ) -> None:
        super().__init__(max_body_bytes, threads, max_batch, max_response_bytes, max_waiters)
        self.broker = broker
        self.pool = async_pool(broker.target)
        self.registry = Registry(broker)
        self.auth = Authenticator(self.registry, admin_token, insecure)
        self.settings = settings or Settings()
        methods: list[Method] = [
            self.discover_method(),
            *jobs.METHODS,
            *runners.METHODS,
            *keys.METHODS,
            *dead.METHODS,
            *schedules.METHODS,
            *inspect.METHODS,
        ]
        self.dispatcher = self.make_dispatcher(methods)
        self.openrpc = document(methods)
        self.metrics_token_required = metrics_token_required
        self.metrics_registry = metrics.registry_for(broker)
        self.dashboard = Dashboard(self, coordinator_url)

    def _context(self, caller: Caller | None) -> Context:
        return Context(self.broker, self.registry, self.settings, caller)

    def context_for(self, caller: Caller) -> Context:
        return self._context(caller)

    def _scrape(self, client_host: str | None, authorization: str | None) -> Response:
        """Check access (a token lookup reads Redis), then read the metrics: in a worker thread."""
        if metrics.needs_token(client_host, self.metrics_token_required):
            try:
                self.auth.caller(authorization)
            except RpcError as exc:
                headers = {"WWW-Authenticate": 'Bearer realm="horus"'}
                return Response(f"{exc}\n", status_code=401, media_type="text/plain", headers=headers)
        return Response(metrics.render(self.metrics_registry), media_type=metrics.CONTENT_TYPE)

    async def metrics(self, request: Request) -> Response:
        host = request.client.host if request.client is not None else None
        authorization = request.headers.get("authorization")
        return await anyio.to_thread.run_sync(self._scrape, host, authorization, limiter=self.limiter())

    def app(self) -> Starlette:
        app = super().app()
        app.router.routes.append(Route("/metrics", self.metrics, methods=["GET"]))
        app.router.routes.extend(self.dashboard.routes())
        return app


def create_app(broker: Broker, **options: Any) -> Starlette:
    return Supervisor(broker, **options).app()
