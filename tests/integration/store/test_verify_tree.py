"""The verifier's leaf sums in the store (gt_verify), on SQLite and PostgreSQL:
kept in the write's own transaction, equal to a recomputation from the rows,
independent of the partition count, rebuilt for tables that predate them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from regions import verification
from regions.catalog import Replica
from regions.changes import INSERT, REMOVE, ChangeRecord
from regions.control import NewTable
from regions.region import Region
from regions.settings import RegionSettings
from regions.store import schema as s
from regions.store import verify as store_verify
from regions.verify_tree import EMPTY, Leaf, bucket_of, build_tree, combine, row_digest
from regions.versions import Version

pytestmark = pytest.mark.integration

SCHEMA: dict[str, Any] = {
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
REPLICAS = ("us-east-1", "eu-west-1")


@pytest.fixture
def other_store_url(store_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A second, empty store of the same backend (another region)."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/other.db"
    factory: Callable[[], str] = request.getfixturevalue("postgres_db_factory")
    return factory().replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def other(other_store_url: str) -> AsyncIterator[Region]:
    # a different partition count from the `region` fixture's 4
    r = Region(RegionSettings(name="eu-west-1", store_url=other_store_url, partitions=7))
    await r.open()
    yield r
    await r.close()


async def _global(region: Region, name: str = "tbl") -> None:
    await region.control.create_table(NewTable(name=name, **SCHEMA))
    tid, spec = await region.control.table_ref(name)
    await region.catalog.save(tid, spec.with_replicas(tuple(Replica(r) for r in REPLICAS)))


def _item(pk: str, sk: int, **attrs: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
    item.update({k: {"S": str(v)} for k, v in attrs.items()})
    return item


async def _recomputed(region: Region, name: str = "tbl") -> dict[int, Leaf]:
    """The leaves computed from scratch from every stored row."""
    tid, _ = await region.control.table_ref(name)
    parts: list[tuple[int, Leaf]] = []
    async with region.store.read() as tx:
        cursor = None
        while rows := await tx.scan_all_rows(tid, after=cursor, limit=500):
            for r in rows:
                if r.data is not None:
                    digest = row_digest(r.hk, r.rk, r.version, r.data)
                    parts.append((bucket_of(r.hk, r.rk), Leaf().with_row(digest)))
            cursor = (rows[-1].part, rows[-1].hk, rows[-1].rk)
    return combine(parts)


async def _stored(region: Region, name: str = "tbl") -> dict[int, Leaf]:
    tid, _ = await region.control.table_ref(name)
    async with region.store.read() as tx:
        return await store_verify.read_leaves(tx.conn, tid)


def _remote(pk: str, sk: int, version: Version, **attrs: Any) -> ChangeRecord:
    return ChangeRecord(
        table="tbl",
        table_id="",
        event=INSERT,
        keys={"pk": {"S": pk}, "sk": {"N": str(sk)}},
        new_image=_item(pk, sk, **attrs),
        old_image=None,
        version=version,
    )


async def test_writes_keep_the_leaves_equal_to_a_recomputation(region: Region) -> None:
    await _global(region)
    _, spec = await region.control.table_ref("tbl")
    rnd = random.Random(5)
    for n in range(300):
        pk, sk = f"p{rnd.randrange(40)}", rnd.randrange(5)
        op = rnd.random()
        if op < 0.55:
            await region.data.put_item("tbl", _item(pk, sk, n=n))
        elif op < 0.7:
            await region.data.put_item("tbl", _item(pk, sk))  # often a no-op rewrite
        elif op < 0.85:
            await region.data.delete_item("tbl", {"pk": {"S": pk}, "sk": {"N": str(sk)}})
        else:
            # remote changes: newer ones apply, older ones lose, deletes of
            # absent items leave tombstones only
            hlc = max(region.clock.peek(), 1 << 40) + rnd.choice([-(10**9), 1000])
            rec = _remote(pk, sk, Version(hlc, "eu-west-1"), r=n)
            if rnd.random() < 0.3:
                rec = ChangeRecord(
                    rec.table, spec.table_id, REMOVE, rec.keys, None, None, rec.version
                )
            else:
                rec = ChangeRecord(
                    rec.table, spec.table_id, INSERT, rec.keys, rec.new_image, None, rec.version
                )
            await region.data.apply_remote([rec])
    stored = await _stored(region)
    assert stored == await _recomputed(region)
    assert stored, "the test wrote nothing"
    view = await verification.table_tree(region, "tbl")
    count, _ = (await region.control.describe_table("tbl"))[1:]
    assert view.tree.count == count


async def test_same_rows_same_tree_whatever_the_partition_count(
    region: Region, other: Region
) -> None:
    await _global(region)
    _, spec = await region.control.table_ref("tbl")
    await other.control.replicas.accept(spec)
    assert (await other.control.table_ref("tbl"))[1].partitions == 7
    for i in range(200):
        await region.data.put_item("tbl", _item(f"p{i % 37}", i, v=i))
    for i in range(0, 200, 9):
        await region.data.delete_item("tbl", {"pk": {"S": f"p{i % 37}"}, "sk": {"N": str(i)}})
    # ship every row, versions included, as the backfill does
    tid, _ = await region.control.table_ref("tbl")
    async with region.store.read() as tx:
        rows = await tx.scan_all_rows(tid, limit=10_000)
    from regions.keys import decode_key
    from regions.types import decode_item

    await other.data.apply_remote(
        [
            ChangeRecord(
                "tbl",
                spec.table_id,
                INSERT if r.data else REMOVE,
                decode_key(r.hk, r.rk, spec.key_schema),
                decode_item(r.data) if r.data else None,
                None,
                r.version,
            )
            for r in rows
        ]
    )
    a = await verification.table_tree(region, "tbl")
    b = await verification.table_tree(other, "tbl")
    assert a.tree.root != EMPTY
    assert a.tree == b.tree
    # one more write on one side changes the root
    await other.data.put_item("tbl", _item("p1", 1, v="changed"))
    assert (await verification.table_tree(other, "tbl")).tree.root != a.tree.root


async def test_a_table_without_leaves_is_rebuilt_once(region: Region) -> None:
    await _global(region)
    for i in range(120):
        await region.data.put_item("tbl", _item(f"p{i % 11}", i))
    expected = await verification.table_tree(region, "tbl")
    tid, _ = await region.control.table_ref("tbl")
    # as if the table predated the verifier: no marker, no (or wrong) leaves
    async with region.store.write() as tx:
        await tx.conn.execute(delete(s.meta).where(s.meta.c.key == f"verify_tree.{tid}"))
        await tx.conn.execute(
            update(s.verify_buckets).where(s.verify_buckets.c.tid == tid).values(live=99)
        )
    async with region.store.read() as tx:
        assert not await store_verify.is_ready(tx.conn, tid)
    assert (await verification.table_tree(region, "tbl")).tree == expected.tree
    async with region.store.read() as tx:
        assert await store_verify.is_ready(tx.conn, tid)


async def test_rehash_recomputes_from_rows(region: Region) -> None:
    await _global(region)
    for i in range(50):
        await region.data.put_item("tbl", _item("p", i))
    before = await verification.table_tree(region, "tbl")
    tid, _ = await region.control.table_ref("tbl")
    # a row changed behind the store's back: the kept sums cannot know
    async with region.store.write() as tx:
        i = s.items.c
        await tx.conn.execute(
            update(s.items).where(i.tid == tid).values(data=b'{"pk":{"S":"p"},"sk":{"N":"0"}}')
        )
    assert (await verification.table_tree(region, "tbl")).tree == before.tree
    assert await verification.rebuild_leaves(region, "tbl") == 50
    assert (await verification.table_tree(region, "tbl")).tree != before.tree
    assert await _stored(region) == await _recomputed(region)


async def test_dropping_a_table_drops_its_leaves(region: Region) -> None:
    await _global(region, "gone")
    for i in range(30):
        await region.data.put_item("gone", _item("p", i))
    tid, _ = await region.control.table_ref("gone")
    await region.control.delete_table("gone")
    async with region.store.read() as tx:
        left = await tx.conn.execute(
            select(s.verify_buckets.c.bucket).where(s.verify_buckets.c.tid == tid)
        )
        assert left.all() == []
        assert not await store_verify.is_ready(tx.conn, tid)
    # a new table (its number may be reused) starts empty and ready
    await _global(region, "fresh")
    view = await verification.table_tree(region, "fresh")
    assert view.tree.root == EMPTY and view.tree.count == 0


async def test_bucket_pages_hold_items_and_tombstones_of_the_buckets(region: Region) -> None:
    await _global(region)
    for i in range(400):
        await region.data.put_item("tbl", _item(f"p{i % 23}", i))
    for i in range(0, 400, 4):
        await region.data.delete_item("tbl", {"pk": {"S": f"p{i % 23}"}, "sk": {"N": str(i)}})
    tid, _ = await region.control.table_ref("tbl")
    async with region.store.read() as tx:
        rows = await tx.scan_all_rows(tid, limit=10_000)
    assert len(rows) == 400
    for wanted in ({bucket_of(r.hk, r.rk) for r in rows[:5]}, set(range(0, 4096, 2))):
        expect = sorted(
            (r.part, r.hk, r.rk, r.version, r.data) for r in rows if bucket_of(r.hk, r.rk) in wanted
        )
        got = []
        after = None
        pages = 0
        while True:
            page = await verification.bucket_page(region, "tbl", wanted, after=after, limit=3)
            assert (page.total is not None) == (after is None)
            got += [(r.part, r.hk, r.rk, r.version, r.data) for r in page.rows]
            pages += 1
            if page.next is None:
                break
            after = page.next
        assert sorted(got) == expect
        assert any(d is None for *_, d in got), "tombstones are listed too"
        assert pages > 1


async def test_repair_apply_takes_back_an_own_version(region: Region) -> None:
    """A region that lost its own write takes it back from a peer (repair only)."""
    await _global(region)
    _, spec = await region.control.table_ref("tbl")
    own = ChangeRecord(
        "tbl",
        spec.table_id,
        INSERT,
        {"pk": {"S": "lost"}, "sk": {"N": "1"}},
        _item("lost", 1),
        None,
        Version(region.clock.peek() + 5, region.name),
    )
    stats = await region.data.apply_remote([own])
    assert (stats.applied, stats.skipped) == (0, 1)
    stats = await region.data.apply_remote([own], repair=True)
    assert stats.applied == 1
    assert await region.data.get_item("tbl", own.keys) == _item("lost", 1)
    # applied, not re-published: nothing pending for Kafka
    assert [c for c in await region.data.pending_changes() if c.keys == own.keys] == []
    assert build_tree(await _stored(region)).count == 1


async def test_a_walk_reads_one_snapshot(region: Region) -> None:
    """The levels of one walk come from the tree built for its root, even if a
    write lands in between; a new walk sees the write."""
    await _global(region)
    await region.data.put_item("tbl", _item("p", 1))
    first = await verification.table_tree(region, "tbl")
    await region.data.put_item("tbl", _item("p", 2))
    again = await verification.table_tree(region, "tbl", first.snapshot)
    assert again.snapshot == first.snapshot and again.tree == first.tree
    fresh = await verification.table_tree(region, "tbl")
    assert fresh.snapshot != first.snapshot and fresh.tree.count == 2
    # an unknown (expired) snapshot gets a new tree, not an error
    assert (await verification.table_tree(region, "tbl", "gone")).tree == fresh.tree
