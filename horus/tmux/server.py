"""The tmux server the runner drives, through the tmux command line.

Panes are found by names, never by tmux's indexes (which tmux renumbers as panes come and
go): a session by its name, a window by its name, a pane by the label the runner stores in
the pane option ``@horus_pane``.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from horus.errors import HorusError
from horus.tmux.executor import Target

PANE_LABEL = "@horus_pane"
#: Size of the sessions the runner creates: detached sessions otherwise get 80x24, which
#: leaves little room to split panes.
SESSION_SIZE = ("-x", "200", "-y", "50")
#: Environment of the tmux commands, hence of a server the runner starts: nothing of the
#: worker's own (which may hold credentials, or a $TMUX pointing at another server).
ENV_NAMES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SHELL", "TERM")
COMMAND_TIMEOUT_S = 10.0


class TmuxError(HorusError, RuntimeError):
    """A tmux command failed; the message holds the command and tmux's own words."""


@dataclass(frozen=True, slots=True)
class Pane:
    pane_id: str
    shell_pid: int


class TmuxServer:
    def __init__(self, binary: str = "tmux", socket: str | None = None) -> None:
        self.binary = binary
        self.socket = socket

    @property
    def prefix(self) -> list[str]:
        return [self.binary, *(["-L", self.socket] if self.socket else [])]

    def run(self, *args: str) -> str:
        env = {name: os.environ[name] for name in ENV_NAMES if name in os.environ}
        try:
            done = subprocess.run(
                [*self.prefix, *args], env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
            )
        except FileNotFoundError:
            raise TmuxError(f"tmux not found: {self.binary!r} (install tmux or set --option tmux_bin=PATH)") from None
        except subprocess.TimeoutExpired:
            raise TmuxError(f"`tmux {' '.join(args)}` did not answer within {COMMAND_TIMEOUT_S:.0f} s") from None
        if done.returncode != 0:
            raise TmuxError(f"`tmux {' '.join(args)}` failed: {done.stderr.strip() or done.returncode}")
        return done.stdout

    def version(self) -> str:
        return self.run("-V").strip()

    # -- finding or making a pane ------------------------------------------------------
    def ensure_pane(self, target: Target) -> Pane:
        """The target's pane, creating its session, window or pane (detached) when missing.

        Callers serialise this per server: two creations of one session would collide.
        """
        if not self._has_session(target.session):
            self.run(
                "new-session", "-d", "-s", target.session, "-n", target.window, "-c", str(Path.home()), *SESSION_SIZE
            )
        window = (
            self._find_window(target)
            or self.run(
                "new-window", "-d", "-t", f"={target.session}:", "-n", target.window, "-P", "-F", "#{window_id}"
            ).strip()
        )
        panes = self._panes(window)
        for pane_id, label, shell_pid in panes:
            if label == target.pane:
                return Pane(pane_id, shell_pid)
        unlabelled = [pane for pane in panes if not pane[1]]
        if len(panes) == 1 and unlabelled:
            pane_id = unlabelled[0][0]  # a window's only pane, not claimed yet: take it
        else:
            pane_id = self.run("split-window", "-d", "-t", window, "-P", "-F", "#{pane_id}").strip()
            self.run("select-layout", "-t", window, "tiled")
        self.run("set-option", "-p", "-t", pane_id, PANE_LABEL, target.pane)
        return self.pane(pane_id)

    def _has_session(self, session: str) -> bool:
        try:
            self.run("has-session", "-t", f"={session}")
        except TmuxError:
            return False
        return True

    def _find_window(self, target: Target) -> str | None:
        listing = self.run("list-windows", "-t", f"={target.session}:", "-F", "#{window_id}\t#{window_name}")
        for line in listing.splitlines():
            window_id, _, name = line.partition("\t")
            if name == target.window:
                return window_id
        return None

    def _panes(self, window: str) -> list[tuple[str, str, int]]:
        listing = self.run("list-panes", "-t", window, "-F", f"#{{pane_id}}\t#{{{PANE_LABEL}}}\t#{{pane_pid}}")
        panes = []
        for line in listing.splitlines():
            pane_id, label, pid = line.split("\t")
            panes.append((pane_id, label, int(pid)))
        return panes

    def pane(self, pane_id: str) -> Pane:
        pid = self.run("display-message", "-p", "-t", pane_id, "#{pane_pid}").strip()
        return Pane(pane_id, int(pid))

    # -- typing a command ---------------------------------------------------------------
    def wait_for_prompt(self, pane: Pane, timeout_s: float) -> None:
        """Wait until the pane's shell is in the foreground (no program runs in it).

        Keys typed while a program runs would go to that program; right after a job, its
        wrapper may still be exiting for a moment.
        """
        deadline = time.monotonic() + timeout_s
        while not foreground_is_shell(pane.shell_pid):
            if time.monotonic() > deadline:
                command = self.run("display-message", "-p", "-t", pane.pane_id, "#{pane_current_command}").strip()
                raise TmuxError(
                    f"pane {pane.pane_id} is busy running {command!r}: the runner types commands only at a shell prompt"
                )
            time.sleep(0.02)
        if self.run("display-message", "-p", "-t", pane.pane_id, "#{pane_in_mode}").strip() == "1":
            self.run("send-keys", "-t", pane.pane_id, "-X", "cancel")  # leave copy mode, or keys are lost

    def type_line(self, pane: Pane, line: str) -> None:
        self.run("send-keys", "-t", pane.pane_id, "-l", line)
        self.run("send-keys", "-t", pane.pane_id, "Enter")


def foreground_is_shell(shell_pid: int) -> bool:
    """True when the terminal's foreground process group is the shell's own."""
    try:
        fields = Path(f"/proc/{shell_pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return int(fields[5]) == shell_pid  # tpgid
