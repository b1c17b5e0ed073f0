"""Per-replica settings of a 2019.11.21 global table, as DynamoDB has them: a
replica's read capacity (ProvisionedThroughputOverride), on-demand read maximum
(OnDemandThroughputOverride), per-GSI read overrides and table class
(TableClassOverride), set by ReplicaUpdates Create and Update from any region,
in force in that replica only and listed in every region's ``Replicas``.  Three
real regions on real Kafka, boto3."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess
from tests.integration.replication.helpers import NAMES, eventually

pytestmark = pytest.mark.integration

EAST, WEST, SOUTH = NAMES


def _pt(rcu: int, wcu: int) -> dict[str, int]:
    return {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}


def _table(client: Any, table: str) -> dict[str, Any]:
    return client.describe_table(TableName=table)["Table"]  # type: ignore[no-any-return]


def _replica(desc: dict[str, Any], region: str) -> dict[str, Any]:
    return next(r for r in desc["Replicas"] if r["RegionName"] == region)


def _reads(desc: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """(table RCU, {gsi: RCU}) in force where ``desc`` was read."""
    return desc["ProvisionedThroughput"]["ReadCapacityUnits"], {
        g["IndexName"]: g["ProvisionedThroughput"]["ReadCapacityUnits"]
        for g in desc.get("GlobalSecondaryIndexes", [])
    }


def _create(client: Any, table: str, **kw: Any) -> None:
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            *([{"AttributeName": "g", "AttributeType": "S"}] if "GlobalSecondaryIndexes" in kw else []),
        ],
        **kw,
    )


def _gsi(**kw: Any) -> dict[str, Any]:
    return {
        "IndexName": "by-g",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
        **kw,
    }


def _error(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call()
    e = err.value.response["Error"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return e["Code"], e["Message"]


def test_provisioned_overrides_are_per_replica_and_listed_everywhere(
    regions: dict[str, RegionProcess],
) -> None:
    clients = {n: regions[n].client() for n in NAMES}
    east, west = clients[EAST], clients[WEST]
    table = f"rs-{uuid.uuid4().hex[:8]}"
    _create(
        east,
        table,
        BillingMode="PROVISIONED",
        ProvisionedThroughput=_pt(5, 5),
        GlobalSecondaryIndexes=[_gsi(ProvisionedThroughput=_pt(3, 3))],
    )
    east.update_table(
        TableName=table,
        ReplicaUpdates=[
            {
                "Create": {
                    "RegionName": WEST,
                    "ProvisionedThroughputOverride": {"ReadCapacityUnits": 11},
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "by-g",
                            "ProvisionedThroughputOverride": {"ReadCapacityUnits": 7},
                        }
                    ],
                    "TableClassOverride": "STANDARD_INFREQUENT_ACCESS",
                }
            }
        ],
    )
    eventually(lambda: _reads(_table(west, table)) == (11, {"by-g": 7}), 15, "west's overrides")
    west_desc = _table(west, table)
    # writes and the billing mode stay the table's
    assert west_desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 5
    assert west_desc["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    # the source region keeps the table's own settings ...
    east_desc = _table(east, table)
    assert _reads(east_desc) == (5, {"by-g": 3})
    assert "TableClassSummary" not in east_desc
    # ... and both list west's overrides in Replicas
    for desc in (east_desc, west_desc):
        entry = _replica(desc, WEST)
        assert entry["ProvisionedThroughputOverride"] == {"ReadCapacityUnits": 11}
        assert entry["GlobalSecondaryIndexes"] == [
            {"IndexName": "by-g", "ProvisionedThroughputOverride": {"ReadCapacityUnits": 7}}
        ]
        assert entry["ReplicaTableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
        assert "ProvisionedThroughputOverride" not in _replica(desc, EAST)

    # ReplicaUpdates Update from the other region: east's replica gets its own reads
    west.update_table(
        TableName=table,
        ReplicaUpdates=[
            {"Update": {"RegionName": EAST, "ProvisionedThroughputOverride": {"ReadCapacityUnits": 2}}}
        ],
    )
    eventually(lambda: _reads(_table(east, table)) == (2, {"by-g": 3}), 15, "east's override")
    # a table-wide change reaches every replica; an override still wins where it is set
    east.update_table(TableName=table, ProvisionedThroughput=_pt(9, 8))
    eventually(
        lambda: _table(west, table)["ProvisionedThroughput"]["WriteCapacityUnits"] == 8,
        15,
        "the table's new capacity in west",
    )
    assert _reads(_table(west, table)) == (11, {"by-g": 7})
    assert _reads(_table(east, table)) == (2, {"by-g": 3})

    # a replica added later has no overrides: the table's settings are in force there
    east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": SOUTH}}])
    south = clients[SOUTH]
    eventually(lambda: _reads(_table(south, table)) == (9, {"by-g": 3}), 15, "south's reads")
    assert _replica(_table(south, table), WEST)["ProvisionedThroughputOverride"] == {
        "ReadCapacityUnits": 11
    }

    # switching to on-demand: the provisioned overrides have nothing to override
    east.update_table(TableName=table, BillingMode="PAY_PER_REQUEST")
    eventually(
        lambda: "ProvisionedThroughputOverride" not in _replica(_table(west, table), WEST),
        15,
        "the overrides out of force",
    )
    assert _reads(_table(west, table)) == (0, {"by-g": 0})


def test_on_demand_read_override(regions: dict[str, RegionProcess]) -> None:
    east, west = regions[EAST].client(), regions[WEST].client()
    table = f"rs-{uuid.uuid4().hex[:8]}"
    _create(
        east,
        table,
        BillingMode="PAY_PER_REQUEST",
        OnDemandThroughput={"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 50},
        GlobalSecondaryIndexes=[_gsi()],
    )
    east.update_table(
        TableName=table,
        ReplicaUpdates=[
            {
                "Create": {
                    "RegionName": WEST,
                    "OnDemandThroughputOverride": {"MaxReadRequestUnits": 40},
                }
            }
        ],
    )

    def west_on_demand() -> dict[str, int] | None:
        return _table(west, table).get("OnDemandThroughput")

    eventually(
        lambda: west_on_demand() == {"MaxReadRequestUnits": 40, "MaxWriteRequestUnits": 50},
        15,
        "west's on-demand read maximum",
    )
    assert _table(east, table)["OnDemandThroughput"] == {
        "MaxReadRequestUnits": 100,
        "MaxWriteRequestUnits": 50,
    }
    east.update_table(
        TableName=table,
        ReplicaUpdates=[
            {
                "Update": {
                    "RegionName": WEST,
                    "GlobalSecondaryIndexes": [
                        {"IndexName": "by-g", "OnDemandThroughputOverride": {"MaxReadRequestUnits": 9}}
                    ],
                }
            }
        ],
    )
    eventually(
        lambda: _table(west, table)["GlobalSecondaryIndexes"][0]
        .get("OnDemandThroughput", {})
        .get("MaxReadRequestUnits")
        == 9,
        15,
        "west's GSI read maximum",
    )
    entry = _replica(_table(east, table), WEST)
    assert entry["OnDemandThroughputOverride"] == {"MaxReadRequestUnits": 40}
    assert entry["GlobalSecondaryIndexes"] == [
        {"IndexName": "by-g", "OnDemandThroughputOverride": {"MaxReadRequestUnits": 9}}
    ]


def test_replica_settings_are_checked(regions: dict[str, RegionProcess]) -> None:
    # the server's checks, not botocore's (which knows the model's minimums)
    east = regions[EAST].client(parameter_validation=False)
    table = f"rs-{uuid.uuid4().hex[:8]}"
    _create(east, table, BillingMode="PROVISIONED", ProvisionedThroughput=_pt(5, 5))
    east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])

    def update(change: dict[str, Any]) -> Any:
        return lambda: east.update_table(
            TableName=table, ReplicaUpdates=[{"Update": {"RegionName": WEST, **change}}]
        )

    code, message = _error(update({"OnDemandThroughputOverride": {"MaxReadRequestUnits": 5}}))
    assert code == "ValidationException"
    assert "OnDemandThroughputOverride cannot be specified" in message
    assert "PROVISIONED" in message
    code, message = _error(
        update(
            {
                "GlobalSecondaryIndexes": [
                    {"IndexName": "nope", "ProvisionedThroughputOverride": {"ReadCapacityUnits": 1}}
                ]
            }
        )
    )
    assert (code, message) == (
        "ResourceNotFoundException",
        "Requested resource not found: Index: nope not found",
    )
    code, message = _error(update({"KMSMasterKeyId": "alias/mine"}))
    assert (code, message) == (
        "ValidationException",
        "ReplicaUpdates Update does not support KMSMasterKeyId in this version",
    )
    code, message = _error(update({}))
    assert code == "ValidationException" and "changes nothing" in message
    code, message = _error(
        lambda: east.update_table(
            TableName=table,
            ReplicaUpdates=[
                {"Update": {"RegionName": SOUTH, "TableClassOverride": "STANDARD"}}
            ],
        )
    )
    assert (code, message) == (
        "ValidationException",
        f"Failed to update replica of table with name: '{table}' because the replica "
        f"doesn't exist in region {SOUTH}",
    )
    code, message = _error(update({"ProvisionedThroughputOverride": {"ReadCapacityUnits": 0}}))
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value '0' at "
        "'replicaUpdates.1.member.update.provisionedThroughputOverride.readCapacityUnits' "
        "failed to satisfy constraint: Member must have value greater than or equal to 1"
    )
    code, message = _error(
        lambda: east.update_table(
            TableName=table,
            ReplicaUpdates=[
                {"Update": {"RegionName": WEST, "TableClassOverride": "STANDARD"}, "Delete": {"RegionName": WEST}}
            ],
        )
    )
    assert code == "ValidationException" and "exactly one of Create, Update or Delete" in message
    # nothing of the refused requests was applied
    entry = _replica(_table(east, table), WEST)
    assert set(entry) == {"RegionName", "ReplicaStatus", "ReplicaTableClassSummary"}
    assert entry["ReplicaTableClassSummary"] == {"TableClass": "STANDARD"}


def test_a_replica_changing_its_own_class_is_listed_everywhere(
    regions: dict[str, RegionProcess],
) -> None:
    east, west = regions[EAST].client(), regions[WEST].client()
    table = f"rs-{uuid.uuid4().hex[:8]}"
    _create(east, table, BillingMode="PAY_PER_REQUEST")
    east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    eventually(lambda: len(_table(west, table).get("Replicas", [])) == 2, 15, "west's replica")
    # UpdateTable's own TableClass in west changes west's replica only ...
    west.update_table(TableName=table, TableClass="STANDARD_INFREQUENT_ACCESS")
    assert _table(west, table)["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert "TableClassSummary" not in _table(east, table)
    # ... and every region lists it as west's class
    eventually(
        lambda: _replica(_table(east, table), WEST)
        .get("ReplicaTableClassSummary", {})
        .get("TableClass")
        == "STANDARD_INFREQUENT_ACCESS",
        15,
        "west's class listed in east",
    )
    # set back from east by ReplicaUpdates Update: in force in west
    east.update_table(
        TableName=table,
        ReplicaUpdates=[{"Update": {"RegionName": WEST, "TableClassOverride": "STANDARD"}}],
    )
    eventually(
        lambda: _table(west, table).get("TableClassSummary", {}).get("TableClass", "STANDARD")
        == "STANDARD",
        15,
        "west back to STANDARD",
    )
