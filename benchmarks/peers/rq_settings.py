"""``rq worker-pool --config benchmarks.peers.rq_settings``: preloads the task module before workers fork.

RQ's docs (Workers, "Performance notes") suggest importing the modules jobs need before the fork, so each work
horse does not import them again.
"""

from __future__ import annotations

from benchmarks.peers import rq_tasks

QUEUES = ["default"]
__all__ = ["QUEUES", "rq_tasks"]
