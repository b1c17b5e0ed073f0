"""What a region answers the convergence verifier (``api/verify.py`` serves it).

The comparison itself runs in the verifier (``replicator/verifier.py``), which
asks every replica for hashes of its tree level by level and, only where the
hashes differ, for the rows of the differing leaf buckets.  See docs/verify.md.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from regions.catalog import TableSpec
from regions.region import Region
from regions.store import StoredRow
from regions.verify_tree import Tree, build_tree

__all__ = [
    "BucketPage",
    "TableTree",
    "bucket_page",
    "decode_cursor",
    "encode_cursor",
    "rebuild_leaves",
    "table_tree",
]

log = logging.getLogger("globaltables.verify")

#: trees kept per region (regions/verification_cache.py)
_SNAPSHOTS_KEPT = 32


def encode_cursor(cursor: tuple[int, bytes, bytes]) -> str:
    """A bucket walk's position (partition, hk, rk) as an opaque URL-safe text."""
    part, hk, rk = cursor
    raw = part.to_bytes(4, "big") + len(hk).to_bytes(4, "big") + hk + rk
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(text: str) -> tuple[int, bytes, bytes]:
    """Inverse of :func:`encode_cursor`; raises ValueError for a damaged one."""
    raw = base64.urlsafe_b64decode(text.encode())
    if len(raw) < 8:
        raise ValueError("bad cursor")
    n = int.from_bytes(raw[4:8], "big")
    if len(raw) < 8 + n:
        raise ValueError("bad cursor")
    return int.from_bytes(raw[:4], "big"), raw[8 : 8 + n], raw[8 + n :]


@dataclass(frozen=True)
class TableTree:
    region: str
    spec: TableSpec
    tree: Tree
    #: names this tree for the next levels of one walk (see ``table_tree``)
    snapshot: str


@dataclass(frozen=True)
class BucketPage:
    spec: TableSpec
    rows: list[StoredRow]
    #: where the next page starts; None when the table has been walked to the end
    next: tuple[int, bytes, bytes] | None
    scanned: int
    #: rows (items and tombstones) in the table; only on the first page
    total: int | None


async def rebuild_leaves(region: Region, table: str) -> int:
    """Recompute a table's leaf sums from its items, partition by partition, each
    in one transaction under that partition's lock, so concurrent writes keep
    them right.  Returns the live items hashed."""
    tid, spec = await region.control.table_ref(table)
    hashed = 0
    for part in range(spec.partitions):
        async with region.store.write() as tx:
            await tx.lock_partition(tid, part)
            hashed += await tx.verify_rebuild_partition(tid, part)
    async with region.store.write() as tx:
        await tx.verify_mark_ready(tid)
    return hashed


async def _ensure_leaves(region: Region, table: str, tid: int) -> None:
    async with region.store.read() as tx:
        if await tx.verify_ready(tid):
            return
    locks = region.verification.rebuilding
    async with locks.setdefault(tid, asyncio.Lock()):
        async with region.store.read() as tx:
            if await tx.verify_ready(tid):
                return
        # a table created before the verifier existed: its leaves were never kept
        log.info("building the verification tree of %s (once)", table)
        hashed = await rebuild_leaves(region, table)
        log.info("verification tree of %s built: %d items", table, hashed)


async def table_tree(region: Region, table: str, snapshot: str | None = None) -> TableTree:
    """The table's whole tree (4096 leaves, built from at most 4096 x partitions
    stored sums: no item is read).  With the ``snapshot`` of a tree built recently,
    that same tree, if still kept; otherwise (or without one) a new one."""
    kept = region.verification.snapshots
    if snapshot is not None:
        hit = kept.get(snapshot)
        if hit is not None and hit.spec.name == table:
            return hit
    tid, spec = await region.control.table_ref(table)
    await _ensure_leaves(region, spec.name, tid)
    async with region.store.read() as tx:
        leaves = await tx.verify_leaves(tid)
    view = TableTree(region.name, spec, build_tree(leaves), secrets.token_hex(8))
    kept[view.snapshot] = view
    while len(kept) > _SNAPSHOTS_KEPT:
        kept.popitem(last=False)
    return view


async def bucket_page(
    region: Region,
    table: str,
    buckets: Collection[int],
    *,
    after: tuple[int, bytes, bytes] | None,
    limit: int,
) -> BucketPage:
    """One page of the rows (items and tombstones, with versions) of the given
    leaf buckets."""
    tid, spec = await region.control.table_ref(table)
    async with region.store.read() as tx:
        total = await tx.verify_count_rows(tid) if after is None else None
        rows, nxt, scanned = await tx.verify_scan_buckets(
            tid, buckets, after=after, max_rows=limit
        )
    return BucketPage(spec, rows, nxt, scanned, total)
