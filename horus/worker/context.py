"""What a plugin sees while it runs one job."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from horus.keys import DEFAULT_NAMESPACE
from horus.models import Job

#: Environment a subprocess inherits besides the job's own env vars; nothing else of the
#: worker's environment (which may hold credentials) reaches a job.
BASE_ENV_NAMES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR")


class JobTimeout(BaseException):
    """The job ran past its timeout."""


@dataclass
class JobContext:
    job: Job
    runner_id: str
    worker_id: str
    deadline: float
    log: Callable[[str], None]
    announce: Callable[[str], None] = lambda _message: None
    #: Where the worker's Redis is and its namespace, for runners that keep data there (osiris).
    redis_url: str = ""
    namespace: str = DEFAULT_NAMESPACE
    process_groups: set[int] = field(default_factory=set)
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
            self.announced_groups = True
        self.announce(f"pg {pgid}")

    def release_process_group(self, pgid: int) -> None:
        with self._lock:
            self.process_groups.discard(pgid)

    def kill_process_groups(self) -> None:
        with self._lock:
            groups = list(self.process_groups)
            self.process_groups.clear()
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
