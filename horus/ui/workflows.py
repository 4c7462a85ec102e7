"""The coordinator's workflows page: ``GET /ui`` and the few endpoints its script reads.

The page is static (HTML, JS and CSS under workflows_static/, no inline script or style, so the
Content-Security-Policy can forbid both). Its data all comes through the coordinator's JSON-RPC
methods, called with the caller's own bearer token: the script calls ``workflow.list``,
``workflow.status`` and ``workflow.cancel`` on ``POST /`` itself, and the DAG endpoints here run
``workflow.status`` through the same dispatcher (authentication, roles and errors included)
before they lay its steps out. Nothing here reads Redis or decides who may see what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from horus.errors import HorusError
from horus.supervisor.app import JsonRpcApp
from horus.supervisor.errors import RpcError
from horus.ui import dag

#: Everything the page loads is its own: no inline script or style, no other origin, no framing.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: A standalone SVG may run scripts when opened as a document: this one may run none.
SVG_CSP = "default-src 'none'; frame-ancestors 'none'"
_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: The static files served, by name: a fixed table, so no request path ever reaches the file system.
STATIC_TYPES = {
    "workflows.js": "text/javascript; charset=utf-8",
    "workflows.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
#: JSON-RPC error reasons as HTTP statuses for the DAG endpoints (a script reads them; so may curl).
_HTTP_STATUS = {
    "unauthenticated": 401,
    "forbidden": 403,
    "workflow_not_found": 404,
    "invalid_params": 400,
    "busy": 503,
    "unavailable": 503,
    "response_too_large": 413,
}


def headers(csp: str = PAGE_CSP) -> dict[str, str]:
    return {"Content-Security-Policy": csp, **_HEADERS}


def _static(name: str) -> bytes:
    return (resources.files("horus.ui") / "workflows_static" / name).read_bytes()


class Refused(HorusError):
    """A JSON-RPC call of the page's answered with an error: sent back with an HTTP status."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "error"))
        self.error = error
        reason = (error.get("data") or {}).get("reason", "")
        self.status = _HTTP_STATUS.get(reason, 500)


@dataclass(frozen=True)
class _Step:
    id: str
    depends_on: list[str] = field(default_factory=list)


def _response(body: bytes, media_type: str, status: int = 200, csp: str = PAGE_CSP) -> Response:
    return Response(body, status_code=status, media_type=media_type, headers=headers(csp))


def _refusal(exc: Refused) -> Response:
    response = _response(orjson.dumps({"error": exc.error}), "application/json", exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="horus"'
    return response


class WorkflowsUi:
    """The routes of the workflows page, over a JSON-RPC app that has workflow.status (the coordinator)."""

    def __init__(self, rpc: JsonRpcApp) -> None:
        self.rpc = rpc
        self._files: dict[str, bytes] = {}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/ui", self.page, methods=["GET"]),
            Route("/ui/", self.page, methods=["GET"]),
            Route("/ui/static/{name}", self.static, methods=["GET"]),
            Route("/ui/api/session", self.session, methods=["GET"]),
            Route("/ui/api/workflows/{workflow_id}/dag", self.dag_json, methods=["GET"]),
            Route("/ui/api/workflows/{workflow_id}/dag.svg", self.dag_svg, methods=["GET"]),
        ]

    def _file(self, name: str) -> bytes:
        if name not in self._files:
            self._files[name] = _static(name)
        return self._files[name]

    async def page(self, _request: Request) -> Response:
        return _response(self._file("index.html"), "text/html; charset=utf-8")

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_TYPES:
            return _response(b"not found\n", "text/plain", 404)
        return _response(self._file(name), STATIC_TYPES[name])

    async def session(self, request: Request) -> Response:
        """Who the token is (its role decides which buttons the page shows; the server still checks
        each call): the same check every JSON-RPC call makes, nothing more."""
        authorization = request.headers.get("authorization")
        try:
            caller = await anyio.to_thread.run_sync(self.rpc.auth.caller, authorization)
        except RpcError as exc:
            return _refusal(Refused(exc.as_error()))
        return _response(orjson.dumps({"role": caller.role.value, "identity": caller.identity}), "application/json")

    async def call(self, request: Request, method: str, params: dict[str, Any]) -> Any:
        """One JSON-RPC call through the app's own dispatcher, as the request's caller."""
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        authorization = request.headers.get("authorization")
        steps = self.rpc.dispatcher.steps(body, lambda: self.rpc.auth.caller(authorization), self.rpc._context)
        try:
            answer = await self.rpc._drive(steps)
        finally:
            steps.close()
        reply = orjson.loads(answer or b"{}")
        if "error" in reply:
            raise Refused(reply["error"])
        return reply["result"]

    async def _workflow(self, request: Request) -> tuple[dict[str, Any], dag.Layout]:
        info = await self.call(request, "workflow.status", {"workflow_id": request.path_params["workflow_id"]})
        steps = [_Step(s["id"], s["depends_on"]) for s in info["steps"]]
        drawing = await anyio.to_thread.run_sync(dag.layout, steps)
        return info, drawing

    async def dag_json(self, request: Request) -> Response:
        """The workflow's status and its layout: the page draws this once, then polls workflow.status."""
        try:
            info, drawing = await self._workflow(request)
        except Refused as exc:
            return _refusal(exc)
        body = orjson.dumps({"workflow": info, "layout": drawing.as_json()})
        return _response(body, "application/json")

    async def dag_svg(self, request: Request) -> Response:
        """The DAG with each step's status, as one SVG document (for a link, a report, a test)."""
        try:
            info, drawing = await self._workflow(request)
        except Refused as exc:
            return _refusal(exc)
        statuses = {s["id"]: s["status"] for s in info["steps"]}
        svg = await anyio.to_thread.run_sync(dag.render_svg, drawing, statuses)
        return _response(svg.encode(), "image/svg+xml", csp=SVG_CSP)
