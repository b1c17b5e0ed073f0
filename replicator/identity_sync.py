"""Anti-entropy for the identities table: every region pulls the users and access keys
it lacks (or holds older versions of) from each of its peers.

Why: identities replicate through Kafka like any table (regions/system_tables.py),
but a region that joins a deployment later only receives the changes published
after its applier subscribed; users and keys created before are not re-sent by
anyone (``UpdateTable ReplicaUpdates`` backfills user tables, but nobody adds a
replica of a system table: every region creates its own copy).  Nor does Kafka
help a region that was offline longer than the topics' retention.

How: the convergence verifier's comparison (replicator/verifier.py) between this
region (read in-process) and one peer (its ``/v1/internal/verify`` endpoints,
signed with the admin key like every region-to-region call).  Equal roots, the
normal case, cost one small request per peer; otherwise the walk finds the
differing buckets and both sides' rows of them.  For every key whose live state
differs, the last-writer-wins winner is applied here through
:meth:`DataPlane.apply_remote` when this region holds no row or an older version:
LWW and idempotent, and a tombstone is a row like any other, so a key revoked
anywhere stays revoked (its tombstone wins over the live key, wherever it is
still held).  Rows this region holds newer are left alone: the peer pulls them
itself (pull-only: each region fixes itself, and no region writes into another).

Applied rows are logged as replicated changes (never published again: no loop).
``repair`` lets a region take back a version it originated and lost (a store
restored from an old backup), as the verifier's repair does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from regions import system_tables, verification
from regions.changes import ChangeRecord
from regions.keys import decode_key
from regions.region import Region
from regions.verification import decode_cursor, encode_cursor
from regions.verify_tree import nodes_at
from replicator import signing
from replicator.verifier import (
    PUSH_BATCH,
    HttpReplica,
    PushResult,
    ReplicaSource,
    Row,
    RowsPage,
    RowState,
    TableInfo,
    TreeLevel,
    VerifyError,
    plan_repair,
    verify_table,
)

__all__ = ["FIRST_ROUND_S", "IdentitySync", "LocalReplica", "SyncResult"]

log = logging.getLogger("globaltables.identity_sync")

#: the first round runs this soon after start (at most the interval): a region that
#: just joined should accept its users' keys within seconds, not a full interval
FIRST_ROUND_S = 1.0
#: seconds to wait for one answer of a peer
PEER_TIMEOUT_S = 30.0

_TABLE = system_tables.IDENTITIES


def _info(spec_name: str, table_id: str, replicas: Sequence[str], partitions: int) -> TableInfo:
    return TableInfo(spec_name, table_id, tuple(replicas), partitions)


class LocalReplica:
    """This region as a :class:`~replicator.verifier.ReplicaSource`, read in-process
    (the same answers ``api/verify.py`` would give over HTTP)."""

    def __init__(self, region: Region) -> None:
        self.region = region
        self.name = region.name

    async def tables(self) -> dict[str, TableInfo]:
        with system_tables.access():
            spec = await self.region.control.table_spec(_TABLE)
        return {spec.name: _info(spec.name, spec.table_id, spec.replica_regions(), spec.partitions)}

    async def tree(
        self, table: str, depth: int, ids: Sequence[int] | None, snapshot: str | None = None
    ) -> TreeLevel:
        with system_tables.access():
            view = await verification.table_tree(self.region, table, snapshot)
        wanted = ids if ids is not None else range(nodes_at(depth))
        hashes, counts = view.tree.hashes[depth], view.tree.counts[depth]
        spec = view.spec
        return TreeLevel(
            region=view.region,
            info=_info(spec.name, spec.table_id, spec.replica_regions(), spec.partitions),
            count=view.tree.count,
            hashes={i: hashes[i].hex() for i in wanted},
            counts={i: counts[i] for i in wanted},
            snapshot=view.snapshot,
        )

    async def buckets(self, table: str, ids: Sequence[int], after: str | None) -> RowsPage:
        cursor = decode_cursor(after) if after else None
        with system_tables.access():
            page = await verification.bucket_page(self.region, table, ids, after=cursor, limit=2000)
        schema = page.spec.key_schema
        rows = [
            Row(r.hk, r.rk, decode_key(r.hk, r.rk, schema), RowState(r.version, r.data))
            for r in page.rows
        ]
        nxt = encode_cursor(page.next) if page.next is not None else None
        return RowsPage(rows, nxt, page.scanned, page.total)

    async def push(self, table: str, records: Sequence[ChangeRecord]) -> PushResult:
        # the pull applies here directly (see IdentitySync.sync_peer); this completes
        # the protocol so the verifier's repair could drive a LocalReplica too
        stats = await self.region.data.apply_remote(list(records), repair=True)
        return PushResult(stats.applied, stats.skipped, stats.lost)

    async def rehash(self, table: str) -> int:
        with system_tables.access():
            return await verification.rebuild_leaves(self.region, table)


@dataclass(frozen=True)
class SyncResult:
    peer: str
    #: rows whose live state differed between the two regions
    differing: int
    #: rows applied here (this region had none, or an older version)
    pulled: int


class IdentitySync:
    """The periodic pull of one region from each of its peers."""

    def __init__(self, region: Region, interval_s: float | None = None) -> None:
        self.region = region
        self.interval_s = interval_s or region.settings.identity_sync_interval_s
        self.rounds = 0
        self.pulled = 0
        #: peer -> the last failure, so a peer that stays down is logged once
        self._failing: dict[str, str] = {}

    async def sync_peer(self, peer: ReplicaSource) -> SyncResult:
        """Compare the identities table with one peer and apply what this region lacks."""
        local = LocalReplica(self.region)
        report = await verify_table([local, peer], _TABLE)
        if report.identical:
            return SyncResult(peer.name, 0, 0)
        plan = plan_repair(report.table, report.table_id, report.diffs)
        # pull-only: what the peer lacks is the peer's own round to fetch
        mine = plan.pushes.get(self.region.name, [])
        pulled = 0
        for i in range(0, len(mine), PUSH_BATCH):
            stats = await self.region.data.apply_remote(mine[i : i + PUSH_BATCH], repair=True)
            pulled += stats.applied
        if plan.undecidable:
            log.warning(
                "identities: %d key(s) differ from %s under one version (LWW cannot "
                "choose); writing them again anywhere settles them",
                len(plan.undecidable),
                peer.name,
            )
        if pulled:
            log.info("identities: pulled %d row(s) from %s", pulled, peer.name)
        return SyncResult(peer.name, len(report.diffs), pulled)

    async def sync_once(self, client: httpx.AsyncClient) -> list[SyncResult]:
        """One round: every peer in turn; a peer that cannot be reached is skipped
        (the next round tries again)."""
        results: list[SyncResult] = []
        for name, url in sorted(self.region.settings.peers.items()):
            try:
                result = await self.sync_peer(HttpReplica(name, url, client))
            except (VerifyError, httpx.HTTPError) as exc:
                text = str(exc)
                if self._failing.get(name) != text:
                    log.warning("identities: no comparison with %s this round: %s", name, text)
                self._failing[name] = text
                continue
            if self._failing.pop(name, None) is not None:
                log.info("identities: comparing with %s again", name)
            self.pulled += result.pulled
            results.append(result)
        self.rounds += 1
        return results

    async def run(self) -> None:
        """Rounds until cancelled: the first shortly after start, then every
        ``interval_s``.  One failing round never ends the loop."""
        peers = self.region.settings.peers
        if not peers:
            return
        auth = signing.for_admin(self.region.settings.auth, {u: n for n, u in peers.items()})
        async with httpx.AsyncClient(timeout=PEER_TIMEOUT_S, auth=auth) as client:
            await asyncio.sleep(min(FIRST_ROUND_S, self.interval_s))
            while True:
                try:
                    await self.sync_once(client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # a store error, say: logged, and the next round tries again
                    log.exception("identities: sync round failed")
                await asyncio.sleep(self.interval_s)
