"""Helpers of the export and import tests (test_exports.py, test_imports.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from globaltables.wan.ports import free_port
from tests.fixtures.regions import RegionProcess
from tests.fixtures.s3 import S3Endpoint
from tests.integration.api.support import REGION

__all__ = [
    "enable_pitr",
    "put_many",
    "s3_client",
    "s3_region",
    "scan",
    "wait_export",
    "wait_import",
]


def s3_region(
    directory: Path, s3: S3Endpoint | None, env: dict[str, str] | None = None
) -> RegionProcess:
    """A region (not started) with 1 s PITR snapshots; with ``s3``, its objects in
    that server, else in the local object store next to its SQLite file."""
    return RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{directory}/transfers.db",
        log_dir=directory,
        extra_args=["--pitr-snapshot-interval", "1"],
        env={
            **(s3.env() if s3 is not None else {}),
            "GLOBALTABLES_TEST_EXPORT_MIN_WINDOW_S": "1",
            **(env or {}),
        },
    )


def s3_client(s3: S3Endpoint) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
    )


def enable_pitr(ddb: Any, table: str) -> dict[str, Any]:
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    deadline = time.monotonic() + 30
    while True:
        desc = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        pitr: dict[str, Any] = desc["PointInTimeRecoveryDescription"]
        if "EarliestRestorableDateTime" in pitr:
            return pitr
        assert time.monotonic() < deadline, "no base snapshot"
        time.sleep(0.1)


def put_many(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        ddb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        )


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kw: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kw)
        out += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(out, key=lambda i: repr(sorted(i.items())))


def wait_export(ddb: Any, arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc: dict[str, Any] = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        if desc["ExportStatus"] != "IN_PROGRESS":
            return desc
        if time.monotonic() > deadline:
            pytest.fail(f"export {arn} still IN_PROGRESS")
        time.sleep(0.1)


def wait_import(ddb: Any, arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc: dict[str, Any] = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        if desc["ImportStatus"] != "IN_PROGRESS":
            return desc
        if time.monotonic() > deadline:
            pytest.fail(f"import {arn} still IN_PROGRESS")
        time.sleep(0.1)
