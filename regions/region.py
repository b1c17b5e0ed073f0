"""The region facade: the only thing ``api/`` and ``replicator/`` call.

A region owns one store, one hybrid logical clock and a catalog cache.  Local
writes and remote applies both go through here, so the invariants of DESIGN.md
are enforced in one place:

1. Atomic outbox: :meth:`_commit_write` writes the item row and its change record
   in one store transaction.
2. Versions: every local write takes ``clock.tick()``; every applied remote
   version is folded in with ``clock.observe()``.
3. LWW apply: :meth:`apply_remote` applies a change iff its version is greater
   than the stored one (item or tombstone); equal versions are duplicates from
   at-least-once delivery and change nothing.
4. Deletes leave tombstones carrying the delete's version.
5. No loops: only local-origin change records are marked ``pending`` for the
   publisher; applied ones are logged with their original version and origin.
6. Conditions are evaluated here, against the local item only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson

from regions import (
    catalog,
    definitions,
    indexes,
    reads,
    remote_check,
    reseed,
    streams,
    system_tables,
    throughput,
)
from regions.catalog import Replica, TableSpec
from regions.changes import INSERT, MODIFY, REMOVE, ChangeRecord, InvalidRecord
from regions.errors import (
    ConditionalCheckFailed,
    DynamoError,
    LimitExceeded,
    ResourceInUse,
    ResourceNotFound,
    ValidationError,
)
from regions.keys import (
    EncodedKey,
    KeySchema,
    decode_key,
    encode_key,
    item_key,
    validate_key,
)
from regions.process_signals import CATALOG, ProcessSignals
from regions.settings import RegionSettings
from regions.store import UNREAD, IndexRow, SqlStore, StoredRow, Unread, WriteTx, open_store_url
from regions.types import Item, check_item_size, decode_item, encode_item, item_size, validate_item
from regions.versions import HybridClock, Version, wall_ms

__all__ = ["ApplyStats", "PeerLink", "Region", "WriteOutcome", "WritesCancelled"]

log = logging.getLogger("globaltables.region")

_KEY_TYPES = ("S", "N", "B")
#: rows a backfill reads and pushes at once: each push is one HTTP request and one
#: store transaction at the new replica, whose fixed cost dominated at 500 rows
_BACKFILL_ROWS = 2000
#: ... and at most this many bytes of items per push (items go up to 400 KB each)
_BACKFILL_BYTES = 4 * 1024 * 1024
_TABLE_ARN_PREFIX = "arn:aws:dynamodb:"
#: most quarantined records kept (the oldest go first), whatever their age
QUARANTINE_KEEP = 10_000


class PeerLink(Protocol):
    """How a region reaches its peers' control plane (implemented in replicator/)."""

    async def put_replica(self, region: str, spec: TableSpec) -> None: ...

    async def push_rows(self, region: str, table: str, records: list[ChangeRecord]) -> None: ...

    async def drop_replica(self, region: str, table: str, table_id: str) -> None: ...


#: what apply_remote did with one record (its ``outcomes``)
APPLIED, LOST, DUPLICATE, SKIPPED = "applied", "lost", "duplicate", "skipped"
#: ... or refused by the checks of invariant 9 (see ``rejected``)
REJECTED = "rejected"


@dataclass
class ApplyStats:
    applied: int = 0
    #: duplicates (equal version) and stale changes (lower version)
    lost: int = 0
    duplicates: int = 0
    #: tables this region does not replicate
    skipped: int = 0
    #: refused by the checks of invariant 9 (regions/remote_check.py)
    rejected: int = 0


class WritesCancelled(DynamoError):
    """An atomic multi-item write failed; nothing was written.  ``failures`` maps
    the position of each failed write to its error (api/ builds
    TransactionCanceledException's CancellationReasons from it)."""

    code = "TransactionCanceledException"

    def __init__(self, failures: dict[int, DynamoError], total: int) -> None:
        super().__init__("Transaction cancelled")
        self.failures = failures
        self.total = total


@dataclass(frozen=True)
class WriteOutcome:
    old: Item | None
    new: Item | None
    changed: bool


class _CatalogMoved(Exception):
    """A worker's write found a newer catalog epoch in the store (Region._write_many)."""


#: the meta key of the catalog epoch, bumped in every transaction that changes a spec
_CATALOG_EPOCH = "catalog_epoch"


@dataclass
class _Counters:
    writes: int = 0
    noop_writes: int = 0
    applied: int = 0
    lost: int = 0
    duplicates: int = 0
    skipped: int = 0
    extra: dict[str, int] = field(default_factory=dict)


#: a pure function of the current local item (None if absent) giving the new item
#: (None = delete); raising aborts the transaction
Mutation = Callable[[Item | None], Item | None]


def _chunks(records: list[ChangeRecord], rows: list[StoredRow]) -> list[list[ChangeRecord]]:
    """Backfill records cut into pushes of at most _BACKFILL_BYTES of item data."""
    out: list[list[ChangeRecord]] = [[]]
    size = 0
    for record, row in zip(records, rows, strict=True):
        n = len(row.data) if row.data is not None else 0
        if out[-1] and size + n > _BACKFILL_BYTES:
            out.append([])
            size = 0
        out[-1].append(record)
        size += n
    return out


def _table_name(name_or_arn: str) -> str:
    """TableName accepts a name or a table ARN."""
    if name_or_arn.startswith(_TABLE_ARN_PREFIX) and ":table/" in name_or_arn:
        return name_or_arn.split(":table/", 1)[1].split("/", 1)[0]
    return name_or_arn


class Region:
    def __init__(
        self,
        settings: RegionSettings,
        *,
        store: SqlStore | None = None,
        clock: HybridClock | None = None,
        peers: PeerLink | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.store = store or open_store_url(
            settings.store_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        self.clock = clock or HybridClock()
        self.peers = peers
        #: set after every commit of a local-origin change; the publisher waits on it
        self.changes_available = asyncio.Event()
        self.counters = _Counters()
        self._tables: dict[str, tuple[int, TableSpec]] = {}
        self._background: set[asyncio.Task[None]] = set()
        #: set by the replicator: waits until every change published by other
        #: regions so far has been applied here (used before a backfill copy)
        self.catch_up: Callable[[], Awaitable[None]] | None = None
        #: table id -> percent done, for tables this region is re-seeding
        #: (replicator/reseed.py); DescribeTable shows the replica UPDATING meanwhile
        self.reseeding: dict[str, int] = {}
        #: set by share_processes(): the counters of a region served by several processes
        self.signals: ProcessSignals | None = None
        #: a worker process (--workers): it serves item operations and leaves the catalog,
        #: the replicator and every background job to the primary process
        self.worker = False
        #: the stored catalog epoch (and the shared hint) the cached catalog was read at
        self._catalog_epoch = 0
        self._catalog_hint = 0
        #: in the primary of a region with workers: their (writes, no-op writes)
        self.worker_writes: Callable[[], tuple[int, int]] | None = None

    def write_counts(self) -> tuple[int, int]:
        """Local writes that changed an item and no-op writes, of every process
        serving this region."""
        writes, noop = self.counters.writes, self.counters.noop_writes
        if self.worker_writes is not None:
            more = self.worker_writes()
            writes, noop = writes + more[0], noop + more[1]
        return writes, noop

    def share_processes(self, signals: ProcessSignals, *, worker: bool) -> None:
        """Serve this region from several processes over one store (before open()).

        The primary bumps ``signals`` after it changes the catalog; a worker reloads its
        cached catalog when it sees that, and re-checks the stored epoch inside every
        write transaction, so no item is written under a stale table spec."""
        self.signals = signals
        self.worker = worker
        self.store.share_with_processes()

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await self.store.open()
        async with self.store.read() as tx:
            # a restart must never issue versions below ones already stored
            self.clock.observe(await tx.max_hlc())
        await self._load_catalog()
        if self.worker:
            # the primary owns the system tables and resumes index builds
            return
        async with self.store.write() as wtx:
            await wtx.set_meta("region", self.name)
        await self._ensure_system_tables()

        # an index build interrupted by a restart resumes
        for _, spec in list(self._tables.values()):
            for idx in spec.indexes:
                if idx.status == catalog.CREATING:
                    self._spawn(self._build_index(spec.name, idx.name))
                elif idx.status == catalog.DELETING:
                    self._spawn(self._drop_index(spec.name, idx.name))

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.store.close()

    async def _ensure_system_tables(self) -> None:
        """Create the system tables (regions/system_tables.py) or widen their replica
        set to this region's peers: the fixed table id and this region in the set are
        all that ``apply_remote`` needs to take the peers' changes."""
        spec = system_tables.identities_spec(
            self.name, self.settings.peers, self.settings.partitions
        )
        have = self._tables.get(spec.name)
        if have is None:
            try:
                await self._insert_spec(spec)
                return
            except ResourceInUse:
                # another process sharing the store created it meanwhile
                with system_tables.access():
                    have = await self._table(spec.name)
        tid, current = have
        wanted = sorted({*current.replica_regions(), *spec.replica_regions()})
        if wanted != sorted(current.replica_regions()):
            await self._save_spec(
                tid, current.with_replicas(tuple(catalog.Replica(r) for r in wanted))
            )

    async def _load_catalog(self) -> None:
        """(Re)read every table spec, with the epoch they were stored at."""
        hint = self.signals.read(CATALOG) if self.signals is not None else 0
        async with self.store.read() as tx:
            epoch = await tx.get_meta(_CATALOG_EPOCH)
            rows = await tx.tables()
        tables: dict[str, tuple[int, TableSpec]] = {}
        for tid, raw in rows:
            spec = TableSpec.from_json(orjson.loads(raw))
            tables[spec.name] = (tid, spec)
        self._tables = tables
        self._catalog_epoch = int(epoch or 0)
        self._catalog_hint = hint

    async def _bump_catalog(self, tx: WriteTx) -> None:
        """Inside a transaction that changes a table spec: a new catalog epoch, so
        that processes sharing the store notice (see share_processes)."""
        epoch = int(await tx.get_meta(_CATALOG_EPOCH) or 0) + 1
        await tx.set_meta(_CATALOG_EPOCH, str(epoch))
        self._catalog_epoch = epoch

    def _catalog_changed(self) -> None:
        """After the commit of a catalog change: tell the workers."""
        if self.signals is not None:
            self.signals.bump(CATALOG)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ catalog

    def arn(self, table: str) -> str:
        return f"arn:aws:dynamodb:{self.name}:{self.settings.account_id}:table/{table}"

    async def _table(self, name_or_arn: str) -> tuple[int, TableSpec]:
        name = _table_name(name_or_arn)
        if system_tables.hidden(name):
            # the service's own tables do not exist for the API (regions/system_tables.py)
            raise ResourceNotFound(f"Requested resource not found: Table: {name} not found")
        signals = self.signals
        if signals is not None and self.worker and signals.read(CATALOG) != self._catalog_hint:
            await self._load_catalog()
        hit = self._tables.get(name)
        if hit is not None:
            return hit
        # another process sharing the store may have created it
        async with self.store.read() as tx:
            row = await tx.table(name)
        if row is None:
            raise ResourceNotFound(f"Requested resource not found: Table: {name} not found")
        spec = TableSpec.from_json(orjson.loads(row[1]))
        self._tables[name] = (row[0], spec)
        return row[0], spec

    async def table_ref(self, name_or_arn: str) -> tuple[int, TableSpec]:
        """(local table number, spec) for modules that read the store directly
        (streams).  Raises ResourceNotFound."""
        return await self._table(name_or_arn)

    async def set_stream(self, name: str, enabled: bool, view_type: str | None) -> TableSpec:
        """StreamSpecification on CreateTable/UpdateTable: enable (a new stream, new
        label) or disable the table's stream."""
        streams.check_specification(enabled, view_type, creating=False)
        tid, spec = await self._table(name)
        current = spec.stream
        now = wall_ms()
        if enabled:
            if current is not None:
                raise ValidationError(
                    f"Table already has an enabled stream: TableName: {spec.name}"
                )
            if view_type not in streams.VIEW_TYPES:
                raise ValidationError(
                    "One or more parameter values were invalid: StreamViewType is required when "
                    "StreamEnabled is true"
                    if view_type is None
                    else f"One or more parameter values were invalid: Unknown StreamViewType: {view_type}"
                )
            # labels must differ even if enabled twice within one millisecond
            last = spec.streams[-1].created_ms if spec.streams else 0
            created = max(now, last + 1)
            new_stream = streams.StreamSpec(streams.stream_label(created), view_type, created)
            new = replace(spec, streams=(*spec.streams, new_stream))
        else:
            if current is None:
                raise ValidationError(
                    f"Table has no stream to disable: TableName: {spec.name}"
                )
            closed = replace(current, disabled_ms=now)
            new = replace(spec, streams=(*spec.streams[:-1], closed))
        await self._save_spec(tid, new)
        await self._tell_replicas(new)
        return new

    async def describe_table(self, name: str) -> tuple[TableSpec, int, int]:
        """The spec plus live item count and size in bytes."""
        tid, spec = await self._table(name)
        async with self.store.read() as tx:
            count, size = await tx.count_items(tid)
        return reseed.describe_overlay(spec, self.name, self.reseeding), count, size

    async def index_counts(self, name: str) -> dict[str, tuple[int, int]]:
        """Entry count and size in bytes of each index of a table."""
        tid, spec = await self._table(name)
        out: dict[str, tuple[int, int]] = {}
        async with self.store.read() as tx:
            for idx in spec.indexes:
                out[idx.name] = await tx.count_index(tid, idx.iid)
        return out

    async def list_tables(
        self, limit: int = 100, start: str | None = None
    ) -> tuple[list[str], str | None]:
        async with self.store.read() as tx:
            rows = await tx.tables()
        names = sorted(
            name
            for name in (TableSpec.from_json(orjson.loads(raw)).name for _, raw in rows)
            if name not in system_tables.NAMES
        )
        if start is not None:
            names = [n for n in names if n > start]
        page = names[:limit]
        last = page[-1] if len(names) > limit else None
        return page, last

    async def create_table(
        self,
        *,
        name: str,
        key_schema: list[dict[str, str]],
        attribute_definitions: list[dict[str, str]],
        billing_mode: str = "PROVISIONED",
        read_capacity: int | None = None,
        write_capacity: int | None = None,
        tags: dict[str, str] | None = None,
        deletion_protection: bool = False,
        table_class: str = "STANDARD",
        local_indexes: list[dict[str, Any]] | None = None,
        global_indexes: list[dict[str, Any]] | None = None,
    ) -> TableSpec:
        catalog.validate_table_name(name)
        types = definitions.attribute_types(attribute_definitions)
        schema = definitions.key_schema(key_schema, types)
        indexes = definitions.index_specs(local_indexes or [], global_indexes or [], types, schema)
        definitions.check_all_used(types, [schema, *(i.key_schema for i in indexes)])
        if billing_mode == "PROVISIONED":
            if read_capacity is None or write_capacity is None:
                raise ValidationError(
                    "One or more parameter values were invalid: ReadCapacityUnits and "
                    "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
                )
        elif read_capacity is not None or write_capacity is not None:
            raise ValidationError(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
            )
        spec = TableSpec(
            name=name,
            table_id=catalog.new_table_id(),
            key_schema=schema,
            attributes={d["AttributeName"]: d["AttributeType"] for d in attribute_definitions},
            created_at=time.time(),
            partitions=self.settings.partitions,
            billing_mode=billing_mode,
            read_capacity=read_capacity or 0,
            write_capacity=write_capacity or 0,
            tags=dict(tags or {}),
            deletion_protection=deletion_protection,
            table_class=table_class,
            indexes=indexes,
        )
        await self._insert_spec(spec)
        log.info("created table %s (%s)", name, spec.table_id)
        return spec

    async def _insert_spec(self, spec: TableSpec) -> int:
        async with self.store.write() as tx:
            if await tx.table(spec.name) is not None:
                raise ResourceInUse(f"Table already exists: {spec.name}")
            tid = await tx.insert_table(
                spec.name, spec.table_id, orjson.dumps(spec.to_json()).decode()
            )
            await self._bump_catalog(tx)
        self._tables[spec.name] = (tid, spec)
        self._catalog_changed()
        return tid

    async def delete_table(self, name: str) -> TableSpec:
        tid, spec = await self._table(name)
        if spec.deletion_protection:
            raise ValidationError(
                "Resource cannot be deleted as it is currently protected against deletion. "
                "Disable deletion protection first."
            )
        await self._drop_table(tid, spec)
        log.info("deleted table %s", spec.name)
        return replace(spec, status=catalog.DELETING)

    async def _drop_table(self, tid: int, spec: TableSpec) -> None:
        """Drop a table (DeleteTable, or a peer deleting this replica).  As in DynamoDB
        its stream outlives it: disabled, still listed and readable until the stream
        retention has passed (housekeeping then forgets it), so the table's change
        records stay and its spec is kept aside, with its streams closed."""
        now = wall_ms()
        async with self.store.write() as tx:
            if spec.streams:
                closed = tuple(
                    # +1: a change logged in this very millisecond is still in it
                    st if not st.enabled else replace(st, disabled_ms=now + 1)
                    for st in spec.streams
                )
                kept = replace(spec, streams=closed, status=catalog.DELETING)
                await tx.retire_table(tid, spec.name, orjson.dumps(kept.to_json()).decode(), now)
            await tx.drop_table(tid, keep_changes=bool(spec.streams))
            await self._bump_catalog(tx)
        self._tables.pop(spec.name, None)
        self._catalog_changed()

    async def add_replica(self, name: str, region_name: str) -> TableSpec:
        """UpdateTable ReplicaUpdates Create: make the table global, or add a region.

        Backfill protocol (a new replica receives a consistent copy):
        1. the new region creates its replica (same table id) and every existing
           replica learns the new replica set, so from now on every region's
           change for this table is applied there (via Kafka);
        2. this region waits until its own applier has applied everything other
           regions published up to now (``catch_up``), so any change that the new
           region skipped before step 1 is in this region's store;
        3. this region copies every row (items AND tombstones, with versions) to
           the new region, which applies them with LWW like any remote change.
        Writes racing with the copy reach the new region through Kafka; LWW makes
        the order irrelevant, and tombstones keep deleted items deleted.
        """
        tid, spec = await self._table(name)
        current = spec.replica_regions() or (self.name,)
        if region_name in current:
            raise ValidationError(
                f"Failed to create a new replica of table with name: '{spec.name}' because one "
                f"or more replicas already existed as tables: [{region_name}]"
            )
        if self.peers is None or region_name not in self.settings.peers:
            known = ", ".join(sorted(self.settings.peers)) or "none"
            raise ValidationError(
                f"The region {region_name} is not a peer of {self.name} (known peers: {known}); "
                "start the region with --peer NAME=URL"
            )
        if any(r.status != catalog.ACTIVE for r in spec.replicas):
            raise LimitExceeded(
                f"Table {spec.name} is already changing its replicas; try again when every "
                "replica is ACTIVE"
            )
        async with self.store.read() as tx:
            has_rows = bool(await tx.scan_all_rows(tid, limit=1))
        existing = tuple(r for r in spec.replicas) or (Replica(self.name),)
        new_replica = Replica(region_name, catalog.CREATING if has_rows else catalog.ACTIVE)
        new_spec = spec.with_replicas((*existing, new_replica))
        # the new region first: if it refuses (say, it has a different table of that
        # name), nothing has changed anywhere yet
        await self.peers.put_replica(region_name, new_spec)
        for other in current:
            if other != self.name:
                await self.peers.put_replica(other, new_spec)
        await self._save_spec(tid, new_spec)
        log.info("table %s now replicates to %s", spec.name, ", ".join(new_spec.replica_regions()))
        if has_rows:
            self._spawn(self._backfill(spec.name, region_name))
        return new_spec

    async def _backfill(self, table: str, target: str) -> None:
        assert self.peers is not None
        # where the time goes, for the log line at the end (docs/global-tables.md)
        started = time.monotonic()
        if self.catch_up is not None:
            await self.catch_up()
        caught_up = time.monotonic()
        read_s = push_s = 0.0
        tid, spec = await self._table(table)
        async with self.store.read() as tx:
            total = (await tx.count_items(tid))[0] or 1
        sent = 0
        last_pct = -1
        cursor: tuple[int, bytes, bytes] | None = None
        try:
            while True:
                t0 = time.monotonic()
                async with self.store.read() as tx:
                    rows = await tx.scan_all_rows(tid, after=cursor, limit=_BACKFILL_ROWS)
                if not rows:
                    break
                cursor = (rows[-1].part, rows[-1].hk, rows[-1].rk)
                records = []
                for row in rows:
                    item = decode_item(row.data) if row.data is not None else None
                    key = decode_key(row.hk, row.rk, spec.key_schema)
                    records.append(
                        ChangeRecord(
                            table=spec.name,
                            table_id=spec.table_id,
                            event=REMOVE if item is None else INSERT,
                            keys=key,
                            new_image=item,
                            old_image=None,
                            version=row.version,
                        )
                    )
                t1 = time.monotonic()
                for chunk in _chunks(records, rows):
                    await self.peers.push_rows(target, spec.name, chunk)
                t2 = time.monotonic()
                read_s += t1 - t0
                push_s += t2 - t1
                sent += sum(1 for r in rows if r.data is not None)
                pct = min(99, sent * 100 // total)
                if pct // 5 != last_pct // 5:
                    last_pct = pct
                    await self._set_replica(table, target, catalog.CREATING, pct, tell=True)
        except Exception as exc:
            log.error("backfill of %s to %s failed: %s", table, target, exc)
            await self._set_replica(table, target, "CREATION_FAILED", last_pct, tell=True)
            return
        await self._set_replica(table, target, catalog.ACTIVE, 100, tell=True)
        log.info(
            "backfill of %s to %s done: %d items in %.1fs (catch-up %.1fs, reading %.1fs, "
            "pushing %.1fs)",
            table,
            target,
            sent,
            time.monotonic() - started,
            caught_up - started,
            read_s,
            push_s,
        )

    async def _set_replica(
        self, table: str, region_name: str, status: str, progress: int, *, tell: bool
    ) -> None:
        tid, spec = await self._table(table)
        new = spec.with_replicas(
            tuple(
                Replica(r.region, status, progress) if r.region == region_name else r
                for r in spec.replicas
            )
        )
        # peers first: once this region reports ACTIVE, every replica already does
        if tell:
            await self._tell_replicas(new)
        await self._save_spec(tid, new)

    async def remove_replica(self, name: str, region_name: str) -> TableSpec:
        """UpdateTable ReplicaUpdates Delete: the region's replica is deleted and the
        others stop replicating to it."""
        tid, spec = await self._table(name)
        if region_name not in spec.replica_regions():
            raise ValidationError(
                f"Failed to remove replica of table with name: '{spec.name}' because the "
                f"replica doesn't exist in region {region_name}"
            )
        if self.peers is None:
            raise ValidationError(f"region {self.name} has no peers configured")
        remaining = tuple(r for r in spec.replicas if r.region != region_name)
        # a single remaining region is an ordinary table again
        new_spec = spec.with_replicas(remaining if len(remaining) > 1 else ())
        for other in (r.region for r in remaining):
            if other != self.name:
                await self.peers.put_replica(other, new_spec)
        if region_name == self.name:
            await self.delete_table(name)
        else:
            try:
                await self.peers.drop_replica(region_name, spec.name, spec.table_id)
            except DynamoError as exc:
                # an unreachable region can still be removed (DynamoDB allows it); its
                # stale copy is no longer fed by the others
                log.warning("could not delete the replica in %s: %s", region_name, exc.message)
            await self._save_spec(tid, new_spec)
        log.info("replica of %s in %s removed", spec.name, region_name)
        return new_spec

    async def drop_replica(self, name: str, table_id: str) -> None:
        """A peer removed this region from a global table: delete the local replica."""
        tid, spec = await self._table(name)
        if spec.table_id != table_id:
            raise ResourceInUse(f"Table {name} in {self.name} is not a replica of that table")
        await self._drop_table(tid, spec)

    async def accept_replica(self, spec: TableSpec) -> TableSpec:
        """A peer tells us a global table's replica set (and spec): create our replica
        with the same table id, or update its replica list."""
        if self.name not in spec.replica_regions():
            raise ValidationError(f"region {self.name} is not in the replica set of {spec.name}")
        local = self._tables.get(spec.name)
        if local is None:
            try:
                local = await self._table(spec.name)
            except ResourceNotFound:
                local = None
        if local is None:
            # a new replica starts empty, so its indexes are complete from the start
            mine = replace(
                spec,
                partitions=self.settings.partitions,
                created_at=time.time(),
                indexes=tuple(
                    i.with_status("ACTIVE") for i in spec.indexes if i.status != catalog.DELETING
                ),
                streams=(
                    (
                        streams.StreamSpec(
                            streams.stream_label(wall_ms()), spec.stream.view_type, wall_ms()
                        ),
                    )
                    if spec.stream is not None
                    else ()
                ),
            )
            await self._insert_spec(mine)
            log.info("created replica of %s (%s)", spec.name, spec.table_id)
            return mine
        tid, existing = local
        if existing.table_id != spec.table_id:
            raise ResourceInUse(
                f"Table already exists: {spec.name} (a different table of that name exists "
                f"in {self.name})"
            )
        updated = replace(
            existing.with_replicas(spec.replicas),
            attributes={**existing.attributes, **spec.attributes},
            ttl_attribute=spec.ttl_attribute,
            ttl_changed_at=spec.ttl_changed_at,
        )
        # billing mode and capacities are the same on every replica (as in DynamoDB)
        updated = throughput.shared_with(updated, spec)
        # global secondary indexes are built in every region: reconcile ours
        theirs = {i.name: i for i in spec.indexes if i.status != catalog.DELETING}
        kept = tuple(i for i in updated.indexes if i.name in theirs or i.kind == indexes.LSI)
        added: list[str] = []
        for name, idx in theirs.items():
            if updated.index(name) is None:
                kept += (
                    replace(
                        idx,
                        iid=replace(updated, indexes=kept).next_iid(),
                        status=catalog.CREATING,
                        backfilling=False,
                        online=True,
                    ),
                )
                added.append(name)
        dropped = [i.name for i in updated.indexes if i not in kept]
        # the stream setting is kept identical; each region has its own stream (label)
        theirs_stream = spec.stream
        if theirs_stream is not None and updated.stream is None:
            created = max(wall_ms(), (updated.streams[-1].created_ms + 1) if updated.streams else 0)
            updated = replace(
                updated,
                streams=(
                    *updated.streams,
                    streams.StreamSpec(
                        streams.stream_label(created), theirs_stream.view_type, created
                    ),
                ),
            )
        elif theirs_stream is None and updated.stream is not None:
            ours = updated.streams[-1]
            closed = streams.StreamSpec(ours.label, ours.view_type, ours.created_ms, wall_ms())
            updated = replace(updated, streams=(*updated.streams[:-1], closed))
        updated = replace(
            updated,
            indexes=kept
            + tuple(i.with_status(catalog.DELETING) for i in updated.indexes if i.name in dropped),
        )
        await self._save_spec(tid, updated)
        for name in added:
            self._spawn(self._build_index(spec.name, name))
        for name in dropped:
            self._spawn(self._drop_index(spec.name, name))
        return updated

    # ------------------------------------------------------------------ online indexes

    async def create_global_index(
        self, name: str, raw: dict[str, Any], attribute_definitions: list[dict[str, str]]
    ) -> TableSpec:
        """UpdateTable GlobalSecondaryIndexUpdates Create: add a GSI and backfill it."""
        tid, spec = await self._table(name)
        self._one_index_change(spec)
        types = dict(spec.attributes)
        for an, at in definitions.attribute_types(attribute_definitions).items():
            if types.get(an, at) != at:
                raise ValidationError(
                    "One or more parameter values were invalid: Attribute "
                    f"{an} is already defined with type {types[an]}"
                )
            types[an] = at
        if spec.index(raw["IndexName"]) is not None:
            raise ValidationError(
                "One or more parameter values were invalid: Index with name: "
                f"{raw['IndexName']} already exists"
            )
        if sum(1 for i in spec.indexes if i.kind == indexes.GSI) >= indexes.MAX_GSI:
            raise LimitExceeded(
                "Subscriber limit exceeded: The number of global secondary indexes exceeds "
                f"the limit of {indexes.MAX_GSI}"
            )
        idx = definitions.index_spec(
            raw, indexes.GSI, spec.next_iid(), types, spec.key_schema, online=True
        )
        definitions.check_projected_count((*spec.indexes, idx))
        new = replace(spec, attributes=types, indexes=(*spec.indexes, idx))
        await self._save_spec(tid, new)
        self._spawn(self._build_index(name, idx.name))
        await self._tell_replicas(new)
        return new

    async def delete_global_index(self, name: str, index_name: str) -> TableSpec:
        tid, spec = await self._table(name)
        idx = spec.index(index_name)
        if idx is None or idx.kind != indexes.GSI:
            raise ResourceNotFound(f"Requested resource not found: Index: {index_name} not found")
        self._one_index_change(spec)
        new = replace(
            spec,
            indexes=tuple(
                i.with_status(catalog.DELETING) if i.name == index_name else i for i in spec.indexes
            ),
        )
        await self._save_spec(tid, new)
        self._spawn(self._drop_index(name, index_name))
        await self._tell_replicas(new)
        return new

    async def update_settings(
        self,
        name: str,
        *,
        billing_mode: str | None,
        read_capacity: int | None,
        write_capacity: int | None,
        deletion_protection: bool | None,
        table_class: str | None,
    ) -> TableSpec:
        """UpdateTable's plain settings: billing mode, throughput, protection, class."""
        tid, spec = await self._table(name)
        mode = billing_mode or spec.billing_mode
        if mode == "PAY_PER_REQUEST" and (read_capacity is not None or write_capacity is not None):
            raise ValidationError(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
            )
        if (
            mode == "PROVISIONED"
            and spec.billing_mode != "PROVISIONED"
            and (read_capacity is None or write_capacity is None)
        ):
            raise ValidationError(
                "One or more parameter values were invalid: ProvisionedThroughput must be "
                "specified when BillingMode is PROVISIONED"
            )
        new = replace(
            spec,
            billing_mode=mode,
            read_capacity=read_capacity
            if read_capacity is not None
            else (0 if mode == "PAY_PER_REQUEST" else spec.read_capacity),
            write_capacity=write_capacity
            if write_capacity is not None
            else (0 if mode == "PAY_PER_REQUEST" else spec.write_capacity),
            deletion_protection=spec.deletion_protection
            if deletion_protection is None
            else deletion_protection,
            table_class=table_class or spec.table_class,
        )
        await self._save_spec(tid, new)
        if (new.billing_mode, new.read_capacity, new.write_capacity) != (
            spec.billing_mode,
            spec.read_capacity,
            spec.write_capacity,
        ):
            # a global table's billing mode and capacity are the same in every replica
            # (accept_replica takes them); protection and class stay per replica
            await self._tell_replicas(new)
        return new

    @staticmethod
    def _one_index_change(spec: TableSpec) -> None:
        if any(i.status in (catalog.CREATING, catalog.DELETING) for i in spec.indexes):
            raise LimitExceeded(
                "Subscriber limit exceeded: Only 1 online index can be created or deleted "
                "simultaneously per table"
            )

    async def _tell_replicas(self, spec: TableSpec) -> None:
        """Settings changes of a global table reach every other replica."""
        if self.peers is None:
            return
        for other in spec.replica_regions():
            if other != self.name:
                try:
                    await self.peers.put_replica(other, spec)
                except DynamoError as exc:
                    # the change stands here; the peer catches up on the next change
                    log.warning("could not tell %s about %s: %s", other, spec.name, exc.message)

    async def _build_index(self, table: str, index_name: str) -> None:
        """Backfill a new index from the items, partition by partition.

        Each chunk is read and indexed in one write transaction holding the
        partition lock, so a concurrent write (which maintains CREATING indexes
        itself) cannot interleave with the copy of the same item."""
        tid, spec = await self._table(table)
        await self._set_index(table, index_name, catalog.CREATING, backfilling=True)
        idx = spec.index(index_name)
        if idx is None:
            return
        for part in range(spec.partitions):
            cursor: tuple[int, bytes, bytes] | None = None
            while True:
                async with self.store.write() as tx:
                    await tx.lock_partition(tid, part)
                    rows = await tx.scan(tid, parts=[part], after=cursor, limit=500)
                    for row in rows:
                        assert row.data is not None
                        entry = indexes.entry_for(
                            decode_item(row.data),
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
                                IndexRow(
                                    entry.part, entry.hk, entry.rk, entry.tk, entry.data, entry.size
                                ),
                            )
                if len(rows) < 500:
                    break
                cursor = (rows[-1].part, rows[-1].hk, rows[-1].rk)
        await self._set_index(table, index_name, "ACTIVE", backfilling=False)
        log.info("index %s of %s is ACTIVE", index_name, table)

    async def _drop_index(self, table: str, index_name: str) -> None:
        tid, spec = await self._table(table)
        idx = spec.index(index_name)
        if idx is None:
            return
        async with self.store.write() as tx:
            await tx.drop_index(tid, idx.iid)
        tid, spec = await self._table(table)
        await self._save_spec(
            tid, replace(spec, indexes=tuple(i for i in spec.indexes if i.name != index_name))
        )
        log.info("index %s of %s deleted", index_name, table)

    async def _set_index(
        self, table: str, index_name: str, status: str, *, backfilling: bool
    ) -> None:
        tid, spec = await self._table(table)
        await self._save_spec(
            tid,
            replace(
                spec,
                indexes=tuple(
                    i.with_status(status, backfilling) if i.name == index_name else i
                    for i in spec.indexes
                ),
            ),
        )

    async def update_spec(
        self, name: str, change: Callable[[TableSpec], TableSpec], *, replicate: bool = True
    ) -> TableSpec:
        """Apply a pure change to a table's spec and store it (settings such as TTL);
        ``replicate`` tells the other replicas (not for per-region settings: tags)."""
        tid, spec = await self._table(name)
        new = change(spec)
        await self._save_spec(tid, new)
        if replicate:
            await self._tell_replicas(new)
        return new

    async def tables(self) -> list[TableSpec]:
        """Every table of this region (from the store: other processes may add some),
        the system tables excepted."""
        async with self.store.read() as tx:
            rows = await tx.tables()
        specs = [TableSpec.from_json(orjson.loads(raw)) for _, raw in rows]
        return [s for s in specs if s.name not in system_tables.NAMES]

    async def _save_spec(self, tid: int, spec: TableSpec) -> None:
        async with self.store.write() as tx:
            await tx.update_table(tid, orjson.dumps(spec.to_json()).decode())
            await self._bump_catalog(tx)
        self._tables[spec.name] = (tid, spec)
        self._catalog_changed()

    # ------------------------------------------------------------------ items

    async def put_item(
        self,
        table: str,
        item: Any,
        *,
        condition: Callable[[Item | None], bool] | None = None,
        return_old_on_failure: bool = False,
    ) -> WriteOutcome:
        tid, spec = await self._table(table)
        canonical = validate_item(item)
        key = item_key(canonical, spec.key_schema)
        check_item_size(canonical)

        def mutate(old: Item | None) -> Item | None:
            self._check(condition, old, return_old_on_failure)
            return canonical

        return await self._commit_write(tid, spec, key, mutate)

    async def delete_item(
        self,
        table: str,
        key: Any,
        *,
        condition: Callable[[Item | None], bool] | None = None,
        return_old_on_failure: bool = False,
        service: bool = False,
    ) -> WriteOutcome:
        """Delete one item.  ``service`` marks a delete made by the service itself
        (TTL expiry): its change record carries that mark for the Streams API."""
        tid, spec = await self._table(table)
        k = validate_key(key, spec.key_schema)

        def mutate(old: Item | None) -> Item | None:
            self._check(condition, old, return_old_on_failure)
            return None

        return await self._commit_write(tid, spec, k, mutate, service=service)

    async def update_item(
        self,
        table: str,
        key: Any,
        mutate: Callable[[Item | None, Item, KeySchema], Item | None],
    ) -> WriteOutcome:
        """Read-modify-write with a caller-supplied pure mutation (UpdateItem).

        ``mutate(old, key, schema)`` gets the validated key; it may run again if
        the transaction is retried, so it must not change state outside itself."""
        tid, spec = await self._table(table)
        k = validate_key(key, spec.key_schema)

        def run(old: Item | None) -> Item | None:
            new = mutate(old, k, spec.key_schema)
            if new is not None:
                check_item_size(new, update=True)
            return new

        return await self._commit_write(tid, spec, k, run)

    async def get_item(self, table: str, key: Any) -> Item | None:
        tid, spec = await self._table(table)
        k = validate_key(key, spec.key_schema)
        enc = encode_key(k, spec.key_schema, spec.partitions)
        async with self.store.read() as tx:
            row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
        if row is None or row.data is None:
            return None
        return decode_item(row.data)

    async def table_spec(self, table: str) -> TableSpec:
        return (await self._table(table))[1]

    @staticmethod
    def _check(
        condition: Callable[[Item | None], bool] | None, old: Item | None, return_old: bool
    ) -> None:
        if condition is not None and not condition(old):
            raise ConditionalCheckFailed(item=old if return_old else None)

    async def _commit_write(
        self, tid: int, spec: TableSpec, key: Item, mutate: Mutation, *, service: bool = False
    ) -> WriteOutcome:
        outcome = (
            await self._write_many([(tid, spec, key, mutate)], atomic=True, service=service)
        )[0]
        assert isinstance(outcome, WriteOutcome)
        return outcome

    async def write_many(
        self, requests: list[tuple[str, Any, Mutation]], *, atomic: bool
    ) -> list[WriteOutcome | DynamoError]:
        """Several single-item writes in ONE store transaction.

        Each mutation sees the current local item and returns the new one (or
        raises a DynamoError, e.g. ConditionalCheckFailed).  With ``atomic`` a
        failure of any mutation writes nothing and raises :class:`WritesCancelled`
        listing every failure by position (TransactWriteItems); without it the
        others are written and the failures returned in place (BatchWriteItem).
        Keys must not repeat (callers reject that with DynamoDB's message).
        """
        plan: list[tuple[int, TableSpec, Item, Mutation]] = []
        for table, key, mutate in requests:
            tid, spec = await self._table(table)
            plan.append((tid, spec, validate_key(key, spec.key_schema), mutate))
        return await self._write_many(plan, atomic=atomic)

    async def _write_many(
        self,
        plan: list[tuple[int, TableSpec, Item, Mutation]],
        *,
        atomic: bool,
        service: bool = False,
    ) -> list[WriteOutcome | DynamoError]:
        if not self.worker:
            return await self._write_planned(plan, atomic=atomic, service=service)
        while True:
            try:
                return await self._write_planned(plan, atomic=atomic, service=service)
            except _CatalogMoved:
                # the primary changed a spec since this process read it (an index being
                # added, the table deleted...): write under the current one instead
                await self._load_catalog()
                plan = [(tid, self._spec_of(tid, spec.name), k, m) for tid, spec, k, m in plan]

    def _spec_of(self, tid: int, name: str) -> TableSpec:
        hit = self._tables.get(name)
        if hit is None or hit[0] != tid:
            raise ResourceNotFound(f"Requested resource not found: Table: {name} not found")
        return hit[1]

    async def _write_planned(
        self,
        plan: list[tuple[int, TableSpec, Item, Mutation]],
        *,
        atomic: bool,
        service: bool = False,
    ) -> list[WriteOutcome | DynamoError]:
        encs = [encode_key(key, spec.key_schema, spec.partitions) for _, spec, key, _ in plan]
        now = wall_ms()
        results: list[WriteOutcome | DynamoError] = []
        changed = 0
        async with self.store.write() as tx:
            if self.worker and int(await tx.get_meta(_CATALOG_EPOCH) or 0) != self._catalog_epoch:
                # read under the write lock (SQLite) or in the transaction (PostgreSQL)
                raise _CatalogMoved()
            # one global lock order, so concurrent multi-item writers cannot deadlock
            for tid, part in sorted({(p[0], e.part) for p, e in zip(plan, encs, strict=True)}):
                await tx.lock_partition(tid, part)
            staged: list[tuple[StoredRow | None, Item | None, Item | None]] = []
            failures: dict[int, DynamoError] = {}
            for i, ((tid, _, _, mutate), enc) in enumerate(zip(plan, encs, strict=True)):
                row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
                old = decode_item(row.data) if row is not None and row.data is not None else None
                if service and row is not None and row.version.origin != self.name:
                    # TTL: only the region whose write is the item's current version
                    # expires it, so exactly one region shows the service identity in
                    # its stream; the others receive an ordinary replicated delete
                    staged.append((row, old, old))
                    continue
                try:
                    new_item = mutate(old)
                    if new_item is not None and plan[i][1].indexes:
                        indexes.check_index_keys(new_item, plan[i][1].indexes)
                    staged.append((row, old, new_item))
                except DynamoError as exc:
                    failures[i] = exc
                    staged.append((row, old, old))
            if failures and atomic:
                if len(plan) == 1:
                    raise failures[0]
                # leaving the block by exception rolls the whole transaction back
                raise WritesCancelled(failures, len(plan))
            for i, ((tid, spec, key, _), enc, (row, old, new)) in enumerate(
                zip(plan, encs, staged, strict=True)
            ):
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
                await self._write_row(
                    tx,
                    tid,
                    spec,
                    enc,
                    key,
                    old,
                    new,
                    data,
                    version,
                    event,
                    now,
                    pending=True,
                    service=service,
                    prev=row,
                )
                changed += 1
                results.append(WriteOutcome(old, new, changed=True))
        if changed:
            self.counters.writes += changed
            self.changes_available.set()
        return results

    async def get_many(self, keys: list[tuple[str, Any]]) -> list[Item | None]:
        """Several items read on one connection (TransactGetItems, BatchGetItem)."""
        plan = []
        for table, key in keys:
            tid, spec = await self._table(table)
            k = validate_key(key, spec.key_schema)
            plan.append((tid, encode_key(k, spec.key_schema, spec.partitions)))
        out: list[Item | None] = []
        async with self.store.read(snapshot=True) as tx:
            for tid, enc in plan:
                row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
                out.append(
                    decode_item(row.data) if row is not None and row.data is not None else None
                )
        return out

    async def _write_row(
        self,
        tx: WriteTx,
        tid: int,
        spec: TableSpec,
        enc: EncodedKey,
        key: Item,
        old: Item | None,
        new: Item | None,
        data: bytes | None,
        version: Version,
        event: str,
        now: int,
        *,
        pending: bool,
        log_change: bool = True,
        service: bool = False,
        prev: StoredRow | Unread | None = UNREAD,
    ) -> None:
        size = item_size(new) if new is not None else 0
        # prev: the row as read in this transaction, so the store need not read it
        # again to keep the verifier's hash tree
        await tx.put_row(tid, enc.part, enc.hk, enc.rk, version, data, size, now, prev=prev)
        await self._maintain_indexes(tx, tid, spec, enc, old, new)
        if not log_change:
            return
        record = ChangeRecord(
            table=spec.name,
            table_id=spec.table_id,
            event=event,
            keys=key,
            new_image=new,
            old_image=old,
            version=version,
            hash_key=enc.hk,
            service=service,
        )
        await tx.append_change(tid, enc.part, event, version, record.encode_stored(), now, pending)

    async def _maintain_indexes(
        self,
        tx: WriteTx,
        tid: int,
        spec: TableSpec,
        enc: EncodedKey,
        old: Item | None,
        new: Item | None,
    ) -> None:
        """Index entries follow the item in the same transaction (invariant 1)."""
        for index in spec.indexes:
            if index.status == catalog.DELETING:
                continue
            args = (index, spec.key_schema, enc.hk, enc.rk, enc.part, spec.partitions)
            before = indexes.entry_for(old, *args)
            after = indexes.entry_for(new, *args)
            if before is not None and (
                after is None
                or (before.part, before.hk, before.rk) != (after.part, after.hk, after.rk)
            ):
                await tx.delete_index_entry(
                    tid, index.iid, before.part, before.hk, before.rk, before.tk
                )
            if after is not None and after != before:
                await tx.put_index_entry(
                    tid,
                    index.iid,
                    IndexRow(after.part, after.hk, after.rk, after.tk, after.data, after.size),
                )

    # ------------------------------------------------------------------ replication

    async def apply_remote(
        self,
        records: list[ChangeRecord],
        *,
        repair: bool = False,
        outcomes: list[str] | None = None,
        rejected: dict[int, InvalidRecord] | None = None,
    ) -> ApplyStats:
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

        ``outcomes``, if given, is filled with one of ``applied``, ``lost``,
        ``duplicate``, ``skipped`` or ``rejected`` per record, in order: how the
        applier keeps per-source counts while it applies every source's records in
        one transaction.
        """
        stats = ApplyStats()
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
                    tid, spec = await self._table(rec.table)
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
                            await tx.log_conflict(
                                {
                                    "table_name": spec.name,
                                    "keys": orjson.dumps(rec.keys).decode(),
                                    "winner_hlc": row.version.hlc,
                                    "winner_origin": row.version.origin,
                                    "loser_hlc": rec.version.hlc,
                                    "loser_origin": rec.version.origin,
                                    "loser_image": orjson.dumps(rec.new_image).decode()
                                    if rec.new_image is not None
                                    else None,
                                    "at_ms": now,
                                }
                            )
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
                    await self._write_row(
                        tx,
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
                    )
                    stats.applied += 1
                    told[i] = APPLIED
        self.counters.applied += stats.applied
        self.counters.lost += stats.lost
        self.counters.duplicates += stats.duplicates
        self.counters.skipped += stats.skipped
        return stats

    async def pending_count(self) -> int:
        """Local changes not yet acknowledged by Kafka (the outbox backlog)."""
        async with self.store.read() as tx:
            return await tx.pending_count()

    async def pending_changes(self, limit: int = 500) -> list[ChangeRecord]:
        async with self.store.read() as tx:
            rows = await tx.pending_changes(limit)
        return [ChangeRecord.decode_stored(r.record, r.seq, r.created_ms) for r in rows]

    async def mark_published(self, seqs: list[int]) -> None:
        async with self.store.write() as tx:
            await tx.mark_published(seqs)

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
    ) -> reads.Page:
        """Items of one partition key (of the table or an index), sort-key range, in
        sort-key order.  ``full_items`` fetches unprojected attributes of an LSI
        entry from the table, as DynamoDB does."""
        tid, spec = await self._table(table)
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
        tid, spec = await self._table(table)
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
