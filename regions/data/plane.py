"""The data plane: every item write, every remote apply, and the reads.

The invariants it enforces (numbered as in docs/architecture.md, "Invariants"):

1. Atomic outbox: an item row, its index entries and its change record are written
   by :func:`regions.data.rows.write_row` in the caller's one store transaction.
   :meth:`DataPlane.commit` is the only local write path; single writes, batches,
   transactions and TTL all call it.  The one row written without a change record
   is a remote delete of an item this region never had: a tombstone that is no
   visible change (see ``apply_remote``).
2. Versions: every local change takes ``clock.tick()``; a remote version moves the
   clock (``clock.observe``) only once it passed the checks of invariant 9.
3. LWW apply: :meth:`DataPlane.apply_remote` applies a change iff its version is
   greater than the stored one (item or tombstone); equal versions are duplicates
   from at-least-once delivery; a lower one is logged in the conflict log.
4. Deletes leave tombstones carrying the delete's version.
5. No loops: only local-origin change records are ``pending`` for the publisher.
6. Conditions are evaluated here, against the local item, inside the transaction
   (:meth:`regions.data.ops.WriteOp.check`).
9. A remote record is checked against its table (regions/remote_check.py) before it
   reaches the store.

Nothing else in the code base writes item rows or index entries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, replace
from typing import Any

import orjson

from regions import indexes, reads, remote_check, system_tables
from regions.catalog import CREATING, TableSpec
from regions.catalog_cache import CATALOG_EPOCH, CatalogCache
from regions.changes import INSERT, MODIFY, REMOVE, ChangeRecord, InvalidRecord
from regions.counters import (
    APPLIED,
    DUPLICATE,
    LOST,
    REJECTED,
    SKIPPED,
    ApplyCounts,
    RegionCounters,
)
from regions.data.ops import Delete, Put, WriteOp, WriteOutcome, WritesCancelled
from regions.data.rows import RowWrite, write_row
from regions.errors import DynamoError, ResourceNotFound, ValidationError
from regions.indexes import IndexSpec
from regions.keys import EncodedKey, decode_key, encode_key, validate_key
from regions.settings import RegionSettings
from regions.store import IndexRow, SqlStore, StoredRow
from regions.types import Item, decode_item, encode_item
from regions.versions import HybridClock, Version, wall_ms

__all__ = ["QUARANTINE_KEEP", "Bound", "DataPlane"]

log = logging.getLogger("globaltables.region")

#: most quarantined records kept (the oldest go first), whatever their age
QUARANTINE_KEEP = 10_000
#: rows an index backfill reads and indexes per transaction
INDEX_CHUNK = 500


@dataclass(slots=True)
class Bound:
    """A write operation resolved against its table: what commit() runs."""

    tid: int
    spec: TableSpec
    key: Item
    op: WriteOp


class _CatalogMoved(Exception):
    """A worker's write found a newer catalog epoch in the store."""


class DataPlane:
    def __init__(
        self,
        name: str,
        settings: RegionSettings,
        store: SqlStore,
        clock: HybridClock,
        catalog: CatalogCache,
        counters: RegionCounters,
    ) -> None:
        self.name = name
        self.settings = settings
        self.store = store
        self.clock = clock
        self.catalog = catalog
        self.counters = counters
        #: set after every commit of a local-origin change; the publisher waits on it
        self.changes_available = asyncio.Event()

    # ------------------------------------------------------------------ local writes

    async def serving(self, name_or_arn: str) -> tuple[int, TableSpec]:
        """A table for a client's item operation.  A replica still receiving its first
        copy is not ACTIVE: like a table being created in DynamoDB, it answers
        ResourceNotFoundException until the copy is complete (remote changes and the
        backfill itself still apply: they resolve tables with ``catalog.table``)."""
        tid, spec = await self.catalog.table(name_or_arn)
        if spec.replicas and spec.filling(self.name):
            raise ResourceNotFound("Requested resource not found")
        if spec.status == CREATING:
            # a table being restored (regions/protection/restore.py) is loaded by
            # the restore alone, as DynamoDB's CREATING tables take no item requests
            raise ResourceNotFound("Requested resource not found")
        return tid, spec

    async def bind(self, op: WriteOp) -> Bound:
        """Resolve the operation's table and validate its key (and a Put's item)."""
        tid, spec = await self.serving(op.table)
        key, canonical = op.validated(spec.key_schema)
        return Bound(tid, spec, key, canonical)

    async def commit_one(self, op: WriteOp) -> WriteOutcome:
        """One write (PutItem, DeleteItem, UpdateItem): its own error is raised."""
        outcome = (await self.commit([await self.bind(op)], atomic=True))[0]
        assert isinstance(outcome, WriteOutcome)
        return outcome

    async def commit(
        self, writes: Sequence[Bound], *, atomic: bool
    ) -> list[WriteOutcome | DynamoError]:
        """Several single-item writes in ONE store transaction.

        Each operation sees the current local item and gives the new one (or raises
        a DynamoError, e.g. ConditionalCheckFailed).  With ``atomic`` a failure of any
        writes nothing: one write raises its own error, several raise
        :class:`WritesCancelled` listing every failure by position
        (TransactWriteItems).  Without it the others are written and the failures
        returned in place (BatchWriteItem).  Keys must not repeat (callers reject
        that with DynamoDB's message)."""
        plan = list(writes)
        if not self.catalog.shared:
            return await self._commit(plan, atomic=atomic)
        while True:
            try:
                return await self._commit(plan, atomic=atomic)
            except _CatalogMoved:
                # another process or node changed a spec since this one read it (an
                # index being added, the table deleted...): write under the current one
                await self.catalog.load()
                plan = [
                    Bound(b.tid, self.catalog.current(b.tid, b.spec.name), b.key, b.op)
                    for b in plan
                ]

    async def _commit(self, plan: list[Bound], *, atomic: bool) -> list[WriteOutcome | DynamoError]:
        encs = [encode_key(b.key, b.spec.key_schema, b.spec.partitions) for b in plan]
        now = wall_ms()
        results: list[WriteOutcome | DynamoError] = []
        changed = 0
        async with self.store.write() as tx:
            # one global lock order, so concurrent multi-item writers cannot deadlock
            for tid, part in sorted({(b.tid, e.part) for b, e in zip(plan, encs, strict=True)}):
                await tx.lock_partition(tid, part)
            staged: list[tuple[StoredRow | None, Item | None, Item | None]] = []
            failures: dict[int, DynamoError] = {}
            # every item read at once (one statement on PostgreSQL)
            keys = [(b.tid, e.part, e.hk, e.rk) for b, e in zip(plan, encs, strict=True)]
            if self.catalog.shared:
                # the catalog epoch read with the items (one statement on PostgreSQL),
                # in this transaction before anything is written: a spec another
                # process changed since this one read it means writing under the new one
                rows, epoch = await tx.get_rows_and_meta(keys, CATALOG_EPOCH)
                if self.catalog.moved_from(epoch):
                    raise _CatalogMoved()
            else:
                rows = await tx.get_rows(keys)
            for i, (b, row) in enumerate(zip(plan, rows, strict=True)):
                old = decode_item(row.data) if row is not None and row.data is not None else None
                if (
                    isinstance(b.op, Delete)
                    and b.op.service
                    and row is not None
                    and row.version.origin != self.name
                ):
                    # TTL: only the region whose write is the item's current version
                    # expires it, so exactly one region shows the service identity in
                    # its stream; the others receive an ordinary replicated delete
                    staged.append((row, old, old))
                    continue
                try:
                    new_item = b.op.apply(old, b.key, b.spec.key_schema)
                    if new_item is not None and b.spec.indexes:
                        indexes.check_index_keys(new_item, b.spec.indexes)
                    staged.append((row, old, new_item))
                except DynamoError as exc:
                    failures[i] = exc
                    staged.append((row, old, old))
            if failures and atomic:
                if len(plan) == 1:
                    raise failures[0]
                # leaving the block by exception rolls the whole transaction back
                raise WritesCancelled(failures, len(plan))
            for i, (b, enc, (row, old, new)) in enumerate(zip(plan, encs, staged, strict=True)):
                if i in failures:
                    results.append(failures[i])
                    continue
                # no-op writes change nothing and, as in DynamoDB Streams, emit no record
                data = encode_item(new) if new is not None else None
                if (new is None and old is None) or (
                    row is not None and row.data is not None and data == row.data
                ):
                    self.counters.noop_writes += 1
                    results.append(WriteOutcome(old, new, changed=False))
                    continue
                version = Version(self.clock.tick(), self.name)
                if row is not None and version <= row.version:
                    # another process sharing the store ran ahead of our clock
                    self.clock.observe(row.version.hlc)
                    version = Version(self.clock.tick(), self.name)
                event = REMOVE if new is None else (INSERT if old is None else MODIFY)
                service = isinstance(b.op, Delete) and b.op.service
                await write_row(
                    tx,
                    RowWrite(
                        b.tid,
                        b.spec,
                        enc,
                        b.key,
                        old,
                        new,
                        data,
                        version,
                        event,
                        now,
                        pending=True,
                        service=service,
                        prev=row,
                    ),
                )
                changed += 1
                results.append(WriteOutcome(old, new, changed=True))
        if changed:
            self.counters.writes += changed
            self.changes_available.set()
        return results

    # conveniences for callers that write one item with no expression (the identities
    # table, tests); the API builds the operations itself

    async def put_item(
        self,
        table: str,
        item: Any,
        *,
        condition: Callable[[Item | None], bool] | None = None,
        return_old_on_failure: bool = False,
    ) -> WriteOutcome:
        return await self.commit_one(Put(table, condition, return_old_on_failure, item=item))

    async def delete_item(
        self,
        table: str,
        key: Any,
        *,
        condition: Callable[[Item | None], bool] | None = None,
        return_old_on_failure: bool = False,
        service: bool = False,
    ) -> WriteOutcome:
        return await self.commit_one(
            Delete(table, condition, return_old_on_failure, key=key, service=service)
        )

    # ------------------------------------------------------------------ remote changes

    async def apply_remote(
        self,
        records: list[ChangeRecord],
        *,
        repair: bool = False,
        outcomes: list[str] | None = None,
        rejected: dict[int, InvalidRecord] | None = None,
    ) -> ApplyCounts:
        """Apply a batch of other regions' changes in ONE transaction (LWW).

        Idempotent: a record whose version is not greater than the stored one
        changes nothing, so redelivery after a crash is harmless.

        Invariant 9: every record is checked against its table first
        (regions/remote_check.py); only valid records reach the store or move the
        clock.  ``rejected``, if given, receives each invalid record's position and
        reason and the valid ones are applied; without it (peers' pushes over
        HTTP) one invalid record refuses the whole batch with ValidationError.

        ``repair`` (the convergence verifier) also accepts versions that originated
        here: a region that lost one of its own writes (restored from an old
        backup, say) takes it back from a peer's copy.  Applied records are logged
        with ``pending=False`` either way, so nothing is published again (no loop).

        ``outcomes``, if given, is filled with one of regions/counters.py's
        outcomes per record, in order: how the applier keeps per-source counts
        while it applies every source's records in one transaction.
        """
        stats = ApplyCounts()
        told = outcomes if outcomes is not None else []
        told[:] = [SKIPPED] * len(records)
        if not records:
            return stats
        now = wall_ms()
        plan: list[tuple[int, ChangeRecord, int, TableSpec, EncodedKey]] = []
        for i, rec in enumerate(records):
            if rec.version.origin == self.name and not repair:
                # our own change echoed back (e.g. a topic shared by mistake): never loop
                stats.skipped += 1
                continue
            try:
                # system tables (identities) replicate through here like any table
                with system_tables.access():
                    tid, spec = await self.catalog.table(rec.table)
            except ResourceNotFound:
                stats.skipped += 1
                continue
            if self.name not in spec.replica_regions():
                # a table of the same name that this region does not replicate
                stats.skipped += 1
                continue
            try:
                if spec.table_id != rec.table_id:
                    raise InvalidRecord(
                        "unknown-table-id",
                        f"table {spec.name} is {spec.table_id} here, not {rec.table_id[:64]!r}",
                    )
                key, new = remote_check.check(
                    rec, spec, now_ms=now, max_ahead_ms=self.settings.max_clock_ahead_ms
                )
            except InvalidRecord as exc:
                if rejected is None:
                    raise ValidationError(f"change record {i} refused: {exc}") from None
                rejected[i] = exc
                told[i] = REJECTED
                stats.rejected += 1
                continue
            # only a valid version may move the clock (invariant 2 with 9)
            self.clock.observe(rec.version.hlc)
            if key is not rec.keys or new is not rec.new_image:
                rec = replace(rec, keys=key, new_image=new)
            plan.append((i, rec, tid, spec, encode_key(key, spec.key_schema, spec.partitions)))
        if plan:
            async with self.store.write() as tx:
                # lock partitions in one global order so two appliers cannot deadlock
                for tid, part in sorted({(t, e.part) for _, _, t, _, e in plan}):
                    await tx.lock_partition(tid, part)
                for i, rec, tid, spec, enc in plan:
                    row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
                    if row is not None and rec.version <= row.version:
                        if rec.version == row.version:
                            stats.duplicates += 1
                            told[i] = DUPLICATE
                        else:
                            # invariant 3: a discarded change leaves a trace
                            stats.lost += 1
                            told[i] = LOST
                            await tx.log_conflict(_conflict(spec, rec, row, now))
                            log.info(
                                "LWW conflict on %s %s: %s lost to %s",
                                spec.name,
                                orjson.dumps(rec.keys).decode(),
                                rec.version,
                                row.version,
                            )
                        continue
                    old = (
                        decode_item(row.data) if row is not None and row.data is not None else None
                    )
                    new = rec.new_image
                    data = encode_item(new) if new is not None else None
                    event = REMOVE if new is None else (INSERT if old is None else MODIFY)
                    # a remote delete of an item we never had still leaves a tombstone
                    # (so an older write cannot resurrect it) but is no visible change
                    visible = not (new is None and old is None)
                    await write_row(
                        tx,
                        RowWrite(
                            tid,
                            spec,
                            enc,
                            rec.keys,
                            old,
                            new,
                            data,
                            rec.version,
                            event,
                            now,
                            pending=False,
                            log_change=visible,
                            prev=row,
                        ),
                    )
                    stats.applied += 1
                    told[i] = APPLIED
        self.counters.remote.add(stats)
        return stats

    # ------------------------------------------------------------------ repairs

    async def purge_unchanged(
        self,
        tid: int,
        spec: TableSpec,
        candidates: Iterable[tuple[tuple[bytes, bytes], int, Version]],
        purge: Callable[[Version, StoredRow], bool],
        chunk: int = 200,
    ) -> int:
        """Re-seed (regions/reseed.py): delete each candidate ``((hk, rk), part,
        recorded version)`` for which ``purge(current row)`` says so, each chunk in one
        write transaction holding its partitions' locks, so no write of the same key
        can interleave between the check and the removal.  ``purge(recorded version,
        current row)`` decides each.  The tombstone keeps the
        purged row's own version and its change record is never published
        (``pending=False``): a repair of this region only.  Returns the count."""
        todo = list(candidates)
        purged = 0
        for start in range(0, len(todo), chunk):
            batch = todo[start : start + chunk]
            now = wall_ms()
            async with self.store.write() as tx:
                for part in sorted({part for _, part, _ in batch}):
                    await tx.lock_partition(tid, part)
                for (hk, rk), part, recorded in batch:
                    row = await tx.get_row(tid, part, hk, rk)
                    if row is None or row.data is None or not purge(recorded, row):
                        continue
                    key = decode_key(hk, rk, spec.key_schema)
                    await write_row(
                        tx,
                        RowWrite(
                            tid,
                            spec,
                            EncodedKey(part, hk, rk),
                            key,
                            decode_item(row.data),
                            None,
                            None,
                            row.version,
                            REMOVE,
                            now,
                            pending=False,
                            prev=row,
                        ),
                    )
                    purged += 1
        return purged

    async def index_chunk(
        self,
        tid: int,
        spec: TableSpec,
        idx: IndexSpec,
        part: int,
        after: tuple[int, bytes, bytes] | None,
    ) -> tuple[int, bytes, bytes] | None:
        """Index one chunk of a partition's items (an online index build); returns
        the cursor of the next chunk, None when the partition is done.

        The chunk is read and indexed in one write transaction holding the
        partition lock, so a concurrent write (which maintains CREATING indexes
        itself) cannot interleave with the copy of the same item."""
        async with self.store.write() as tx:
            await tx.lock_partition(tid, part)
            rows = await tx.scan(tid, parts=[part], after=after, limit=INDEX_CHUNK)
            for row in rows:
                assert row.data is not None
                item = decode_item(row.data)
                try:
                    indexes.check_index_keys(item, (idx,))
                except ValidationError:
                    # an item written before the index existed whose key for it is of
                    # the wrong type or too long: DynamoDB's backfill leaves it out (an
                    # "index key violation"), and later writes of it are refused
                    continue
                entry = indexes.entry_for(
                    item,
                    idx,
                    spec.key_schema,
                    row.hk,
                    row.rk,
                    row.part,
                    spec.partitions,
                )
                if entry is not None:
                    await tx.put_index_entry(
                        tid,
                        idx.iid,
                        IndexRow(entry.part, entry.hk, entry.rk, entry.tk, entry.data, entry.size),
                    )
        if len(rows) < INDEX_CHUNK:
            return None
        return (rows[-1].part, rows[-1].hk, rows[-1].rk)

    # ------------------------------------------------------------------ the outbox

    async def pending_count(self) -> int:
        """Local changes not yet acknowledged by Kafka (the outbox backlog)."""
        async with self.store.read() as tx:
            return await tx.pending_count()

    async def pending_changes(
        self, limit: int = 500, share: tuple[int, int] = (1, 0)
    ) -> list[ChangeRecord]:
        """The outbox's oldest records; ``share``: one node's slice of it
        (``DirectReads.pending_changes``)."""
        async with self.store.read() as tx:
            rows = await tx.pending_changes(limit, share)
        return [ChangeRecord.decode_stored(r.record, r.seq, r.created_ms) for r in rows]

    async def mark_published(self, seqs: list[int]) -> None:
        async with self.store.write() as tx:
            await tx.mark_published(seqs)

    async def unpublished_versions(self, tid: int) -> Set[Version]:
        """Versions of a table's local changes not yet acknowledged by Kafka: a
        change record and its row carry the same version (invariant 1), so a row is
        unpublished iff its version is in this set."""
        async with self.store.read() as tx:
            return await tx.pending_versions(tid)

    async def housekeeping(self) -> tuple[int, int]:
        """Drop tombstones past the horizon, change records past the stream retention
        (never one still waiting for the publisher) and deleted tables' streams once
        that retention has passed since the delete."""
        now = wall_ms()
        retention_start = now - self.settings.change_retention_s * 1000
        # without Kafka nothing ever publishes: the outbox is only the stream's log
        no_outbox = self.settings.kafka is None
        async with self.store.write() as tx:
            tombs = await tx.gc_tombstones(now - self.settings.tombstone_horizon_s * 1000)
            trimmed = await tx.trim_changes(retention_start, include_pending=no_outbox)
            expired = await tx.expire_retired(retention_start, include_pending=no_outbox)
            await tx.trim_conflicts(now - self.settings.conflict_retention_s * 1000)
            # quarantined records are kept as long as conflicts, and never too many
            await tx.trim_quarantine(
                now - self.settings.conflict_retention_s * 1000, QUARANTINE_KEEP
            )
        if expired:
            log.info("housekeeping: %d deleted tables' streams expired", expired)
        return tombs, trimmed

    async def conflicts(self, limit: int = 100, table: str | None = None) -> list[dict[str, Any]]:
        """The conflict log, newest first: every remote change that lost LWW here."""
        if table is not None and system_tables.hidden(table):
            return []
        async with self.store.read() as tx:
            rows = await tx.conflicts(limit, table)
        # the identities table's losers hold users' policies (and sealed secrets): they
        # stay in the store as a trace, out of the public conflict log
        rows = [r for r in rows if not system_tables.hidden(r["table_name"])]
        return [
            {
                "table": r["table_name"],
                "keys": orjson.loads(r["keys"]),
                "winner": {"hlc": r["winner_hlc"], "origin": r["winner_origin"]},
                "loser": {
                    "hlc": r["loser_hlc"],
                    "origin": r["loser_origin"],
                    "image": orjson.loads(r["loser_image"]) if r["loser_image"] else None,
                },
                "at_ms": r["at_ms"],
            }
            for r in rows
        ]

    # ------------------------------------------------------------------ reads

    async def get_item(self, table: str, key: Any) -> Item | None:
        tid, spec = await self.serving(table)
        k = validate_key(key, spec.key_schema)
        enc = encode_key(k, spec.key_schema, spec.partitions)
        async with self.store.read() as tx:
            row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
        if row is None or row.data is None:
            return None
        return decode_item(row.data)

    async def get_many(self, keys: list[tuple[str, Any]]) -> list[Item | None]:
        """Several items read on one connection (TransactGetItems, BatchGetItem)."""
        plan = []
        for table, key in keys:
            tid, spec = await self.serving(table)
            k = validate_key(key, spec.key_schema)
            plan.append((tid, encode_key(k, spec.key_schema, spec.partitions)))
        out: list[Item | None] = []
        async with self.store.read(snapshot=True) as tx:
            rows = await tx.get_rows([(tid, e.part, e.hk, e.rk) for tid, e in plan])
        for row in rows:
            out.append(decode_item(row.data) if row is not None and row.data is not None else None)
        return out

    async def query(
        self,
        table: str,
        *,
        hash_value: dict[str, Any],
        range_op: str | None,
        range_values: tuple[dict[str, Any], ...],
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        exclusive_start_key: Any = None,
        keep: Callable[[Item], bool] | None = None,
        consistent: bool = False,
        full_items: bool = False,
        hash_values: tuple[dict[str, Any], ...] = (),
        range_prefix: tuple[dict[str, Any], ...] = (),
    ) -> reads.Page:
        """Items of one partition key (of the table or an index), sort-key range, in
        sort-key order.  ``full_items`` fetches unprojected attributes of an LSI
        entry from the table, as DynamoDB does.  ``hash_values`` / ``range_prefix``:
        a multi-attribute GSI key's values (``reads.query``)."""
        tid, spec = await self.serving(table)
        idx = reads.readable_index(spec, index, consistent)
        async with self.store.read() as tx:
            return await reads.query(
                tx,
                tid,
                spec,
                idx,
                hash_value=hash_value,
                range_op=range_op,
                range_values=range_values,
                forward=forward,
                limit=limit,
                exclusive_start_key=exclusive_start_key,
                keep=keep,
                full_items=full_items,
                hash_values=hash_values,
                range_prefix=range_prefix,
            )

    async def scan(
        self,
        table: str,
        *,
        index: str | None = None,
        limit: int | None = None,
        exclusive_start_key: Any = None,
        keep: Callable[[Item], bool] | None = None,
        segment: int | None = None,
        total_segments: int | None = None,
        consistent: bool = False,
        full_items: bool = False,
    ) -> reads.Page:
        """Every item (of the table or an index), partition by partition, in key
        order within a partition."""
        tid, spec = await self.serving(table)
        idx = reads.readable_index(spec, index, consistent)
        async with self.store.read() as tx:
            return await reads.scan(
                tx,
                tid,
                spec,
                idx,
                limit=limit,
                exclusive_start_key=exclusive_start_key,
                keep=keep,
                segment=segment,
                total_segments=total_segments,
                full_items=full_items,
            )


def _conflict(spec: TableSpec, rec: ChangeRecord, row: StoredRow, now: int) -> dict[str, Any]:
    """The conflict-log entry of a remote change that lost LWW to the stored row."""
    return {
        "table_name": spec.name,
        "keys": orjson.dumps(rec.keys).decode(),
        "winner_hlc": row.version.hlc,
        "winner_origin": row.version.origin,
        "loser_hlc": rec.version.hlc,
        "loser_origin": rec.version.origin,
        "loser_image": orjson.dumps(rec.new_image).decode() if rec.new_image is not None else None,
        "at_ms": now,
    }
