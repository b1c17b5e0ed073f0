"""Shared helpers of the replication tests (three real regions, one real Kafka)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess, mesh, running
from tests.integration.api.support import http

NAMES = ("us-east-1", "eu-west-1", "ap-southeast-2")


@pytest.fixture(scope="package")
def regions(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RegionProcess]]:
    with running(mesh(NAMES, tmp_path_factory.mktemp("three"), kafka_bootstrap)) as procs:
        yield procs


#: a policy that lets a user do anything in DynamoDB
ALLOW_DYNAMODB = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
}


def new_key(proc: RegionProcess, user: str) -> dict[str, str]:
    """Create ``user`` (allowed all of DynamoDB) in ``proc``'s region and an access
    key for it, with the admin API; the key as ``aws iam create-access-key`` shows it."""
    created = http().post(
        f"{proc.url}/v1/admin/users", json={"UserName": user, "Policies": [ALLOW_DYNAMODB]}
    )
    assert created.status_code == 201, created.text
    resp = http().post(f"{proc.url}/v1/admin/users/{user}/keys")
    assert resp.status_code == 201, resp.text
    key: dict[str, str] = resp.json()["AccessKey"]
    return key


def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def make_global(regions: dict[str, RegionProcess], table: str, **create: Any) -> dict[str, Any]:
    """Create ``table`` in us-east-1 (hash key ``id`` unless ``create`` says otherwise)
    and add the two other regions as replicas; returns a boto3 client per region."""
    east = regions["us-east-1"].client()
    params: dict[str, Any] = {
        "TableName": table,
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    params.update(create)
    east.create_table(**params)  # type: ignore[attr-defined]
    for r in NAMES[1:]:
        east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": r}}])  # type: ignore[attr-defined]
    return {n: regions[n].client() for n in NAMES}


def row_versions(proc: RegionProcess, table: str) -> dict[str, tuple[int, str, bytes | None]]:
    """(hlc, origin, data) per item id, read straight from the region's SQLite file."""
    path = proc.store.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        spec = db.execute("SELECT tid FROM gt_tables WHERE name = ?", (table,)).fetchone()
        rows = db.execute("SELECT hk, hlc, origin, data FROM gt_items WHERE tid = ?", (spec[0],)).fetchall()
    return {hk.decode(): (hlc, origin, data) for hk, hlc, origin, data in rows}


