"""A global table's billing mode and capacities are the same in every replica, as in
DynamoDB's 2019.11.21 global tables: UpdateTable in any region changes them
everywhere, and a new replica starts with them.  Three real regions, boto3."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.replication.helpers import NAMES, eventually

pytestmark = pytest.mark.integration


def _pt(rcu: int, wcu: int) -> dict[str, int]:
    return {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}


def _throughput(client: Any, table: str) -> tuple[str, tuple[int, int], dict[str, tuple[int, int]]]:
    """(billing mode, table (rcu, wcu), {gsi: (rcu, wcu)}) as DescribeTable shows them."""
    desc = client.describe_table(TableName=table)["Table"]
    mode = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    pt = desc["ProvisionedThroughput"]
    gsis = {
        g["IndexName"]: (
            g["ProvisionedThroughput"]["ReadCapacityUnits"],
            g["ProvisionedThroughput"]["WriteCapacityUnits"],
        )
        for g in desc.get("GlobalSecondaryIndexes", [])
    }
    return mode, (pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]), gsis


def _everywhere(
    clients: dict[str, Any], names: tuple[str, ...], table: str, expected: object
) -> None:
    for name in names:
        eventually(
            lambda c=clients[name]: _throughput(c, table) == expected,
            timeout=15,
            what=f"{expected} in {name} (it shows {_throughput(clients[name], table)})",
        )


def test_capacity_settings_are_the_same_in_every_replica(
    regions: dict[str, RegionProcess],
) -> None:
    clients: dict[str, Any] = {n: regions[n].client() for n in NAMES}
    east, west, south = (clients[n] for n in NAMES)
    table = f"cap-{uuid.uuid4().hex[:8]}"
    east.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput=_pt(5, 5),
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": _pt(3, 3),
            }
        ],
    )
    east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
    # the new replica starts with the table's capacity
    _everywhere(clients, NAMES[:2], table, ("PROVISIONED", (5, 5), {"by-g": (3, 3)}))

    # changed in the replica: the table's and the GSI's capacity reach the other one
    west.update_table(
        TableName=table,
        ProvisionedThroughput=_pt(7, 9),
        GlobalSecondaryIndexUpdates=[
            {"Update": {"IndexName": "by-g", "ProvisionedThroughput": _pt(4, 6)}}
        ],
    )
    _everywhere(clients, NAMES[:2], table, ("PROVISIONED", (7, 9), {"by-g": (4, 6)}))

    # a replica added later starts with the current settings
    west.update_table(
        TableName=table, ReplicaUpdates=[{"Create": {"RegionName": "ap-southeast-2"}}]
    )
    _everywhere(clients, NAMES, table, ("PROVISIONED", (7, 9), {"by-g": (4, 6)}))

    # the billing mode switches everywhere, whichever region is asked
    south.update_table(TableName=table, BillingMode="PAY_PER_REQUEST")
    _everywhere(clients, NAMES, table, ("PAY_PER_REQUEST", (0, 0), {"by-g": (0, 0)}))
    for client in clients.values():
        summary = client.describe_table(TableName=table)["Table"]["BillingModeSummary"]
        assert "LastUpdateToPayPerRequestDateTime" in summary

    east.update_table(
        TableName=table,
        BillingMode="PROVISIONED",
        ProvisionedThroughput=_pt(2, 3),
        GlobalSecondaryIndexUpdates=[
            {"Update": {"IndexName": "by-g", "ProvisionedThroughput": _pt(1, 2)}}
        ],
    )
    _everywhere(clients, NAMES, table, ("PROVISIONED", (2, 3), {"by-g": (1, 2)}))

    # per-replica settings stay per replica: deletion protection is not copied
    west.update_table(TableName=table, DeletionProtectionEnabled=True)
    assert west.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"] is True
    assert east.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"] is False
    west.update_table(TableName=table, DeletionProtectionEnabled=False)
