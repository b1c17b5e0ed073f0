"""The mass-delete drill of issue #19, on three real regions replicating through Kafka.

A global table of 10,000 items; a bad deploy deletes 5,000 of them in us-east-1 and the
deletes replicate everywhere.  RestoreTableToPointInTime to one second before the
delete, in a region where the deletes only *arrived* (eu-west-1) and in the one where
they were made, gives a new table equal, item for item, to the table at that instant.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.replication.helpers import NAMES, eventually, make_global

pytestmark = pytest.mark.integration

TABLE = "pitr-drill"
ITEMS = 10_000
DELETED = 5_000


def _scan(client: Any, table: str) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            items[item["id"]["S"]] = item
    return items


def _count(client: Any, table: str) -> int:
    return sum(
        page["Count"]
        for page in client.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    )


def _write_all(client: Any) -> None:
    def batch(start: int) -> None:
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "id": {"S": f"item-{i:05d}"},
                        "n": {"N": str(i)},
                        "payload": {"S": f"value {i} " * 4},
                        "tags": {"SS": [f"t{i % 7}", "all"]},
                    }
                }
            }
            for i in range(start, min(start + 25, ITEMS))
        ]
        pending: dict[str, Any] = {TABLE: requests}
        for _ in range(50):
            out = client.batch_write_item(RequestItems=pending)
            pending = out.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(0.05)
        raise AssertionError("a batch stayed unprocessed")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(0, ITEMS, 25)))


def _restored(client: Any, table: str) -> dict[str, dict[str, Any]]:
    def active() -> bool:
        desc = client.describe_table(TableName=table)["Table"]
        return bool(desc["TableStatus"] == "ACTIVE")

    eventually(active, timeout=180, what=f"{table} ACTIVE")
    summary = client.describe_table(TableName=table)["Table"]["RestoreSummary"]
    assert summary["RestoreInProgress"] is False
    return _scan(client, table)


def test_restore_to_one_second_before_a_replicated_mass_delete(
    regions: dict[str, RegionProcess],
) -> None:
    clients = make_global(regions, TABLE)
    east, west = clients["us-east-1"], clients["eu-west-1"]
    for name in ("us-east-1", "eu-west-1"):
        clients[name].update_continuous_backups(
            TableName=TABLE,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    _write_all(east)
    for name in NAMES:
        eventually(
            lambda c=clients[name]: _count(c, TABLE) == ITEMS,
            timeout=120,
            what=f"{ITEMS} items in {name}",
        )
    before = {name: _scan(clients[name], TABLE) for name in ("us-east-1", "eu-west-1")}
    assert len(before["eu-west-1"]) == ITEMS
    assert before["eu-west-1"] == before["us-east-1"]

    # the instant to go back to, then the bad deploy one second later
    time.sleep(1.2)
    instant = datetime.now(UTC)
    time.sleep(1.0)

    def delete(start: int) -> None:
        requests = [
            {"DeleteRequest": {"Key": {"id": {"S": f"item-{i:05d}"}}}}
            for i in range(start, min(start + 25, DELETED))
        ]
        pending: dict[str, Any] = {TABLE: requests}
        while pending:
            pending = east.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(delete, range(0, DELETED, 25)))
    for name in NAMES:
        eventually(
            lambda c=clients[name]: _count(c, TABLE) == ITEMS - DELETED,
            timeout=120,
            what=f"the deletes replicated to {name}",
        )

    window = west.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    pitr = window["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    assert pitr["EarliestRestorableDateTime"] <= instant <= pitr["LatestRestorableDateTime"]

    # eu-west-1 only received the deletes; us-east-1 made them
    for name, client in (("eu-west-1", west), ("us-east-1", east)):
        target = f"{TABLE}-restored-{name}"
        out = client.restore_table_to_point_in_time(
            SourceTableName=TABLE, TargetTableName=target, RestoreDateTime=instant
        )
        desc = out["TableDescription"]
        assert desc["TableName"] == target
        assert desc["RestoreSummary"]["RestoreDateTime"].timestamp() == pytest.approx(
            instant.timestamp(), abs=1.0
        )
        restored = _restored(client, target)
        assert len(restored) == ITEMS, f"{name}: {len(restored)} items restored, not {ITEMS}"
        missing = sorted(set(before[name]) - set(restored))[:5]
        assert not missing, f"{name}: restored table lacks {missing}"
        differing = [k for k, v in before[name].items() if restored[k] != v][:5]
        assert not differing, f"{name}: restored items differ from the instant's: {differing}"
        # the restored table is a standalone table, not a replica of the global one
        assert "Replicas" not in client.describe_table(TableName=target)["Table"]
    # the live table still has only the survivors
    assert _count(west, TABLE) == ITEMS - DELETED
