"""Global tables version 2017.11.29 over three real regions and Kafka:
CreateGlobalTable, DescribeGlobalTable, UpdateGlobalTable, ListGlobalTables, their
preconditions and errors (see ``regions/global_tables_2017.py`` for the decisions)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess
from tests.integration.replication.helpers import NAMES, eventually

pytestmark = pytest.mark.integration

EAST, WEST, AP = NAMES
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def _name() -> str:
    return f"gt2017-{uuid.uuid4().hex[:8]}"


def _create(client: Any, name: str, **kw: Any) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **kw,
    )


def _error(call: Any, code: str, message: str | None = None) -> str:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response["Error"]
    assert err["Code"] == code, err
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    if message is not None:
        assert err["Message"] == message
    return str(err["Message"])


def _group(desc: dict[str, Any]) -> list[str]:
    return [r["RegionName"] for r in desc["ReplicationGroup"]]


def _exists(client: Any, name: str) -> bool:
    try:
        client.describe_table(TableName=name)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


@pytest.fixture
def clients(regions: dict[str, RegionProcess]) -> dict[str, Any]:
    return {n: regions[n].client() for n in NAMES}


def test_lifecycle(clients: dict[str, Any]) -> None:
    east, west, ap = clients[EAST], clients[WEST], clients[AP]
    name = _name()
    _create(east, name, StreamSpecification=STREAM)
    before = dt.datetime.now(dt.UTC)
    created = east.create_global_table(
        GlobalTableName=name, ReplicationGroup=[{"RegionName": EAST}, {"RegionName": WEST}]
    )["GlobalTableDescription"]
    assert created["GlobalTableName"] == name
    assert created["GlobalTableArn"] == f"arn:aws:dynamodb::000000000000:global-table/{name}"
    assert created["GlobalTableStatus"] == "ACTIVE"
    assert sorted(_group(created)) == sorted([EAST, WEST])
    assert abs((created["CreationDateTime"] - before).total_seconds()) < 60
    # the replica is the same table, with the stream version 2017.11.29 relies on
    table = east.describe_table(TableName=name)["Table"]
    replica = west.describe_table(TableName=name)["Table"]
    assert replica["TableId"] == table["TableId"]
    assert replica["StreamSpecification"] == STREAM
    assert replica["LatestStreamArn"].startswith(f"arn:aws:dynamodb:{WEST}:")
    assert not _exists(ap, name)
    for client in (east, west):
        desc = client.describe_global_table(GlobalTableName=name)["GlobalTableDescription"]
        assert sorted(_group(desc)) == sorted([EAST, WEST])
        assert desc["GlobalTableStatus"] == "ACTIVE"
        assert desc["GlobalTableArn"] == created["GlobalTableArn"]

    grown = east.update_global_table(
        GlobalTableName=name, ReplicaUpdates=[{"Create": {"RegionName": AP}}]
    )["GlobalTableDescription"]
    assert sorted(_group(grown)) == sorted(NAMES)
    assert ap.describe_table(TableName=name)["Table"]["TableId"] == table["TableId"]
    listed = {
        t["GlobalTableName"]: sorted(_group(t)) for t in ap.list_global_tables()["GlobalTables"]
    }
    assert listed[name] == sorted(NAMES)

    # replication works like any global table's
    west.put_item(TableName=name, Item={"id": {"S": "from-west"}})
    for n in NAMES:
        eventually(
            lambda n=n: "Item" in clients[n].get_item(TableName=name, Key={"id": {"S": "from-west"}}),
            what=f"the item in {n}",
        )

    shrunk = west.update_global_table(
        GlobalTableName=name, ReplicaUpdates=[{"Delete": {"RegionName": AP}}]
    )["GlobalTableDescription"]
    assert sorted(_group(shrunk)) == sorted([EAST, WEST])
    assert not _exists(ap, name)
    for client in (east, west):
        desc = client.describe_global_table(GlobalTableName=name)["GlobalTableDescription"]
        assert sorted(_group(desc)) == sorted([EAST, WEST])
    assert name not in [
        t["GlobalTableName"] for t in east.list_global_tables(RegionName=AP)["GlobalTables"]
    ]
    assert name in [
        t["GlobalTableName"] for t in east.list_global_tables(RegionName=WEST)["GlobalTables"]
    ]

    # errors on an existing global table
    _error(
        lambda: east.create_global_table(
            GlobalTableName=name, ReplicationGroup=[{"RegionName": EAST}, {"RegionName": WEST}]
        ),
        "GlobalTableAlreadyExistsException",
        f"Global table with name: '{name}' already exists.",
    )
    _error(
        lambda: east.update_global_table(
            GlobalTableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}]
        ),
        "ReplicaAlreadyExistsException",
    )
    _error(
        lambda: east.update_global_table(
            GlobalTableName=name, ReplicaUpdates=[{"Delete": {"RegionName": AP}}]
        ),
        "ReplicaNotFoundException",
    )
    # the last replica but one leaves an ordinary table: the global table is gone
    east.update_global_table(GlobalTableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    assert not _exists(west, name)
    assert "Replicas" not in east.describe_table(TableName=name)["Table"]
    _error(
        lambda: east.describe_global_table(GlobalTableName=name),
        "GlobalTableNotFoundException",
        f"Global table with name: '{name}' does not exist.",
    )


def test_unknown_global_table(clients: dict[str, Any]) -> None:
    east = clients[EAST]
    name = _name()
    _error(lambda: east.describe_global_table(GlobalTableName=name), "GlobalTableNotFoundException")
    _error(
        lambda: east.update_global_table(
            GlobalTableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}]
        ),
        "GlobalTableNotFoundException",
    )
    # a regional table is not a global table
    _create(east, name, StreamSpecification=STREAM)
    _error(lambda: east.describe_global_table(GlobalTableName=name), "GlobalTableNotFoundException")


def test_create_global_table_preconditions(clients: dict[str, Any]) -> None:
    east, west = clients[EAST], clients[WEST]
    pair = [{"RegionName": EAST}, {"RegionName": WEST}]

    def refused(name: str, code: str, group: list[dict[str, str]] = pair) -> str:
        message = _error(lambda: east.create_global_table(GlobalTableName=name, ReplicationGroup=group), code)
        # nothing happened anywhere
        _error(lambda: east.describe_global_table(GlobalTableName=name), "GlobalTableNotFoundException")
        assert not _exists(west, name)
        return message

    refused(_name(), "TableNotFoundException")
    no_stream = _name()
    _create(east, no_stream)
    assert "NEW_AND_OLD_IMAGES" in refused(no_stream, "ValidationException")
    keys_only = _name()
    _create(east, keys_only, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert "NEW_AND_OLD_IMAGES" in refused(keys_only, "ValidationException")
    full = _name()
    _create(east, full, StreamSpecification=STREAM)
    east.put_item(TableName=full, Item={"id": {"S": "x"}})
    assert "not empty" in refused(full, "ValidationException")
    ok = _name()
    _create(east, ok, StreamSpecification=STREAM)
    assert EAST in refused(ok, "ValidationException", [{"RegionName": WEST}])
    assert "not a peer" in refused(ok, "ValidationException", [*pair, {"RegionName": "sa-east-1"}])
    refused(ok, "ValidationException", [*pair, {"RegionName": WEST}])
    # and the same table is fine once the request is
    east.create_global_table(GlobalTableName=ok, ReplicationGroup=pair)
    assert _exists(west, ok)


def test_a_peer_holding_its_own_table_refuses_and_nothing_changes(clients: dict[str, Any]) -> None:
    east, west, ap = clients[EAST], clients[WEST], clients[AP]
    name = _name()
    _create(east, name, StreamSpecification=STREAM)
    _create(west, name, StreamSpecification=STREAM)
    own_id = west.describe_table(TableName=name)["Table"]["TableId"]
    # ap-southeast-2 first: its replica is made, then undone when eu-west-1 refuses
    message = _error(
        lambda: east.create_global_table(
            GlobalTableName=name,
            ReplicationGroup=[{"RegionName": EAST}, {"RegionName": AP}, {"RegionName": WEST}],
        ),
        "ValidationException",
    )
    assert WEST in message and "already exists" in message
    _error(lambda: east.describe_global_table(GlobalTableName=name), "GlobalTableNotFoundException")
    assert not _exists(ap, name)
    assert "Replicas" not in east.describe_table(TableName=name)["Table"]
    assert west.describe_table(TableName=name)["Table"]["TableId"] == own_id
    assert "Replicas" not in west.describe_table(TableName=name)["Table"]


def test_list_global_tables_pages(clients: dict[str, Any]) -> None:
    east = clients[EAST]
    names = sorted(_name() for _ in range(3))
    for name in names:
        _create(east, name, StreamSpecification=STREAM)
        east.create_global_table(
            GlobalTableName=name, ReplicationGroup=[{"RegionName": EAST}, {"RegionName": AP}]
        )
    seen: list[str] = []
    page = east.list_global_tables(Limit=1)
    while True:
        assert len(page["GlobalTables"]) <= 1
        seen += [t["GlobalTableName"] for t in page["GlobalTables"]]
        if "LastEvaluatedGlobalTableName" not in page:
            break
        assert page["LastEvaluatedGlobalTableName"] == seen[-1]
        page = east.list_global_tables(
            Limit=1, ExclusiveStartGlobalTableName=page["LastEvaluatedGlobalTableName"]
        )
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert [n for n in seen if n in names] == names
    for t in east.list_global_tables(RegionName=AP)["GlobalTables"]:
        assert AP in _group(t)
    after = east.list_global_tables(ExclusiveStartGlobalTableName=names[1])["GlobalTables"]
    assert names[0] not in [t["GlobalTableName"] for t in after]
    assert names[2] in [t["GlobalTableName"] for t in after]


def test_request_shapes(regions: dict[str, RegionProcess]) -> None:
    raw = boto3.client(
        "dynamodb",
        endpoint_url=regions[EAST].url,
        region_name=EAST,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}),
    )
    _error(lambda: raw.describe_global_table(GlobalTableName="ab"), "ValidationException")
    _error(lambda: raw.describe_global_table(GlobalTableName="not ok!"), "ValidationException")
    _error(lambda: raw.create_global_table(GlobalTableName=_name()), "ValidationException")
    _error(lambda: raw.list_global_tables(Limit=0), "ValidationException")
    _error(
        lambda: raw.update_global_table(
            GlobalTableName=_name(),
            ReplicaUpdates=[{"Create": {"RegionName": WEST}, "Delete": {"RegionName": AP}}],
        ),
        "ValidationException",
    )
    _error(
        lambda: raw.update_global_table(GlobalTableName=_name(), ReplicaUpdates=[{"Create": {}}]),
        "ValidationException",
    )


def _provisioned_global(clients: dict[str, Any], name: str) -> None:
    """A PROVISIONED version 2017.11.29 global table of east and west with a GSI."""
    clients[EAST].create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
            }
        ],
        StreamSpecification=STREAM,
    )
    clients[EAST].create_global_table(
        GlobalTableName=name, ReplicationGroup=[{"RegionName": EAST}, {"RegionName": WEST}]
    )


def _by_region(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["RegionName"]: r for r in answer["ReplicaSettings"]}


def test_global_table_settings(clients: dict[str, Any]) -> None:
    name = _name()
    _provisioned_global(clients, name)
    settings = _by_region(clients[WEST].describe_global_table_settings(GlobalTableName=name))
    assert set(settings) == {EAST, WEST}
    east = settings[EAST]
    assert east["ReplicaStatus"] == "ACTIVE"
    assert east["ReplicaBillingModeSummary"] == {"BillingMode": "PROVISIONED"}
    assert (east["ReplicaProvisionedReadCapacityUnits"], east["ReplicaProvisionedWriteCapacityUnits"]) == (5, 6)
    assert east["ReplicaGlobalSecondaryIndexSettings"] == [
        {
            "IndexName": "by-g",
            "IndexStatus": "ACTIVE",
            "ProvisionedReadCapacityUnits": 3,
            "ProvisionedWriteCapacityUnits": 4,
        }
    ]

    # the shared write capacity, west's own reads (table and GSI) and class, at once
    answer = clients[EAST].update_global_table_settings(
        GlobalTableName=name,
        GlobalTableProvisionedWriteCapacityUnits=8,
        GlobalTableGlobalSecondaryIndexSettingsUpdate=[
            {"IndexName": "by-g", "ProvisionedWriteCapacityUnits": 7}
        ],
        ReplicaSettingsUpdate=[
            {
                "RegionName": WEST,
                "ReplicaProvisionedReadCapacityUnits": 12,
                "ReplicaGlobalSecondaryIndexSettingsUpdate": [
                    {"IndexName": "by-g", "ProvisionedReadCapacityUnits": 9}
                ],
                "ReplicaTableClass": "STANDARD_INFREQUENT_ACCESS",
            }
        ],
    )
    assert answer["GlobalTableName"] == name
    west = _by_region(answer)[WEST]
    assert (west["ReplicaProvisionedReadCapacityUnits"], west["ReplicaProvisionedWriteCapacityUnits"]) == (12, 8)
    assert west["ReplicaGlobalSecondaryIndexSettings"][0]["ProvisionedReadCapacityUnits"] == 9
    assert west["ReplicaGlobalSecondaryIndexSettings"][0]["ProvisionedWriteCapacityUnits"] == 7
    assert west["ReplicaTableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert _by_region(answer)[EAST]["ReplicaProvisionedReadCapacityUnits"] == 5

    # in force in west: its own DescribeTable shows its reads and class, east's writes
    def west_table() -> dict[str, Any]:
        return clients[WEST].describe_table(TableName=name)["Table"]  # type: ignore[no-any-return]

    eventually(
        lambda: west_table()["ProvisionedThroughput"]["ReadCapacityUnits"] == 12,
        15,
        "west's read override in force",
    )
    desc = west_table()
    assert desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 8
    assert desc["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 9
    assert desc["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert clients[EAST].describe_table(TableName=name)["Table"]["ProvisionedThroughput"][
        "ReadCapacityUnits"
    ] == 5

    # the errors DynamoDB declares for this operation
    _error(
        lambda: clients[EAST].update_global_table_settings(
            GlobalTableName=name,
            ReplicaSettingsUpdate=[{"RegionName": AP, "ReplicaProvisionedReadCapacityUnits": 2}],
        ),
        "ReplicaNotFoundException",
        f"Replica does not exist in region {AP} for global table: '{name}'.",
    )
    _error(
        lambda: clients[EAST].update_global_table_settings(
            GlobalTableName=name,
            GlobalTableGlobalSecondaryIndexSettingsUpdate=[
                {"IndexName": "nope", "ProvisionedWriteCapacityUnits": 2}
            ],
        ),
        "IndexNotFoundException",
    )
    _error(
        lambda: clients[EAST].update_global_table_settings(
            GlobalTableName=name,
            GlobalTableProvisionedWriteCapacityAutoScalingSettingsUpdate={"MinimumUnits": 1},
        ),
        "ValidationException",
        "UpdateGlobalTableSettings does not support "
        "GlobalTableProvisionedWriteCapacityAutoScalingSettingsUpdate in this version "
        "(auto scaling is not offered)",
    )
    _error(
        lambda: clients[EAST].describe_global_table_settings(GlobalTableName=_name()),
        "GlobalTableNotFoundException",
    )
    # nothing of the refused requests was applied
    assert _by_region(clients[EAST].describe_global_table_settings(GlobalTableName=name))[WEST][
        "ReplicaProvisionedReadCapacityUnits"
    ] == 12


def test_global_table_settings_billing_mode(clients: dict[str, Any]) -> None:
    name = _name()
    _provisioned_global(clients, name)
    answer = clients[WEST].update_global_table_settings(
        GlobalTableName=name, GlobalTableBillingMode="PAY_PER_REQUEST"
    )
    for entry in answer["ReplicaSettings"]:
        assert entry["ReplicaBillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    eventually(
        lambda: clients[EAST].describe_table(TableName=name)["Table"]
        .get("BillingModeSummary", {})
        .get("BillingMode")
        == "PAY_PER_REQUEST",
        15,
        "on-demand in east",
    )
    _error(
        lambda: clients[WEST].update_global_table_settings(
            GlobalTableName=name, GlobalTableProvisionedWriteCapacityUnits=3
        ),
        "ValidationException",
    )


def test_describe_table_replica_auto_scaling(clients: dict[str, Any]) -> None:
    name = _name()
    _provisioned_global(clients, name)
    answer = clients[WEST].describe_table_replica_auto_scaling(TableName=name)[
        "TableAutoScalingDescription"
    ]
    assert answer["TableName"] == name
    assert answer["TableStatus"] == "ACTIVE"
    assert sorted(r["RegionName"] for r in answer["Replicas"]) == sorted([EAST, WEST])
    for replica in answer["Replicas"]:
        assert replica["ReplicaStatus"] == "ACTIVE"
        # auto scaling is not offered: no auto scaling settings are described
        assert replica["GlobalSecondaryIndexes"] == [{"IndexName": "by-g", "IndexStatus": "ACTIVE"}]
        assert "ReplicaProvisionedReadCapacityAutoScalingSettings" not in replica
    _error(
        lambda: clients[WEST].describe_table_replica_auto_scaling(TableName=_name()),
        "ResourceNotFoundException",
    )
