"""What the region needs from a store, and the row types it gets back.

Invariant 1 (atomic outbox) is not enforced by this interface alone: ``put_row`` and
``log_change`` are separate calls.  What the store guarantees is that both exist
only on a :class:`WriteTx`, one store transaction: everything it wrote commits
together, and a ``WriteTx`` that raises rolls all of it back.  The pairing is
:func:`regions.data.rows.write_row`'s, the one caller of both: it writes the row
(with its verifier leaf, ``direct.py``) and the index entries, then appends the
change record in that same transaction.  So a table's change record never exists
without its row write (the change log's only other row is ``trim_changes``' end
marker, which belongs to no table), and every write a reader can see has its change
record.

One row write deliberately has none: ``DataPlane.apply_remote`` applying another
region's delete to a key that holds no live item here (no row, or only a
tombstone).  It stores a tombstone with the delete's version, so that an older
write arriving later cannot resurrect the item (invariants 3 and 4), but nothing a
reader can see changed: there was no item before and there is none after.  So the
stream shows nothing, as DynamoDB Streams shows nothing for a delete of a missing
item, and there is nothing to publish (the change is remote, invariant 5).  Local
writes that change nothing write no row at all, and housekeeping's removal of
tombstones past the horizon (``gc_tombstones``) deletes no visible item, so neither
logs a record.

Invariant 7 (durability): ``write()`` returns only after the commit is durable
(SQLite WAL with ``synchronous=FULL`` unless configured otherwise, PostgreSQL
commit with ``synchronous_commit=on``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from regions.versions import Version

__all__ = ["UNREAD", "IndexRow", "KeyRange", "StoredChange", "StoredRow", "Unread"]


@dataclass(frozen=True, slots=True)
class StoredRow:
    part: int
    hk: bytes
    rk: bytes
    version: Version
    #: canonical item bytes; None for a tombstone
    data: bytes | None
    size: int

    @property
    def is_tombstone(self) -> bool:
        return self.data is None


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One secondary-index entry (regions.indexes)."""

    part: int
    hk: bytes
    rk: bytes
    tk: bytes
    data: bytes
    size: int


@dataclass(frozen=True, slots=True)
class StoredChange:
    seq: int
    tid: int
    part: int
    record: bytes
    created_ms: int


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Bounds on the sort-key encoding within one partition key (None = open)."""

    low: bytes | None = None
    low_inclusive: bool = True
    high: bytes | None = None
    high_inclusive: bool = True


class Unread(enum.Enum):
    """``put_row(prev=UNREAD)``: the caller did not read the row it replaces."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD
