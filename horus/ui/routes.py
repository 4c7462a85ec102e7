"""The dashboard's HTTP routes on the supervisor: its static page under ``/ui`` and a job's live log
as server-sent events.

The page calls the JSON-RPC methods on ``POST /`` with the token the operator pasted, so it has
exactly the authority of that token and this module adds none: the only data route here, the log
stream, applies job.tail's rule (the caller must see the job) and holds no thread while it waits.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio.to_thread
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from horus.broker import log_page_of
from horus.errors import ConfigError, JobNotFound
from horus.models import TERMINAL, check_id
from horus.supervisor.errors import RpcError

if TYPE_CHECKING:
    from horus.supervisor.app import Supervisor

#: The page loads its script and style from here only; inline code is refused by the policy, so
#: an injected ``<script>`` or ``onclick=`` in shown data could not run even if escaping failed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
_CURSOR = re.compile(r"^\d{1,20}-\d{1,20}$")
#: One wait on the log stream at most, in seconds: between two waits the stream sends a comment,
#: so a client that went away is noticed within about this long.
BLOCK_S = 5.0
#: Lines read per Redis call; a long log is sent in pages of this many.
PAGE_LINES = 500


def coordinator_link(url: str | None) -> str | None:
    """The Workflows link's target: an http(s) URL only, so a setting cannot smuggle a script in."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--coordinator-url must be an http:// or https:// URL (got {url!r})")
    return url


def _static(name: str) -> bytes:
    return (resources.files("horus.ui") / "static" / name).read_bytes()


def sse(data: str, event: str = "", event_id: str = "") -> bytes:
    """One server-sent event; a line break in ``data`` becomes a second data line, as the format wants."""
    head = (f"event: {event}\n" if event else "") + (f"id: {event_id}\n" if event_id else "")
    body = "".join(f"data: {part}\n" for part in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return (head + body + "\n").encode()


class _Stream(StreamingResponse):
    """A streaming response that gives back its waiter slot however it ends, even unstarted."""

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None], headers: dict[str, str]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:  # the reader left: nothing to answer
            pass
        finally:
            self._release()


class Dashboard:
    """The ``/ui`` routes of one supervisor."""

    def __init__(self, supervisor: Supervisor, coordinator_url: str | None = None) -> None:
        self.supervisor = supervisor
        self.coordinator_url = coordinator_link(coordinator_url)
        self._files = {name: _static(name) for name in _STATIC}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/ui", self.to_page, methods=["GET"]),
            Route("/ui/", self.page, methods=["GET"]),
            Route("/ui/config.json", self.config, methods=["GET"]),
            Route("/ui/static/{name}", self.static, methods=["GET"]),
            Route("/ui/jobs/{job_id}/log", self.log, methods=["GET"]),
        ]

    async def to_page(self, _request: Request) -> Response:
        """``/ui`` to ``/ui/``, so the page's relative links (static/app.js) resolve under it;
        the target is relative too, so the dashboard works behind a proxy's path prefix."""
        return RedirectResponse("ui/", status_code=308, headers=SECURITY_HEADERS)

    async def page(self, _request: Request) -> Response:
        return Response(self._files["index.html"], media_type="text/html", headers=SECURITY_HEADERS)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return Response("not found\n", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
        return Response(self._files[name], media_type=_STATIC[name], headers=SECURITY_HEADERS)

    async def config(self, _request: Request) -> Response:
        """What the page needs before login: nothing secret (the coordinator's address at most)."""
        body = orjson.dumps({"coordinator_url": self.coordinator_url})
        return Response(body, media_type="application/json", headers=SECURITY_HEADERS)

    # -- the live log -----------------------------------------------------------------------
    def _admit(self, authorization: str | None, job_id: str) -> str:
        """The job's runner once the caller may see the job (job.tail's rule); RpcError else.
        Reads Redis, so it runs in the supervisor's thread pool."""
        caller = self.supervisor.auth.caller(authorization)
        ctx = self.supervisor.context_for(caller)
        try:
            if not ctx.may_see(ctx.broker.owner(job_id)):
                raise JobNotFound(job_id)  # the same answer as for a missing job: nothing leaks
            return ctx.broker.runner_of(job_id)
        except JobNotFound:
            raise RpcError("job_not_found", f"no job {job_id!r}") from None

    async def log(self, request: Request) -> Response:
        """``text/event-stream`` of a job's log: a ``data`` event per line (``id`` is the cursor to
        resume from, as ``?cursor=`` or ``Last-Event-ID``), then an ``end`` event with its status."""
        job_id = request.path_params["job_id"]
        cursor = request.query_params.get("cursor") or request.headers.get("last-event-id") or "0-0"
        try:
            check_id(job_id)
        except ValueError as exc:
            return _refusal(400, "invalid_params", f"job_id {exc}")
        if not _CURSOR.match(cursor):
            return _refusal(400, "invalid_params", "cursor must be a log cursor such as 0-0")
        try:
            runner_id = await anyio.to_thread.run_sync(
                self._admit, request.headers.get("authorization"), job_id, limiter=self.supervisor.limiter()
            )
        except RpcError as exc:
            return _refusal(401 if exc.reason == "unauthenticated" else 404, exc.reason, str(exc))
        if not self.supervisor.take_waiter():
            return _refusal(503, "busy", "this server has as many waiting calls as it allows: retry later")
        headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
        return _Stream(self._events(runner_id, job_id, cursor), self.supervisor.give_back_waiter, headers)

    async def _events(self, runner_id: str, job_id: str, cursor: str) -> AsyncIterator[bytes]:
        """Blocking reads of the log stream on the event loop (no thread), until the stream's end,
        the job's end without output, or the supervisor's longest wait (then ``timeout``: resume)."""
        keys, pool = self.supervisor.broker.keys, self.supervisor.pool
        stream, job_key = keys.log(runner_id, job_id), keys.job(runner_id, job_id)
        deadline = time.monotonic() + self.supervisor.settings.max_wait_s
        yield b"retry: 2000\n\n"  # sends the headers now; a dropped stream is reopened after 2 s
        try:
            while True:
                # The status before the stream: a job seen ended has written all its lines.
                done = await pool.call("HGET", job_key, "status", timeout_s=10) in (*TERMINAL, None)
                left = deadline - time.monotonic()
                if left <= 0:
                    yield sse("", "timeout")
                    return
                block = ("BLOCK", max(int(min(BLOCK_S, left) * 1000), 1)) if not done else ()
                reply = await pool.call(
                    "XREAD", "COUNT", PAGE_LINES, *block, "STREAMS", stream, cursor, timeout_s=BLOCK_S + 10
                )
                page = log_page_of(reply, cursor, done)
                for n, line in enumerate(page.lines, 1):
                    yield sse(line, event_id=page.cursor if n == len(page.lines) else "")
                cursor = page.cursor
                if page.ended:
                    status = await pool.call("HGET", job_key, "status", timeout_s=10)
                    yield sse(str(status or "expired"), "end", cursor)
                    return
                if not page.lines:
                    yield b": waiting\n\n"  # a write: a client gone is noticed here
        except Exception as exc:  # Redis lost mid-stream: say so, the page reopens the stream
            yield sse(f"the log stream stopped: {exc}", "error")


def _refusal(status: int, reason: str, message: str) -> Response:
    body: dict[str, Any] = {"error": reason, "message": message}
    headers = dict(SECURITY_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="horus"'
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)
