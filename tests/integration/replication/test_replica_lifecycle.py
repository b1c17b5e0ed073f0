"""A replica's states as DynamoDB reports them, through boto3 against real regions:
a new replica is CREATING (and not served) until its copy is complete, the source is
UPDATING meanwhile; deletion protection refuses a replica's removal from another
region; DeleteTable of one replica takes it out of the others' Replicas; adding a
replica without replication configured is refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess, mesh, running
from tests.integration.replication.helpers import NAMES, eventually, make_global

pytestmark = pytest.mark.integration

_ITEMS = 1500


def _status(client: Any, table: str) -> tuple[str, dict[str, str]]:
    desc = client.describe_table(TableName=table)["Table"]
    return desc["TableStatus"], {r["RegionName"]: r["ReplicaStatus"] for r in desc.get("Replicas", [])}


def _count(client: Any, table: str) -> int:
    total, start = 0, None
    while True:
        kw: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
        if start is not None:
            kw["ExclusiveStartKey"] = start
        page = client.scan(**kw)
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return total


def test_a_new_replica_is_creating_and_not_served_until_its_copy_is_complete(
    regions: dict[str, RegionProcess],
) -> None:
    east = regions["us-east-1"].client()
    west = regions["eu-west-1"].client()
    table = "filling"
    east.create_table(  # type: ignore[attr-defined]
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for start in range(0, _ITEMS, 25):
        east.batch_write_item(  # type: ignore[attr-defined]
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"id": {"S": f"k{i:05d}"}, "pad": {"S": "x" * 200}}}}
                    for i in range(start, start + 25)
                ]
            }
        )
    east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])  # type: ignore[attr-defined]
    seen: set[str] = set()
    deadline = time.monotonic() + 90
    while True:
        status, replicas = _status(west, table)
        seen.add(status)
        if status == "ACTIVE":
            # ACTIVE only once the copy is complete: every item is there
            assert replicas == {"us-east-1": "ACTIVE", "eu-west-1": "ACTIVE"}
            assert _count(west, table) == _ITEMS
            break
        assert status == "CREATING", status
        assert replicas["eu-west-1"] == "CREATING"
        # a replica being filled is not served, as a table being created is not
        with pytest.raises(ClientError) as info:
            west.get_item(TableName=table, Key={"id": {"S": "k00000"}})  # type: ignore[attr-defined]
        assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert info.value.response["Error"]["Message"] == "Requested resource not found"
        source_status, source_replicas = _status(east, table)
        if source_replicas["eu-west-1"] == "CREATING":
            assert source_status == "UPDATING"
        assert time.monotonic() < deadline, "the copy never completed"
        time.sleep(0.05)
    assert "CREATING" in seen, "the new replica was never seen CREATING"
    eventually(lambda: _status(east, table)[0] == "ACTIVE", what="the source ACTIVE again")


def test_deletion_protection_refuses_removal_from_another_region(
    regions: dict[str, RegionProcess],
) -> None:
    clients = make_global(regions, "guarded")
    east, west = clients["us-east-1"], clients["eu-west-1"]
    west.update_table(TableName="guarded", DeletionProtectionEnabled=True)
    with pytest.raises(ClientError) as info:
        east.update_table(TableName="guarded", ReplicaUpdates=[{"Delete": {"RegionName": "eu-west-1"}}])
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "protected against deletion" in info.value.response["Error"]["Message"]
    # nothing changed anywhere
    assert set(_status(east, "guarded")[1]) == set(NAMES)
    assert set(_status(west, "guarded")[1]) == set(NAMES)
    west.update_table(TableName="guarded", DeletionProtectionEnabled=False)
    east.update_table(TableName="guarded", ReplicaUpdates=[{"Delete": {"RegionName": "eu-west-1"}}])
    assert set(_status(east, "guarded")[1]) == {"us-east-1", "ap-southeast-2"}


def test_delete_table_of_one_replica_leaves_the_others_replicas(
    regions: dict[str, RegionProcess],
) -> None:
    clients = make_global(regions, "leaving")
    clients["ap-southeast-2"].delete_table(TableName="leaving")
    for name in ("us-east-1", "eu-west-1"):
        assert set(_status(clients[name], "leaving")[1]) == {"us-east-1", "eu-west-1"}, name
    clients["eu-west-1"].delete_table(TableName="leaving")
    # the last one standing is an ordinary table again
    desc = clients["us-east-1"].describe_table(TableName="leaving")["Table"]
    assert "Replicas" not in desc
    clients["us-east-1"].put_item(TableName="leaving", Item={"id": {"S": "still"}})


def test_a_replica_without_replication_configured_is_refused(tmp_path: Path) -> None:
    with running(mesh(("us-east-1", "eu-west-1"), tmp_path, None)) as procs:
        east: Any = procs["us-east-1"].client()
        east.create_table(
            TableName="lonely",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with pytest.raises(ClientError) as info:
            east.update_table(TableName="lonely", ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert "--kafka" in info.value.response["Error"]["Message"]
        assert "Replicas" not in east.describe_table(TableName="lonely")["Table"]
        with pytest.raises(ClientError):
            procs["eu-west-1"].client().describe_table(TableName="lonely")  # type: ignore[attr-defined]
