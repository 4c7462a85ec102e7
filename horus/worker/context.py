"""What a plugin sees while it runs one job."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from horus.keys import DEFAULT_NAMESPACE
from horus.models import Job

if TYPE_CHECKING:
    from horus.tasks import Progress

log = logging.getLogger("horus.worker")

#: Environment a subprocess inherits besides the job's own env vars; nothing else of the
#: worker's environment (which may hold credentials) reaches a job.
BASE_ENV_NAMES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR")


#: How long a killed job's processes may take to go before its result is stored anyway.
GONE_WITHIN_S = 10.0


class JobTimeout(BaseException):
    """The job ran past its timeout."""


def group_alive(pgid: int) -> bool:
    """Whether a process group has a member that is not a zombie (a SIGKILLed process dies when
    next scheduled, a while after the kill, and a zombie waits for its parent)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a member we may not signal: look at /proc like for the rest
    with os.scandir("/proc") as entries:  # closed on the early return too
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


def kill_groups_and_wait(pgids: list[int], within_s: float = GONE_WITHIN_S) -> bool:
    """SIGKILL the groups and wait until none has a live member: a result stored after this
    never reaches anyone while the job's processes still run. False if some outlived the wait."""
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    deadline, delay = time.monotonic() + within_s, 0.001
    left = [pgid for pgid in pgids if group_alive(pgid)]
    while left:
        if time.monotonic() > deadline:
            log.warning("process group(s) %s still alive %.0f s after SIGKILL", left, within_s)
            return False
        time.sleep(delay)  # the kernel gives no event for "this group is empty"
        delay = min(delay * 2, 0.05)
        left = [pgid for pgid in left if group_alive(pgid)]
    return True


def _ignore(_report: Progress) -> None:
    return None


@dataclass
class JobContext:
    job: Job
    runner_id: str
    worker_id: str
    deadline: float
    log: Callable[[str], None]
    announce: Callable[[str], None] = lambda _message: None
    #: This attempt's number: 1, then 2 on the first retry, …
    attempt: int = 1
    #: Takes the latest progress report of the job's task; the worker sends it in the background.
    report_progress: Callable[[Progress], None] = _ignore
    #: Where the worker's Redis is and its namespace, for runners that keep data there (osiris).
    redis_url: str = ""
    namespace: str = DEFAULT_NAMESPACE
    process_groups: set[int] = field(default_factory=set)
    #: Every group the job registered, released or not: a timed-out job's are all ended.
    adopted_groups: set[int] = field(default_factory=set)
    #: Whether the master was told of a group, so it must be told when the job ends.
    announced_groups: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def subprocess_env(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in BASE_ENV_NAMES if name in os.environ}
        env.setdefault("PATH", os.defpath)
        env.update(self.job.env_vars)
        env["HORUS_JOB_ID"] = self.job.id
        env["HORUS_RUNNER_ID"] = self.runner_id
        return env

    def adopt_process_group(self, pgid: int) -> None:
        """Record a subprocess group so a timeout or cancel kills it with the job."""
        with self._lock:
            self.process_groups.add(pgid)
            self.adopted_groups.add(pgid)
            self.announced_groups = True
        self.announce(f"pg {pgid}")

    def release_process_group(self, pgid: int) -> None:
        with self._lock:
            self.process_groups.discard(pgid)

    def kill_process_groups(self) -> None:
        """SIGKILL every group the job registered and wait until their processes are gone."""
        with self._lock:
            groups = sorted(self.adopted_groups)
            self.process_groups.clear()
            self.adopted_groups.clear()
        if groups:
            kill_groups_and_wait(groups)
