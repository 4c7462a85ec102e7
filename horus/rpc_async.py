"""JSON-RPC calls to the supervisor from asyncio code, over asyncio streams (no threads).

One HTTP/1.1 request per connection (``Connection: close``): what a handle's ``aget`` needs,
a long server-side wait now and then, costs one connect per wait, and nothing is shared
between event loops. Replies are read to the end, plain or chunked.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from typing import Any
from urllib.parse import urlparse

import orjson

from horus.errors import ConnectionFailed
from horus.sdk import result_of

_ids = itertools.count(1)


class AsyncRpc:
    def __init__(self, url: str, token: str | None = None) -> None:
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectionFailed(f"bad supervisor URL {url!r}: expected http(s)://HOST[:PORT]")
        self.url = url
        self.token = token
        self._host = parts.hostname
        self._tls = parts.scheme == "https"
        self._port = parts.port or (443 if self._tls else 80)
        self._path = parts.path or "/"

    def _request(self, body: bytes) -> bytes:
        lines = [
            f"POST {self._path} HTTP/1.1",
            f"Host: {self._host}:{self._port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def call(self, method: str, timeout_s: float, **params: Any) -> Any:
        """Call one method with named params; its result, or the error a sync call raises."""
        body = orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": next(_ids)})
        try:
            async with asyncio.timeout(timeout_s):
                raw = await self._exchange(self._request(body))
        except TimeoutError:
            raise ConnectionFailed(f"the supervisor at {self.url} did not answer in {timeout_s:.0f} s") from None
        except OSError as exc:
            raise ConnectionFailed(f"cannot reach the supervisor at {self.url}: {exc}") from None
        return result_of(raw, self.url)

    async def _exchange(self, request: bytes) -> bytes:
        tls = ssl.create_default_context() if self._tls else None
        reader, writer = await asyncio.open_connection(
            self._host, self._port, ssl=tls, server_hostname=self._host if tls else None
        )
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            _, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in header_lines if line)
            }
            if "chunked" in headers.get("transfer-encoding", "").lower():
                return await _read_chunked(reader)
            if "content-length" in headers:
                return await reader.readexactly(int(headers["content-length"]))
            return await reader.read()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise ConnectionFailed(f"the supervisor at {self.url} sent a broken HTTP reply: {exc}") from None
        finally:
            writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)
