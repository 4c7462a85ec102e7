"""A ``redis.Redis`` client passed to :class:`horus.osiris.Store`, seen as a Horus connection.

Deprecated: the store talks to Redis through Horus's own connections (a URL, or a
:class:`horus.broker.Broker`), so a ``redis+sentinel://`` URL reaches it as it reaches the rest of
Horus. A redis-py client still works through this adapter, which sends the commands on one of
the client's pooled connections and reads the raw replies (no redis-py reply callbacks), as
:class:`horus.resp.Connection` returns them: a map (redis-py speaks RESP3 by default) is made the
flat list RESP2 gives, and text may come as ``bytes``, which the store accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.exceptions import NoScriptError, ResponseError

from horus.resp import Arg, ReplyError


def _flat(reply: Any) -> Any:
    """A RESP3 map as the flat ``[key, value, ...]`` list of RESP2, in arrays too."""
    if isinstance(reply, dict):
        return [_flat(item) for pair in reply.items() for item in pair]
    if isinstance(reply, list):
        return [_flat(item) for item in reply]
    return reply


class RedisPyConnection:
    """:meth:`call` and :meth:`pipeline` of :class:`horus.resp.Connection` over a redis-py client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Every reply; error replies as :class:`ReplyError` instances, ``NOSCRIPT`` kept in front."""
        if not commands:
            return []
        pool = self.client.connection_pool
        conn = cast(Any, pool.get_connection())  # redis-py leaves these methods untyped
        try:
            conn.send_packed_command(conn.pack_commands([tuple(command) for command in commands]))
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(_flat(conn.read_response()))
                except NoScriptError as exc:  # redis-py strips the error code this one is known by
                    replies.append(ReplyError(f"NOSCRIPT {exc}"))
                except ResponseError as exc:
                    replies.append(ReplyError(str(exc)))
            return replies
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def call(self, *args: Arg) -> Any:
        (reply,) = self.pipeline([args])
        if isinstance(reply, ReplyError):
            raise reply
        return reply
