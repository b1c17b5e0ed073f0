"""Publisher: local-origin change records -> this region's Kafka topic.

At-least-once: a batch is marked published in the store only after Kafka
acknowledged every record of it (acks=all, idempotent producer).  A crash between
the two re-sends the batch after restart; appliers drop the duplicates because
their versions are not newer (invariant 3).  Only records logged ``pending`` are
read, and only local writes are logged pending, so nothing applied from another
region is ever re-published (invariant 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os

from aiokafka import AIOKafkaProducer

from regions.region import Region
from replicator.kafka import change_topic, make_producer

__all__ = ["Publisher"]

log = logging.getLogger("globaltables.publisher")


#: how long the publisher waits for a wake-up before it looks at the outbox anyway.
#: Every committed write wakes it (in a worker process, through the pipe to the
#: primary, api/workers.py), so this is a safety net, not the path changes take.
IDLE_POLL_ENV = "GLOBALTABLES_PUBLISH_IDLE_POLL_S"
IDLE_POLL_S = 0.5


def idle_poll_s() -> float:
    text = os.environ.get(IDLE_POLL_ENV)
    if text is None:
        return IDLE_POLL_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{IDLE_POLL_ENV} must be a number of seconds > 0, not {text!r}")
    return value


class Publisher:
    def __init__(self, region: Region, bootstrap: str, batch: int = 500) -> None:
        self.region = region
        self.idle_poll_s = idle_poll_s()
        self.bootstrap = bootstrap
        self.batch = batch
        self.topic = change_topic(region.name)
        self.published = 0
        #: failed runs (Kafka unreachable, send failed); counted by the runner
        self.errors = 0
        self.connected = False
        #: the running producer, for GET /v1/durability (its live acks/idempotence)
        self.producer: AIOKafkaProducer | None = None

    async def run(self) -> None:
        """Publish until cancelled; the caller restarts it with backoff on errors."""
        producer = make_producer(self.bootstrap, f"globaltables-{self.region.name}-publisher")
        await producer.start()
        self.connected = True
        self.producer = producer
        try:
            while True:
                # clear before reading, so a commit racing with this read re-arms the wait
                self.region.changes_available.clear()
                records = await self.region.pending_changes(self.batch)
                if not records:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self.region.changes_available.wait(), self.idle_poll_s
                        )
                    continue
                futures = [
                    await producer.send(self.topic, value=r.encode(), key=r.message_key())
                    for r in records
                ]
                await asyncio.gather(*futures)
                await self.region.mark_published([r.seq for r in records])
                self.published += len(records)
        finally:
            self.connected = False
            self.producer = None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def backlog(self) -> int:
        return await self.region.pending_count()
