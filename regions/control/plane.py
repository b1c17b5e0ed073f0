"""The control plane: tables, their settings, indexes, streams and replicas.

Every spec change is decided whole before it is stored, and stored in one
transaction (with the catalog epoch: regions/catalog_cache.py): CreateTable,
UpdateTable and a peer's replica-set change each make one.  What takes longer
(an index build, a new replica's backfill) then runs in the background and
records its progress with further spec changes.

Replicas (the global-table protocol) are in :mod:`regions.control.replicas`;
item rows are only ever written by the data plane, which the index builds call
for each chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

import orjson

from regions import (
    catalog,
    definitions,
    reseed,
    resource_policy,
    streams,
    system_tables,
    throughput,
)
from regions.catalog import Replica, TableSpec
from regions.catalog_cache import CatalogCache
from regions.control import table_changes as changes
from regions.control.replicas import PROTECTED, PeerLink, Replicas
from regions.control.table_changes import NewTable, TableUpdate
from regions.data.plane import DataPlane
from regions.errors import DynamoError, ResourceInUse, ValidationError
from regions.settings import RegionSettings
from regions.versions import wall_ms

__all__ = ["Background", "ControlPlane"]

log = logging.getLogger("globaltables.region")


class Background:
    """The region's background jobs (index builds, backfills), cancelled on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        #: the running jobs that must not run twice (an index build, a backfill)
        self._keyed: dict[tuple[str, ...], asyncio.Task[None]] = {}

    def spawn(self, coro: Coroutine[Any, Any, None], key: tuple[str, ...] | None = None) -> None:
        """Run ``coro``; with a ``key``, not if a job of that key is still running."""
        if key is not None:
            running = self._keyed.get(key)
            if running is not None and not running.done():
                coro.close()
                return
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key is not None:
            self._keyed[key] = task
            task.add_done_callback(lambda t, k=key: self._forget(k, t))  # type: ignore[misc]

    def _forget(self, key: tuple[str, ...], task: asyncio.Task[None]) -> None:
        if self._keyed.get(key) is task:
            del self._keyed[key]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class ControlPlane:
    def __init__(
        self,
        name: str,
        settings: RegionSettings,
        catalog_cache: CatalogCache,
        data: DataPlane,
        *,
        peers: PeerLink | None,
        catch_up: Callable[[], Awaitable[None]] | None,
        reseeding: Mapping[str, int],
    ) -> None:
        self.name = name
        self.settings = settings
        self.catalog = catalog_cache
        self.data = data
        self.store = data.store
        self.background = Background()
        #: table id -> percent done, for tables this region is re-seeding
        #: (replicator/reseed.py); DescribeTable shows the replica UPDATING meanwhile
        self.reseeding = reseeding
        self.replicas = Replicas(self, peers, catch_up)
        #: whether this process runs the region's background jobs (index builds,
        #: backfills): the only node of a single-node region, the leader of several
        #: (regions/nodes.py); a node that does not lead only stores the specs, and
        #: the leader picks the work up from them (reconcile)
        self.leads = True
        # whatever changed the catalog (this process, a peer's spec, another node),
        # the jobs the new specs ask for start at once where the jobs run
        self.catalog.listeners.append(self.reconcile)

    # ------------------------------------------------------------------ start-up

    async def open(self) -> None:
        """Where the region's background jobs run (the primary process of its
        leading node): the system tables, then the interrupted jobs resume."""
        await self._ensure_system_tables()
        self.reconcile()

    def reconcile(self) -> None:
        """Start every job the stored specs call for that is not running: index
        builds and drops (an index CREATING or DELETING) and the copies to new
        replicas this region is the source of.  After a restart, when a node takes
        the lead, and when another node of the region changed the catalog."""
        if not self.leads:
            return
        for _, spec in list(self.catalog.tables.values()):
            for idx in spec.indexes:
                if idx.status == catalog.CREATING:
                    self._spawn_build(spec.name, idx.name)
                elif idx.status == catalog.DELETING:
                    self._spawn_drop(spec.name, idx.name)
            for r in spec.replicas:
                if r.status == catalog.CREATING and r.source == self.name:
                    self.replicas.resume_backfill(spec.name, r.region)

    def _spawn_build(self, table: str, index_name: str) -> None:
        if self.leads:
            self.background.spawn(
                self._build_index(table, index_name), key=("build", table, index_name)
            )

    def _spawn_drop(self, table: str, index_name: str) -> None:
        if self.leads:
            self.background.spawn(
                self._drop_index(table, index_name), key=("drop", table, index_name)
            )

    async def _ensure_system_tables(self) -> None:
        """Create the system tables (regions/system_tables.py) or widen their replica
        set to this region's peers: the fixed table id and this region in the set are
        all that ``apply_remote`` needs to take the peers' changes."""
        spec = system_tables.identities_spec(
            self.name, self.settings.peers, self.settings.partitions
        )
        have = self.catalog.tables.get(spec.name)
        if have is None:
            try:
                await self.catalog.insert(spec)
                return
            except ResourceInUse:
                # another process sharing the store created it meanwhile
                with system_tables.access():
                    have = await self.catalog.table(spec.name)
        tid, current = have
        wanted = sorted({*current.replica_regions(), *spec.replica_regions()})
        if wanted != sorted(current.replica_regions()):
            await self.catalog.save(tid, current.with_replicas(tuple(Replica(r) for r in wanted)))

    # ------------------------------------------------------------------ reading the catalog

    async def table_spec(self, table: str) -> TableSpec:
        return (await self.catalog.table(table))[1]

    async def table_ref(self, name_or_arn: str) -> tuple[int, TableSpec]:
        """(local table number, spec) for modules that read the store directly
        (streams).  Raises ResourceNotFound."""
        return await self.catalog.table(name_or_arn)

    async def describe_table(self, name: str) -> tuple[TableSpec, int, int]:
        """The spec plus live item count and size in bytes."""
        tid, spec = await self.catalog.table(name)
        async with self.store.read() as tx:
            count, size = await tx.count_items(tid)
        shown = reseed.describe_overlay(spec, self.name, self.reseeding)
        return replace(shown, status=shown.shown_status(self.name)), count, size

    async def index_counts(self, name: str) -> dict[str, tuple[int, int]]:
        """Entry count and size in bytes of each index of a table."""
        tid, spec = await self.catalog.table(name)
        out: dict[str, tuple[int, int]] = {}
        async with self.store.read() as tx:
            for idx in spec.indexes:
                out[idx.name] = await tx.count_index(tid, idx.iid)
        return out

    async def list_tables(
        self, limit: int = 100, start: str | None = None
    ) -> tuple[list[str], str | None]:
        names = sorted(s.name for s in await self.tables())
        if start is not None:
            names = [n for n in names if n > start]
        page = names[:limit]
        last = page[-1] if len(names) > limit else None
        return page, last

    async def tables(self) -> list[TableSpec]:
        """Every table of this region (from the store: other processes may add some),
        the system tables excepted."""
        return [s for s in await self.catalog.all_specs() if s.name not in system_tables.NAMES]

    # ------------------------------------------------------------------ CreateTable, DeleteTable

    async def create_table(self, t: NewTable) -> TableSpec:
        """CreateTable: the whole spec (indexes, stream, on-demand settings) is built
        and checked first, then stored in one transaction."""
        spec = self.new_spec(t)
        await self.catalog.insert(spec)
        log.info("created table %s (%s)", t.name, spec.table_id)
        return spec

    def new_spec(self, t: NewTable) -> TableSpec:
        """The spec CreateTable would store for ``t``, checked as CreateTable checks it
        and stored nowhere (ImportTable stores it CREATING)."""
        if t.stream is not None:
            # refused before anything exists, so a bad specification creates no table
            streams.check_specification(t.stream[0], t.stream[1], creating=True)
        if not (
            t.billing_mode == "PROVISIONED"
            and (t.read_capacity is None or t.write_capacity is None)
        ):
            # (a table without its own throughput is reported below)
            throughput.check_create(t.billing_mode, t.gsi_throughput, t.on_demand)
        catalog.validate_table_name(t.name)
        if t.resource_policy is not None:
            # a malformed document creates no table
            resource_policy.validate(t.resource_policy)
        types = definitions.attribute_types(t.attribute_definitions)
        schema = definitions.key_schema(t.key_schema, types)
        idxs = definitions.index_specs(t.local_indexes, t.global_indexes, types, schema)
        definitions.check_all_used(types, [schema, *(i.key_schema for i in idxs)])
        if t.billing_mode == "PROVISIONED":
            if t.read_capacity is None or t.write_capacity is None:
                raise ValidationError(
                    "One or more parameter values were invalid: ReadCapacityUnits and "
                    "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
                )
        elif t.read_capacity is not None or t.write_capacity is not None:
            raise ValidationError(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
            )
        spec = TableSpec(
            name=t.name,
            table_id=catalog.new_table_id(),
            key_schema=schema,
            attributes={d["AttributeName"]: d["AttributeType"] for d in t.attribute_definitions},
            created_at=time.time(),
            partitions=self.settings.partitions,
            billing_mode=t.billing_mode,
            read_capacity=t.read_capacity or 0,
            write_capacity=t.write_capacity or 0,
            tags=dict(t.tags),
            deletion_protection=t.deletion_protection,
            table_class=t.table_class,
            table_class_given=t.table_class_given,
            indexes=idxs,
            resource_policy=(
                resource_policy.ResourcePolicy(
                    t.resource_policy, resource_policy.new_revision(None)
                )
                if t.resource_policy is not None
                else None
            ),
        )
        if t.stream is not None and t.stream[0]:
            spec = changes.stream_changed(spec, True, t.stream[1], wall_ms())
        if t.on_demand is not None or any(g.on_demand is not None for g in t.gsi_throughput):
            spec = throughput.with_on_demand(spec, t.on_demand, t.gsi_throughput)
        return spec

    async def delete_table(self, name: str) -> TableSpec:
        tid, spec = await self.catalog.table(name)
        if spec.status == catalog.CREATING:
            # a table being restored (regions/protection/restore.py), as DynamoDB
            # refuses to delete a table it is still creating
            raise ResourceInUse(
                f"Attempt to change a resource which is still in use: Table is being created: {name}"
            )
        if spec.deletion_protection:
            raise ValidationError(PROTECTED)
        # a replica of a global table: the others stop listing it (ReplicaUpdates Delete
        # of this region does the same)
        await self.replicas.leave(spec)
        await self.drop_table(tid, spec)
        log.info("deleted table %s", spec.name)
        return replace(spec, status=catalog.DELETING)

    async def drop_table(self, tid: int, spec: TableSpec) -> None:
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
            await self.catalog.bump(tx)
        self.catalog.forget(spec.name)

    # ------------------------------------------------------------------ UpdateTable

    async def update_table(self, name: str, u: TableUpdate) -> TableSpec:
        """UpdateTable as one unit: every local change (settings, stream, an index
        created or deleted, throughput) is checked and applied to the spec first and
        stored in ONE transaction, so a request refused part-way changes nothing.
        Then the index build starts, the other replicas learn the new spec, and a
        replica is added or removed (the peer protocol of regions/control/replicas.py,
        which has its own steps)."""
        u.check()
        if self.name in (*u.replica_creates, *u.replica_deletes):
            # DynamoDB's text (Alternator's test_add_region_already_exists, run against it)
            raise ValidationError(
                "Cannot add or delete the local region through ReplicaUpdates. Use "
                "CreateTable, DeleteTable, or UpdateTable as required."
            )
        builds: list[str] = []
        drops: list[str] = []
        tell = False

        def change(spec: TableSpec) -> TableSpec:
            # run on the spec stored when the change is made (CatalogCache.update):
            # a concurrent UpdateTable, TagResource or index build is built on, not undone
            nonlocal tell
            builds.clear()
            drops.clear()
            tell = False
            # validated against the table as it is, applied after the other settings
            throughput_change = throughput.plan_update(
                spec,
                billing=u.billing_mode,
                provisioned=u.provisioned,
                on_demand=u.on_demand,
                gsi_updates=list(u.index_throughput_updates),
                created=list(u.index_throughput_created),
                now=time.time(),
            )
            new = spec
            if u.settings:
                new = changes.new_settings(new, u)
                # a global table's billing mode and capacity are the same in every
                # replica (accept_replica takes them); protection and class stay per replica
                tell = (new.billing_mode, new.read_capacity, new.write_capacity) != (
                    spec.billing_mode,
                    spec.read_capacity,
                    spec.write_capacity,
                )
            if u.stream is not None:
                new = changes.stream_changed(new, u.stream[0], u.stream[1], wall_ms())
                tell = True
            for action, raw in u.index_updates:
                if action == "Create":
                    new = changes.create_gsi(new, raw, u.attribute_definitions)
                    builds.append(str(raw["IndexName"]))
                    tell = True
                elif action == "Delete":
                    new = changes.delete_gsi(new, str(raw["IndexName"]))
                    drops.append(str(raw["IndexName"]))
                    tell = True
                # an Update (throughput) is part of throughput_change
            if throughput_change is not None:
                new = throughput_change(new)
                tell = True
            if u.table_class is not None and new.replicas and new.table_class != spec.table_class:
                # the class is per replica: its entry in the replica set follows, so the
                # others list it (ReplicaTableClassSummary) and no accept puts the old back
                new = self.replicas.updated(
                    new, ((self.name, catalog.ReplicaSettings(table_class=new.table_class)),)
                )
                tell = True
            if u.replica_updates:
                new = self.replicas.updated(new, u.replica_updates)
                tell = True
            return new

        # first on the table as this node sees it now: a refusal (an index still being
        # built, say) is answered at once, not after the writes queued before the
        # spec's transaction, by when the state it refers to may have passed
        change((await self.catalog.table(name))[1])
        new, changed = await self.catalog.changed_by(name, change)
        if changed:
            for index_name in builds:
                self._spawn_build(name, index_name)
            for index_name in drops:
                self._spawn_drop(name, index_name)
            if tell:
                await self.tell_replicas(new)
        if u.replica_creates:
            new = await self.replicas.add(name, u.replica_creates[0], u.replica_create_settings)
        if u.replica_deletes:
            new = await self.replicas.remove(name, u.replica_deletes[0])
        return new

    async def set_stream(self, name: str, enabled: bool, view_type: str | None) -> TableSpec:
        """StreamSpecification alone (the REST API): enable or disable the stream."""
        return await self.update_table(name, TableUpdate(stream=(enabled, view_type)))

    async def update_spec(
        self, name: str, change: Callable[[TableSpec], TableSpec], *, replicate: bool = True
    ) -> TableSpec:
        """Apply a pure change to a table's spec and store it (settings such as TTL);
        ``replicate`` tells the other replicas (not for per-region settings: tags)."""
        new = await self.catalog.update(name, change)
        if replicate:
            await self.tell_replicas(new)
        return new

    async def tell_replicas(self, spec: TableSpec) -> None:
        """Settings changes of a global table reach every other replica."""
        peers = self.replicas.peers
        if peers is None:
            return
        for other in spec.replica_regions():
            if other != self.name:
                try:
                    await peers.put_replica(other, spec)
                except DynamoError as exc:
                    # the change stands here; the peer catches up on the next change
                    log.warning("could not tell %s about %s: %s", other, spec.name, exc.message)

    # ------------------------------------------------------------------ online indexes

    def start_index_changes(self, table: str, builds: list[str], drops: list[str]) -> None:
        """Index builds and drops a peer's spec asked for (Replicas.accept)."""
        for index_name in builds:
            self._spawn_build(table, index_name)
        for index_name in drops:
            self._spawn_drop(table, index_name)

    async def _build_index(self, table: str, index_name: str) -> None:
        """Backfill a new index from the items, partition by partition, a chunk per
        transaction (DataPlane.index_chunk)."""
        tid, spec = await self.catalog.table(table)
        await self._set_index(table, index_name, catalog.CREATING, backfilling=True)
        idx = spec.index(index_name)
        if idx is None:
            return
        for part in range(spec.partitions):
            cursor: tuple[int, bytes, bytes] | None = None
            while True:
                cursor = await self.data.index_chunk(tid, spec, idx, part, cursor)
                if cursor is None:
                    break
        await self._set_index(table, index_name, "ACTIVE", backfilling=False)
        log.info("index %s of %s is ACTIVE", index_name, table)

    async def _drop_index(self, table: str, index_name: str) -> None:
        tid, spec = await self.catalog.table(table)
        idx = spec.index(index_name)
        if idx is None:
            return
        async with self.store.write() as tx:
            await tx.drop_index(tid, idx.iid)
        await self.catalog.update(
            table,
            lambda spec: replace(
                spec, indexes=tuple(i for i in spec.indexes if i.name != index_name)
            ),
        )
        log.info("index %s of %s deleted", index_name, table)

    async def _set_index(
        self, table: str, index_name: str, status: str, *, backfilling: bool
    ) -> None:
        await self.catalog.update(
            table,
            lambda spec: replace(
                spec,
                indexes=tuple(
                    i.with_status(status, backfilling) if i.name == index_name else i
                    for i in spec.indexes
                ),
            ),
        )
