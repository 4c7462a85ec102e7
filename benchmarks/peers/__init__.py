"""Peer frameworks measured with the same workload as Horus (see benchmarks/peers_README.md).

Each module exposes ``NAME``, ``available()``, ``versions()`` and
``measure(redis_url, jobs, drain_jobs, round_trips) -> dict[str, float]``.
Try them alone with ``python -m benchmarks.peers [names...] [--smoke]``.
"""

from __future__ import annotations

from types import ModuleType

from benchmarks.peers import arq_peer, celery_peer, dramatiq_peer, huey_peer, rq_fork, rq_simple

PEERS: list[ModuleType] = [celery_peer, dramatiq_peer, rq_fork, rq_simple, arq_peer, huey_peer]


def by_name() -> dict[str, ModuleType]:
    return {peer.NAME: peer for peer in PEERS}
