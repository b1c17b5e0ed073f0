"""Restores: RestoreTableFromBackup and RestoreTableToPointInTime.

A restore always makes a NEW standalone table (never a replica of a global table, as
in DynamoDB), in four steps, each durable before the next:

1. a marker in ``gt_restores`` (the new table's id and spec, and what to restore: a
   backup, or a table and an instant), in the transaction that checks the name is free;
2. the table in the catalog, status CREATING, with its ``RestoreSummary``
   (RestoreInProgress true).  A CREATING table takes no item requests
   (``DataPlane.serving``), so nothing but the restore writes to it;
3. the items, loaded in batches through the data plane (``DataPlane.commit``: rows,
   index entries and change records, with this region's versions);
4. the table ACTIVE (RestoreInProgress false), then the marker removed.

A process killed part-way leaves the marker: the leader resumes every marker when it
starts (:func:`resume`), creating the table if step 2 had not happened and loading
again (a Put of the item already there is a no-op, so loading twice is harmless).  A
restore that cannot finish (its backup's objects missing or corrupt, its source's
PITR data gone) drops the new table and its marker: a table is never left ACTIVE and
partial.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from regions import catalog
from regions.catalog import ACTIVE, CREATING, TableSpec
from regions.data.ops import Put
from regions.data.plane import Bound
from regions.errors import (
    BackupInUse,
    DynamoError,
    InvalidRestoreTime,
    LimitExceeded,
    ResourceInUse,
    ResourceNotFound,
    TableAlreadyExists,
    TableInUse,
    TableNotFound,
    ValidationError,
)
from regions.indexes import IndexSpec
from regions.protection import backups, pitr, snapshots
from regions.store import protection as sp
from regions.types import Item
from regions.versions import wall_ms

if TYPE_CHECKING:
    from regions.region import Region

__all__ = [
    "MAX_RESTORES",
    "Overrides",
    "restore_from_backup",
    "restore_to_point_in_time",
    "restored_spec",
    "resume",
]

log = logging.getLogger("globaltables.restore")

#: restores in progress at once in a region (LimitExceededException beyond)
MAX_RESTORES = 50
#: items written per store transaction while loading
BATCH = 200
#: a testing knob: seconds to pause after each batch, so that a test can kill a
#: region in the middle of a restore (tests/integration/api/test_backups.py)
_BATCH_PAUSE_S = float(os.environ.get("GLOBALTABLES_TEST_RESTORE_PAUSE_S", "0") or 0)
_INVALID = "One or more parameter values were invalid: "


@dataclass(frozen=True)
class Overrides:
    """The restore requests' overrides, decoded (api/dynamodb/backups.py)."""

    billing_mode: str | None = None
    #: ProvisionedThroughputOverride (given: both values)
    read_capacity: int | None = None
    write_capacity: int | None = None
    #: OnDemandThroughputOverride
    max_read: int | None = None
    max_write: int | None = None
    #: GlobalSecondaryIndexOverride / LocalSecondaryIndexOverride: the indexes to
    #: keep (each must be one of the source's); None keeps them all
    gsis: tuple[dict[str, Any], ...] | None = None
    lsis: tuple[dict[str, Any], ...] | None = None


def _key_schema_of(idx: IndexSpec) -> list[tuple[str, str]]:
    ks = idx.key_schema
    out = [(ks.hash.name, "HASH"), *((a.name, "HASH") for a in ks.more_hash)]
    if ks.range is not None:
        out.append((ks.range.name, "RANGE"))
    out += [(a.name, "RANGE") for a in ks.more_range]
    return out


def _kept(
    source: TableSpec, kind: str, wanted: tuple[dict[str, Any], ...] | None
) -> list[tuple[IndexSpec, dict[str, Any]]]:
    have = [i for i in source.indexes if i.kind == kind and i.status != catalog.DELETING]
    if wanted is None:
        return [(i, {}) for i in have]
    label = "GlobalSecondaryIndexOverride" if kind == "GSI" else "LocalSecondaryIndexOverride"
    out: list[tuple[IndexSpec, dict[str, Any]]] = []
    for entry in wanted:
        name = entry.get("IndexName")
        idx = next((i for i in have if i.name == name), None)
        if idx is None:
            raise ValidationError(
                f"{_INVALID}{label}: index {name} is not an index of the source table"
            )
        ks = entry.get("KeySchema")
        if ks is not None and [(k.get("AttributeName"), k.get("KeyType")) for k in ks] != (
            _key_schema_of(idx)
        ):
            raise ValidationError(
                f"{_INVALID}{label}: the key schema of index {name} differs from the source's"
            )
        projection = entry.get("Projection") or {}
        if projection.get("ProjectionType") not in (None, idx.projection):
            raise ValidationError(
                f"{_INVALID}{label}: the projection of index {name} differs from the source's"
            )
        if any(o.name == idx.name for o, _ in out):
            raise ValidationError(f"{_INVALID}{label}: index {name} is listed twice")
        out.append((idx, entry))
    return out


def restored_spec(
    source: TableSpec,
    name: str,
    overrides: Overrides,
    *,
    partitions: int,
    summary: dict[str, Any],
) -> TableSpec:
    """The new table's spec (pure): the source's key schema and the indexes kept,
    billing and throughput as overridden, no stream, tags, replicas, TTL or policy
    (DynamoDB does not restore those either), status CREATING."""
    catalog.validate_table_name(name, "targetTableName")
    billing = overrides.billing_mode or source.billing_mode
    provisioned = overrides.read_capacity is not None
    if billing == "PROVISIONED":
        if provisioned:
            rcu, wcu = overrides.read_capacity or 0, overrides.write_capacity or 0
        elif source.billing_mode == "PROVISIONED":
            rcu, wcu = source.read_capacity, source.write_capacity
        else:
            raise ValidationError(
                f"{_INVALID}ProvisionedThroughputOverride must be specified when "
                "BillingModeOverride is PROVISIONED"
            )
        if overrides.max_read is not None or overrides.max_write is not None:
            raise ValidationError(
                f"{_INVALID}OnDemandThroughputOverride can only be specified when the "
                "billing mode is PAY_PER_REQUEST"
            )
        max_read = max_write = -1
    else:
        if provisioned:
            raise ValidationError(
                f"{_INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be "
                "specified when BillingMode is PAY_PER_REQUEST"
            )
        rcu = wcu = 0
        same = source.billing_mode == "PAY_PER_REQUEST"
        max_read = (
            overrides.max_read
            if overrides.max_read is not None
            else (source.max_read_request_units if same else -1)
        )
        max_write = (
            overrides.max_write
            if overrides.max_write is not None
            else (source.max_write_request_units if same else -1)
        )
    kept: list[IndexSpec] = []
    for kind, wanted in (("LSI", overrides.lsis), ("GSI", overrides.gsis)):
        for idx, entry in _kept(source, kind, wanted):
            new = idx.with_status(ACTIVE)
            new = replace(new, online=False)
            if kind == "GSI":
                pt = entry.get("ProvisionedThroughput")
                od = entry.get("OnDemandThroughput") or {}
                if billing == "PROVISIONED":
                    if pt:
                        r, w = int(pt["ReadCapacityUnits"]), int(pt["WriteCapacityUnits"])
                    elif idx.read_capacity > 0:
                        r, w = idx.read_capacity, idx.write_capacity
                    else:
                        r, w = rcu, wcu
                    new = replace(
                        new,
                        read_capacity=r,
                        write_capacity=w,
                        max_read_request_units=-1,
                        max_write_request_units=-1,
                    )
                else:
                    if pt:
                        raise ValidationError(
                            f"{_INVALID}ProvisionedThroughput cannot be specified for index "
                            f"{idx.name} when BillingMode is PAY_PER_REQUEST"
                        )
                    new = replace(
                        new,
                        read_capacity=0,
                        write_capacity=0,
                        max_read_request_units=int(
                            od.get("MaxReadRequestUnits", idx.max_read_request_units)
                        ),
                        max_write_request_units=int(
                            od.get("MaxWriteRequestUnits", idx.max_write_request_units)
                        ),
                    )
            kept.append(new)
    # restore keeps the creation order of the source's indexes
    order = {i.name: n for n, i in enumerate(source.indexes)}
    kept.sort(key=lambda i: order[i.name])
    used = {a.name for a in source.key_schema.attrs}
    for idx in kept:
        used.update(n for n, _ in _key_schema_of(idx))
    return TableSpec(
        name=name,
        table_id=catalog.new_table_id(),
        key_schema=source.key_schema,
        attributes={n: t for n, t in source.attributes.items() if n in used},
        created_at=time.time(),
        partitions=partitions,
        billing_mode=billing,
        read_capacity=rcu,
        write_capacity=wcu,
        max_read_request_units=max_read,
        max_write_request_units=max_write,
        pay_per_request_at=time.time() if billing == "PAY_PER_REQUEST" else 0.0,
        status=CREATING,
        table_class=source.table_class,
        indexes=tuple(kept),
        restore=summary,
    )


# ---------------------------------------------------------------- the requests


async def restore_from_backup(
    region: Region, backup_arn: str, target: str, overrides: Overrides
) -> TableSpec:
    backup = await backups.describe_backup(region, backup_arn)
    if backup.status != backups.AVAILABLE:
        raise BackupInUse(f"Backup is being created: {backup_arn}")
    summary = {
        "SourceBackupArn": backup.arn,
        "SourceTableArn": backup.table_arn,
        "RestoreDateTime": backup.created_ms / 1000,
        "RestoreInProgress": True,
    }
    spec = restored_spec(
        backup.spec, target, overrides, partitions=region.settings.partitions, summary=summary
    )
    return await _start(region, spec, {"backup_arn": backup.arn})


async def restore_to_point_in_time(
    region: Region,
    source: str,
    target: str,
    at_ms: int | None,
    overrides: Overrides,
) -> TableSpec:
    """``at_ms`` None: the latest restorable time (UseLatestRestorableTime)."""
    try:
        tid, spec = await region.control.table_ref(source)
    except ResourceNotFound:
        raise TableNotFound(source.split(":table/", 1)[-1]) from None
    status = await pitr.describe(region, spec.name)
    if not status.enabled:
        raise pitr._unavailable(spec.name)
    if status.earliest_ms is None or status.latest_ms is None:
        raise InvalidRestoreTime(
            "Invalid restore time specified: point in time recovery of table "
            f"'{spec.name}' has no restorable time yet"
        )
    when = status.latest_ms if at_ms is None else at_ms
    if not status.earliest_ms <= when <= status.latest_ms:
        raise InvalidRestoreTime(
            "Invalid restore time specified. RestoreDateTime must be between "
            "EarliestRestorableDateTime and LatestRestorableDateTime."
        )
    summary = {
        "SourceTableArn": region.arn(spec.name),
        "RestoreDateTime": when / 1000,
        "RestoreInProgress": True,
    }
    new = restored_spec(
        spec, target, overrides, partitions=region.settings.partitions, summary=summary
    )
    return await _start(
        region,
        new,
        {
            "source_tid": tid,
            "source_table_id": spec.table_id,
            "source_name": spec.name,
            "at_ms": when,
        },
    )


async def _start(region: Region, spec: TableSpec, source: dict[str, Any]) -> TableSpec:
    async with region.store.write() as tx:
        if await tx.table(spec.name) is not None:
            raise TableAlreadyExists(spec.name)
        running = await sp.restores(tx)
        if any(r["table_name"] == spec.name for r in running):
            raise TableInUse(f"Table is being restored: {spec.name}")
        if len(running) >= MAX_RESTORES:
            raise LimitExceeded(
                f"Subscriber limit exceeded: only {MAX_RESTORES} restores can be in "
                "progress at a time"
            )
        await sp.insert_restore(
            tx,
            {
                "table_id": spec.table_id,
                "table_name": spec.name,
                "source": orjson.dumps(source).decode(),
                "spec": orjson.dumps(spec.to_json()).decode(),
                "started_ms": wall_ms(),
            },
        )
    try:
        await region.catalog.insert(spec)
    except ResourceInUse:
        async with region.store.write() as tx:
            await sp.delete_restore(tx, spec.table_id)
        raise TableAlreadyExists(spec.name) from None
    log.info("restoring %s from %s", spec.name, source)
    _spawn(region, spec, source)
    return spec


def _spawn(region: Region, spec: TableSpec, source: dict[str, Any]) -> None:
    region.control.background.spawn(_run(region, spec, source), key=("restore", spec.table_id))


# ---------------------------------------------------------------- the job


async def _items(region: Region, source: dict[str, Any]) -> AsyncIterator[Item]:
    if "backup_arn" in source:
        backup = await backups.describe_backup(region, source["backup_arn"])
        async for item, _ in snapshots.read_snapshot(
            region.objects, region.objects_bucket, backup.prefix
        ):
            yield item
        return
    by_tid = {tid: spec for tid, spec in region.catalog.tables.values()}
    spec = by_tid.get(int(source["source_tid"]))
    if spec is None or spec.table_id != source["source_table_id"]:
        raise TableNotFound(str(source.get("source_name", "")))
    async for item in pitr.state_at(region, int(source["source_tid"]), spec, int(source["at_ms"])):
        yield item


async def _load(region: Region, tid: int, spec: TableSpec, items: AsyncIterator[Item]) -> int:
    count = 0
    batch: list[Bound] = []

    async def flush() -> None:
        if not batch:
            return
        outcomes = await region.data.commit(batch, atomic=False)
        for outcome in outcomes:
            if isinstance(outcome, DynamoError):
                raise outcome
        batch.clear()
        if _BATCH_PAUSE_S:
            await asyncio.sleep(_BATCH_PAUSE_S)

    async for item in items:
        key, op = Put(spec.name, item=item).validated(spec.key_schema)
        batch.append(Bound(tid, spec, key, op))
        count += 1
        if len(batch) >= BATCH:
            await flush()
    await flush()
    return count


async def _run(region: Region, spec: TableSpec, source: dict[str, Any]) -> None:
    try:
        tid, current = await region.catalog.table(spec.name)
    except ResourceNotFound:
        current = None
    if current is None or current.table_id != spec.table_id:
        log.warning("restore of %s: the table is gone, restore dropped", spec.name)
        await _forget(region, spec.table_id)
        return
    if current.status == CREATING:
        try:
            count = await _load(region, tid, current, _items(region, source))
        except asyncio.CancelledError:
            raise  # the process stops: the marker stays, the next leader resumes
        except Exception as exc:
            log.error("restore of %s failed, the table is dropped: %s", spec.name, exc)
            try:
                await region.control.drop_table(tid, current)
            finally:
                await _forget(region, spec.table_id)
            return
        # the spec as it is now (an UpdateTable meanwhile stays)
        tid, latest = await region.catalog.table(spec.name)
        done = {**(latest.restore or {}), "RestoreInProgress": False}
        await region.catalog.save(tid, replace(latest, status=ACTIVE, restore=done))
        log.info("restored %s: %d items", spec.name, count)
    await _forget(region, spec.table_id)


async def _forget(region: Region, table_id: str) -> None:
    async with region.store.write() as tx:
        await sp.delete_restore(tx, table_id)


async def resume(region: Region) -> None:
    """On the leader at start: every restore a crash (or the previous leader)
    left unfinished runs again, its table created first if it was not yet."""
    async with region.store.read() as tx:
        rows = await sp.restores(tx)
    for row in rows:
        spec = TableSpec.from_json(orjson.loads(row["spec"]))
        source = orjson.loads(row["source"])
        try:
            _, current = await region.catalog.table(spec.name)
        except ResourceNotFound:
            current = None
        if current is None:
            try:
                await region.catalog.insert(spec)
            except ResourceInUse:
                await _forget(region, spec.table_id)
                continue
        log.info("resuming the restore of %s", spec.name)
        _spawn(region, spec, source)
