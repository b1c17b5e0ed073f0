"""Store side of the convergence verifier: the hash tree's leaves, kept current.

``gt_verify`` holds one row per (table, partition, bucket): the number of live
items and the sum of their row digests (``regions.verify_tree``), as four exact
sums of 32-bit limbs.  ``put_row`` (``direct.py``) applies :func:`leaf_delta`
before the item row is replaced, so the leaf sums change in the same transaction as the
items they describe (invariant 1) whichever code path writes a row (local write,
LWW apply, backfill).  It is one additive upsert: concurrent writers never
read-modify-write a leaf, and leaves are per partition besides, so writers
serialised by the partition lock never even touch the same leaf row.

A table created before this table existed has items but no leaves: its
``verify_tree.<tid>`` marker in ``gt_meta`` is missing, and the verifier rebuilds
its leaves once, partition by partition (:func:`rebuild_partition`), before it
trusts them.  Tables created since get the marker in the transaction that creates
them (:func:`mark_ready`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from regions.store import schema as s
from regions.store.base import StoredRow
from regions.verify_tree import BUCKETS, Leaf, bucket_of, combine, row_digest
from regions.versions import Version

__all__ = [
    "clear",
    "count_rows",
    "is_ready",
    "leaf_delta",
    "mark_ready",
    "read_leaves",
    "rebuild_partition",
    "scan_buckets",
]

_PAGE = 5000
_LIMBS = ("s0", "s1", "s2", "s3")
_MASK = 0xFFFFFFFF


def _ready_key(tid: int) -> str:
    return f"verify_tree.{tid}"


def _limbs(digest: int) -> list[int]:
    return [(digest >> (32 * n)) & _MASK for n in range(len(_LIMBS))]


def _leaf(live: int, sums: Sequence[int]) -> Leaf:
    total = sum(int(x) << (32 * n) for n, x in enumerate(sums))
    return Leaf(int(live), total % (1 << 128))


def leaf_delta(
    tid: int,
    part: int,
    hk: bytes,
    rk: bytes,
    old_version: Version | None,
    old_data: bytes | None,
    version: Version,
    data: bytes | None,
) -> dict[str, int] | None:
    """The additive change one row write makes to its leaf (bind values of the leaf
    upsert), or None when the live items do not change.  Pure, so that the SQLite
    backend's direct path (``sqlite_store.py``) computes exactly what this one does."""
    old = (
        row_digest(hk, rk, old_version, old_data)
        if old_version is not None and old_data is not None
        else None
    )
    new = row_digest(hk, rk, version, data) if data is not None else None
    if old == new:
        # tombstone over tombstone (or nothing): live items unchanged
        return None
    plus = _limbs(new) if new is not None else [0] * len(_LIMBS)
    minus = _limbs(old) if old is not None else [0] * len(_LIMBS)
    values = {"tid": tid, "part": part, "bucket": bucket_of(hk, rk)}
    values["live"] = (new is not None) - (old is not None)
    values.update({c: p - m for c, p, m in zip(_LIMBS, plus, minus, strict=True)})
    return values


async def mark_ready(conn: AsyncConnection, tid: int) -> None:
    """A new (empty) table's leaves are complete from the start."""
    m = s.meta.c
    # a plain delete + insert instead of a dialect upsert: this runs once per table
    await conn.execute(delete(s.meta).where(m.key == _ready_key(tid)))
    await conn.execute(insert(s.meta).values(key=_ready_key(tid), value="1"))


async def is_ready(conn: AsyncConnection, tid: int) -> bool:
    res = await conn.execute(select(s.meta.c.value).where(s.meta.c.key == _ready_key(tid)))
    return res.scalar() is not None


async def clear(conn: AsyncConnection, tid: int) -> None:
    """A dropped table takes its leaves and marker along (table numbers are reused)."""
    await conn.execute(delete(s.verify_buckets).where(s.verify_buckets.c.tid == tid))
    await conn.execute(delete(s.meta).where(s.meta.c.key == _ready_key(tid)))


async def read_leaves(conn: AsyncConnection, tid: int) -> dict[int, Leaf]:
    """Per-bucket leaves of a table, the partitions added up."""
    v = s.verify_buckets.c
    res = await conn.execute(select(v.bucket, v.live, v.s0, v.s1, v.s2, v.s3).where(v.tid == tid))
    return combine((bucket, _leaf(live, sums)) for bucket, live, *sums in res)


async def rebuild_partition(conn: AsyncConnection, tid: int, part: int) -> int:
    """Recompute one partition's leaves from its items; the caller holds the
    partition lock in this transaction.  Returns the live items hashed."""
    v = s.verify_buckets.c
    i = s.items.c
    await conn.execute(delete(s.verify_buckets).where(v.tid == tid, v.part == part))
    sums: dict[int, list[int]] = {}
    after: tuple[bytes, bytes] | None = None
    hashed = 0
    while True:
        conds: list[Any] = [i.tid == tid, i.part == part, i.data.is_not(None)]
        if after is not None:
            conds.append(tuple_(i.hk, i.rk) > tuple_(*after))
        rows = (
            await conn.execute(
                select(i.hk, i.rk, i.hlc, i.origin, i.data)
                .where(*conds)
                .order_by(i.hk, i.rk)
                .limit(_PAGE)
            )
        ).all()
        for r in rows:
            acc = sums.setdefault(bucket_of(r.hk, r.rk), [0] * (1 + len(_LIMBS)))
            acc[0] += 1
            digest = row_digest(r.hk, r.rk, Version(r.hlc, r.origin), r.data)
            for n, limb in enumerate(_limbs(digest), start=1):
                acc[n] += limb
        hashed += len(rows)
        if len(rows) < _PAGE:
            break
        after = (rows[-1].hk, rows[-1].rk)
    if sums:
        await conn.execute(
            insert(s.verify_buckets),
            [
                {"tid": tid, "part": part, "bucket": b, "live": acc[0]}
                | dict(zip(_LIMBS, acc[1:], strict=True))
                for b, acc in sums.items()
            ],
        )
    return hashed


async def count_rows(conn: AsyncConnection, tid: int) -> int:
    """Items and tombstones of a table (what a bucket scan walks through)."""
    res = await conn.execute(select(func.count()).where(s.items.c.tid == tid))
    return int(res.scalar_one())


def _stored(r: Any) -> StoredRow:
    return StoredRow(
        part=r.part, hk=r.hk, rk=r.rk, version=Version(r.hlc, r.origin), data=r.data, size=r.size
    )


async def scan_buckets(
    conn: AsyncConnection,
    tid: int,
    buckets: Collection[int],
    *,
    after: tuple[int, bytes, bytes] | None = None,
    max_rows: int = 2000,
    max_scan: int = 200_000,
) -> tuple[list[StoredRow], tuple[int, bytes, bytes] | None, int]:
    """Rows (items AND tombstones) of the given buckets, in (part, hk, rk) order.

    The bucket is a hash of the key, so no index finds a bucket's rows: this walks
    the table's keys from ``after`` and keeps the matching ones, stopping after
    ``max_rows`` matches or ``max_scan`` rows looked at.  Returns (rows, cursor to
    resume from or None at the end, rows scanned).  The verifier only asks for
    buckets whose hashes differ, so identical replicas never get here.
    """
    wanted = frozenset(buckets)
    i = s.items.c
    # few buckets: walk the keys only and fetch the few matching rows; many
    # (a replica that lost most of the table): read whole rows in the walk
    dense = len(wanted) * 8 > BUCKETS
    key_cols = (i.part, i.hk, i.rk)
    cols = (*key_cols, i.hlc, i.origin, i.data, i.size) if dense else key_cols
    found: list[StoredRow] = []
    keys: list[tuple[int, bytes, bytes]] = []
    scanned = 0
    cursor = after
    exhausted = False
    while len(found) + len(keys) < max_rows and scanned < max_scan:
        conds: list[Any] = [i.tid == tid]
        if cursor is not None:
            conds.append(tuple_(*key_cols) > tuple_(*cursor))
        page = min(_PAGE, max_scan - scanned)
        rows = (
            await conn.execute(select(*cols).where(*conds).order_by(*key_cols).limit(page))
        ).all()
        full = False
        # the hot loops of a scan: tuple unpacking, no per-row attribute lookups
        if dense:
            for part, hk, rk, hlc, origin, data, size in rows:
                scanned += 1
                if bucket_of(hk, rk) in wanted:
                    found.append(StoredRow(part, hk, rk, Version(hlc, origin), data, size))
                    if len(found) >= max_rows:
                        full = True
                        break
        else:
            for part, hk, rk in rows:
                scanned += 1
                if bucket_of(hk, rk) in wanted:
                    keys.append((part, hk, rk))
                    if len(keys) >= max_rows:
                        full = True
                        break
        if rows:
            # the last row looked at (the loop variables outlive the loop)
            cursor = (part, hk, rk)
        if not full and len(rows) < page:
            exhausted = True
            break
    for part, hk, rk in keys:
        hit = (
            await conn.execute(
                select(s.items).where(i.tid == tid, i.part == part, i.hk == hk, i.rk == rk)
            )
        ).first()
        # gone since the walk (tombstone GC): nothing to report for it
        if hit is not None:
            found.append(_stored(hit))
    return found, (None if exhausted else cursor), scanned
