"""Transactions and TTL deletes made in one region converge in the others, item by
item and index entry by index entry (three real regions, real Kafka).

TransactWriteItems use the package's three regions.  TTL needs sweepers that run
every half second (the shared regions sweep every 30 s), so it gets a deployment
of its own.  That deployment uses other region names than the shared one: Kafka
topics and consumer groups are named after the region alone
(replicator/kafka.py), so a second "us-east-1" on the same broker would join the
first one's consumer group and take some of its changes away.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess, mesh, running
from tests.integration.replication.helpers import NAMES, eventually, make_global

pytestmark = pytest.mark.integration

# --------------------------------------------------------------------------- store access

Row = tuple[int, str, bytes]


def live_rows(proc: RegionProcess, table: str) -> dict[tuple[bytes, bytes], Row]:
    """(hlc, origin, stored bytes) of every live item, by encoded key, read straight
    from the region's SQLite file: equal maps mean the same versions of the same
    bytes, not merely equal-looking API answers."""
    path = proc.store.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tid = db.execute("SELECT tid FROM gt_tables WHERE name = ?", (table,)).fetchone()[0]
        rows = db.execute(
            "SELECT hk, rk, hlc, origin, data FROM gt_items WHERE tid = ? AND data IS NOT NULL",
            (tid,),
        ).fetchall()
    return {
        (bytes(hk), bytes(rk)): (hlc, origin, bytes(data)) for hk, rk, hlc, origin, data in rows
    }


def removes(proc: RegionProcess, table: str) -> list[dict[str, Any]]:
    """The REMOVE records of ``table`` in the region's change log (the Streams source)."""
    path = proc.store.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT c.record FROM gt_changes c JOIN gt_tables t ON t.tid = c.tid "
            "WHERE t.name = ? AND c.event = 'REMOVE' ORDER BY c.seq",
            (table,),
        ).fetchall()
    return [json.loads(bytes(r[0])) for r in rows]


def in_each(names: Iterable[str], check: Callable[[str], bool], what: str) -> None:
    """``eventually(check(n))`` for every region ``n``."""
    for n in names:
        eventually(functools.partial(check, n), what=f"{what} in {n}")


def scan_all(client: Any, table: str, **kw: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, **kw):
        items += page["Items"]
    return items


# --------------------------------------------------------------------------- transactions

ORDERS: Final = {
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": "id", "AttributeType": "S"},
        {"AttributeName": "status", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by_status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
}
STOCK: Final = {
    "KeySchema": [
        {"AttributeName": "sku", "KeyType": "HASH"},
        {"AttributeName": "wh", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "sku", "AttributeType": "S"},
        {"AttributeName": "wh", "AttributeType": "N"},
    ],
}


def _order(oid: str, status: str, total: int) -> dict[str, Any]:
    return {"id": {"S": oid}, "status": {"S": status}, "amount": {"N": str(total)}}


def _stock(sku: str, wh: int, qty: int) -> dict[str, Any]:
    return {"sku": {"S": sku}, "wh": {"N": str(wh)}, "qty": {"N": str(qty)}}


def _orders_by_key(client: Any, table: str) -> dict[str, dict[str, Any]]:
    return {i["id"]["S"]: i for i in scan_all(client, table, ConsistentRead=True)}


def _stock_by_key(client: Any, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["sku"]["S"], i["wh"]["N"]): i for i in scan_all(client, table, ConsistentRead=True)}


def _by_status(client: Any, table: str, status: str) -> list[str]:
    out = client.query(
        TableName=table,
        IndexName="by_status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )
    return sorted(i["id"]["S"] for i in out["Items"])


def test_transactions_converge(regions: dict[str, RegionProcess]) -> None:
    suffix = str(time.time_ns())[-8:]
    orders, stock = f"tx-orders-{suffix}", f"tx-stock-{suffix}"
    clients = make_global(regions, orders, **ORDERS)
    make_global(regions, stock, **STOCK)
    east, west = clients["us-east-1"], clients["eu-west-1"]

    # the starting state, written in us-east-1 and replicated everywhere
    for item in (_order("o1", "new", 10), _order("o2", "new", 20), _order("o3", "new", 30)):
        east.put_item(TableName=orders, Item=item)
    for item in (_stock("sku-a", 1, 5), _stock("sku-b", 2, 3), _stock("sku-c", 1, 1)):
        east.put_item(TableName=stock, Item=item)

    def seeded(n: str) -> bool:
        return (
            len(_orders_by_key(clients[n], orders)) == 3
            and len(_stock_by_key(clients[n], stock)) == 3
        )

    in_each(NAMES, seeded, "the seed items")

    # one transaction in eu-west-1: puts, updates and a delete across two tables and
    # several partitions, guarded by a condition check and an update condition
    west.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": orders, "Item": _order("o4", "new", 7)}},
            {
                "Update": {
                    "TableName": orders,
                    "Key": {"id": {"S": "o1"}},
                    "UpdateExpression": "SET #s = :paid, amount = amount + :n",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":paid": {"S": "paid"}, ":n": {"N": "5"}},
                }
            },
            {"Delete": {"TableName": orders, "Key": {"id": {"S": "o3"}}}},
            {
                "Update": {
                    "TableName": stock,
                    "Key": {"sku": {"S": "sku-a"}, "wh": {"N": "1"}},
                    "UpdateExpression": "ADD qty :minus",
                    "ConditionExpression": "qty >= :one",
                    "ExpressionAttributeValues": {":minus": {"N": "-1"}, ":one": {"N": "1"}},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": stock,
                    "Key": {"sku": {"S": "sku-c"}, "wh": {"N": "1"}},
                    "ConditionExpression": "attribute_exists(sku)",
                }
            },
            {"Put": {"TableName": stock, "Item": _stock("sku-d", 3, 9)}},
        ]
    )
    # a cancelled transaction: none of it may show up anywhere
    with pytest.raises(ClientError) as cancelled:
        west.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": orders,
                        "Key": {"id": {"S": "o2"}},
                        "UpdateExpression": "SET #s = :lost",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":lost": {"S": "lost"}},
                    }
                },
                {"Put": {"TableName": stock, "Item": _stock("sku-x", 9, 1)}},
                {
                    "ConditionCheck": {
                        "TableName": stock,
                        "Key": {"sku": {"S": "sku-b"}, "wh": {"N": "2"}},
                        "ConditionExpression": "qty > :big",
                        "ExpressionAttributeValues": {":big": {"N": "100"}},
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"

    expected_orders = {
        "o1": _order("o1", "paid", 15),
        "o2": _order("o2", "new", 20),
        "o4": _order("o4", "new", 7),
    }
    expected_stock = {
        ("sku-a", "1"): _stock("sku-a", 1, 4),
        ("sku-b", "2"): _stock("sku-b", 2, 3),
        ("sku-c", "1"): _stock("sku-c", 1, 1),
        ("sku-d", "3"): _stock("sku-d", 3, 9),
    }

    def transacted(n: str) -> bool:
        return (
            _orders_by_key(clients[n], orders) == expected_orders
            and _stock_by_key(clients[n], stock) == expected_stock
        )

    in_each(NAMES, transacted, "the transaction's items")
    # item by item, the very same versions and bytes in every region ...
    for table in (orders, stock):
        rows = {n: live_rows(regions[n], table) for n in NAMES}
        assert rows["us-east-1"] == rows["eu-west-1"] == rows["ap-southeast-2"], table
    # ... where the transaction's writes carry eu-west-1's versions and the untouched
    # items (and the cancelled transaction's) keep us-east-1's
    origins = {
        json.loads(data)["id"]["S"]: origin
        for _, origin, data in live_rows(regions["ap-southeast-2"], orders).values()
    }
    assert origins == {"o1": "eu-west-1", "o2": "us-east-1", "o4": "eu-west-1"}

    # and the index followed: o1 moved from "new" to "paid", o3 left it, o4 joined
    def indexed(n: str) -> bool:
        return (
            _by_status(clients[n], orders, "paid") == ["o1"]
            and _by_status(clients[n], orders, "new") == ["o2", "o4"]
            and _by_status(clients[n], orders, "lost") == []
        )

    in_each(NAMES, indexed, "the by_status index")


# --------------------------------------------------------------------------- TTL

#: not the shared deployment's names (see the module docstring)
TTL_NAMES: Final = ("eu-north-1", "ca-central-1", "ap-south-1")
TTL_TABLE: Final = "ttl-global"


@pytest.fixture(scope="module")
def ttl_regions(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RegionProcess]]:
    """Three replicating regions whose TTL sweepers run every half second."""
    procs = mesh(
        TTL_NAMES, tmp_path_factory.mktemp("ttl-three"), kafka_bootstrap,
        extra_args=["--ttl-interval", "0.5"],
    )
    with running(procs):
        yield procs


def _ttl_status(client: Any) -> str:
    desc = client.describe_time_to_live(TableName=TTL_TABLE)["TimeToLiveDescription"]
    return str(desc["TimeToLiveStatus"])


def _keys(client: Any) -> set[str]:
    return {i["id"]["S"] for i in scan_all(client, TTL_TABLE, ConsistentRead=True)}


#: expired item -> the region that writes it (and so must be the one to expire it)
EXPIRED: Final = {
    **{f"gone-{i}": TTL_NAMES[0] for i in range(4)},
    **{f"gone-late-{i}": TTL_NAMES[1] for i in range(2)},
}
SURVIVORS: Final = {"future", "no-ttl", "not-a-number"}


@pytest.fixture(scope="module")
def ttl_expired(ttl_regions: dict[str, RegionProcess]) -> dict[str, Any]:
    """A global table with TTL on, some items expired on arrival, others not; returns
    a client per region once the expired items are gone everywhere."""
    clients: dict[str, Any] = {n: ttl_regions[n].client() for n in TTL_NAMES}
    first = clients[TTL_NAMES[0]]
    first.create_table(
        TableName=TTL_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for r in TTL_NAMES[1:]:
        first.update_table(TableName=TTL_TABLE, ReplicaUpdates=[{"Create": {"RegionName": r}}])

    def replicas_active() -> bool:
        for n in TTL_NAMES:
            try:
                desc = clients[n].describe_table(TableName=TTL_TABLE)["Table"]
            except ClientError:
                return False
            replicas = {r["RegionName"]: r["ReplicaStatus"] for r in desc.get("Replicas", [])}
            if desc["TableStatus"] != "ACTIVE" or replicas != dict.fromkeys(TTL_NAMES, "ACTIVE"):
                return False
        return True

    eventually(replicas_active, what="the replicas of the TTL table")
    first.update_time_to_live(
        TableName=TTL_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    # the setting travels with the table spec: every region's sweeper expires it
    in_each(TTL_NAMES, lambda n: _ttl_status(clients[n]) == "ENABLED", "TTL on")

    now = int(time.time())
    for key, writer in EXPIRED.items():
        clients[writer].put_item(
            TableName=TTL_TABLE, Item={"id": {"S": key}, "exp": {"N": str(now - 60)}}
        )
    first.put_item(TableName=TTL_TABLE, Item={"id": {"S": "future"}, "exp": {"N": str(now + 3600)}})
    first.put_item(TableName=TTL_TABLE, Item={"id": {"S": "no-ttl"}})
    first.put_item(
        TableName=TTL_TABLE, Item={"id": {"S": "not-a-number"}, "exp": {"S": str(now - 60)}}
    )
    in_each(TTL_NAMES, lambda n: _keys(clients[n]) == SURVIVORS, "only survivors")
    return clients


def test_ttl_deletes_converge(
    ttl_regions: dict[str, RegionProcess], ttl_expired: dict[str, Any]
) -> None:
    # many sweeps later the survivors are still everywhere, with equal versions
    time.sleep(1.5)
    for n in TTL_NAMES:
        assert _keys(ttl_expired[n]) == SURVIVORS, n
    rows = [live_rows(ttl_regions[n], TTL_TABLE) for n in TTL_NAMES]
    assert rows[0] == rows[1] == rows[2]
    assert len(rows[0]) == len(SURVIVORS)

    # every region logged each expiry as a REMOVE (its stream shows the delete)
    def logged(n: str) -> bool:
        return {r["keys"]["id"]["S"] for r in removes(ttl_regions[n], TTL_TABLE)} == set(EXPIRED)

    in_each(TTL_NAMES, logged, "a REMOVE per expired item in the change log")


def test_ttl_service_identity_in_exactly_one_region(
    ttl_regions: dict[str, RegionProcess], ttl_expired: dict[str, Any]
) -> None:
    """As in DynamoDB, only the region that expired an item shows the service
    identity; the others' streams show an ordinary (replicated) REMOVE."""
    in_each(
        TTL_NAMES,
        lambda n: len(removes(ttl_regions[n], TTL_TABLE)) >= len(EXPIRED),
        "the REMOVEs in the change log",
    )
    marked: dict[str, list[str]] = {key: [] for key in EXPIRED}
    for n in TTL_NAMES:
        for record in removes(ttl_regions[n], TTL_TABLE):
            if record.get("svc"):
                marked[record["keys"]["id"]["S"]].append(n)
    # the one region is the one whose write is the item's current version
    assert marked == {key: [writer] for key, writer in EXPIRED.items()}
