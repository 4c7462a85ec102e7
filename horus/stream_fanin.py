"""Blocking reads of streams that sit in several hash slots, as one read.

``XREAD BLOCK`` takes streams of one slot only on a Redis Cluster (the slot's master is the one
that can wake the reader). A follower of streams in several slots gets one reader thread per
slot here, each on a connection of its own, blocking on its slot's streams and handing what it
reads to one queue; :meth:`StreamFanIn.read` waits on that queue. Nothing is polled.

A follower whose set of streams changes all the time (the coordinator: a step job's log stream
from its dispatch to its end) gives each slot a *wake stream* of that slot: a reader blocks on it
too, and :meth:`StreamFanIn.follow_many` appends to it when it adds a stream to a reader already
running, so the new stream is read at once instead of after the current block.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from horus.cluster_slots import key_slot
from horus.resp import RedisConnection

#: What XREAD gives for one stream: its key and its entries (id, flat field/value list).
Batch = tuple[str, list[tuple[str, list[Any]]]]


class _SlotReader(threading.Thread):
    """Follows the streams of one slot: XREAD BLOCK on all of them, from each one's cursor."""

    def __init__(self, fanin: StreamFanIn, wake: str | None = None) -> None:
        super().__init__(daemon=True, name="horus-stream-reader")
        self.fanin = fanin
        self.cursors: dict[str, str] = {}
        self.lock = threading.Lock()
        #: The slot's wake stream (read, never handed on), and the cursor on it.
        self.wake = wake
        self.wake_cursor = "0-0"

    def run(self) -> None:
        fanin = self.fanin
        try:
            conn = fanin.connect()
        except Exception as exc:  # handed to the reader, which raises it
            fanin.out.put(exc)
            return
        try:
            while not fanin.stopped.is_set():
                with self.lock:
                    keys, cursors = list(self.cursors), list(self.cursors.values())
                    wake = self.wake
                if wake is not None:
                    keys.append(wake)
                    cursors.append(self.wake_cursor)
                reply = conn.call(
                    "XREAD",
                    "COUNT",
                    fanin.count,
                    "BLOCK",
                    fanin.block_ms,
                    "STREAMS",
                    *keys,
                    *cursors,
                    timeout_s=fanin.block_ms / 1000 + 10,
                )
                for key, entries in reply or ():
                    batch = [(str(entry_id), flat) for entry_id, flat in entries]
                    if str(key) == wake:
                        if batch:
                            self.wake_cursor = batch[-1][0]
                        continue
                    if batch:
                        with self.lock:
                            if str(key) in self.cursors:  # not unfollowed meanwhile
                                self.cursors[str(key)] = batch[-1][0]
                        fanin.out.put((str(key), batch))
        except Exception as exc:
            fanin.out.put(exc)
        finally:
            conn.close()


class StreamFanIn:
    """Streams followed from their cursors, across slots; :meth:`read` gives what is new."""

    def __init__(
        self,
        connect: Callable[[], RedisConnection],
        count: int = 1_000,
        block_ms: int = 5_000,
        nudge: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.connect = connect
        #: Appends an entry to each wake stream named (see :meth:`follow_many`).
        self.nudge = nudge
        self.count = count
        self.block_ms = block_ms
        self.out: queue.Queue[Batch | Exception] = queue.Queue()
        self.stopped = threading.Event()
        self._readers: dict[int, _SlotReader] = {}

    def follow(self, key: str, cursor: str) -> None:
        """Follow ``key`` from after ``cursor``; a key followed already keeps its own cursor (a
        key added to a slot already read joins its reads once the current block ends)."""
        slot = key_slot(key)
        reader = self._readers.get(slot)
        if reader is None:
            reader = self._readers[slot] = _SlotReader(self)
            reader.cursors[key] = cursor
            reader.start()
            return
        with reader.lock:
            reader.cursors.setdefault(key, cursor)

    def follow_many(self, keys: list[tuple[str, str, str | None]]) -> None:
        """Follow (key, cursor, wake stream of the key's slot) triples; a reader already running
        that gets a new key is woken through its slot's wake stream (one append per slot). A slot's
        wake stream is the one given with its first key (None: none, for a set that never grows)."""
        woken: dict[str, None] = {}
        for key, cursor, wake in keys:
            slot = key_slot(key)
            reader = self._readers.get(slot)
            if reader is None:
                reader = self._readers[slot] = _SlotReader(self, wake)
                reader.cursors[key] = cursor
                reader.start()
                continue
            with reader.lock:
                fresh = key not in reader.cursors
                reader.cursors.setdefault(key, cursor)
                if reader.wake is None and wake is not None:
                    # A slot first followed without one (a set thought fixed): woken from its next read on.
                    reader.wake = wake
            if fresh and reader.wake is not None:
                woken[reader.wake] = None
        if woken and self.nudge is not None:
            self.nudge(list(woken))

    def unfollow(self, key: str) -> None:
        """Stop following ``key`` (from the reader's next read on)."""
        reader = self._readers.get(key_slot(key))
        if reader is not None:
            with reader.lock:
                # A reader blocks on at least one stream: without a wake stream it keeps its last.
                if reader.wake is not None or len(reader.cursors) > 1:
                    reader.cursors.pop(key, None)

    def read(self, timeout_s: float) -> list[Batch]:
        """What arrived, waiting up to ``timeout_s`` for the first batch (then taking every batch
        already there); an error a reader met is raised here."""
        try:
            first = self.out.get(timeout=timeout_s)
        except queue.Empty:
            return []
        items = [first]
        while True:
            try:
                items.append(self.out.get_nowait())
            except queue.Empty:
                break
        batches: list[Batch] = []
        for item in items:
            if isinstance(item, Exception):
                raise item
            batches.append(item)
        return batches

    def close(self) -> None:
        """Stop the readers (each ends once its current block does)."""
        self.stopped.set()
