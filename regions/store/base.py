"""What the region needs from a store, and the row types it gets back.

Invariant 1 (atomic outbox) is enforced here by shape: the only way to write an
item is inside a :class:`WriteTx`, and ``Region`` appends the change record in that
same transaction before it commits.  A ``WriteTx`` that raises rolls back both.

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
