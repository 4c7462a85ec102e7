"""Lua scripts kept as ``horus/lua/*.lua``, read once and called by name (EVALSHA).

A line ``--! include NAME`` is replaced by ``NAME.lua``: Redis scripts cannot load one another,
so logic several scripts share is pasted into each when it is read.

Every script call in Horus goes through :func:`run` (or :func:`call`), the one place that loads
scripts: when Redis answers ``NOSCRIPT`` (a restarted or flushed server, a failover to a replica
that never saw ``SCRIPT LOAD``), the whole group of each missing script is loaded in one round
trip and only the unexecuted calls are sent again. The groups are :data:`NAMES` (the job
runtime: broker, workers, beat), :data:`WORKFLOW` (the coordinator) and :data:`OSIRIS` (the
document store); a process loads only the groups it uses.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from horus.resp import Arg, ReplyError

#: The job runtime's scripts (broker, workers, beat), loaded together.
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
#: The coordinator's workflow scripts (``horus/coordinator/store.py``).
WORKFLOW = ("wf_create", "wf_dispatch", "wf_complete", "wf_cancel", "wf_lease", "wf_watch", "wf_migrate")
#: The Osiris document store's scripts (``horus/osiris/store.py``).
OSIRIS = ("osiris_create", "osiris_define", "osiris_update", "osiris_delete", "osiris_list", "osiris_find")
#: Every group; a script is in exactly one.
GROUPS = (NAMES, WORKFLOW, OSIRIS)


if TYPE_CHECKING:  # a type only: the worker's processes need not build the class

    class Pipelining(Protocol):
        """What running scripts needs of a connection: every Horus connection has it."""

        def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]: ...


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


@cache
def _group_of() -> dict[str, tuple[str, ...]]:
    """Each script's hash, to the group it is loaded with."""
    return {sha(name): group for group in GROUPS for name in group}


def _groups_of(commands: Sequence[Sequence[Arg]]) -> list[tuple[str, ...]]:
    """The groups of the scripts ``commands`` call by hash, in first-seen order (a hash Horus
    does not know counts as the job runtime's, as it always did)."""
    found: list[tuple[str, ...]] = []
    for command in commands:
        group = _group_of().get(str(command[1]), NAMES) if len(command) > 1 else NAMES
        if group not in found:
            found.append(group)
    return found


def run(conn: Pipelining, commands: Sequence[Sequence[Arg]]) -> list[Any]:
    """Run commands in one round trip; scripts the server does not know yet are loaded (each
    with its group) and only their (unexecuted) calls are sent again, with every ``WAIT`` after
    the first of them (a WAIT confirms the writes sent before it: now those sent again)."""
    replies = conn.pipeline(commands)
    retry = [i for i, reply in enumerate(replies) if _missing(reply)]
    if retry:
        missing = [commands[i] for i in retry]
        retry += [i for i in range(retry[0] + 1, len(commands)) if commands[i][0] == "WAIT"]
        retry.sort()
        again = [commands[i] for i in retry]
        conn.pipeline([("SCRIPT", "LOAD", source(name)) for group in _groups_of(missing) for name in group])
        for i, reply in zip(retry, conn.pipeline(again), strict=True):
            replies[i] = reply
    return replies


def call(conn: Pipelining, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
    (reply,) = run(conn, [command(name, keys, args)])
    if isinstance(reply, ReplyError):
        raise reply
    return reply


def load(conn: Pipelining, names: Sequence[str] = NAMES) -> None:
    """Load a group of scripts (the job runtime's by default), for callers that pipeline script
    calls without waiting for replies."""
    for reply in conn.pipeline([("SCRIPT", "LOAD", source(name)) for name in names]):
        if isinstance(reply, ReplyError):
            raise reply
