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
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson

from regions import catalog, reads
from regions.catalog import Replica, TableSpec
from regions.changes import INSERT, MODIFY, REMOVE, ChangeRecord
from regions.errors import (
    ConditionalCheckFailed,
    DynamoError,
    ResourceInUse,
    ResourceNotFound,
    ValidationError,
)
from regions.keys import (
    EncodedKey,
    KeyAttr,
    KeySchema,
    encode_key,
    encode_key_value,
    item_key,
    partition_of,
    validate_key,
)
from regions.settings import RegionSettings
from regions.store import KeyRange, SqlStore, StoredRow, WriteTx, open_store_url
from regions.types import Item, check_item_size, decode_item, encode_item, item_size, validate_item
from regions.versions import HybridClock, Version, wall_ms

__all__ = ["ApplyStats", "PeerLink", "Region", "WriteOutcome", "WritesCancelled"]

log = logging.getLogger("globaltables.region")

_KEY_TYPES = ("S", "N", "B")
_TABLE_ARN_PREFIX = "arn:aws:dynamodb:"


class PeerLink(Protocol):
    """How a region reaches its peers' control plane (implemented in replicator/)."""

    async def put_replica(self, region: str, spec: TableSpec) -> None: ...


@dataclass
class ApplyStats:
    applied: int = 0
    #: duplicates (equal version) and stale changes (lower version)
    lost: int = 0
    duplicates: int = 0
    #: tables this region does not replicate (or a different table of the same name)
    skipped: int = 0


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

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await self.store.open()
        async with self.store.read() as tx:
            # a restart must never issue versions below ones already stored
            self.clock.observe(await tx.max_hlc())
            for tid, raw in await tx.tables():
                spec = TableSpec.from_json(orjson.loads(raw))
                self._tables[spec.name] = (tid, spec)
        async with self.store.write() as wtx:
            await wtx.set_meta("region", self.name)

    async def close(self) -> None:
        await self.store.close()

    # ------------------------------------------------------------------ catalog

    def arn(self, table: str) -> str:
        return f"arn:aws:dynamodb:{self.name}:{self.settings.account_id}:table/{table}"

    async def _table(self, name_or_arn: str) -> tuple[int, TableSpec]:
        name = _table_name(name_or_arn)
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

    async def describe_table(self, name: str) -> tuple[TableSpec, int, int]:
        """The spec plus live item count and size in bytes."""
        tid, spec = await self._table(name)
        async with self.store.read() as tx:
            count, size = await tx.count_items(tid)
        return spec, count, size

    async def list_tables(
        self, limit: int = 100, start: str | None = None
    ) -> tuple[list[str], str | None]:
        async with self.store.read() as tx:
            rows = await tx.tables()
        names = sorted(TableSpec.from_json(orjson.loads(raw)).name for _, raw in rows)
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
    ) -> TableSpec:
        catalog.validate_table_name(name)
        schema = self._key_schema(key_schema, attribute_definitions)
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
        self._tables[spec.name] = (tid, spec)
        return tid

    @staticmethod
    def _key_schema(key_schema: list[dict[str, str]], defs: list[dict[str, str]]) -> KeySchema:
        types: dict[str, str] = {}
        for d in defs:
            an, at = d["AttributeName"], d["AttributeType"]
            if at not in _KEY_TYPES:
                raise ValidationError(
                    f"1 validation error detected: Value '{at}' at "
                    "'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: "
                    "Member must satisfy enum value set: [B, N, S]"
                )
            if an in types:
                raise ValidationError(
                    "Cannot have two attributes with the same name in AttributeDefinitions"
                )
            types[an] = at
        if not key_schema or len(key_schema) > 2:
            raise ValidationError(
                "1 validation error detected: Value null at 'keySchema' failed to satisfy "
                "constraint: Member must have length less than or equal to 2"
                if key_schema
                else "1 validation error detected: Value null at 'keySchema' failed to satisfy "
                "constraint: Member must not be null"
            )
        kinds = [k["KeyType"] for k in key_schema]
        if kinds[0] != "HASH" or (len(kinds) == 2 and kinds[1] != "RANGE"):
            raise ValidationError(
                "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
                if kinds[0] != "HASH"
                else "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"
            )
        names = [k["AttributeName"] for k in key_schema]
        if len(names) == 2 and names[0] == names[1]:
            raise ValidationError(
                "Invalid KeySchema: Some index key attribute have no definition"
                if names[0] not in types
                else "Both the Hash Key and the Range Key element in the KeySchema have the same name"
            )
        for n in names:
            if n not in types:
                raise ValidationError(
                    "One or more parameter values were invalid: Some index key attributes are "
                    "not defined in AttributeDefinitions. Keys: "
                    f"[{', '.join(names)}], AttributeDefinitions: [{', '.join(types)}]"
                )
        if len(types) != len(names):
            raise ValidationError(
                "One or more parameter values were invalid: Number of attributes in KeySchema "
                "does not exactly match number of attributes defined in AttributeDefinitions"
            )
        hash_attr = KeyAttr(names[0], types[names[0]])
        range_attr = KeyAttr(names[1], types[names[1]]) if len(names) == 2 else None
        return KeySchema(hash=hash_attr, range=range_attr)

    async def delete_table(self, name: str) -> TableSpec:
        tid, spec = await self._table(name)
        if spec.deletion_protection:
            raise ValidationError(
                "Resource cannot be deleted as it is currently protected against deletion. "
                "Disable deletion protection first."
            )
        async with self.store.write() as tx:
            await tx.drop_table(tid)
        self._tables.pop(spec.name, None)
        log.info("deleted table %s", spec.name)
        return replace(spec, status=catalog.DELETING)

    async def add_replica(self, name: str, region_name: str) -> TableSpec:
        """UpdateTable ReplicaUpdates Create: make the table global, or add a region."""
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
        async with self.store.read() as tx:
            count, _ = await tx.count_items(tid)
        if count:
            raise ValidationError(
                f"Table {spec.name} already holds {count} items: adding a replica to a table "
                "with items needs backfill, which this version does not do yet; "
                "add the replica while the table is empty"
            )
        new_spec = spec.with_replicas(tuple(Replica(r) for r in (*current, region_name)))
        # the new region first: if it refuses (say, it has a different table of that
        # name), nothing has changed anywhere yet
        await self.peers.put_replica(region_name, new_spec)
        for other in current:
            if other != self.name:
                await self.peers.put_replica(other, new_spec)
        await self._save_spec(tid, new_spec)
        log.info("table %s now replicates to %s", spec.name, ", ".join(new_spec.replica_regions()))
        return new_spec

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
            mine = replace(spec, partitions=self.settings.partitions, created_at=time.time())
            await self._insert_spec(mine)
            log.info("created replica of %s (%s)", spec.name, spec.table_id)
            return mine
        tid, existing = local
        if existing.table_id != spec.table_id:
            raise ResourceInUse(
                f"Table already exists: {spec.name} (a different table of that name exists "
                f"in {self.name})"
            )
        updated = existing.with_replicas(spec.replicas)
        await self._save_spec(tid, updated)
        return updated

    async def update_spec(self, name: str, change: Callable[[TableSpec], TableSpec]) -> TableSpec:
        """Apply a pure change to a table's spec and store it (settings such as TTL)."""
        tid, spec = await self._table(name)
        new = change(spec)
        await self._save_spec(tid, new)
        return new

    async def tables(self) -> list[TableSpec]:
        """Every table of this region (from the store: other processes may add some)."""
        async with self.store.read() as tx:
            rows = await tx.tables()
        return [TableSpec.from_json(orjson.loads(raw)) for _, raw in rows]

    async def _save_spec(self, tid: int, spec: TableSpec) -> None:
        async with self.store.write() as tx:
            await tx.update_table(tid, orjson.dumps(spec.to_json()).decode())
        self._tables[spec.name] = (tid, spec)

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
        encs = [encode_key(key, spec.key_schema, spec.partitions) for _, spec, key, _ in plan]
        now = wall_ms()
        results: list[WriteOutcome | DynamoError] = []
        changed = 0
        async with self.store.write() as tx:
            # one global lock order, so concurrent multi-item writers cannot deadlock
            for tid, part in sorted({(p[0], e.part) for p, e in zip(plan, encs, strict=True)}):
                await tx.lock_partition(tid, part)
            staged: list[tuple[StoredRow | None, Item | None, Item | None]] = []
            failures: dict[int, DynamoError] = {}
            for i, ((tid, _, _, mutate), enc) in enumerate(zip(plan, encs, strict=True)):
                row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
                old = decode_item(row.data) if row is not None and row.data is not None else None
                try:
                    staged.append((row, old, mutate(old)))
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
        async with self.store.read() as tx:
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
    ) -> None:
        size = item_size(new) if new is not None else 0
        await tx.put_row(tid, enc.part, enc.hk, enc.rk, version, data, size, now)
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

    # ------------------------------------------------------------------ replication

    async def apply_remote(self, records: list[ChangeRecord]) -> ApplyStats:
        """Apply a batch of other regions' changes in ONE transaction (LWW).

        Idempotent: a record whose version is not greater than the stored one
        changes nothing, so redelivery after a crash is harmless.
        """
        stats = ApplyStats()
        if not records:
            return stats
        now = wall_ms()
        plan: list[tuple[ChangeRecord, int, TableSpec, EncodedKey]] = []
        for rec in records:
            self.clock.observe(rec.version.hlc)
            if rec.version.origin == self.name:
                # our own change echoed back (e.g. a topic shared by mistake): never loop
                stats.skipped += 1
                continue
            try:
                tid, spec = await self._table(rec.table)
            except ResourceNotFound:
                stats.skipped += 1
                continue
            if spec.table_id != rec.table_id or self.name not in spec.replica_regions():
                stats.skipped += 1
                continue
            key = validate_key(rec.keys, spec.key_schema)
            plan.append((rec, tid, spec, encode_key(key, spec.key_schema, spec.partitions)))
        if plan:
            async with self.store.write() as tx:
                # lock partitions in one global order so two appliers cannot deadlock
                for tid, part in sorted({(t, e.part) for _, t, _, e in plan}):
                    await tx.lock_partition(tid, part)
                for rec, tid, spec, enc in plan:
                    row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
                    if row is not None and rec.version <= row.version:
                        if rec.version == row.version:
                            stats.duplicates += 1
                        else:
                            stats.lost += 1
                            log.debug("LWW: %s %s lost to %s", spec.name, rec.keys, row.version)
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
                    )
                    stats.applied += 1
        self.counters.applied += stats.applied
        self.counters.lost += stats.lost
        self.counters.duplicates += stats.duplicates
        self.counters.skipped += stats.skipped
        return stats

    async def pending_changes(self, limit: int = 500) -> list[ChangeRecord]:
        async with self.store.read() as tx:
            rows = await tx.pending_changes(limit)
        return [ChangeRecord.decode_stored(r.record, r.seq, r.created_ms) for r in rows]

    async def mark_published(self, seqs: list[int]) -> None:
        async with self.store.write() as tx:
            await tx.mark_published(seqs)

    async def housekeeping(self) -> tuple[int, int]:
        """Drop tombstones past the horizon and change records past retention."""
        now = wall_ms()
        async with self.store.write() as tx:
            tombs = await tx.gc_tombstones(now - self.settings.tombstone_horizon_s * 1000)
            trimmed = await tx.trim_changes(now - self.settings.change_retention_s * 1000)
        return tombs, trimmed

    # ------------------------------------------------------------------ reads

    async def query(
        self,
        table: str,
        *,
        hash_value: dict[str, Any],
        range_op: str | None,
        range_values: tuple[dict[str, Any], ...],
        forward: bool = True,
        limit: int | None = None,
        exclusive_start_key: Any = None,
        keep: Callable[[Item], bool] | None = None,
    ) -> reads.Page:
        """Items of one partition key, sort-key range, in sort-key order."""
        tid, spec = await self._table(table)
        schema = spec.key_schema
        hk = encode_key_value(hash_value, schema.hash.type)
        part = partition_of(hk, spec.partitions)
        rng = (
            reads.key_range(range_op, range_values, schema.range.type)
            if schema.range
            else KeyRange()
        )
        after: bytes | None = None
        if exclusive_start_key is not None:
            _, start_enc = reads.start_key(exclusive_start_key, schema, spec.partitions)
            if start_enc.hk != hk:
                raise ValidationError(
                    "The provided starting key is outside query boundaries based on provided conditions"
                )
            after = start_enc.rk
        async with self.store.read() as tx:
            cursor = after

            async def rows(n: int) -> list[StoredRow]:
                nonlocal cursor
                if schema.range is None and cursor is not None:
                    return []
                got = await tx.query(tid, part, hk, rng, forward=forward, after_rk=cursor, limit=n)
                if got:
                    cursor = got[-1].rk
                elif schema.range is None:
                    cursor = b""
                return got

            return await reads.page_from_rows(rows, schema, limit=limit, keep=keep)

    async def scan(
        self,
        table: str,
        *,
        limit: int | None = None,
        exclusive_start_key: Any = None,
        keep: Callable[[Item], bool] | None = None,
        segment: int | None = None,
        total_segments: int | None = None,
    ) -> reads.Page:
        """Every item, partition by partition, in key order within a partition."""
        tid, spec = await self._table(table)
        schema = spec.key_schema
        parts: list[int] | None = None
        row_ok: Callable[[StoredRow], bool] | None = None
        if segment is not None and total_segments is not None:
            parts, row_ok = reads.segment_filter(segment, total_segments, spec.partitions)
        cursor: tuple[int, bytes, bytes] | None = None
        if exclusive_start_key is not None:
            _, start_enc = reads.start_key(exclusive_start_key, schema, spec.partitions)
            if parts is not None and start_enc.part not in parts:
                raise ValidationError(
                    "The provided Exclusive start key does not map to the provided Segment and "
                    "TotalSegments values."
                )
            cursor = (start_enc.part, start_enc.hk, start_enc.rk)
        async with self.store.read() as tx:

            async def rows(n: int) -> list[StoredRow]:
                nonlocal cursor
                got = await tx.scan(tid, parts=parts, after=cursor, limit=n)
                if got:
                    cursor = (got[-1].part, got[-1].hk, got[-1].rk)
                return got

            return await reads.page_from_rows(rows, schema, limit=limit, keep=keep, row_ok=row_ok)
