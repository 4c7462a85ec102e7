"""Keeping the worker's credentials out of what its jobs can read, done once at start-up.

A job's processes run as the worker's user, so by default they could read the worker's
environment and memory through ``/proc/<worker>/`` and its command line through ``ps``. After
the settings are read the worker:

* drops the credential-bearing variables from its environment (nothing started later inherits
  them; job subprocesses get a clean base environment anyway, see ``JobContext``);
* overwrites every secret left in its original argument and environment memory with ``*``
  (``/proc/<pid>/cmdline`` and ``/proc/<pid>/environ`` show that memory, the first to anyone);
* marks itself not dumpable, which its forked children inherit: a process of the same user can
  then no longer open its ``environ``, ``mem`` or ``maps`` nor attach a debugger.

None of this stands between a ``python`` task and the child it runs in, or a job and files the
worker's user can read: untrusted work belongs on a runner started as another user.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

log = logging.getLogger("horus.worker")

#: Read at start-up and never again; no job needs them.
CREDENTIAL_ENV = ("HORUS_REDIS_URL", "REDIS_URL", "HORUS_TOKEN", "HORUS_ADMIN_TOKEN", "HORUS_KEY_FILE")
_URL_ENV = ("HORUS_REDIS_URL", "REDIS_URL")
_TOKEN_ENV = ("HORUS_TOKEN", "HORUS_ADMIN_TOKEN")
_PR_SET_DUMPABLE = 4
#: arg_start, arg_end, env_start, env_end: fields 48 to 51 of /proc/self/stat, counted from 1,
#: in what follows the ``comm`` field (which can hold spaces) and so starts at field 3.
_STAT_REGIONS = slice(45, 49)


def url_password(url: str | None) -> str | None:
    """The password in a Redis URL, as written (percent-encoded), if there is one."""
    if not url:
        return None
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    userinfo, at, _ = netloc.rpartition("@")
    _, colon, password = userinfo.partition(":")
    return password if at and colon and password else None


def url_secrets(url: str | None) -> list[str]:
    """Every password in a Redis URL, as written: the server's, and a Sentinel group's own
    (its ``sentinel_password`` query parameter)."""
    found = [password] if (password := url_password(url)) else []
    if url:
        try:
            query = urlsplit(url).query
        except ValueError:
            return found
        for pair in query.split("&"):
            name, equals, value = pair.partition("=")
            if name == "sentinel_password" and equals and value:
                found.append(value)
    return found


def secrets(redis_url: str) -> list[str]:
    """Every credential the worker may hold: passwords of Redis URLs (as written and decoded)
    and the token variables, longest first so a shorter one inside a longer one masks too."""
    urls = (redis_url, *(os.environ.get(name) for name in _URL_ENV))
    values = {form for url in urls for password in url_secrets(url) for form in (password, unquote(password))}
    values.update(os.environ[name] for name in _TOKEN_ENV if os.environ.get(name))
    return sorted(values, key=len, reverse=True)


def protect(redis_url: str, redis_flag: str | None) -> None:
    """Everything above, once the worker has read its settings and before it forks children."""
    if url_secrets(redis_flag):
        log.warning(
            "the Redis password came on the command line (--redis-url), where every local user "
            "can see it until the worker masks it; set HORUS_REDIS_URL or redis_url in horus.toml instead"
        )
    found = secrets(redis_url)
    for name in CREDENTIAL_ENV:
        os.environ.pop(name, None)
    mask_startup_memory(found)
    if not make_undumpable():
        log.warning("could not mark the worker not dumpable: processes of its user can read its memory")


def make_undumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``: ``/proc/<pid>/environ``, ``mem``, ``maps`` and ptrace are
    then closed to other processes of the same user; forked children keep the flag."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def mask_startup_memory(values: Iterable[str]) -> None:
    """Overwrite ``values`` with ``*`` in the memory the kernel shows as this process's command
    line and initial environment (lengths unchanged, so the layout stays valid)."""
    regions = _startup_regions()
    wanted = [value.encode() for value in values if value]
    if not regions or not wanted:
        return
    for start, end in regions:
        original = ctypes.string_at(start, end - start)
        masked = original
        for secret in wanted:
            masked = masked.replace(secret, b"*" * len(secret))
        if masked != original:
            ctypes.memmove(start, masked, len(masked))


def _startup_regions() -> list[tuple[int, int]]:
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        arg_start, arg_end, env_start, env_end = (int(field) for field in fields[_STAT_REGIONS])
    except (OSError, ValueError, IndexError):
        return []
    return [(start, end) for start, end in ((arg_start, arg_end), (env_start, env_end)) if 0 < start < end]
