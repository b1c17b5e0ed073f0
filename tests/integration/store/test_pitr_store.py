"""Point-in-time recovery and backups at the storage level, on SQLite and PostgreSQL.

The table at an instant is a snapshot merged with the change log (regions/protection/
pitr.py).  Here a region (in process) with a stream retention of one second: the
records of a PITR table older than that are moved to ``gt_pitr_log`` by the stream's
trim, not dropped, while another table's are dropped as before; ``items_at`` reads
the past through both; a backup's snapshot reads back item for item and a corrupt
chunk is refused.  The HTTP side is in tests/integration/api/test_pitr.py and
test_backups.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from regions.catalog import Replica
from regions.changes import REMOVE, ChangeRecord
from regions.control import NewTable
from regions.errors import InvalidRestoreTime, PointInTimeRecoveryUnavailable
from regions.protection import pitr, snapshots
from regions.region import Region
from regions.settings import RegionSettings
from regions.store import protection as sp
from regions.versions import Version, wall_ms

pytestmark = pytest.mark.integration

SCHEMA: dict[str, Any] = {
    "key_schema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "attribute_definitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "billing_mode": "PAY_PER_REQUEST",
}


@pytest.fixture
async def quick(store_url: str) -> AsyncIterator[Region]:
    r = Region(
        RegionSettings(name="us-east-1", store_url=store_url, partitions=4, change_retention_s=1)
    )
    await r.open()
    yield r
    await r.close()


def _item(i: int, v: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{i:04d}"}, "v": {"N": str(v)}, "b": {"B": "AAEC"}}


async def _scan(region: Region, table: str) -> list[dict[str, Any]]:
    page = await region.data.scan(table, limit=100_000)
    return sorted(page.items, key=lambda i: i["pk"]["S"])


async def _past(region: Region, table: str, at_ms: int) -> list[dict[str, Any]]:
    """The merge itself (pitr.state_at: no window check, which needs the latest
    restorable time a second behind)."""
    tid, spec = await region.control.table_ref(table)
    return sorted(
        [i async for i in pitr.state_at(region, tid, spec, at_ms)], key=lambda i: i["pk"]["S"]
    )


async def _settle() -> int:
    # instants a millisecond apart from any write on either side
    await asyncio.sleep(0.02)
    t = wall_ms()
    await asyncio.sleep(0.02)
    return t


async def test_items_at_merges_snapshot_and_both_logs(quick: Region) -> None:
    region = quick
    await region.control.create_table(NewTable(name="ptab", **SCHEMA))
    await region.control.create_table(NewTable(name="plain", **SCHEMA))
    for i in range(30):
        await region.data.put_item("ptab", _item(i, 0))
        await region.data.put_item("plain", _item(i, 0))
    with pytest.raises(PointInTimeRecoveryUnavailable):
        await anext(pitr.items_at(region, "ptab", wall_ms()))

    status = await pitr.update(region, "ptab", True, 3)
    assert status.enabled and status.period_days == 3 and status.earliest_ms is not None
    base = await _settle()
    assert await _past(region, "ptab", base) == await _scan(region, "ptab")

    # changes after the base snapshot: modify, delete, insert
    for i in range(10):
        await region.data.put_item("ptab", _item(i, 1))
    for i in range(10, 20):
        await region.data.delete_item("ptab", {"pk": {"S": f"k{i:04d}"}})
    for i in range(30, 35):
        await region.data.put_item("ptab", _item(i, 2))
    middle = await _settle()
    expected_middle = await _scan(region, "ptab")
    for i in range(20, 35):
        await region.data.delete_item("ptab", {"pk": {"S": f"k{i:04d}"}})
    after = await _settle()
    expected_after = await _scan(region, "ptab")

    # the stream retention (1 s) passes: the PITR table's records move to the PITR
    # log, the other table's are dropped
    await asyncio.sleep(1.2)
    await region.data.housekeeping()
    tid, _ = await region.control.table_ref("ptab")
    plain_tid, _ = await region.control.table_ref("plain")
    async with region.store.read() as tx:
        moved = await sp.change_page(tx, tid, 0, wall_ms(), 0, 10_000)
        kept_plain = await sp.change_page(tx, plain_tid, 0, wall_ms(), 0, 10_000)
        assert await tx.shard_range(tid, 0, 0) == (None, None)  # not in gt_changes
    assert len(moved) >= 40 and kept_plain == []

    assert await _past(region, "ptab", base) != expected_middle
    assert await _past(region, "ptab", middle) == expected_middle
    assert await _past(region, "ptab", after) == expected_after
    # through the window-checked reader exports use, once ``after`` is restorable
    past = [i async for i in pitr.items_at(region, "ptab", after)]
    assert sorted(past, key=lambda i: i["pk"]["S"]) == expected_after
    # changes_between sees the same records, in log order
    records = [r async for r in pitr.changes_between(region, "ptab", base, after)]
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    assert sum(r.event == "REMOVE" for r in records) == 25

    # a newer snapshot, then a restore time after it: the same answer from it
    await pitr.take_snapshot(region, tid, (await region.control.table_ref("ptab"))[1])
    later = await _settle()
    assert await _past(region, "ptab", later) == expected_after

    with pytest.raises(InvalidRestoreTime):
        await anext(pitr.items_at(region, "ptab", base - 60_000))
    # disabling forgets the snapshots and the log
    await pitr.update(region, "ptab", False, None)
    async with region.store.read() as tx:
        assert await sp.snapshots(tx, tid) == []
        assert await sp.change_page(tx, tid, 0, wall_ms(), 0, 10) == []


async def test_snapshot_reads_back_and_refuses_corruption(quick: Region) -> None:
    region = quick
    await region.control.create_table(NewTable(name="snap", **SCHEMA))
    for i in range(12):
        await region.data.put_item("snap", _item(i, i))
    tid, spec = await region.control.table_ref("snap")
    info = await snapshots.write_snapshot(
        region.objects, region.objects_bucket, "test/snap", region.store, tid, spec
    )
    assert info.items == 12 and info.size_bytes > 0
    back = [
        i
        async for i, _ in snapshots.read_snapshot(
            region.objects, region.objects_bucket, "test/snap"
        )
    ]
    assert sorted(back, key=lambda i: i["pk"]["S"]) == await _scan(region, "snap")
    key = "test/snap/items-00000.jsonl.gz"
    data = await region.objects.get(region.objects_bucket, key)
    await region.objects.put(region.objects_bucket, key, data[:-3] + b"xyz")
    with pytest.raises(snapshots.SnapshotCorrupt):
        async for _ in snapshots.read_snapshot(region.objects, region.objects_bucket, "test/snap"):
            pass
    await region.objects.delete(region.objects_bucket, key)
    with pytest.raises(snapshots.SnapshotCorrupt):
        async for _ in snapshots.read_snapshot(region.objects, region.objects_bucket, "test/snap"):
            pass


async def test_a_replicated_delete_is_in_the_receiving_regions_past(quick: Region) -> None:
    """A delete applied from another region is logged here (invariant 5), so a
    restore to before it has the item and one after it has not: the three-region
    drill works in any region."""
    region = quick
    spec = await region.control.create_table(NewTable(name="glob", **SCHEMA))
    tid, _ = await region.control.table_ref("glob")
    await region.catalog.save(tid, spec.with_replicas((Replica("us-east-1"), Replica("eu-west-1"))))
    for i in range(5):
        await region.data.put_item("glob", _item(i, 0))
    await pitr.update(region, "glob", True, None)
    before = await _settle()
    remote = ChangeRecord(
        table="glob",
        table_id=spec.table_id,
        event=REMOVE,
        keys={"pk": {"S": "k0002"}},
        new_image=None,
        old_image=None,
        version=Version(region.clock.tick() + (1 << 16), "eu-west-1"),
    )
    stats = await region.data.apply_remote([remote])
    assert stats.applied == 1
    after = await _settle()
    assert len(await _past(region, "glob", before)) == 5
    assert [i["pk"]["S"] for i in await _past(region, "glob", after)] == [
        "k0000",
        "k0001",
        "k0003",
        "k0004",
    ]
