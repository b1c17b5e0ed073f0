"""Scan through boto3: paging, filters, projections, Select and parallel scan.

Expected behaviour and texts are DynamoDB's own: the Developer Guide's Scan pages,
Alternator's test_scan.py and dynalite's scan suite (both run against the real
service; the wrong-segment ExclusiveStartKey text is the one Alternator's maintainers
quote from DynamoDB in scylladb/scylladb#9270), and moto's AWS-verified Select tests
(Scan reports Select errors without Query's "1 validation error detected: ").
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

import pytest

from tests.integration.api.conftest import TableFactory
from tests.integration.api.reads_support import Item, items_of, key_of, n, pages, put_all, s
from tests.integration.api.support import create_table, expect_error, unique

pytestmark = pytest.mark.integration

KEYS = ("p", "s")


def _ids(items: list[Item]) -> list[tuple[Any, ...]]:
    return [key_of(i, KEYS) for i in items]


@pytest.fixture(scope="module")
def scan_table(ddb: Any) -> Any:
    """40 partition keys, 1 to 3 sort keys each (80 items), "tag" cycling 0..3."""
    name = unique("sc")
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    items: list[Item] = []
    for i in range(40):
        for j in range(1 + i % 3):
            items.append({"p": s(f"h{i}"), "s": n(j * 10 - 5), "tag": n(len(items) % 4), "v": s("x" * i)})
    put_all(ddb, name, items)
    yield name, items
    ddb.delete_table(TableName=name)


def _all_ids(items: list[Item]) -> Counter[tuple[Any, ...]]:
    return Counter(_ids(items))


def test_scan_returns_every_item(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, items = scan_table
    got = ddb.scan(TableName=table)
    assert _all_ids(got["Items"]) == _all_ids(items)
    assert got["Count"] == got["ScannedCount"] == len(items)
    assert "LastEvaluatedKey" not in got
    # whole items come back, not just keys
    by_key = {key_of(i, KEYS): i for i in items}
    assert all(by_key[key_of(i, KEYS)] == i for i in got["Items"])


def test_items_of_one_partition_key_are_contiguous_and_in_sort_key_order(
    ddb: Any, scan_table: tuple[str, list[Item]]
) -> None:
    table, _ = scan_table
    got = items_of(pages(ddb.scan, TableName=table, Limit=7))
    order = [i["p"]["S"] for i in got]
    # each partition key forms one run
    runs = [p for k, p in enumerate(order) if k == 0 or order[k - 1] != p]
    assert len(runs) == len(set(order)) == 40
    for p in set(order):
        sks = [int(i["s"]["N"]) for i in got if i["p"]["S"] == p]
        assert sks == sorted(sks)


@pytest.mark.parametrize("limit", [1, 3, 7, 40, 80, 81, 1000])
def test_paging_with_limit_gives_every_item_exactly_once(
    ddb: Any, scan_table: tuple[str, list[Item]], limit: int
) -> None:
    table, items = scan_table
    got = pages(ddb.scan, TableName=table, Limit=limit)
    assert _all_ids(items_of(got)) == _all_ids(items)
    for page in got[:-1]:
        assert page["Count"] == page["ScannedCount"] == limit
        last = page["Items"][-1]
        assert page["LastEvaluatedKey"] == {"p": last["p"], "s": last["s"]}
    if len(items) % limit == 0:
        # stopped on Limit exactly at the end: one more, empty, page
        assert got[-1]["Items"] == [] and got[-1]["Count"] == 0
    assert "LastEvaluatedKey" not in got[-1]


@pytest.mark.parametrize("page_size", [1, 9, 100])
def test_boto3_paginator(ddb: Any, scan_table: tuple[str, list[Item]], page_size: int) -> None:
    table, items = scan_table
    paginator = ddb.get_paginator("scan")
    got = list(paginator.paginate(TableName=table, PaginationConfig={"PageSize": page_size}))
    assert _all_ids(items_of(got)) == _all_ids(items)
    assert all(len(p["Items"]) <= page_size for p in got)
    whole = paginator.paginate(TableName=table, PaginationConfig={"PageSize": page_size}).build_full_result()
    assert _all_ids(whole["Items"]) == _all_ids(items)


def test_consistent_scan(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, items = scan_table
    assert _all_ids(ddb.scan(TableName=table, ConsistentRead=True)["Items"]) == _all_ids(items)


def test_exclusive_start_key_need_not_exist(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, _ = scan_table
    full = _ids(ddb.scan(TableName=table)["Items"])
    first = ddb.scan(TableName=table, Limit=5)
    # an invented key between item 5 and 6 of the scan order: same partition key as
    # item 5, sort key just above it
    last = first["LastEvaluatedKey"]
    invented = {"p": last["p"], "s": n(int(last["s"]["N"]) + 1)}
    got = _ids(items_of(pages(ddb.scan, TableName=table, ExclusiveStartKey=invented)))
    assert got == full[5:]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ({"p": s("h1")}, "The provided starting key is invalid: The provided key element does not match the schema"),
        ({"p": s("h1"), "s": s("1")}, "The provided starting key is invalid: The provided key element does not match the schema"),
        ({"p": s("h1"), "s": n(1), "x": n(1)}, "The provided starting key is invalid: The provided key element does not match the schema"),
    ],
)
def test_exclusive_start_key_errors(ddb: Any, scan_table: tuple[str, list[Item]], start: Item, message: str) -> None:
    table, _ = scan_table
    expect_error(lambda: ddb.scan(TableName=table, ExclusiveStartKey=start), "ValidationException", message)


def test_scan_missing_table(ddb: Any) -> None:
    expect_error(lambda: ddb.scan(TableName="no-such-table-sc"), "ResourceNotFoundException")


# --------------------------------------------------------------------------- filter, projection, Select


def test_filter(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, items = scan_table
    got = pages(ddb.scan, TableName=table, FilterExpression="tag = :t", ExpressionAttributeValues={":t": n(1)})
    expected = [i for i in items if i["tag"] == n(1)]
    assert _all_ids(items_of(got)) == _all_ids(expected)
    assert sum(p["ScannedCount"] for p in got) == len(items)
    assert sum(p["Count"] for p in got) == len(expected)


def test_filter_may_use_key_attributes_in_a_scan(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, items = scan_table
    got = ddb.scan(TableName=table, FilterExpression="p = :p AND s > :s", ExpressionAttributeValues={":p": s("h5"), ":s": n(0)})
    assert _ids(got["Items"]) == _ids([i for i in items if i["p"] == s("h5") and int(i["s"]["N"]) > 0])


def test_filter_is_applied_after_limit(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, items = scan_table
    got = pages(ddb.scan, TableName=table, Limit=4, FilterExpression="attribute_not_exists(v)")
    # nothing matches: every page is empty, yet each but the last carries a LastEvaluatedKey
    assert all(p["Count"] == 0 and p["Items"] == [] for p in got)
    assert all(p["ScannedCount"] == 4 and "LastEvaluatedKey" in p for p in got[:-1])
    assert sum(p["ScannedCount"] for p in got) == len(items)


def test_projection(ddb: Any, make_table: TableFactory) -> None:
    table = make_table(("p", "S"))
    put_all(
        ddb, table,
        [
            {"p": s("a"), "m": {"M": {"x": {"L": [n(1), n(2), n(3)]}, "y": s("why")}}, "#h": s("hash"), "z": s("z")},
            {"p": s("b"), "z": s("zz")},
        ],
    )  # fmt: skip
    got = ddb.scan(TableName=table, ProjectionExpression="m.x[2], m.y, #a, z", ExpressionAttributeNames={"#a": "#h"})
    assert sorted(got["Items"], key=lambda i: i["z"]["S"]) == [
        {"m": {"M": {"x": {"L": [n(3)]}, "y": s("why")}}, "#h": s("hash"), "z": s("z")},
        {"z": s("zz")},
    ]


def test_select_count(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, items = scan_table
    got = ddb.scan(TableName=table, Select="COUNT")
    assert "Items" not in got and got["Count"] == got["ScannedCount"] == len(items)
    limited = ddb.scan(TableName=table, Select="COUNT", Limit=1)
    assert "Items" not in limited and limited["Count"] == limited["ScannedCount"] == 1
    assert "LastEvaluatedKey" in limited
    filtered = ddb.scan(TableName=table, Select="COUNT", FilterExpression="tag = :t", ExpressionAttributeValues={":t": n(0)})
    assert filtered["Count"] == sum(1 for i in items if i["tag"] == n(0))
    assert filtered["ScannedCount"] == len(items)


@pytest.mark.parametrize(
    ("select", "projection", "message"),
    [
        ("SPECIFIC_ATTRIBUTES", None, "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"),
        ("COUNT", "v", "Cannot specify the ProjectionExpression when choosing to get only the Count"),
        ("ALL_ATTRIBUTES", "v", "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"),
        ("ALL_PROJECTED_ATTRIBUTES", None, "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
    ],
)
def test_invalid_select_combinations(
    ddb: Any, scan_table: tuple[str, list[Item]], select: str, projection: str | None, message: str
) -> None:
    table, _ = scan_table
    kw: dict[str, Any] = {"ProjectionExpression": projection} if projection else {}
    expect_error(lambda: ddb.scan(TableName=table, Select=select, **kw), "ValidationException", message)


# --------------------------------------------------------------------------- 1 MB


def test_page_stops_at_one_megabyte(ddb: Any, make_table: TableFactory) -> None:
    table = make_table(("p", "N"))
    put_all(ddb, table, [{"p": n(i), "blob": s("x" * 100_000)} for i in range(12)], workers=4)
    got = pages(ddb.scan, TableName=table, FilterExpression="attribute_exists(#b)", ExpressionAttributeNames={"#b": "blob"})
    assert len(got) >= 2
    assert 10 <= got[0]["ScannedCount"] < 12 and "LastEvaluatedKey" in got[0]
    assert sorted(int(i["p"]["N"]) for i in items_of(got)) == list(range(12))


# --------------------------------------------------------------------------- parallel scan


@pytest.mark.parametrize("total", [1, 3, 8, 50])
def test_parallel_scan_segments_partition_the_table(
    ddb: Any, scan_table: tuple[str, list[Item]], total: int
) -> None:
    table, items = scan_table
    union: Counter[tuple[Any, ...]] = Counter()
    segment_of: dict[str, int] = {}
    for segment in range(total):
        whole = ddb.scan(TableName=table, Segment=segment, TotalSegments=total)
        assert "LastEvaluatedKey" not in whole
        paged = pages(ddb.scan, TableName=table, Segment=segment, TotalSegments=total, Limit=3)
        # a segment paginates on its own, to the same items in the same order
        assert _ids(items_of(paged)) == _ids(whole["Items"])
        for page in paged[:-1]:
            assert page["ScannedCount"] == 3
        union.update(_ids(whole["Items"]))
        for i in whole["Items"]:
            # all items of a partition key belong to one segment
            assert segment_of.setdefault(i["p"]["S"], segment) == segment
    # every item in exactly one segment
    assert union == _all_ids(items)


def test_more_segments_than_items(ddb: Any, make_table: TableFactory) -> None:
    table = make_table(("p", "S"))
    put_all(ddb, table, [{"p": s(f"k{i}")} for i in range(5)])
    got: list[Item] = []
    for segment in range(64):
        got += ddb.scan(TableName=table, Segment=segment, TotalSegments=64)["Items"]
    assert sorted(i["p"]["S"] for i in got) == [f"k{i}" for i in range(5)]


def test_parallel_scan_with_filter_and_count(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, items = scan_table
    counted = 0
    scanned = 0
    for segment in range(3):
        for page in pages(
            ddb.scan, TableName=table, Segment=segment, TotalSegments=3, Select="COUNT", Limit=10,
            FilterExpression="tag = :t", ExpressionAttributeValues={":t": n(2)},
        ):
            assert "Items" not in page
            counted += page["Count"]
            scanned += page["ScannedCount"]
    assert counted == sum(1 for i in items if i["tag"] == n(2))
    assert scanned == len(items)


def test_segment_without_total_segments(ddb: Any, scan_table: tuple[str, list[Item]]) -> None:
    table, _ = scan_table
    expect_error(
        lambda: ddb.scan(TableName=table, Segment=0),
        "ValidationException",
        "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
    )
    expect_error(
        lambda: ddb.scan(TableName=table, TotalSegments=2),
        "ValidationException",
        "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
    )


@pytest.mark.parametrize(("segment", "total"), [(3, 3), (7, 5), (1, 1)])
def test_segment_must_be_below_total_segments(
    ddb: Any, scan_table: tuple[str, list[Item]], segment: int, total: int
) -> None:
    table, _ = scan_table
    expect_error(
        lambda: ddb.scan(TableName=table, Segment=segment, TotalSegments=total),
        "ValidationException",
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
        f"Segment: {segment} is not less than TotalSegments: {total}",
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"Segment": 0, "TotalSegments": 0}, "Value '0' at 'totalSegments' failed to satisfy constraint: Member must have value greater than or equal to 1"),
        ({"Segment": 0, "TotalSegments": 1000001}, "Value '1000001' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000"),
    ],
)
def test_total_segments_range(raw_ddb: Any, scan_table: tuple[str, list[Item]], kw: dict[str, int], message: str) -> None:
    table, _ = scan_table
    expect_error(lambda: raw_ddb.scan(TableName=table, **kw), "ValidationException", "1 validation error detected: " + message)


@pytest.mark.parametrize("total", [2, 3, 50])
def test_exclusive_start_key_outside_the_segment(ddb: Any, scan_table: tuple[str, list[Item]], total: int) -> None:
    table, _ = scan_table
    # a key a segment returned as its LastEvaluatedKey, handed to every other segment
    owner, key = next(
        (segment, page["LastEvaluatedKey"])
        for segment in range(total)
        for page in [ddb.scan(TableName=table, Segment=segment, TotalSegments=total, Limit=1)]
        if page["Items"]
    )
    # inside its own segment it is a valid place to resume
    ddb.scan(TableName=table, Segment=owner, TotalSegments=total, ExclusiveStartKey=key)
    for segment in range(total):
        if segment == owner:
            continue
        expect_error(
            partial(ddb.scan, TableName=table, Segment=segment, TotalSegments=total, ExclusiveStartKey=key),
            "ValidationException",
            "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with "
            f"correct Segment. TotalSegments: {total} Segment: {segment}",
        )
