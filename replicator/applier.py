"""Applier: other regions' topics -> LWW apply into this region -> commit offsets.

Each poll's records are applied in ONE store transaction, and the Kafka offsets
are committed only after that transaction is durable (invariant 7).  If the
process dies in between, Kafka redelivers the batch and the LWW check makes the
second apply a no-op (invariant 3), so the effect is exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from regions.changes import ChangeRecord, UnknownSchema
from regions.region import Region
from regions.versions import physical_ms, wall_ms
from replicator.kafka import change_topic, make_consumer, source_of_topic
from replicator.lag import LagTracker

__all__ = ["Applier"]

log = logging.getLogger("globaltables.applier")


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
        self.connected = False
        #: next offset to read per partition, as far as this applier has consumed
        self._positions: dict[TopicPartition, int] = {}

    async def run(self) -> None:
        if not self.sources:
            return
        topics = [change_topic(s) for s in self.sources]
        consumer = make_consumer(self.bootstrap, self.region.name, topics)
        await consumer.start()
        self.connected = True
        try:
            while True:
                polled = await consumer.getmany(timeout_ms=200, max_records=self.batch)
                records: list[ChangeRecord] = []
                origins: list[str] = []
                for tp, messages in polled.items():
                    source = source_of_topic(tp.topic)
                    if messages:
                        self._positions[tp] = messages[-1].offset + 1
                    for m in messages:
                        try:
                            records.append(ChangeRecord.decode(m.value))
                            origins.append(source)
                        except (UnknownSchema, ValueError, KeyError, TypeError):
                            # kept visible: counted and logged, never applied blindly
                            self.undecodable += 1
                            log.error("undecodable change at %s[%d]@%d", tp.topic, tp.partition, m.offset)
                if records:
                    stats = await self.region.apply_remote(records)
                    self.applied += stats.applied
                    self.lost += stats.lost + stats.duplicates
                    self.skipped += stats.skipped
                    now = wall_ms()
                    for rec, source in zip(records, origins, strict=True):
                        self.lag.observe(source, now - physical_ms(rec.version.hlc), time.time())
                if polled:
                    # the batch is durable: only now may Kafka forget it
                    await consumer.commit()
                self._update_behind(consumer)
        finally:
            self.connected = False
            with contextlib.suppress(Exception):
                await consumer.stop()

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
