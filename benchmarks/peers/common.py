"""What every peer measurement shares: worker processes, timing helpers and the result dict."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import redis

#: The worker processes find the private Redis through this variable; the measuring process never reads it.
URL_ENV = "PEER_BENCH_REDIS_URL"
ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 2
#: Enqueue and round-trip figures are the median of this many runs (a drain runs once: it is long).
RUNS = 3
WAIT_TIMEOUT = 300.0
STOP_TIMEOUT = 15.0

T = TypeVar("T")


def worker_url() -> str:
    """The Redis URL inside a worker process started by :class:`Workers`."""
    url = os.environ.get(URL_ENV)
    if not url:
        raise RuntimeError(f"{URL_ENV} is not set: start this worker through benchmarks.peers")
    return url


def cli(name: str) -> str:
    """A console script installed next to this interpreter (the peer's own CLI, as a user runs it)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    raise RuntimeError(f"{name} is not installed next to {sys.executable}")


class Workers:
    """Worker processes, each in its own session so the whole tree can be stopped."""

    def __init__(self, name: str, commands: Sequence[Sequence[str]], url: str, env: dict[str, str] | None = None):
        self.name = name
        self.commands = [list(c) for c in commands]
        self.env = dict(os.environ)
        self.env[URL_ENV] = url
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        self.env.update(env or {})
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = tempfile.TemporaryFile(prefix=f"peer-{name}-")  # noqa: SIM115 (closed in __exit__)

    def __enter__(self) -> Workers:
        try:
            for argv in self.commands:
                self.procs.append(
                    subprocess.Popen(
                        argv,
                        cwd=ROOT,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=self.log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.log.close()

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name}: worker exited with {proc.returncode}:\n{self.log_tail()}")

    def log_tail(self, limit: int = 4000) -> str:
        self.log.flush()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return text[-limit:]

    def rss_mb(self) -> float:
        """Resident memory of every worker master and its children (Horus's own helper, so the method is the same)."""
        # Imported here, not at module level: worker processes import this module and must not load Horus.
        from benchmarks.horus_bench import rss_mb

        return sum(rss_mb(proc.pid) for proc in self.procs)

    def stop(self) -> None:
        """SIGTERM each master, wait, then SIGKILL whatever is left of each process group."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group is this process's own session
            proc.wait()


def wait_until(condition: Callable[[], bool], what: str, workers: Workers, timeout: float = WAIT_TIMEOUT) -> None:
    """Poll ``condition`` (cheaply, every 20 ms) while checking that the workers are still running."""
    deadline = time.monotonic() + timeout
    while not condition():
        workers.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{workers.name}: timed out after {timeout:.0f}s waiting for {what}\n{workers.log_tail()}"
            )
        time.sleep(0.02)


def collect(
    ids: Sequence[str],
    fetch: Callable[[Sequence[str]], list[T | None]],
    workers: Workers,
    timeout: float = WAIT_TIMEOUT,
    chunk: int = 1000,
) -> list[T]:
    """Read back one record per job id, polling the missing ones until every job has one.

    Call it once the last job is known to be done, so the polling does not load Redis during the drain.
    """
    found: dict[str, T] = {}
    pending = list(ids)
    deadline = time.monotonic() + timeout
    while pending:
        missing: list[str] = []
        for offset in range(0, len(pending), chunk):
            part = pending[offset : offset + chunk]
            for job_id, record in zip(part, fetch(part), strict=True):
                if record is None:
                    missing.append(job_id)
                else:
                    found[job_id] = record
        pending = missing
        if pending:
            workers.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{workers.name}: {len(pending)} of {len(ids)} jobs never finished")
            time.sleep(0.25)
    return [found[job_id] for job_id in ids]


def drain_rate(count: int, first: float, last: float, name: str) -> float:
    if last <= first:
        raise RuntimeError(f"{name}: drain timestamps are not increasing ({first} .. {last})")
    return count / (last - first)


def timed_enqueue(r: redis.Redis, enqueue: Callable[[], object], jobs: int) -> tuple[float, float]:
    """One call per job into a flushed database, ``RUNS`` times: the medians of (jobs/s, Redis
    bytes per queued job).

    One warm-up call first (then FLUSHDB), so connecting and script loading are not counted.
    """
    enqueue()
    r.flushdb()
    rates, sizes = [], []
    for _ in range(RUNS):
        memory_before = int(r.info("memory")["used_memory"])
        started = time.perf_counter()
        for _ in range(jobs):
            enqueue()
        rates.append(jobs / (time.perf_counter() - started))
        sizes.append((int(r.info("memory")["used_memory"]) - memory_before) / jobs)
        r.flushdb()
    return statistics.median(rates), statistics.median(sizes)


def timed_bulk(r: redis.Redis, enqueue_batch: Callable[[int], object], jobs: int, batch: int = 500) -> float:
    """Jobs/s through the peer's bulk enqueue API in batches of ``batch`` (as Horus's ``submit_many``)."""
    r.flushdb()
    started = time.perf_counter()
    for offset in range(0, jobs, batch):
        enqueue_batch(min(batch, jobs - offset))
    rate = jobs / (time.perf_counter() - started)
    r.flushdb()
    return rate


def round_trips(call: Callable[[], None], count: int) -> list[list[float]]:
    """``RUNS`` runs of ``count`` sequential submit-and-wait calls; each run's latencies in ms, sorted."""
    runs = []
    for _ in range(RUNS):
        latencies = []
        for _ in range(count):
            t0 = time.perf_counter()
            call()
            latencies.append((time.perf_counter() - t0) * 1000)
        runs.append(sorted(latencies))
    return runs


def percentile(latencies: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted ``latencies`` lie (nearest rank)."""
    return latencies[min(len(latencies) - 1, int(len(latencies) * fraction))]


def result(
    *,
    enqueue_rate: float,
    drain_rate: float,
    latencies: Sequence[Sequence[float]],
    redis_bytes_per_job: float,
    worker_rss_mb: float,
    bulk_enqueue_rate: float | None = None,
) -> dict[str, float]:
    """The figures of one system; p50 and p99 are the medians over the round-trip runs."""
    figures = {
        "enqueue_rate": enqueue_rate,
        "drain_rate": drain_rate,
        "p50_ms": statistics.median(statistics.median(run) for run in latencies),
        "p99_ms": statistics.median(percentile(run, 0.99) for run in latencies),
        "redis_bytes_per_job": redis_bytes_per_job,
        "worker_rss_mb": worker_rss_mb,
    }
    if bulk_enqueue_rate is not None:
        figures["bulk_enqueue_rate"] = bulk_enqueue_rate
    return figures


def package_versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def importable(*modules: str) -> bool:
    import importlib

    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError:
        return False
    return True
