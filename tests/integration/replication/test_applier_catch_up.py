"""``Applier.wait_caught_up`` when another node of the region holds some partitions.

Several nodes of one region run one applier each in the same consumer group, so a
partition assigned to another node never shows in this applier's own progress.  Its
committed offset (committed only once the apply is durable) tells instead, in the
non-strict mode (a backfill's catch-up) too: without that, the catch-up waited for
its whole timeout.  Real Kafka (the session broker), a real SQLite region in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from regions.changes import ChangeRecord
from regions.region import Region
from regions.settings import RegionSettings
from regions.versions import LOGICAL_BITS, Version, wall_ms
from replicator.applier import Applier
from replicator.kafka import apply_group, change_topic, ensure_topics
from replicator.lag import LagTracker
from replicator.record_auth import ReplicationKeys
from tests.fixtures.kafka import kafka_client_kwargs, kafka_security

pytestmark = pytest.mark.integration

#: names no other test uses (the session broker is shared)
DEST, SOURCE = "catchup-dest", "catchup-src"
KEYS = ReplicationKeys(("catch-up-test-replication-key",))


async def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _produce(bootstrap: str, topic: str, per_partition: int) -> dict[TopicPartition, int]:
    """Signed records of a table this region does not have (applied as "skipped") on
    both partitions; the end offset of each."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **kafka_client_kwargs())
    await producer.start()
    ends: dict[TopicPartition, int] = {}
    try:
        for partition in (0, 1):
            for i in range(per_partition):
                rec = ChangeRecord(
                    table="elsewhere",
                    table_id="t",
                    event="INSERT",
                    keys={"pk": {"S": f"{partition}-{i}"}},
                    new_image={"pk": {"S": f"{partition}-{i}"}},
                    old_image=None,
                    version=Version(wall_ms() << LOGICAL_BITS, SOURCE),
                )
                value, key = rec.encode(), rec.message_key()
                meta = await producer.send_and_wait(
                    topic,
                    value,
                    key=key,
                    partition=partition,
                    headers=list(KEYS.sign(SOURCE, key, value)),
                )
                ends[TopicPartition(topic, partition)] = meta.offset + 1
    finally:
        await producer.stop()
    return ends


async def test_a_partition_of_another_node_is_judged_by_its_committed_offset(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = change_topic(SOURCE)
    await ensure_topics(kafka_bootstrap, [topic], 2, kafka_security())
    ends = await _produce(kafka_bootstrap, topic, 5)
    region = Region(
        RegionSettings(
            name=DEST,
            store_url=f"sqlite:///{tmp_path}/dest.db",
            kafka=kafka_bootstrap,
            kafka_security=kafka_security(),
            peers={SOURCE: "http://127.0.0.1:9"},
        )
    )
    await region.open()
    # "the other node": a member of the region's group that reads and does not commit
    other = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=apply_group(DEST),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_client_kwargs(),
    )
    await other.start()

    async def poll_other() -> None:
        while True:
            await other.getmany(timeout_ms=200)

    applier = Applier(region, kafka_bootstrap, [SOURCE], LagTracker(DEST), KEYS)
    [feed] = applier.feeds
    tasks = [asyncio.create_task(poll_other()), asyncio.create_task(feed.run())]
    try:

        def split() -> bool:
            mine = feed._consumer.assignment() if feed._consumer is not None else set()
            return len(mine) == 1 and len(other.assignment()) == 1 and not mine & other.assignment()

        await _wait(split, 60, "the two members to hold a partition each")
        assert feed._consumer is not None
        [mine] = feed._consumer.assignment()
        [theirs] = other.assignment()
        await _wait(lambda: feed._applied_to.get(mine, 0) >= ends[mine], 30, "our partition")

        # the other node has not applied (committed) its partition: not caught up
        started = time.monotonic()
        await applier.wait_caught_up(2.0)
        assert time.monotonic() - started >= 1.9, "claimed caught up with records unapplied"

        # it applied and committed them: caught up at once, not after the timeout
        await other.commit({theirs: ends[theirs]})
        started = time.monotonic()
        await applier.wait_caught_up(30.0)
        assert time.monotonic() - started < 5.0
        started = time.monotonic()
        await applier.wait_caught_up(30.0, strict=True)  # the re-seed copy's catch-up
        assert time.monotonic() - started < 5.0
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await other.stop()
        await region.close()
