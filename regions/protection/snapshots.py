"""Table snapshots as objects: what an on-demand backup and a PITR snapshot are.

A snapshot of one table is every live item at one instant, read in ONE store read
transaction (``store.read(snapshot=True)``), with each item's version, written under
a prefix of the region's bucket:

- ``<prefix>/items-00000.jsonl.gz`` ...: gzipped JSON lines ``{"h": hlc, "o":
  origin, "i": item}`` (the item in DynamoDB JSON, canonical), at most
  :data:`CHUNK_ITEMS` per object;
- ``<prefix>/manifest.json``, written LAST: the format version, the table spec, the
  instant, the counts and every chunk's key, item count, size and SHA-256.  No
  manifest, no snapshot: an interrupted write is never mistaken for a complete one.

Reading checks every chunk against its manifest entry, so a missing or corrupt object
fails the reader with :class:`SnapshotCorrupt` instead of yielding part of a table.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from regions.catalog import TableSpec
from regions.protection.objects import ObjectStore, ObjectStoreError
from regions.types import Item, decode_item
from regions.versions import Version, wall_ms

__all__ = [
    "CHUNK_ITEMS",
    "FORMAT",
    "SnapshotCorrupt",
    "SnapshotInfo",
    "delete_snapshot",
    "read_manifest",
    "read_snapshot",
    "write_snapshot",
]

FORMAT = 1
#: items per chunk object
CHUNK_ITEMS = 5000
#: rows read per store round trip while snapshotting
_PAGE = 1000


class SnapshotCorrupt(ObjectStoreError):
    """A snapshot's objects are missing, incomplete or do not match their manifest."""


@dataclass(frozen=True)
class SnapshotInfo:
    prefix: str
    #: the instant the snapshot shows: wall ms right after its read transaction
    #: saw its first row; every item in it was committed at or before then
    taken_ms: int
    items: int
    #: the items' stored size (DynamoDB's item sizes), the BackupSizeBytes
    size_bytes: int
    spec: TableSpec


async def write_snapshot(
    objects: ObjectStore, bucket: str, prefix: str, store: Any, tid: int, spec: TableSpec
) -> SnapshotInfo:
    """Snapshot table ``tid`` (spec ``spec``) to ``prefix``: one read transaction."""
    chunks: list[dict[str, Any]] = []
    lines: list[bytes] = []
    count = size = 0
    taken_ms: int | None = None

    async def flush() -> None:
        if not lines:
            return
        key = f"{prefix}/items-{len(chunks):05d}.jsonl.gz"
        data = gzip.compress(b"".join(lines), compresslevel=5)
        await objects.put(bucket, key, data)
        chunks.append(
            {
                "key": key,
                "items": len(lines),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        lines.clear()

    async with store.read(snapshot=True) as tx:
        after: tuple[int, bytes, bytes] | None = None
        while True:
            rows = await tx.scan(tid, after=after, limit=_PAGE)
            if taken_ms is None:
                # the snapshot is fixed by the first statement (SQLite's deferred
                # transaction, PostgreSQL's repeatable read): nothing committed after
                # this instant is in it
                taken_ms = wall_ms()
            for row in rows:
                assert row.data is not None
                lines.append(
                    orjson.dumps(
                        {"h": row.version.hlc, "o": row.version.origin, "i": decode_item(row.data)}
                    )
                    + b"\n"
                )
                count += 1
                size += row.size
                if len(lines) >= CHUNK_ITEMS:
                    await flush()
            if len(rows) < _PAGE:
                break
            last = rows[-1]
            after = (last.part, last.hk, last.rk)
    await flush()
    assert taken_ms is not None
    manifest = {
        "format": FORMAT,
        "table": spec.name,
        "table_id": spec.table_id,
        "taken_ms": taken_ms,
        "items": count,
        "size_bytes": size,
        "spec": spec.to_json(),
        "chunks": chunks,
    }
    await objects.put(bucket, f"{prefix}/manifest.json", orjson.dumps(manifest))
    return SnapshotInfo(prefix, taken_ms, count, size, spec)


async def read_manifest(objects: ObjectStore, bucket: str, prefix: str) -> dict[str, Any]:
    try:
        raw = await objects.get(bucket, f"{prefix}/manifest.json")
        manifest = orjson.loads(raw)
    except ObjectStoreError as exc:
        raise SnapshotCorrupt(f"snapshot {prefix}: no manifest ({exc})") from None
    except orjson.JSONDecodeError:
        raise SnapshotCorrupt(f"snapshot {prefix}: unreadable manifest") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SnapshotCorrupt(f"snapshot {prefix}: unknown manifest format")
    return manifest


async def read_snapshot(
    objects: ObjectStore, bucket: str, prefix: str
) -> AsyncIterator[tuple[Item, Version]]:
    """Every item of a snapshot with its version, chunk by chunk, each chunk checked
    against the manifest first (raises :class:`SnapshotCorrupt`)."""
    manifest = await read_manifest(objects, bucket, prefix)
    seen = 0
    for chunk in manifest["chunks"]:
        try:
            data = await objects.get(bucket, chunk["key"])
        except ObjectStoreError as exc:
            raise SnapshotCorrupt(f"snapshot {prefix}: {chunk['key']} is missing ({exc})") from None
        if len(data) != chunk["bytes"] or hashlib.sha256(data).hexdigest() != chunk["sha256"]:
            raise SnapshotCorrupt(f"snapshot {prefix}: {chunk['key']} does not match its checksum")
        try:
            lines = gzip.decompress(data).splitlines()
        except (OSError, EOFError) as exc:
            raise SnapshotCorrupt(f"snapshot {prefix}: {chunk['key']}: {exc}") from None
        if len(lines) != chunk["items"]:
            raise SnapshotCorrupt(f"snapshot {prefix}: {chunk['key']} has the wrong item count")
        for line in lines:
            entry = orjson.loads(line)
            seen += 1
            yield entry["i"], Version(int(entry["h"]), str(entry["o"]))
    if seen != manifest["items"]:
        raise SnapshotCorrupt(
            f"snapshot {prefix}: {seen} items, the manifest says {manifest['items']}"
        )


async def delete_snapshot(objects: ObjectStore, bucket: str, prefix: str) -> None:
    """Remove a snapshot's objects (the manifest first, so a half-deleted snapshot is
    never read as complete)."""
    await objects.delete(bucket, f"{prefix}/manifest.json")
    keys = [info.key async for info in objects.list(bucket, prefix + "/")]
    for key in keys:
        await objects.delete(bucket, key)
