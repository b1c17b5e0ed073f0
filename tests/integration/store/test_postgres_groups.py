"""The PostgreSQL store's group commit (regions/store/postgres_groups.py): concurrent
write blocks share one transaction and its round trips.  A real local cluster, real
regions, checks made on connections of their own; no mocks.

That writes really shared transactions is read from PostgreSQL itself: ``xmin`` of a
row is the transaction that wrote it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from regions.control.table_changes import NewTable
from regions.data.ops import Update
from regions.errors import ConditionalCheckFailed, InternalError
from regions.expressions.legacy import attribute_updates_to_update
from regions.keys import EncodedKey, encode_key
from regions.region import Region
from regions.settings import RegionSettings
from regions.store import postgres_pool as _pool
from regions.store import verify as store_verify
from regions.store.postgres_groups import _INDEX_DELS, _INDEX_KEY_TYPES, _WHICH_LOCKS
from regions.store.postgres_pool import GET_ROWS
from regions.store.postgres_store import PostgresStore
from regions.versions import Version
from tests.integration.store.test_region_store import _changes, _item, _table

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_url(postgres_db_factory: Callable[[], str]) -> str:
    return postgres_db_factory().replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def pg_region(pg_url: str) -> AsyncIterator[Region]:
    r = Region(RegionSettings(name="us-east-1", store_url=pg_url, partitions=4))
    await r.open()
    assert isinstance(r.store, PostgresStore)
    await _table(r)
    yield r
    await r.close()


async def _fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """On a connection of its own: what any other client sees (committed data)."""
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


async def _key(region: Region, pk: str, sk: str = "1") -> tuple[int, EncodedKey]:
    tid, spec = await region.catalog.table("items")
    return tid, encode_key({"pk": {"S": pk}, "sk": {"N": sk}}, spec.key_schema, spec.partitions)


async def _stored(url: str, tid: int) -> tuple[int, int, int]:
    """(live items, transactions that wrote them, change records) of table ``tid``."""
    items = await _fetch(
        url,
        "SELECT count(*) AS n, count(DISTINCT xmin::text) AS tx FROM gt_items "
        "WHERE tid = $1 AND data IS NOT NULL",
        tid,
    )
    changes = await _fetch(url, "SELECT count(*) AS n FROM gt_changes WHERE tid = $1", tid)
    return int(items[0]["n"]), int(items[0]["tx"]), int(changes[0]["n"])


async def test_concurrent_writes_are_all_committed_in_shared_transactions(
    pg_region: Region, pg_url: str
) -> None:
    region = pg_region
    await asyncio.gather(
        *(region.data.put_item("items", _item(f"k{i}", str(i), n=i)) for i in range(64))
    )
    tid, _ = await _key(region, "k0")
    live, transactions, logged = await _stored(pg_url, tid)
    # every acknowledged write is committed: a new connection sees each, with its record
    assert live == 64 and logged == 64
    # ...and they were not 64 transactions
    assert transactions < 32
    # the verifier's leaves, kept by batched additive upserts, match the rows
    async with region.store.read() as tx:
        leaves = await store_verify.read_leaves(tx.conn, tid)
    async with region.store.write() as wtx:
        for part in range(4):
            await store_verify.rebuild_partition(wtx.conn, tid, part)
    async with region.store.read() as tx:
        assert await store_verify.read_leaves(tx.conn, tid) == leaves


async def test_a_failing_member_leaves_the_others_committed(pg_region: Region, pg_url: str) -> None:
    region = pg_region
    await region.data.put_item("items", _item("taken", "1"))

    async def put(i: int) -> str:
        # every third write is a conditional put that must fail
        key = "taken" if i % 3 == 0 else f"k{i}"
        try:
            await region.data.put_item(
                "items", _item(key, "1", n=i), condition=lambda old: old is None
            )
        except ConditionalCheckFailed:
            return "failed"
        return "ok"

    outcomes = await asyncio.gather(*(put(i) for i in range(30)))
    assert outcomes.count("failed") == 10
    tid, _ = await _key(region, "taken")
    live, transactions, logged = await _stored(pg_url, tid)
    assert live == 1 + 20 and logged == 1 + 20
    assert transactions < 20  # the failed ones shared transactions with the others


async def test_a_body_raising_before_its_writes_went_out_fails_alone(
    pg_region: Region, pg_url: str
) -> None:
    region = pg_region
    tid, enc = await _key(region, "lost")

    async def failing() -> None:
        async with region.store.write() as tx:
            await tx.lock_partition(tid, enc.part)
            row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
            await tx.put_row(tid, enc.part, enc.hk, enc.rk, Version(1, "x"), b"{}", 2, 0, prev=row)
            await tx.set_meta("lost", "1")
            raise RuntimeError("the body fails after writing (held writes)")

    results = await asyncio.gather(
        failing(),
        *(region.data.put_item("items", _item(f"k{i}", "1")) for i in range(10)),
        return_exceptions=True,
    )
    assert isinstance(results[0], RuntimeError)
    assert not any(isinstance(r, BaseException) for r in results[1:])
    live, transactions, logged = await _stored(pg_url, tid)
    assert live == 10 and logged == 10 and transactions < 10
    assert await _fetch(pg_url, "SELECT 1 FROM gt_meta WHERE key = 'lost'") == []


async def test_a_body_raising_after_its_writes_went_out_fails_its_whole_group(
    pg_region: Region, pg_url: str
) -> None:
    """The case group commit does not isolate (module docstring): the change record
    went out with the row, so the group's transaction is rolled back and every member
    of it fails; nothing of it is committed, nothing acknowledged."""
    region = pg_region
    tid, enc = await _key(region, "exposed")

    async def failing() -> None:
        async with region.store.write() as tx:
            await tx.lock_partition(tid, enc.part)
            await tx.put_row(tid, enc.part, enc.hk, enc.rk, Version(1, "x"), b"{}", 2, 0, prev=None)
            await tx.append_change(tid, enc.part, "INSERT", Version(1, "x"), b"r", 0, False)
            raise RuntimeError("the body fails after its change record was written")

    # started in the same loop pass: members of one group
    results = await asyncio.gather(
        failing(), region.data.put_item("items", _item("other", "1")), return_exceptions=True
    )
    assert isinstance(results[0], RuntimeError)
    assert isinstance(results[1], InternalError)
    assert await _stored(pg_url, tid) == (0, 0, 0)
    # the store goes on: the next write commits
    await region.data.put_item("items", _item("other", "1"))
    assert (await _stored(pg_url, tid))[0] == 1


async def test_writes_of_one_item_take_turns(pg_region: Region) -> None:
    """Forty concurrent increments of one item (one partition): each write after
    another one moves to the next group, and reads what the one before it wrote."""
    region = pg_region
    key = {"pk": {"S": "counter"}, "sk": {"N": "1"}}
    add = attribute_updates_to_update({"n": {"Action": "ADD", "Value": {"N": "1"}}})
    await asyncio.gather(
        *(
            region.data.commit_one(Update("items", key=key, attribute_updates=add))
            for _ in range(40)
        )
    )
    got = await region.data.get_item("items", key)
    assert got is not None and got["n"] == {"N": "40"}
    tid, enc = await _key(region, "counter")
    async with region.store.read() as tx:
        records = await tx.changes_after(tid, enc.part, 0, 100)
    assert len(records) == 40
    assert [r.seq for r in records] == sorted(r.seq for r in records)


async def test_a_member_that_read_under_a_lock_waits_for_a_partition_in_its_group(
    pg_region: Region, pg_url: str
) -> None:
    """A write that locks a partition after reading under another lock cannot move to
    the next group: it waits for the member holding that partition to end, then reads
    what it wrote, and both commit in the same transaction."""
    region = pg_region
    tid, a = await _key(region, "first")
    keys = [(await _key(region, f"second{i}"))[1] for i in range(40)]
    b = next(e for e in keys if e.part != a.part)
    seen: list[bytes | None] = []

    async def first() -> None:
        async with region.store.write() as tx:
            await tx.lock_partition(tid, a.part)
            row = await tx.get_row(tid, a.part, a.hk, a.rk)
            await tx.put_row(tid, a.part, a.hk, a.rk, Version(5, "x"), b"first", 5, 0, prev=row)
            await asyncio.sleep(0.05)  # still holding its partition when the other asks

    async def second() -> None:
        async with region.store.write() as tx:
            await tx.lock_partition(tid, b.part)
            await tx.get_row(tid, b.part, b.hk, b.rk)
            await tx.lock_partition(tid, a.part)
            row = await tx.get_row(tid, a.part, a.hk, a.rk)
            seen.append(row.data if row is not None else None)
            await tx.set_meta("second", "done")

    await asyncio.gather(first(), second())
    assert seen == [b"first"]
    item = await _fetch(pg_url, "SELECT xmin::text AS tx FROM gt_items WHERE hk = $1", a.hk)
    meta = await _fetch(pg_url, "SELECT xmin::text AS tx FROM gt_meta WHERE key = 'second'")
    assert item[0]["tx"] == meta[0]["tx"]


async def test_a_partition_locked_elsewhere_delays_only_its_own_writes(
    pg_region: Region, pg_url: str
) -> None:
    """Another transaction (another process, another node) holds one partition's
    lock: the write to it leaves the group and waits on its own, the group commits."""
    region = pg_region
    tid, enc = await _key(region, "blocked")
    others: list[str] = []
    for i in range(40):  # keys of the other partitions
        _, e = await _key(region, f"free{i}")
        if e.part != enc.part:
            others.append(f"free{i}")
    holder = await asyncpg.connect(pg_url)
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT pg_advisory_xact_lock($1, $2)", tid, enc.part)
        blocked = asyncio.create_task(region.data.put_item("items", _item("blocked", "1")))
        free = asyncio.gather(*(region.data.put_item("items", _item(k, "1")) for k in others))
        await asyncio.wait_for(free, 20)
        await asyncio.sleep(0.2)
        assert not blocked.done()
        assert (await _stored(pg_url, tid))[0] == len(others)
        await holder.execute("COMMIT")
        await asyncio.wait_for(blocked, 20)
    finally:
        await holder.close()
    assert await region.data.get_item("items", {"pk": {"S": "blocked"}, "sk": {"N": "1"}})


async def test_a_partition_held_elsewhere_for_a_moment_is_tried_again_in_the_next_group(
    pg_region: Region, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another node's group holds a partition for a few milliseconds: the write to it
    moves to the next group, which finds the lock free, instead of a transaction of
    its own waiting for the lock (four more round trips and a commit)."""
    region = pg_region
    tid, enc = await _key(region, "held")
    others: list[str] = []
    for i in range(40):
        _, e = await _key(region, f"other{i}")
        if e.part != enc.part:
            others.append(f"other{i}")
    holder = await asyncpg.connect(pg_url)
    sent: list[str] = []
    round_trip = _pool._AsyncpgDriver._round_trip

    async def released_after_the_first_refusal(
        self: _pool._AsyncpgDriver, how: str, sql: str, args: Any
    ) -> Any:
        sent.append(sql)
        answer = await round_trip(self, how, sql, args)
        if sql == _WHICH_LOCKS and holder.is_in_transaction():
            await holder.execute("COMMIT")  # before the next group starts
        return answer

    monkeypatch.setattr(_pool._AsyncpgDriver, "_round_trip", released_after_the_first_refusal)
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT pg_advisory_xact_lock($1, $2)", tid, enc.part)
        await asyncio.wait_for(
            asyncio.gather(
                region.data.put_item("items", _item("held", "1", v=1)),
                *(region.data.put_item("items", _item(k, "1")) for k in others),
            ),
            20,
        )
    finally:
        await holder.close()
    assert sent.count(_WHICH_LOCKS) == 1  # refused once, then taken
    assert not [s for s in sent if "pg_advisory_xact_lock(" in s and "try" not in s]
    assert await region.data.get_item("items", {"pk": {"S": "held"}, "sk": {"N": "1"}}) == _item(
        "held", "1", v=1
    )


async def test_a_member_reads_its_own_writes(pg_region: Region) -> None:
    region = pg_region

    async def member(i: int) -> tuple[str | None, str | None]:
        async with region.store.write() as tx:
            before = await tx.get_meta(f"m{i}")
            await tx.set_meta(f"m{i}", str(i))
            return before, await tx.get_meta(f"m{i}")

    seen = await asyncio.gather(*(member(i) for i in range(8)))
    assert seen == [(None, str(i)) for i in range(8)]


async def test_members_share_a_partition_item_by_item(pg_region: Region, pg_url: str) -> None:
    """Writes of different items of one partition run side by side in one group."""
    region = pg_region
    tid, first = await _key(region, "same0")
    keys = [
        f"same{i}" for i in range(200) if (await _key(region, f"same{i}"))[1].part == first.part
    ]
    await asyncio.gather(*(region.data.put_item("items", _item(k, "1")) for k in keys[:12]))
    live, transactions, logged = await _stored(pg_url, tid)
    assert live == logged == 12
    assert transactions < 12


async def test_a_statement_beyond_items_has_the_partition_to_itself(pg_region: Region) -> None:
    """After a lock, a statement that is not an item's read or write (here a meta row,
    as a transaction token is kept) may depend on the whole partition: two writes that
    read-modify-write it under the same lock never interleave."""
    region = pg_region

    async def increment() -> None:
        async with region.store.write() as tx:
            await tx.lock_partition(-5, 1)
            value = int(await tx.get_meta("counter") or 0)
            await tx.set_meta("counter", str(value + 1))

    await asyncio.gather(*(increment() for _ in range(20)))
    async with region.store.read() as tx:
        assert await tx.get_meta("counter") == "20"


async def test_point_reads_probe_the_index_even_with_a_plan_made_on_an_empty_table(
    pg_region: Region, pg_url: str
) -> None:
    """A prepared statement keeps its generic plan as the table grows.  Made on a new
    table (no statistics yet), a flattened LATERAL read was a hash join over a
    sequential scan of every row: each group's reads then scanned the whole table."""
    del pg_region  # its schema, empty
    statements = {
        "GET_ROWS": GET_ROWS,
        "_INDEX_DELS": _INDEX_DELS.format(
            *(f"${i}::{kind}[]" for i, kind in enumerate(_INDEX_KEY_TYPES, 1))
        ),
    }
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        for name, sql in statements.items():
            explain = await conn.prepare(f"EXPLAIN {sql}")
            params = len(set(re.findall(r"\$\d+", sql)))
            plan = "\n".join(r[0] for r in await explain.fetch(*([[]] * params)))
            assert "Seq Scan" not in plan and "Hash" not in plan, f"{name}:\n{plan}"
            assert "Index Scan" in plan, f"{name}:\n{plan}"
    finally:
        await conn.close()


async def test_index_entries_follow_concurrent_puts_moves_and_deletes(
    pg_region: Region, pg_url: str
) -> None:
    """A GSI's entries, written and deleted in groups (``_INDEX_PUTS``/``_INDEX_DELS``):
    after concurrent puts, puts that move an item to another index key, and deletes,
    the index holds exactly one entry per live item, under its latest key."""
    region = pg_region
    key_schema = [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    attributes = [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "g", "AttributeType": "S"},
    ]
    by_g = {
        "IndexName": "by-g",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    await region.control.create_table(
        NewTable(
            name="indexed",
            key_schema=key_schema,
            attribute_definitions=attributes,
            billing_mode="PAY_PER_REQUEST",
            global_indexes=[by_g],
        )
    )
    tid, _ = await region.catalog.table("indexed")
    await asyncio.gather(
        *(region.data.put_item("indexed", _item(f"k{i}", "1", g="a")) for i in range(24))
    )
    await asyncio.gather(
        *(region.data.put_item("indexed", _item(f"k{i}", "1", g="b")) for i in range(12))
    )
    await asyncio.gather(
        *(
            region.data.delete_item("indexed", {"pk": {"S": f"k{i}"}, "sk": {"N": "1"}})
            for i in range(6, 18)
        )
    )
    rows = await _fetch(pg_url, "SELECT hk, tk FROM gt_index WHERE tid = $1", tid)
    assert len(rows) == 12  # k0-k5 under "b", k18-k23 under "a"
    assert len({bytes(r["hk"]) for r in rows}) == 2


async def test_a_shared_regions_writes_read_the_catalog_epoch_with_their_items(
    pg_region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where other nodes share the store, every write checks the catalog epoch in its
    transaction.  The check rides on the items' read, so a group of PutItems costs
    four round trips (BEGIN with the locks, the read, the writes, COMMIT), not six
    (a BEGIN alone and the epoch's own read before the locks)."""
    region = pg_region
    region.catalog.multi_node = True
    sent: list[str] = []
    round_trip = _pool._AsyncpgDriver._round_trip

    async def counted(self: _pool._AsyncpgDriver, how: str, sql: str, args: Any) -> Any:
        sent.append(sql)
        return await round_trip(self, how, sql, args)

    monkeypatch.setattr(_pool._AsyncpgDriver, "_round_trip", counted)
    await asyncio.gather(
        *(region.data.put_item("items", _item(f"e{i}", str(i))) for i in range(16))
    )
    commits = sent.count("COMMIT")
    assert commits >= 1
    assert not [s for s in sent if "FROM gt_meta WHERE key" in s]
    assert sum(1 for s in sent if s.startswith("BEGIN")) == commits  # with the locks
    assert len(sent) == 4 * commits


async def test_a_write_after_another_node_changed_the_catalog_writes_under_the_new_one(
    pg_region: Region, pg_url: str
) -> None:
    """The epoch read with the items still catches a catalog change made elsewhere:
    the write reloads the catalog and goes through under it."""
    region = pg_region
    region.catalog.multi_node = True
    before = region.catalog.epoch
    conn = await asyncpg.connect(pg_url)
    try:
        # what another node's spec change leaves behind: the stored epoch moved on
        await conn.execute(
            "UPDATE gt_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
            "WHERE key = 'catalog_epoch'"
        )
    finally:
        await conn.close()
    await region.data.put_item("items", _item("after", "1", v=1))
    assert region.catalog.epoch == before + 1
    assert await region.data.get_item("items", {"pk": {"S": "after"}, "sk": {"N": "1"}}) == _item(
        "after", "1", v=1
    )


async def _changes_toast(url: str) -> tuple[list[str], int]:
    """gt_changes' storage options, and the size of its TOAST table in bytes."""
    rows = await _fetch(
        url,
        "SELECT c.reloptions AS options, pg_relation_size(c.reltoastrelid) AS toast "
        "FROM pg_class AS c WHERE c.oid = 'gt_changes'::regclass",
    )
    return list(rows[0]["options"] or []), int(rows[0]["toast"])


async def test_change_records_of_a_few_kilobytes_stay_in_their_row(
    pg_region: Region, pg_url: str
) -> None:
    """A change record carries the item's images, so a 1 KB item written over another
    makes a record past PostgreSQL's default TOAST threshold (about 2 KB): it was
    compressed in vain and moved to the TOAST table in chunks, which doubled the time
    of a group's write statement.  Records up to 8 KB now stay in the table's own
    pages; larger ones are still toasted, and every record reads back whole."""
    region = pg_region
    options, toast = await _changes_toast(pg_url)
    assert toast == 0
    assert "toast_tuple_target=8160" in options
    payloads = {f"t{i}": secrets.token_hex(1100) for i in range(8)}
    await asyncio.gather(
        *(region.data.put_item("items", _item(pk, "1", blob=v)) for pk, v in payloads.items())
    )
    records = await _fetch(pg_url, "SELECT octet_length(record) AS n FROM gt_changes")
    assert min(int(r["n"]) for r in records) > 2100  # past the default threshold
    assert (await _changes_toast(pg_url))[1] == 0
    big = secrets.token_hex(12_000)
    await region.data.put_item("items", _item("big", "1", blob=big))
    assert (await _changes_toast(pg_url))[1] > 0  # a 24 KB record is toasted as before
    changes = await _changes(region)
    blobs = {c.keys["pk"]["S"]: (c.new_image or {}).get("blob", {}).get("S") for c in changes}
    assert blobs == {**payloads, "big": big}


async def test_a_database_made_before_the_setting_gets_it_when_a_region_opens_it(
    pg_url: str,
) -> None:
    first = Region(RegionSettings(name="us-east-1", store_url=pg_url, partitions=4))
    await first.open()
    await first.close()
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("ALTER TABLE gt_changes RESET (toast_tuple_target)")
    finally:
        await conn.close()
    assert (await _changes_toast(pg_url))[0] == []
    again = Region(RegionSettings(name="us-east-1", store_url=pg_url, partitions=4))
    await again.open()
    try:
        assert (await _changes_toast(pg_url))[0] == ["toast_tuple_target=8160"]
    finally:
        await again.close()


async def test_increments_through_two_nodes_lose_nothing(pg_url: str) -> None:
    """Two nodes of one region on one database add to the same few items at once,
    their groups taking turns on the partitions' advisory locks: every increment is
    counted (each read under a lock sees what the other node's group committed under
    it).  A member refused a lock by the other node's group must move on without
    waiting inside its group, or the two groups deadlock."""
    nodes = [
        Region(RegionSettings(name="us-east-1", store_url=pg_url, partitions=4, node_id=n))
        for n in ("n1", "n2")
    ]
    for node in nodes:
        await node.open()
    try:
        await _table(nodes[0])
        await nodes[1].catalog.load()
        add = attribute_updates_to_update({"n": {"Action": "ADD", "Value": {"N": "1"}}})
        keys = [{"pk": {"S": f"c{i}"}, "sk": {"N": "1"}} for i in range(3)]

        async def writer(node: Region, w: int) -> None:
            for i in range(10):
                key = keys[(w + i) % len(keys)]
                await node.data.commit_one(Update("items", key=key, attribute_updates=add))

        await asyncio.wait_for(
            asyncio.gather(*(writer(node, w) for node in nodes for w in range(8))), 120
        )
        total = 0
        for key in keys:
            got = await nodes[1].data.get_item("items", key)
            assert got is not None
            total += int(got["n"]["N"])
        assert total == 2 * 8 * 10
    finally:
        for node in nodes:
            await node.close()
