"""Dramatiq broker and actors: ``dramatiq benchmarks.peers.dramatiq_app:setup``."""

from __future__ import annotations

import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from benchmarks.peers.common import worker_url

#: The drain actor proves it ran by pushing its index and finish time here (it stores no result).
STAMPS = "bench:stamps"


def make_broker(url: str) -> RedisBroker:
    """A RedisBroker with the Results middleware and the two actors declared on it."""
    broker = RedisBroker(url=url)
    backend = RedisBackend(url=url)
    broker.add_middleware(Results(backend=backend))

    def noop(index: int = -1) -> None:
        broker.client.rpush(STAMPS, f"{index} {time.time()}")

    def noop_result() -> float:
        return time.time()

    dramatiq.actor(noop, broker=broker, actor_name="noop", max_retries=0)
    dramatiq.actor(noop_result, broker=broker, actor_name="noop_result", max_retries=0, store_results=True)
    return broker


def results_backend(broker: RedisBroker) -> RedisBackend:
    for middleware in broker.middleware:
        if isinstance(middleware, Results):
            backend = middleware.backend
            assert isinstance(backend, RedisBackend)
            return backend
    raise LookupError("no Results middleware")


def setup() -> None:
    """Called by the dramatiq CLI (``module:callable``) in every worker process."""
    dramatiq.set_broker(make_broker(worker_url()))
