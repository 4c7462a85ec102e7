"""Polling for replies expected at once: fast replies are polled, slow ones still arrive, and a
connection whose replies keep outrunning the window stops polling for a while."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from horus import resp
from horus.errors import ConfigError
from horus.resp import Address, Connection

#: Wide enough for any loopback reply from another process; SLOW is far past it.
WINDOW_US = 50_000
SLOW = "0.15"

#: Answers ``SLEEP <seconds>`` with +OK after that long and any other command with +OK at once.
#: It runs as its own process: a server thread in the test's process would wait for the GIL while
#: the client polls, and could miss the window for that reason alone.
SERVER = r"""
import socket, sys, threading, time

def answer(conn):
    buf = b""
    with conn:
        while data := conn.recv(65536):
            buf += data
            while True:
                parts = buf.split(b"\r\n")
                if not parts[0].startswith(b"*"):
                    break
                n = int(parts[0][1:])
                if len(parts) < 2 + 2 * n:
                    break
                args = parts[2 : 2 + 2 * n : 2]
                buf = b"\r\n".join(parts[1 + 2 * n :])
                if args[0].upper() == b"SLEEP":
                    time.sleep(float(args[1]))
                conn.sendall(b"+OK\r\n")

listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=answer, args=(conn,), daemon=True).start()
"""


class SlowServer:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.clients: list[Connection] = []

    def connect(self, spin_us: int | None = WINDOW_US) -> Connection:
        conn = Connection(Address(port=self.port), spin_us=spin_us)
        self.clients.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.clients:
            conn.close()
        self.process.kill()
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def server() -> Iterator[SlowServer]:
    s = SlowServer()
    yield s
    s.close()


def test_fast_replies_are_polled_and_keep_full_credit(server: SlowServer) -> None:
    conn = server.connect()
    for _ in range(20):
        assert conn.call("PING") == "OK"
    assert conn._spin_credit == resp.SPIN_CREDIT
    assert conn._spin_skip == 0


def test_a_reply_slower_than_the_window_still_arrives(server: SlowServer) -> None:
    conn = server.connect()
    assert conn.call("SLEEP", SLOW) == "OK"
    assert conn._spin_credit == resp.SPIN_CREDIT - 2


def test_replies_that_keep_outrunning_the_window_stop_polling_then_it_is_tried_again(server: SlowServer) -> None:
    conn = server.connect()
    misses_to_run_out = resp.SPIN_CREDIT // 2
    for _ in range(misses_to_run_out):
        assert conn.call("SLEEP", SLOW) == "OK"
    assert conn._spin_skip == resp.SPIN_BACKOFF
    for _ in range(resp.SPIN_BACKOFF):
        assert conn.call("PING") == "OK"
    assert conn._spin_skip == 0
    assert conn._spin_credit == 2  # the next read polls again, on probation
    conn.call("PING")
    assert conn._spin_credit == 3


def test_no_polling_when_turned_off_or_for_blocking_reads(server: SlowServer) -> None:
    off = server.connect(spin_us=0)
    assert off.call("SLEEP", SLOW) == "OK"
    assert off._spin_credit == resp.SPIN_CREDIT  # never polled, so never charged
    blocking = server.connect()
    assert blocking.call("SLEEP", SLOW, timeout_s=30) == "OK"
    assert blocking._spin_credit == resp.SPIN_CREDIT


def test_pipelined_replies_split_over_packets_are_all_read(server: SlowServer) -> None:
    conn = server.connect()
    assert conn.pipeline([("SLEEP", "0.001")] * 5) == ["OK"] * 5


def test_the_window_comes_from_the_environment_and_a_bad_value_is_named(
    server: SlowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HORUS_REDIS_SPIN_US", "0")
    off = server.connect(spin_us=None)
    assert off.call("SLEEP", SLOW) == "OK"
    assert off._spin_credit == resp.SPIN_CREDIT
    monkeypatch.setenv("HORUS_REDIS_SPIN_US", "fast")
    with pytest.raises(ConfigError, match=r"HORUS_REDIS_SPIN_US .* not 'fast'"):
        server.connect(spin_us=None)
