"""The ``net`` module against a local HTTP server and sockets on loopback (never the internet)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from horus.sal.common import SalError
from horus.sal.net import NetModule


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Test", "one")
        self.send_header("X-Test", "two")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/missing":
            self._reply(404, b"not here")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hello")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/escape":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            echo = {"path": self.path, "auth": self.headers.get("Authorization")}
            self._reply(200, json.dumps(echo).encode(), "application/json")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        echo = {"body": body, "type": self.headers.get("Content-Type"), "x": self.headers.get("X-Custom")}
        self._reply(201, json.dumps(echo).encode(), "application/json")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def net() -> NetModule:
    return NetModule(time.monotonic() + 30)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tcp_check_open_and_closed(net: NetModule) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert net.tcp_check("127.0.0.1", listener.getsockname()[1], 2) is True
    assert net.tcp_check("127.0.0.1", closed_port(), 2) is False


def test_tcp_check_refuses_bad_port(net: NetModule) -> None:
    with pytest.raises(SalError, match=r"port must be an integer from 1 to 65535, not 70000"):
        net.tcp_check("127.0.0.1", 70000)


def test_http_get(net: NetModule, server: str) -> None:
    reply = net.http_get(f"{server}/hello?x=1", {"Authorization": "Bearer t"})
    assert reply["status"] == 200
    assert json.loads(reply["body"]) == {"path": "/hello?x=1", "auth": "Bearer t"}
    assert reply["headers"]["content-type"] == "application/json"
    assert reply["headers"]["x-test"] == "one, two"


def test_http_error_status_is_a_reply_not_an_error(net: NetModule, server: str) -> None:
    reply = net.http_get(f"{server}/missing")
    assert (reply["status"], reply["body"]) == (404, "not here")


def test_redirects_are_followed_over_http_only(net: NetModule, server: str) -> None:
    assert json.loads(net.http_get(f"{server}/redirect")["body"])["path"] == "/hello"
    assert net.http_get(f"{server}/escape")["status"] == 302


def test_http_post_text_and_json(net: NetModule, server: str) -> None:
    reply = net.http_post(f"{server}/in", "plain", {"X-Custom": "yes"})
    assert reply["status"] == 201
    assert json.loads(reply["body"]) == {"body": "plain", "type": "text/plain; charset=utf-8", "x": "yes"}
    sent = json.loads(net.http_post(f"{server}/in", {"a": [1, 2]})["body"])
    assert (json.loads(sent["body"]), sent["type"]) == ({"a": [1, 2]}, "application/json")


def test_only_http_urls(net: NetModule) -> None:
    for url in ("file:///etc/passwd", "ftp://example.org/x", "data:,hello", "not a url"):
        with pytest.raises(SalError, match=r"only http:// and https:// URLs are supported"):
            net.http_get(url)


def test_unreachable_url_is_named_without_its_password(net: NetModule) -> None:
    url = f"http://user:hunter2@127.0.0.1:{closed_port()}/x"
    with pytest.raises(SalError, match=r"GET http://user:\*\*\*@127.0.0.1:\d+/x failed") as caught:
        net.http_get(url)
    assert "hunter2" not in str(caught.value)


def test_slow_server_times_out(net: NetModule) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        began = time.monotonic()
        with pytest.raises(SalError, match=r"GET http://127.0.0.1:\d+/ failed: .*timed out"):
            net.http_get(f"http://127.0.0.1:{silent.getsockname()[1]}/", None, 0.5)
        assert time.monotonic() - began < 15  # the 0.5 s bound held, with room for a busy machine


def test_job_deadline_bounds_the_timeout() -> None:
    net = NetModule(time.monotonic() + 0.3)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        began = time.monotonic()
        with pytest.raises(SalError, match=r"timed out"):
            net.http_get(f"http://127.0.0.1:{silent.getsockname()[1]}/")  # default timeout is 30 s
        assert time.monotonic() - began < 15  # well short of the 30 s default
