"""Applier: other regions' topics -> LWW apply into this region -> commit offsets.

Each poll's records are applied in ONE store transaction, and the Kafka offsets
are committed only after that transaction is durable (invariant 7).  If the
process dies in between, Kafka redelivers the batch and the LWW check makes the
second apply a no-op (invariant 3), so the effect is exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from regions.changes import ChangeRecord, UnknownSchema
from regions.errors import ReseedUnavailable
from regions.region import APPLIED, DUPLICATE, LOST, Region
from regions.versions import physical_ms, wall_ms
from replicator.kafka import change_topic, make_consumer, source_of_topic
from replicator.lag import LagTracker

__all__ = ["Applier", "SourceCounts"]

log = logging.getLogger("globaltables.applier")


@dataclass
class SourceCounts:
    """What the applier did with one source region's changes (exported by /metrics)."""

    applied: int = 0
    #: older than the local version: LWW discarded them (the region logs each one)
    conflicts_lost: int = 0
    #: equal versions, i.e. Kafka's at-least-once redeliveries
    duplicates: int = 0
    #: tables this region does not replicate
    skipped: int = 0
    undecodable: int = 0


class Applier:
    def __init__(
        self, region: Region, bootstrap: str, sources: list[str], lag: LagTracker, batch: int = 1000
    ) -> None:
        self.region = region
        self.bootstrap = bootstrap
        self.sources = sorted(sources)
        self.lag = lag
        self.batch = batch
        self.applied = 0
        self.lost = 0
        self.skipped = 0
        self.undecodable = 0
        #: failed runs (Kafka unreachable, fetch or commit failed); counted by the runner
        self.errors = 0
        #: per source region, for the per-pair metrics
        self.per_source: dict[str, SourceCounts] = {src: SourceCounts() for src in self.sources}
        for src in self.sources:
            # a source that has sent nothing yet still shows (as 0) in lag and metrics
            lag.pair(src)
        self.connected = False
        #: next offset to read per partition, as far as this applier has consumed
        self._positions: dict[TopicPartition, int] = {}
        #: next offset per partition whose records are durably applied
        self._applied_to: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        #: the offset commit in flight (_commit_in_background)
        self._committing: asyncio.Task[None] | None = None
        #: awaited with (partition, committed offset, log start offset) for every
        #: partition newly assigned, before anything is committed there: how the
        #: re-seeder learns that Kafka trimmed records never applied here
        self.on_assigned: (
            Callable[[TopicPartition, int | None, int], Awaitable[None]] | None
        ) = None

    async def wait_caught_up(self, timeout: float = 120.0, *, strict: bool = False) -> None:
        """Return once every record published to the source topics before this call
        has been applied here (used before a backfill copy).  Gives up quietly
        after ``timeout``: a backfill then relies on later writes and the verifier.
        ``strict`` (a copy for a re-seeding region, replicator/reseed.py, which
        purges what the copy lacks) raises :class:`ReseedUnavailable` instead."""

        def give_up(message: str) -> None:
            if strict:
                raise ReseedUnavailable(f"{self.region.name} cannot serve a copy: {message}")
            log.warning("catch-up: %s; backfill proceeds", message)

        if not self.sources:
            return
        deadline = time.monotonic() + timeout
        while self._consumer is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        consumer = self._consumer
        if consumer is None:
            give_up("applier not running")
            return
        partitions: list[TopicPartition] = []
        for source in self.sources:
            known = consumer.partitions_for_topic(change_topic(source))
            if not known and strict:
                # no metadata yet: "nothing to wait for" would be a guess
                give_up(f"no partition metadata for {change_topic(source)} yet")
            for p in known or ():
                partitions.append(TopicPartition(change_topic(source), p))
        ends = await consumer.end_offsets(partitions)
        # records below the log start can no longer be applied by anyone
        starts = await consumer.beginning_offsets(partitions)
        while time.monotonic() < deadline:
            behind = [
                tp
                for tp, end in ends.items()
                if end > starts.get(tp, 0) and self._applied_to.get(tp, 0) < end
            ]
            if behind and strict:
                # a partition this applier has not polled since it started: its
                # committed offset (committed only once the apply was durable) tells
                behind = [tp for tp in behind if ((await consumer.committed(tp)) or 0) < ends[tp]]
            if not behind:
                return
            await asyncio.sleep(0.1)
        give_up("timed out")

    async def run(self) -> None:
        if not self.sources:
            return
        topics = [change_topic(s) for s in self.sources]
        consumer = make_consumer(self.bootstrap, self.region.name, topics)
        await consumer.start()
        self._consumer = consumer
        self.connected = True
        checked: set[TopicPartition] = set()
        try:
            while True:
                polled = await consumer.getmany(timeout_ms=200, max_records=self.batch)
                await self._check_assigned(consumer, checked)
                sources: list[str] = []
                records: list[ChangeRecord] = []
                for tp, messages in polled.items():
                    source = source_of_topic(tp.topic)
                    if messages:
                        self._positions[tp] = messages[-1].offset + 1
                    for m in messages:
                        try:
                            records.append(ChangeRecord.decode(m.value))
                            sources.append(source)
                        except (UnknownSchema, ValueError, KeyError, TypeError):
                            # kept visible: counted and logged, never applied blindly
                            self.undecodable += 1
                            self._counts(source).undecodable += 1
                            log.error(
                                "undecodable change at %s[%d]@%d", tp.topic, tp.partition, m.offset
                            )
                # every source's records in one transaction: one durable commit per poll
                await self._apply(sources, records)
                if polled:
                    # the batch is durable: only now may Kafka forget it
                    offsets = {tp: ms[-1].offset + 1 for tp, ms in polled.items() if ms}
                    await self._commit_in_background(consumer, offsets)
                    self._applied_to.update(offsets)
                    for tp in consumer.assignment():
                        # partitions with nothing new: our position is applied too
                        if tp not in self._applied_to:
                            self._applied_to[tp] = await consumer.position(tp)
                self._update_behind(consumer)
        finally:
            self.connected = False
            self._consumer = None
            if self._committing is not None and not self._committing.done():
                # what it would have committed is durable here: redelivered, it is
                # recognised as a duplicate
                self._committing.cancel()
            self._committing = None
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _commit_in_background(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]
    ) -> None:
        """Commit ``offsets`` (already durable here) while the loop polls on.

        The commit is a round trip to the broker, which then writes its offsets
        topic; the next poll need not wait for it, as nothing it returns depends on
        it.  One commit at a time, in order: the previous one is awaited first, and
        its failure (a rebalance, say) surfaces here and restarts the applier."""
        previous = self._committing
        if previous is not None:
            self._committing = None
            await previous
        self._committing = asyncio.create_task(consumer.commit(offsets))

    async def _settle_commit(self) -> None:
        if self._committing is not None:
            task, self._committing = self._committing, None
            await task

    async def _check_assigned(
        self, consumer: AIOKafkaConsumer, checked: set[TopicPartition]
    ) -> None:
        """Report newly assigned partitions' committed and log start offsets.  Runs
        before this loop's commit, so the committed offset is still the one from
        before this process (a reset to the log start has not been committed)."""
        if self.on_assigned is None:
            return
        fresh = [tp for tp in consumer.assignment() if tp not in checked]
        if not fresh:
            return
        # what was applied before is committed before the newly assigned are read
        await self._settle_commit()
        starts = await consumer.beginning_offsets(fresh)
        for tp in fresh:
            await self.on_assigned(tp, await consumer.committed(tp), starts[tp])
            checked.add(tp)

    async def _apply(self, sources: list[str], records: list[ChangeRecord]) -> None:
        """Apply one poll's records (``sources[i]`` sent ``records[i]``) in one
        transaction, and count each one for its source -> destination pair."""
        if not records:
            return
        outcomes: list[str] = []
        stats = await self.region.apply_remote(records, outcomes=outcomes)
        self.applied += stats.applied
        self.lost += stats.lost + stats.duplicates
        self.skipped += stats.skipped
        now = wall_ms()
        wall = time.time()
        for source, rec, outcome in zip(sources, records, outcomes, strict=True):
            counts = self._counts(source)
            if outcome == APPLIED:
                counts.applied += 1
            elif outcome == LOST:
                counts.conflicts_lost += 1
            elif outcome == DUPLICATE:
                counts.duplicates += 1
            else:
                counts.skipped += 1
            self.lag.observe(source, now - physical_ms(rec.version.hlc), wall)

    def _counts(self, source: str) -> SourceCounts:
        c = self.per_source.get(source)
        if c is None:
            c = self.per_source[source] = SourceCounts()
        return c

    def _update_behind(self, consumer: AIOKafkaConsumer) -> None:
        behind: dict[str, int] = {s: 0 for s in self.sources}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            pos = self._positions.get(tp)
            if high is None or pos is None:
                continue
            behind[source_of_topic(tp.topic)] += max(high - pos, 0)
        for source, n in behind.items():
            self.lag.set_behind(source, n)
