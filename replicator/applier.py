"""Applier: other regions' topics -> checks -> LWW apply into this region -> commit offsets.

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
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from regions.changes import ChangeRecord, InvalidRecord
from regions.counters import REJECTED, ApplyCounts
from regions.errors import ReseedUnavailable
from regions.region import Region
from regions.versions import physical_ms, wall_ms
from replicator.health import KafkaContact
from replicator.kafka import change_topic, make_consumer, source_of_topic, start_or_close
from replicator.lag import LagTracker
from replicator.quarantine import APPLY_ERROR, Quarantine, Suspect
from replicator.record_auth import ReplicationKeys, open_record

__all__ = ["Applier"]

log = logging.getLogger("globaltables.applier")


class Applier:
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
        self.bootstrap = bootstrap
        self.sources = sorted(sources)
        self.lag = lag
        self.batch = batch
        #: what became of every record read (regions/counters.py): ``lost`` ones lost
        #: last-writer-wins to a newer local version (each is in the conflict log, not
        #: data loss), ``duplicates`` are redeliveries of a change already applied
        self.totals = ApplyCounts()
        #: failed runs (Kafka unreachable, fetch or commit failed); counted by the runner
        self.errors = 0
        #: per source region, for the per-pair metrics
        self.per_source: dict[str, ApplyCounts] = {src: ApplyCounts() for src in self.sources}
        for src in self.sources:
            # a source that has sent nothing yet still shows (as 0) in lag and metrics
            lag.pair(src)
        #: when the broker last answered (replicator/health.py): ``connected``
        self.contact = KafkaContact()
        #: monotonic time of the last poll that applied records or found none waiting;
        #: older than a few seconds while running = stuck (Replicator.problems)
        self.last_progress = time.monotonic()
        #: records published to the sources' topics and not yet read (last poll)
        self.behind = 0
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
        consumer = make_consumer(
            self.bootstrap, self.region.name, topics, self.region.settings.kafka_security
        )
        await start_or_close(consumer.start, consumer.stop)
        self._consumer = consumer
        self.contact.started()
        probe = asyncio.create_task(self.contact.watch(consumer.topics, self._probe_failed))
        checked: set[TopicPartition] = set()
        try:
            while True:
                polled = await consumer.getmany(timeout_ms=200, max_records=self.batch)
                await self._check_assigned(consumer, checked)
                sources: list[str] = []
                records: list[ChangeRecord] = []
                messages_of: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes]]] = []
                suspects: list[Suspect] = []
                for tp, messages in polled.items():
                    source = source_of_topic(tp.topic)
                    if messages:
                        self._positions[tp] = messages[-1].offset + 1
                    for m in messages:
                        try:
                            rec = open_record(self.keys, source, m.key, m.value, m.headers)
                        except InvalidRecord as exc:
                            suspects.append(_suspect(source, tp, m, exc.reason, exc.detail))
                            continue
                        except Exception as exc:
                            # a check that raised is a record never to retry, not a stall
                            detail = f"{exc.__class__.__name__}: {exc}"[:500]
                            suspects.append(_suspect(source, tp, m, "malformed", detail))
                            continue
                        records.append(rec)
                        sources.append(source)
                        messages_of.append((tp, m))
                # every source's records in one transaction: one durable commit per poll
                await self._apply(sources, records, messages_of, suspects)
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
                if polled or not self.behind:
                    self.last_progress = time.monotonic()
                if polled:
                    self.contact.ok()  # records came from the broker
        finally:
            self.contact.stopped()
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
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
            suspects.append(_suspect(sources[i], tp, m, err.reason, err.detail))
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
        self.behind = sum(behind.values())

    @property
    def connected(self) -> bool:
        """Running, and the broker answered within the last few seconds."""
        return self.contact.connected

    def _probe_failed(self) -> None:
        self.errors += 1


def _suspect(
    source: str, tp: TopicPartition, m: ConsumerRecord[bytes, bytes], reason: str, detail: str
) -> Suspect:
    return Suspect(
        source=source,
        topic=tp.topic,
        partition=tp.partition,
        offset=m.offset,
        key=m.key,
        value=m.value,
        headers=tuple(m.headers or ()),
        reason=reason,
        detail=detail,
    )
