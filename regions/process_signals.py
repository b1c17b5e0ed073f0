"""Counters shared by the processes of one region (``globaltables region --workers N``).

A region can serve its item operations from several processes over one store
(docs/regions.md, "Worker processes").  They keep in-memory copies of things the
primary process changes (the table catalog, cached access keys), so the primary bumps
a counter here after each such change and the workers compare it, a memory read, before
they trust their copy.  The counters are hints that a copy is stale: the write path does
not rely on them alone (``Region`` re-checks the catalog epoch stored in the database,
inside the write transaction).

The file is a few 8-byte slots in an ``mmap`` of a small file that every process of the
region maps.  Only the primary writes a slot, so no lock is needed; an aligned 8-byte
store is atomic on the platforms we run on, and a reader that sees a torn value would
only reload once more.
"""

from __future__ import annotations

import mmap
import os
import struct

__all__ = ["CATALOG", "IDENTITIES", "ProcessSignals"]

#: bumped after a table's spec changes (create, update, delete)
CATALOG = 0
#: bumped after a local change to users or access keys
IDENTITIES = 1

_SLOTS = 8
_SIZE = 8 * _SLOTS
_SLOT = struct.Struct("<Q")


class ProcessSignals:
    """The shared counters, mapped from ``path`` (created by the primary)."""

    def __init__(self, path: str, *, create: bool = False) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.write(fd, bytes(_SIZE))
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)

    def read(self, slot: int) -> int:
        value: int = _SLOT.unpack_from(self._map, 8 * slot)[0]
        return value

    def bump(self, slot: int) -> int:
        value = self.read(slot) + 1
        _SLOT.pack_into(self._map, 8 * slot, value)
        return value

    def close(self) -> None:
        self._map.close()
