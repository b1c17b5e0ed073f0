"""The convergence verifier, pure parts: hash tree (regions.verify_tree) and the
comparison / repair logic (replicator.verifier) against in-memory replicas."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regions.changes import REMOVE, ChangeRecord
from regions.keys import partition_of
from regions.types import encode_item
from regions.verify_tree import (
    BUCKETS,
    EMPTY,
    FANOUT,
    LEAF_DEPTH,
    Leaf,
    bucket_of,
    build_tree,
    child_ids,
    combine,
    format_ids,
    parse_ids,
    row_digest,
)
from regions.versions import Version
from replicator.verifier import (
    PushResult,
    Row,
    RowsPage,
    RowState,
    TableInfo,
    TreeLevel,
    VerifyError,
    diff_rows,
    differing,
    plan_repair,
    repair_table,
    verify_table,
)

FAST = settings(max_examples=100, deadline=None)
TABLE, TABLE_ID = "Orders", "tid-1"


def item_bytes(i: int, extra: str = "") -> bytes:
    return encode_item({"id": {"S": f"k{i}"}, "n": {"N": str(i)}, "x": {"S": extra}})


def v(hlc: int, origin: str = "us-east-1") -> Version:
    return Version(hlc, origin)


# ----------------------------------------------------------------------- tree model


def leaves_of(rows: dict[tuple[bytes, bytes], RowState], partitions: int) -> dict[int, Leaf]:
    """What a region with ``partitions`` partitions stores (one sum per partition and
    bucket), added up the way the region's tree endpoint does."""
    per_part: dict[tuple[int, int], Leaf] = {}
    for (hk, rk), st_ in rows.items():
        if st_.data is None:
            continue
        key = (partition_of(hk, partitions), bucket_of(hk, rk))
        per_part[key] = per_part.get(key, Leaf()).with_row(
            row_digest(hk, rk, st_.version, st_.data)
        )
    return combine((b, leaf) for (_, b), leaf in per_part.items())


def sample_rows(n: int, seed: int = 1) -> dict[tuple[bytes, bytes], RowState]:
    rnd = random.Random(seed)
    out: dict[tuple[bytes, bytes], RowState] = {}
    for i in range(n):
        hk = f"k{i}".encode()
        tomb = rnd.random() < 0.1
        out[(hk, b"")] = RowState(v(1000 + i), None if tomb else item_bytes(i))
    return out


def test_bucket_is_in_range_deterministic_and_spread() -> None:
    buckets = {bucket_of(f"key-{i}".encode(), b"") for i in range(20_000)}
    assert all(0 <= b < BUCKETS for b in buckets)
    # 20k keys over 4096 buckets: nearly every bucket gets some
    assert len(buckets) > BUCKETS * 0.95
    assert bucket_of(b"abc", b"d") == bucket_of(b"abc", b"d")


def test_key_framing_is_unambiguous() -> None:
    version, data = v(1), b"{}"
    assert row_digest(b"ab", b"c", version, data) != row_digest(b"a", b"bc", version, data)
    # the sort key ends where the version begins, not somewhere inside it
    assert row_digest(b"a", b"b\x00", version, data) != row_digest(b"a", b"b", version, data)


def test_row_digest_covers_key_version_and_bytes() -> None:
    base = row_digest(b"k", b"", v(5), b'{"a":1}')
    assert row_digest(b"k2", b"", v(5), b'{"a":1}') != base
    assert row_digest(b"k", b"", v(6), b'{"a":1}') != base
    assert row_digest(b"k", b"", v(5, "eu-west-1"), b'{"a":1}') != base
    assert row_digest(b"k", b"", v(5), b'{"a":2}') != base


def test_empty_table_has_the_empty_root() -> None:
    tree = build_tree({})
    assert tree.root == EMPTY and tree.count == 0
    assert [len(level) for level in tree.hashes] == [FANOUT**d for d in range(LEAF_DEPTH + 1)]


def test_tree_is_independent_of_partition_count() -> None:
    rows = sample_rows(3000)
    trees = [build_tree(leaves_of(rows, p)) for p in (1, 4, 7, 8, 64)]
    assert all(t.hashes == trees[0].hashes for t in trees)
    assert all(t.counts == trees[0].counts for t in trees)
    live = sum(1 for s in rows.values() if s.data is not None)
    assert trees[0].count == live


def test_tombstones_do_not_count() -> None:
    rows = sample_rows(200)
    gc_d = {k: s for k, s in rows.items() if s.data is not None}
    assert build_tree(leaves_of(rows, 4)).root == build_tree(leaves_of(gc_d, 4)).root


def test_one_changed_item_changes_one_path() -> None:
    rows = sample_rows(2000)
    key = next(k for k, s in rows.items() if s.data is not None)
    changed = dict(rows)
    changed[key] = RowState(v(99999), item_bytes(7, "changed"))
    a, b = build_tree(leaves_of(rows, 4)), build_tree(leaves_of(changed, 4))
    bucket = bucket_of(*key)
    for depth in range(LEAF_DEPTH + 1):
        diff = [i for i in range(FANOUT**depth) if a.hashes[depth][i] != b.hashes[depth][i]]
        assert diff == [bucket // FANOUT ** (LEAF_DEPTH - depth)]


@FAST
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans(), st.integers(0, 3)), max_size=80))
def test_incremental_leaves_equal_recomputed(ops: list[tuple[int, bool, int]]) -> None:
    """What WriteTx.put_row does (subtract the old row, add the new) gives the
    same leaves as hashing the final rows from scratch, whatever the history."""
    rows: dict[tuple[bytes, bytes], RowState] = {}
    leaves: dict[int, Leaf] = {}
    for n, (k, delete, content) in enumerate(ops):
        key = (f"k{k}".encode(), b"")
        b = bucket_of(*key)
        new = RowState(v(n + 1), None if delete else item_bytes(k, str(content)))
        old = rows.get(key)
        leaf = leaves.get(b, Leaf())
        if old is not None and old.data is not None:
            leaf = leaf.without_row(row_digest(*key, old.version, old.data))
        if new.data is not None:
            leaf = leaf.with_row(row_digest(*key, new.version, new.data))
        leaves[b] = leaf
        rows[key] = new
    kept = {b: leaf for b, leaf in leaves.items() if leaf != Leaf()}
    assert kept == leaves_of(rows, 1)
    assert build_tree(kept) == build_tree(leaves_of(rows, 3))


def test_ids_round_trip() -> None:
    assert parse_ids("3,17,200-203,5", 4096) == [3, 5, 17, 200, 201, 202, 203]
    assert format_ids([5, 3, 4, 9, 200, 201]) == "3-5,9,200-201"
    assert parse_ids(format_ids(range(4096)), 4096) == list(range(4096))
    assert format_ids(range(4096)) == "0-4095"
    for bad in ("4096", "5-3", "-1", "x"):
        with pytest.raises(ValueError):
            parse_ids(bad, 4096)


def test_child_ids() -> None:
    assert child_ids([1]) == list(range(16, 32))
    assert child_ids([2, 0]) == [*range(0, 16), *range(32, 48)]


# ----------------------------------------------------------------------- comparison


def row(hk: bytes, state: RowState) -> Row:
    return Row(hk, b"", {"id": {"S": hk.decode()}}, state)


def test_differing_treats_missing_as_different() -> None:
    levels = {"a": {0: "x", 1: "y", 2: "z"}, "b": {0: "x", 1: "q"}, "c": {0: "x", 1: "y", 2: "z"}}
    assert differing(levels, [0, 1, 2]) == [1, 2]


def test_diff_rows_compares_live_items_only() -> None:
    item = RowState(v(10), item_bytes(1))
    tomb = RowState(v(11), None)
    diffs = diff_rows(
        {
            "a": [row(b"same", item), row(b"tomb-vs-none", tomb), row(b"missing", item)],
            "b": [row(b"same", item), row(b"missing", item)],
            "c": [row(b"same", item)],
        }
    )
    # a tombstone GC'd in one replica and not in another is no difference
    assert [d.hk for d in diffs] == [b"missing"]
    assert diffs[0].states == {"a": item, "b": item, "c": None}
    assert diffs[0].winner == item and diffs[0].behind() == ["c"]


def test_same_bytes_under_another_version_is_a_difference() -> None:
    diffs = diff_rows(
        {
            "a": [row(b"k", RowState(v(10), item_bytes(1)))],
            "b": [row(b"k", RowState(v(12, "eu-west-1"), item_bytes(1)))],
        }
    )
    assert len(diffs) == 1 and diffs[0].behind() == ["a"]


def test_tombstone_newer_than_item_wins() -> None:
    item, tomb = RowState(v(10), item_bytes(1)), RowState(v(20, "eu-west-1"), None)
    (d,) = diff_rows({"a": [row(b"k", item)], "b": [row(b"k", tomb)], "c": []})
    assert d.winner == tomb
    # c holds nothing; it still gets the tombstone, so a late older write loses
    assert d.behind() == ["a", "c"]
    plan = plan_repair(TABLE, TABLE_ID, [d])
    assert set(plan.pushes) == {"a", "c"}
    rec = plan.pushes["a"][0]
    assert rec.event == REMOVE and rec.new_image is None and rec.version == tomb.version


def test_item_newer_than_tombstone_wins() -> None:
    item, tomb = RowState(v(30), item_bytes(1)), RowState(v(20), None)
    (d,) = diff_rows({"a": [row(b"k", item)], "b": [row(b"k", tomb)]})
    assert d.winner == item and d.behind() == ["b"]
    (rec,) = plan_repair(TABLE, TABLE_ID, [d]).pushes["b"]
    # the wire record carries the exact canonical item and the winning version
    back = ChangeRecord.decode(rec.encode())
    assert encode_item(back.new_image or {}) == item.data
    assert back.version == item.version and back.table_id == TABLE_ID


def test_same_version_different_bytes_is_undecidable() -> None:
    a, b = RowState(v(10), item_bytes(1)), RowState(v(10), item_bytes(1, "corrupt"))
    (d,) = diff_rows({"a": [row(b"k", a)], "b": [row(b"k", b)]})
    assert d.winner is None and d.behind() == []
    plan = plan_repair(TABLE, TABLE_ID, [d])
    assert plan.pushes == {} and plan.undecidable == [d]


# ----------------------------------------------------------------------- in-memory replicas


class MemReplica:
    """A replica as the verifier sees it, with the region's LWW apply."""

    def __init__(self, name: str, partitions: int, rows: dict[tuple[bytes, bytes], RowState]):
        self.name = name
        self.partitions = partitions
        self.rows = dict(rows)
        self.table_id = TABLE_ID
        self.tree_calls: list[tuple[int, list[int] | None]] = []
        self.bucket_calls: list[list[int]] = []
        self.snapshots_seen: list[str | None] = []
        self.page = 7

    def info(self) -> TableInfo:
        return TableInfo(TABLE, self.table_id, ("a", "b", "c"), self.partitions)

    async def tables(self) -> dict[str, TableInfo]:
        return {TABLE: self.info()}

    async def tree(
        self, table: str, depth: int, ids: Sequence[int] | None, snapshot: str | None = None
    ) -> TreeLevel:
        self.tree_calls.append((depth, None if ids is None else list(ids)))
        self.snapshots_seen.append(snapshot)
        t = build_tree(leaves_of(self.rows, self.partitions))
        wanted = range(FANOUT**depth) if ids is None else ids
        return TreeLevel(
            self.name,
            self.info(),
            t.count,
            {i: t.hashes[depth][i].hex() for i in wanted},
            {i: t.counts[depth][i] for i in wanted},
            snapshot=f"{self.name}-snap",
        )

    async def buckets(self, table: str, ids: Sequence[int], after: str | None) -> RowsPage:
        self.bucket_calls.append(list(ids))
        keys = sorted(k for k in self.rows if bucket_of(*k) in set(ids))
        start = int(after) if after else 0
        chunk = keys[start : start + self.page]
        nxt = str(start + self.page) if start + self.page < len(keys) else None
        rows = [row(k[0], self.rows[k]) for k in chunk]
        return RowsPage(rows, nxt, len(chunk), len(self.rows) if after is None else None)

    async def push(self, table: str, records: Sequence[ChangeRecord]) -> PushResult:
        applied = lost = 0
        for rec in records:
            rec = ChangeRecord.decode(rec.encode())  # through the wire format
            key = (rec.keys["id"]["S"].encode(), b"")
            cur = self.rows.get(key)
            if cur is not None and rec.version <= cur.version:
                lost += 1
                continue
            data = encode_item(rec.new_image) if rec.new_image is not None else None
            self.rows[key] = RowState(rec.version, data)
            applied += 1
        return PushResult(applied, 0, lost)

    async def rehash(self, table: str) -> int:
        return sum(1 for s in self.rows.values() if s.data is not None)


def three(rows: dict[tuple[bytes, bytes], RowState]) -> list[MemReplica]:
    # each region chooses its own partition count
    return [MemReplica("a", 8, rows), MemReplica("b", 3, rows), MemReplica("c", 16, rows)]


async def test_identical_replicas_exchange_only_the_root() -> None:
    replicas = three(sample_rows(5000))
    report = await verify_table(replicas, TABLE)
    assert report.identical and report.buckets == [] and report.diffs == []
    for r in replicas:
        assert r.tree_calls == [(0, None)]
        assert r.bucket_calls == []
    assert len(set(report.root.values())) == 1


async def test_a_lost_update_is_found_by_walking_one_path() -> None:
    rows = sample_rows(5000)
    replicas = three(rows)
    key = next(k for k, s in rows.items() if s.data is not None)
    newer = RowState(v(10**9, "eu-west-1"), item_bytes(1, "newer"))
    replicas[0].rows[key] = newer
    replicas[2].rows[key] = newer
    report = await verify_table(replicas, TABLE)
    assert not report.identical
    assert report.buckets == [bucket_of(*key)]
    (d,) = report.diffs
    assert (d.hk, d.rk) == key
    assert d.states["b"] == rows[key] and d.states["a"] == newer
    for r in replicas:
        # root, then the 16 children of each differing node: never the whole level
        assert [depth for depth, _ in r.tree_calls] == [0, 1, 2, 3]
        assert all(ids is None or len(ids) == FANOUT for _, ids in r.tree_calls)
        assert r.bucket_calls == [[bucket_of(*key)]]
        # the levels below the root are asked of the tree the root came from
        assert r.snapshots_seen == [None, *[f"{r.name}-snap"] * LEAF_DEPTH]


async def test_repair_converges_and_reverifies_clean() -> None:
    rows = sample_rows(3000, seed=7)
    replicas = three(rows)
    rnd = random.Random(3)
    keys = sorted(rows)
    # b lost some rows, c missed some updates and a delete, a has a stale item
    # under a tombstone elsewhere
    for k in rnd.sample(keys, 20):
        replicas[1].rows.pop(k)
    for k in rnd.sample(keys, 20):
        replicas[2].rows[k] = RowState(v(5 * 10**8, "ap-southeast-2"), item_bytes(3, "newer"))
    victim = next(k for k in keys if rows[k].data is not None)
    replicas[0].rows[victim] = RowState(v(6 * 10**8, "eu-west-1"), None)
    before = await verify_table(replicas, TABLE)
    assert len(before.diffs) >= 30
    outcome = await repair_table(replicas, before)
    assert outcome.undecidable == [] and outcome.not_applied == {}
    after = await verify_table(replicas, TABLE)
    assert after.identical, [d.key for d in after.diffs]
    # the delete won everywhere
    assert all(r.rows[victim].data is None for r in replicas)


async def test_wholesale_loss_pages_through_every_bucket() -> None:
    rows = sample_rows(400)
    replicas = [MemReplica("a", 4, rows), MemReplica("b", 4, {})]
    seen: list[tuple[str, int, int]] = []
    report = await verify_table(replicas, TABLE, lambda s, d, t: seen.append((s, d, t)))
    live = sum(1 for s in rows.values() if s.data is not None)
    assert len(report.diffs) == live
    assert any(stage == "rows" for stage, _, _ in seen)
    await repair_table(replicas, report)
    assert (await verify_table(replicas, TABLE)).identical


async def test_different_tables_of_one_name_are_refused() -> None:
    a, b = MemReplica("a", 4, {}), MemReplica("b", 4, {})
    b.table_id = "another"
    with pytest.raises(VerifyError, match="not one global table"):
        await verify_table([a, b], TABLE)
