"""Global tables' replica sets: adding and removing replicas, a new replica's
backfill, and taking a peer's view of a table (``accept``).

Backfill protocol (a new replica receives a consistent copy):

1. the new region creates its replica (same table id) and every existing replica
   learns the new replica set, so from now on every region's change for this table
   is applied there (via Kafka);
2. this region waits until its own applier has applied everything other regions
   published up to now (``catch_up``), so any change that the new region skipped
   before step 1 is in this region's store;
3. this region copies every row (items AND tombstones, with versions) to the new
   region, which applies them with LWW like any remote change.

Writes racing with the copy reach the new region through Kafka; LWW makes the order
irrelevant, and tombstones keep deleted items deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from regions import catalog, indexes, throughput
from regions.catalog import NO_OVERRIDES, Replica, ReplicaSettings, TableSpec
from regions.changes import INSERT, REMOVE, ChangeRecord
from regions.control.table_changes import stream_changed
from regions.errors import (
    DynamoError,
    LimitExceeded,
    PeerRefused,
    ResourceInUse,
    ResourceNotFound,
    ValidationError,
)
from regions.keys import decode_key
from regions.store import StoredRow
from regions.types import decode_item
from regions.versions import wall_ms

if TYPE_CHECKING:
    from regions.control.plane import ControlPlane

__all__ = ["PeerLink", "Replicas"]

log = logging.getLogger("globaltables.region")

#: rows a backfill reads and pushes at once: each push is one HTTP request and one
#: store transaction at the new replica, whose fixed cost dominated at 500 rows
BACKFILL_ROWS = 2000
#: ... and at most this many bytes of items per push (items go up to 400 KB each)
BACKFILL_BYTES = 4 * 1024 * 1024


#: DynamoDB's refusal to delete a table (or replica) protected against deletion
PROTECTED = (
    "Resource cannot be deleted as it is currently protected against deletion. "
    "Disable deletion protection first."
)


class PeerLink(Protocol):
    """How a region reaches its peers' control plane (implemented in replicator/)."""

    async def put_replica(self, region: str, spec: TableSpec) -> None: ...

    async def push_rows(self, region: str, table: str, records: list[ChangeRecord]) -> None: ...

    async def drop_replica(self, region: str, table: str, table_id: str) -> None: ...


def _chunks(records: list[ChangeRecord], rows: list[StoredRow]) -> list[list[ChangeRecord]]:
    """Backfill records cut into pushes of at most BACKFILL_BYTES of item data."""
    out: list[list[ChangeRecord]] = [[]]
    size = 0
    for record, row in zip(records, rows, strict=True):
        n = len(row.data) if row.data is not None else 0
        if out[-1] and size + n > BACKFILL_BYTES:
            out.append([])
            size = 0
        out[-1].append(record)
        size += n
    return out


class Replicas:
    def __init__(
        self,
        control: ControlPlane,
        peers: PeerLink | None,
        catch_up: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self.control = control
        self.name = control.name
        self.settings = control.settings
        self.catalog = control.catalog
        self.store = control.store
        self.peers = peers
        #: waits until every change published by other regions so far has been
        #: applied here (the replicator's applier); used before a backfill copy
        self.catch_up = catch_up

    async def add(
        self, name: str, region_name: str, settings: ReplicaSettings = NO_OVERRIDES
    ) -> TableSpec:
        """UpdateTable ReplicaUpdates Create: make the table global, or add a region
        (with its own settings: the Create's overrides)."""
        tid, spec = await self.catalog.table(name)
        # the request first, then whether this deployment can carry it out
        throughput.check_replica_settings(spec, region_name, settings)
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
        if self.settings.kafka is None:
            # without Kafka nothing would carry later writes: both sides would say
            # ACTIVE while they drift apart
            raise ValidationError(
                f"Region {self.name} has no replication configured (start it with --kafka): "
                f"a replica of {spec.name} in {region_name} would never receive later writes"
            )
        if any(r.status != catalog.ACTIVE for r in spec.replicas):
            raise LimitExceeded(
                f"Table {spec.name} is already changing its replicas; try again when every "
                "replica is ACTIVE"
            )
        if settings.table_class is not None:
            settings = replace(settings, table_class_at=time.time())
        else:
            # without TableClassOverride the new replica takes this table's class; every
            # entry records its class, so any region can list each replica's
            settings = replace(settings, table_class=spec.table_class)
        async with self.store.read() as tx:
            has_rows = bool(await tx.scan_all_rows(tid, limit=1))
        existing = tuple(r for r in spec.replicas) or (
            Replica(self.name, settings=ReplicaSettings(table_class=spec.table_class)),
        )
        new_replica = Replica(
            region_name,
            catalog.CREATING if has_rows else catalog.ACTIVE,
            settings=settings,
            source=self.name if has_rows else None,
        )
        new_spec = spec.with_replicas((*existing, new_replica))
        # the new region first: if it refuses (say, it has a different table of that
        # name), nothing has changed anywhere yet
        await self.peers.put_replica(region_name, new_spec)
        for other in current:
            if other != self.name:
                await self.peers.put_replica(other, new_spec)
        await self.catalog.save(tid, new_spec)
        log.info("table %s now replicates to %s", spec.name, ", ".join(new_spec.replica_regions()))
        if has_rows:
            self.resume_backfill(spec.name, region_name)
        return new_spec

    def resume_backfill(self, table: str, target: str) -> None:
        """Copy ``table`` to ``target`` (a replica this region is the source of), in
        the background, unless that copy runs already; only where the region's
        background jobs run (the leading node: ControlPlane.leads).  From the start:
        the copy is idempotent (LWW), so a copy interrupted by a node's death resumes
        on the next leader this way (ControlPlane.reconcile)."""
        if self.control.leads:
            self.control.background.spawn(
                self._backfill(table, target), key=("backfill", table, target)
            )

    async def _backfill(self, table: str, target: str) -> None:
        assert self.peers is not None
        # where the time goes, for the log line at the end (docs/global-tables.md)
        started = time.monotonic()
        log.info("backfill of %s to %s: catching up, then copying", table, target)
        if self.catch_up is not None:
            await self.catch_up()
        caught_up = time.monotonic()
        read_s = push_s = 0.0
        tid, spec = await self.catalog.table(table)
        async with self.store.read() as tx:
            total = (await tx.count_items(tid))[0] or 1
        sent = 0
        last_pct = -1
        cursor: tuple[int, bytes, bytes] | None = None
        try:
            while True:
                t0 = time.monotonic()
                async with self.store.read() as tx:
                    rows = await tx.scan_all_rows(tid, after=cursor, limit=BACKFILL_ROWS)
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
                    await self._set_replica(table, target, catalog.CREATING, pct)
        except Exception as exc:
            log.error("backfill of %s to %s failed: %s", table, target, exc)
            await self._set_replica(table, target, "CREATION_FAILED", last_pct)
            return
        await self._set_replica(table, target, catalog.ACTIVE, 100)
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

    async def _set_replica(self, table: str, region_name: str, status: str, progress: int) -> None:
        tid, spec = await self.catalog.table(table)
        new = spec.with_replicas(
            tuple(
                replace(
                    r,
                    status=status,
                    progress=progress,
                    source=r.source if status == catalog.CREATING else None,
                )
                if r.region == region_name
                else r
                for r in spec.replicas
            )
        )
        if status == catalog.ACTIVE and self.peers is not None:
            # the new replica serves clients only once it hears that its copy is
            # complete (DataPlane.serving): try harder than for other news
            for attempt in range(5):
                try:
                    await self.peers.put_replica(region_name, new)
                    break
                except DynamoError as exc:
                    log.warning("could not tell %s its copy of %s is complete: %s",
                                region_name, table, exc.message)  # fmt: skip
                    await asyncio.sleep(1 + attempt)
        # peers first: once this region reports ACTIVE, every replica already does
        await self.control.tell_replicas(new)
        await self.catalog.save(tid, new)

    def updated(
        self, spec: TableSpec, updates: tuple[tuple[str, ReplicaSettings], ...]
    ) -> TableSpec:
        """UpdateTable ReplicaUpdates Update (and UpdateGlobalTableSettings): the spec
        with each named replica's settings changed, checked against the table as the
        rest of the request leaves it.  The caller stores it and tells the replicas;
        each region puts its own entry in force when it accepts the spec."""
        regions = spec.replica_regions()
        entries = {r.region: r for r in spec.replicas}
        now = time.time()
        for region_name, change in updates:
            if region_name not in regions:
                raise ValidationError(
                    f"Failed to update replica of table with name: '{spec.name}' because the "
                    f"replica doesn't exist in region {region_name}"
                )
            throughput.check_replica_settings(spec, region_name, change)
            current = entries[region_name].settings
            if change.table_class is not None and change.table_class != (
                current.table_class or spec.table_class
            ):
                change = replace(change, table_class_at=now)
            elif change.table_class is not None:
                change = replace(change, table_class_at=current.table_class_at)
            entries[region_name] = replace(
                entries[region_name], settings=current.merged(change)
            )
        return spec.with_replicas(tuple(entries.values())).localized(self.name)

    async def remove(self, name: str, region_name: str) -> TableSpec:
        """UpdateTable ReplicaUpdates Delete: the region's replica is deleted and the
        others stop replicating to it."""
        tid, spec = await self.catalog.table(name)
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
        if region_name == self.name:
            # DeleteTable of this replica: protection, telling the others, the drop
            await self.control.delete_table(name)
            log.info("replica of %s in %s removed", spec.name, region_name)
            return new_spec
        # the replica that goes first: its deletion protection can still refuse, and
        # then nothing has changed anywhere
        try:
            await self.peers.drop_replica(region_name, spec.name, spec.table_id)
        except PeerRefused as exc:
            if exc.code == "ValidationException":
                # the region refused (its replica is protected against deletion)
                raise ValidationError(exc.message) from None
            log.warning("could not delete the replica in %s: %s", region_name, exc.message)
        except DynamoError as exc:
            # an unreachable region can still be removed (DynamoDB allows it); its
            # stale copy is no longer fed by the others
            log.warning("could not delete the replica in %s: %s", region_name, exc.message)
        for other in (r.region for r in remaining):
            if other != self.name:
                await self.peers.put_replica(other, new_spec)
        await self.catalog.save(tid, new_spec)
        log.info("replica of %s in %s removed", spec.name, region_name)
        return new_spec

    async def leave(self, spec: TableSpec) -> None:
        """This region's replica is being deleted (DeleteTable): the others learn the
        replica set without it, so none lists it as ACTIVE or replicates to it.  A
        region that cannot be told now learns it with the next change."""
        if self.peers is None or self.name not in spec.replica_regions():
            return
        remaining = tuple(r for r in spec.replicas if r.region != self.name)
        new_spec = spec.with_replicas(remaining if len(remaining) > 1 else ())
        for other in (r.region for r in remaining):
            try:
                await self.peers.put_replica(other, new_spec)
            except DynamoError as exc:
                log.warning("could not tell %s that %s left: %s", other, spec.name, exc.message)

    async def drop(self, name: str, table_id: str) -> None:
        """A peer removed this region from a global table: delete the local replica."""
        tid, spec = await self.catalog.table(name)
        if spec.table_id != table_id:
            raise ResourceInUse(f"Table {name} in {self.name} is not a replica of that table")
        if spec.deletion_protection:
            raise ValidationError(PROTECTED)
        await self.control.drop_table(tid, spec)

    async def accept(self, spec: TableSpec) -> TableSpec:
        """A peer tells us a global table's replica set (and spec): create our replica
        with the same table id, or update its replica list."""
        # an empty set: the other replica left, and this table is an ordinary one again
        if spec.replicas and self.name not in spec.replica_regions():
            raise ValidationError(f"region {self.name} is not in the replica set of {spec.name}")
        local = self.catalog.tables.get(spec.name)
        if local is None:
            try:
                local = await self.catalog.table(spec.name)
            except ResourceNotFound:
                local = None
        if local is None and not spec.replicas:
            raise ValidationError(f"region {self.name} is not in the replica set of {spec.name}")
        if local is None:
            # a new replica starts empty, so its indexes are complete from the start
            mine = replace(
                spec,
                partitions=self.settings.partitions,
                created_at=time.time(),
                indexes=tuple(
                    i.with_status("ACTIVE") for i in spec.indexes if i.status != catalog.DELETING
                ),
                streams=(),
                # resource-based policies are per replica (regions/resource_policy.py):
                # a new replica starts without the sender's
                resource_policy=None,
                stream_policies={},
            )
            if spec.stream is not None:
                # the same setting, and a stream (label) of this region's own
                mine = stream_changed(mine, True, spec.stream.view_type, wall_ms())
            # the Create's overrides (table class, reads) are in force here; without a
            # TableClassOverride the source table's class is the new replica's
            mine = replace(mine, own=NO_OVERRIDES).localized(self.name)
            await self.catalog.insert(mine)
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
        for index_name, idx in theirs.items():
            if updated.index(index_name) is None:
                kept += (
                    replace(
                        idx,
                        iid=replace(updated, indexes=kept).next_iid(),
                        status=catalog.CREATING,
                        backfilling=False,
                        online=True,
                    ),
                )
                added.append(index_name)
        dropped = [i.name for i in updated.indexes if i not in kept]
        # the stream setting is kept identical; each region has its own stream (label)
        theirs_stream = spec.stream
        if theirs_stream is not None and updated.stream is None:
            updated = stream_changed(updated, True, theirs_stream.view_type, wall_ms())
        elif theirs_stream is None and updated.stream is not None:
            updated = stream_changed(updated, False, None, wall_ms())
        updated = replace(
            updated,
            indexes=kept
            + tuple(i.with_status(catalog.DELETING) for i in updated.indexes if i.name in dropped),
        ).localized(self.name)
        await self.catalog.save(tid, updated)
        self.control.start_index_changes(spec.name, added, dropped)
        return updated
