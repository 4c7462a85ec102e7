"""StreamFanIn on one Redis: streams of several slots read as one, a stream added to a reader
already blocked read at once through its slot's wake stream, an unfollowed one left alone."""

from __future__ import annotations

import functools

from horus.broker import Broker
from horus.connect import connect
from horus.stream_fanin import StreamFanIn

LONG_BLOCK_MS = 30_000  # far longer than any read below waits: only a wake can end a block early


def test_a_stream_added_to_a_blocked_reader_is_read_at_once(broker: Broker) -> None:
    keys = broker.keys
    first, second = keys.log("r1", "job-a"), keys.log("r1", "job-b")  # one slot
    other = keys.log("r2", "job-c")  # another slot
    wake = keys.coordinator_wake("r1")

    def nudge(wakes: list[str]) -> None:
        for stream in wakes:
            broker.call("XADD", stream, "MAXLEN", 1, "*", "w", 1)

    fanin = StreamFanIn(functools.partial(connect, broker.target), block_ms=LONG_BLOCK_MS, nudge=nudge)
    try:
        fanin.follow_many([(first, "0-0", wake), (other, "0-0", keys.coordinator_wake("r2"))])
        broker.call("XADD", first, "*", "line", "one")
        assert [key for key, _ in fanin.read(10)] == [first]  # the r1 reader now blocks again
        fanin.follow_many([(second, "0-0", wake)])
        broker.call("XADD", second, "*", "eof", "completed")
        (key, entries), *rest = fanin.read(10)
        assert (key, entries[0][1], rest) == (second, ["eof", "completed"], [])
        fanin.unfollow(first)
        fanin.follow_many([(keys.log("r1", "job-d"), "0-0", wake)])  # a wake, so `first` is dropped
        broker.call("XADD", first, "*", "line", "unheard")
        broker.call("XADD", other, "*", "line", "two")
        assert [key for key, _ in fanin.read(10)] == [other]
    finally:
        fanin.close()
        nudge([wake, keys.coordinator_wake("r2")])  # the readers end with their block
