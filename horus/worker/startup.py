"""A starting worker's first contact with Redis, tried again while Redis is not there yet.

A worker started while Redis starts, or while a Sentinel group or a cluster fails over, finds
no master for a few seconds; giving up at once would leave the runner without a worker until a
supervisor (systemd, Kubernetes) restarts it. Anything but a lost or refused connection (a
wrong password, a bad URL) still ends the worker at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from horus.errors import ConnectionFailed

log = logging.getLogger("horus.worker")

T = TypeVar("T")

#: How long the first contact is tried, and the longest pause between two tries.
STARTUP_RETRY_S = 30.0
STARTUP_PAUSE_MAX_S = 2.0


def patiently(step: Callable[[], T], retry_s: float = STARTUP_RETRY_S) -> T:
    """``step()``, tried again after a :class:`ConnectionFailed` for up to ``retry_s``."""
    deadline, pause = time.monotonic() + retry_s, 0.1
    while True:
        try:
            return step()
        except ConnectionFailed as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("Redis not reachable (%s); trying again in %.1f s", exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, STARTUP_PAUSE_MAX_S)
