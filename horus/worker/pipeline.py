"""Commands sent now, replies read later in order: a worker child keeps Redis busy while it runs
jobs instead of waiting for each round trip."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from horus.errors import TransportError
from horus.resp import Arg, RedisConnection, ReplyError

T = TypeVar("T")


class Pending(Generic[T]):
    """The parsed replies of one send, once the pipeline has read them."""

    def __init__(self, pipeline: Pipeline, parse: Callable[[list[Any]], T]) -> None:
        self._pipeline = pipeline
        self._parse = parse
        self._done = False
        self._value: T | None = None

    def _settle(self, replies: list[Any]) -> None:
        self._value = self._parse(replies)
        self._done = True

    def result(self) -> T:
        while not self._done:
            self._pipeline.read_one()
        return self._value  # type: ignore[return-value]


class Pipeline:
    """``connect`` gives the connection to use; it is asked again whenever no reply is
    outstanding, so a connection replaced after an outage is picked up."""

    def __init__(self, connect: Callable[[], RedisConnection]) -> None:
        self._connect = connect
        self.conn = connect()
        self._waiting: deque[tuple[int, Pending[Any]]] = deque()

    def send(self, commands: Sequence[Sequence[Arg]], parse: Callable[[list[Any]], T]) -> Pending[T]:
        pending: Pending[T] = Pending(self, parse)
        if not commands:
            pending._settle([])
            return pending
        if not self._waiting:
            self.conn = self._connect()
        self.conn.send(commands)
        self._waiting.append((len(commands), pending))
        return pending

    def read_one(self) -> None:
        count, pending = self._waiting.popleft()
        replies = [self.conn.reply() for _ in range(count)]
        for reply in replies:
            if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
                # Redis lost its scripts (a restart): the caller starts over on a new connection.
                self.conn.close()
                raise TransportError("Redis no longer knows Horus's scripts (was it restarted?)")
        pending._settle(replies)

    def settle(self) -> None:
        """Read every outstanding reply."""
        while self._waiting:
            self.read_one()
