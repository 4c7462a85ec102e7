"""Tasks the demo runs; also a handy smoke-test module (``--app horus.demo_tasks``)."""

from __future__ import annotations

import os
import platform

from horus.tasks import task


@task
def hello(name: str) -> dict[str, str]:
    print(f"hello, {name}: running in pid {os.getpid()}")
    print(f"GREETING env var given to this job only: {os.environ.get('GREETING', '<unset>')}")
    return {"greeting": f"Hello, {name}!", "python": platform.python_version()}


@task
def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


@task
def noop() -> None:
    return None
