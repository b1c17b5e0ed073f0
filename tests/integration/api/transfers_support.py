"""Helpers of the data-protection tests: exports and imports (test_exports.py,
test_imports.py), backups and PITR (test_backups.py, test_pitr.py), S3
(test_protection_s3.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from globaltables.wan.ports import free_port
from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, RegionProcess
from tests.fixtures.s3 import S3Endpoint
from tests.integration.api.support import REGION

__all__ = [
    "enable_pitr",
    "put_many",
    "raw_client",
    "s3_client",
    "s3_region",
    "scan",
    "transfer_fixtures",
    "wait_active",
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


def transfer_fixtures(name: str, bucket: str) -> tuple[Any, Any, Any]:
    """The module-scoped ``region``, ``ddb`` and ``s3`` fixtures of a transfer test
    module: an ``s3_region`` in a temporary directory named ``name``, its client, and
    an S3 client of the tests' server with ``bucket`` created.  Use as
    ``region, ddb, s3 = transfer_fixtures("exports", BUCKET)``."""

    @pytest.fixture(scope="module")
    def region(
        tmp_path_factory: pytest.TempPathFactory, s3_server: S3Endpoint
    ) -> Iterator[RegionProcess]:
        proc = s3_region(tmp_path_factory.mktemp(name), s3_server).start()
        yield proc
        proc.stop()

    @pytest.fixture(scope="module")
    def ddb(region: RegionProcess) -> Any:
        return region.client()

    @pytest.fixture(scope="module")
    def s3(s3_server: S3Endpoint) -> Any:
        client = s3_client(s3_server)
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        return client

    return region, ddb, s3


def raw_client(region: RegionProcess) -> Any:
    """A DynamoDB client of ``region`` without botocore's own parameter checks and
    retries, so the region's validation is what answers."""
    return boto3.client(
        "dynamodb",
        endpoint_url=region.url,
        region_name=REGION,
        aws_access_key_id=ADMIN_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
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


def _by_repr(item: dict[str, Any]) -> str:
    return repr(sorted(item.items()))


def scan(
    ddb: Any, table: str, key: Callable[[dict[str, Any]], Any] = _by_repr
) -> list[dict[str, Any]]:
    """Every item of ``table`` (consistent reads, all pages), sorted by ``key``."""
    out: list[dict[str, Any]] = []
    kw: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kw)
        out += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(out, key=key)


def wait_active(ddb: Any, name: str, timeout: float = 60) -> dict[str, Any]:
    """DescribeTable's ``Table`` once ``name`` is ACTIVE."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table: dict[str, Any] = ddb.describe_table(TableName=name)["Table"]
        if table["TableStatus"] == "ACTIVE":
            return table
        time.sleep(0.1)
    raise AssertionError(f"{name} did not become ACTIVE")


def _wait_done(
    describe: Callable[[], dict[str, Any]], status: str, what: str, timeout: float
) -> dict[str, Any]:
    """``describe()`` once its ``status`` field is no longer IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        desc = describe()
        if desc[status] != "IN_PROGRESS":
            return desc
        if time.monotonic() > deadline:
            pytest.fail(f"{what} still IN_PROGRESS")
        time.sleep(0.1)


def wait_export(ddb: Any, arn: str, timeout: float = 60) -> dict[str, Any]:
    return _wait_done(
        lambda: ddb.describe_export(ExportArn=arn)["ExportDescription"],
        "ExportStatus",
        f"export {arn}",
        timeout,
    )


def wait_import(ddb: Any, arn: str, timeout: float = 60) -> dict[str, Any]:
    return _wait_done(
        lambda: ddb.describe_import(ImportArn=arn)["ImportTableDescription"],
        "ImportStatus",
        f"import {arn}",
        timeout,
    )
