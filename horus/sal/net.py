"""``net``: TCP reachability and plain HTTP requests, each bounded by a timeout and the job's deadline."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from horus.sal.common import SalError, redact_url, seconds, show_value, time_left

DEFAULT_TCP_TIMEOUT_S = 5.0
DEFAULT_HTTP_TIMEOUT_S = 30.0
#: A response body larger than this fails the call instead of filling the worker's memory.
MAX_BODY_BYTES = 64 * 1024 * 1024


def _opener() -> urllib.request.OpenerDirector:
    """HTTP and HTTPS only: no file://, ftp:// or data: URLs, even through a redirect."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _headers(message: Message) -> dict[str, str]:
    """Response headers by lower-case name; repeated headers joined with ", "."""
    found: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        found[key] = f"{found[key]}, {value}" if key in found else value
    return found


class NetModule:
    def __init__(self, deadline: float | None = None) -> None:
        self._deadline = deadline
        self._opener = _opener()

    def tcp_check(self, host: str, port: int, timeout: float = DEFAULT_TCP_TIMEOUT_S) -> bool:
        """True when a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise SalError(f"port must be an integer from 1 to 65535, not {show_value(port)}")
        wait = time_left(self._deadline, seconds(timeout, "tcp_check timeout"))
        try:
            with socket.create_connection((host, port), timeout=wait):
                return True
        except OSError:
            return False

    def http_get(
        self, url: str, headers: dict[str, Any] | None = None, timeout: float = DEFAULT_HTTP_TIMEOUT_S
    ) -> dict[str, Any]:
        """GET ``url``; returns ``#{status, body, headers}`` for any HTTP status."""
        return self._request("GET", url, None, headers, timeout)

    def http_post(
        self, url: str, body: Any = "", headers: dict[str, Any] | None = None, timeout: float = DEFAULT_HTTP_TIMEOUT_S
    ) -> dict[str, Any]:
        """POST ``body`` (a string, or a map/array sent as JSON) to ``url``."""
        return self._request("POST", url, body, headers, timeout)

    def _request(self, method: str, url: str, body: Any, headers: Any, timeout: float) -> dict[str, Any]:
        shown = redact_url(url) if isinstance(url, str) else show_value(url)
        if not isinstance(url, str) or urlsplit(url).scheme.lower() not in ("http", "https"):
            raise SalError(f"{method} {shown}: only http:// and https:// URLs are supported")
        if headers is not None and not isinstance(headers, dict):
            raise SalError(f"{method} {shown}: headers must be a map, not {show_value(headers)}")
        sent = {str(name): str(value) for name, value in (headers or {}).items()}
        data: bytes | None = None
        if body is not None and method != "GET":
            if isinstance(body, dict | list):
                data = json.dumps(body).encode()
                if not any(name.lower() == "content-type" for name in sent):
                    sent["Content-Type"] = "application/json"
            else:
                data = str(body).encode()
                if not any(name.lower() == "content-type" for name in sent):
                    sent["Content-Type"] = "text/plain; charset=utf-8"
        request = urllib.request.Request(url, data=data, headers=sent, method=method)
        wait = time_left(self._deadline, seconds(timeout, "http timeout"))
        try:
            with self._opener.open(request, timeout=wait) as response:
                return self._reply(method, shown, response.status, response.headers, response)
        except urllib.error.HTTPError as err:
            with err:
                return self._reply(method, shown, err.code, err.headers, err)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise SalError(f"{method} {shown} failed: {reason}") from None

    @staticmethod
    def _reply(method: str, shown: str, status: int, headers: Message, stream: Any) -> dict[str, Any]:
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise SalError(f"{method} {shown}: response body larger than {MAX_BODY_BYTES} bytes")
        charset = headers.get_content_charset() or "utf-8"
        try:
            text = raw.decode(charset, errors="replace")
        except LookupError:
            text = raw.decode("utf-8", errors="replace")
        return {"status": status, "body": text, "headers": _headers(headers)}
