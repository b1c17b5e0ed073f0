"""Applier: other regions' topics -> checks -> LWW apply into this region -> commit offsets.

Each source's topic is read from the Kafka cluster that holds it, one consumer per
cluster (replicator/apply_feed.py): a cluster that is down stalls only its sources.

Each poll's records are applied in ONE store transaction, and the Kafka offsets
are committed only after that transaction is durable (invariant 7).  If the
process dies in between, Kafka redelivers the batch and the LWW check makes the
second apply a no-op (invariant 3), so the effect is exactly once.

Invariant 9: a message is applied only if it is signed for the topic it was read
from, decodes, names that topic's region as its origin (replicator/record_auth.py)
and is valid for its table (regions/remote_check.py).  Anything else, and a record
whose apply raises on its own while the store answers, goes to the quarantine
(replicator/quarantine.py), durably, before the offset past it is committed: the
applier never stalls on a record and never retries one forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from regions.changes import ChangeRecord, InvalidRecord
from regions.counters import REJECTED, ApplyCounts
from regions.errors import ReseedUnavailable
from regions.region import Region
from regions.versions import physical_ms, wall_ms
from replicator.apply_feed import ClusterFeed, suspect
from replicator.kafka import source_clusters
from replicator.lag import LagTracker
from replicator.quarantine import APPLY_ERROR, Quarantine, Suspect
from replicator.record_auth import ReplicationKeys

__all__ = ["Applier"]

log = logging.getLogger("globaltables.applier")


class Applier:
    """Applies other regions' change records here, one :class:`ClusterFeed` (one
    consumer) per Kafka cluster that holds some of their topics."""

    def __init__(
        self,
        region: Region,
        bootstrap: str,
        sources: list[str],
        lag: LagTracker,
        keys: ReplicationKeys,
        batch: int = 1000,
    ) -> None:
        self.region = region
        self.keys = keys
        self.quarantine = Quarantine(region, keys)
        #: this region's own cluster: where the sources without a --peer-kafka are read
        self.bootstrap = bootstrap
        self.sources = sorted(sources)
        self.lag = lag
        self.batch = batch
        #: what became of every record read (regions/counters.py): ``lost`` ones lost
        #: last-writer-wins to a newer local version (each is in the conflict log, not
        #: data loss), ``duplicates`` are redeliveries of a change already applied
        self.totals = ApplyCounts()
        #: failed runs (Kafka unreachable, fetch or commit failed; counted by the
        #: runner) and failed metadata probes, of every feed
        self.errors = 0
        #: per source region, for the per-pair metrics
        self.per_source: dict[str, ApplyCounts] = {src: ApplyCounts() for src in self.sources}
        for src in self.sources:
            # a source that has sent nothing yet still shows (as 0) in lag and metrics
            lag.pair(src)
        #: one per cluster, this region's own first (raises ValueError when a cluster
        #: is given two sets of credentials)
        self.feeds = [
            ClusterFeed(self, c) for c in source_clusters(region.settings, self.sources, bootstrap)
        ]
        #: awaited with (partition, committed offset, log start offset) for every
        #: partition newly assigned to any feed, before anything is committed there:
        #: how the re-seeder learns that Kafka trimmed records never applied here
        self.on_assigned: Callable[[TopicPartition, int | None, int], Awaitable[None]] | None = None

    @property
    def connected(self) -> bool:
        """Every feed runs and its cluster answered within the last few seconds."""
        return bool(self.feeds) and all(f.connected for f in self.feeds)

    @property
    def behind(self) -> int:
        """Records published to the sources' topics and not yet read (last polls)."""
        return sum(f.behind for f in self.feeds)

    @property
    def last_progress(self) -> float:
        """The oldest of the feeds' last progress (monotonic time)."""
        return min((f.last_progress for f in self.feeds), default=time.monotonic())

    async def wait_caught_up(self, timeout: float = 120.0, *, strict: bool = False) -> None:
        """Return once every record published to the source topics before this call
        has been applied here (used before a backfill copy), on every cluster.
        Gives up quietly after ``timeout``: a backfill then relies on later writes
        and the verifier.  ``strict`` (a copy for a re-seeding region,
        replicator/reseed.py, which purges what the copy lacks) raises
        :class:`ReseedUnavailable` instead, as soon as one cluster cannot tell."""
        if not self.feeds:
            return
        deadline = time.monotonic() + timeout
        several = len(self.feeds) > 1

        async def one(feed: ClusterFeed) -> str | None:
            reason = await feed.wait_caught_up(deadline, strict=strict)
            if reason is not None and several:
                return f"Kafka at {feed.where()}: {reason}"
            return reason

        tasks = [asyncio.create_task(one(f)) for f in self.feeds]
        failed: list[str] = []
        try:
            for done in asyncio.as_completed(tasks):
                reason = await done
                if reason is not None:
                    failed.append(reason)
                    if strict:
                        break
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if not failed:
            return
        message = "; ".join(failed)
        if strict:
            raise ReseedUnavailable(f"{self.region.name} cannot serve a copy: {message}")
        log.warning("catch-up: %s; backfill proceeds", message)

    async def _apply(
        self,
        sources: list[str],
        records: list[ChangeRecord],
        messages_of: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes]]],
        suspects: list[Suspect],
    ) -> None:
        """Apply one poll's records (``sources[i]`` sent ``records[i]``, read as
        ``messages_of[i]``) in one transaction, quarantine what must not be applied
        (``suspects`` so far, plus what the region's checks refuse), and count each
        record for its source -> destination pair."""
        outcomes: list[str] = []
        rejected: dict[int, InvalidRecord] = {}
        if records:
            try:
                await self.region.data.apply_remote(records, outcomes=outcomes, rejected=rejected)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("applying a batch of %d failed (%r); one by one", len(records), exc)
                outcomes, rejected = await self._apply_each(records)
        for i, err in rejected.items():
            tp, m = messages_of[i]
            suspects.append(suspect(sources[i], tp, m, err.reason, err.detail))
        # durable before the offsets past them are committed
        await self.quarantine.put(suspects)
        for s in suspects:
            self.totals.quarantined += 1
            self._counts(s.source).quarantined += 1
        now = wall_ms()
        wall = time.time()
        for source, rec, outcome in zip(sources, records, outcomes, strict=True):
            if outcome != REJECTED:
                # a rejected record is counted once, as quarantined (above)
                self.totals.count(outcome)
                self._counts(source).count(outcome)
                self.lag.observe(source, now - physical_ms(rec.version.hlc), wall)

    async def _apply_each(
        self, records: list[ChangeRecord]
    ) -> tuple[list[str], dict[int, InvalidRecord]]:
        """A batch whose apply raised: every record on its own, so that the one
        that raises is found and put aside while the others apply.  A failure
        while the store does not answer is the store's, not the record's: it
        propagates, and the runner retries the whole poll later."""
        outcomes: list[str] = []
        rejected: dict[int, InvalidRecord] = {}
        for i, rec in enumerate(records):
            told: list[str] = []
            refused: dict[int, InvalidRecord] = {}
            try:
                await self.region.data.apply_remote([rec], outcomes=told, rejected=refused)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not await self.region.store.ping():
                    raise
                refused[0] = InvalidRecord(APPLY_ERROR, f"{exc.__class__.__name__}: {exc}"[:500])
                told = [REJECTED]
            if 0 in refused:
                rejected[i] = refused[0]
            outcomes.extend(told)
        return outcomes, rejected

    def _counts(self, source: str) -> ApplyCounts:
        c = self.per_source.get(source)
        if c is None:
            c = self.per_source[source] = ApplyCounts()
        return c
