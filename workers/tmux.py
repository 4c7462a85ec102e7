"""The ``tmux`` runner: a job's payload is a shell command run in a tmux pane.

The job's ``executor`` names the pane (``tmux.SESSION[.WINDOW[.PANE]]``, docs/tmux.md); a
session, window or pane that does not exist is created, detached.
"""

from __future__ import annotations

import re
from typing import ClassVar

from horus.errors import PluginError
from horus.models import Job
from horus.plugin import BaseRunner, Outcome
from horus.tmux import executor
from horus.tmux.jobfiles import StateDir, StateDirError
from horus.tmux.run import PaneJob
from horus.tmux.server import TmuxError, TmuxServer
from horus.worker.context import JobContext

_SOCKET = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class TmuxRunner(BaseRunner):
    runner_type: ClassVar[str] = "tmux"
    options: ClassVar[dict[str, str]] = {
        "socket": "tmux server socket name, as tmux -L NAME (default: the user's default tmux server)",
        "tmux_bin": "the tmux executable (default: tmux on PATH)",
        "shell": "the shell that runs the payload with -c (default: /bin/sh)",
    }

    @property
    def socket(self) -> str | None:
        return self.config.get("socket") or None

    def server(self) -> TmuxServer:
        return TmuxServer(self.config.get("tmux_bin") or "tmux", self.socket)

    def state(self) -> StateDir:
        return StateDir(self.socket or "default")

    def prepare(self) -> None:
        if self.socket is not None and not _SOCKET.match(self.socket):
            raise PluginError(f"tmux socket name {self.socket!r} must be 1-64 letters, digits, '_', '.' or '-'")
        try:
            self.server().version()
            self.state().ensure()
        except (TmuxError, StateDirError) as exc:
            raise PluginError(str(exc)) from None

    def execute(self, job: Job, ctx: JobContext) -> Outcome:
        try:
            target = executor.parse(job.executor, ctx.runner_id)
        except executor.ExecutorError as exc:
            return Outcome.failed(f"invalid executor: {exc}")
        shell = self.config.get("shell") or "/bin/sh"
        return PaneJob(self.server(), self.state(), target, job, ctx, shell).run()
