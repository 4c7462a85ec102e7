"""``horus worker --metrics-port``: the master's own metrics over HTTP, served from its loop.

The master keeps no threads (forking a child must never copy a lock a thread held), so instead
of prometheus_client's threaded server this answers scrapes from the master's selector: a
request is read without blocking, and its answer (a few KiB) fits the socket's send buffer.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from horus.metrics import CONTENT_TYPE

#: A request's head larger than this is refused; one silent longer than IDLE_S is dropped.
MAX_REQUEST_BYTES = 16 * 1024
IDLE_S = 5.0
SEND_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class WorkerStats:
    """What the master knows of its jobs at a scrape."""

    runner_id: str
    children: int
    running: int
    started: int


class WorkerCollector:
    def __init__(self, stats: Callable[[], WorkerStats]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats()
        started = CounterMetricFamily(
            "horus_worker_jobs_started", "Jobs this worker's children started.", labels=["runner"]
        )
        started.add_metric([stats.runner_id], float(stats.started))
        running = GaugeMetricFamily("horus_worker_jobs_running", "Jobs running now in this worker.", labels=["runner"])
        running.add_metric([stats.runner_id], float(stats.running))
        children = GaugeMetricFamily("horus_worker_children", "This worker's child processes.", labels=["runner"])
        children.add_metric([stats.runner_id], float(stats.children))
        yield from (started, running, children)


def worker_registry(stats: Callable[[], WorkerStats]) -> CollectorRegistry:
    """prometheus_client's process, platform and GC collectors, and the master's job counts, in a
    registry of their own."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(WorkerCollector(stats))
    return registry


@dataclass
class _Client:
    sock: socket.socket
    since: float
    buffer: bytes = field(default=b"")


class MetricsServer:
    """A listening socket and its clients, each a file descriptor the master's selector watches."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, selector: selectors.BaseSelector) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, port), family=family, backlog=16)
        self.listener.setblocking(False)
        self.registry = registry
        self.selector = selector
        self.clients: dict[int, _Client] = {}
        selector.register(self.listener.fileno(), selectors.EVENT_READ)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return str(host), int(port)

    def fileno(self) -> int:
        return self.listener.fileno()

    def owns(self, fd: int) -> bool:
        return fd == self.listener.fileno() or fd in self.clients

    def ready(self, fd: int) -> None:
        """Serve what is ready on ``fd`` (the listener or a client)."""
        if fd == self.listener.fileno():
            self._accept()
            return
        client = self.clients.get(fd)
        if client is not None:
            self._read(fd, client)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:  # none waiting; or out of descriptors, and the scraper retries
                return
            sock.setblocking(False)
            self.clients[sock.fileno()] = _Client(sock, time.monotonic())
            self.selector.register(sock.fileno(), selectors.EVENT_READ)

    def _read(self, fd: int, client: _Client) -> None:
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        client.buffer += data
        if not data or len(client.buffer) > MAX_REQUEST_BYTES:
            self.close(fd)
        elif b"\r\n\r\n" in client.buffer or b"\n\n" in client.buffer:
            self._answer(client)
            self.close(fd)

    def _answer(self, client: _Client) -> None:
        method, _, rest = client.buffer.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            status, body, kind = "405 Method Not Allowed", b"GET only\n", "text/plain"
        elif path not in (b"/metrics", b"/"):
            status, body, kind = "404 Not Found", b"see /metrics\n", "text/plain"
        else:
            status, body, kind = "200 OK", generate_latest(self.registry), CONTENT_TYPE
        head = f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        with contextlib.suppress(OSError):
            client.sock.settimeout(SEND_TIMEOUT_S)
            client.sock.sendall(head.encode() + (b"" if method == b"HEAD" else body))

    def close(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is not None:
            # Unregistered before the close: a later socket may get the same number.
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.selector.unregister(fd)
            client.sock.close()

    def drop_idle(self) -> None:
        """Close clients silent for longer than IDLE_S."""
        limit = time.monotonic() - IDLE_S
        for fd in [fd for fd, client in self.clients.items() if client.since < limit]:
            self.close(fd)

    def shut(self) -> None:
        """Close everything (a forked child drops its copies; the master at its stop)."""
        for fd in list(self.clients):
            self.close(fd)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(self.listener.fileno())
        self.listener.close()
