"""The region's table specs: read from the store once, cached, and written back with
a catalog epoch so that processes sharing the store notice each other's changes.

Both planes resolve tables here; only the control plane changes specs.  A worker
process (``--workers``) serves items from this cache: it reloads it when the
primary signals a catalog change, and the data plane re-checks the stored epoch
inside every write transaction (:meth:`CatalogCache.moved`), so no item is written
under a stale spec.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson

from regions import system_tables
from regions.catalog import TableSpec
from regions.errors import ResourceInUse, ResourceNotFound
from regions.process_signals import CATALOG, ProcessSignals
from regions.store import SqlStore, WriteTx

__all__ = ["CatalogCache", "table_name"]

log = logging.getLogger("globaltables.region")

_TABLE_ARN_PREFIX = "arn:aws:dynamodb:"
#: the meta key of the catalog epoch, bumped in every transaction that changes a spec
_CATALOG_EPOCH = "catalog_epoch"
#: the meta row of the catalog epoch, for a write that reads it with its items
CATALOG_EPOCH = _CATALOG_EPOCH
#: the lock "table" of spec read-modify-writes (:meth:`CatalogCache.update`): the
#: partition is the table's number; -1 is the transaction tokens' (transactions.py)
_SPEC_LOCK_TID = -2


def table_name(name_or_arn: str) -> str:
    """TableName accepts a name or a table ARN."""
    if name_or_arn.startswith(_TABLE_ARN_PREFIX) and ":table/" in name_or_arn:
        return name_or_arn.split(":table/", 1)[1].split("/", 1)[0]
    return name_or_arn


def _not_found(name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Requested resource not found: Table: {name} not found")


class CatalogCache:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.tables: dict[str, tuple[int, TableSpec]] = {}
        #: set by Region.share_processes(): the signals of a region served by several
        #: processes, and whether this process is a worker
        self.signals: ProcessSignals | None = None
        self.worker = False
        #: set when several nodes serve the region (regions/nodes.py): another node may
        #: change the catalog, so writes re-check the stored epoch as a worker's do,
        #: and :meth:`watch` reloads the cache when it moves
        self.multi_node = False
        #: called after every catalog change this process commits or learns of (the
        #: control plane's reconcile: a job the new specs ask for starts at once)
        self.listeners: list[Callable[[], None]] = []
        self._loaded = False
        #: the stored catalog epoch (and the shared hint) the cache was read at
        self.epoch = 0
        self._hint = 0

    async def load(self) -> None:
        """(Re)read every table spec, with the epoch they were stored at."""
        hint = self.signals.read(CATALOG) if self.signals is not None else 0
        async with self.store.read() as tx:
            epoch = await tx.get_meta(_CATALOG_EPOCH)
            rows = await tx.tables()
        tables: dict[str, tuple[int, TableSpec]] = {}
        for tid, raw in rows:
            spec = TableSpec.from_json(orjson.loads(raw))
            tables[spec.name] = (tid, spec)
        self.tables = tables
        moved = self._loaded and int(epoch or 0) != self.epoch
        self.epoch = int(epoch or 0)
        self._hint = hint
        self._loaded = True
        if moved and not self.worker:
            # whoever noticed (the watch, a write that found the epoch moved), the
            # listeners learn of the other process's change (ControlPlane.reconcile)
            for listener in self.listeners:
                listener()

    async def table(self, name_or_arn: str) -> tuple[int, TableSpec]:
        """(local table number, spec); raises ResourceNotFound.  The service's own
        tables do not exist for the API (regions/system_tables.py) unless the caller
        is inside ``system_tables.access()``."""
        name = table_name(name_or_arn)
        if system_tables.hidden(name):
            raise _not_found(name)
        signals = self.signals
        if signals is not None and self.worker and signals.read(CATALOG) != self._hint:
            await self.load()
        hit = self.tables.get(name)
        if hit is not None:
            return hit
        # another process sharing the store may have created it
        async with self.store.read() as tx:
            row = await tx.table(name)
        if row is None:
            raise _not_found(name)
        spec = TableSpec.from_json(orjson.loads(row[1]))
        self.tables[name] = (row[0], spec)
        return row[0], spec

    def current(self, tid: int, name: str) -> TableSpec:
        """The cached spec of table ``tid`` after a reload (ResourceNotFound if it
        went away or is now another table of that name)."""
        hit = self.tables.get(name)
        if hit is None or hit[0] != tid:
            raise _not_found(name)
        return hit[1]

    async def all_specs(self) -> list[TableSpec]:
        """Every table (from the store: other processes may add some), the system
        tables included."""
        async with self.store.read() as tx:
            rows = await tx.tables()
        return [TableSpec.from_json(orjson.loads(raw)) for _, raw in rows]

    # ------------------------------------------------------------------ changes

    @property
    def shared(self) -> bool:
        """Can another process change the catalog under this one (a worker of the
        primary, or any node of a multi-node region)?"""
        return self.worker or self.multi_node

    async def watch(
        self, interval: float, on_change: Callable[[], None] | None = None
    ) -> None:
        """Reload the cache whenever the stored epoch moves (another node changed a
        spec), polling every ``interval`` seconds until cancelled: a catalog change
        reaches every node of a region within ``interval`` plus one read.  One read
        of one meta row per poll."""
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.store.read() as tx:
                    stored = int(await tx.get_meta(_CATALOG_EPOCH) or 0)
                if stored != self.epoch:
                    log.debug("catalog epoch %d -> %d: another node changed it", self.epoch, stored)
                    await self.load()
                    # this node's workers reload too
                    if self.signals is not None:
                        self.signals.bump(CATALOG)
                    if on_change is not None:
                        on_change()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is briefly unreachable: poll on
                log.warning("catalog watch: %s", exc)

    def moved_from(self, stored: str | None) -> bool:
        """Has another process changed a spec since this cache was read?  ``stored``:
        the epoch (``CATALOG_EPOCH``'s meta value) as read inside the write
        transaction that asks (under the write lock on SQLite, in the transaction on
        PostgreSQL)."""
        return int(stored or 0) != self.epoch

    async def bump(self, tx: WriteTx) -> None:
        """Inside a transaction that changes a table spec: a new catalog epoch, so
        that processes sharing the store notice."""
        epoch = await tx.bump_meta(_CATALOG_EPOCH)
        if epoch == self.epoch + 1:
            self.epoch = epoch
        # else another process changed the catalog since this cache was read: the
        # epoch stays behind, so the next look (watch, moved) reloads everything
        # rather than taking this one change for the whole news

    def changed(self) -> None:
        """After the commit of a catalog change: tell the workers and the listeners."""
        if self.signals is not None:
            self.signals.bump(CATALOG)
        for listener in self.listeners:
            listener()

    async def insert(self, spec: TableSpec) -> int:
        """Store a new table's spec (ResourceInUse if the name is taken)."""
        async with self.store.write() as tx:
            if await tx.table(spec.name) is not None:
                raise ResourceInUse(f"Table already exists: {spec.name}")
            tid = await tx.insert_table(
                spec.name, spec.table_id, orjson.dumps(spec.to_json()).decode()
            )
            await self.bump(tx)
        self.tables[spec.name] = (tid, spec)
        self.changed()
        return tid

    async def save(self, tid: int, spec: TableSpec) -> None:
        """Replace a table's spec, in one transaction."""
        async with self.store.write() as tx:
            await tx.update_table(tid, orjson.dumps(spec.to_json()).decode())
            await self.bump(tx)
        self.tables[spec.name] = (tid, spec)
        self.changed()

    async def update(self, name: str, change: Callable[[TableSpec], TableSpec]) -> TableSpec:
        """:meth:`changed_by` without saying whether anything changed."""
        return (await self.changed_by(name, change))[0]

    async def changed_by(
        self, name: str, change: Callable[[TableSpec], TableSpec]
    ) -> tuple[TableSpec, bool]:
        """Read a table's spec, apply ``change`` and store the result, in one
        transaction under the table's spec lock.  Why: two changes at once (two
        TagResource calls, on one node or two) must each build on the other's result;
        a change computed from a spec read before the transaction would undo the
        other one.  ``change`` may raise (a limit, an expected revision): nothing is
        stored then, nor when it changes nothing.  Returns the spec and whether it
        changed."""
        tid, _ = await self.table(name)
        async with self.store.write() as tx:
            await tx.lock_partition(_SPEC_LOCK_TID, tid)
            row = await tx.table(name)
            if row is None or row[0] != tid:
                raise _not_found(name)  # dropped (or dropped and created again) meanwhile
            stored = TableSpec.from_json(orjson.loads(row[1]))
            new = change(stored)
            if new == stored:
                # nothing to store: no epoch for the other processes to reload on
                self.tables[name] = (tid, stored)
                return stored, False
            await tx.update_table(tid, orjson.dumps(new.to_json()).decode())
            await self.bump(tx)
        self.tables[new.name] = (tid, new)
        self.changed()
        return new, True

    def forget(self, name: str) -> None:
        """After the commit of a table's drop."""
        self.tables.pop(name, None)
        self.changed()
