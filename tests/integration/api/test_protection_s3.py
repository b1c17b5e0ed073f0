"""Backups and point-in-time recovery kept in a real S3-compatible server.

A region on PostgreSQL pointed at the tests' S3 server (versitygw, tests/fixtures/s3.py)
with the variables botocore itself reads (``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``,
...): its backups and PITR snapshots are objects of its bucket there, a restore reads
them back item for item, and a backup whose object was damaged in S3 fails its restore
cleanly: the new table goes away, it is never ACTIVE with part of the items.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess, free_port
from tests.fixtures.s3 import S3Endpoint
from tests.integration.api.support import REGION
from tests.integration.api.transfers_support import put_many, s3_client

pytestmark = pytest.mark.integration

ITEMS = 1200


@pytest.fixture
def bucket() -> str:
    return f"gt-protection-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def region(
    s3_server: S3Endpoint, postgres_db_url: str, bucket: str, tmp_path: Path
) -> Iterator[RegionProcess]:
    proc = RegionProcess(
        REGION,
        free_port(),
        postgres_db_url,
        log_dir=tmp_path,
        extra_args=["--s3-bucket", bucket, "--pitr-snapshot-interval", "1"],
        env=s3_server.env(),
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def s3(s3_server: S3Endpoint) -> Any:
    return s3_client(s3_server)


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _table(ddb: Any, name: str) -> dict[str, dict[str, Any]]:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    items = {
        f"k{i:05d}": {"id": {"S": f"k{i:05d}"}, "n": {"N": str(i)}, "b": {"B": bytes([i % 256]) * 5}}
        for i in range(ITEMS)
    }
    put_many(ddb, name, list(items.values()))
    return items


def _scan(ddb: Any, name: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
        out.update({item["id"]["S"]: item for item in page["Items"]})
    return out


def _status(ddb: Any, name: str) -> str | None:
    try:
        return str(ddb.describe_table(TableName=name)["Table"]["TableStatus"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def _wait(ddb: Any, name: str, *, gone: bool = False, timeout: float = 60) -> list[str | None]:
    """The statuses seen until the table is ACTIVE (or gone)."""
    seen: list[str | None] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(ddb, name)
        seen.append(status)
        if (status is None) if gone else (status == "ACTIVE"):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{name}: still {seen[-1]} after {timeout}s")


def _backup(ddb: Any, table: str, name: str) -> str:
    arn = str(ddb.create_backup(TableName=table, BackupName=name)["BackupDetails"]["BackupArn"])
    deadline = time.monotonic() + 60
    while ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"][
        "BackupStatus"
    ] != "AVAILABLE":
        assert time.monotonic() < deadline, "the backup never became AVAILABLE"
        time.sleep(0.1)
    return arn


def test_backup_and_restore_through_s3(region: RegionProcess, s3: Any, bucket: str) -> None:
    ddb = region.client()
    items = _table(ddb, "s3-source")
    arn = _backup(ddb, "s3-source", "before-drop")
    # the backup's objects are in the region's bucket of the S3 service
    stored = _keys(s3, bucket, "")
    assert any(k.endswith("manifest.json") for k in stored), stored[:10]
    assert sum(k.endswith(".jsonl.gz") for k in stored) >= 1
    ddb.delete_table(TableName="s3-source")
    _wait(ddb, "s3-source", gone=True)
    ddb.restore_table_from_backup(TargetTableName="s3-restored", BackupArn=arn)
    _wait(ddb, "s3-restored")
    assert _scan(ddb, "s3-restored") == items


def test_point_in_time_restore_through_s3(region: RegionProcess, s3: Any, bucket: str) -> None:
    ddb = region.client()
    items = _table(ddb, "s3-pitr")
    ddb.update_continuous_backups(
        TableName="s3-pitr", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    time.sleep(2.5)  # past a snapshot or two (one a second here)
    instant = datetime.now(UTC)
    time.sleep(1.2)
    for i in range(0, ITEMS, 2):
        ddb.delete_item(TableName="s3-pitr", Key={"id": {"S": f"k{i:05d}"}})
    assert any("pitr" in k for k in _keys(s3, bucket, "")), "no PITR snapshot in S3"
    ddb.restore_table_to_point_in_time(
        SourceTableName="s3-pitr", TargetTableName="s3-pitr-restored", RestoreDateTime=instant
    )
    _wait(ddb, "s3-pitr-restored")
    assert _scan(ddb, "s3-pitr-restored") == items


def test_a_damaged_backup_object_fails_the_restore_cleanly(
    region: RegionProcess, s3: Any, bucket: str
) -> None:
    ddb = region.client()
    _table(ddb, "s3-damaged")
    arn = _backup(ddb, "s3-damaged", "to-damage")
    backup_id = arn.rsplit("/", 1)[1]
    chunks = [k for k in _keys(s3, bucket, "") if backup_id in k and k.endswith(".jsonl.gz")]
    assert chunks, "the backup's chunks are not in S3"
    # a bit flipped in storage: the chunk no longer matches its manifest's SHA-256
    body = bytearray(s3.get_object(Bucket=bucket, Key=chunks[-1])["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=chunks[-1], Body=bytes(body))
    ddb.restore_table_from_backup(TargetTableName="s3-damaged-restored", BackupArn=arn)
    seen = _wait(ddb, "s3-damaged-restored", gone=True)
    assert "ACTIVE" not in seen, f"a restore of a damaged backup went ACTIVE: {seen}"
    assert "s3-damaged-restored" not in ddb.list_tables()["TableNames"]


def _done(describe: Any, status_key: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc: dict[str, Any] = describe()
        if desc[status_key] != "IN_PROGRESS":
            return desc
        assert time.monotonic() < deadline, f"still IN_PROGRESS after {timeout}s"
        time.sleep(0.2)


def test_export_then_import_on_postgresql_through_s3(region: RegionProcess, s3: Any) -> None:
    """Exports and imports keep their records in the store (PostgreSQL here) and their
    files in the user's bucket of the S3 service."""
    ddb = region.client()
    items = _table(ddb, "s3-export")
    ddb.update_continuous_backups(
        TableName="s3-export", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    user_bucket = f"gt-exports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=user_bucket)
    arn = ddb.describe_table(TableName="s3-export")["Table"]["TableArn"]
    started = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=user_bucket, S3Prefix="exports", ExportFormat="DYNAMODB_JSON"
    )["ExportDescription"]
    export = _done(
        lambda: ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"],
        "ExportStatus",
    )
    assert export["ExportStatus"] == "COMPLETED", export
    assert export["ItemCount"] == ITEMS
    summary = s3.get_object(Bucket=user_bucket, Key=export["ExportManifest"])["Body"].read()
    assert b'"itemCount":%d' % ITEMS in summary.replace(b" ", b"")
    data_prefix = export["ExportManifest"].rsplit("/", 1)[0] + "/data/"
    imported = ddb.import_table(
        S3BucketSource={"S3Bucket": user_bucket, "S3KeyPrefix": data_prefix},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": "s3-imported",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )["ImportTableDescription"]
    done = _done(
        lambda: ddb.describe_import(ImportArn=imported["ImportArn"])["ImportTableDescription"],
        "ImportStatus",
    )
    assert done["ImportStatus"] == "COMPLETED", done
    assert (done["ImportedItemCount"], done["ErrorCount"]) == (ITEMS, 0)
    _wait(ddb, "s3-imported")
    assert _scan(ddb, "s3-imported") == items
