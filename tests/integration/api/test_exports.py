"""ExportTableToPointInTime, DescribeExport and ListExports through boto3 against a real
region process whose objects live in a real S3-compatible server (tests/fixtures/s3.py),
read back with boto3's S3 client and checked field by field against DynamoDB's
documented export format ("DynamoDB table export output format"); a full export, then
an incremental one, imported back (ImportTable) and replayed give an equal table; an
export interrupted by kill -9 ends COMPLETED or FAILED on the local object store.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.api.support import create_table, expect_error, unique
from tests.integration.api.transfers_support import (
    enable_pitr,
    put_many,
    s3_region,
    scan,
    transfer_fixtures,
    wait_export,
    wait_import,
)

pytestmark = pytest.mark.integration

BUCKET = "gt-exports"


region, ddb, s3 = transfer_fixtures("exports", BUCKET)


def _items(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        item: dict[str, Any] = {"p": {"S": f"p{i % 7}"}, "s": {"N": str(i)}, "n": {"N": f"{i}.5"}}
        if i % 3 == 0:
            item["b"] = {"B": bytes([i % 256, 0, 255])}
            item["ss"] = {"SS": [f"a{i}", "b"]}
            item["m"] = {"M": {"l": {"L": [{"BOOL": True}, {"NULL": True}, {"N": "-1e3"}]}}}
        if i % 5 == 0:
            item["ns"] = {"NS": ["1", "2.25"]}
            item["bs"] = {"BS": [b"x", b"yz"]}
        out.append(item)
    return out


def _get(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def _import_export(
    ddb: Any, bucket: str, export: dict[str, Any], target: str, fmt: str = "DYNAMODB_JSON"
) -> dict[str, Any]:
    """ImportTable of a finished export's data files (GZIP, ``fmt``) in ``bucket`` into
    a new table ``target`` keyed like ``_items``: its ImportTableDescription."""
    imp: dict[str, Any] = ddb.import_table(
        S3BucketSource={
            "S3Bucket": bucket,
            "S3KeyPrefix": export["ExportManifest"].rsplit("/", 1)[0] + "/data/",
        },
        InputFormat=fmt,
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": target,
            "AttributeDefinitions": [
                {"AttributeName": "p", "AttributeType": "S"},
                {"AttributeName": "s", "AttributeType": "N"},
            ],
            "KeySchema": [
                {"AttributeName": "p", "KeyType": "HASH"},
                {"AttributeName": "s", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )["ImportTableDescription"]
    return imp


def _latest(ddb: Any, table: str) -> datetime:
    desc = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    at: datetime = desc["PointInTimeRecoveryDescription"]["LatestRestorableDateTime"]
    return at


def _exportable(
    ddb: Any, prefix: str, n: int, *, settle: float
) -> tuple[str, list[dict[str, Any]], str, datetime]:
    """A new table of ``_items(n)`` with PITR on, ``settle`` seconds later: its name,
    items, ARN and latest restorable instant."""
    name = unique(prefix)
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    items = _items(n)
    put_many(ddb, name, items)
    table_arn: str = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    enable_pitr(ddb, name)
    time.sleep(settle)
    return name, items, table_arn, _latest(ddb, name)


def _iso_ms(text: str) -> float:
    assert text.endswith("Z") and len(text.split(".")[1]) == 4, text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def _check_manifests(s3: Any, desc: dict[str, Any], *, incremental: bool) -> list[dict[str, Any]]:
    """The export's manifests field by field; the JSON lines of its data files."""
    summary_key = desc["ExportManifest"]
    base = summary_key.rsplit("/", 1)[0]
    export_id = desc["ExportArn"].rsplit("/export/", 1)[1]
    assert base == f"{desc['S3Prefix']}/AWSDynamoDB/{export_id}"
    assert _get(s3, f"{base}/_started") == b""
    raw = _get(s3, summary_key)
    assert (
        _get(s3, f"{base}/manifest-summary.md5").decode()
        == base64.b64encode(hashlib.md5(raw).digest()).decode()
    )
    summary = json.loads(raw)
    expected_keys = ["version", "exportArn", "startTime", "endTime", "tableArn", "tableId"]
    expected_keys += ["exportFromTime", "exportToTime"] if incremental else ["exportTime"]
    expected_keys += [
        "s3Bucket", "s3Prefix", "s3SseAlgorithm", "s3SseKmsKeyId", "manifestFilesS3Key",
        "billedSizeBytes", "itemCount", "outputFormat",
    ]  # fmt: skip
    expected_keys += ["outputView", "exportType"] if incremental else ["exportType"]
    assert list(summary) == expected_keys
    assert summary["version"] == ("2023-08-01" if incremental else "2020-06-30")
    assert summary["exportArn"] == desc["ExportArn"]
    assert summary["tableArn"] == desc["TableArn"]
    assert summary["tableId"] == desc["TableId"]
    assert summary["s3Bucket"] == BUCKET
    assert summary["s3Prefix"] == desc["S3Prefix"]
    assert summary["s3SseAlgorithm"] == "AES256"
    assert summary["s3SseKmsKeyId"] is None
    assert summary["itemCount"] == desc["ItemCount"]
    assert summary["billedSizeBytes"] == desc["BilledSizeBytes"]
    assert summary["outputFormat"] == desc["ExportFormat"]
    assert summary["exportType"] == desc["ExportType"]
    assert abs(_iso_ms(summary["startTime"]) - desc["StartTime"].timestamp()) < 0.002
    assert abs(_iso_ms(summary["endTime"]) - desc["EndTime"].timestamp()) < 0.002
    if incremental:
        spec = desc["IncrementalExportSpecification"]
        assert summary["outputView"] == spec["ExportViewType"]
        assert abs(_iso_ms(summary["exportFromTime"]) - spec["ExportFromTime"].timestamp()) < 0.002
        assert abs(_iso_ms(summary["exportToTime"]) - spec["ExportToTime"].timestamp()) < 0.002
    else:
        assert abs(_iso_ms(summary["exportTime"]) - desc["ExportTime"].timestamp()) < 0.002
    files_key = summary["manifestFilesS3Key"]
    assert files_key == f"{base}/manifest-files.json"
    files_raw = _get(s3, files_key)
    assert (
        _get(s3, f"{base}/manifest-files.md5").decode()
        == base64.b64encode(hashlib.md5(files_raw).digest()).decode()
    )
    lines: list[dict[str, Any]] = []
    count = 0
    for entry_line in files_raw.decode().splitlines():
        entry = json.loads(entry_line)
        assert list(entry) == ["itemCount", "md5Checksum", "etag", "dataFileS3Key"]
        key = entry["dataFileS3Key"]
        suffix = ".json.gz" if desc["ExportFormat"] == "DYNAMODB_JSON" else ".ion.gz"
        data_dir = f"{desc['S3Prefix']}/AWSDynamoDB/data/" if incremental else f"{base}/data/"
        assert key.startswith(data_dir) and key.endswith(suffix), key
        data = _get(s3, key)
        assert entry["md5Checksum"] == base64.b64encode(hashlib.md5(data).digest()).decode()
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert entry["etag"] == head["ETag"].strip('"')
        text = gzip.decompress(data).decode()
        file_lines = [line for line in text.split("\n") if line]
        assert entry["itemCount"] == len(file_lines)
        count += len(file_lines)
        if desc["ExportFormat"] == "DYNAMODB_JSON":
            lines += [json.loads(line) for line in file_lines]
    assert count == desc["ItemCount"]
    return lines


def _to_wire(item: dict[str, Any]) -> dict[str, Any]:
    """A boto3 item in DynamoDB JSON text form (binaries base64)."""

    def value(av: dict[str, Any]) -> dict[str, Any]:
        ((t, v),) = av.items()
        if t == "B":
            return {"B": base64.b64encode(v).decode()}
        if t == "BS":
            return {"BS": sorted(base64.b64encode(b).decode() for b in v)}
        if t in ("SS", "NS"):
            return {t: sorted(v)}
        if t == "M":
            return {"M": {k: value(x) for k, x in v.items()}}
        if t == "L":
            return {"L": [value(x) for x in v]}
        return {t: v}

    return {k: value(v) for k, v in item.items()}


def _norm(wire: dict[str, Any]) -> str:
    def value(av: dict[str, Any]) -> Any:
        ((t, v),) = av.items()
        if t in ("SS", "NS", "BS"):
            return {t: sorted(v)}
        if t == "M":
            return {"M": {k: value(x) for k, x in sorted(v.items())}}
        if t == "L":
            return {"L": [value(x) for x in v]}
        return {t: v}

    return json.dumps({k: value(v) for k, v in sorted(wire.items())}, sort_keys=True)


def test_full_then_incremental_export_imports_back_equal(ddb: Any, s3: Any) -> None:
    name, items, table_arn, at = _exportable(ddb, "exp", 120, settle=1.5)
    before = scan(ddb, name)
    request: dict[str, Any] = {
        "TableArn": table_arn,
        "ExportTime": at,
        "ClientToken": unique("tok"),
        "S3Bucket": BUCKET,
        "S3BucketOwner": "123456789012",
        "S3Prefix": f"exports/{name}",
        "S3SseAlgorithm": "AES256",
        "ExportFormat": "DYNAMODB_JSON",
        "ExportType": "FULL_EXPORT",
    }
    started = ddb.export_table_to_point_in_time(**request)["ExportDescription"]
    assert started["ExportStatus"] in ("IN_PROGRESS", "COMPLETED")
    assert started["TableArn"] == table_arn
    assert started["S3BucketOwner"] == "123456789012"
    arn = started["ExportArn"]
    assert arn.startswith(f"{table_arn}/export/")
    # the same ClientToken and parameters: the same export; other parameters: a conflict
    again = ddb.export_table_to_point_in_time(**request)["ExportDescription"]
    assert again["ExportArn"] == arn
    expect_error(
        lambda: ddb.export_table_to_point_in_time(**{**request, "S3Prefix": "elsewhere"}),
        "ExportConflictException",
    )
    # writes after the export's instant are not in it
    put_many(ddb, name, [{"p": {"S": "late"}, "s": {"N": "1"}}])
    desc = wait_export(ddb, arn)
    assert desc["ExportStatus"] == "COMPLETED", desc
    assert desc["ItemCount"] == len(items) and desc["BilledSizeBytes"] > 0
    assert desc["ExportTime"] == at
    assert desc["ClientToken"] == request["ClientToken"]
    assert desc["S3Prefix"] == request["S3Prefix"]
    assert desc["ExportType"] == "FULL_EXPORT" and desc["ExportFormat"] == "DYNAMODB_JSON"
    lines = _check_manifests(s3, desc, incremental=False)
    assert all(list(line) == ["Item"] for line in lines)
    assert sorted(_norm(line["Item"]) for line in lines) == sorted(
        _norm(_to_wire(i)) for i in before
    )

    # changes, then an incremental export of them
    ddb.delete_item(TableName=name, Key={"p": {"S": "p0"}, "s": {"N": "0"}})
    ddb.put_item(TableName=name, Item={"p": {"S": "p1"}, "s": {"N": "1"}, "new": {"S": "v"}})
    ddb.put_item(TableName=name, Item={"p": {"S": "fresh"}, "s": {"N": "9"}})
    time.sleep(1.5)
    to = _latest(ddb, name)
    inc = ddb.export_table_to_point_in_time(
        TableArn=table_arn,
        S3Bucket=BUCKET,
        S3Prefix=f"exports/{name}",
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={
            "ExportFromTime": at,
            "ExportToTime": to,
            "ExportViewType": "NEW_AND_OLD_IMAGES",
        },
    )["ExportDescription"]
    inc = wait_export(ddb, inc["ExportArn"])
    assert inc["ExportStatus"] == "COMPLETED", inc
    assert inc["ExportType"] == "INCREMENTAL_EXPORT"
    changes = _check_manifests(s3, inc, incremental=True)
    by_key = {(c["Keys"]["p"]["S"], c["Keys"]["s"]["N"]): c for c in changes}
    assert set(by_key) == {("late", "1"), ("p0", "0"), ("p1", "1"), ("fresh", "9")}
    for change in changes:
        assert list(change["Metadata"]) == ["WriteTimestampMicros"]
        micros = int(change["Metadata"]["WriteTimestampMicros"]["N"])
        assert at.timestamp() * 1e6 <= micros <= to.timestamp() * 1e6
    deleted = by_key[("p0", "0")]
    assert "NewImage" not in deleted and deleted["OldImage"]["p"] == {"S": "p0"}
    updated = by_key[("p1", "1")]
    assert updated["NewImage"]["new"] == {"S": "v"} and "new" not in updated["OldImage"]
    inserted = by_key[("fresh", "9")]
    assert "OldImage" not in inserted and inserted["NewImage"]["s"] == {"N": "9"}

    # import the full export into a new table, replay the incremental one: equal
    target = unique("imp")
    imp = _import_export(ddb, BUCKET, desc, target)
    done = wait_import(ddb, imp["ImportArn"])
    assert done["ImportStatus"] == "COMPLETED", done
    assert done["ImportedItemCount"] == len(items) and done["ErrorCount"] == 0
    assert scan(ddb, target) == before
    for change in changes:
        if "NewImage" in change:
            ddb.put_item(TableName=target, Item=_from_wire(change["NewImage"]))
        else:
            ddb.delete_item(TableName=target, Key=_from_wire(change["Keys"]))
    assert scan(ddb, target) == scan(ddb, name)
    ddb.delete_table(TableName=target)

    # ION: the same items, read back by ImportTable
    ion = ddb.export_table_to_point_in_time(
        TableArn=table_arn,
        ExportTime=at,
        S3Bucket=BUCKET,
        S3Prefix=f"ion/{name}",
        ExportFormat="ION",
    )["ExportDescription"]
    ion = wait_export(ddb, ion["ExportArn"])
    assert ion["ExportStatus"] == "COMPLETED", ion
    _check_manifests(s3, ion, incremental=False)
    target = unique("imp-ion")
    imp = _import_export(ddb, BUCKET, ion, target, "ION")
    assert wait_import(ddb, imp["ImportArn"])["ImportStatus"] == "COMPLETED"
    assert scan(ddb, target) == before
    ddb.delete_table(TableName=target)
    ddb.delete_table(TableName=name)


def _from_wire(item: dict[str, Any]) -> dict[str, Any]:
    def value(av: dict[str, Any]) -> dict[str, Any]:
        ((t, v),) = av.items()
        if t == "B":
            return {"B": base64.b64decode(v)}
        if t == "BS":
            return {"BS": [base64.b64decode(b) for b in v]}
        if t == "M":
            return {"M": {k: value(x) for k, x in v.items()}}
        if t == "L":
            return {"L": [value(x) for x in v]}
        return {t: v}

    return {k: value(v) for k, v in item.items()}


def test_export_errors(ddb: Any, s3: Any) -> None:
    name = unique("exp-err")
    create_table(ddb, name)
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    expect_error(
        lambda: ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET),
        "PointInTimeRecoveryUnavailableException",
    )
    expect_error(
        lambda: ddb.export_table_to_point_in_time(TableArn=arn + "-none", S3Bucket=BUCKET),
        "TableNotFoundException",
    )
    expect_error(
        lambda: ddb.describe_export(ExportArn=arn + "/export/01700000000000-00000000"),
        "ExportNotFoundException",
    )
    enable_pitr(ddb, name)
    expect_error(
        lambda: ddb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket=BUCKET, ExportTime=datetime(2001, 1, 1, tzinfo=UTC)
        ),
        "InvalidExportTimeException",
    )
    expect_error(
        lambda: ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="-bad-"),
        "ValidationException",
    )
    expect_error(
        lambda: ddb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket=BUCKET, S3SseAlgorithm="KMS", S3SseKmsKeyId="k"
        ),
        "ValidationException",
    )
    expect_error(
        lambda: ddb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket=BUCKET, ExportType="INCREMENTAL_EXPORT"
        ),
        "ValidationException",
    )
    # a bucket that does not exist in S3: the export fails, as DynamoDB's does
    missing = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="gt-no-such-bucket")
    failed = wait_export(ddb, missing["ExportDescription"]["ExportArn"])
    assert failed["ExportStatus"] == "FAILED"
    assert failed["FailureCode"] == "S3NoSuchBucket" and failed["FailureMessage"]
    ddb.delete_table(TableName=name)


def test_list_exports_pages(ddb: Any, s3: Any) -> None:
    name = unique("exp-list")
    create_table(ddb, name)
    table_arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    enable_pitr(ddb, name)
    arns = [
        ddb.export_table_to_point_in_time(
            TableArn=table_arn, S3Bucket=BUCKET, S3Prefix=f"list/{name}/{i}"
        )["ExportDescription"]["ExportArn"]
        for i in range(3)
    ]
    seen: list[str] = []
    kw: dict[str, Any] = {"TableArn": table_arn, "MaxResults": 2}
    while True:
        page = ddb.list_exports(**kw)
        for summary in page["ExportSummaries"]:
            assert summary["ExportType"] == "FULL_EXPORT"
            assert summary["ExportStatus"] in ("IN_PROGRESS", "COMPLETED")
        seen += [s["ExportArn"] for s in page["ExportSummaries"]]
        if "NextToken" not in page:
            break
        kw["NextToken"] = page["NextToken"]
    assert seen == arns
    for arn in arns:
        wait_export(ddb, arn)
    ddb.delete_table(TableName=name)


def test_interrupted_export_ends_completed_or_failed(tmp_path: Path) -> None:
    """kill -9 in the middle of an export on the local object store, restart: the
    export ends COMPLETED (with every item) or FAILED, never IN_PROGRESS forever."""
    proc = s3_region(tmp_path, None, {"GLOBALTABLES_TEST_TRANSFER_PAUSE_S": "0.2"}).start()
    try:
        ddb: Any = proc.client()
        _, items, arn, at = _exportable(ddb, "exp-kill", 1500, settle=1.2)
        export = ddb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="gt-local-exports", ExportTime=at
        )["ExportDescription"]["ExportArn"]
        time.sleep(0.5)
        assert ddb.describe_export(ExportArn=export)["ExportDescription"]["ExportStatus"] == (
            "IN_PROGRESS"
        )
        proc.kill()
        proc.start()
        ddb = proc.client()
        desc = wait_export(ddb, export, timeout=120)
        assert desc["ExportStatus"] in ("COMPLETED", "FAILED")
        if desc["ExportStatus"] == "COMPLETED":
            assert desc["ItemCount"] == len(items)
            # the local object store's export imports back too
            target = unique("imp-local")
            imp = _import_export(ddb, "gt-local-exports", desc, target)
            assert wait_import(ddb, imp["ImportArn"], timeout=120)["ImportStatus"] == "COMPLETED"
            assert len(scan(ddb, target)) == len(items)
    finally:
        proc.kill()
