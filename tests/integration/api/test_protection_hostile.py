"""Hostile requests to the data-protection operations (backups, PITR, exports, imports)
over raw HTTP: each gets DynamoDB's 4xx or a correct answer, never a 5xx, and none
reaches what it must not (the region's own bucket of backups and snapshots)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import create_table, error_of, post, unique

pytestmark = pytest.mark.integration

#: the region bucket of the session region (regions/protection/object_store_factory.py)
REGION_BUCKET = "globaltables-us-east-1"


@pytest.fixture
def table(region_proc: RegionProcess, ddb: Any) -> str:
    name = unique("prot")
    create_table(ddb, name, ("id", "S"))
    post(
        region_proc.url,
        "UpdateContinuousBackups",
        {"TableName": name, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}},
    )
    return name


@pytest.mark.parametrize(
    "bounds",
    [
        {"TimeRangeLowerBound": 1e300},
        {"TimeRangeUpperBound": -1e300},
        {"TimeRangeLowerBound": 1e11, "TimeRangeUpperBound": 1e200},
    ],
)
def test_timestamps_far_out_of_range_list_nothing(
    region_proc: RegionProcess, bounds: dict[str, float]
) -> None:
    r = post(region_proc.url, "ListBackups", bounds)
    assert r.status_code == 200, r.text
    assert r.json()["BackupSummaries"] == []


def test_restore_time_far_out_of_range_is_an_invalid_restore_time(
    region_proc: RegionProcess, table: str
) -> None:
    for at in (1e300, -1e300, 0):
        r = post(
            region_proc.url,
            "RestoreTableToPointInTime",
            {"SourceTableName": table, "TargetTableName": unique("never"), "RestoreDateTime": at},
        )
        assert r.status_code == 400, r.text
        assert error_of(r)[0].endswith("InvalidRestoreTimeException")


def test_non_numeric_timestamps_are_serialization_errors(region_proc: RegionProcess) -> None:
    for raw in (b'{"TimeRangeLowerBound": "yesterday"}', b'{"TimeRangeLowerBound": [1]}'):
        r = post(region_proc.url, "ListBackups", raw=raw)
        assert r.status_code == 400, r.text
        assert error_of(r)[0].endswith("SerializationException")


def test_the_region_bucket_is_neither_an_import_source_nor_an_export_target(
    region_proc: RegionProcess, ddb: Any, table: str
) -> None:
    # the region's backups of every table are there: an import would copy any of them
    # into a table of the caller's, whatever it may read
    create = {
        "TableName": unique("imp"),
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    r = post(
        region_proc.url,
        "ImportTable",
        {
            "S3BucketSource": {"S3Bucket": REGION_BUCKET, "S3KeyPrefix": ""},
            "InputFormat": "DYNAMODB_JSON",
            "TableCreationParameters": create,
        },
    )
    assert r.status_code == 400, r.text
    assert error_of(r)[0].endswith("ValidationException")
    assert create["TableName"] not in ddb.list_tables()["TableNames"]
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    r = post(
        region_proc.url,
        "ExportTableToPointInTime",
        {"TableArn": arn, "S3Bucket": REGION_BUCKET, "S3Prefix": "backups"},
    )
    assert r.status_code == 400, r.text
    assert error_of(r)[0].endswith("ValidationException")


@pytest.mark.parametrize("prefix", ["../../etc", "/absolute", "a//b", "./x"])
def test_export_prefixes_that_are_not_s3_keys_are_refused(
    region_proc: RegionProcess, ddb: Any, table: str, prefix: str
) -> None:
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    r = post(
        region_proc.url,
        "ExportTableToPointInTime",
        {"TableArn": arn, "S3Bucket": "some-bucket", "S3Prefix": prefix},
    )
    assert r.status_code == 400, r.text
    assert error_of(r)[0].endswith("ValidationException")
