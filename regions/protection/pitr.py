"""Point-in-time recovery: continuous backups from snapshots plus the change log.

What a region keeps for a table with PITR enabled (per region, so per replica of a
global table, as DynamoDB has it; rows of ``gt_pitr``, never replicated):

- **snapshots** (regions/protection/snapshots.py) under ``pitr/<table id>/...`` in the
  region's bucket: a base snapshot as soon as PITR is enabled, then one every
  ``RegionSettings.pitr_snapshot_interval_s`` (default an hour), taken by the leader;
- **every change record** of the table (``gt_changes``: local and replicated writes,
  with full new images, version and ``created_ms``) for the recovery period: the
  stream's trim moves the table's records older than the stream retention to
  ``gt_pitr_log`` in its own transaction (``WriteTx.trim_changes``) instead of dropping
  them, so the Streams API still shows only its retention and nothing is lost.

**The table at instant T** (ms, this region's wall clock: ``created_ms`` is when this
region committed a change, so a replicated delete counts from when it arrived here):
the newest complete snapshot taken at or before T, merged with every change record of
the table created in ``[snapshot - MARGIN_MS, T]``, keeping per item key the greatest
version ``(hlc, origin)``; a REMOVE record removes.  Last-writer-wins makes the merge
independent of the order records are read in; on equal versions a change record beats
the snapshot and a later record an earlier one (a re-seed's purge removes an item
with the item's own version).  The margin covers writes whose record was stamped just
before the snapshot's read but committed after it (and clock differences between the
nodes of a region); an extra record is harmless, the merge takes the greatest version.

**The window**: EarliestRestorableDateTime = max(the base snapshot's instant, now -
RecoveryPeriodInDays); LatestRestorableDateTime = now - :data:`LATEST_LAG_MS` (one
second: a change is in the log once committed, so unlike DynamoDB's ~5 minutes there
is nothing to wait for; the second covers writes still in flight).

Housekeeping of the window (:func:`pitr_round`, on the leader): snapshots older than
the window are deleted except the newest of them (a restore to the window's first
instant starts from it), and so are the logged records older than the oldest kept
snapshot minus the margin.  A table that was deleted loses its PITR data (DynamoDB
keeps a SYSTEM backup then: not offered, see docs/data-protection.md).

For exports (phase 2): :func:`items_at` and :func:`changes_between`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from regions.catalog import CREATING, TableSpec
from regions.changes import ChangeRecord
from regions.errors import (
    ContinuousBackupsUnavailable,
    InvalidRestoreTime,
    PointInTimeRecoveryUnavailable,
    ResourceNotFound,
    TableNotFound,
    ValidationError,
)
from regions.keys import KeySchema, encode_key
from regions.protection import snapshots
from regions.store import protection as sp
from regions.types import Item
from regions.versions import wall_ms

if TYPE_CHECKING:
    from regions.region import Region

__all__ = [
    "DEFAULT_PERIOD_DAYS",
    "LATEST_LAG_MS",
    "MARGIN_MS",
    "LatestWins",
    "PitrStatus",
    "changes_between",
    "describe",
    "items_at",
    "pitr_round",
    "restorable_window",
    "run_pitr",
    "state_at",
    "unavailable",
    "update",
]

log = logging.getLogger("globaltables.pitr")

DEFAULT_PERIOD_DAYS = 35
DAY_MS = 86_400_000
#: LatestRestorableDateTime is this far behind now
LATEST_LAG_MS = 1_000
#: change records this far before a snapshot's instant are merged too
MARGIN_MS = 60_000
#: an incomplete snapshot row this old belongs to a crashed job
_STALE_SNAPSHOT_MS = 3_600_000
#: change records read per store round trip
_PAGE = 2_000
#: how long UpdateContinuousBackups waits for the base snapshot before it answers
_BASE_WAIT_S = 5.0

#: the rank of an entry in the merge: (hlc, origin, seq); a snapshot's entries
#: have seq -1, so a change record of the same version wins
Rank = tuple[int, str, int]


# ---------------------------------------------------------------- the pure parts


def restorable_window(base_ms: int | None, period_days: int, now_ms: int) -> tuple[int, int] | None:
    """(earliest, latest) restorable instants in ms, None until the base snapshot
    exists.  ``base_ms`` is the instant of the first complete snapshot."""
    if base_ms is None:
        return None
    earliest = max(base_ms, now_ms - period_days * DAY_MS)
    latest = max(earliest, now_ms - LATEST_LAG_MS)
    return earliest, latest


def kept_snapshots(taken: list[int], period_days: int, now_ms: int) -> tuple[list[int], list[int]]:
    """(kept, dropped) of a table's complete snapshots' instants (ascending): every one
    inside the window, and the newest one before it (the base of a restore to the
    window's first instant)."""
    start = now_ms - period_days * DAY_MS
    before = [t for t in taken if t < start]
    inside = [t for t in taken if t >= start]
    kept = before[-1:] + inside
    return kept, before[:-1]


class LatestWins:
    """The LWW merge of a snapshot with change records: per item key, the entry of
    greatest :data:`Rank`.  Change records go in first (:meth:`change`), then each
    snapshot item is passed through :meth:`resolve`, then :meth:`rest` gives the
    items that only the records know.  Memory: the records, not the snapshot."""

    def __init__(self) -> None:
        self._changes: dict[tuple[bytes, bytes], tuple[Rank, Item | None]] = {}

    def change(self, key: tuple[bytes, bytes], rank: Rank, image: Item | None) -> None:
        held = self._changes.get(key)
        if held is None or rank > held[0]:
            self._changes[key] = (rank, image)

    def resolve(self, key: tuple[bytes, bytes], rank: Rank, item: Item) -> Item | None:
        """What the table holds for a snapshot item's key: the item, or a newer
        record's image (None: deleted)."""
        held = self._changes.pop(key, None)
        if held is None or held[0] < rank:
            return item
        return held[1]

    def rest(self) -> Iterator[Item]:
        """Items created by the records alone (none of the snapshot's keys)."""
        for _, image in self._changes.values():
            if image is not None:
                yield image
        self._changes.clear()


def _key(item: Item, schema: KeySchema, partitions: int) -> tuple[bytes, bytes]:
    enc = encode_key({a.name: item[a.name] for a in schema.attrs}, schema, partitions)
    return enc.hk, enc.rk


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class PitrStatus:
    enabled: bool
    period_days: int | None = None
    earliest_ms: int | None = None
    latest_ms: int | None = None


async def _table(region: Region, table: str) -> tuple[int, TableSpec]:
    try:
        return await region.control.table_ref(table)
    except ResourceNotFound:
        raise TableNotFound(_name(table)) from None


def _name(table: str) -> str:
    return table.split(":table/", 1)[1].split("/", 1)[0] if ":table/" in table else table


async def _row(tx: Any, tid: int, table_id: str) -> dict[str, Any] | None:
    """Table ``tid``'s PITR row, if it is this table's (a row left by a deleted
    table whose number a new table took is not: housekeeping forgets it)."""
    row = await sp.get_pitr(tx, tid)
    return row if row is not None and row["table_id"] == table_id else None


async def _status(region: Region, tid: int, table_id: str) -> PitrStatus:
    async with region.store.read(snapshot=True) as tx:
        row = await _row(tx, tid, table_id)
        snaps = await sp.snapshots(tx, tid) if row is not None else []
    if row is None:
        return PitrStatus(False)
    complete = [t for t, _, done in snaps if done]
    window = restorable_window(
        complete[0] if complete else None, int(row["period_days"]), wall_ms()
    )
    return PitrStatus(
        True,
        int(row["period_days"]),
        window[0] if window else None,
        window[1] if window else None,
    )


async def describe(region: Region, table: str) -> PitrStatus:
    """DescribeContinuousBackups (TableNotFound for an unknown table)."""
    tid, spec = await _table(region, table)
    return await _status(region, tid, spec.table_id)


async def update(region: Region, table: str, enabled: bool, period_days: int | None) -> PitrStatus:
    """UpdateContinuousBackups: enable (taking the base snapshot), change the period,
    or disable (forgetting the snapshots and logged records)."""
    tid, spec = await _table(region, table)
    if spec.status == CREATING:
        raise ContinuousBackupsUnavailable("Backups are not yet enabled for this table")
    if period_days is not None and not enabled:
        raise ValidationError(
            "RecoveryPeriodInDays can only be specified when PointInTimeRecoveryEnabled is true"
        )
    now = wall_ms()
    async with region.store.write() as tx:
        row = await _row(tx, tid, spec.table_id)
        if not enabled:
            prefixes = await sp.disable_pitr(tx, tid)
        elif row is None:
            # what a deleted table of the same number left is forgotten first
            prefixes = await sp.disable_pitr(tx, tid)
            await sp.enable_pitr(tx, tid, spec.table_id, period_days or DEFAULT_PERIOD_DAYS, now)
        else:
            if period_days is not None:
                await sp.set_pitr_period(tx, tid, period_days)
            prefixes = []
    for prefix in prefixes:
        await _delete_objects(region, prefix)
    if enabled and row is None:
        # the base snapshot: restorable from its instant on
        spawn_snapshot(region, tid, spec)
        deadline = asyncio.get_running_loop().time() + _BASE_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            status = await _status(region, tid, spec.table_id)
            if status.earliest_ms is not None:
                return status
            await asyncio.sleep(0.05)
    return await _status(region, tid, spec.table_id)


async def _delete_objects(region: Region, prefix: str) -> None:
    try:
        await snapshots.delete_snapshot(region.objects, region.objects_bucket, prefix)
    except Exception as exc:  # the rows are gone: a stray object only costs space
        log.warning("could not delete snapshot %s: %s", prefix, exc)


# ---------------------------------------------------------------- snapshots


def spawn_snapshot(region: Region, tid: int, spec: TableSpec) -> None:
    region.control.background.spawn(
        take_snapshot(region, tid, spec), key=("pitr-snapshot", str(tid))
    )


async def take_snapshot(region: Region, tid: int, spec: TableSpec) -> None:
    """One PITR snapshot of table ``tid``; recorded complete only once every object
    is written, under the instant its read transaction shows."""
    started = wall_ms()
    prefix = f"pitr/{spec.table_id}/{started:014d}-{secrets.token_hex(4)}"
    async with region.store.write() as tx:
        if await _row(tx, tid, spec.table_id) is None:
            return
        await sp.add_snapshot(tx, tid, started, prefix)
    try:
        info = await snapshots.write_snapshot(
            region.objects, region.objects_bucket, prefix, region.store, tid, spec
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("PITR snapshot of %s failed: %s", spec.name, exc)
        async with region.store.write() as tx:
            await sp.delete_snapshots(tx, tid, [started])
        await _delete_objects(region, prefix)
        return
    async with region.store.write() as tx:
        await sp.delete_snapshots(tx, tid, [started])
        if await _row(tx, tid, spec.table_id) is None:
            keep = False  # disabled meanwhile
        else:
            await sp.add_snapshot(tx, tid, info.taken_ms, prefix)
            await sp.complete_snapshot(tx, tid, info.taken_ms)
            keep = True
    if not keep:
        await _delete_objects(region, prefix)
    else:
        log.info("PITR snapshot of %s: %d items at %d", spec.name, info.items, info.taken_ms)


async def pitr_round(region: Region) -> None:
    """One round of the leader's PITR job: forget deleted tables, take the snapshots
    that are due, drop what fell out of every window."""
    now = wall_ms()
    interval_ms = round(region.settings.pitr_snapshot_interval_s * 1000)
    async with region.store.write() as tx:
        gone = await sp.forget_tables(tx)
    for prefix in gone:
        await _delete_objects(region, prefix)
    async with region.store.read(snapshot=True) as tx:
        rows = await sp.all_pitr(tx)
        snaps = {int(r["tid"]): await sp.snapshots(tx, int(r["tid"])) for r in rows}
        # the stored catalog, not this process's cache (another node may be ahead)
        by_tid = {tid: TableSpec.from_json(orjson.loads(raw)) for tid, raw in await tx.tables()}
    for row in rows:
        tid = int(row["tid"])
        spec = by_tid.get(tid)
        if spec is None:
            continue  # forgotten next round
        if spec.table_id != row["table_id"]:
            # a deleted table's PITR, its number taken by a new table since
            async with region.store.write() as tx:
                leftover = (
                    await sp.disable_pitr(tx, tid)
                    if await _row(tx, tid, str(row["table_id"])) is not None
                    else []
                )
            for prefix in leftover:
                await _delete_objects(region, prefix)
            continue
        mine = snaps[tid]
        stale = [t for t, _, done in mine if not done and t < now - _STALE_SNAPSHOT_MS]
        complete = [t for t, _, done in mine if done]
        if not complete or complete[-1] <= now - interval_ms:
            spawn_snapshot(region, tid, spec)
        kept, dropped = kept_snapshots(complete, int(row["period_days"]), now)
        dropped += stale
        prefixes = {t: p for t, p, _ in mine}
        if dropped:
            async with region.store.write() as tx:
                await sp.delete_snapshots(tx, tid, dropped)
            for t in dropped:
                await _delete_objects(region, prefixes[t])
        if kept:
            async with region.store.write() as tx:
                await sp.trim_pitr_log(tx, tid, kept[0] - MARGIN_MS)


async def run_pitr(region: Region) -> None:
    """The leader's PITR job until cancelled (api/app.py runs it with the others)."""
    tick = max(0.2, min(30.0, region.settings.pitr_snapshot_interval_s / 4))
    failing = False
    while True:
        try:
            await pitr_round(region)
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not failing:
                log.warning("PITR round failed: %s: %s", exc.__class__.__name__, exc)
            failing = True
        await asyncio.sleep(tick)


# ---------------------------------------------------------------- reading the past


async def _records(
    region: Region, tx: Any, tid: int, from_ms: int, to_ms: int
) -> AsyncIterator[ChangeRecord]:
    after = 0
    while True:
        page = await sp.change_page(tx, tid, from_ms, to_ms, after, _PAGE)
        for row in page:
            yield ChangeRecord.decode_stored(row.record, row.seq, row.created_ms)
        if len(page) < _PAGE:
            return
        after = page[-1].seq


async def changes_between(
    region: Region, table: str, from_ms: int, to_ms: int
) -> AsyncIterator[ChangeRecord]:
    """Every change record of a table with PITR enabled created in ``[from_ms,
    to_ms]`` (ms, inclusive), in the order the region logged them: INSERT, MODIFY
    (``new_image``, ``old_image``) and REMOVE (``new_image`` None), each with its
    ``version`` and ``created_ms``.  Raises PointInTimeRecoveryUnavailable when PITR
    is not enabled, TableNotFound for an unknown table.  Read in one store snapshot."""
    tid, spec = await _table(region, table)
    async with region.store.read(snapshot=True) as tx:
        if await _row(tx, tid, spec.table_id) is None:
            raise _unavailable(spec.name)
        async for rec in _records(region, tx, tid, from_ms, to_ms):
            yield rec


def unavailable(name: str) -> PointInTimeRecoveryUnavailable:
    """The error of a table without PITR (exports raise it too)."""
    return PointInTimeRecoveryUnavailable(
        f"Point in time recovery is not enabled for table '{name}'"
    )


_unavailable = unavailable


async def items_at(region: Region, table: str, at_ms: int) -> AsyncIterator[Item]:
    """Every item of a table (PITR enabled) as it was at ``at_ms`` (ms since the
    epoch, this region's clock), each once, in no particular order.  Raises
    TableNotFound, PointInTimeRecoveryUnavailable, or InvalidRestoreTime when
    ``at_ms`` is outside the window (:func:`describe` gives it)."""
    tid, spec = await _table(region, table)
    status = await _status(region, tid, spec.table_id)
    if not status.enabled:
        raise _unavailable(spec.name)
    if status.earliest_ms is None or not status.earliest_ms <= at_ms <= (status.latest_ms or 0):
        raise InvalidRestoreTime(
            "Invalid restore time specified. RestoreDateTime must be between "
            "EarliestRestorableDateTime and LatestRestorableDateTime."
        )
    async for item in state_at(region, tid, spec, at_ms):
        yield item


async def state_at(region: Region, tid: int, spec: TableSpec, at_ms: int) -> AsyncIterator[Item]:
    """The merge itself (the window unchecked): what :func:`items_at` yields.  Raises
    PointInTimeRecoveryUnavailable when the table's PITR data is gone (disabled, the
    table deleted) and InvalidRestoreTime when no snapshot is at or before ``at_ms``."""
    merge = LatestWins()
    async with region.store.read(snapshot=True) as tx:
        if await _row(tx, tid, spec.table_id) is None:
            raise _unavailable(spec.name)
        base = [(t, p) for t, p, done in await sp.snapshots(tx, tid) if done and t <= at_ms]
        if not base:
            raise InvalidRestoreTime(
                "Invalid restore time specified. RestoreDateTime must be between "
                "EarliestRestorableDateTime and LatestRestorableDateTime."
            )
        taken, prefix = base[-1]
        async for rec in _records(region, tx, tid, taken - MARGIN_MS, at_ms):
            merge.change(
                _key(rec.keys, spec.key_schema, spec.partitions),
                (rec.version.hlc, rec.version.origin, rec.seq),
                rec.new_image,
            )
    async for item, version in snapshots.read_snapshot(
        region.objects, region.objects_bucket, prefix
    ):
        out = merge.resolve(
            _key(item, spec.key_schema, spec.partitions), (version.hlc, version.origin, -1), item
        )
        if out is not None:
            yield out
    for image in merge.rest():
        yield image
