"""Re-seeding a replica that was away longer than the tombstone horizon (invariant 4).

The hazard.  Region R is down.  Region S deletes item k, leaving a tombstone; after
``--tombstone-horizon`` S's housekeeping drops the tombstone.  If the Kafka record
of that delete is gone too (topic retention, or R's committed offsets fell below
the log start), R comes back still holding k and nothing will ever delete it; and
the convergence verifier, which cannot tell "R missed an insert" from "the others
forgot a delete" once the tombstones are gone, would copy k back to every region.
Replaying what Kafka still has cannot help: the delete is not in it.

So such a region is detected (``replicator/reseed.py``: its own liveness heartbeat
is older than the horizon when it starts, or its applier finds records trimmed
below its committed offsets) and re-seeded from an ACTIVE peer replica of each of
its global tables: it takes the peer's rows (items AND tombstones, with versions)
with last-writer-wins, exactly as a backfill does, and then purges the live rows it
held before the copy that the copy did not contain.

This module is the region side: the persisted state, the reading of R's rows and
outbox, the pure purge decision and the purge itself.  Orchestration (when, from
which peer, retries) is in ``replicator/reseed.py``; the peer's snapshot endpoint
in ``api/internal.py``.

Why the purge is correct.  Let R record, per table, the key and version of every
live row it holds (the *recorded* rows), then the versions of its own changes
still in its outbox (*unpublished*), then ask a peer P for its rows.  P first
applies everything other regions (R included) had published to Kafka before the
request (its applier's strict catch-up), then sends its rows.  A recorded row
(k, v) that the copy does not contain at all (no item, no tombstone) is purged iff

1. R's row for k still carries exactly v when the purge runs (checked under the
   partition lock in the purge transaction): any write that raced in after the
   recording, a local one or one applied from Kafka or from the copy itself, has a
   different version and is kept;
2. v is not an unpublished change of R.  Such a write was acknowledged to a client
   but never reached Kafka, so P cannot know it; it must not be lost (it ships
   when R's publisher runs).  Versions published before the outbox was read were
   in Kafka before P's catch-up began, so P applied them and its copy reflects
   them (or a later delete of them); that is why the outbox is read *after* the
   rows are recorded and *before* P is asked.

Every other version v that R held was applied or published by R before the
recording, hence was in Kafka (or in P's store) before P's catch-up; if P holds
no row for k at all, P deleted k after v and has since dropped the tombstone.
That is exactly the item R must not keep.

The purge is a repair, not a user delete: it is never published (its change
record is logged ``pending=False``, like an applied remote change, so R's own
Streams readers still see the item go).  It leaves a tombstone with the purged
row's own version, so an older copy of the item arriving late still loses; like
any tombstone it goes at the horizon.

Re-seeding is idempotent: copying rows is LWW (a second copy is a no-op) and the
purge only removes rows the copy lacked.  A "pending" marker in ``gt_meta`` makes a
crash mid-way resume at the next start, table by table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from regions.catalog import TableSpec
from regions.store import StoredRow
from regions.versions import Version, wall_ms

if TYPE_CHECKING:
    from regions.region import Region

__all__ = [
    "HEARTBEAT_KEY",
    "MARKER_KEY",
    "UPDATING",
    "Marker",
    "RecordedRow",
    "RowKey",
    "describe_overlay",
    "is_stale",
    "purge",
    "purge_candidates",
    "read_heartbeat",
    "read_marker",
    "record_rows",
    "replicated_tables",
    "should_purge",
    "unpublished_versions",
    "write_heartbeat",
    "write_marker",
]

#: gt_meta: wall ms at which this region was last known running (replicator/reseed.py)
HEARTBEAT_KEY = "reseed.heartbeat_ms"
#: gt_meta: a re-seed to finish (JSON of :class:`Marker`); empty when none
MARKER_KEY = "reseed.pending"
#: the ReplicaStatus DescribeTable shows for this region's replica while it re-seeds
UPDATING = "UPDATING"

#: a row's identity across regions: the order-preserving key encodings, which do
#: not depend on the partition count (that may differ between regions)
RowKey = tuple[bytes, bytes]


@dataclass(frozen=True)
class RecordedRow:
    part: int
    version: Version


@dataclass(frozen=True)
class Marker:
    """A re-seed this region owes itself, persisted so that a restart resumes it."""

    reason: str
    since_ms: int
    #: bumped by every new finding: a round only records progress (and finishes)
    #: under the generation it started with, so a finding made meanwhile re-runs all
    generation: int = 0
    #: table ids already re-seeded in this round
    done: tuple[str, ...] = ()

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "reason": self.reason,
                "since_ms": self.since_ms,
                "generation": self.generation,
                "done": list(self.done),
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> Marker:
        raw = orjson.loads(text)
        return cls(
            str(raw["reason"]),
            int(raw["since_ms"]),
            int(raw.get("generation", 0)),
            tuple(str(t) for t in raw["done"]),
        )

    def with_done(self, table_id: str) -> Marker:
        return dataclasses.replace(self, done=(*self.done, table_id))


# ---------------------------------------------------------------------------- pure


def is_stale(last_heartbeat_ms: int | None, now_ms: int, horizon_s: int) -> bool:
    """Whether a region that last ran at ``last_heartbeat_ms`` may have missed a
    delete whose tombstone every peer has dropped since.  A store that never ran a
    replicator (no heartbeat) is new: it holds nothing that could be stale."""
    return last_heartbeat_ms is not None and now_ms - last_heartbeat_ms > horizon_s * 1000


def should_purge(
    recorded: Version,
    *,
    in_copy: bool,
    unpublished: bool,
    current: Version | None,
    current_live: bool,
) -> bool:
    """The purge decision for one recorded live row (module docstring): purge iff
    the peer's copy has no row for the key, the row was not an unpublished local
    change when the peer was asked, and it is still the same live row now."""
    return not in_copy and not unpublished and current_live and current == recorded


def purge_candidates(
    recorded: Mapping[RowKey, RecordedRow],
    in_copy: Set[RowKey],
    unpublished: Set[Version],
) -> list[tuple[RowKey, RecordedRow]]:
    """Recorded rows that the copy lacked and that were not unpublished: the rows to
    re-check under lock (:func:`should_purge` with the current row) and purge."""
    return sorted(
        (
            (key, row)
            for key, row in recorded.items()
            if key not in in_copy and row.version not in unpublished
        ),
        key=lambda kv: (kv[1].part, kv[0]),
    )


def describe_overlay(spec: TableSpec, region: str, reseeding: Mapping[str, int]) -> TableSpec:
    """The spec as DescribeTable shows it here: this region's replica UPDATING, with
    its progress, while it re-seeds.  Only shown, never stored: the stored replica
    list is the peers' business (they send theirs with every settings change), and
    storing our status would race with that."""
    progress = reseeding.get(spec.table_id)
    if progress is None or region not in spec.replica_regions():
        return spec
    return spec.with_replicas(
        tuple(
            dataclasses.replace(r, status=UPDATING, progress=progress) if r.region == region else r
            for r in spec.replicas
        )
    )


# ---------------------------------------------------------------------------- store


async def read_heartbeat(region: Region) -> int | None:
    async with region.store.read() as tx:
        raw = await tx.get_meta(HEARTBEAT_KEY)
    return int(raw) if raw else None


async def write_heartbeat(region: Region, now_ms: int | None = None) -> None:
    async with region.store.write() as tx:
        await tx.set_meta(HEARTBEAT_KEY, str(now_ms if now_ms is not None else wall_ms()))


async def read_marker(region: Region) -> Marker | None:
    async with region.store.read() as tx:
        raw = await tx.get_meta(MARKER_KEY)
    return Marker.from_json(raw) if raw else None


async def write_marker(region: Region, marker: Marker | None) -> None:
    """Persist (or, with None, clear) the pending re-seed."""
    async with region.store.write() as tx:
        await tx.set_meta(MARKER_KEY, marker.to_json() if marker is not None else "")


async def replicated_tables(region: Region) -> list[tuple[int, TableSpec]]:
    """Tables this region replicates with at least one other region, the system
    tables (identities) included: only those can have missed a peer's delete."""
    async with region.store.read() as tx:
        rows = await tx.tables()
    out = []
    for tid, raw in rows:
        spec = TableSpec.from_json(orjson.loads(raw))
        regions = spec.replica_regions()
        if region.name in regions and len(regions) > 1:
            out.append((tid, spec))
    return out


async def record_rows(region: Region, tid: int, page: int = 1000) -> dict[RowKey, RecordedRow]:
    """Every live row of a table with its version.  Tombstones are not recorded:
    a tombstone the copy lacks hides no item, so there is nothing to purge."""
    out: dict[RowKey, RecordedRow] = {}
    cursor: tuple[int, bytes, bytes] | None = None
    while True:
        async with region.store.read() as tx:
            rows = await tx.scan(tid, after=cursor, limit=page)
        for row in rows:
            out[(row.hk, row.rk)] = RecordedRow(row.part, row.version)
        if len(rows) < page:
            return out
        cursor = (rows[-1].part, rows[-1].hk, rows[-1].rk)


async def unpublished_versions(region: Region, tid: int) -> Set[Version]:
    """Versions of this table's local changes not yet acknowledged by Kafka: a
    change record and its row carry the same version (invariant 1), so a row is
    unpublished iff its version is in this set."""
    return await region.data.unpublished_versions(tid)


async def purge(
    region: Region,
    tid: int,
    spec: TableSpec,
    candidates: Iterable[tuple[RowKey, RecordedRow]],
    unpublished: Set[Version],
    chunk: int = 200,
) -> int:
    """Remove the candidates that are still exactly the recorded row (each re-checked
    with :func:`should_purge` under its partition lock, by the data plane's
    ``purge_unchanged``: a tombstone under the purged row's own version, logged but
    never published, a repair of this region only).  Returns the count."""

    def decide(recorded: Version, row: StoredRow) -> bool:
        return should_purge(
            recorded,
            in_copy=False,
            unpublished=row.version in unpublished,
            current=row.version,
            current_live=row.data is not None,
        )

    todo = [(key, row.part, row.version) for key, row in candidates]
    return await region.data.purge_unchanged(tid, spec, todo, decide, chunk)
