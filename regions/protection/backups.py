"""On-demand backups: CreateBackup, DescribeBackup, ListBackups, DeleteBackup.

A backup is a snapshot of one table at one instant (regions/protection/snapshots.py:
one store read transaction, its items with their versions and the table's spec) under
``backups/<backup id>/<attempt>/`` in the region's bucket, and a row of ``gt_backups``
in the store: shared by every node of the region, kept after the table is deleted.

CreateBackup records the backup CREATING at once (its creation time is the
request's), starts the snapshot in the background and waits for it a few seconds:
a small table's backup is AVAILABLE in the answer already, a large one's shows
CREATING until it is.  Each attempt writes under a prefix of its own, and the row
names the attempt that completed, so two attempts (a resumed one and one still
running elsewhere) never mix their objects.  The leader resumes a backup left
CREATING by a crash when its table is still there (:func:`resume`), and drops it
otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from regions.catalog import CREATING as TABLE_CREATING
from regions.catalog import TableSpec
from regions.errors import (
    BackupInUse,
    BackupNotFound,
    ResourceNotFound,
    TableInUse,
    TableNotFound,
    ValidationError,
)
from regions.protection import snapshots
from regions.store import protection as sp
from regions.versions import wall_ms

if TYPE_CHECKING:
    from regions.region import Region

__all__ = [
    "AVAILABLE",
    "CREATING",
    "DELETED",
    "Backup",
    "create_backup",
    "delete_backup",
    "describe_backup",
    "list_backups",
    "parse_backup_arn",
    "resume",
]

log = logging.getLogger("globaltables.backups")

CREATING = "CREATING"
AVAILABLE = "AVAILABLE"
DELETED = "DELETED"
USER = "USER"
#: how long CreateBackup waits for the snapshot before answering CREATING
_WAIT_S = 5.0


@dataclass(frozen=True)
class Backup:
    arn: str
    name: str
    table_name: str
    table_id: str
    status: str
    type: str
    created_ms: int
    size_bytes: int
    item_count: int
    spec: TableSpec
    prefix: str

    @property
    def table_arn(self) -> str:
        return self.arn.split("/backup/", 1)[0]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Backup:
        return cls(
            arn=str(row["arn"]),
            name=str(row["name"]),
            table_name=str(row["table_name"]),
            table_id=str(row["table_id"]),
            status=str(row["status"]),
            type=str(row["type"]),
            created_ms=int(row["created_ms"]),
            size_bytes=int(row["size_bytes"]),
            item_count=int(row["item_count"]),
            spec=TableSpec.from_json(orjson.loads(row["spec"])),
            prefix=str(row["prefix"]),
        )


def parse_backup_arn(region: Region, arn: str) -> str:
    """The backup id of an ARN of this region's (BackupNotFound otherwise)."""
    prefix = f"arn:aws:dynamodb:{region.name}:{region.settings.account_id}:table/"
    if not arn.startswith(prefix) or "/backup/" not in arn:
        raise BackupNotFound(f"Backup not found: {arn}")
    return arn.rsplit("/backup/", 1)[1]


async def _get(region: Region, arn: str) -> Backup:
    parse_backup_arn(region, arn)
    async with region.store.read() as tx:
        row = await sp.backup(tx, arn)
    if row is None:
        raise BackupNotFound(f"Backup not found: {arn}")
    return Backup.from_row(row)


async def create_backup(region: Region, table: str, name: str) -> Backup:
    try:
        tid, spec = await region.control.table_ref(table)
    except ResourceNotFound:
        raise TableNotFound(table.split(":table/", 1)[-1]) from None
    if spec.status == TABLE_CREATING:
        raise TableInUse(f"Table is being created: {spec.name}")
    now = wall_ms()
    backup_id = f"{now:014d}-{secrets.token_hex(4)}"
    arn = f"{region.arn(spec.name)}/backup/{backup_id}"
    async with region.store.write() as tx:
        await sp.insert_backup(
            tx,
            {
                "arn": arn,
                "name": name,
                "table_name": spec.name,
                "table_id": spec.table_id,
                "tid": tid,
                "status": CREATING,
                "type": USER,
                "created_ms": now,
                "size_bytes": 0,
                "item_count": 0,
                "spec": orjson.dumps(spec.to_json()).decode(),
                "prefix": f"backups/{backup_id}",
            },
        )
    region.control.background.spawn(_snapshot(region, arn, tid, spec), key=("backup", arn))
    deadline = asyncio.get_running_loop().time() + _WAIT_S
    while True:
        backup = await _get(region, arn)
        if backup.status != CREATING or asyncio.get_running_loop().time() >= deadline:
            return backup
        await asyncio.sleep(0.02)


async def _snapshot(region: Region, arn: str, tid: int, spec: TableSpec) -> None:
    backup_id = arn.rsplit("/backup/", 1)[1]
    prefix = f"backups/{backup_id}/{secrets.token_hex(4)}"
    try:
        info = await snapshots.write_snapshot(
            region.objects, region.objects_bucket, prefix, region.store, tid, spec
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        # a backup that cannot be taken is not kept CREATING forever
        log.warning("backup %s of %s failed: %s", arn, spec.name, exc)
        async with region.store.write() as tx:
            await sp.delete_backup(tx, arn)
        await _delete_objects(region, f"backups/{backup_id}")
        return
    async with region.store.write() as tx:
        await sp.update_backup(
            tx,
            arn,
            status=AVAILABLE,
            size_bytes=info.size_bytes,
            item_count=info.items,
            prefix=prefix,
        )
    log.info("backup %s of %s: %d items", arn, spec.name, info.items)


async def _delete_objects(region: Region, prefix: str) -> None:
    try:
        keys = [o.key async for o in region.objects.list(region.objects_bucket, prefix + "/")]
        # manifests first: a half-deleted snapshot never reads as complete
        keys.sort(key=lambda k: not k.endswith("/manifest.json"))
        for key in keys:
            await region.objects.delete(region.objects_bucket, key)
    except Exception as exc:
        log.warning("could not delete the objects of %s: %s", prefix, exc)


async def describe_backup(region: Region, arn: str) -> Backup:
    return await _get(region, arn)


async def list_backups(
    region: Region,
    *,
    table: str | None,
    from_ms: int | None,
    to_ms: int | None,
    backup_type: str,
    limit: int,
    start_arn: str | None,
) -> tuple[list[Backup], str | None]:
    """ListBackups: oldest first; a page of ``limit`` and the ARN to start the next
    one after (None on the last page)."""
    name = table.split(":table/", 1)[1].split("/", 1)[0] if table and ":table/" in table else table
    async with region.store.read() as tx:
        rows = await sp.backups(tx, table_name=name, from_ms=from_ms, to_ms=to_ms)
    found = [Backup.from_row(r) for r in rows]
    if backup_type not in ("ALL", USER):
        found = [b for b in found if b.type == backup_type]
    if start_arn is not None:
        keys = [(b.created_ms, b.arn) for b in found]
        at = next((i for i, b in enumerate(found) if b.arn == start_arn), None)
        if at is None:
            # a start ARN that is gone: start after where it would sort
            try:
                when = int(parse_backup_arn(region, start_arn).split("-", 1)[0])
            except (BackupNotFound, ValueError):
                raise ValidationError(f"Invalid ExclusiveStartBackupArn: {start_arn}") from None
            found = [b for b, k in zip(found, keys, strict=True) if k > (when, start_arn)]
        else:
            found = found[at + 1 :]
    page = found[:limit]
    return page, page[-1].arn if len(found) > limit else None


async def delete_backup(region: Region, arn: str) -> Backup:
    """DeleteBackup: the backup as it was, DELETED.  BackupInUse while it is being
    created or restored from."""
    backup = await _get(region, arn)
    if backup.status == CREATING:
        raise BackupInUse("Backup is being created; it can be deleted once it is AVAILABLE: " + arn)
    async with region.store.write() as tx:
        for r in await sp.restores(tx):
            if orjson.loads(r["source"]).get("backup_arn") == arn:
                raise BackupInUse(f"Backup is being restored to table {r['table_name']}: {arn}")
        await sp.delete_backup(tx, arn)
    await _delete_objects(region, backup.prefix.rsplit("/", 1)[0])
    return replace(backup, status=DELETED)


async def resume(region: Region) -> None:
    """On the leader at start: backups a crash left CREATING are taken again if their
    table is still there, else dropped."""
    async with region.store.read() as tx:
        rows = await sp.backups_in(tx, CREATING)
    by_tid = {tid: spec for tid, spec in region.catalog.tables.values()}
    for row in rows:
        arn = str(row["arn"])
        spec = by_tid.get(int(row["tid"]))
        if spec is not None and spec.table_id == row["table_id"]:
            log.info("resuming backup %s of %s", arn, spec.name)
            region.control.background.spawn(
                _snapshot(region, arn, int(row["tid"]), spec), key=("backup", arn)
            )
        else:
            log.warning("backup %s: its table is gone, dropped", arn)
            async with region.store.write() as tx:
                await sp.delete_backup(tx, arn)
            await _delete_objects(region, str(row["prefix"]))
