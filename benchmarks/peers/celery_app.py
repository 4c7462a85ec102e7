"""The Celery app the benchmark's worker runs: ``celery -A benchmarks.peers.celery_app worker``."""

from __future__ import annotations

import functools
import time

from celery import Celery

from benchmarks.peers.common import worker_url

NOOP = "bench.noop"


def make_app(url: str, results: bool = True) -> Celery:
    """The app; ``results=False`` gives a client without the result backend (for pre-filling the drain queue)."""
    app = Celery("bench", broker=url, backend=url if results else None, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # Optimizing guide, "Prefetch Limits": many short tasks want a large multiplier (the guide's example: 64
        # or 128); the default is 4.
        worker_prefetch_multiplier=64,
        task_acks_late=False,  # the default: acknowledged when the worker receives the task
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name=NOOP)
    def noop() -> float:
        return time.time()

    return app


@functools.cache
def _worker_app() -> Celery:
    return make_app(worker_url())


def __getattr__(name: str) -> Celery:
    # ``celery -A benchmarks.peers.celery_app`` looks up ``app``; it is built from the worker's environment.
    if name == "app":
        return _worker_app()
    raise AttributeError(name)
