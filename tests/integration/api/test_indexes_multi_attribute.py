"""Multi-attribute GSI keys through boto3 (DynamoDB, November 2025): up to four HASH and
four RANGE attributes in a GSI's KeySchema.

Rules from the Developer Guide ("Multi-attribute key schema", GSI.html): every
partition-key attribute with an equality condition; sort-key attributes left to right,
no gaps, an inequality / BETWEEN / begins_with only on the last one used; items lacking
any key attribute are not indexed.  Schema texts are DynamoDB's (ack-api-quirks
ValidationException catalogue, recorded live); the two Query texts for the left-to-right
rules are ours (DynamoDB's were not found), both starting with its "Query key condition
not supported".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.api.reads_support import (
    Item,
    items_of,
    n,
    pages,
    put_all,
    s,
    wait_index_active,
)
from tests.integration.api.support import expect_error, unique

pytestmark = pytest.mark.integration

INVALID = "One or more parameter values were invalid: "
NOT_SUPPORTED = "Query key condition not supported"


def _ks(*elements: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": a, "KeyType": k} for a, k in elements]


def _defs(**types: str) -> list[dict[str, str]]:
    return [{"AttributeName": a, "AttributeType": t} for a, t in types.items()]


# by-multi: HASH (h1 S, h2 N), RANGE (r1 S, r2 N); by-one: a plain GSI beside it
MULTI_KS = _ks(("h1", "HASH"), ("h2", "HASH"), ("r1", "RANGE"), ("r2", "RANGE"))
GSIS = [
    {"IndexName": "by-multi", "KeySchema": MULTI_KS, "Projection": {"ProjectionType": "ALL"}},
    {"IndexName": "by-one", "KeySchema": _ks(("h1", "HASH")), "Projection": {"ProjectionType": "KEYS_ONLY"}},
]
DEFS = _defs(p="S", h1="S", h2="N", r1="S", r2="N")


def _item(p: str, h1: str = "H", h2: int = 7, r1: str | None = "a", r2: int | None = 1, **extra: Any) -> Item:
    item: Item = {"p": s(p), "h1": s(h1), "h2": n(h2)}
    if r1 is not None:
        item["r1"] = s(r1)
    if r2 is not None:
        item["r2"] = n(r2)
    return {**item, **extra}


# (r1, r2) of the indexed items under (H, 7), given out of order
GRID = [(r1, r2) for r1 in ("b", "a", "ab", "c") for r2 in (10, -2, 3)]


@pytest.fixture(scope="module")
def multi(ddb: Any) -> Iterator[str]:
    name = unique("mak")
    ddb.create_table(
        TableName=name,
        KeySchema=_ks(("p", "HASH")),
        AttributeDefinitions=DEFS,
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=GSIS,
    )
    items = [_item(f"g{i}", r1=r1, r2=r2) for i, (r1, r2) in enumerate(GRID)]
    no_h2 = _item("no-h2")
    del no_h2["h2"]  # lacks a HASH attribute: not in by-multi
    items += [
        _item("other-h2", h2=8),  # another partition of the index
        no_h2,
        _item("no-r2", r2=None),  # lacks a RANGE attribute: not in by-multi
    ]
    put_all(ddb, name, items)
    yield name
    try:
        ddb.delete_table(TableName=name)
    except ClientError:
        pass


def _q(ddb: Any, table: str, cond: str, values: dict[str, Any], **kw: Any) -> list[Item]:
    got = pages(
        ddb.query,
        TableName=table,
        IndexName="by-multi",
        KeyConditionExpression=cond,
        ExpressionAttributeValues={
            **{k: v for k, v in ((":h1", s("H")), (":h2", n(7))) if k in cond},
            **values,
        },
        **kw,
    )
    return items_of(got)


def _rk(items: list[Item]) -> list[tuple[str, int]]:
    return [(i["r1"]["S"], int(i["r2"]["N"])) for i in items]


HASH = "h1 = :h1 AND h2 = :h2"
ORDERED = sorted(GRID)


def test_describe_table_lists_every_key_attribute(ddb: Any, multi: str) -> None:
    desc = ddb.describe_table(TableName=multi)["Table"]
    gsis = {g["IndexName"]: g for g in desc["GlobalSecondaryIndexes"]}
    assert gsis["by-multi"]["KeySchema"] == MULTI_KS
    assert gsis["by-one"]["KeySchema"] == _ks(("h1", "HASH"))
    assert gsis["by-multi"]["IndexStatus"] == "ACTIVE"
    assert desc["KeySchema"] == _ks(("p", "HASH"))
    assert sorted(desc["AttributeDefinitions"], key=lambda d: d["AttributeName"]) == sorted(
        DEFS, key=lambda d: d["AttributeName"]
    )


def test_only_items_with_every_key_attribute_are_indexed(ddb: Any, multi: str) -> None:
    scanned = items_of(pages(ddb.scan, TableName=multi, IndexName="by-multi"))
    assert sorted(i["p"]["S"] for i in scanned) == sorted([f"g{i}" for i in range(len(GRID))] + ["other-h2"])
    # the single-attribute GSI beside it indexes what holds h1
    one = items_of(pages(ddb.scan, TableName=multi, IndexName="by-one"))
    assert len(one) == len(GRID) + 3


@pytest.mark.parametrize(
    ("cond", "values", "expected"),
    [
        (HASH, {}, ORDERED),
        (f"{HASH} AND r1 = :a", {":a": s("a")}, [k for k in ORDERED if k[0] == "a"]),
        (f"{HASH} AND r1 < :a", {":a": s("ab")}, [k for k in ORDERED if k[0] < "ab"]),
        (f"{HASH} AND r1 <= :a", {":a": s("ab")}, [k for k in ORDERED if k[0] <= "ab"]),
        (f"{HASH} AND r1 > :a", {":a": s("ab")}, [k for k in ORDERED if k[0] > "ab"]),
        (f"{HASH} AND :a <= r1", {":a": s("ab")}, [k for k in ORDERED if k[0] >= "ab"]),
        (f"{HASH} AND r1 BETWEEN :a AND :b", {":a": s("ab"), ":b": s("b")}, [k for k in ORDERED if "ab" <= k[0] <= "b"]),
        (f"{HASH} AND begins_with(r1, :a)", {":a": s("a")}, [k for k in ORDERED if k[0].startswith("a")]),
        (f"{HASH} AND r1 = :a AND r2 = :x", {":a": s("b"), ":x": n(3)}, [("b", 3)]),
        (f"r2 < :x AND {HASH} AND r1 = :a", {":a": s("b"), ":x": n(3)}, [("b", -2)]),
        (f"{HASH} AND r1 = :a AND r2 <= :x", {":a": s("b"), ":x": n(3)}, [("b", -2), ("b", 3)]),
        (f"{HASH} AND r1 = :a AND r2 > :x", {":a": s("b"), ":x": n(-2)}, [("b", 3), ("b", 10)]),
        (f"{HASH} AND r1 = :a AND r2 >= :x", {":a": s("b"), ":x": n(3)}, [("b", 3), ("b", 10)]),
        (f"{HASH} AND r1 = :a AND r2 BETWEEN :x AND :y", {":a": s("a"), ":x": n(-5), ":y": n(3)}, [("a", -2), ("a", 3)]),
    ],
)
def test_query_condition_shapes(ddb: Any, multi: str, cond: str, values: dict[str, Any], expected: list[tuple[str, int]]) -> None:
    assert _rk(_q(ddb, multi, cond, values)) == expected
    # backwards: the same items in reverse sort-key order
    assert _rk(_q(ddb, multi, cond, values, ScanIndexForward=False)) == expected[::-1]


def test_query_pages_carry_every_key_attribute(ddb: Any, multi: str) -> None:
    first = ddb.query(
        TableName=multi,
        IndexName="by-multi",
        KeyConditionExpression=HASH,
        ExpressionAttributeValues={":h1": s("H"), ":h2": n(7)},
        Limit=5,
        ScanIndexForward=False,
    )
    assert set(first["LastEvaluatedKey"]) == {"p", "h1", "h2", "r1", "r2"}
    got = _q(ddb, multi, HASH, {}, Limit=5, ScanIndexForward=False)
    assert _rk(got) == ORDERED[::-1]
    # the other partition of the index, and a scan of it in pages
    assert [i["p"]["S"] for i in _q(ddb, multi, HASH, {":h2": n(8)})] == ["other-h2"]
    assert len(items_of(pages(ddb.scan, TableName=multi, IndexName="by-multi", Limit=4))) == len(GRID) + 1


def test_legacy_key_conditions(ddb: Any, multi: str) -> None:
    got = ddb.query(
        TableName=multi,
        IndexName="by-multi",
        KeyConditions={
            "h1": {"AttributeValueList": [s("H")], "ComparisonOperator": "EQ"},
            "h2": {"AttributeValueList": [n(7)], "ComparisonOperator": "EQ"},
            "r1": {"AttributeValueList": [s("c")], "ComparisonOperator": "EQ"},
            "r2": {"AttributeValueList": [n(0)], "ComparisonOperator": "GT"},
        },
    )
    assert _rk(got["Items"]) == [("c", 3), ("c", 10)]


def _hash_error(name: str) -> str:
    return f"{NOT_SUPPORTED}: every HASH key attribute needs an equality condition, and HASH key attribute {name} has none"


def _range_error(later: str, earlier: str) -> str:
    return (
        f"{NOT_SUPPORTED}: RANGE key attribute {later} has a condition, so every RANGE key attribute "
        f"before it needs an equality condition, and {earlier} has none"
    )


@pytest.mark.parametrize(
    ("cond", "values", "message"),
    [
        ("h1 = :h1", {}, _hash_error("h2")),
        ("h2 = :h2", {}, _hash_error("h1")),
        ("h1 = :h1 AND h2 > :h2", {}, _hash_error("h2")),
        ("h1 = :h1 AND h2 BETWEEN :h2 AND :x", {":x": n(9)}, _hash_error("h2")),
        (f"{HASH} AND r2 = :x", {":x": n(1)}, _range_error("r2", "r1")),
        (f"{HASH} AND r1 > :a AND r2 = :x", {":a": s("a"), ":x": n(1)}, _range_error("r2", "r1")),
        (f"{HASH} AND begins_with(r1, :a) AND r2 > :x", {":a": s("a"), ":x": n(1)}, _range_error("r2", "r1")),
        (f"{HASH} AND z = :x", {":x": n(1)}, "Query condition missed key schema element: r1"),
        (f"{HASH} AND r1 = :x", {":x": n(1)}, INVALID + "Condition parameter type does not match schema type"),
        ("h1 = :x AND h2 = :h2", {":x": n(1)}, INVALID + "Condition parameter type does not match schema type"),
        (
            f"{HASH} AND r1 = :a AND r2 = :x AND z = :x",
            {":a": s("a"), ":x": n(1)},
            "The number of query conditions (5) exceeds the number of key attributes defined in the schema (4)",
        ),
        (
            f"{HASH} AND h1 = :h1",
            {},
            "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key",
        ),
    ],
)
def test_query_condition_errors(ddb: Any, multi: str, cond: str, values: dict[str, Any], message: str) -> None:
    expect_error(lambda: _q(ddb, multi, cond, values), "ValidationException", message)


def test_filter_and_start_key_rules(ddb: Any, multi: str) -> None:
    expect_error(
        lambda: _q(ddb, multi, HASH, {":x": s("a")}, FilterExpression="r1 = :x"),
        "ValidationException",
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: r1",
    )
    expect_error(
        lambda: _q(ddb, multi, HASH, {}, ExclusiveStartKey={"p": s("g0"), "h1": s("H"), "r1": s("a"), "r2": n(1)}),
        "ValidationException",
        "The provided starting key is invalid",
    )


def test_writes_check_every_key_attribute(ddb: Any, multi: str) -> None:
    expect_error(
        lambda: ddb.put_item(TableName=multi, Item=_item("bad") | {"h2": s("7")}),
        "ValidationException",
        INVALID + "Type mismatch for Index Key h2 Expected: N Actual: S IndexName: by-multi",
    )
    expect_error(
        lambda: ddb.put_item(TableName=multi, Item=_item("bad", r1="")),
        "ValidationException",
        "One or more parameter values are not valid. A value specified for a secondary index key "
        "is not supported. The AttributeValue for a key attribute cannot contain an empty string "
        "value. IndexName: by-multi, IndexKey: r1",
    )
    # each key attribute is held to a key's length on its own: 1,024 bytes for a sort-key one
    ddb.put_item(TableName=multi, Item=_item("long-ok", h1="X", r1="r" * 1024, h2=1))
    expect_error(
        lambda: ddb.put_item(TableName=multi, Item=_item("long", h1="X", r1="r" * 1025)),
        "ValidationException",
        INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
    )
    expect_error(
        lambda: ddb.put_item(TableName=multi, Item=_item("long", h1="h" * 2049)),
        "ValidationException",
        INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes",
    )
    ddb.delete_item(TableName=multi, Key={"p": s("long-ok")})


@pytest.fixture
def drop(ddb: Any) -> Iterator[Callable[[str], str]]:
    names: list[str] = []
    yield lambda name: names.append(name) or name  # type: ignore[func-returns-value]
    for name in names:
        try:
            ddb.delete_table(TableName=name)
        except ClientError:
            pass


def _create(ddb: Any, gsi_ks: list[dict[str, str]], **types: str) -> Any:
    return ddb.create_table(
        TableName=unique("mak"),
        KeySchema=_ks(("p", "HASH")),
        AttributeDefinitions=_defs(p="S", **types),
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": gsi_ks, "Projection": {"ProjectionType": "ALL"}}],
    )


@pytest.mark.parametrize(
    ("gsi_ks", "message"),
    [
        (
            _ks(("a", "HASH"), ("b", "RANGE"), ("c", "HASH")),
            INVALID + "All HASH key attributes must precede RANGE key attributes in the KeySchema",
        ),
        (
            _ks(*((x, "HASH") for x in "abcde")),
            INVALID + "The KeySchema exceeds the maximum allowed number of HASH key attributes",
        ),
        (
            _ks(("a", "HASH"), *((x, "RANGE") for x in "bcdef")),
            INVALID + "The KeySchema exceeds the maximum allowed number of RANGE key attributes",
        ),
        (
            _ks(("a", "HASH"), ("b", "HASH"), ("a", "RANGE")),
            "The KeySchema contains multiple key attributes with the same name",
        ),
        (
            _ks(("a", "RANGE"), ("b", "RANGE")),
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
        (
            _ks(("a", "HASH"), ("g", "HASH")),
            INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
            "Keys: [a, g], AttributeDefinitions: [p, a, b, c, d, e, f]",
        ),
    ],
)
def test_create_table_key_schema_errors(ddb: Any, gsi_ks: list[dict[str, str]], message: str) -> None:
    expect_error(lambda: _create(ddb, gsi_ks, **dict.fromkeys("abcdef", "S")), "ValidationException", message)


def test_tables_and_lsis_keep_one_hash_and_one_range(ddb: Any) -> None:
    expect_error(
        lambda: ddb.create_table(
            TableName=unique("mak"),
            KeySchema=_ks(("p", "HASH"), ("q", "HASH")),
            AttributeDefinitions=_defs(p="S", q="S"),
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
    )
    err = expect_error(
        lambda: ddb.create_table(
            TableName=unique("mak"),
            KeySchema=_ks(("p", "HASH"), ("q", "RANGE")),
            AttributeDefinitions=_defs(p="S", q="S", l="S"),
            BillingMode="PAY_PER_REQUEST",
            LocalSecondaryIndexes=[
                {"IndexName": "lsi", "KeySchema": _ks(("p", "HASH"), ("q", "RANGE"), ("l", "RANGE")), "Projection": {"ProjectionType": "ALL"}}
            ],
        ),
        "ValidationException",
    )
    assert "Member must have length less than or equal to 2" in err.response["Error"]["Message"]


def test_four_and_four(ddb: Any, drop: Callable[[str], str]) -> None:
    ks = _ks(*((x, "HASH") for x in "abcd"), *((x, "RANGE") for x in "efgh"))
    types = {"a": "S", "b": "N", "c": "B", "d": "S", "e": "N", "f": "B", "g": "S", "h": "N"}
    out = _create(ddb, ks, **types)["TableDescription"]
    table = drop(out["TableName"])
    assert out["GlobalSecondaryIndexes"][0]["KeySchema"] == ks
    base = {"a": s("A"), "b": n(1), "c": {"B": b"\x00"}, "d": s("D"), "f": {"B": b"\x01"}, "g": s("G")}
    put_all(ddb, table, [{"p": s(f"k{e}-{h}"), **base, "e": n(e), "h": n(h)} for e in (2, 1) for h in (5, 4)])
    got = items_of(
        pages(
            ddb.query,
            TableName=table,
            IndexName="gsi",
            KeyConditionExpression="a = :a AND b = :b AND c = :c AND d = :d AND e = :e AND f = :f AND g = :g AND h >= :h",
            ExpressionAttributeValues={":a": s("A"), ":b": n(1), ":c": {"B": b"\x00"}, ":d": s("D"), ":e": n(1), ":f": {"B": b"\x01"}, ":g": s("G"), ":h": n(4)},
        )
    )
    assert [i["p"]["S"] for i in got] == ["k1-4", "k1-5"]


def test_update_table_backfills_a_multi_attribute_gsi(ddb: Any, drop: Callable[[str], str]) -> None:
    table = drop(unique("mak"))
    ddb.create_table(
        TableName=table,
        KeySchema=_ks(("p", "HASH")),
        AttributeDefinitions=_defs(p="S"),
        BillingMode="PAY_PER_REQUEST",
    )
    items = [
        {"p": s(f"k{i}"), "t": s(f"T{i % 2}"), "reg": n(i % 3), "dd": n(20 - i)}
        for i in range(30)
    ] + [{"p": s("no-dd"), "t": s("T0"), "reg": n(0)}, {"p": s("dd-as-s"), "t": s("T0"), "reg": n(0), "dd": s("x")}]
    put_all(ddb, table, items)
    out = ddb.update_table(
        TableName=table,
        AttributeDefinitions=_defs(t="S", reg="N", dd="N"),
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-t-reg",
                    "KeySchema": _ks(("t", "HASH"), ("reg", "HASH"), ("dd", "RANGE")),
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )["TableDescription"]
    assert out["GlobalSecondaryIndexes"][0]["KeySchema"] == _ks(("t", "HASH"), ("reg", "HASH"), ("dd", "RANGE"))
    wait_index_active(ddb, table, "by-t-reg")
    got = items_of(
        pages(
            ddb.query,
            TableName=table,
            IndexName="by-t-reg",
            KeyConditionExpression="t = :t AND reg = :r AND dd < :d",
            ExpressionAttributeValues={":t": s("T0"), ":r": n(0), ":d": n(15)},
        )
    )
    expected = sorted((20 - i, f"k{i}") for i in range(30) if i % 2 == 0 and i % 3 == 0 and 20 - i < 15)
    assert [(int(i["dd"]["N"]), i["p"]["S"]) for i in got] == expected
    # items lacking dd, or holding it as a string, were skipped by the backfill
    scanned = items_of(pages(ddb.scan, TableName=table, IndexName="by-t-reg"))
    assert len(scanned) == 30
