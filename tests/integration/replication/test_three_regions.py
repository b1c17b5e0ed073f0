"""Three real region processes replicating through a real Kafka broker."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.replication.helpers import NAMES, eventually, make_global, row_versions

pytestmark = pytest.mark.integration

def test_replica_set_is_visible_in_every_region(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "replicated")
    for n in NAMES:
        desc = clients[n].describe_table(TableName="replicated")["Table"]
        assert desc["GlobalTableVersion"] == "2019.11.21"
        assert sorted(r["RegionName"] for r in desc["Replicas"]) == sorted(NAMES)
        assert desc["TableId"] == clients["us-east-1"].describe_table(TableName="replicated")["Table"]["TableId"]


def test_write_in_one_region_appears_in_the_others(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "fanout")
    for n in NAMES:
        clients[n].put_item(TableName="fanout", Item={"id": {"S": f"from-{n}"}, "v": {"N": "1"}})
    for n in NAMES:
        for src in NAMES:
            eventually(
                lambda n=n, src=src: "Item" in clients[n].get_item(TableName="fanout", Key={"id": {"S": f"from-{src}"}}),
                what=f"from-{src} in {n}",
            )
    health = regions["eu-west-1"].health()
    lag = health["replication"]["lag"]  # type: ignore[index]
    assert set(lag) == {"us-east-1", "ap-southeast-2"}


def test_concurrent_writes_of_one_key_converge_on_the_highest_version(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "conflicts")
    barrier = threading.Barrier(len(NAMES))

    def writer(n: str) -> None:
        barrier.wait()
        for i in range(20):
            clients[n].put_item(TableName="conflicts", Item={"id": {"S": "hot"}, "by": {"S": n}, "i": {"N": str(i)}})

    threads = [threading.Thread(target=writer, args=(n,)) for n in NAMES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def converged() -> bool:
        vs = [row_versions(regions[n], "conflicts").get("hot") for n in NAMES]
        return all(v is not None for v in vs) and len(set(vs)) == 1  # type: ignore[arg-type]

    eventually(converged, what="convergence")
    # the winner is the highest version any region issued for the key
    highest = max(
        (hlc, origin)
        for n in NAMES
        for hlc, origin in sqlite3.connect(regions[n].store.removeprefix("sqlite:///")).execute(
            "SELECT hlc, origin FROM gt_changes WHERE origin = ?", (n,)
        )
    )
    hlc, origin, _ = row_versions(regions["us-east-1"], "conflicts")["hot"]
    assert (hlc, origin) == highest
    items = [clients[n].get_item(TableName="conflicts", Key={"id": {"S": "hot"}})["Item"] for n in NAMES]
    assert items[0] == items[1] == items[2]
    assert items[0]["by"]["S"] == origin


def test_delete_replicates_and_a_late_older_write_does_not_resurrect(
    regions: dict[str, RegionProcess], kafka_bootstrap: str
) -> None:
    import asyncio

    from aiokafka import AIOKafkaProducer

    from regions.changes import ChangeRecord
    from regions.versions import Version
    from replicator.record_auth import ReplicationKeys
    from tests.fixtures.kafka import kafka_client_kwargs
    from tests.fixtures.regions import SECRET_KEY

    clients = make_global(regions, "tombstones")
    key = {"id": {"S": "doomed"}}
    clients["us-east-1"].put_item(TableName="tombstones", Item={**key, "v": {"S": "first"}})
    for n in NAMES:
        eventually(lambda n=n: "Item" in clients[n].get_item(TableName="tombstones", Key=key), what=f"put in {n}")
    first_version = row_versions(regions["us-east-1"], "tombstones")["doomed"]
    clients["eu-west-1"].delete_item(TableName="tombstones", Key=key)
    for n in NAMES:
        eventually(lambda n=n: "Item" not in clients[n].get_item(TableName="tombstones", Key=key), what=f"delete in {n}")

    # a write from ap-southeast-2 that is older than the delete arrives late
    table_id = clients["us-east-1"].describe_table(TableName="tombstones")["Table"]["TableId"]
    late = ChangeRecord(
        table="tombstones",
        table_id=table_id,
        event="MODIFY",
        keys=key,
        new_image={**key, "v": {"S": "zombie"}},
        old_image=None,
        version=Version(first_version[0] + 1, "ap-southeast-2"),
        hash_key=b"doomed",
    )

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all", **kafka_client_kwargs())
        await producer.start()
        try:
            value, key = late.encode(), late.message_key()
            # signed with the deployment's key, as ap-southeast-2 itself would
            headers = ReplicationKeys((SECRET_KEY,)).sign("ap-southeast-2", key, value)
            await producer.send_and_wait("globaltables.ap-southeast-2.changes", value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(produce())
    # a marker written after the late record proves the late one has been consumed
    clients["ap-southeast-2"].put_item(TableName="tombstones", Item={"id": {"S": "marker"}})
    for n in ("us-east-1", "eu-west-1"):
        eventually(lambda n=n: "Item" in clients[n].get_item(TableName="tombstones", Key={"id": {"S": "marker"}}), what="marker")
    for n in NAMES:
        assert "Item" not in clients[n].get_item(TableName="tombstones", Key=key, ConsistentRead=True)
        _, origin, data = row_versions(regions[n], "tombstones")["doomed"]
        assert data is None and origin == "eu-west-1"


def test_sigkilled_replicator_loses_nothing_and_applies_nothing_twice(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "crashy")
    total = 300
    stop = threading.Event()

    def load() -> None:
        for i in range(total):
            clients["us-east-1"].put_item(TableName="crashy", Item={"id": {"S": f"k{i:04d}"}, "i": {"N": str(i)}})

    t = threading.Thread(target=load)
    t.start()
    victim = regions["eu-west-1"]
    # kill the receiving region (API + replicator) mid-stream, twice
    for _ in range(2):
        eventually(lambda: len(row_versions(victim, "crashy")) > 0, what="some items applied")
        time.sleep(0.3)
        victim.kill(signal.SIGKILL)
        time.sleep(0.5)
        victim.start()
    t.join()
    stop.set()
    eventually(lambda: len(row_versions(victim, "crashy")) == total, timeout=60, what="all items in eu-west-1")
    eventually(lambda: len(row_versions(regions["ap-southeast-2"], "crashy")) == total, timeout=60, what="all in ap")
    # exactly one change record per applied version: redelivery had no effect
    path = Path(victim.store.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        dupes = db.execute(
            "SELECT hlc, origin, COUNT(*) FROM gt_changes c JOIN gt_tables t ON c.tid = t.tid "
            "WHERE t.name = 'crashy' GROUP BY hlc, origin HAVING COUNT(*) > 1"
        ).fetchall()
        logged = db.execute(
            "SELECT COUNT(*) FROM gt_changes c JOIN gt_tables t ON c.tid = t.tid WHERE t.name = 'crashy'"
        ).fetchone()[0]
    assert dupes == []
    assert logged == total
    east = row_versions(regions["us-east-1"], "crashy")
    assert row_versions(victim, "crashy") == east


def test_conflict_log_records_every_discarded_change(regions: dict[str, RegionProcess]) -> None:
    import subprocess
    import sys

    from tests.fixtures.regions import REPO
    from tests.integration.api.support import http

    clients = make_global(regions, "conflict-log")
    barrier = threading.Barrier(2)

    def writer(n: str) -> None:
        barrier.wait()
        for i in range(15):
            clients[n].put_item(TableName="conflict-log", Item={"id": {"S": "k"}, "by": {"S": n}, "i": {"N": str(i)}})

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("us-east-1", "eu-west-1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def converged() -> bool:
        vs = [row_versions(regions[n], "conflict-log").get("k") for n in NAMES]
        return all(v is not None for v in vs) and len(set(vs)) == 1  # type: ignore[arg-type]

    eventually(converged, what="convergence")
    final = row_versions(regions["us-east-1"], "conflict-log")["k"]
    logged = []
    for n in NAMES:
        # signed with the admin key: keys and images are not public (test_conflicts_visibility)
        body = http().get(f"{regions[n].url}/v1/conflicts", params={"table": "conflict-log"}).json()
        assert body["region"] == n
        logged += body["conflicts"]
    # with 30 interleaved writes of one key, some remote change arrived after a newer one
    assert logged
    for c in logged:
        assert (c["loser"]["hlc"], c["loser"]["origin"]) < (c["winner"]["hlc"], c["winner"]["origin"])
        assert c["keys"] == {"id": {"S": "k"}}
        assert c["loser"]["origin"] in ("us-east-1", "eu-west-1")
    # nothing that lost is the final state
    assert all((c["loser"]["hlc"], c["loser"]["origin"]) != final[:2] for c in logged)
    out = subprocess.run(
        [sys.executable, "-m", "globaltables.cli", "conflicts", "--endpoint", regions["ap-southeast-2"].url,
         "--table", "conflict-log"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "conflict-log" in out.stdout or "no conflicts recorded" in out.stdout


def test_applied_changes_have_their_kafka_offsets_committed(
    regions: dict[str, RegionProcess], kafka_bootstrap: str
) -> None:
    """The applier commits a durable batch's offsets in the background, while it polls
    on: they still reach the broker, up to the end of the source's topic, once the
    writes stop (nothing committed would mean every restart re-applies it all)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from replicator.kafka import apply_group, change_topic
    from tests.fixtures.kafka import kafka_client_kwargs

    clients = make_global(regions, "offsets")
    for i in range(30):
        clients["us-east-1"].put_item(TableName="offsets", Item={"id": {"S": f"k{i}"}})
    eventually(
        lambda: clients["eu-west-1"].scan(TableName="offsets", ConsistentRead=True)["Count"] == 30,
        what="the writes in eu-west-1",
    )

    async def behind() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, client_id="offsets-check", **kafka_client_kwargs())
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="offsets-check", **kafka_client_kwargs())
        await consumer.start()
        await admin.start()
        try:
            topic = change_topic("us-east-1")
            described = await admin.describe_topics([topic])
            parts = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
            ends = await consumer.end_offsets(parts)
            committed = await admin.list_consumer_group_offsets(apply_group("eu-west-1"))
            return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
        finally:
            await consumer.stop()
            await admin.close()

    eventually(lambda: asyncio.run(behind()) == 0, 30, "eu-west-1's offsets committed to the end")
