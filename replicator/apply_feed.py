"""One Kafka cluster's share of the applier: a consumer, its offsets, its contact.

A region reads each source's change topic from the cluster that holds it
(replicator/kafka.py ``source_clusters``): this region's own ``--kafka``, or the
source's cluster named by ``--peer-kafka``.  Each cluster gets a :class:`ClusterFeed`,
with its own consumer in the group ``apply_group(region)`` on that cluster, its own
poll/apply/commit loop and its own restart loop in the runner, so a cluster that is
down stalls only the sources it holds; the others keep applying.  The apply itself
(checks, LWW, quarantine, counts, lag) is the :class:`~replicator.applier.Applier`'s,
shared by every feed: each poll of a feed is one store transaction, and its offsets
are committed on its cluster only once that transaction is durable (invariant 7).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from regions.changes import ChangeRecord, InvalidRecord
from replicator.health import KafkaContact
from replicator.kafka import (
    Cluster,
    change_topic,
    make_consumer,
    source_of_topic,
    start_or_close,
    stop_consumer,
)
from replicator.quarantine import Suspect
from replicator.record_auth import open_record

if TYPE_CHECKING:
    from replicator.applier import Applier

__all__ = ["ClusterFeed", "suspect"]

_T = TypeVar("_T")


class ClusterFeed:
    """The sources whose topics one cluster holds, read by one consumer."""

    def __init__(self, applier: Applier, cluster: Cluster) -> None:
        self.applier = applier
        self.cluster = cluster
        self.bootstrap = cluster.bootstrap
        self.sources = list(cluster.sources)
        #: when this cluster's broker last answered (replicator/health.py)
        self.contact = KafkaContact()
        #: failed runs and failed metadata probes of this feed (the applier's
        #: ``errors`` counts them too)
        self.errors = 0
        #: monotonic time of the last poll that applied records or found none waiting
        self.last_progress = time.monotonic()
        #: records published to these sources' topics and not yet read (last poll)
        self.behind = 0
        #: next offset to read per partition, as far as this consumer has read
        self._positions: dict[TopicPartition, int] = {}
        #: next offset per partition whose records are durably applied
        self._applied_to: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        #: the offset commit in flight (_commit_in_background)
        self._committing: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """Running, and this cluster answered within the last few seconds."""
        return self.contact.connected

    def assigned(self) -> list[str]:
        """``topic[partition]`` of every partition this consumer holds now."""
        consumer = self._consumer
        if consumer is None:
            return []
        return sorted(f"{tp.topic}[{tp.partition}]" for tp in consumer.assignment())

    def where(self) -> str:
        """``HOST:PORT for eu-west-1, ap-southeast-2``: for problems and logs."""
        return f"{self.bootstrap} for {', '.join(self.sources)}"

    async def run(self) -> None:
        """Poll, apply, commit until cancelled; the runner restarts it with backoff."""
        region = self.applier.region
        consumer = make_consumer(
            self.bootstrap,
            region.name,
            [change_topic(s) for s in self.sources],
            self.cluster.security,
        )
        # a start that did not finish holds no partitions: no reason to wait for the group
        await start_or_close(consumer.start, partial(stop_consumer, consumer, 0.0))
        self._consumer = consumer
        self.contact.started()
        probe = asyncio.create_task(self.contact.watch(consumer.topics, self._probe_failed))
        checked: set[TopicPartition] = set()
        try:
            while True:
                polled = await consumer.getmany(timeout_ms=200, max_records=self.applier.batch)
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
                            rec = open_record(self.applier.keys, source, m.key, m.value, m.headers)
                        except InvalidRecord as exc:
                            suspects.append(suspect(source, tp, m, exc.reason, exc.detail))
                            continue
                        except Exception as exc:
                            # a check that raised is a record never to retry, not a stall
                            detail = f"{exc.__class__.__name__}: {exc}"[:500]
                            suspects.append(suspect(source, tp, m, "malformed", detail))
                            continue
                        records.append(rec)
                        sources.append(source)
                        messages_of.append((tp, m))
                # every source's records of this poll in one transaction
                await self.applier._apply(sources, records, messages_of, suspects)
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
                await stop_consumer(consumer)

    async def wait_caught_up(self, deadline: float, *, strict: bool) -> str | None:
        """None once every record published to these sources' topics before the call
        is applied here; else why not (by ``deadline``, a monotonic time).

        A partition is applied when this consumer applied up to its end, or when the
        group's committed offset reaches the end: offsets are committed only once the
        apply is durable, by whichever process of this region held the partition.
        That is how a partition assigned to another node of the region (multi-node
        regions share the group) is judged, and, in ``strict`` mode, one this consumer
        has not polled since it started."""
        while self._consumer is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        consumer = self._consumer
        if consumer is None:
            return "applier not running"
        partitions: list[TopicPartition] = []
        for source in self.sources:
            known = consumer.partitions_for_topic(change_topic(source))
            if not known and strict:
                # no metadata yet: "nothing to wait for" would be a guess
                return f"no partition metadata for {change_topic(source)} yet"
            for p in known or ():
                partitions.append(TopicPartition(change_topic(source), p))
        try:
            ends = await _within(deadline, consumer.end_offsets(partitions))
            # records below the log start can no longer be applied by anyone
            starts = await _within(deadline, consumer.beginning_offsets(partitions))
            while time.monotonic() < deadline:
                assigned = consumer.assignment()
                behind: list[TopicPartition] = []
                for tp, end in ends.items():
                    if end <= starts.get(tp, 0) or self._applied_to.get(tp, 0) >= end:
                        continue
                    if strict or tp not in assigned:
                        committed = await _within(deadline, consumer.committed(tp))
                        if (committed or 0) >= end:
                            continue
                    behind.append(tp)
                if not behind:
                    return None
                await asyncio.sleep(0.1)
        except TimeoutError:
            pass
        except Exception as exc:
            # the cluster went away mid-way (or the consumer was restarted)
            return f"offsets unavailable ({type(exc).__name__})"
        return "timed out"

    async def _commit_in_background(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]
    ) -> None:
        """Commit ``offsets`` (already durable here) while the loop polls on.

        The commit is a round trip to the broker, which then writes its offsets
        topic; the next poll need not wait for it, as nothing it returns depends on
        it.  One commit at a time, in order: the previous one is awaited first, and
        its failure (a rebalance, say) surfaces here and restarts this feed."""
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
        """Report newly assigned partitions' committed and log start offsets to the
        re-seeder (``Applier.on_assigned``).  Runs before this loop's commit, so the
        committed offset is still the one from before this process (a reset to the
        log start has not been committed)."""
        on_assigned = self.applier.on_assigned
        if on_assigned is None:
            return
        fresh = [tp for tp in consumer.assignment() if tp not in checked]
        if not fresh:
            return
        # what was applied before is committed before the newly assigned are read
        await self._settle_commit()
        starts = await consumer.beginning_offsets(fresh)
        for tp in fresh:
            await on_assigned(tp, await consumer.committed(tp), starts[tp])
            checked.add(tp)

    def _update_behind(self, consumer: AIOKafkaConsumer) -> None:
        behind: dict[str, int] = {s: 0 for s in self.sources}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            pos = self._positions.get(tp)
            if high is None or pos is None:
                continue
            behind[source_of_topic(tp.topic)] += max(high - pos, 0)
        for source, n in behind.items():
            self.applier.lag.set_behind(source, n)
        self.behind = sum(behind.values())

    def _probe_failed(self) -> None:
        self.errors += 1
        self.applier.errors += 1


async def _within(deadline: float, awaitable: Awaitable[_T]) -> _T:
    """``awaitable``, or TimeoutError at ``deadline`` (a cluster that is down leaves
    aiokafka's offset requests waiting for it)."""
    return await asyncio.wait_for(awaitable, max(deadline - time.monotonic(), 0.01))


def suspect(
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
