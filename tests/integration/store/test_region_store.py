"""The store behind the Region facade, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from regions.catalog import Replica
from regions.changes import ChangeRecord
from regions.control import NewTable
from regions.counters import ApplyCounts
from regions.errors import ConditionalCheckFailed, ResourceInUse, ResourceNotFound, ValidationError
from regions.keys import encode_key
from regions.region import Region
from regions.settings import RegionSettings
from regions.store import KeyRange
from regions.versions import Version

pytestmark = pytest.mark.integration

HASH_RANGE = {
    "key_schema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "attribute_definitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
    ],
    "billing_mode": "PAY_PER_REQUEST",
}


async def _table(region: Region, name: str = "items", replicas: tuple[str, ...] = ()) -> None:
    await region.control.create_table(NewTable(name=name, **HASH_RANGE))  # type: ignore[arg-type]
    if replicas:
        tid, spec = await region.catalog.table(name)
        await region.catalog.save(tid, spec.with_replicas(tuple(Replica(r) for r in replicas)))


def _item(pk: str, sk: str, **attrs: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"N": sk}}
    item.update({k: {"S": str(v)} for k, v in attrs.items()})
    return item


async def _changes(region: Region) -> list[ChangeRecord]:
    async with region.store.read() as tx:
        tid, _ = await region.catalog.table("items")
        rows = []
        for part in range(4):
            rows += await tx.changes_after(tid, part, 0, 1000)
    return sorted(
        (ChangeRecord.decode_stored(r.record, r.seq, r.created_ms) for r in rows),
        key=lambda c: c.seq,
    )


async def test_put_get_delete_round_trip(region: Region) -> None:
    await _table(region)
    await region.data.put_item("items", _item("a", "1e3", color="red"))
    got = await region.data.get_item("items", {"pk": {"S": "a"}, "sk": {"N": "1000"}})
    assert got == {"pk": {"S": "a"}, "sk": {"N": "1000"}, "color": {"S": "red"}}
    out = await region.data.delete_item("items", {"pk": {"S": "a"}, "sk": {"N": "1000"}})
    assert out.old == got
    assert await region.data.get_item("items", {"pk": {"S": "a"}, "sk": {"N": "1000"}}) is None


async def test_every_write_logs_exactly_one_change_in_its_transaction(region: Region) -> None:
    await _table(region)
    await region.data.put_item("items", _item("a", "1", v=1))
    await region.data.put_item("items", _item("a", "1", v=2))
    await region.data.delete_item("items", {"pk": {"S": "a"}, "sk": {"N": "1"}})
    events = [c.event for c in await _changes(region)]
    assert events == ["INSERT", "MODIFY", "REMOVE"]
    pending = await region.data.pending_changes()
    assert [c.event for c in pending] == ["INSERT", "MODIFY", "REMOVE"]
    assert pending[1].old_image == _item("a", "1", v=1)


async def test_the_outbox_shared_by_nodes_gives_each_record_to_one_share(region: Region) -> None:
    """Nodes publishing side by side each read the records of their partitions
    (``part mod nodes == slot``): the shares are disjoint and together the outbox, each
    in log order, a batch limit counting within the share."""
    await _table(region)
    for i in range(40):
        await region.data.put_item("items", _item(f"k{i}", "1"))

    async def pending(limit: int, share: tuple[int, int] = (1, 0)) -> list[tuple[int, int]]:
        async with region.store.read() as tx:
            return [(c.seq, c.part) for c in await tx.pending_changes(limit, share)]

    everything = await pending(500)
    assert len(everything) == 40 and len({part for _, part in everything}) == 4
    for nodes in (2, 3):
        shares = [await pending(500, (nodes, slot)) for slot in range(nodes)]
        for slot, share in enumerate(shares):
            assert share and all(part % nodes == slot for _, part in share)
            assert share == sorted(share)
        assert sorted(seq for s in shares for seq, _ in s) == [seq for seq, _ in everything]
    assert await pending(3, (2, 1)) == (await pending(500, (2, 1)))[:3]
    # the data plane's view, as the publisher reads it
    records = await region.data.pending_changes(500, (2, 0))
    assert [r.seq for r in records] == [seq for seq, _ in await pending(500, (2, 0))]


async def test_noop_writes_log_nothing(region: Region) -> None:
    await _table(region)
    await region.data.put_item("items", _item("a", "1", v=1))
    await region.data.put_item("items", _item("a", "1.0", v=1))  # same item after canonicalisation
    await region.data.delete_item("items", {"pk": {"S": "zz"}, "sk": {"N": "9"}})  # missing item
    assert len(await _changes(region)) == 1


async def test_failed_condition_writes_nothing(region: Region) -> None:
    await _table(region)
    await region.data.put_item("items", _item("a", "1", v=1))
    with pytest.raises(ConditionalCheckFailed) as info:
        await region.data.put_item(
            "items", _item("a", "1", v=2), condition=lambda old: old is None, return_old_on_failure=True
        )
    assert info.value.item == _item("a", "1", v=1)
    assert await region.data.get_item("items", {"pk": {"S": "a"}, "sk": {"N": "1"}}) == _item("a", "1", v=1)
    assert len(await _changes(region)) == 1


async def test_outbox_failure_rolls_back_the_item(region: Region, monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariant 1: if the change record cannot be written, neither is the item."""
    from regions.store import sql

    await _table(region)

    async def boom(*_: Any, **__: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(sql.WriteTx, "log_change", boom)
    with pytest.raises(RuntimeError):
        await region.data.put_item("items", _item("a", "1"))
    monkeypatch.undo()
    assert await region.data.get_item("items", {"pk": {"S": "a"}, "sk": {"N": "1"}}) is None
    assert await _changes(region) == []


async def test_query_is_a_range_scan_in_numeric_order(region: Region) -> None:
    await _table(region)
    for sk in ["10", "2", "100", "-5", "0.5", "1e2"]:  # 1e2 == 100: overwrites
        await region.data.put_item("items", _item("p", sk))
    await region.data.put_item("items", _item("other", "3"))
    tid, spec = await region.catalog.table("items")
    enc = encode_key({"pk": {"S": "p"}, "sk": {"N": "0"}}, spec.key_schema, spec.partitions)
    async with region.store.read() as tx:
        rows = await tx.query(tid, enc.part, enc.hk, KeyRange())
        desc = await tx.query(tid, enc.part, enc.hk, KeyRange(low=enc.rk), forward=False)
    from regions.types import decode_item

    assert [decode_item(r.data or b"")["sk"]["N"] for r in rows] == ["-5", "0.5", "2", "10", "100"]
    assert [decode_item(r.data or b"")["sk"]["N"] for r in desc] == ["100", "10", "2", "0.5"]


async def test_scan_walks_every_partition_and_resumes(region: Region) -> None:
    await _table(region)
    for i in range(40):
        await region.data.put_item("items", _item(f"k{i}", str(i)))
    tid, _ = await region.catalog.table("items")
    seen: list[bytes] = []
    after = None
    async with region.store.read() as tx:
        while True:
            page = await tx.scan(tid, after=after, limit=7)
            if not page:
                break
            seen += [r.hk for r in page]
            after = (page[-1].part, page[-1].hk, page[-1].rk)
    assert len(seen) == 40 == len(set(seen))


def _remote(region: Region, item: dict[str, Any] | None, hlc: int, origin: str, keys: dict[str, Any]) -> ChangeRecord:
    tid_spec = region.catalog.tables["items"][1]
    return ChangeRecord(
        table="items",
        table_id=tid_spec.table_id,
        event="REMOVE" if item is None else "INSERT",
        keys=keys,
        new_image=item,
        old_image=None,
        version=Version(hlc, origin),
    )


async def test_lww_apply_newer_wins_older_and_duplicates_lose(region: Region) -> None:
    await _table(region, replicas=("eu-west-1", "us-east-1"))
    keys = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    base = region.clock.tick() + (1 << 30)
    newer = _remote(region, _item("a", "1", v="new"), base + 10, "eu-west-1", keys)
    older = _remote(region, _item("a", "1", v="old"), base + 5, "eu-west-1", keys)
    stats = await region.data.apply_remote([newer])
    assert stats.applied == 1
    stats = await region.data.apply_remote([older, newer])
    assert (stats.applied, stats.lost, stats.duplicates) == (0, 1, 1)
    assert await region.data.get_item("items", keys) == _item("a", "1", v="new")
    # applied changes are logged for streams but never re-published (no loops)
    assert [c.version.origin for c in await _changes(region)] == ["eu-west-1"]
    assert await region.data.pending_changes() == []
    # the clock observed the remote version: the next local write is newer
    await region.data.put_item("items", _item("a", "1", v="local"))
    assert (await region.data.pending_changes())[0].version > newer.version


async def test_apply_outcomes_name_each_record_in_order(region: Region) -> None:
    """One transaction for several sources: ``outcomes`` tells, per record, what the
    applier counts for that record's source -> destination pair."""
    await _table(region, replicas=("eu-west-1", "us-east-1", "ap-southeast-2"))
    a = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    b = {"pk": {"S": "b"}, "sk": {"N": "1"}}
    base = region.clock.tick() + (1 << 30)
    newer = _remote(region, _item("a", "1", v="eu"), base + 10, "eu-west-1", a)
    older = _remote(region, _item("a", "1", v="ap"), base + 5, "ap-southeast-2", a)
    echo = _remote(region, _item("b", "1"), base + 1, region.name, b)
    other = _remote(region, _item("b", "1", v="ap"), base + 2, "ap-southeast-2", b)
    outcomes: list[str] = ["left over"]
    stats = await region.data.apply_remote([newer, older, echo, newer, other], outcomes=outcomes)
    assert outcomes == ["applied", "lost", "skipped", "duplicate", "applied"]
    assert (stats.applied, stats.lost, stats.duplicates, stats.skipped) == (2, 1, 1, 1)
    assert await region.data.apply_remote([], outcomes=outcomes) == ApplyCounts()
    assert outcomes == []


async def test_tombstone_blocks_resurrection_by_an_older_write(region: Region) -> None:
    await _table(region, replicas=("eu-west-1", "us-east-1"))
    keys = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    base = region.clock.tick() + (1 << 30)
    await region.data.apply_remote([_remote(region, _item("a", "1"), base, "eu-west-1", keys)])
    await region.data.apply_remote([_remote(region, None, base + 2, "eu-west-1", keys)])
    stats = await region.data.apply_remote([_remote(region, _item("a", "1", v="late"), base + 1, "ap-southeast-2", keys)])
    assert stats.lost == 1
    assert await region.data.get_item("items", keys) is None


async def test_equal_hlc_ties_break_on_origin(region: Region) -> None:
    await _table(region, replicas=("ap-southeast-2", "eu-west-1", "us-east-1"))
    keys = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    hlc = region.clock.tick() + (1 << 30)
    await region.data.apply_remote([_remote(region, _item("a", "1", w="eu"), hlc, "eu-west-1", keys)])
    await region.data.apply_remote([_remote(region, _item("a", "1", w="ap"), hlc, "ap-southeast-2", keys)])
    assert (await region.data.get_item("items", keys) or {})["w"] == {"S": "eu"}


async def test_changes_for_tables_not_replicated_here_are_skipped(region: Region) -> None:
    await _table(region)  # not global
    keys = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    rec = _remote(region, _item("a", "1"), region.clock.tick() + 1, "eu-west-1", keys)
    assert (await region.data.apply_remote([rec])).skipped == 1
    assert (await region.data.apply_remote([replace(rec, table="nope")])).skipped == 1
    assert await region.data.get_item("items", keys) is None


async def test_concurrent_writers_serialise_per_item(region: Region) -> None:
    await _table(region)
    await asyncio.gather(*(region.data.put_item("items", _item("hot", "1", n=i)) for i in range(30)))
    changes = await _changes(region)
    assert len(changes) == 30
    versions = [c.version for c in changes]
    assert versions == sorted(versions)  # change-log order == version order per item
    final = await region.data.get_item("items", {"pk": {"S": "hot"}, "sk": {"N": "1"}})
    assert final == changes[-1].new_image


async def test_catalog_create_list_describe_delete(region: Region) -> None:
    for n in ["tab-c", "tab-a", "tab-b"]:
        await region.control.create_table(NewTable(name=n, **HASH_RANGE))  # type: ignore[arg-type]
    with pytest.raises(ResourceInUse):
        await region.control.create_table(NewTable(name="tab-a", **HASH_RANGE))  # type: ignore[arg-type]
    assert await region.control.list_tables(limit=2) == (["tab-a", "tab-b"], "tab-b")
    assert await region.control.list_tables(limit=2, start="tab-b") == (["tab-c"], None)
    await region.data.put_item("tab-a", _item("x", "1"))
    spec, count, size = await region.control.describe_table("tab-a")
    assert (spec.name, count) == ("tab-a", 1) and size > 0
    await region.control.delete_table("tab-a")
    with pytest.raises(ResourceNotFound):
        await region.control.describe_table("tab-a")
    # re-created under the same name: a new, empty table
    await region.control.create_table(NewTable(name="tab-a", **HASH_RANGE))  # type: ignore[arg-type]
    assert (await region.control.describe_table("tab-a"))[1] == 0


async def test_bad_input_changes_nothing(region: Region) -> None:
    await _table(region)
    bad = [
        {"pk": {"S": "a"}},  # missing sort key
        {"pk": {"N": "1"}, "sk": {"N": "1"}},  # key type mismatch
        {"pk": {"S": ""}, "sk": {"N": "1"}},  # empty key string
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "big": {"S": "x" * 409_600}},  # too large
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "s": {"SS": ["a", "a"]}},  # duplicate set
        {"pk": {"S": "a"}, "sk": {"N": "1e126"}},  # overflow
    ]
    for item in bad:
        with pytest.raises(ValidationError):
            await region.data.put_item("items", item)
    assert await _changes(region) == []


async def test_reopen_keeps_data_and_clock(store_url: str) -> None:
    r1 = Region(RegionSettings(name="us-east-1", store_url=store_url, partitions=4))
    await r1.open()
    await _table(r1)
    await r1.data.put_item("items", _item("a", "1"))
    last = (await r1.data.pending_changes())[-1].version
    await r1.close()
    r2 = Region(RegionSettings(name="us-east-1", store_url=store_url, partitions=16))
    await r2.open()
    # the table keeps the partition count it was created with
    assert (await r2.control.table_spec("items")).partitions == 4
    assert await r2.data.get_item("items", {"pk": {"S": "a"}, "sk": {"N": "1"}}) is not None
    await r2.data.put_item("items", _item("a", "1", v=2))
    assert (await r2.data.pending_changes())[-1].version > last
    await r2.close()


async def test_tombstones_and_changes_are_collected_after_the_horizon(store_url: str) -> None:
    r = Region(
        RegionSettings(
            name="us-east-1", store_url=store_url, partitions=4, tombstone_horizon_s=0, change_retention_s=0
        )
    )
    await r.open()
    await _table(r)
    await r.data.put_item("items", _item("a", "1"))
    await r.data.delete_item("items", {"pk": {"S": "a"}, "sk": {"N": "1"}})
    await r.data.mark_published([c.seq for c in await r.data.pending_changes()])
    await asyncio.sleep(0.01)
    tombs, trimmed = await r.data.housekeeping()
    assert (tombs, trimmed) == (1, 2)
    await r.close()


async def test_rows_and_a_meta_value_read_together(region: Region) -> None:
    """``get_rows_and_meta``: the items in the order asked (None for a missing one)
    and the meta value (None when the row is absent), in a write transaction as a
    write that checks the catalog epoch reads them."""
    await _table(region)
    await region.data.put_item("items", _item("a", "1", v=1))
    await region.data.put_item("items", _item("c", "1", v=3))
    tid, spec = await region.catalog.table("items")
    keys = []
    for pk in ("c", "b", "a"):
        enc = encode_key({"pk": {"S": pk}, "sk": {"N": "1"}}, spec.key_schema, spec.partitions)
        keys.append((tid, enc.part, enc.hk, enc.rk))
    async with region.store.write() as tx:
        await tx.set_meta("probe", "41")
    async with region.store.write() as tx:
        rows, value = await tx.get_rows_and_meta(keys, "probe")
        _, absent = await tx.get_rows_and_meta(keys[:1], "no such key")
    from regions.types import decode_item

    assert [decode_item(r.data or b"")["v"] if r is not None else None for r in rows] == [
        {"S": "3"},
        None,
        {"S": "1"},
    ]
    assert value == "41" and absent is None
