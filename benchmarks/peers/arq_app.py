"""arq worker settings: ``arq benchmarks.peers.arq_app.WorkerSettings`` (run twice for concurrency 2)."""

from __future__ import annotations

import functools
from typing import Any

from arq.connections import RedisSettings

from benchmarks.peers.common import worker_url

#: Seconds between queue polls; the client polls for results at the same interval. arq's default, 0.5 s, caps a
#: worker at max_jobs per half second. 1 ms drained no faster than 5 ms but kept each idle worker at ~18% CPU
#: (~700 Redis commands/s); 5 ms idles at ~6%.
POLL_DELAY = 0.005
MAX_JOBS = 10


async def noop(ctx: dict[str, Any]) -> None:
    return None


@functools.cache
def _settings() -> type:
    return type(
        "WorkerSettings",
        (),
        {
            "functions": [noop],
            "redis_settings": RedisSettings.from_dsn(worker_url()),
            "max_jobs": MAX_JOBS,
            "poll_delay": POLL_DELAY,
        },
    )


def __getattr__(name: str) -> type:
    # ``arq benchmarks.peers.arq_app.WorkerSettings`` is built from the worker's environment.
    if name == "WorkerSettings":
        return _settings()
    raise AttributeError(name)
