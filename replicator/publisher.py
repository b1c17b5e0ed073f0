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
import time

from aiokafka import AIOKafkaProducer

from regions.region import Region
from replicator.health import CLOSE_TIMEOUT_S, SEND_STALL_S, BrokerSilent, KafkaContact
from replicator.kafka import change_topic, make_producer, start_or_close
from replicator.record_auth import ReplicationKeys
from replicator.tuning import env_number

__all__ = ["Publisher"]

log = logging.getLogger("globaltables.publisher")


#: how long the publisher waits for a wake-up before it looks at the outbox anyway.
#: Every committed write wakes it (in a worker process, through the pipe to the
#: primary, globaltables/workers.py), so this is a safety net, not the path changes take.
IDLE_POLL_ENV = "GLOBALTABLES_PUBLISH_IDLE_POLL_S"
IDLE_POLL_S = 0.5
#: the same while the region's nodes share the outbox: a write another node commits
#: into this node's share wakes nothing here, so the poll is the path it takes
SHARED_POLL_S = 0.1


def idle_poll_s() -> float:
    return env_number(
        IDLE_POLL_ENV,
        IDLE_POLL_S,
        float,
        lambda s: s > 0 and math.isfinite(s),
        "a number of seconds > 0",
    )


class Publisher:
    def __init__(
        self, region: Region, bootstrap: str, keys: ReplicationKeys, batch: int = 500
    ) -> None:
        self.region = region
        #: every record carries proof of its origin (invariant 9)
        self.keys = keys
        self.idle_poll_s = idle_poll_s()
        self.bootstrap = bootstrap
        self.batch = batch
        self.topic = change_topic(region.name)
        self.published = 0
        #: failed runs (Kafka unreachable, send failed; counted by the runner) and
        #: failed metadata probes while running
        self.errors = 0
        #: when the broker last answered (replicator/health.py): ``connected``
        self.contact = KafkaContact()
        #: monotonic time the outbox was last empty or a batch was last published
        self.last_progress = time.monotonic()
        #: the running producer, for GET /v1/durability (its live acks/idempotence)
        self.producer: AIOKafkaProducer | None = None
        #: (nodes, slot): this node publishes the records of the partitions with
        #: ``part mod nodes == slot``; (1, 0), every record, on a node alone.  Set by
        #: the runner from the region's live nodes (Replicator.share_outbox)
        self.share: tuple[int, int] = (1, 0)

    async def run(self) -> None:
        """Publish until cancelled; the caller restarts it with backoff on errors."""
        producer = make_producer(
            self.bootstrap,
            f"globaltables-{self.region.name}-publisher",
            self.region.settings.kafka_security,
        )
        await start_or_close(producer.start, producer.stop)
        self.contact.started()
        self.producer = producer
        probe = asyncio.create_task(
            self.contact.watch(producer.client.fetch_all_metadata, self._probe_failed)
        )
        try:
            while True:
                # clear before reading, so a commit racing with this read re-arms the wait
                self.region.changes_available.clear()
                records = await self.region.data.pending_changes(self.batch, self.share)
                if not records:
                    self.last_progress = time.monotonic()
                    poll = (
                        self.idle_poll_s
                        if self.share[0] <= 1
                        else min(self.idle_poll_s, SHARED_POLL_S)
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.region.changes_available.wait(), poll)
                    continue
                futures = []
                for r in records:
                    value, key = r.encode(), r.message_key()
                    headers = self.keys.sign(self.region.name, key, value)
                    futures.append(
                        await producer.send(self.topic, value=value, key=key, headers=headers)
                    )
                await self._delivered(futures)
                self.contact.ok()  # acknowledged by the broker
                await self.region.data.mark_published([r.seq for r in records])
                self.published += len(records)
                self.last_progress = time.monotonic()
        finally:
            self.contact.stopped()
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            self.producer = None
            await _close(producer)

    async def _delivered(self, futures: list[asyncio.Future[object]]) -> None:
        """Every send acknowledged; :class:`BrokerSilent` once the broker has not
        answered for :data:`SEND_STALL_S` (the run ends, the runner counts the error
        and restarts it; the batch is not marked published, so it is sent again)."""
        pending: set[asyncio.Future[object]] = set(futures)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=1.0)
            silence = self.contact.silence_s()
            if pending and silence is not None and silence > SEND_STALL_S:
                raise BrokerSilent(
                    f"{len(pending)} records unacknowledged, no answer from the broker "
                    f"for {silence:.0f}s"
                )
        for f in futures:
            f.result()  # a failed send raises here

    @property
    def connected(self) -> bool:
        """Running, and the broker answered within the last few seconds."""
        return self.contact.connected

    def _probe_failed(self) -> None:
        self.errors += 1

    async def backlog(self) -> int:
        """The region's whole outbox (every node's share)."""
        return await self.region.data.pending_count()


async def _close(producer: AIOKafkaProducer) -> None:
    """Stop ``producer``; if it cannot within :data:`CLOSE_TIMEOUT_S` (it waits for
    batches a silent broker never acknowledges), drop them and close its connections:
    a stop that never returns would hold up the region's shutdown."""
    try:
        await asyncio.wait_for(producer.stop(), CLOSE_TIMEOUT_S)
        return
    except TimeoutError:
        log.warning(
            "the Kafka producer did not stop in %.0fs; dropping its batches", CLOSE_TIMEOUT_S
        )
    except Exception as exc:
        log.debug("stopping the Kafka producer: %s: %s", type(exc).__name__, exc)
    # aiokafka has no public abort: its sender task and client are what stop() closes
    sender = getattr(producer, "_sender", None)
    with contextlib.suppress(Exception):
        if sender is not None:
            await sender.close()
    with contextlib.suppress(Exception):
        await producer.client.close()
