"""Point-in-time recovery through boto3 against a real region process:
UpdateContinuousBackups, DescribeContinuousBackups and RestoreTableToPointInTime,
with DynamoDB's answers and errors.

The region takes a PITR snapshot every second and keeps stream records four seconds,
so the restores here read a snapshot, the change log and the records the stream's
trim moved aside (regions/protection/pitr.py).  The mass-delete drill: a restore to
one second before a mass delete equals the table at that instant, item for item.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import REGION, create_table, expect_error, unique
from tests.integration.api.transfers_support import put_many, raw_client, scan, wait_active

pytestmark = pytest.mark.integration

RETENTION = 4


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("pitr")
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{d}/pitr.db",
        log_dir=d,
        extra_args=[
            "--pitr-snapshot-interval",
            "1",
            "--stream-retention",
            str(RETENTION),
            "--housekeeping-interval",
            "0.3",
        ],
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ddb(region: RegionProcess) -> Any:
    return region.client()


def _delete_many(ddb: Any, table: str, keys: list[dict[str, Any]]) -> None:
    for start in range(0, len(keys), 25):
        ddb.batch_write_item(
            RequestItems={table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]}
        )


def test_continuous_backups_lifecycle(ddb: Any, region: RegionProcess) -> None:
    name = unique("cb")
    create_table(ddb, name)
    desc = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert desc["ContinuousBackupsStatus"] == "ENABLED"
    assert desc["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}

    before = datetime.now(UTC)
    out = ddb.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 7,
        },
    )["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert out["PointInTimeRecoveryStatus"] == "ENABLED"
    assert out["RecoveryPeriodInDays"] == 7
    assert out["EarliestRestorableDateTime"] >= before - timedelta(seconds=1)
    assert out["LatestRestorableDateTime"] >= out["EarliestRestorableDateTime"]

    # the ARN works as the table's name; the period changes alone
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    changed = ddb.update_continuous_backups(
        TableName=arn,
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 35,
        },
    )["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert changed["RecoveryPeriodInDays"] == 35
    assert changed["EarliestRestorableDateTime"] == out["EarliestRestorableDateTime"]
    time.sleep(1.2)
    later = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = later["PointInTimeRecoveryDescription"]
    assert pitr["LatestRestorableDateTime"] > out["LatestRestorableDateTime"]
    assert datetime.now(UTC) - pitr["LatestRestorableDateTime"] < timedelta(seconds=3)

    off = ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert off == {"PointInTimeRecoveryStatus": "DISABLED"}

    raw = raw_client(region)
    for days in (0, 36):
        expect_error(
            lambda days=days: raw.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": True,
                    "RecoveryPeriodInDays": days,
                },
            ),
            "ValidationException",
        )
    expect_error(
        lambda: raw.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={}),
        "ValidationException",
    )
    missing = unique("nope")
    expect_error(
        lambda: ddb.describe_continuous_backups(TableName=missing),
        "TableNotFoundException",
        f"Table not found: {missing}",
    )
    expect_error(
        lambda: ddb.update_continuous_backups(
            TableName=missing,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        ),
        "TableNotFoundException",
    )
    ddb.delete_table(TableName=name)


def test_mass_delete_drill(ddb: Any) -> None:
    """Restore to one second before a mass delete: the table as it was then."""
    name = unique("drill")
    create_table(ddb, name)
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    items = [
        {"p": {"S": f"k{i:05d}"}, "n": {"N": str(i)}, "s": {"S": "x" * (i % 50)}}
        for i in range(1000)
    ]
    put_many(ddb, name, items)
    time.sleep(1.5)  # a snapshot or two in between
    for i in range(0, 1000, 10):
        ddb.update_item(
            TableName=name,
            Key={"p": {"S": f"k{i:05d}"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "-1"}},
        )
    ddb.delete_item(TableName=name, Key={"p": {"S": "k00001"}})
    time.sleep(0.5)
    expected = scan(ddb, name)
    time.sleep(1.2)
    delete_started = time.time()
    _delete_many(ddb, name, [{"p": i["p"]} for i in items[:500]])
    assert len(scan(ddb, name)) == 500
    # past the stream retention: the records before the delete have left the change log
    time.sleep(RETENTION + 1.5)

    target = unique("drill-r")
    answer = ddb.restore_table_to_point_in_time(
        SourceTableName=name,
        TargetTableName=target,
        RestoreDateTime=datetime.fromtimestamp(delete_started - 1, UTC),
    )["TableDescription"]
    assert answer["TableStatus"] == "CREATING"
    summary = answer["RestoreSummary"]
    assert summary["SourceTableArn"].endswith(f":table/{name}")
    assert summary["RestoreInProgress"] is True
    assert abs(summary["RestoreDateTime"].timestamp() - (delete_started - 1)) < 0.01
    done = wait_active(ddb, target)
    assert done["RestoreSummary"]["RestoreInProgress"] is False
    assert scan(ddb, target) == expected

    # the latest restorable time: the table as it is now
    latest = unique("drill-l")
    ddb.restore_table_to_point_in_time(
        SourceTableArn=done["RestoreSummary"]["SourceTableArn"],
        TargetTableName=latest,
        UseLatestRestorableTime=True,
    )
    wait_active(ddb, latest)
    assert scan(ddb, latest) == scan(ddb, name)
    for t in (name, target, latest):
        ddb.delete_table(TableName=t)


def test_restore_errors(ddb: Any) -> None:
    name = unique("perr")
    create_table(ddb, name)
    target = unique("perr-t")
    expect_error(
        lambda: ddb.restore_table_to_point_in_time(
            SourceTableName=name, TargetTableName=target, UseLatestRestorableTime=True
        ),
        "PointInTimeRecoveryUnavailableException",
    )
    missing = unique("perr-m")
    expect_error(
        lambda: ddb.restore_table_to_point_in_time(
            SourceTableName=missing, TargetTableName=target, UseLatestRestorableTime=True
        ),
        "TableNotFoundException",
        f"Table not found: {missing}",
    )
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    for when in (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)):
        expect_error(
            lambda when=when: ddb.restore_table_to_point_in_time(
                SourceTableName=name, TargetTableName=target, RestoreDateTime=when
            ),
            "InvalidRestoreTimeException",
        )
    time.sleep(1.1)
    expect_error(
        lambda: ddb.restore_table_to_point_in_time(
            SourceTableName=name, TargetTableName=name, UseLatestRestorableTime=True
        ),
        "TableAlreadyExistsException",
        f"Table already exists: {name}",
    )
    for kw in (
        {},  # neither a time nor the latest
        {"UseLatestRestorableTime": True, "RestoreDateTime": datetime.now(UTC)},
    ):
        expect_error(
            lambda kw=kw: ddb.restore_table_to_point_in_time(
                SourceTableName=name, TargetTableName=target, **kw
            ),
            "ValidationException",
        )
    expect_error(lambda: ddb.describe_table(TableName=target), "ResourceNotFoundException")
    ddb.delete_table(TableName=name)


def test_restore_overrides(ddb: Any) -> None:
    name = unique("povr")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "p", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    put_many(ddb, name, [{"p": {"S": f"k{i}"}, "g": {"S": f"g{i % 2}"}} for i in range(20)])
    time.sleep(1.2)
    target = unique("povr-t")
    ddb.restore_table_to_point_in_time(
        SourceTableName=name,
        TargetTableName=target,
        UseLatestRestorableTime=True,
        BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6},
        GlobalSecondaryIndexOverride=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3},
            }
        ],
        LocalSecondaryIndexOverride=[],
        SSESpecificationOverride={"Enabled": False},
    )
    table = wait_active(ddb, target)
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 6
    assert table["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 2
    assert len(scan(ddb, target)) == 20
    other = unique("povr-o")
    ddb.restore_table_to_point_in_time(
        SourceTableName=name,
        TargetTableName=other,
        UseLatestRestorableTime=True,
        OnDemandThroughputOverride={"MaxReadRequestUnits": 9, "MaxWriteRequestUnits": 8},
    )
    assert wait_active(ddb, other)["OnDemandThroughput"]["MaxReadRequestUnits"] == 9
    expect_error(
        lambda: ddb.restore_table_to_point_in_time(
            SourceTableName=name,
            TargetTableName=unique("povr-x"),
            UseLatestRestorableTime=True,
            SSESpecificationOverride={"Enabled": True},
        ),
        "ValidationException",
    )
    for t in (name, target, other):
        ddb.delete_table(TableName=t)
