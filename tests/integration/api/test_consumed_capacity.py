"""ReturnConsumedCapacity through boto3: the figures and the ConsumedCapacity shape.

Expected figures are DynamoDB's (regions/capacity.py lists the sources: the developer
guide's capacity pages, Alternator's test_returnconsumedcapacity.py and the
AWS-recorded captures quoted by dynoxide and ExtendDB).  Items use S values only, so
their size is the UTF-8 bytes of names and values and boundaries can be hit exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess
from tests.integration.api.conftest import TableFactory
from tests.integration.api.support import expect_error, post, unique

pytestmark = pytest.mark.integration

Item = dict[str, Any]
KB = 1024


def s(v: str) -> dict[str, str]:
    return {"S": v}


def size_of(item: Item) -> int:
    return sum(len(k.encode()) + len(v["S"].encode()) for k, v in item.items())


def sized(size: int, **attrs: str) -> Item:
    """An item of exactly ``size`` bytes: ``attrs`` plus padding in ``f``."""
    item: Item = {k: s(v) for k, v in attrs.items()}
    rest = size - size_of(item) - 1
    assert rest >= 0, size
    item["f"] = s("x" * rest)
    assert size_of(item) == size
    return item


def total(mode: str, table: str, units: float) -> dict[str, Any]:
    """The ConsumedCapacity of a request that charged the table alone."""
    out: dict[str, Any] = {"TableName": table, "CapacityUnits": units}
    if mode == "INDEXES":
        out["Table"] = {"CapacityUnits": units}
    return out


def floats(obj: object) -> bool:
    """Every figure is a double on the wire (botocore parses them to float)."""
    if isinstance(obj, dict):
        return all(floats(v) for k, v in obj.items() if k != "TableName")
    if isinstance(obj, list):
        return all(floats(v) for v in obj)
    return isinstance(obj, float)


@pytest.fixture
def table(make_table: TableFactory) -> str:
    return make_table()


@pytest.fixture
def ranged(make_table: TableFactory) -> str:
    return make_table(range_=("s", "S"))


@pytest.fixture
def make_indexed(ddb: Any) -> Iterator[Callable[[], str]]:
    """Tables keyed (p S, s S) with an LSI ``lsi`` (p, l) KEYS_ONLY, a GSI ``gsi`` (g)
    ALL and a GSI ``gsik`` (k) INCLUDE [x]."""
    created: list[str] = []

    def make() -> str:
        name = unique("cc")
        ks = [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}]
        ddb.create_table(
            TableName=name,
            KeySchema=ks,
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in "pslgk"],
            BillingMode="PAY_PER_REQUEST",
            LocalSecondaryIndexes=[
                {
                    "IndexName": "lsi",
                    "KeySchema": [ks[0], {"AttributeName": "l", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "gsik",
                    "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]},
                },
            ],
        )
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            ddb.delete_table(TableName=name)
        except ClientError:
            pass


@pytest.fixture
def indexed(make_indexed: Callable[[], str]) -> str:
    return make_indexed()


# --------------------------------------------------------------------------- NONE / absent


def _every_operation(ddb: Any, table: str) -> dict[str, Callable[..., dict[str, Any]]]:
    key = {"p": s("k")}
    return {
        "PutItem": lambda **kw: ddb.put_item(TableName=table, Item={**key, "v": s("1")}, **kw),
        "GetItem": lambda **kw: ddb.get_item(TableName=table, Key=key, **kw),
        "UpdateItem": lambda **kw: ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": s("2")},
            **kw,
        ),
        "Query": lambda **kw: ddb.query(
            TableName=table,
            KeyConditionExpression="p = :p",
            ExpressionAttributeValues={":p": s("k")},
            **kw,
        ),
        "Scan": lambda **kw: ddb.scan(TableName=table, **kw),
        "BatchGetItem": lambda **kw: ddb.batch_get_item(
            RequestItems={table: {"Keys": [key]}}, **kw
        ),
        "BatchWriteItem": lambda **kw: ddb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": {**key, "v": s("3")}}}]}, **kw
        ),
        "TransactWriteItems": lambda **kw: ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": table, "Item": {**key, "v": s("4")}}}], **kw
        ),
        "TransactGetItems": lambda **kw: ddb.transact_get_items(
            TransactItems=[{"Get": {"TableName": table, "Key": key}}], **kw
        ),
        "DeleteItem": lambda **kw: ddb.delete_item(TableName=table, Key=key, **kw),
    }


def test_every_operation_reports_only_when_asked(ddb: Any, table: str) -> None:
    for op, call in _every_operation(ddb, table).items():
        assert "ConsumedCapacity" not in call(), op
        assert "ConsumedCapacity" not in call(ReturnConsumedCapacity="NONE"), op
        got = call(ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
        entry = got[0] if isinstance(got, list) else got
        assert entry["TableName"] == table, op
        assert entry["CapacityUnits"] > 0, op
        assert floats(got), (op, got)
        indexes = call(ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
        entry = indexes[0] if isinstance(indexes, list) else indexes
        assert entry["Table"]["CapacityUnits"] == entry["CapacityUnits"], (op, indexes)


def test_an_invalid_mode_is_rejected(raw_ddb: Any, table: str) -> None:
    expect_error(
        lambda: raw_ddb.get_item(TableName=table, Key={"p": s("k")}, ReturnConsumedCapacity="ALL"),
        "ValidationException",
    )


# --------------------------------------------------------------------------- GetItem


@pytest.mark.parametrize(
    ("size", "strong"),
    [(None, 1.0), (100, 1.0), (4095, 1.0), (4096, 1.0), (4097, 2.0), (8192, 2.0), (8193, 3.0)],
    ids=["missing", "100", "4095", "4096", "4097", "8192", "8193"],
)
@pytest.mark.parametrize("mode", ["TOTAL", "INDEXES"])
def test_get_item(ddb: Any, table: str, size: int | None, strong: float, mode: str) -> None:
    if size is not None:
        ddb.put_item(TableName=table, Item=sized(size, p="k"))
    key = {"p": s("k")}
    got = ddb.get_item(TableName=table, Key=key, ConsistentRead=True, ReturnConsumedCapacity=mode)
    assert got["ConsumedCapacity"] == total(mode, table, strong)
    assert ("Item" in got) == (size is not None)
    for consistent in ({"ConsistentRead": False}, {}):  # eventually consistent by default
        got = ddb.get_item(TableName=table, Key=key, ReturnConsumedCapacity=mode, **consistent)
        assert got["ConsumedCapacity"] == total(mode, table, strong / 2)


def test_get_item_charges_the_whole_item_whatever_the_projection(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item=sized(4097, p="k"))
    got = ddb.get_item(
        TableName=table,
        Key={"p": s("k")},
        ProjectionExpression="p",
        ConsistentRead=True,
        ReturnConsumedCapacity="TOTAL",
    )
    assert got["Item"] == {"p": s("k")}
    assert got["ConsumedCapacity"]["CapacityUnits"] == 2.0


def test_table_name_echoes_an_arn(ddb: Any, table: str) -> None:
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    assert arn.startswith("arn:aws:dynamodb:")
    got = ddb.put_item(TableName=arn, Item={"p": s("k")}, ReturnConsumedCapacity="TOTAL")
    assert got["ConsumedCapacity"] == {"TableName": arn, "CapacityUnits": 1.0}
    got = ddb.get_item(TableName=arn, Key={"p": s("k")}, ReturnConsumedCapacity="TOTAL")
    assert got["ConsumedCapacity"] == {"TableName": arn, "CapacityUnits": 0.5}


# --------------------------------------------------------------------------- PutItem, UpdateItem, DeleteItem


@pytest.mark.parametrize(
    ("size", "units"), [(10, 1.0), (1023, 1.0), (1024, 1.0), (1025, 2.0), (2048, 2.0), (2049, 3.0)]
)
@pytest.mark.parametrize("mode", ["TOTAL", "INDEXES"])
def test_put_item(ddb: Any, table: str, size: int, units: float, mode: str) -> None:
    got = ddb.put_item(TableName=table, Item=sized(size, p="k"), ReturnConsumedCapacity=mode)
    assert got["ConsumedCapacity"] == total(mode, table, units)


def test_overwrites_are_charged_on_the_larger_image(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item=sized(2049, p="k"))
    for rv in ("ALL_OLD", "NONE"):  # what the response returns changes nothing
        got = ddb.put_item(
            TableName=table,
            Item=sized(2049, p="k"),
            ReturnValues=rv,
            ReturnConsumedCapacity="TOTAL",
        )
        assert got["ConsumedCapacity"]["CapacityUnits"] == 3.0
    got = ddb.put_item(TableName=table, Item={"p": s("k")}, ReturnConsumedCapacity="TOTAL")
    assert got["ConsumedCapacity"]["CapacityUnits"] == 3.0  # the old 2049 B image counts
    got = ddb.put_item(TableName=table, Item={"p": s("k")}, ReturnConsumedCapacity="TOTAL")
    assert got["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_delete_item(ddb: Any, table: str) -> None:
    got = ddb.delete_item(TableName=table, Key={"p": s("none")}, ReturnConsumedCapacity="TOTAL")
    assert got["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 1.0}
    ddb.put_item(TableName=table, Item=sized(2049, p="k"))
    got = ddb.delete_item(TableName=table, Key={"p": s("k")}, ReturnConsumedCapacity="INDEXES")
    assert got["ConsumedCapacity"] == total("INDEXES", table, 3.0)
    assert "Attributes" not in got


def test_update_item(ddb: Any, table: str) -> None:
    def update(expr: str, values: dict[str, Any] | None = None, **kw: Any) -> float:
        args: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
        got = ddb.update_item(
            TableName=table,
            Key={"p": s("k")},
            UpdateExpression=expr,
            ReturnConsumedCapacity="TOTAL",
            **args,
            **kw,
        )
        units: float = got["ConsumedCapacity"]["CapacityUnits"]
        return units

    assert update("REMOVE v") == 1.0  # nothing created, still one write
    assert update("SET v = :v", {":v": s("a")}) == 1.0  # upsert
    # p(1+1) + v(1+1) + f(1 + 1020) = 1025 bytes
    assert update("SET f = :f", {":f": s("x" * 1020)}) == 2.0
    # 4 + f(1 + 2045) = 2050 bytes
    assert update("SET f = :f", {":f": s("x" * 2045)}, ReturnValues="ALL_NEW") == 3.0
    assert update("REMOVE f") == 3.0  # shrinking: the old image counts


def test_failed_conditions_report_no_capacity(region_proc: RegionProcess, table: str) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "PutItem",
            {
                "TableName": table,
                "Item": {"p": s("k")},
                "ConditionExpression": "attribute_exists(p)",
            },
        ),
        (
            "DeleteItem",
            {
                "TableName": table,
                "Key": {"p": s("k")},
                "ConditionExpression": "attribute_exists(p)",
            },
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"p": s("k")},
                            "ConditionExpression": "attribute_exists(p)",
                        }
                    }
                ]
            },
        ),
    ]
    for op, body in calls:
        r = post(region_proc.url, op, {**body, "ReturnConsumedCapacity": "TOTAL"})
        assert r.status_code == 400, r.text
        assert "ConsumedCapacity" not in r.json(), (op, r.json())


# --------------------------------------------------------------------------- Query and Scan


def test_query_sums_the_bytes_read_and_rounds_once(ddb: Any, ranged: str) -> None:
    for i in range(3):
        ddb.put_item(TableName=ranged, Item=sized(1500, p="q", s=str(i)))
    ddb.put_item(TableName=ranged, Item=sized(2048, p="e", s="1"))
    ddb.put_item(TableName=ranged, Item=sized(2048, p="e", s="2"))
    ddb.put_item(TableName=ranged, Item=sized(2048, p="f", s="1"))
    ddb.put_item(TableName=ranged, Item=sized(2049, p="f", s="2"))

    def query(p: str, **kw: Any) -> tuple[dict[str, Any], float]:
        got = ddb.query(
            TableName=ranged,
            KeyConditionExpression="p = :p",
            ExpressionAttributeValues={":p": s(p), **kw.pop("values", {})},
            ReturnConsumedCapacity="TOTAL",
            **kw,
        )
        units: float = got["ConsumedCapacity"]["CapacityUnits"]
        return got, units

    # 3 x 1500 = 4500 B: 2 units strong, not 3 (one per item)
    assert query("q", ConsistentRead=True)[1] == 2.0
    assert query("q")[1] == 1.0
    assert query("e", ConsistentRead=True)[1] == 1.0  # 4096 B
    assert query("f", ConsistentRead=True)[1] == 2.0  # 4097 B
    assert query("none", ConsistentRead=True)[1] == 1.0  # nothing read, minimum charge
    assert query("none")[1] == 0.5
    # the filter and the projection do not reduce what was read
    got, units = query(
        "q", ConsistentRead=True, FilterExpression="f = :no", values={":no": s("no")}
    )
    assert (got["Count"], got["ScannedCount"], units) == (0, 3, 2.0)
    assert query("q", ConsistentRead=True, ProjectionExpression="p")[1] == 2.0
    assert query("q", ConsistentRead=True, Select="COUNT")[1] == 2.0
    # Limit stops the read: one 1500 B item
    got, units = query("q", ConsistentRead=True, Limit=1)
    assert "LastEvaluatedKey" in got and units == 1.0


@pytest.mark.parametrize("mode", ["TOTAL", "INDEXES"])
def test_scan(ddb: Any, ranged: str, mode: str) -> None:
    got = ddb.scan(TableName=ranged, ReturnConsumedCapacity=mode)
    assert got["ConsumedCapacity"] == total(mode, ranged, 0.5)  # empty table: the minimum
    for i in range(5):
        ddb.put_item(TableName=ranged, Item=sized(2000, p=str(i), s="1"))
    # 10,000 B read: 3 units strong, 1.5 eventual
    got = ddb.scan(TableName=ranged, ConsistentRead=True, ReturnConsumedCapacity=mode)
    assert got["ConsumedCapacity"] == total(mode, ranged, 3.0)
    got = ddb.scan(
        TableName=ranged, ReturnConsumedCapacity=mode, FilterExpression="attribute_exists(nothing)"
    )
    assert got["Count"] == 0
    assert got["ConsumedCapacity"] == total(mode, ranged, 1.5)
    pages = [
        ddb.scan(
            TableName=ranged,
            Segment=seg,
            TotalSegments=2,
            ConsistentRead=True,
            ReturnConsumedCapacity=mode,
        )
        for seg in (0, 1)
    ]
    # each segment pays for what it read
    assert sum(p["ScannedCount"] for p in pages) == 5
    for page in pages:
        expected = max(1, -(-page["ScannedCount"] * 2000 // 4096))
        assert page["ConsumedCapacity"] == total(mode, ranged, float(expected))


# --------------------------------------------------------------------------- secondary indexes


def _indexes(
    got: dict[str, Any],
) -> tuple[float, float, dict[str, Any] | None, dict[str, Any] | None]:
    cc = got["ConsumedCapacity"]
    return (
        cc["CapacityUnits"],
        cc["Table"]["CapacityUnits"],
        cc.get("GlobalSecondaryIndexes"),
        cc.get("LocalSecondaryIndexes"),
    )


def test_writes_charge_each_index_they_change(ddb: Any, indexed: str) -> None:
    def put(item: Item, mode: str = "INDEXES") -> dict[str, Any]:
        out: dict[str, Any] = ddb.put_item(
            TableName=indexed, Item=item, ReturnConsumedCapacity=mode
        )
        return out

    def update(expr: str, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = ddb.update_item(
            TableName=indexed,
            Key={"p": s("a"), "s": s("1")},
            UpdateExpression=expr,
            ExpressionAttributeValues=values,
            ReturnConsumedCapacity="INDEXES",
        )
        return out

    full = {
        "p": s("a"),
        "s": s("1"),
        "l": s("L"),
        "g": s("G"),
        "k": s("K"),
        "x": s("x"),
        "y": s("y"),
    }
    # a new item in all three indexes: one write each
    assert _indexes(put(full)) == (
        4.0,
        1.0,
        {"gsi": {"CapacityUnits": 1.0}, "gsik": {"CapacityUnits": 1.0}},
        {"lsi": {"CapacityUnits": 1.0}},
    )
    assert put(full, "TOTAL")["ConsumedCapacity"] == {
        "TableName": indexed,
        "CapacityUnits": 1.0,
    }  # identical: table only
    # y is projected by gsi (ALL) only: gsik (INCLUDE [x]) and lsi (KEYS_ONLY) keep their entries
    assert _indexes(update("SET y = :y", {":y": s("y2")})) == (
        2.0,
        1.0,
        {"gsi": {"CapacityUnits": 1.0}},
        None,
    )
    # x is projected by gsi and gsik
    got = update("SET x = :x", {":x": s("x2")})
    assert _indexes(got) == (
        3.0,
        1.0,
        {"gsi": {"CapacityUnits": 1.0}, "gsik": {"CapacityUnits": 1.0}},
        None,
    )
    # moving the gsi key: a delete and a put there, an in-place change elsewhere
    got = update("SET g = :g", {":g": s("G2")})
    assert _indexes(got) == (3.0, 1.0, {"gsi": {"CapacityUnits": 2.0}}, None)
    got = update("SET l = :l", {":l": s("L2")})
    assert _indexes(got) == (
        4.0,
        1.0,
        {"gsi": {"CapacityUnits": 1.0}},
        {"lsi": {"CapacityUnits": 2.0}},
    )
    # an item in no index pays the table alone, and the index maps are absent
    assert _indexes(put({"p": s("b"), "s": s("1"), "y": s("y")})) == (1.0, 1.0, None, None)
    # leaving indexes: one delete each
    got = ddb.delete_item(
        TableName=indexed, Key={"p": s("a"), "s": s("1")}, ReturnConsumedCapacity="INDEXES"
    )
    assert _indexes(got) == (
        4.0,
        1.0,
        {"gsi": {"CapacityUnits": 1.0}, "gsik": {"CapacityUnits": 1.0}},
        {"lsi": {"CapacityUnits": 1.0}},
    )


def test_index_writes_are_sized_on_the_projected_entry(ddb: Any, indexed: str) -> None:
    # 3000 B in y: gsi (ALL) stores it all, gsik (INCLUDE [x]) and lsi (KEYS_ONLY) do not
    item = {"p": s("a"), "s": s("1"), "l": s("L"), "g": s("G"), "k": s("K"), "y": s("y" * 3000)}
    got = ddb.put_item(TableName=indexed, Item=item, ReturnConsumedCapacity="INDEXES")
    assert _indexes(got) == (
        8.0,
        3.0,
        {"gsi": {"CapacityUnits": 3.0}, "gsik": {"CapacityUnits": 1.0}},
        {"lsi": {"CapacityUnits": 1.0}},
    )


def test_index_reads_charge_the_index(ddb: Any, indexed: str) -> None:
    for i in range(2):
        ddb.put_item(TableName=indexed, Item=sized(3000, p="a", s=str(i), g="G", l=f"L{i}"))

    def query(index: str, cond: str, value: str, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = ddb.query(
            TableName=indexed,
            IndexName=index,
            KeyConditionExpression=cond,
            ExpressionAttributeValues={":v": s(value)},
            ReturnConsumedCapacity="INDEXES",
            **kw,
        )
        return out

    # gsi projects ALL: 2 x 3000 B entries, eventually consistent: ceil(6000/4096) / 2
    got = query("gsi", "g = :v", "G")
    assert got["Count"] == 2
    assert got["ConsumedCapacity"] == {
        "TableName": indexed,
        "CapacityUnits": 1.0,
        "Table": {"CapacityUnits": 0.0},
        "GlobalSecondaryIndexes": {"gsi": {"CapacityUnits": 1.0}},
    }
    total_only = ddb.query(
        TableName=indexed,
        IndexName="gsi",
        KeyConditionExpression="g = :v",
        ExpressionAttributeValues={":v": s("G")},
        ReturnConsumedCapacity="TOTAL",
    )
    assert total_only["ConsumedCapacity"] == {"TableName": indexed, "CapacityUnits": 1.0}
    # lsi is KEYS_ONLY: small entries, strongly consistent
    got = query("lsi", "p = :v", "a", ConsistentRead=True)
    assert got["ConsumedCapacity"] == {
        "TableName": indexed,
        "CapacityUnits": 1.0,
        "Table": {"CapacityUnits": 0.0},
        "LocalSecondaryIndexes": {"lsi": {"CapacityUnits": 1.0}},
    }
    # asking an LSI for an unprojected attribute fetches each item from the table: each
    # 3000 B item is a read of its own (1 unit), on top of the index read
    got = query("lsi", "p = :v", "a", ConsistentRead=True, ProjectionExpression="f")
    assert all("f" in i for i in got["Items"])
    assert got["ConsumedCapacity"] == {
        "TableName": indexed,
        "CapacityUnits": 3.0,
        "Table": {"CapacityUnits": 2.0},
        "LocalSecondaryIndexes": {"lsi": {"CapacityUnits": 1.0}},
    }
    got = ddb.scan(TableName=indexed, IndexName="gsi", ReturnConsumedCapacity="INDEXES")
    assert got["ConsumedCapacity"]["GlobalSecondaryIndexes"] == {"gsi": {"CapacityUnits": 1.0}}
    assert got["ConsumedCapacity"]["Table"] == {"CapacityUnits": 0.0}


# --------------------------------------------------------------------------- batches


def test_batch_get_item_rounds_each_item(ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.put_item(TableName=a, Item=sized(100, p="1"))
    ddb.put_item(TableName=a, Item=sized(4097, p="2"))
    for i in range(3):
        ddb.put_item(TableName=b, Item=sized(100, p=str(i)))
    b_arn = ddb.describe_table(TableName=b)["Table"]["TableArn"]
    request = {
        # strong: 1 + 2 + the missing key's 1 (the summed bytes would round to 2)
        a: {"Keys": [{"p": s("1")}, {"p": s("2")}, {"p": s("missing")}], "ConsistentRead": True},
        # eventual: 3 x 0.5, the entry named as the request named the table
        b_arn: {"Keys": [{"p": s(str(i))} for i in range(3)]},
    }
    got = ddb.batch_get_item(RequestItems=request, ReturnConsumedCapacity="TOTAL")
    assert sorted(got["ConsumedCapacity"], key=lambda c: c["TableName"]) == sorted(
        [{"TableName": a, "CapacityUnits": 4.0}, {"TableName": b_arn, "CapacityUnits": 1.5}],
        key=lambda c: c["TableName"],
    )
    got = ddb.batch_get_item(RequestItems=request, ReturnConsumedCapacity="INDEXES")
    by_table = {c["TableName"]: c for c in got["ConsumedCapacity"]}
    assert by_table[a] == total("INDEXES", a, 4.0)
    assert by_table[b_arn] == total("INDEXES", b_arn, 1.5)


def test_batch_write_item(ddb: Any, make_table: TableFactory, indexed: str) -> None:
    a = make_table()
    request = {
        a: [
            {"PutRequest": {"Item": sized(1025, p="1")}},
            {"PutRequest": {"Item": sized(10, p="2")}},
            {"DeleteRequest": {"Key": {"p": s("missing")}}},
        ],
        indexed: [
            {"PutRequest": {"Item": {"p": s("a"), "s": s("1"), "g": s("G")}}},
            {"PutRequest": {"Item": {"p": s("a"), "s": s("2")}}},
        ],
    }
    got = ddb.batch_write_item(RequestItems=request, ReturnConsumedCapacity="INDEXES")
    assert got["UnprocessedItems"] == {}
    by_table = {c["TableName"]: c for c in got["ConsumedCapacity"]}
    assert by_table[a] == total("INDEXES", a, 4.0)  # 2 + 1 + 1
    assert by_table[indexed] == {
        "TableName": indexed,
        "CapacityUnits": 3.0,
        "Table": {"CapacityUnits": 2.0},
        "GlobalSecondaryIndexes": {"gsi": {"CapacityUnits": 1.0}},
    }
    got = ddb.batch_write_item(
        RequestItems={a: [{"DeleteRequest": {"Key": {"p": s("1")}}}]},
        ReturnConsumedCapacity="TOTAL",
    )
    assert got["ConsumedCapacity"] == [{"TableName": a, "CapacityUnits": 2.0}]


# --------------------------------------------------------------------------- transactions


def test_transact_write_items(ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.put_item(TableName=a, Item=sized(1025, p="checked"))
    ddb.put_item(TableName=b, Item=sized(3 * KB, p="big"))
    items = [
        {"Put": {"TableName": a, "Item": sized(10, p="1")}},  # 2
        {"Put": {"TableName": a, "Item": sized(1025, p="2")}},  # 4
        # a ConditionCheck writes nothing and is charged as a write of the item it read
        {
            "ConditionCheck": {
                "TableName": a,
                "Key": {"p": s("checked")},
                "ConditionExpression": "attribute_exists(p)",
            }
        },
        {"Delete": {"TableName": b, "Key": {"p": s("big")}}},  # 2 x 3
    ]
    got = ddb.transact_write_items(TransactItems=items, ReturnConsumedCapacity="TOTAL")
    assert got["ConsumedCapacity"] == [
        {"TableName": a, "CapacityUnits": 10.0, "WriteCapacityUnits": 10.0},
        {"TableName": b, "CapacityUnits": 6.0, "WriteCapacityUnits": 6.0},
    ]
    got = ddb.transact_write_items(TransactItems=items[:1], ReturnConsumedCapacity="INDEXES")
    assert got["ConsumedCapacity"] == [
        {
            "TableName": a,
            "CapacityUnits": 2.0,
            "WriteCapacityUnits": 2.0,
            "Table": {"CapacityUnits": 2.0, "WriteCapacityUnits": 2.0},
        }
    ]


def test_transactions_double_the_table_but_not_the_indexes(ddb: Any, indexed: str) -> None:
    item = {"p": s("a"), "s": s("1"), "g": s("G"), "l": s("L")}
    got = ddb.transact_write_items(
        TransactItems=[{"Put": {"TableName": indexed, "Item": item}}],
        ReturnConsumedCapacity="INDEXES",
    )
    assert got["ConsumedCapacity"] == [
        {
            "TableName": indexed,
            "CapacityUnits": 4.0,
            "WriteCapacityUnits": 4.0,
            "Table": {"CapacityUnits": 2.0, "WriteCapacityUnits": 2.0},
            "GlobalSecondaryIndexes": {"gsi": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}},
            "LocalSecondaryIndexes": {"lsi": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}},
        }
    ]


def test_a_replay_is_billed_as_reads_of_the_first_call(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item=sized(9 * KB, p="nine"))
    items = [
        {"Put": {"TableName": table, "Item": sized(1500, p="put")}},  # 2 x 2 written
        {"Delete": {"TableName": table, "Key": {"p": s("nine")}}},  # 2 x 9 written
    ]
    token = uuid.uuid4().hex
    first = ddb.transact_write_items(
        TransactItems=items, ClientRequestToken=token, ReturnConsumedCapacity="TOTAL"
    )
    assert first["ConsumedCapacity"] == [
        {"TableName": table, "CapacityUnits": 22.0, "WriteCapacityUnits": 22.0}
    ]
    # the replay writes nothing and reads what the first call was charged on: 2 x 1 + 2 x 3
    again = ddb.transact_write_items(
        TransactItems=items, ClientRequestToken=token, ReturnConsumedCapacity="INDEXES"
    )
    assert again["ConsumedCapacity"] == [
        {
            "TableName": table,
            "CapacityUnits": 8.0,
            "ReadCapacityUnits": 8.0,
            "Table": {"CapacityUnits": 8.0, "ReadCapacityUnits": 8.0},
        }
    ]
    assert "ConsumedCapacity" not in ddb.transact_write_items(
        TransactItems=items, ClientRequestToken=token
    )


def test_transact_get_items(ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.put_item(TableName=a, Item=sized(100, p="1"))
    ddb.put_item(TableName=b, Item=sized(4097, p="big"))
    b_arn = ddb.describe_table(TableName=b)["Table"]["TableArn"]
    items = [
        {"Get": {"TableName": a, "Key": {"p": s("1")}}},  # 2
        {"Get": {"TableName": a, "Key": {"p": s("missing")}}},  # a miss costs 2 as well
        {"Get": {"TableName": b_arn, "Key": {"p": s("big")}, "ProjectionExpression": "p"}},  # 2 x 2
    ]
    got = ddb.transact_get_items(TransactItems=items, ReturnConsumedCapacity="TOTAL")
    assert got["Responses"][1] == {}
    assert got["ConsumedCapacity"] == [
        {"TableName": a, "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0},
        {"TableName": b_arn, "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0},
    ]
    got = ddb.transact_get_items(TransactItems=items[:2], ReturnConsumedCapacity="INDEXES")
    assert got["ConsumedCapacity"] == [
        {
            "TableName": a,
            "CapacityUnits": 4.0,
            "ReadCapacityUnits": 4.0,
            "Table": {"CapacityUnits": 4.0, "ReadCapacityUnits": 4.0},
        }
    ]
