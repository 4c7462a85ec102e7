"""The Huey instance the consumer runs: ``huey_consumer benchmarks.peers.huey_app.huey -w 2 -k process``."""

from __future__ import annotations

import functools
import time

from huey import RedisHuey
from huey.api import TaskWrapper


def make_huey(url: str) -> tuple[RedisHuey, TaskWrapper]:
    """RedisHuey (blocking BRPOP dequeue, the default) with ``notify_result`` for low-latency result waits."""
    huey = RedisHuey("bench", url=url, notify_result=True)

    @huey.task(name="noop")
    def noop() -> float:
        return time.time()

    return huey, noop


@functools.cache
def _worker_huey() -> RedisHuey:
    from benchmarks.peers.common import worker_url

    return make_huey(worker_url())[0]


def __getattr__(name: str) -> RedisHuey:
    # ``huey_consumer benchmarks.peers.huey_app.huey`` is built from the worker's environment.
    if name == "huey":
        return _worker_huey()
    raise AttributeError(name)
