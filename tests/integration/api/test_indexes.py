"""Secondary indexes through boto3: definitions, descriptions, reads, maintenance, online GSIs.

Expected behaviour and texts are DynamoDB's own: the Developer Guide's GSI and LSI pages,
dynalite's createTable/query/putItem suites and Alternator's test_gsi.py / test_lsi.py
(both run against the real service), and moto's AWS-verified Select tests.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess
from tests.integration.api.reads_support import (
    Item,
    items_of,
    key_of,
    n,
    pages,
    put_all,
    s,
    wait_index_active,
    wait_index_gone,
)
from tests.integration.api.support import DYNAMODB_NS, error_of, expect_error, post, unique

pytestmark = pytest.mark.integration

INVALID = "One or more parameter values were invalid: "
TABLE_KEYS = ("p", "s")


def _ks(hash_: str, range_: str | None = None) -> list[dict[str, str]]:
    out = [{"AttributeName": hash_, "KeyType": "HASH"}]
    if range_ is not None:
        out.append({"AttributeName": range_, "KeyType": "RANGE"})
    return out


def _index(name: str, hash_: str, range_: str | None, projection: str, non_key: list[str] | None = None) -> dict[str, Any]:
    proj: dict[str, Any] = {"ProjectionType": projection}
    if non_key is not None:
        proj["NonKeyAttributes"] = non_key
    return {"IndexName": name, "KeySchema": _ks(hash_, range_), "Projection": proj}


def _defs(**types: str) -> list[dict[str, str]]:
    return [{"AttributeName": a, "AttributeType": t} for a, t in types.items()]


# The standard indexed table: key (p S, s N), and
#   by-l    LSI (p, l S)  KEYS_ONLY
#   by-ln   LSI (p, ln N) INCLUDE [x]
#   by-g    GSI (g S, r N) ALL
#   by-gk   GSI (g S)      KEYS_ONLY
#   by-inc  GSI (r N, l S) INCLUDE [x, y]
LSIS = [_index("by-l", "p", "l", "KEYS_ONLY"), _index("by-ln", "p", "ln", "INCLUDE", ["x"])]
GSIS = [
    _index("by-g", "g", "r", "ALL"),
    _index("by-gk", "g", None, "KEYS_ONLY"),
    _index("by-inc", "r", "l", "INCLUDE", ["x", "y"]),
]
DEFS = _defs(p="S", s="N", l="S", ln="N", g="S", r="N")


@pytest.fixture
def make_indexed(ddb: Any) -> Iterator[Callable[..., str]]:
    created: list[str] = []

    def make(
        lsis: list[dict[str, Any]] | None = None,
        gsis: list[dict[str, Any]] | None = None,
        defs: list[dict[str, str]] | None = None,
        range_: str | None = "s",
    ) -> str:
        name = unique("ix")
        kw: dict[str, Any] = {}
        if lsis:
            kw["LocalSecondaryIndexes"] = lsis
        if gsis:
            kw["GlobalSecondaryIndexes"] = gsis
        ddb.create_table(
            TableName=name, KeySchema=_ks("p", range_), AttributeDefinitions=defs if defs is not None else DEFS,
            BillingMode="PAY_PER_REQUEST", **kw,
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
def indexed(make_indexed: Callable[..., str]) -> str:
    return make_indexed(LSIS, GSIS)


def _ids(items: list[Item]) -> Counter[tuple[Any, ...]]:
    return Counter(key_of(i, TABLE_KEYS) for i in items)


def _q(ddb: Any, table: str, index: str, cond: str, values: dict[str, Any], **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = ddb.query(
        TableName=table, IndexName=index, KeyConditionExpression=cond, ExpressionAttributeValues=values, **kw
    )
    return out


def _indexed_keys(ddb: Any, table: str, index: str) -> list[tuple[Any, ...]]:
    return sorted(key_of(i, TABLE_KEYS) for i in items_of(pages(ddb.scan, TableName=table, IndexName=index)))


# --------------------------------------------------------------------------- CreateTable / DescribeTable


def test_describe_table_index_descriptions(ddb: Any, indexed: str) -> None:
    items = [
        {"p": s("a"), "s": n(1), "l": s("x1"), "ln": n(5), "g": s("G"), "r": n(1), "x": s("xx"), "y": s("yy"), "z": s("zz")},
        {"p": s("a"), "s": n(2), "g": s("G")},  # only in by-gk
        {"p": s("b"), "s": n(1), "l": s("x2")},  # only in by-l
        {"p": s("b"), "s": n(2)},  # in no index
    ]  # fmt: skip
    put_all(ddb, indexed, items)
    desc = ddb.describe_table(TableName=indexed)["Table"]
    arn = desc["TableArn"]
    lsis = {i["IndexName"]: i for i in desc["LocalSecondaryIndexes"]}
    gsis = {i["IndexName"]: i for i in desc["GlobalSecondaryIndexes"]}
    assert set(lsis) == {"by-l", "by-ln"} and set(gsis) == {"by-g", "by-gk", "by-inc"}
    for raw in LSIS:
        got = lsis[raw["IndexName"]]
        # an LSI has no status, throughput or backfilling of its own
        assert set(got) == {"IndexName", "KeySchema", "Projection", "IndexSizeBytes", "ItemCount", "IndexArn"}
        assert got["KeySchema"] == raw["KeySchema"] and got["Projection"] == raw["Projection"]
        assert got["IndexArn"] == f"{arn}/index/{raw['IndexName']}"
    for raw in GSIS:
        got = gsis[raw["IndexName"]]
        # created with the table: no Backfilling member
        assert set(got) == {
            "IndexName", "KeySchema", "Projection", "IndexStatus", "ProvisionedThroughput",
            "IndexSizeBytes", "ItemCount", "IndexArn",
        }  # fmt: skip
        assert got["IndexStatus"] == "ACTIVE"
        assert got["KeySchema"] == raw["KeySchema"] and got["Projection"] == raw["Projection"]
        assert got["IndexArn"] == f"{arn}/index/{raw['IndexName']}"
        assert got["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
    counts = {name: d["ItemCount"] for name, d in {**lsis, **gsis}.items()}
    # sparse: only items holding every key attribute of an index are in it
    assert counts == {"by-l": 2, "by-ln": 1, "by-g": 1, "by-gk": 2, "by-inc": 1}
    assert all(d["IndexSizeBytes"] > 0 for d in {**lsis, **gsis}.values())
    assert desc["AttributeDefinitions"] == DEFS


def test_create_table_response_reports_gsis_creating(ddb: Any, make_indexed: Callable[..., str]) -> None:
    name = unique("ix")
    try:
        out = ddb.create_table(
            TableName=name, KeySchema=_ks("p", "s"), AttributeDefinitions=DEFS, BillingMode="PAY_PER_REQUEST",
            LocalSecondaryIndexes=LSIS, GlobalSecondaryIndexes=GSIS,
        )["TableDescription"]
        assert out["TableStatus"] == "CREATING"
        assert "IndexStatus" not in out["LocalSecondaryIndexes"][0]
        assert {g["IndexStatus"] for g in out["GlobalSecondaryIndexes"]} == {"CREATING"}
    finally:
        ddb.delete_table(TableName=name)


def test_describe_table_waiter_and_index_order(ddb: Any, indexed: str) -> None:
    ddb.get_waiter("table_exists").wait(TableName=indexed, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    desc = ddb.describe_table(TableName=indexed)["Table"]
    assert [i["IndexName"] for i in desc["GlobalSecondaryIndexes"]] == [g["IndexName"] for g in GSIS]


# --------------------------------------------------------------------------- CreateTable validation


def _create(ddb: Any, **kw: Any) -> Callable[[], object]:
    kw.setdefault("KeySchema", _ks("p", "s"))
    kw.setdefault("AttributeDefinitions", _defs(p="S", s="N", l="S", g="S"))
    kw.setdefault("BillingMode", "PAY_PER_REQUEST")
    return lambda: ddb.create_table(TableName=unique("ixbad"), **kw)


def test_lsi_needs_a_table_range_key(ddb: Any) -> None:
    expect_error(
        _create(ddb, KeySchema=_ks("p"), AttributeDefinitions=_defs(p="S", l="S"), LocalSecondaryIndexes=[_index("idx", "p", "l", "ALL")]),
        "ValidationException",
        INVALID + "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
    )


def test_lsi_needs_the_table_hash_key(ddb: Any) -> None:
    expect_error(
        _create(ddb, LocalSecondaryIndexes=[_index("idx", "g", "l", "ALL")]),
        "ValidationException",
        INVALID + "Index KeySchema does not have the same leading hash key as table KeySchema for index: "
        "idx. index hash key: g, table hash key: p",
    )


def test_lsi_needs_a_range_key(ddb: Any) -> None:
    expect_error(
        _create(ddb, AttributeDefinitions=_defs(p="S", s="N"), LocalSecondaryIndexes=[_index("idx", "p", None, "ALL")]),
        "ValidationException",
        INVALID + "Index KeySchema does not have a range key for index: idx",
    )


@pytest.mark.parametrize(
    ("lsis", "gsis"),
    [
        ([_index("dup", "p", "l", "ALL"), _index("dup", "p", "g", "ALL")], []),
        ([], [_index("dup", "g", None, "ALL"), _index("dup", "l", None, "ALL")]),
        ([_index("dup", "p", "l", "ALL")], [_index("dup", "g", None, "ALL")]),
    ],
    ids=["lsi-lsi", "gsi-gsi", "lsi-gsi"],
)
def test_duplicate_index_names(ddb: Any, lsis: list[Any], gsis: list[Any]) -> None:
    kw: dict[str, Any] = {}
    if lsis:
        kw["LocalSecondaryIndexes"] = lsis
    if gsis:
        kw["GlobalSecondaryIndexes"] = gsis
    expect_error(_create(ddb, **kw), "ValidationException", INVALID + "Duplicate index name: dup")


def test_more_than_five_lsis(ddb: Any) -> None:
    lsis = [_index(f"idx{i}", "p", "l", "ALL") for i in range(6)]
    expect_error(
        _create(ddb, AttributeDefinitions=_defs(p="S", s="N", l="S"), LocalSecondaryIndexes=lsis),
        "ValidationException",
        INVALID + "Number of LocalSecondaryIndexes exceeds per-table limit of 5",
    )


def test_five_lsis_are_fine(ddb: Any, make_indexed: Callable[..., str]) -> None:
    name = make_indexed([_index(f"idx{i}", "p", "l", "ALL") for i in range(5)], None, _defs(p="S", s="N", l="S"))
    assert len(ddb.describe_table(TableName=name)["Table"]["LocalSecondaryIndexes"]) == 5


def test_index_key_attributes_must_be_defined(ddb: Any) -> None:
    expect_error(
        _create(ddb, AttributeDefinitions=_defs(p="S", s="N"), GlobalSecondaryIndexes=[_index("idx", "g", "l", "ALL")]),
        "ValidationException",
        INVALID + "Some index key attributes are not defined in AttributeDefinitions. Keys: [g, l], AttributeDefinitions: [p, s]",
    )
    expect_error(
        _create(ddb, AttributeDefinitions=_defs(p="S", s="N"), LocalSecondaryIndexes=[_index("idx", "p", "l", "ALL")]),
        "ValidationException",
        INVALID + "Some index key attributes are not defined in AttributeDefinitions. Keys: [p, l], AttributeDefinitions: [p, s]",
    )


def test_unused_attribute_definitions(ddb: Any) -> None:
    # names chosen so that definition order, key order and sorted order all agree
    expect_error(
        _create(
            ddb, KeySchema=_ks("a", "b"), AttributeDefinitions=_defs(a="S", b="N", c="S", d="S"),
            GlobalSecondaryIndexes=[_index("idx", "c", None, "ALL")],
        ),
        "ValidationException",
        INVALID + "Some AttributeDefinitions are not used. AttributeDefinitions: [a, b, c, d], keys used: [a, b, c]",
    )


@pytest.mark.parametrize("projection", ["ALL", "KEYS_ONLY"])
@pytest.mark.parametrize("kind", ["LocalSecondaryIndexes", "GlobalSecondaryIndexes"])
def test_non_key_attributes_need_include(ddb: Any, projection: str, kind: str) -> None:
    index = _index("idx", "p" if kind.startswith("Local") else "g", "l", projection, ["x"])
    expect_error(
        _create(ddb, AttributeDefinitions=_defs(p="S", s="N", l="S") + (_defs(g="S") if kind.startswith("Global") else []), **{kind: [index]}),
        "ValidationException",
        INVALID + f"ProjectionType is {projection}, but NonKeyAttributes is specified",
    )


def test_projection_type_is_required(ddb: Any) -> None:
    index = {"IndexName": "idx", "KeySchema": _ks("g"), "Projection": {"NonKeyAttributes": ["x"]}}
    expect_error(
        _create(ddb, AttributeDefinitions=_defs(p="S", s="N", g="S"), GlobalSecondaryIndexes=[index]),
        "ValidationException",
        INVALID + "Unknown ProjectionType: null",
    )


def test_more_than_twenty_gsis(ddb: Any) -> None:
    gsis = [_index(f"idx{i}", "g", None, "ALL") for i in range(21)]
    expect_error(
        _create(ddb, AttributeDefinitions=_defs(p="S", s="N", g="S"), GlobalSecondaryIndexes=gsis),
        "ValidationException",
        INVALID + "GlobalSecondaryIndex count exceeds the per-table limit of 20",
    )


# --------------------------------------------------------------------------- sparse indexes and reads


def test_sparse_gsi(ddb: Any, indexed: str) -> None:
    put_all(
        ddb, indexed,
        [
            {"p": s("a"), "s": n(1), "g": s("G"), "r": n(1)},
            {"p": s("a"), "s": n(2), "g": s("G")},  # no r: not in by-g, but in by-gk
            {"p": s("a"), "s": n(3), "r": n(1)},  # no g
            {"p": s("b"), "s": n(1), "g": s("G"), "r": n(2)},
        ],
    )  # fmt: skip
    got = _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")})
    assert [key_of(i, TABLE_KEYS) for i in got["Items"]] == [key_of({"p": s("a"), "s": n(1)}, TABLE_KEYS), key_of({"p": s("b"), "s": n(1)}, TABLE_KEYS)]
    assert _q(ddb, indexed, "by-gk", "g = :g", {":g": s("G")})["Count"] == 3
    assert len(_indexed_keys(ddb, indexed, "by-g")) == 2
    assert len(_indexed_keys(ddb, indexed, "by-l")) == 0


def test_gsi_query_orders_by_index_sort_key(ddb: Any, indexed: str) -> None:
    rs = ["10", "-1", "2", "100", "0.5"]
    put_all(ddb, indexed, [{"p": s(f"k{i}"), "s": n(i), "g": s("G"), "r": n(r)} for i, r in enumerate(rs)])
    got = _q(ddb, indexed, "by-g", "g = :g AND r > :r", {":g": s("G"), ":r": n(0)})
    assert [i["r"]["N"] for i in got["Items"]] == ["0.5", "2", "10", "100"]
    rev = _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")}, ScanIndexForward=False)
    assert [i["r"]["N"] for i in rev["Items"]] == ["100", "10", "2", "0.5", "-1"]


@pytest.mark.parametrize("limit", [1, 2, 7, 30])
@pytest.mark.parametrize("forward", [True, False])
def test_gsi_paging_with_ties_on_the_index_key(ddb: Any, indexed: str, limit: int, forward: bool) -> None:
    # thirty items with one and the same index key (g, r): only the table key orders them
    items = [{"p": s(f"k{i % 7}"), "s": n(i), "g": s("T"), "r": n(1)} for i in range(30)]
    put_all(ddb, indexed, items)
    for index in ("by-g", "by-gk"):
        got = pages(
            ddb.query, TableName=indexed, IndexName=index, KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": s("T")}, Limit=limit, ScanIndexForward=forward,
        )
        assert _ids(items_of(got)) == _ids(items)
        for page in got[:-1]:
            last = page["Items"][-1]
            # table key plus index key, nothing else
            want = {"p": last["p"], "s": last["s"], "g": s("T")} | ({"r": n(1)} if index == "by-g" else {})
            assert page["LastEvaluatedKey"] == want
            assert page["Count"] == limit
        assert "LastEvaluatedKey" not in got[-1]


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_gsi_scan_paging(ddb: Any, indexed: str, limit: int) -> None:
    items = [{"p": s(f"k{i}"), "s": n(i % 3), "g": s(f"G{i % 4}"), "r": n(i % 2)} for i in range(24)]
    put_all(ddb, indexed, [*items, {"p": s("none"), "s": n(0)}])
    got = pages(ddb.scan, TableName=indexed, IndexName="by-g", Limit=limit)
    assert _ids(items_of(got)) == _ids(items)
    for page in got[:-1]:
        assert set(page["LastEvaluatedKey"]) == {"p", "s", "g", "r"}
    # index scans take parallel segments too
    union: Counter[tuple[Any, ...]] = Counter()
    for segment in range(3):
        union += _ids(items_of(pages(ddb.scan, TableName=indexed, IndexName="by-g", Segment=segment, TotalSegments=3, Limit=limit)))
    assert union == _ids(items)


@pytest.mark.parametrize("limit", [1, 4, 100])
def test_lsi_query_paging_with_ties(ddb: Any, indexed: str, limit: int) -> None:
    items = [{"p": s("a"), "s": n(i), "l": s("same" if i % 2 else f"v{i:02d}")} for i in range(20)]
    put_all(ddb, indexed, [*items, {"p": s("b"), "s": n(1), "l": s("same")}])
    got = pages(
        ddb.query, TableName=indexed, IndexName="by-l", KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": s("a")}, Limit=limit,
    )
    assert _ids(items_of(got)) == _ids(items)
    order = [i["l"]["S"] for i in items_of(got)]
    assert order == sorted(order)
    for page in got[:-1]:
        last = page["Items"][-1]
        assert page["LastEvaluatedKey"] == {"p": s("a"), "s": last["s"], "l": last["l"]}
    ranged = _q(ddb, indexed, "by-l", "p = :p AND begins_with(l, :v)", {":p": s("a"), ":v": s("v")})
    assert sorted(i["l"]["S"] for i in ranged["Items"]) == [f"v{i:02d}" for i in range(0, 20, 2)]


def test_index_exclusive_start_key_must_hold_the_index_key(ddb: Any, indexed: str) -> None:
    put_all(ddb, indexed, [{"p": s("a"), "s": n(1), "g": s("G"), "r": n(1)}])
    expect_error(
        lambda: _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")}, ExclusiveStartKey={"p": s("a"), "s": n(1)}),
        "ValidationException",
    )
    expect_error(
        lambda: _q(
            ddb, indexed, "by-g", "g = :g", {":g": s("G")},
            ExclusiveStartKey={"p": s("a"), "s": n(1), "g": s("OTHER"), "r": n(1)},
        ),
        "ValidationException",
        "The provided starting key is outside query boundaries based on provided conditions",
    )


def test_query_index_key_condition_uses_the_index_schema(ddb: Any, indexed: str) -> None:
    expect_error(
        lambda: _q(ddb, indexed, "by-g", "p = :p", {":p": s("a")}),
        "ValidationException",
        "Query condition missed key schema element: g",
    )
    expect_error(
        lambda: _q(ddb, indexed, "by-g", "g = :g AND r = :r", {":g": s("G"), ":r": s("1")}),
        "ValidationException",
        INVALID + "Condition parameter type does not match schema type",
    )


def test_unknown_index(ddb: Any, indexed: str) -> None:
    expect_error(
        lambda: _q(ddb, indexed, "nope", "g = :g", {":g": s("G")}),
        "ValidationException",
        "The table does not have the specified index: nope",
    )
    expect_error(
        lambda: ddb.scan(TableName=indexed, IndexName="nope"),
        "ValidationException",
        "The table does not have the specified index: nope",
    )


# --------------------------------------------------------------------------- projections


FULL = {"p": s("a"), "s": n(1), "l": s("L"), "ln": n(3), "g": s("G"), "r": n(7), "x": s("X"), "y": s("Y"), "z": s("Z")}


def test_gsi_projections(ddb: Any, indexed: str) -> None:
    put_all(ddb, indexed, [FULL])
    assert _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")})["Items"] == [FULL]
    keys_only = {"p": s("a"), "s": n(1), "g": s("G")}
    assert _q(ddb, indexed, "by-gk", "g = :g", {":g": s("G")})["Items"] == [keys_only]
    assert _q(ddb, indexed, "by-gk", "g = :g", {":g": s("G")}, Select="ALL_PROJECTED_ATTRIBUTES")["Items"] == [keys_only]
    included = {"p": s("a"), "s": n(1), "r": n(7), "l": s("L"), "x": s("X"), "y": s("Y")}
    assert _q(ddb, indexed, "by-inc", "r = :r", {":r": n(7)})["Items"] == [included]
    assert ddb.scan(TableName=indexed, IndexName="by-inc")["Items"] == [included]
    assert ddb.scan(TableName=indexed, IndexName="by-gk")["Items"] == [keys_only]
    # a GSI with ALL may be read with ALL_ATTRIBUTES
    assert _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")}, Select="ALL_ATTRIBUTES")["Items"] == [FULL]
    assert _q(ddb, indexed, "by-inc", "r = :r", {":r": n(7)}, ProjectionExpression="x, p")["Items"] == [{"x": s("X"), "p": s("a")}]
    counted = _q(ddb, indexed, "by-gk", "g = :g", {":g": s("G")}, Select="COUNT")
    assert counted["Count"] == 1 and "Items" not in counted


@pytest.mark.parametrize("index", ["by-gk", "by-inc"])
def test_all_attributes_on_a_gsi_without_all_projection(ddb: Any, indexed: str, index: str) -> None:
    message = (
        INVALID + f"Select type ALL_ATTRIBUTES is not supported for global secondary index {index} "
        "because its projection type is not ALL"
    )
    cond, values = ("g = :g", {":g": s("G")}) if index == "by-gk" else ("r = :r", {":r": n(1)})
    expect_error(lambda: _q(ddb, indexed, index, cond, values, Select="ALL_ATTRIBUTES"), "ValidationException", message)
    expect_error(lambda: ddb.scan(TableName=indexed, IndexName=index, Select="ALL_ATTRIBUTES"), "ValidationException", message)


def test_gsi_rejects_unprojected_attributes(ddb: Any, indexed: str) -> None:
    put_all(ddb, indexed, [FULL])
    expect_error(
        lambda: _q(ddb, indexed, "by-gk", "g = :g", {":g": s("G")}, ProjectionExpression="p, z"),
        "ValidationException",
        INVALID + "Global secondary index by-gk does not project [z]",
    )
    expect_error(
        lambda: ddb.scan(TableName=indexed, IndexName="by-inc", ProjectionExpression="x, m.z, #z", ExpressionAttributeNames={"#z": "z"}),
        "ValidationException",
        INVALID + "Global secondary index by-inc does not project [m, z]",
    )
    expect_error(
        lambda: _q(ddb, indexed, "by-gk", "g = :g", {":g": s("G"), ":z": s("Z")}, FilterExpression="z = :z"),
        "ValidationException",
        INVALID + "Secondary index by-gk does not project one or more filter attributes: [z]",
    )
    expect_error(
        lambda: ddb.scan(TableName=indexed, IndexName="by-inc", FilterExpression="attribute_exists(z)"),
        "ValidationException",
        INVALID + "Secondary index by-inc does not project one or more filter attributes: [z]",
    )
    # projected attributes, table keys included, are fine in both
    got = _q(
        ddb, indexed, "by-inc", "r = :r", {":r": n(7), ":x": s("X"), ":p": s("a")},
        FilterExpression="x = :x AND p = :p", ProjectionExpression="y, s",
    )
    assert got["Items"] == [{"y": s("Y"), "s": n(1)}]


def test_projection_with_all_projected_attributes_is_rejected(ddb: Any, indexed: str) -> None:
    text = "Cannot specify the ProjectionExpression when choosing to get ALL_PROJECTED_ATTRIBUTES"
    expect_error(
        lambda: _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")}, Select="ALL_PROJECTED_ATTRIBUTES", ProjectionExpression="g"),
        "ValidationException",
        "1 validation error detected: " + text,
    )
    expect_error(
        lambda: ddb.scan(TableName=indexed, IndexName="by-g", Select="ALL_PROJECTED_ATTRIBUTES", ProjectionExpression="g"),
        "ValidationException",
        text,
    )


def test_lsi_fetches_unprojected_attributes(ddb: Any, indexed: str) -> None:
    put_all(ddb, indexed, [FULL])
    keys_only = {"p": s("a"), "s": n(1), "l": s("L")}
    assert _q(ddb, indexed, "by-l", "p = :p", {":p": s("a")})["Items"] == [keys_only]
    assert _q(ddb, indexed, "by-l", "p = :p", {":p": s("a")}, Select="ALL_ATTRIBUTES")["Items"] == [FULL]
    assert ddb.scan(TableName=indexed, IndexName="by-l", Select="ALL_ATTRIBUTES")["Items"] == [FULL]
    # a projection of unprojected attributes is read from the table too
    assert _q(ddb, indexed, "by-l", "p = :p", {":p": s("a")}, ProjectionExpression="z, l")["Items"] == [{"z": s("Z"), "l": s("L")}]
    included = {"p": s("a"), "s": n(1), "ln": n(3), "x": s("X")}
    assert _q(ddb, indexed, "by-ln", "p = :p", {":p": s("a")})["Items"] == [included]
    assert _q(ddb, indexed, "by-ln", "p = :p AND ln > :v", {":p": s("a"), ":v": n(1)}, Select="ALL_ATTRIBUTES")["Items"] == [FULL]


def test_filter_on_index_reads(ddb: Any, indexed: str) -> None:
    put_all(ddb, indexed, [dict(FULL, s=n(i), z=s(str(i % 2))) for i in range(6)])
    got = _q(ddb, indexed, "by-g", "g = :g", {":g": s("G"), ":z": s("1")}, FilterExpression="z = :z", Limit=4)
    assert got["ScannedCount"] == 4 and got["Count"] == 2 and "LastEvaluatedKey" in got


def test_consistent_read_on_indexes(ddb: Any, indexed: str) -> None:
    put_all(ddb, indexed, [FULL])
    message = "Consistent reads are not supported on global secondary indexes"
    expect_error(lambda: _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")}, ConsistentRead=True), "ValidationException", message)
    expect_error(lambda: ddb.scan(TableName=indexed, IndexName="by-gk", ConsistentRead=True), "ValidationException", message)
    # local indexes are read with the table, so strong reads are fine there
    assert _q(ddb, indexed, "by-l", "p = :p", {":p": s("a")}, ConsistentRead=True)["Count"] == 1
    assert ddb.scan(TableName=indexed, IndexName="by-l", ConsistentRead=True)["Count"] == 1
    assert _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")}, ConsistentRead=False)["Count"] == 1


# --------------------------------------------------------------------------- maintenance


def _in_gsi(ddb: Any, table: str, g: str) -> list[Item]:
    items: list[Item] = _q(ddb, table, "by-g", "g = :g", {":g": s(g)})["Items"]
    return items


def test_index_entries_follow_updates_overwrites_and_deletes(ddb: Any, indexed: str) -> None:
    key = {"p": s("a"), "s": n(1)}
    ddb.put_item(TableName=indexed, Item={**key, "g": s("one"), "r": n(1), "x": s("v1"), "l": s("m")})
    assert [i["x"] for i in _in_gsi(ddb, indexed, "one")] == [s("v1")]

    # UpdateItem moves the entry to the new index key, and only there
    ddb.update_item(TableName=indexed, Key=key, UpdateExpression="SET g = :g", ExpressionAttributeValues={":g": s("two")})
    assert _in_gsi(ddb, indexed, "one") == []
    assert [i["g"] for i in _in_gsi(ddb, indexed, "two")] == [s("two")]

    # a non-key change is reflected in projections that hold the attribute
    ddb.update_item(TableName=indexed, Key=key, UpdateExpression="SET x = :x", ExpressionAttributeValues={":x": s("v2")})
    assert [i["x"] for i in _in_gsi(ddb, indexed, "two")] == [s("v2")]
    assert _q(ddb, indexed, "by-inc", "r = :r", {":r": n(1)})["Items"] == [{**key, "r": n(1), "l": s("m"), "x": s("v2")}]

    # changing the index sort key moves the entry within the index
    ddb.update_item(TableName=indexed, Key=key, UpdateExpression="SET r = :r", ExpressionAttributeValues={":r": n(5)})
    assert _q(ddb, indexed, "by-g", "g = :g AND r = :r", {":g": s("two"), ":r": n(1)})["Count"] == 0
    assert _q(ddb, indexed, "by-g", "g = :g AND r = :r", {":g": s("two"), ":r": n(5)})["Count"] == 1
    assert _q(ddb, indexed, "by-inc", "r = :r", {":r": n(1)})["Count"] == 0

    # PutItem over the item: the entry follows the new image
    ddb.put_item(TableName=indexed, Item={**key, "g": s("three"), "r": n(5)})
    assert _in_gsi(ddb, indexed, "two") == []
    assert _in_gsi(ddb, indexed, "three") == [{**key, "g": s("three"), "r": n(5)}]
    assert _q(ddb, indexed, "by-l", "p = :p", {":p": s("a")})["Count"] == 0  # l is gone

    # removing an index key attribute removes the entry
    ddb.update_item(TableName=indexed, Key=key, UpdateExpression="REMOVE r")
    assert _in_gsi(ddb, indexed, "three") == []
    assert _q(ddb, indexed, "by-gk", "g = :g", {":g": s("three")})["Count"] == 1

    # and deleting the item removes every entry
    ddb.delete_item(TableName=indexed, Key=key)
    assert _q(ddb, indexed, "by-gk", "g = :g", {":g": s("three")})["Count"] == 0
    desc = ddb.describe_table(TableName=indexed)["Table"]
    assert all(i["ItemCount"] == 0 for i in desc["GlobalSecondaryIndexes"] + desc["LocalSecondaryIndexes"])


def test_lsi_entry_moves_when_its_sort_key_changes(ddb: Any, indexed: str) -> None:
    put_all(ddb, indexed, [{"p": s("a"), "s": n(i), "l": s(f"v{i}")} for i in range(3)])
    ddb.update_item(
        TableName=indexed, Key={"p": s("a"), "s": n(0)}, UpdateExpression="SET l = :l", ExpressionAttributeValues={":l": s("v9")}
    )
    got = _q(ddb, indexed, "by-l", "p = :p", {":p": s("a")})
    assert [i["l"]["S"] for i in got["Items"]] == ["v1", "v2", "v9"]
    assert [i["s"]["N"] for i in got["Items"]] == ["1", "2", "0"]


@pytest.mark.parametrize(
    ("attr", "value", "index", "expected", "actual"),
    [
        ("g", n(1), "by-g", "S", "N"),
        ("r", s("1"), "by-g", "N", "S"),
        ("l", {"B": b"x"}, "by-l", "S", "B"),
        ("g", {"NULL": True}, "by-g", "S", "NULL"),
        ("g", {"SS": ["a"]}, "by-g", "S", "SS"),
    ],
)
def test_write_with_a_wrong_index_key_type_is_rejected(
    ddb: Any, indexed: str, attr: str, value: Any, index: str, expected: str, actual: str
) -> None:
    key = {"p": s("a"), "s": n(1)}
    old = {**key, "g": s("G"), "r": n(1), "l": s("L"), "v": s("old")}
    ddb.put_item(TableName=indexed, Item=old)
    message = INVALID + f"Type mismatch for Index Key {attr} Expected: {expected} Actual: {actual} IndexName: "
    for call in (
        lambda: ddb.put_item(TableName=indexed, Item={**old, attr: value, "v": s("new")}),
        lambda: ddb.update_item(
            TableName=indexed, Key=key, UpdateExpression="SET #a = :v, v = :n",
            ExpressionAttributeNames={"#a": attr}, ExpressionAttributeValues={":v": value, ":n": s("new")},
        ),
        lambda: ddb.put_item(TableName=indexed, Item={"p": s("fresh"), "s": n(1), attr: value}),
    ):
        err = expect_error(call, "ValidationException")
        got = err.response["Error"]["Message"]
        assert got.startswith(message), got
    # nothing was written: the old item and its entries are unchanged, the new item absent
    assert ddb.get_item(TableName=indexed, Key=key, ConsistentRead=True)["Item"] == old
    assert "Item" not in ddb.get_item(TableName=indexed, Key={"p": s("fresh"), "s": n(1)}, ConsistentRead=True)
    assert _in_gsi(ddb, indexed, "G") == [old]


def test_write_with_an_empty_index_key_is_rejected(ddb: Any, indexed: str) -> None:
    expect_error(
        lambda: ddb.put_item(TableName=indexed, Item={"p": s("a"), "s": n(1), "g": s(""), "r": n(1)}),
        "ValidationException",
        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. "
        "The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by-g, IndexKey: g",
    )
    assert "Item" not in ddb.get_item(TableName=indexed, Key={"p": s("a"), "s": n(1)}, ConsistentRead=True)
    # an empty string in a non-key attribute is fine, even an INCLUDEd one
    ddb.put_item(TableName=indexed, Item={"p": s("a"), "s": n(1), "x": s(""), "r": n(1), "l": s("L")})
    assert _q(ddb, indexed, "by-inc", "r = :r", {":r": n(1)})["Items"][0]["x"] == s("")


# --------------------------------------------------------------------------- online GSIs


def test_online_gsi_create_and_delete(ddb: Any, region_proc: RegionProcess, make_indexed: Callable[..., str]) -> None:
    table = make_indexed(None, None, _defs(p="S", s="N"))
    items = [{"p": s(f"k{i}"), "s": n(i), **({"c": s(f"C{i % 3}")} if i % 2 == 0 else {})} for i in range(240)]
    put_all(ddb, table, items)
    with_c = [i for i in items if "c" in i]
    # items the build must read but not index: they keep it running long enough for
    # the second request below to find it still CREATING, even on a fast machine
    filler = 4000
    padding = {f"a{j}": n(j) for j in range(40)}
    for start in range(0, filler, 25):
        ddb.batch_write_item(
            RequestItems={
                table: [
                    # a big map each: the build decodes every item it reads
                    {"PutRequest": {"Item": {"p": s(f"f{i}"), "s": n(i), "pad": {"M": padding}}}}
                    for i in range(start, start + 25)
                ]
            }
        )

    out = ddb.update_table(
        TableName=table,
        AttributeDefinitions=_defs(c="S", s="N"),
        GlobalSecondaryIndexUpdates=[{"Create": _index("by-c", "c", "s", "KEYS_ONLY")}],
    )["TableDescription"]
    (created,) = out["GlobalSecondaryIndexes"]
    assert created["IndexName"] == "by-c" and created["IndexStatus"] == "CREATING"
    # created by UpdateTable: Backfilling is reported
    assert created["Backfilling"] is False
    assert {"AttributeName": "c", "AttributeType": "S"} in out["AttributeDefinitions"]

    # a second index change while the first is being built is refused.  Sent raw: boto3
    # retries LimitExceededException, and a retry would wait the first build out.
    second = post(
        region_proc.url,
        "UpdateTable",
        {
            "TableName": table,
            "AttributeDefinitions": [{"AttributeName": "s", "AttributeType": "N"}],
            "GlobalSecondaryIndexUpdates": [{"Create": _index("by-s", "s", None, "ALL")}],
        },
    )
    assert second.status_code == 400
    assert error_of(second) == (
        DYNAMODB_NS + "LimitExceededException",
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
    )

    # a write while the index is being built is indexed as well
    ddb.put_item(TableName=table, Item={"p": s("early"), "s": n(999), "c": s("C1")})

    seen: list[tuple[str, object]] = []
    deadline = time.monotonic() + 30
    while True:
        gsi = ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"][0]
        seen.append((gsi["IndexStatus"], gsi.get("Backfilling")))
        if gsi["IndexStatus"] == "ACTIVE":
            # an ACTIVE index carries no Backfilling member, as in DynamoDB
            assert "Backfilling" not in gsi
            break
        assert gsi["IndexStatus"] == "CREATING" and isinstance(gsi["Backfilling"], bool)
        assert time.monotonic() < deadline
        time.sleep(0.01)

    # backfilled: exactly the items that hold c, and writes made since are indexed too
    ddb.put_item(TableName=table, Item={"p": s("late"), "s": n(1000), "c": s("C0")})
    got = items_of(pages(ddb.scan, TableName=table, IndexName="by-c", Limit=50))
    assert Counter(key_of(i, TABLE_KEYS) for i in got) == Counter(
        key_of(i, TABLE_KEYS) for i in [*with_c, {"p": s("early"), "s": n(999)}, {"p": s("late"), "s": n(1000)}]
    )
    c0 = _q(ddb, table, "by-c", "c = :c", {":c": s("C0")})
    assert [int(i["s"]["N"]) for i in c0["Items"]] == sorted([int(i["s"]["N"]) for i in with_c if i["c"] == s("C0")] + [1000])
    assert c0["Items"][0] == {"p": s("k0"), "s": n(0), "c": s("C0")}
    assert wait_index_active(ddb, table, "by-c")["ItemCount"] == len(with_c) + 2

    out = ddb.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-c"}}])["TableDescription"]
    assert [g["IndexStatus"] for g in out["GlobalSecondaryIndexes"]] == ["DELETING"]
    desc = wait_index_gone(ddb, table, "by-c")
    assert "GlobalSecondaryIndexes" not in desc
    expect_error(
        lambda: _q(ddb, table, "by-c", "c = :c", {":c": s("C0")}),
        "ValidationException",
        "The table does not have the specified index: by-c",
    )
    # the table's items are untouched
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == len(items) + filler + 2


def test_online_gsi_on_a_table_with_indexes_keeps_the_others(ddb: Any, indexed: str) -> None:
    put_all(ddb, indexed, [FULL])
    ddb.update_table(
        TableName=indexed, AttributeDefinitions=_defs(z="S"),
        GlobalSecondaryIndexUpdates=[{"Create": _index("by-z", "z", None, "ALL")}],
    )
    wait_index_active(ddb, indexed, "by-z")
    assert _q(ddb, indexed, "by-z", "z = :z", {":z": s("Z")})["Items"] == [FULL]
    assert _q(ddb, indexed, "by-g", "g = :g", {":g": s("G")})["Items"] == [FULL]
    names = [g["IndexName"] for g in ddb.describe_table(TableName=indexed)["Table"]["GlobalSecondaryIndexes"]]
    assert sorted(names) == ["by-g", "by-gk", "by-inc", "by-z"]


def test_delete_unknown_gsi(ddb: Any, indexed: str) -> None:
    expect_error(
        lambda: ddb.update_table(TableName=indexed, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "nope"}}]),
        "ResourceNotFoundException",
    )


def test_create_gsi_with_an_existing_name(ddb: Any, indexed: str) -> None:
    expect_error(
        lambda: ddb.update_table(
            TableName=indexed, AttributeDefinitions=_defs(g="S"),
            GlobalSecondaryIndexUpdates=[{"Create": _index("by-g", "g", None, "ALL")}],
        ),
        "ValidationException",
    )


def test_redeclared_attribute_type_keeps_the_defined_one(ddb: Any, make_indexed: Callable[..., str]) -> None:
    table = make_indexed(None, None, _defs(p="S", s="N"))
    # p is S: a conflicting N in the request is ignored, as DynamoDB ignores it
    ddb.update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "N"}, {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": _index("by-g", "g", None, "KEYS_ONLY")}],
    )
    defs = {d["AttributeName"]: d["AttributeType"] for d in ddb.describe_table(TableName=table)["Table"]["AttributeDefinitions"]}
    assert defs["p"] == "S" and defs["g"] == "S"
    ddb.put_item(TableName=table, Item={"p": s("still-a-string"), "s": n(1), "g": s("x")})


def test_online_gsi_keys_are_defined_in_the_request_with_the_types_they_have(
    ddb: Any, make_indexed: Callable[..., str]
) -> None:
    """UpdateTable's Create names every key of the new index in this request's
    AttributeDefinitions, even a key the table knows (here an LSI key and the table's
    sort key), and cannot give one another type; one entry holds one action.  What
    DynamoDB answers, per Alternator's tests run against it."""
    table = make_indexed([_index("by-l", "p", "l", "KEYS_ONLY")], None, _defs(p="S", s="N", l="S"))
    for key in ("l", "s"):
        expect_error(
            lambda k=key: ddb.update_table(
                TableName=table, GlobalSecondaryIndexUpdates=[{"Create": _index("gsi1", k, None, "ALL")}]
            ),
            "ValidationException",
            "One or more parameter values were invalid: Some index key attributes are not defined "
            f"in AttributeDefinitions. Keys: [{key}], AttributeDefinitions: []",
        )
    expect_error(
        lambda: ddb.update_table(
            TableName=table,
            AttributeDefinitions=_defs(l="N"),
            GlobalSecondaryIndexUpdates=[{"Create": _index("gsi1", "l", None, "ALL")}],
        ),
        "ValidationException",
        "One or more parameter values were invalid: Attributes cannot be redefined. Please check "
        "that your attribute has the same type as previously defined. Existing schema: "
        "Schema:[SchemaElement: key{l:S:HASH}] New schema: Schema:[SchemaElement: key{l:N:HASH}]",
    )
    expect_error(
        lambda: ddb.update_table(
            TableName=table,
            AttributeDefinitions=_defs(l="S"),
            GlobalSecondaryIndexUpdates=[
                {"Create": _index("gsi1", "l", None, "ALL"), "Delete": {"IndexName": "by-l"}}
            ],
        ),
        "ValidationException",
        "One or more parameter values were invalid: only one of Create, Update or Delete may be "
        "given in GlobalSecondaryIndexUpdates entry 1",
    )
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=table)["Table"]
    # defined as the table knows it: accepted
    out = ddb.update_table(
        TableName=table,
        AttributeDefinitions=_defs(l="S"),
        GlobalSecondaryIndexUpdates=[{"Create": _index("gsi1", "l", None, "ALL")}],
    )["TableDescription"]
    assert [g["IndexName"] for g in out["GlobalSecondaryIndexes"]] == ["gsi1"]


def test_a_backfill_leaves_out_items_whose_new_index_key_is_too_long(
    ddb: Any, make_indexed: Callable[..., str]
) -> None:
    """Items written before the index whose value for its key is longer than a key may
    be (2,048 bytes as a partition key, 1,024 as a sort key) are not indexed, as in
    DynamoDB's backfill; a later write of such an item is refused."""
    table = make_indexed(None, None, _defs(p="S", s="N"))
    sizes = (5, 1024, 1025, 2048, 2049)
    for i, size in enumerate(sizes):
        ddb.put_item(TableName=table, Item={"p": s(f"k{i}"), "s": n(i), "x": s("x" * size)})
    ddb.update_table(
        TableName=table,
        AttributeDefinitions=_defs(x="S"),
        GlobalSecondaryIndexUpdates=[{"Create": _index("by-x", "x", None, "KEYS_ONLY")}],
    )
    deadline = time.monotonic() + 30
    while ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"][0]["IndexStatus"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    indexed = ddb.scan(TableName=table, IndexName="by-x")["Items"]
    assert sorted(len(i["x"]["S"]) for i in indexed) == [5, 1024, 1025, 2048]
    expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key={"p": s("k4"), "s": n(4)},
            UpdateExpression="SET y = :v",
            ExpressionAttributeValues={":v": n(1)},
        ),
        "ValidationException",
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum "
        "size limit of2048 bytes",
    )
