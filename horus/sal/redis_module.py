"""``redis``: ``redis.connect(url)`` and a client with the everyday commands.

The script's own Redis, not Horus's state, so this module stays on redis-py. A
``redis+sentinel://`` (or ``rediss+sentinel://``) URL, in the form Horus itself takes
(``docs/configuration.md``), connects to the group's master through redis-py's Sentinel
client; a ``redis+cluster://`` URL is refused with the schemes the module takes. Connections a
job opens are closed when it ends. The URL's passwords never appear in errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import redis
from redis.sentinel import MasterNotFoundError, Sentinel

from horus.errors import ConfigError
from horus.redis_url import SentinelTarget, parse_target, redact
from horus.sal.common import ConnectingModule, SalError, redact_url, scrub, show_value, time_left

T = TypeVar("T")
CONNECT_TIMEOUT_S = 10.0
#: Each command's socket timeout; the job's deadline lowers it.
COMMAND_TIMEOUT_S = 30.0


def _scalar(value: object, what: str) -> str | int | float:
    """Redis stores strings; scripts may hand numbers too (booleans and containers are refused)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SalError(f"{what} must be a string or a number, not {type(value).__name__}")
    return value


def _text(value: bytes | str) -> str:
    # decode_responses makes these strings already; the client's types do not know that.
    return value.decode() if isinstance(value, bytes) else value


def _maybe(value: bytes | str | None) -> str | None:
    return None if value is None else _text(value)


SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")


def _sentinel_master(url: str, connect_timeout_s: float, timeout_s: float) -> redis.Redis:
    """A client of the group's master, found (and found again after a failover) by redis-py."""
    target = parse_target(url)
    assert isinstance(target, SentinelTarget)  # the scheme says so
    first = target.sentinels[0]
    sentinels = Sentinel(
        [(s.host, s.port) for s in target.sentinels],
        sentinel_kwargs={
            "username": first.username,
            "password": first.password,
            "ssl": target.tls,
            "socket_connect_timeout": connect_timeout_s,
            "socket_timeout": timeout_s,
        },
    )
    master: redis.Redis = sentinels.master_for(
        target.master_name,
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        decode_responses=True,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=timeout_s,
    )
    return master


class RedisConnection:
    """One client; scripts get it from ``redis.connect(url)``."""

    def __init__(self, url: str, deadline: float | None) -> None:
        self._url = url
        self._sentinel = url.startswith(SENTINEL_SCHEMES)
        # A sentinel URL's sentinel_password sits in the query, which redact_url leaves alone.
        self._shown = redact(url) if self._sentinel else redact_url(url)
        connect_timeout_s = time_left(deadline, CONNECT_TIMEOUT_S)
        timeout_s = time_left(deadline, COMMAND_TIMEOUT_S)
        try:
            if self._sentinel:
                self._client: redis.Redis = _sentinel_master(url, connect_timeout_s, timeout_s)
            else:
                self._client = redis.Redis.from_url(
                    url, decode_responses=True, socket_connect_timeout=connect_timeout_s, socket_timeout=timeout_s
                )
        except ConfigError as exc:  # horus.redis_url's message names the URL, redacted, and the form
            raise SalError(f"invalid redis url: {exc}") from None
        except ValueError as exc:
            raise SalError(f"invalid redis url {self._shown}: {self._scrub(str(exc))}") from None
        self._do("connect", lambda: self._client.ping())

    def _scrub(self, message: str) -> str:
        message = scrub(message, self._url)
        if self._sentinel:
            for secret in (parse_qs(urlsplit(self._url).query).get("sentinel_password") or [])[:1]:
                message = message.replace(secret, "***").replace(quote(secret), "***")
        return message

    def _do(self, command: str, step: Callable[[], T]) -> T:
        try:
            return step()
        except MasterNotFoundError:  # redis-py's message carries its client's whole repr
            raise SalError(
                f"redis {command} on {self._shown} failed: no sentinel named a reachable master "
                "(are the sentinels running, and is the master name right?)"
            ) from None
        except redis.RedisError as exc:
            raise SalError(f"redis {command} on {self._shown} failed: {self._scrub(str(exc))}") from None

    def get(self, key: str) -> str | None:
        """The value, or () when the key does not exist."""
        return _maybe(self._do("GET", lambda: self._client.get(key)))

    def set(self, key: str, value: Any, ttl: int | None = None) -> bool:
        """Store ``value``; with ``ttl`` (seconds) the key expires."""
        stored = _scalar(value, "redis value")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
            raise SalError(f"redis ttl must be a positive number of seconds, not {show_value(ttl)}")
        return bool(self._do("SET", lambda: self._client.set(key, stored, ex=ttl)))

    def delete(self, *keys: str) -> int:
        """Remove keys; returns how many existed. Scripts call it as ``del``."""
        return int(self._do("DEL", lambda: self._client.delete(*keys)))

    def exists(self, key: str) -> bool:
        return bool(self._do("EXISTS", lambda: self._client.exists(key)))

    def incr(self, key: str, amount: int = 1) -> int:
        return int(self._do("INCRBY", lambda: self._client.incrby(key, amount)))

    def hget(self, key: str, field: str) -> str | None:
        return _maybe(self._do("HGET", lambda: self._client.hget(key, field)))

    def hset(self, key: str, field: str, value: Any) -> int:
        """Set one field; returns 1 when the field is new, 0 when it was updated."""
        stored = _scalar(value, "redis hash value")
        return int(self._do("HSET", lambda: self._client.hset(key, field, stored)))

    def hgetall(self, key: str) -> dict[str, str]:
        found = self._do("HGETALL", lambda: self._client.hgetall(key))
        return {_text(name): _text(value) for name, value in found.items()}

    def lpush(self, key: str, value: Any) -> int:
        """Push on the head; returns the list's new length."""
        stored = _scalar(value, "redis list value")
        return int(self._do("LPUSH", lambda: self._client.lpush(key, stored)))

    def rpush(self, key: str, value: Any) -> int:
        stored = _scalar(value, "redis list value")
        return int(self._do("RPUSH", lambda: self._client.rpush(key, stored)))

    def lrange(self, key: str, start: int = 0, stop: int = -1) -> list[str]:
        return [_text(item) for item in self._do("LRANGE", lambda: self._client.lrange(key, start, stop))]

    def keys(self, pattern: str = "*") -> list[str]:
        """Keys matching a glob pattern, sorted (walks the keyspace with SCAN, not KEYS)."""
        return sorted(_text(key) for key in self._do("SCAN", lambda: list(self._client.scan_iter(match=pattern))))

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._client.close()


# `del` is a Python keyword but a fine Rhai method name: `client.del("key")`.
setattr(RedisConnection, "del", RedisConnection.delete)


class RedisModule(ConnectingModule[RedisConnection]):
    label = "redis"
    schemes = ("redis://", "rediss://", *SENTINEL_SCHEMES, "unix://")

    def _open_connection(self, url: str) -> RedisConnection:
        return RedisConnection(url, self._deadline)
