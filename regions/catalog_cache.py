"""The region's table specs: read from the store once, cached, and written back with
a catalog epoch so that processes sharing the store notice each other's changes.

Both planes resolve tables here; only the control plane changes specs.  A worker
process (``--workers``) serves items from this cache: it reloads it when the
primary signals a catalog change, and the data plane re-checks the stored epoch
inside every write transaction (:meth:`CatalogCache.moved`), so no item is written
under a stale spec.
"""

from __future__ import annotations

import orjson

from regions import system_tables
from regions.catalog import TableSpec
from regions.errors import ResourceInUse, ResourceNotFound
from regions.process_signals import CATALOG, ProcessSignals
from regions.store import SqlStore, WriteTx

__all__ = ["CatalogCache", "table_name"]

_TABLE_ARN_PREFIX = "arn:aws:dynamodb:"
#: the meta key of the catalog epoch, bumped in every transaction that changes a spec
_CATALOG_EPOCH = "catalog_epoch"


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
        self.epoch = int(epoch or 0)
        self._hint = hint

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

    async def moved(self, tx: WriteTx) -> bool:
        """Inside a worker's write transaction: has the primary changed a spec since
        this cache was read?  (Read under the write lock on SQLite, in the
        transaction on PostgreSQL.)"""
        return int(await tx.get_meta(_CATALOG_EPOCH) or 0) != self.epoch

    async def bump(self, tx: WriteTx) -> None:
        """Inside a transaction that changes a table spec: a new catalog epoch, so
        that processes sharing the store notice."""
        epoch = int(await tx.get_meta(_CATALOG_EPOCH) or 0) + 1
        await tx.set_meta(_CATALOG_EPOCH, str(epoch))
        self.epoch = epoch

    def changed(self) -> None:
        """After the commit of a catalog change: tell the workers."""
        if self.signals is not None:
            self.signals.bump(CATALOG)

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

    def forget(self, name: str) -> None:
        """After the commit of a table's drop."""
        self.tables.pop(name, None)
        self.changed()
