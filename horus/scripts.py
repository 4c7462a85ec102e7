"""Lua scripts kept as ``horus/lua/*.lua``, read once and called by name (EVALSHA).

A line ``--! include NAME`` is replaced by ``NAME.lua``: Redis scripts cannot load one another,
so logic several scripts share is pasted into each when it is read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from horus.resp import Arg, Connection, ReplyError

NAMES = (
    "enqueue",
    "claim",
    "start",
    "finish",
    "cancel",
    "delete",
    "reap",
    "requeued",
    "heartbeat",
    "masters_prune",
    "claim_type",
    "dead_retry",
    "dead_purge",
    "rate_limit",
    "release",
    "take_priority",
    "progress",
    "schedule_add",
    "schedule_state",
    "schedule_fired",
    "beat_lease",
)


_INCLUDE = re.compile(r"^--! include (\w+)$", re.MULTILINE)


@cache
def source(name: str) -> str:
    text = resources.files("horus").joinpath("lua", f"{name}.lua").read_text()
    return _INCLUDE.sub(lambda match: source(match.group(1)), text)


@cache
def sha(name: str) -> str:
    return hashlib.sha1(source(name).encode()).hexdigest()


def command(name: str, keys: Sequence[str], args: Sequence[Arg]) -> tuple[Arg, ...]:
    """The EVALSHA command for one script call, ready for :meth:`Connection.pipeline`."""
    return ("EVALSHA", sha(name), len(keys), *keys, *args)


def _missing(reply: Any) -> bool:
    return isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT")


def run(conn: Connection, commands: Sequence[Sequence[Arg]]) -> list[Any]:
    """Run commands in one round trip; scripts the server does not know yet are loaded and
    only their (unexecuted) calls are sent again, with every ``WAIT`` after the first of them
    (a WAIT confirms the writes sent before it: now those sent again)."""
    replies = conn.pipeline(commands)
    retry = [i for i, reply in enumerate(replies) if _missing(reply)]
    if retry:
        retry += [i for i in range(retry[0] + 1, len(commands)) if commands[i][0] == "WAIT"]
        retry.sort()
        conn.pipeline([("SCRIPT", "LOAD", source(name)) for name in NAMES])
        for i, reply in zip(retry, conn.pipeline([commands[i] for i in retry]), strict=True):
            replies[i] = reply
    return replies


def call(conn: Connection, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
    (reply,) = run(conn, [command(name, keys, args)])
    if isinstance(reply, ReplyError):
        raise reply
    return reply


def load(conn: Connection) -> None:
    """Load every script, for callers that pipeline script calls without waiting for replies."""
    for reply in conn.pipeline([("SCRIPT", "LOAD", source(name)) for name in NAMES]):
        if isinstance(reply, ReplyError):
            raise reply
