"""The one place an item row is written: the row, its index entries and its change
record, all in the caller's store transaction (invariant 1).

Local writes, remote applies and the re-seed purge all end here; the difference
between them is only in the arguments (``pending``: is the record the publisher's
to send; ``log_change``: is this a visible change at all).
"""

from __future__ import annotations

from dataclasses import dataclass

from regions import catalog, indexes
from regions.catalog import TableSpec
from regions.changes import ChangeRecord
from regions.keys import EncodedKey
from regions.store import UNREAD, IndexRow, StoredRow, Unread, WriteTx
from regions.types import Item, item_size
from regions.versions import Version

__all__ = ["RowWrite", "write_row"]


@dataclass(slots=True)
class RowWrite:
    """One row change, fully decided: what :func:`write_row` stores."""

    tid: int
    spec: TableSpec
    enc: EncodedKey
    key: Item
    old: Item | None
    new: Item | None
    #: ``new`` encoded (None for a delete / tombstone)
    data: bytes | None
    version: Version
    event: str
    now: int
    #: the change record waits for the publisher (local writes only: invariant 5)
    pending: bool
    #: False: a tombstone that is no visible change (a remote delete of an item this
    #: region never had), so no change record and nothing in the stream
    log_change: bool = True
    #: a delete by the service itself (TTL)
    service: bool = False
    #: the row as read in this transaction, so the store need not read it again to
    #: keep the verifier's hash tree
    prev: StoredRow | Unread | None = UNREAD


async def write_row(tx: WriteTx, w: RowWrite) -> None:
    size = item_size(w.new) if w.new is not None else 0
    await tx.put_row(
        w.tid, w.enc.part, w.enc.hk, w.enc.rk, w.version, w.data, size, w.now, prev=w.prev
    )
    await _maintain_indexes(tx, w)
    if not w.log_change:
        return
    record = ChangeRecord(
        table=w.spec.name,
        table_id=w.spec.table_id,
        event=w.event,
        keys=w.key,
        new_image=w.new,
        old_image=w.old,
        version=w.version,
        hash_key=w.enc.hk,
        service=w.service,
    )
    await tx.log_change(
        w.tid, w.enc.part, w.event, w.version, record.encode_stored(), w.now, w.pending
    )


async def _maintain_indexes(tx: WriteTx, w: RowWrite) -> None:
    """Index entries follow the item in the same transaction (invariant 1)."""
    spec, enc = w.spec, w.enc
    for index in spec.indexes:
        if index.status == catalog.DELETING:
            continue
        args = (index, spec.key_schema, enc.hk, enc.rk, enc.part, spec.partitions)
        before = indexes.entry_for(w.old, *args)
        after = indexes.entry_for(w.new, *args)
        if before is not None and (
            after is None or (before.part, before.hk, before.rk) != (after.part, after.hk, after.rk)
        ):
            await tx.delete_index_entry(
                w.tid, index.iid, before.part, before.hk, before.rk, before.tk
            )
        if after is not None and after != before:
            await tx.put_index_entry(
                w.tid,
                index.iid,
                IndexRow(after.part, after.hk, after.rk, after.tk, after.data, after.size),
            )
