"""Adding a replica to a table that holds items (backfill) and removing replicas,
with three real regions and real Kafka."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.replication.helpers import NAMES, eventually, row_versions

pytestmark = pytest.mark.integration


def _replicas(client: Any, table: str) -> dict[str, str]:
    desc = client.describe_table(TableName=table)["Table"]
    return {r["RegionName"]: r["ReplicaStatus"] for r in desc.get("Replicas", [])}


def test_backfill_copies_existing_items_while_writes_continue(regions: dict[str, RegionProcess]) -> None:
    clients = {n: regions[n].client() for n in NAMES}
    east = clients["us-east-1"]
    east.create_table(
        TableName="backfilled",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(600):
        east.put_item(TableName="backfilled", Item={"id": {"S": f"old-{i:04d}"}, "n": {"N": str(i)}})
    for i in range(0, 600, 10):
        east.delete_item(TableName="backfilled", Key={"id": {"S": f"old-{i:04d}"}})

    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 400:
            east.put_item(TableName="backfilled", Item={"id": {"S": f"new-{i:04d}"}})
            # rewrite an old item too, racing with its copy
            east.put_item(TableName="backfilled", Item={"id": {"S": f"old-{(i * 7) % 600:04d}"}, "rewritten": {"BOOL": True}})
            written.append(f"new-{i:04d}")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    out = east.update_table(TableName="backfilled", ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
    statuses = {r["RegionName"]: r["ReplicaStatus"] for r in out["TableDescription"]["Replicas"]}
    assert statuses == {"us-east-1": "ACTIVE", "eu-west-1": "CREATING"}
    eventually(lambda: _replicas(east, "backfilled").get("eu-west-1") == "ACTIVE", timeout=90, what="backfill done")
    stop.set()
    t.join()
    assert _replicas(clients["eu-west-1"], "backfilled") == {"us-east-1": "ACTIVE", "eu-west-1": "ACTIVE"}

    def same() -> bool:
        return row_versions(regions["us-east-1"], "backfilled") == row_versions(regions["eu-west-1"], "backfilled")

    eventually(same, timeout=60, what="replica identical to the source, tombstones included")
    rewritten = {f"old-{(j * 7) % 600:04d}" for j in range(len(written))}
    resurrected = sum(1 for i in range(0, 600, 10) if f"old-{i:04d}" in rewritten)
    expected = 540 + len(written) + resurrected
    for n in ("us-east-1", "eu-west-1"):
        assert clients[n].scan(TableName="backfilled", Select="COUNT")["Count"] == expected
    # ap-southeast-2 was never part of it
    with pytest.raises(Exception) as info:
        clients["ap-southeast-2"].describe_table(TableName="backfilled")
    assert "ResourceNotFoundException" in str(info.value)


def test_remove_replica(regions: dict[str, RegionProcess]) -> None:
    clients = {n: regions[n].client() for n in NAMES}
    east = clients["us-east-1"]
    east.create_table(
        TableName="shrinking",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for r in NAMES[1:]:
        east.update_table(TableName="shrinking", ReplicaUpdates=[{"Create": {"RegionName": r}}])
    clients["eu-west-1"].update_table(TableName="shrinking", ReplicaUpdates=[{"Delete": {"RegionName": "ap-southeast-2"}}])
    assert set(_replicas(east, "shrinking")) == {"us-east-1", "eu-west-1"}
    with pytest.raises(Exception) as info:
        clients["ap-southeast-2"].describe_table(TableName="shrinking")
    assert "ResourceNotFoundException" in str(info.value)
    east.put_item(TableName="shrinking", Item={"id": {"S": "after"}})
    eventually(lambda: "Item" in clients["eu-west-1"].get_item(TableName="shrinking", Key={"id": {"S": "after"}}), what="still replicating")
    # the last pair split: both are single-region tables again
    east.update_table(TableName="shrinking", ReplicaUpdates=[{"Delete": {"RegionName": "eu-west-1"}}])
    assert "Replicas" not in east.describe_table(TableName="shrinking")["Table"]
