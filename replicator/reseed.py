"""Detect a replica that was away longer than the tombstone horizon and re-seed it.

``regions/reseed.py`` explains the hazard and why the purge is correct; this module
decides *when* and runs it:

* **Detection.**  The region writes a liveness heartbeat (wall ms) into its store
  every few seconds while its replicator runs.  At start, a heartbeat older than
  ``--tombstone-horizon`` means it was away long enough for a peer to have dropped
  the tombstone of a delete it never saw.  Independently, the applier reports the
  committed offset and the log start offset of every partition it is assigned,
  before it commits anything there: a committed offset below the log start (or no
  offset at all, on a store that ran before: Kafka expires idle groups' offsets)
  means records this region never applied are gone from Kafka.  Either way a
  "re-seed pending" marker is stored *before* anything else happens (before the
  first new heartbeat, before the applier's next commit), so a crash cannot lose
  the finding: the next start resumes it.
* **Re-seed.**  For each table this region replicates with others (the identities
  system table included): record its live rows, read its outbox, ask an ACTIVE
  peer replica for a copy (``GET /v1/internal/tables/{name}/snapshot``, pulled page
  by page; the peer first catches up with Kafka, strictly), apply the copy with
  LWW, purge what the copy lacked.  Pulling rather than having the peer push keeps
  the whole round in this region: it knows exactly which keys one complete copy
  held, it can switch to another peer by starting the copy over, and the peer keeps
  no state.  A failed round is retried with backoff; tables already done in the
  round are skipped.
* **Status.**  ``DescribeTable`` in this region shows its replica ``UPDATING`` with
  ``ReplicaStatusPercentProgress`` while the table re-seeds; ``GET /v1/replication``
  carries :meth:`Reseeder.status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from aiokafka import TopicPartition

from regions import catalog, system_tables
from regions.catalog import TableSpec
from regions.changes import INSERT, REMOVE, ChangeRecord
from regions.errors import DynamoError, ReseedUnavailable, ResourceNotFound
from regions.keys import decode_key, encode_key, validate_key
from regions.region import Region
from regions.reseed import (
    Marker,
    RowKey,
    is_stale,
    purge,
    purge_candidates,
    read_heartbeat,
    read_marker,
    record_rows,
    replicated_tables,
    unpublished_versions,
    write_heartbeat,
    write_marker,
)
from regions.types import decode_item
from regions.verification import decode_cursor, encode_cursor
from regions.versions import wall_ms

__all__ = [
    "CATCH_UP_TIMEOUT_S",
    "PAGE",
    "Reseeder",
    "SnapshotPage",
    "SnapshotSource",
    "records_lost",
    "serve_snapshot",
]

log = logging.getLogger("globaltables.reseed")

#: rows per snapshot page (the receiving region applies one page per transaction)
PAGE = 500
#: how long a peer waits for its applier to catch up before refusing a copy
CATCH_UP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SnapshotPage:
    records: list[ChangeRecord]
    #: cursor of the next page; None on the last one
    next: str | None


@runtime_checkable
class SnapshotSource(Protocol):
    """How a region fetches a peer's copy of a table (``replicator/peers.py``)."""

    async def snapshot_page(
        self,
        region: str,
        table: str,
        *,
        table_id: str,
        replica: str,
        after: str | None,
        catch_up: bool,
        limit: int,
    ) -> SnapshotPage: ...


def records_lost(committed: int | None, log_start: int, *, ran_before: bool) -> bool:
    """Whether Kafka dropped records of one partition that this region never applied.

    ``committed`` is the group's committed offset (the next record to apply), None
    when the group has none.  Below the log start: the records in between are gone.
    None with records already trimmed: a new region starts from what Kafka holds
    (its tables came by backfill), but a store that ran before had offsets that
    Kafka expired (``offsets.retention.minutes``), so it cannot know what it missed.
    """
    if committed is None:
        return ran_before and log_start > 0
    return committed < log_start


async def serve_snapshot(
    region: Region,
    *,
    name: str,
    table_id: str,
    replica: str,
    after: str | None,
    limit: int,
    catch_up: Callable[[], Awaitable[None]] | None,
    reseeding: bool,
) -> SnapshotPage:
    """One page of this region's copy of a table for a re-seeding ``replica``: every
    row, items AND tombstones, with versions, in (partition, key) order.

    The first page (``catch_up``) is served only after this region has applied
    everything other regions published before the request: the re-seeding region
    purges what the copy lacks, so a copy missing a published write would delete it
    there.  A region that is itself re-seeding refuses (its rows may be stale)."""
    if reseeding:
        raise ReseedUnavailable(f"Region {region.name} is re-seeding itself; ask another replica")
    with system_tables.access():
        tid, spec = await region.control.table_ref(name)
    if spec.table_id != table_id:
        raise ResourceNotFound(f"Table {name} in {region.name} is not a replica of {table_id}")
    if replica not in spec.replica_regions():
        raise ReseedUnavailable(f"{replica} is not a replica of {name} in {region.name}")
    own = next((r for r in spec.replicas if r.region == region.name), None)
    if own is not None and own.status != catalog.ACTIVE:
        raise ReseedUnavailable(f"the replica of {name} in {region.name} is {own.status}")
    if catch_up is not None:
        await catch_up()
    cursor = decode_cursor(after) if after else None
    async with region.store.read() as tx:
        rows = await tx.scan_all_rows(tid, after=cursor, limit=limit)
    records = []
    for row in rows:
        item = decode_item(row.data) if row.data is not None else None
        records.append(
            ChangeRecord(
                table=spec.name,
                table_id=spec.table_id,
                event=REMOVE if item is None else INSERT,
                keys=decode_key(row.hk, row.rk, spec.key_schema),
                new_image=item,
                old_image=None,
                version=row.version,
            )
        )
    last = rows[-1] if len(rows) == limit else None
    return SnapshotPage(records, encode_cursor((last.part, last.hk, last.rk)) if last else None)


@dataclass
class TableProgress:
    status: str = "pending"
    progress: int = 0
    peer: str | None = None
    copied: int = 0
    #: over every round of this process
    purged: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "progress": self.progress,
            "peer": self.peer,
            "copied": self.copied,
            "purged": self.purged,
        }


class Reseeder:
    """Heartbeat, stale detection and re-seed rounds of one region."""

    def __init__(self, region: Region, heartbeat_s: float | None = None) -> None:
        self.region = region
        horizon = region.settings.tombstone_horizon_s
        #: well inside the horizon, so a region that ran is never taken for stale
        self.heartbeat_s = heartbeat_s or max(0.2, min(5.0, horizon / 4))
        #: idle | pending | running | retrying | done
        self.state = "idle"
        self.reason: str | None = None
        self.since_ms: int | None = None
        self.rounds = 0
        self.purged = 0
        self.last_error: str | None = None
        self.tables: dict[str, TableProgress] = {}
        #: whether the store ran a replicator before this process (None until known)
        self.ran_before: bool | None = None
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        #: serialises the marker's read-modify-writes (requests vs. the round)
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> bool:
        """A re-seed is owed or running: this region's rows may hold stale items."""
        return self.state in ("pending", "running", "retrying")

    @property
    def trusted(self) -> bool:
        """Whether this region's rows may be copied to others (re-seed copies, the
        verifier, identity sync): not before the start-up check has run, nor while
        a re-seed is owed (stale items would travel)."""
        return self._ready.is_set() and not self.pending

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "since_ms": self.since_ms,
            "rounds_completed": self.rounds,
            "purged": self.purged,
            "last_error": self.last_error,
            "tables": {name: t.to_json() for name, t in sorted(self.tables.items())},
        }

    # ------------------------------------------------------------------ detection

    async def run(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._startup()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("re-seed check failed (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        beat = asyncio.create_task(self._heartbeats())
        try:
            await self._work()
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _startup(self) -> None:
        now = wall_ms()
        last = await read_heartbeat(self.region)
        marker = await read_marker(self.region)
        horizon = self.region.settings.tombstone_horizon_s
        self.ran_before = last is not None
        if marker is None and is_stale(last, now, horizon):
            assert last is not None
            marker = Marker(
                f"offline {(now - last) / 1000:.0f}s, longer than the tombstone horizon "
                f"({horizon}s)",
                now,
            )
            log.warning(
                "region %s was %s: its replicas will be re-seeded from peers", self.region.name,
                marker.reason,
            )
            # stored before the first new heartbeat: a crash now still resumes it
            await write_marker(self.region, marker)
        elif marker is not None:
            log.warning("resuming an interrupted re-seed (%s)", marker.reason)
        await write_heartbeat(self.region, now)
        if marker is not None:
            self._owed(marker)
        self._ready.set()

    async def _heartbeats(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await write_heartbeat(self.region)
                failing = False
                if self.state not in ("pending", "running", "retrying"):
                    # another node's applier may have found records lost (observe())
                    marker = await read_marker(self.region)
                    if marker is not None:
                        log.warning("a re-seed was asked for by another node: %s", marker.reason)
                        self._owed(marker)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning("heartbeat failed: %s: %s", type(exc).__name__, exc)
                failing = True

    async def observe(self) -> None:
        """Follow the stored marker on a node that does not lead (regions/nodes.py).

        The appliers of a multi-node region run on every node, but re-seed rounds are
        the leader's: a node that finds records lost (``check_offsets``) stores the
        marker, and the leader's heartbeats pick it up (``_heartbeats``).  This keeps a
        follower's ``trusted`` and ``state`` true to the marker, so it does not serve
        its rows to a peer's re-seed, the verifier or identity sync while a re-seed is
        owed, and answers them once the leader finished."""
        while True:
            try:
                if self.ran_before is None:
                    self.ran_before = await read_heartbeat(self.region) is not None
                marker = await read_marker(self.region)
                if marker is not None:
                    self.state, self.reason, self.since_ms = "pending", marker.reason, marker.since_ms
                elif self.state == "pending":
                    self.state = "done"
                self._ready.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading the re-seed marker failed (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(self.heartbeat_s)

    async def check_offsets(self, tp: TopicPartition, committed: int | None, start: int) -> None:
        """The applier's report for a newly assigned partition, awaited before it
        commits anything there (so the finding is stored first)."""
        await self._ready.wait()
        if records_lost(committed, start, ran_before=bool(self.ran_before)):
            await self.request(
                f"records of {tp.topic}[{tp.partition}] trimmed from Kafka before they "
                f"were applied here (committed offset {committed}, log start {start})"
            )

    async def request(self, reason: str) -> None:
        """Owe a (new) re-seed of every table: stored first, then run in the background.
        A request during a round starts a new round (the loss may touch tables the
        running round has finished)."""
        async with self._lock:
            current = await read_marker(self.region)
            marker = Marker(
                reason if current is None else f"{current.reason}; {reason}",
                current.since_ms if current is not None else wall_ms(),
                generation=(current.generation + 1) if current is not None else 0,
            )
            await write_marker(self.region, marker)
        log.warning("region %s needs a re-seed: %s", self.region.name, reason)
        self._owed(marker)

    def _owed(self, marker: Marker) -> None:
        if self.state != "running":
            self.state = "pending"
        self.reason = marker.reason
        self.since_ms = marker.since_ms
        self._wake.set()

    # ------------------------------------------------------------------ rounds

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = 1.0
            while True:
                marker = await read_marker(self.region)
                if marker is None:
                    break
                try:
                    await self._round(marker)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.state = "retrying"
                    message = exc.message if isinstance(exc, DynamoError) else str(exc)
                    self.last_error = f"{type(exc).__name__}: {message}"
                    log.warning("re-seed failed (%s); retrying in %.0fs", self.last_error, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)

    async def _round(self, marker: Marker) -> None:
        self.state = "running"
        self.reason = marker.reason
        todo = [
            (tid, spec)
            for tid, spec in await replicated_tables(self.region)
            if spec.table_id not in marker.done
        ]
        for _, spec in todo:
            # purged counts add up over rounds (two findings can mean two rounds)
            purged = self.tables[spec.name].purged if spec.name in self.tables else 0
            self.tables[spec.name] = TableProgress(purged=purged)
            self.region.hooks.reseeding[spec.table_id] = 0
        log.warning(
            "re-seeding %d table(s) of %s from peer replicas: %s",
            len(todo),
            self.region.name,
            ", ".join(spec.name for _, spec in todo) or "none",
        )
        for tid, spec in todo:
            await self._table(tid, spec)
            async with self._lock:
                current = await read_marker(self.region)
                if current is None or current.generation != marker.generation:
                    # a new finding arrived: the next round redoes everything
                    self.state = "pending"
                    return
                marker = current.with_done(spec.table_id)
                await write_marker(self.region, marker)
            self.region.hooks.reseeding.pop(spec.table_id, None)
        async with self._lock:
            current = await read_marker(self.region)
            if current is not None and current.generation != marker.generation:
                self.state = "pending"
                return
            await write_marker(self.region, None)
        self.rounds += 1
        self.state = "done"
        self.last_error = None
        log.warning("re-seed of %s complete (%s)", self.region.name, marker.reason)

    async def _table(self, tid: int, spec: TableSpec) -> None:
        progress = self.tables.setdefault(spec.name, TableProgress())
        progress.status = "running"
        peers = [
            r.region
            for r in spec.replicas
            if r.region != self.region.name
            and r.status == catalog.ACTIVE
            and r.region in self.region.settings.peers
        ]
        if not peers:
            raise ReseedUnavailable(f"no ACTIVE peer replica of {spec.name} to copy from")
        # order matters (regions/reseed.py): rows first, then the outbox, then the copy
        recorded = await record_rows(self.region, tid)
        unpublished = await unpublished_versions(self.region, tid)
        failures: list[str] = []
        for peer in peers:
            try:
                in_copy = await self._copy(peer, spec, len(recorded), progress)
                break
            except DynamoError as exc:
                failures.append(f"{peer}: {exc.message}")
                log.warning("re-seed of %s from %s failed: %s", spec.name, peer, exc.message)
        else:
            progress.status = "retrying"
            raise ReseedUnavailable(
                f"no peer could send a copy of {spec.name}: " + "; ".join(failures)
            )
        candidates = purge_candidates(recorded, in_copy, unpublished)
        purged = await purge(self.region, tid, spec, candidates, unpublished)
        progress.purged += purged
        progress.status = "done"
        progress.progress = 100
        self.purged += purged
        log.warning(
            "re-seeded %s from %s: %d rows copied, %d of %d live items purged "
            "(deleted elsewhere while this region was away), %d unpublished local writes kept",
            spec.name,
            progress.peer,
            progress.copied,
            purged,
            len(recorded),
            len(unpublished),
        )

    async def _copy(
        self, peer: str, spec: TableSpec, expected: int, progress: TableProgress
    ) -> set[RowKey]:
        """Pull one complete copy from ``peer``, applying each page with LWW; the keys
        it held.  Any failure abandons this copy (a partial one proves nothing)."""
        source = self.region.control.replicas.peers
        if not isinstance(source, SnapshotSource):
            raise ReseedUnavailable("this region has no peer link that can send copies")
        progress.peer = peer
        progress.copied = 0
        in_copy: set[RowKey] = set()
        after: str | None = None
        first = True
        while True:
            page = await source.snapshot_page(
                peer,
                spec.name,
                table_id=spec.table_id,
                replica=self.region.name,
                after=after,
                catch_up=first,
                limit=PAGE,
            )
            first = False
            for rec in page.records:
                if rec.table_id != spec.table_id:
                    raise ReseedUnavailable(f"{peer} sent rows of another table than {spec.name}")
                enc = encode_key(validate_key(rec.keys, spec.key_schema), spec.key_schema, 1)
                in_copy.add((enc.hk, enc.rk))
            # repair=True: a version that originated here but is missing here (a store
            # restored from an old backup) is taken back too; nothing is published
            await self.region.data.apply_remote(page.records, repair=True)
            progress.copied += len(page.records)
            progress.progress = min(99, progress.copied * 100 // max(expected, 1))
            self.region.hooks.reseeding[spec.table_id] = progress.progress
            if page.next is None:
                return in_copy
            after = page.next
