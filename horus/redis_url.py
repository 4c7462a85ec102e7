"""Redis URLs: what Horus is told to connect to, read once, in one place (docs/configuration.md).

Three shapes of target:

- one Redis: ``redis://[USER:PASSWORD@]HOST[:PORT][/DB]``, ``rediss://`` (TLS),
  ``unix://[USER:PASSWORD@]/PATH[?db=DB]``;
- a Redis Cluster: ``redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]``, ``rediss+cluster://``
  (TLS): the seed nodes the client learns the cluster's slot map from; database 0 only;
- a Sentinel group: ``redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]``,
  ``rediss+sentinel://`` (TLS to sentinels and master alike). USER and PASSWORD are the
  master's; the sentinels' own come as query parameters ``sentinel_username`` and
  ``sentinel_password``.

Ports default to 6379 (26379 for a sentinel). A URL that cannot be read is refused with a
:class:`ConfigError` naming what is wrong and the form expected; a password is never shown in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlparse

from horus.errors import ConfigError

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379

SINGLE_FORM = "redis://[USER:PASSWORD@]HOST[:PORT][/DB], rediss://... or unix:///PATH[?db=DB]"
CLUSTER_FORM = "redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...] (or rediss+cluster:// for TLS)"
SENTINEL_FORM = (
    "redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]"
    "[?sentinel_password=...] (or rediss+sentinel:// for TLS)"
)
SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel")
SENTINEL_PARAMS = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True, slots=True)
class Address:
    """One Redis server (or one node of a cluster or sentinel group), with how to log in."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> Address:
        """A single-Redis URL; a cluster or sentinel URL is refused (the caller needs
        :func:`parse_target` and a client that speaks to a group)."""
        target = parse_target(url)
        if not isinstance(target, Address):
            kind = "a Redis Cluster" if isinstance(target, ClusterTarget) else "a Sentinel group"
            raise ConfigError(
                f"{redact(url)!r} names {kind}, not one Redis: give the URL of one Redis ({SINGLE_FORM}), "
                "or connect to the group with horus.connect.connect(parse_target(url))"
            )
        return target

    def __str__(self) -> str:
        where = f"unix://{self.path}" if self.path else f"{_hostport(self.host, self.port)}"
        return f"{where}/{self.db}"


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """A Redis Cluster, known by its seed nodes; every node logs in the same way."""

    seeds: tuple[Address, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    def node(self, host: str, port: int) -> Address:
        """The address of a node the cluster named (in a slot map, a MOVED or an ASK)."""
        return Address(host=host, port=port, username=self.username, password=self.password, tls=self.tls)

    def __str__(self) -> str:
        return (
            ("rediss" if self.tls else "redis")
            + "+cluster://"
            + ",".join(_hostport(seed.host, seed.port) for seed in self.seeds)
        )


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """A master watched by sentinels: ask them where it is, then connect to it."""

    sentinels: tuple[Address, ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    def master(self, host: str, port: int) -> Address:
        """The address of the master (or a replica) at the place the sentinels gave."""
        return Address(host=host, port=port, db=self.db, username=self.username, password=self.password, tls=self.tls)

    def __str__(self) -> str:
        where = ",".join(_hostport(s.host, s.port) for s in self.sentinels)
        return ("rediss" if self.tls else "redis") + f"+sentinel://{where}/{self.master_name}/{self.db}"


Target = Address | ClusterTarget | SentinelTarget


def parse_target(url: str) -> Target:
    """What ``url`` names: one Redis, a cluster or a sentinel group (module docstring)."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise _bad(url, f"unknown scheme {scheme + '://' if sep else '(none)'}", _all_forms())
    if scheme.endswith("+cluster"):
        return _parse_cluster(url, tls=scheme.startswith("rediss"))
    if scheme.endswith("+sentinel"):
        return _parse_sentinel(url, tls=scheme.startswith("rediss"))
    return _parse_single(url)


def redact(url: str) -> str:
    """``url`` with its password (and a ``sentinel_password``) replaced by ``***``, for messages."""
    url = re.sub(r"(sentinel_password=)[^&#]*", r"\1***", url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, tail = _split_netloc(rest)
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{scheme}://{userinfo}{at}{hosts}{tail}"


def _all_forms() -> str:
    return f"one of {SINGLE_FORM}; {CLUSTER_FORM}; {SENTINEL_FORM}"


def _bad(url: str, what: str, form: str) -> ConfigError:
    return ConfigError(f"bad Redis URL {redact(url)!r}: {what}; expected {form}")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _split_netloc(rest: str) -> tuple[str, str]:
    """The authority part of what follows ``://``, and the path/query after it."""
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1:
            end = min(end, at)
    return rest[:end], rest[end:]


def _parse_single(url: str) -> Address:
    parts = urlparse(url)
    query = parse_qs(parts.query)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise _bad(url, "the port must be a number from 1 to 65535", SINGLE_FORM) from None
    raw_db = query["db"][0] if "db" in query else "" if scheme == "unix" else parts.path.strip("/")
    if scheme == "unix" and not parts.path:
        raise _bad(url, "no socket path", SINGLE_FORM)
    return Address(
        host=parts.hostname or "127.0.0.1",
        port=port,
        path=parts.path if scheme == "unix" else None,
        db=_db(url, raw_db, SINGLE_FORM),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=scheme == "rediss",
    )


def _db(url: str, raw: str, form: str) -> int:
    if not raw:
        return 0
    if not raw.isdigit():
        raise _bad(url, f"the database must be a number, not {raw!r}", form)
    return int(raw)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) or None) if colon else None


def _nodes(url: str, hosts: str, default_port: int, what: str, form: str) -> tuple[tuple[str, int], ...]:
    """``HOST[:PORT],...`` as (host, port) pairs, in order, without repeats."""
    if not hosts.strip():
        raise _bad(url, f"no {what}s", form)
    found: list[tuple[str, int]] = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            raise _bad(url, f"an empty {what} in the list (two commas, or one at an end)", form)
        match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\w*))?|([^:\[\]]+)(?::(\w*))?", item)
        if not match:
            raise _bad(url, f"{what} {item!r} is not HOST:PORT", form)
        host = unquote(match.group(1) or match.group(3))
        raw_port = match.group(2) if match.group(1) else match.group(4)
        if raw_port is None:
            port = default_port
        elif raw_port.isdigit() and 1 <= int(raw_port) <= 65535:
            port = int(raw_port)
        else:
            raise _bad(url, f"{what} {item!r}: the port must be a number from 1 to 65535", form)
        if (host, port) not in found:
            found.append((host, port))
    return tuple(found)


def _parse_cluster(url: str, tls: bool) -> ClusterTarget:
    _, _, rest = url.partition("://")
    netloc, tail = _split_netloc(rest)
    userinfo, _, hosts = netloc.rpartition("@")
    path, _, query = tail.partition("?")
    if path.strip("/") not in ("", "0"):
        raise _bad(url, f"a cluster has only database 0, so the URL takes no database (drop {path!r})", CLUSTER_FORM)
    if query:
        raise _bad(url, f"a cluster URL takes no query parameters (got {query.split('#')[0]!r})", CLUSTER_FORM)
    username, password = _credentials(userinfo)
    seeds = tuple(
        Address(host=host, port=port, username=username, password=password, tls=tls)
        for host, port in _nodes(url, hosts, DEFAULT_PORT, "seed node", CLUSTER_FORM)
    )
    return ClusterTarget(seeds=seeds, username=username, password=password, tls=tls)


def _parse_sentinel(url: str, tls: bool) -> SentinelTarget:
    _, _, rest = url.partition("://")
    netloc, tail = _split_netloc(rest)
    userinfo, _, hosts = netloc.rpartition("@")
    path, _, query = tail.partition("?")
    segments = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    if not segments:
        raise _bad(url, "no master name (the name the sentinels monitor, after the first /)", SENTINEL_FORM)
    if len(segments) > 2:
        raise _bad(url, f"too many parts after the sentinels ({path!r}): only /MASTER_NAME[/DB]", SENTINEL_FORM)
    params = parse_qs(query.split("#")[0], keep_blank_values=True)
    unknown = sorted(set(params) - set(SENTINEL_PARAMS))
    if unknown:
        raise _bad(
            url, f"unknown query parameter {', '.join(unknown)} (known: {', '.join(SENTINEL_PARAMS)})", SENTINEL_FORM
        )
    username, password = _credentials(userinfo)
    sentinel_username = params.get("sentinel_username", [""])[0] or None
    sentinel_password = params.get("sentinel_password", [""])[0] or None
    sentinels = tuple(
        Address(host=host, port=port, username=sentinel_username, password=sentinel_password, tls=tls)
        for host, port in _nodes(url, hosts, DEFAULT_SENTINEL_PORT, "sentinel", SENTINEL_FORM)
    )
    return SentinelTarget(
        sentinels=sentinels,
        master_name=segments[0],
        db=_db(url, segments[1] if len(segments) == 2 else "", SENTINEL_FORM),
        username=username,
        password=password,
        tls=tls,
    )
