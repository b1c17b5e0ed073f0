"""On-demand backups through boto3 against a real region process: CreateBackup,
DescribeBackup, ListBackups, DeleteBackup and RestoreTableFromBackup, their answers'
shapes (botocore parses them against its model) and DynamoDB's errors; a restore of
a deleted table's backup, item for item; a restore interrupted by kill -9 ends
complete or gone, never ACTIVE and partial (regions/protection/restore.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import REGION, create_table, expect_error, unique
from tests.integration.api.transfers_support import put_many, raw_client, scan, wait_active

pytestmark = pytest.mark.integration

_ARN = re.compile(
    r"^arn:aws:dynamodb:us-east-1:[0-9]{12}:table/[a-zA-Z0-9_.-]+/backup/[0-9]{14}-[0-9a-f]{8}$"
)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("backups")
    proc = RegionProcess(REGION, free_port(), f"sqlite:///{d}/backups.db", log_dir=d).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ddb(region: RegionProcess) -> Any:
    return region.client()


def _items(n: int) -> list[dict[str, Any]]:
    return [
        {
            "p": {"S": f"p{i % 7}"},
            "s": {"N": str(i)},
            "g": {"S": f"g{i % 3}"},
            "blob": {"B": bytes([i % 256, 1, 2])},
            "tags": {"SS": [f"t{i}", "x"]},
            "doc": {"M": {"n": {"N": f"{i}.5"}, "l": {"L": [{"BOOL": True}, {"NULL": True}]}}},
        }
        for i in range(n)
    ]


def _order(item: dict[str, Any]) -> tuple[str, int]:
    return (item["p"]["S"], int(item["s"]["N"]))


def _with_indexes(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "p", "KeyType": "HASH"},
            {"AttributeName": "s", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "p", "AttributeType": "S"},
            {"AttributeName": "s", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "s", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-p-g",
                "KeySchema": [
                    {"AttributeName": "p", "KeyType": "HASH"},
                    {"AttributeName": "g", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


def _wait_available(ddb: Any, arn: str) -> dict[str, Any]:
    for _ in range(300):
        details: dict[str, Any] = ddb.describe_backup(BackupArn=arn)["BackupDescription"]
        if details["BackupDetails"]["BackupStatus"] == "AVAILABLE":
            return details
        time.sleep(0.1)
    raise AssertionError("the backup did not become AVAILABLE")


def test_backup_lifecycle(ddb: Any) -> None:
    name = unique("bk")
    _with_indexes(ddb, name)
    items = _items(60)
    put_many(ddb, name, items)
    before = time.time()
    created = ddb.create_backup(TableName=name, BackupName="first.backup-1")["BackupDetails"]
    arn = created["BackupArn"]
    assert _ARN.match(arn), arn
    assert arn.startswith(f"arn:aws:dynamodb:{REGION}:")
    assert f":table/{name}/backup/" in arn
    assert created["BackupName"] == "first.backup-1"
    assert created["BackupType"] == "USER"
    assert created["BackupStatus"] in ("CREATING", "AVAILABLE")
    assert abs(created["BackupCreationDateTime"].timestamp() - before) < 5

    desc = _wait_available(ddb, arn)
    assert desc["BackupDetails"]["BackupSizeBytes"] > 0
    source = desc["SourceTableDetails"]
    assert source["TableName"] == name and source["ItemCount"] == 60
    assert source["BillingMode"] == "PAY_PER_REQUEST"
    assert source["KeySchema"][0] == {"AttributeName": "p", "KeyType": "HASH"}
    features = desc["SourceTableFeatureDetails"]
    assert [g["IndexName"] for g in features["GlobalSecondaryIndexes"]] == ["by-g"]
    assert [x["IndexName"] for x in features["LocalSecondaryIndexes"]] == ["by-p-g"]

    # a later write is not in the backup
    ddb.put_item(TableName=name, Item={"p": {"S": "late"}, "s": {"N": "1"}, "g": {"S": "g0"}})

    listed = ddb.list_backups(TableName=name)["BackupSummaries"]
    assert [b["BackupArn"] for b in listed] == [arn]
    assert listed[0]["BackupStatus"] == "AVAILABLE" and listed[0]["TableName"] == name
    assert (
        ddb.list_backups(
            TableName=name, TimeRangeLowerBound=datetime.now(UTC) + timedelta(minutes=1)
        )["BackupSummaries"]
        == []
    )
    assert ddb.list_backups(TableName=name, BackupType="SYSTEM")["BackupSummaries"] == []
    assert (
        ddb.list_backups(
            TableName=name, TimeRangeUpperBound=datetime.now(UTC) - timedelta(minutes=1)
        )["BackupSummaries"]
        == []
    )
    assert [
        b["BackupArn"]
        for b in ddb.list_backups(
            TimeRangeLowerBound=datetime.now(UTC) - timedelta(minutes=1),
            TimeRangeUpperBound=datetime.now(UTC) + timedelta(minutes=1),
            BackupType="ALL",
        )["BackupSummaries"]
        if b["TableName"] == name
    ] == [arn]

    target = unique("restored")
    answer = ddb.restore_table_from_backup(TargetTableName=target, BackupArn=arn)
    table = answer["TableDescription"]
    assert table["TableName"] == target and table["TableStatus"] == "CREATING"
    assert table["RestoreSummary"]["SourceBackupArn"] == arn
    assert table["RestoreSummary"]["RestoreInProgress"] is True
    done = wait_active(ddb, target)
    assert done["RestoreSummary"]["RestoreInProgress"] is False
    assert done["RestoreSummary"]["SourceTableArn"].endswith(f":table/{name}")
    assert done["TableId"] != source["TableId"]
    assert scan(ddb, target, _order) == sorted(items, key=_order)
    # its indexes came along and answer queries
    g0 = ddb.query(
        TableName=target,
        IndexName="by-g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "g0"}},
    )["Items"]
    assert len(g0) == 20
    lsi = ddb.query(
        TableName=target,
        IndexName="by-p-g",
        KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": {"S": "p0"}},
    )["Items"]
    assert len(lsi) == len([i for i in items if i["p"]["S"] == "p0"])

    deleted = ddb.delete_backup(BackupArn=arn)["BackupDescription"]
    assert deleted["BackupDetails"]["BackupStatus"] == "DELETED"
    expect_error(lambda: ddb.describe_backup(BackupArn=arn), "BackupNotFoundException")
    expect_error(lambda: ddb.delete_backup(BackupArn=arn), "BackupNotFoundException")
    for t in (name, target):
        ddb.delete_table(TableName=t)


def test_restore_after_the_source_table_was_deleted(ddb: Any) -> None:
    name = unique("gone")
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    items = _items(250)
    put_many(ddb, name, items)
    arn = ddb.create_backup(TableName=name, BackupName="before-delete")["BackupDetails"][
        "BackupArn"
    ]
    _wait_available(ddb, arn)
    ddb.delete_table(TableName=name)
    expect_error(lambda: ddb.describe_table(TableName=name), "ResourceNotFoundException")
    # the backup outlives its table
    assert (
        ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
        == "AVAILABLE"
    )
    assert arn in [b["BackupArn"] for b in ddb.list_backups()["BackupSummaries"]]
    # restored under the deleted table's own name
    ddb.restore_table_from_backup(TargetTableName=name, BackupArn=arn)
    wait_active(ddb, name)
    assert scan(ddb, name, _order) == sorted(items, key=_order)
    ddb.delete_table(TableName=name)
    ddb.delete_backup(BackupArn=arn)


def test_overrides(ddb: Any) -> None:
    name = unique("ovr")
    _with_indexes(ddb, name)
    put_many(ddb, name, _items(10))
    arn = ddb.create_backup(TableName=name, BackupName="ovr")["BackupDetails"]["BackupArn"]
    _wait_available(ddb, arn)
    target = unique("ovr-r")
    ddb.restore_table_from_backup(
        TargetTableName=target,
        BackupArn=arn,
        BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
        GlobalSecondaryIndexOverride=[],
    )
    table = wait_active(ddb, target)
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert "GlobalSecondaryIndexes" not in table
    assert [i["IndexName"] for i in table["LocalSecondaryIndexes"]] == ["by-p-g"]
    assert len(scan(ddb, target, _order)) == 10
    # on demand with a maximum, without the LSI
    fourth = unique("ovr-od")
    ddb.restore_table_from_backup(
        TargetTableName=fourth,
        BackupArn=arn,
        BillingModeOverride="PAY_PER_REQUEST",
        OnDemandThroughputOverride={"MaxReadRequestUnits": 50, "MaxWriteRequestUnits": 40},
        LocalSecondaryIndexOverride=[],
    )
    table = wait_active(ddb, fourth)
    assert table["OnDemandThroughput"] == {"MaxReadRequestUnits": 50, "MaxWriteRequestUnits": 40}
    assert "LocalSecondaryIndexes" not in table
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-g"]
    ddb.delete_table(TableName=fourth)
    # an index the source does not have, a PROVISIONED restore without throughput,
    # customer-managed encryption: refused, nothing created
    for kw in (
        {
            "GlobalSecondaryIndexOverride": [
                {
                    "IndexName": "nope",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ]
        },
        {"BillingModeOverride": "PROVISIONED"},
        {"SSESpecificationOverride": {"Enabled": True, "SSEType": "KMS"}},
    ):
        other = unique("ovr-x")
        expect_error(
            lambda kw=kw, other=other: ddb.restore_table_from_backup(
                TargetTableName=other, BackupArn=arn, **kw
            ),
            "ValidationException",
        )
        expect_error(
            lambda other=other: ddb.describe_table(TableName=other), "ResourceNotFoundException"
        )
    # the default encryption is what a region has: accepted
    third = unique("ovr-sse")
    ddb.restore_table_from_backup(
        TargetTableName=third, BackupArn=arn, SSESpecificationOverride={"Enabled": False}
    )
    wait_active(ddb, third)
    for t in (name, target, third):
        ddb.delete_table(TableName=t)
    ddb.delete_backup(BackupArn=arn)


def test_errors(ddb: Any, region: RegionProcess) -> None:
    raw = raw_client(region)
    missing = unique("missing")
    expect_error(
        lambda: ddb.create_backup(TableName=missing, BackupName="abc"),
        "TableNotFoundException",
        f"Table not found: {missing}",
    )
    name = unique("err")
    create_table(ddb, name)
    expect_error(lambda: raw.create_backup(TableName=name, BackupName="a b"), "ValidationException")
    expect_error(lambda: raw.create_backup(TableName=name, BackupName="ab"), "ValidationException")
    expect_error(lambda: raw.list_backups(Limit=0), "ValidationException")
    expect_error(lambda: raw.list_backups(Limit=101), "ValidationException")
    expect_error(lambda: raw.list_backups(BackupType="OTHER"), "ValidationException")
    unknown = f"arn:aws:dynamodb:{REGION}:000000000000:table/{name}/backup/01700000000000-0123abcd"
    expect_error(lambda: ddb.describe_backup(BackupArn=unknown), "BackupNotFoundException")
    expect_error(
        lambda: ddb.restore_table_from_backup(TargetTableName=unique("x"), BackupArn=unknown),
        "BackupNotFoundException",
    )
    arn = ddb.create_backup(TableName=name, BackupName="err")["BackupDetails"]["BackupArn"]
    _wait_available(ddb, arn)
    expect_error(
        lambda: ddb.restore_table_from_backup(TargetTableName=name, BackupArn=arn),
        "TableAlreadyExistsException",
        f"Table already exists: {name}",
    )
    ddb.delete_table(TableName=name)
    ddb.delete_backup(BackupArn=arn)


def test_list_backups_pages(ddb: Any) -> None:
    name = unique("pages")
    create_table(ddb, name)
    arns = [
        ddb.create_backup(TableName=name, BackupName=f"page{i}")["BackupDetails"]["BackupArn"]
        for i in range(5)
    ]
    seen: list[str] = []
    kw: dict[str, Any] = {"TableName": name, "Limit": 2}
    pages = 0
    while True:
        page = ddb.list_backups(**kw)
        pages += 1
        seen += [b["BackupArn"] for b in page["BackupSummaries"]]
        if "LastEvaluatedBackupArn" not in page:
            break
        kw["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    assert seen == arns and pages == 3
    # a backup being created cannot be deleted; an available one can
    for arn in arns:
        _wait_available(ddb, arn)
        ddb.delete_backup(BackupArn=arn)
    assert ddb.list_backups(TableName=name)["BackupSummaries"] == []
    ddb.delete_table(TableName=name)


def test_interrupted_restore_ends_complete_or_gone(tmp_path: Path) -> None:
    """kill -9 in the middle of a restore, restart: the table is ACTIVE with every
    item, or it is gone; it is never ACTIVE and partial.  The region pauses after each
    batch it loads (a testing knob) so that the kill lands mid-restore."""
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{tmp_path}/kill.db",
        log_dir=tmp_path,
        env={"GLOBALTABLES_TEST_RESTORE_PAUSE_S": "0.05"},
    ).start()
    try:
        ddb = proc.client()
        name = unique("big")
        create_table(ddb, name, ("p", "S"), ("s", "N"))
        items = _items(4000)
        put_many(ddb, name, items)
        arn = ddb.create_backup(TableName=name, BackupName="big")["BackupDetails"]["BackupArn"]
        _wait_available(ddb, arn)
        target = unique("big-r")
        ddb.restore_table_from_backup(TargetTableName=target, BackupArn=arn)
        deadline = time.monotonic() + 30
        while True:
            table = ddb.describe_table(TableName=target)["Table"]
            assert table["TableStatus"] == "CREATING", "the restore finished before the kill"
            if table["ItemCount"] >= 600:
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # a restoring table takes no item requests
        expect_error(
            lambda: ddb.get_item(TableName=target, Key={"p": {"S": "p0"}, "s": {"N": "0"}}),
            "ResourceNotFoundException",
        )
        expect_error(lambda: ddb.delete_table(TableName=target), "ResourceInUseException")
        proc.kill()
        proc.start()
        ddb = proc.client()
        deadline = time.monotonic() + 60
        while True:
            try:
                table = ddb.describe_table(TableName=target)["Table"]
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
                break  # failed cleanly: gone
            if table["TableStatus"] == "ACTIVE":
                assert table["RestoreSummary"]["RestoreInProgress"] is False
                assert scan(ddb, target, _order) == sorted(items, key=_order)
                break
            assert table["TableStatus"] == "CREATING"
            assert time.monotonic() < deadline, "the restore never finished"
            time.sleep(0.1)
    finally:
        proc.stop()
