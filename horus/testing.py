"""Helpers for testing your own tasks: a real worker for the length of a test.

    with run_worker(app, "tasks"):
        assert add.delay(2, 3).get(timeout=10) == 5

For tests that need no worker at all, eager mode (``Horus(..., eager=True)`` or
``HORUS_EAGER=1``) runs each call in-process; docs/python.md, "Testing your tasks".
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

from horus.app import Horus
from horus.client import RedisClient
from horus.config import redacted
from horus.errors import ConfigError
from horus.signing import public_hex

#: How long a stopped worker may take to finish its jobs before it is killed.
STOP_WITHIN_S = 30.0


@contextlib.contextmanager
def run_worker(
    app: Horus,
    module: str,
    *,
    runner_id: str | None = None,
    concurrency: int = 1,
    options: Sequence[str] = (),
    ready_within_s: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``horus worker --type python --app MODULE`` for ``app``'s runner on the app's Redis
    and namespace, trusting the app's key; returns once the worker's heartbeat is in Redis,
    and stops it (SIGTERM, then SIGKILL) on the way out. ``options`` are more worker flags."""
    client = app.client
    if not isinstance(client, RedisClient):
        raise ConfigError("run_worker needs an app that talks to Redis (redis_url=), not to a supervisor")
    if client.key is None:
        raise ConfigError("run_worker needs the app's signing key (key=): the worker trusts its public key")
    runner = runner_id or app.runner_id
    if runner is None:
        raise ConfigError("run_worker needs a runner id: give the app one (Horus('runner1')) or runner_id=")
    argv = [
        sys.executable,
        "-m",
        "horus",
        "worker",
        runner,
        "--type",
        "python",
        "--app",
        module,
        "--concurrency",
        str(concurrency),
        "--namespace",
        client.broker.keys.namespace,
        "--trusted-key",
        public_hex(client.key),
        *options,
    ]
    # The URL goes in the environment, where a password stays out of the process list; the
    # module is imported from the working directory, as `horus worker` run there would.
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "HORUS_REDIS_URL": client.broker.url, "PYTHONPATH": path}
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        _wait_ready(client, runner, proc, ready_within_s)
        yield proc
    finally:
        _stop(proc)


def _wait_ready(client: RedisClient, runner: str, proc: subprocess.Popen[bytes], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not client.serving(runner):
        if proc.poll() is not None:
            raise ConfigError(f"the worker exited with code {proc.returncode} before it was ready (see its output)")
        if time.monotonic() > deadline:
            raise ConfigError(
                f"no heartbeat from the worker of {runner!r} on {redacted(client.broker.url)} after {within_s:.0f} s"
            )
        time.sleep(0.05)  # the heartbeat gives no event to wait on


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
