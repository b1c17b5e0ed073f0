"""UpdateItem and index-bearing tables written in several regions converge everywhere,
indexes included (three real regions, real Kafka)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.replication.helpers import NAMES, eventually, make_global

pytestmark = pytest.mark.integration

INDEXED = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "status", "AttributeType": "S"},
        {"AttributeName": "rank", "AttributeType": "N"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by_status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
    "LocalSecondaryIndexes": [
        {
            "IndexName": "by_rank",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "rank", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
}


def _scan_all(client: Any, table: str, **kw: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=False, **kw):
        items += page["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], float(i["sk"]["N"])))


def _by_status(client: Any, table: str, status: str) -> list[Any]:
    out = client.query(
        TableName=table,
        IndexName="by_status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )
    return [(i["pk"]["S"], i["sk"]["N"]) for i in out["Items"]]


def test_updates_and_indexes_converge(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "indexed-global", **INDEXED)
    for n in NAMES:
        desc = clients[n].describe_table(TableName="indexed-global")["Table"]
        assert [g["IndexName"] for g in desc["GlobalSecondaryIndexes"]] == ["by_status"]
        assert [g["IndexName"] for g in desc["LocalSecondaryIndexes"]] == ["by_rank"]

    # every region writes its own items ...
    for n in NAMES:
        for k in range(5):
            clients[n].put_item(
                TableName="indexed-global",
                Item={"pk": {"S": n}, "sk": {"N": str(k)}, "status": {"S": "new"}, "rank": {"N": str(10 - k)}},
            )
    for n in NAMES:
        eventually(lambda n=n: len(_scan_all(clients[n], "indexed-global")) == 15, what=f"15 items in {n}")
    # ... then updates the others' items: the GSI entry moves, counters add up
    for i, n in enumerate(NAMES):
        other = NAMES[(i + 1) % 3]
        clients[n].update_item(
            TableName="indexed-global",
            Key={"pk": {"S": other}, "sk": {"N": "0"}},
            UpdateExpression="SET #s = :done, hits = if_not_exists(hits, :zero) + :one REMOVE #r",
            ExpressionAttributeNames={"#s": "status", "#r": "rank"},
            ExpressionAttributeValues={":done": {"S": "done"}, ":zero": {"N": "0"}, ":one": {"N": "1"}},
        )
    clients["eu-west-1"].delete_item(TableName="indexed-global", Key={"pk": {"S": "us-east-1"}, "sk": {"N": "4"}})

    def converged() -> bool:
        scans = [_scan_all(clients[n], "indexed-global") for n in NAMES]
        return len(scans[0]) == 14 and scans[0] == scans[1] == scans[2]

    eventually(converged, what="items converge")
    for n in NAMES:
        assert sorted(_by_status(clients[n], "indexed-global", "done")) == [(r, "0") for r in sorted(NAMES)]
        assert len(_by_status(clients[n], "indexed-global", "new")) == 11
        ranked = clients[n].query(
            TableName="indexed-global",
            IndexName="by_rank",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "eu-west-1"}},
        )["Items"]
        # the REMOVE of rank took eu-west-1/0 out of the LSI everywhere
        assert [i["sk"]["N"] for i in ranked] == ["4", "3", "2", "1"]
        item = clients[n].get_item(TableName="indexed-global", Key={"pk": {"S": "ap-southeast-2"}, "sk": {"N": "0"}})["Item"]
        assert item["hits"] == {"N": "1"} and "rank" not in item


def test_gsi_added_later_is_built_in_every_region(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "late-index")
    for k in range(20):
        clients[NAMES[k % 3]].put_item(TableName="late-index", Item={"id": {"S": f"i{k}"}, "color": {"S": "red" if k % 2 else "blue"}})
    for n in NAMES:
        eventually(lambda n=n: clients[n].scan(TableName="late-index", Select="COUNT")["Count"] == 20, what=f"20 in {n}")
    clients["eu-west-1"].update_table(
        TableName="late-index",
        AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {"Create": {"IndexName": "by_color", "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}}
        ],
    )

    def active(n: str) -> bool:
        gsis = clients[n].describe_table(TableName="late-index")["Table"].get("GlobalSecondaryIndexes", [])
        return [(g["IndexName"], g["IndexStatus"]) for g in gsis] == [("by_color", "ACTIVE")]

    for n in NAMES:
        eventually(lambda n=n: active(n), what=f"index active in {n}")
        reds = clients[n].query(
            TableName="late-index", IndexName="by_color", KeyConditionExpression="color = :c",
            ExpressionAttributeValues={":c": {"S": "red"}},
        )
        assert reds["Count"] == 10
