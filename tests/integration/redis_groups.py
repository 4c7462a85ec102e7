"""Real Redis Cluster and Sentinel groups for the tests, started by scripts/redis-group."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from horus.redis_url import ClusterTarget, SentinelTarget, parse_target

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "redis-group"
START_TIMEOUT_S = 120


def _free(port: int) -> bool:
    with socket.socket() as s:
        # As redis-server binds: a port whose last connections linger in TIME_WAIT is free to it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base(offsets: tuple[int, ...], low: int, high: int) -> int:
    """A base port P in [low, high) with P + each offset free (other test runs share the machine)."""
    bases = list(range(low, high, 10))
    random.shuffle(bases)
    for base in bases:
        if all(_free(base + offset) for offset in offsets):
            return base
    raise RuntimeError(f"no free ports in {low}-{high}")


def _needs_redis() -> None:
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        if os.environ.get("CI"):
            raise RuntimeError("redis-server and redis-cli are needed on PATH")
        pytest.skip("redis-server and redis-cli are needed on PATH")


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=START_TIMEOUT_S + 30, check=False
    )


@contextlib.contextmanager
def redis_group(
    kind: str,
    workdir: Path,
    redis_ports: tuple[int, int] = (17900, 18000),
    sentinel_ports: tuple[int, int] = (26430, 26500),
) -> Iterator[str]:
    """Start a ``cluster`` or ``sentinel`` group under ``workdir`` on free ports; yield its URL.

    A sentinel group's Redis and sentinel ports are taken in ``redis_ports`` and ``sentinel_ports``."""
    _needs_redis()
    for _ in range(5):
        if kind == "cluster":
            ports = ["--base-port", str(_free_base((0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105), 17400, 17900))]
        else:
            ports = [
                "--base-port",
                str(_free_base((0, 1), *redis_ports)),
                "--sentinel-port",
                str(_free_base((0, 1, 2), *sentinel_ports)),
            ]
        started = run_script(kind, "start", "--dir", str(workdir), "--timeout", str(START_TIMEOUT_S), *ports)
        if started.returncode == 0:
            break
        if "is taken" not in started.stderr:  # another run took a port between the check and the start
            raise RuntimeError(f"scripts/redis-group {kind} start failed:\n{started.stderr}")
    else:
        raise RuntimeError(f"scripts/redis-group {kind} start found no free ports:\n{started.stderr}")
    try:
        yield started.stdout.strip()
    finally:
        run_script(kind, "stop", "--dir", str(workdir))


@pytest.fixture(scope="module")
def group_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("redis-group")


@pytest.fixture(scope="module")
def cluster(group_dir: Path) -> Iterator[ClusterTarget]:
    """A cluster of the test module's own (a module may kill its nodes)."""
    with redis_group("cluster", group_dir) as url:
        target = parse_target(url)
        assert isinstance(target, ClusterTarget)
        yield target


@pytest.fixture(scope="module")
def sentinel(group_dir: Path) -> Iterator[SentinelTarget]:
    with redis_group("sentinel", group_dir) as url:
        target = parse_target(url)
        assert isinstance(target, SentinelTarget)
        yield target
