"""Shared memory through which each child shows its master the job it runs and its deadline.

A write per job start and end, no system call, no wake-up of the master: the master reads the
slots when it checks deadlines or looks for a job to cancel. A sequence counter (a seqlock)
lets the reader detect and retry a read torn by a concurrent write.
"""

from __future__ import annotations

import mmap
import struct

_LAYOUT = struct.Struct("<QdB128s")  # sequence, deadline (monotonic), id length, id
_COUNT = struct.Struct("<Q")  # jobs started in the slot, after the slots (one writer: its child)


class Slots:
    def __init__(self, count: int) -> None:
        self.count = count
        self._mm = mmap.mmap(-1, _LAYOUT.size * count + _COUNT.size * count)
        self._counts = _LAYOUT.size * count

    def publish(self, index: int, job_id: str, deadline: float) -> None:
        encoded = job_id.encode()[:128]
        self._write(index, deadline, encoded)
        offset = self._counts + index * _COUNT.size
        _COUNT.pack_into(self._mm, offset, _COUNT.unpack_from(self._mm, offset)[0] + 1)

    def started(self) -> int:
        """Jobs started in every slot since the master began (its metrics read it)."""
        return sum(_COUNT.unpack_from(self._mm, self._counts + i * _COUNT.size)[0] for i in range(self.count))

    def clear(self, index: int) -> None:
        self._write(index, 0.0, b"")

    def _write(self, index: int, deadline: float, encoded: bytes) -> None:
        offset = index * _LAYOUT.size
        sequence = struct.unpack_from("<Q", self._mm, offset)[0]
        struct.pack_into("<Q", self._mm, offset, sequence + 1)  # odd: a write is under way
        _LAYOUT.pack_into(self._mm, offset, sequence + 1, deadline, len(encoded), encoded)
        struct.pack_into("<Q", self._mm, offset, sequence + 2)

    def read(self, index: int) -> tuple[str, float] | None:
        """The job a child runs and its deadline, or None when it runs none."""
        offset = index * _LAYOUT.size
        while True:
            before, deadline, length, raw = _LAYOUT.unpack_from(self._mm, offset)
            after = struct.unpack_from("<Q", self._mm, offset)[0]
            if before == after and not before & 1:
                return (raw[:length].decode(), deadline) if length else None
