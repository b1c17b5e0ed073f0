"""The SQLite store's direct path (regions/store/sqlite_store.py): group commit,
another process holding the write lock, snapshot reads, and the SQL it shares
with the SQLAlchemy path.  Real files, real sqlite3 connections, no mocks."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from pathlib import Path

import pytest

from regions.control import NewTable
from regions.errors import ConditionalCheckFailed
from regions.keys import encode_key
from regions.region import Region
from regions.settings import RegionSettings
from regions.store import KeyRange
from regions.store.sqlite_store import SqliteStore
from tests.integration.store.test_region_store import HASH_RANGE, _item, _table

pytestmark = pytest.mark.integration

KEY = {"pk": {"S": "a"}, "sk": {"N": "1"}}


@pytest.fixture
async def sqlite_region(tmp_path: Path) -> Region:
    r = Region(
        RegionSettings(name="us-east-1", store_url=f"sqlite:///{tmp_path}/r.db", partitions=4)
    )
    await r.open()
    assert isinstance(r.store, SqliteStore)
    yield r  # type: ignore[misc]
    await r.close()


async def test_a_failing_member_of_a_group_leaves_the_others_committed(
    sqlite_region: Region,
) -> None:
    region = sqlite_region
    await _table(region)
    await region.data.put_item("items", _item("taken", "1"))

    async def put(i: int) -> str:
        # every third write is a conditional put that must fail
        key = "taken" if i % 3 == 0 else f"k{i}"
        try:
            await region.data.put_item("items", _item(key, "1", n=i), condition=lambda old: old is None)
        except ConditionalCheckFailed:
            return "failed"
        return "ok"

    outcomes = await asyncio.gather(*(put(i) for i in range(30)))
    assert outcomes.count("failed") == 10
    # nothing of the failed members, everything of the others, in the file itself
    raw = sqlite3.connect(region.store.path)  # type: ignore[attr-defined]
    try:
        live = raw.execute("SELECT count(*) FROM gt_items WHERE data IS NOT NULL").fetchone()[0]
        logged = raw.execute("SELECT count(*) FROM gt_changes").fetchone()[0]
    finally:
        raw.close()
    assert live == 1 + 20
    assert logged == 1 + 20


async def test_a_write_waits_for_another_process_without_blocking_the_loop(
    sqlite_region: Region,
) -> None:
    region = sqlite_region
    await _table(region)
    other = sqlite3.connect(region.store.path, isolation_level=None)  # type: ignore[attr-defined]
    other.execute("BEGIN IMMEDIATE")  # another process holds the database write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    write = asyncio.create_task(region.data.put_item("items", _item("a", "1")))
    await asyncio.sleep(0.5)
    assert not write.done()  # it waits for the lock...
    assert ticks >= 20  # ...while the event loop keeps running
    other.execute("COMMIT")
    started = time.monotonic()
    await asyncio.wait_for(write, 10)
    assert time.monotonic() - started < 5
    tick_task.cancel()
    other.close()
    assert await region.data.get_item("items", KEY) == _item("a", "1")


async def test_a_read_block_is_one_snapshot(sqlite_region: Region) -> None:
    region = sqlite_region
    await _table(region)
    await region.data.put_item("items", _item("a", "1", v="old"))
    tid, spec = await region.catalog.table("items")
    enc = encode_key(KEY, spec.key_schema, spec.partitions)
    async with region.store.read(snapshot=True) as tx:
        first = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
        # a write commits while the read block is open
        await region.data.put_item("items", _item("a", "1", v="new"))
        again = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
        rows = await tx.query(tid, enc.part, enc.hk, KeyRange())
    assert first == again and [r.data for r in rows] == [first.data if first else None]
    assert await region.data.get_item("items", KEY) == _item("a", "1", v="new")


async def test_a_read_without_snapshot_sees_each_commit_and_leaves_no_transaction(
    sqlite_region: Region,
) -> None:
    """Without ``snapshot`` a read block runs in autocommit, as PostgreSQL's does:
    each statement sees what is committed when it runs, and the pooled connection
    goes back idle, holding no read lock on an old snapshot."""
    region = sqlite_region
    await _table(region)
    await region.data.put_item("items", _item("a", "1", v="old"))
    tid, spec = await region.catalog.table("items")
    enc = encode_key(KEY, spec.key_schema, spec.partitions)
    store = region.store
    assert isinstance(store, SqliteStore)
    async with store.read() as tx:
        first = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
        await region.data.put_item("items", _item("a", "1", v="new"))
        again = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
    assert first is not None and again is not None and first.data != again.data
    assert store._idle and not any(conn.raw.in_transaction for conn in store._idle)


async def test_the_file_is_readable_by_the_sqlalchemy_path(tmp_path: Path) -> None:
    """Both paths write the same rows: a store written by the direct path reads
    back the same through plain SQLAlchemy statements (the verifier's rebuild)."""
    url = f"sqlite:///{tmp_path}/r.db"
    region = Region(RegionSettings(name="us-east-1", store_url=url, partitions=4))
    await region.open()
    try:
        await region.control.create_table(NewTable(name="items", **HASH_RANGE))  # type: ignore[arg-type]
        for i in range(50):
            await region.data.put_item("items", _item(f"p{i % 5}", str(i), n=i))
        for i in range(0, 50, 7):
            await region.data.delete_item("items", {"pk": {"S": f"p{i % 5}"}, "sk": {"N": str(i)}})
        tid, _ = await region.catalog.table("items")
        from regions.store import verify as store_verify

        async with region.store.read() as tx:
            leaves = await store_verify.read_leaves(tx.conn, tid)
        async with region.store.write() as tx:
            for part in range(4):
                await store_verify.rebuild_partition(tx.conn, tid, part)
        async with region.store.read() as tx:
            rebuilt = await store_verify.read_leaves(tx.conn, tid)
        # the leaves kept incrementally by the direct path == recomputed from the rows
        assert leaves == rebuilt
        assert sum(leaf.count for leaf in rebuilt.values()) == 50 - len(range(0, 50, 7))
    finally:
        await region.close()


@pytest.mark.parametrize("shared", [False, True])
async def test_processes_sharing_the_file_take_turns_at_writing(
    tmp_path: Path, shared: bool
) -> None:
    """Two regions on one file stand for two processes of a region (--workers): the
    writer turn (a flock on ``<db>-writer.lock``, per open file) keeps the second out
    until the first has committed, and then lets it in at once."""
    url = f"sqlite:///{tmp_path}/r.db"
    first = Region(RegionSettings(name="us-east-1", store_url=url, partitions=4))
    second = Region(RegionSettings(name="us-east-1", store_url=url, partitions=4))
    await first.open()
    await second.open()
    if shared:
        first.store.share_with_processes()
        second.store.share_with_processes()
    holding = asyncio.Event()
    release = asyncio.Event()
    try:
        await _table(first)
        order: list[str] = []

        async def long_write() -> None:
            async with first.store.write() as tx:
                await tx.set_meta("turn", "first")
                holding.set()
                await release.wait()
            order.append("first committed")

        async def second_write() -> None:
            await holding.wait()
            await second.data.put_item("items", _item("k", "1"))
            order.append("second committed")

        task_a = asyncio.create_task(long_write())
        task_b = asyncio.create_task(second_write())
        await holding.wait()
        await asyncio.sleep(0.3)
        assert order == [] and not task_b.done()  # waiting for its turn, not failed
        # the turn is the lock file's: a third party (another process) cannot take it
        lock_path = f"{tmp_path}/r.db-writer.lock"
        probe = os.open(lock_path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            release.set()
            await asyncio.wait_for(asyncio.gather(task_a, task_b), 5)
            assert order == ["first committed", "second committed"]
            # and every writer gave it back after its COMMIT
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(probe, fcntl.LOCK_UN)
        finally:
            os.close(probe)
        got = await first.data.get_item("items", {"pk": {"S": "k"}, "sk": {"N": "1"}})
        assert got is not None
    finally:
        # a failed assertion above must not leave the first writer holding the store
        release.set()
        await first.close()
        await second.close()


async def test_close_waits_for_a_commit_whose_writer_was_cancelled(tmp_path: Path) -> None:
    """A request cut off while its group COMMITs (a client gone at shutdown) leaves the
    COMMIT running on the worker thread; closing the store must wait for it instead of
    closing the connection under it (which crashed the process in a CI run)."""
    region = Region(
        RegionSettings(name="us-east-1", store_url=f"sqlite:///{tmp_path}/r.db", partitions=4)
    )
    await region.open()
    await _table(region)
    store = region.store
    assert isinstance(store, SqliteStore)
    committing = asyncio.Event()
    loop = asyncio.get_running_loop()
    commit_now = store._commit_now

    def slow_commit() -> None:  # on the worker thread
        loop.call_soon_threadsafe(committing.set)
        time.sleep(0.3)  # a slow fsync, say
        commit_now()

    store._commit_now = slow_commit  # type: ignore[method-assign]
    write = asyncio.create_task(region.data.put_item("items", _item("late", "1")))
    await asyncio.wait_for(committing.wait(), 10)
    write.cancel()
    await asyncio.gather(write, return_exceptions=True)
    await region.close()  # waits for the COMMIT, then closes
    raw = sqlite3.connect(f"{tmp_path}/r.db")
    try:
        assert raw.execute("SELECT count(*) FROM gt_items WHERE data IS NOT NULL").fetchone()[0] == 1
    finally:
        raw.close()
