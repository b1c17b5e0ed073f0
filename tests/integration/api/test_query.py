"""Query through boto3: key conditions and sort orders, paging, filters, projections, Select.

Expected behaviour and texts are DynamoDB's own: the Developer Guide's Query and
expression pages, Alternator's test_query.py / test_key_condition_expression.py
and dynalite's query suite (both run against the real service), and moto's AWS-verified
Select tests (which show Query wrapping Select errors in "1 validation error detected: ").
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.api.conftest import TableFactory
from tests.integration.api.reads_support import Item, b, items_of, n, pages, put_all, s
from tests.integration.api.support import create_table, expect_error, unique

pytestmark = pytest.mark.integration

ONE_ERROR = "1 validation error detected: "

# Numbers whose string order differs from their numeric order (10 < 2 < 100 as strings),
# with negatives and decimals; any lexicographic or float-rounding order shows up.
NUMBERS = [
    "-1000", "-100", "-10", "-2.5", "-2", "-1", "-0.001", "0", "0.0001", "0.5", "1",
    "1." + "0" * 36 + "1", "2", "2.5", "10", "99.99", "100", "1000",
    "12345678901234567890123456789012345678",
]  # fmt: skip

# Code-point order (= UTF-8 byte order), never UTF-16 or a locale: "a" > "A", "¿" > "z",
# and U+1F600 (a surrogate pair in UTF-16, so "smaller" there) > U+FF5A (fullwidth z).
STRINGS = ["A", "B", "Z", "a", "aa", "ab", "abc", "b", "z", "¿", "é", "éa", "中", "\uff5a", "😀"]

# Unsigned byte order: 0x80 and 0xff sort after 0x7f (signed bytes would put them first).
BINARIES = [b"\x00", b"\x00\xff", b"\x01", b"\x7f", b"\x80", b"\x80\x00", b"\xfe", b"\xff", b"\xff\x00", b"\xff\xff"]


def _query(ddb: Any, table: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = ddb.query(TableName=table, **kw)
    return out


def _sorted_numbers() -> list[str]:
    return sorted(NUMBERS, key=Decimal)


@pytest.fixture(scope="module")
def numbers_table(ddb: Any) -> Any:
    """One partition "k" holding every NUMBERS sort key (written in random order), plus a
    neighbour partition that no Query of "k" may return."""
    name = unique("q-num")
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    shuffled = random.sample(NUMBERS, len(NUMBERS))
    put_all(ddb, name, [{"p": s("k"), "s": n(v), "v": s(v)} for v in shuffled])
    put_all(ddb, name, [{"p": s("other"), "s": n(v)} for v in ("0", "1", "5")])
    yield name
    ddb.delete_table(TableName=name)


def _sks(items: list[Item], attr: str = "s") -> list[str]:
    return [next(iter(i[attr].values())) for i in items]


# --------------------------------------------------------------------------- N sort keys


def test_number_sort_keys_come_back_in_numeric_order(ddb: Any, numbers_table: str) -> None:
    got = _query(ddb, numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")})
    assert _sks(got["Items"]) == _sorted_numbers()
    assert got["Count"] == got["ScannedCount"] == len(NUMBERS)
    assert "LastEvaluatedKey" not in got


def test_number_sort_keys_reverse(ddb: Any, numbers_table: str) -> None:
    got = _query(
        ddb, numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        ScanIndexForward=False,
    )
    assert _sks(got["Items"]) == list(reversed(_sorted_numbers()))


@pytest.mark.parametrize(
    ("condition", "values", "keep"),
    [
        ("s = :a", {":a": "2"}, lambda x: x == Decimal(2)),
        ("s = :a", {":a": "2.50"}, lambda x: x == Decimal("2.5")),  # numeric equality, not textual
        ("s < :a", {":a": "2"}, lambda x: x < 2),
        ("s <= :a", {":a": "2"}, lambda x: x <= 2),
        ("s > :a", {":a": "2"}, lambda x: x > 2),
        ("s >= :a", {":a": "-2"}, lambda x: x >= -2),
        ("s > :a", {":a": "-1.5"}, lambda x: x > Decimal("-1.5")),
        ("s < :a", {":a": "0"}, lambda x: x < 0),
        ("s BETWEEN :a AND :b", {":a": "-2", ":b": "10"}, lambda x: -2 <= x <= 10),
        ("s BETWEEN :a AND :b", {":a": "0.0001", ":b": "0.5"}, lambda x: Decimal("0.0001") <= x <= Decimal("0.5")),
        ("s BETWEEN :a AND :b", {":a": "3", ":b": "9"}, lambda x: False),
        # operands reversed: ":a < s" is "s > :a"
        (":a < s", {":a": "10"}, lambda x: x > 10),
        (":a >= s", {":a": "-10"}, lambda x: x <= -10),
        ("(s <= :a)", {":a": "1"}, lambda x: x <= 1),
    ],
)
def test_number_sort_key_operators(
    ddb: Any, numbers_table: str, condition: str, values: dict[str, str], keep: Any
) -> None:
    attr_values = {k: n(v) for k, v in values.items()} | {":p": s("k")}
    expected = [v for v in _sorted_numbers() if keep(Decimal(v))]
    for forward in (True, False):
        got = _query(
            ddb, numbers_table, KeyConditionExpression=f"p = :p AND {condition}",
            ExpressionAttributeValues=attr_values, ScanIndexForward=forward,
        )
        assert _sks(got["Items"]) == (expected if forward else expected[::-1])
        assert got["ScannedCount"] == len(expected)


def test_number_sort_key_written_in_another_form_is_the_same_key(ddb: Any, make_table: TableFactory) -> None:
    table = make_table(("p", "S"), ("s", "N"))
    put_all(ddb, table, [{"p": s("k"), "s": n("1e3"), "v": s("first")}])
    ddb.put_item(TableName=table, Item={"p": s("k"), "s": n("1000.0"), "v": s("second")})
    got = _query(ddb, table, KeyConditionExpression="p = :p AND s = :s", ExpressionAttributeValues={":p": s("k"), ":s": n("0001000")})
    assert got["Items"] == [{"p": s("k"), "s": n("1000"), "v": s("second")}]


# --------------------------------------------------------------------------- S sort keys


@pytest.fixture(scope="module")
def strings_table(ddb: Any) -> Any:
    name = unique("q-str")
    create_table(ddb, name, ("p", "S"), ("s", "S"))
    put_all(ddb, name, [{"p": s("k"), "s": s(v)} for v in random.sample(STRINGS, len(STRINGS))])
    yield name
    ddb.delete_table(TableName=name)


def test_string_sort_keys_in_utf8_byte_order(ddb: Any, strings_table: str) -> None:
    got = _query(ddb, strings_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")})
    expected = sorted(STRINGS, key=lambda v: v.encode("utf-8"))
    assert _sks(got["Items"]) == expected
    # the orders that would be wrong, spelled out
    assert expected.index("a") > expected.index("A")
    assert expected.index("¿") > expected.index("z")
    assert expected.index("😀") > expected.index("\uff5a")


@pytest.mark.parametrize(
    ("condition", "values", "keep"),
    [
        ("s = :a", {":a": "é"}, lambda x: x == "é"),
        ("s < :a", {":a": "a"}, lambda x: x < "a"),
        ("s <= :a", {":a": "ab"}, lambda x: x <= "ab"),
        ("s > :a", {":a": "z"}, lambda x: x > "z"),
        ("s >= :a", {":a": "¿"}, lambda x: x >= "¿"),
        ("s BETWEEN :a AND :b", {":a": "Z", ":b": "b"}, lambda x: "Z" <= x <= "b"),
        ("begins_with(s, :a)", {":a": "a"}, lambda x: x.startswith("a")),
        ("begins_with(s, :a)", {":a": "ab"}, lambda x: x.startswith("ab")),
        ("begins_with(s, :a)", {":a": "é"}, lambda x: x.startswith("é")),
        ("begins_with(s, :a)", {":a": "A"}, lambda x: x.startswith("A")),  # case-sensitive
        ("begins_with(s, :a)", {":a": "q"}, lambda x: False),
    ],
)
def test_string_sort_key_operators(
    ddb: Any, strings_table: str, condition: str, values: dict[str, str], keep: Any
) -> None:
    attr_values = {k: s(v) for k, v in values.items()} | {":p": s("k")}
    expected = [v for v in sorted(STRINGS) if keep(v)]
    got = _query(ddb, strings_table, KeyConditionExpression=f"p = :p AND {condition}", ExpressionAttributeValues=attr_values)
    assert _sks(got["Items"]) == expected


# --------------------------------------------------------------------------- B sort keys


@pytest.fixture(scope="module")
def binaries_table(ddb: Any) -> Any:
    name = unique("q-bin")
    create_table(ddb, name, ("p", "S"), ("s", "B"))
    put_all(ddb, name, [{"p": s("k"), "s": b(v)} for v in random.sample(BINARIES, len(BINARIES))])
    yield name
    ddb.delete_table(TableName=name)


def _bins(items: list[Item]) -> list[bytes]:
    return [i["s"]["B"] for i in items]


def test_binary_sort_keys_in_unsigned_byte_order(ddb: Any, binaries_table: str) -> None:
    got = _query(ddb, binaries_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")})
    assert _bins(got["Items"]) == sorted(BINARIES)
    rev = _query(
        ddb, binaries_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        ScanIndexForward=False,
    )
    assert _bins(rev["Items"]) == sorted(BINARIES, reverse=True)


@pytest.mark.parametrize(
    ("condition", "values", "keep"),
    [
        ("s = :a", {":a": b"\x80"}, lambda x: x == b"\x80"),
        ("s < :a", {":a": b"\x80"}, lambda x: x < b"\x80"),
        ("s <= :a", {":a": b"\x7f"}, lambda x: x <= b"\x7f"),
        ("s > :a", {":a": b"\x7f"}, lambda x: x > b"\x7f"),
        ("s >= :a", {":a": b"\xff"}, lambda x: x >= b"\xff"),
        ("s BETWEEN :a AND :b", {":a": b"\x01", ":b": b"\xfe"}, lambda x: b"\x01" <= x <= b"\xfe"),
        ("begins_with(s, :a)", {":a": b"\x00"}, lambda x: x.startswith(b"\x00")),
        ("begins_with(s, :a)", {":a": b"\x80"}, lambda x: x.startswith(b"\x80")),
        # a prefix of 0xff bytes has no "next prefix": the range must run to the end
        ("begins_with(s, :a)", {":a": b"\xff"}, lambda x: x.startswith(b"\xff")),
        ("begins_with(s, :a)", {":a": b"\xff\xff"}, lambda x: x.startswith(b"\xff\xff")),
    ],
)
def test_binary_sort_key_operators(
    ddb: Any, binaries_table: str, condition: str, values: dict[str, bytes], keep: Any
) -> None:
    attr_values: dict[str, Any] = {k: b(v) for k, v in values.items()} | {":p": s("k")}
    expected = [v for v in sorted(BINARIES) if keep(v)]
    got = _query(ddb, binaries_table, KeyConditionExpression=f"p = :p AND {condition}", ExpressionAttributeValues=attr_values)
    assert _bins(got["Items"]) == expected


# --------------------------------------------------------------------------- Limit and paging


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 18, 19, 20, 100])
@pytest.mark.parametrize("forward", [True, False])
def test_paging_with_limit_returns_every_item_once_in_order(
    ddb: Any, numbers_table: str, limit: int, forward: bool
) -> None:
    got = pages(
        ddb.query, TableName=numbers_table, KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": s("k")}, Limit=limit, ScanIndexForward=forward,
    )
    expected = _sorted_numbers() if forward else _sorted_numbers()[::-1]
    assert _sks(items_of(got)) == expected
    for page in got[:-1]:
        assert page["Count"] == page["ScannedCount"] == limit
        # the LastEvaluatedKey is exactly the key of the page's last item
        assert page["LastEvaluatedKey"] == {"p": s("k"), "s": page["Items"][-1]["s"]}
    # a Limit that is a divisor of the item count stops exactly at the end: that page
    # still carries a LastEvaluatedKey, and the next one is empty and has none
    if len(NUMBERS) % limit == 0:
        assert got[-1]["Count"] == 0 and got[-1]["Items"] == []
    assert "LastEvaluatedKey" not in got[-1]


def test_limit_stopping_at_the_very_end_still_returns_last_evaluated_key(ddb: Any, numbers_table: str) -> None:
    got = _query(
        ddb, numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        Limit=len(NUMBERS),
    )
    assert got["Count"] == len(NUMBERS)
    last = _sorted_numbers()[-1]
    assert got["LastEvaluatedKey"] == {"p": s("k"), "s": n(last)}
    rest = _query(
        ddb, numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        Limit=len(NUMBERS), ExclusiveStartKey=got["LastEvaluatedKey"],
    )
    assert rest["Items"] == [] and rest["Count"] == rest["ScannedCount"] == 0
    assert "LastEvaluatedKey" not in rest


def test_no_last_evaluated_key_when_the_partition_is_exhausted(ddb: Any, numbers_table: str) -> None:
    got = _query(
        ddb, numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        Limit=len(NUMBERS) + 1,
    )
    assert got["Count"] == len(NUMBERS)
    assert "LastEvaluatedKey" not in got
    empty = _query(ddb, numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("none")})
    assert empty["Items"] == [] and empty["Count"] == empty["ScannedCount"] == 0
    assert "LastEvaluatedKey" not in empty


def test_paging_within_a_key_range(ddb: Any, numbers_table: str) -> None:
    got = pages(
        ddb.query, TableName=numbers_table, KeyConditionExpression="p = :p AND s BETWEEN :lo AND :hi",
        ExpressionAttributeValues={":p": s("k"), ":lo": n("-2"), ":hi": n("100")}, Limit=2,
    )
    assert _sks(items_of(got)) == [v for v in _sorted_numbers() if -2 <= Decimal(v) <= 100]


def test_exclusive_start_key_need_not_exist(ddb: Any, numbers_table: str) -> None:
    got = _query(
        ddb, numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        ExclusiveStartKey={"p": s("k"), "s": n("3")},
    )
    assert _sks(got["Items"]) == [v for v in _sorted_numbers() if Decimal(v) > 3]
    rev = _query(
        ddb, numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        ExclusiveStartKey={"p": s("k"), "s": n("3")}, ScanIndexForward=False,
    )
    assert _sks(rev["Items"]) == [v for v in _sorted_numbers()[::-1] if Decimal(v) < 3]


@pytest.mark.parametrize("page_size", [1, 4, 50])
def test_boto3_paginator(ddb: Any, numbers_table: str, page_size: int) -> None:
    paginator = ddb.get_paginator("query")
    got = list(
        paginator.paginate(
            TableName=numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
            PaginationConfig={"PageSize": page_size},
        )
    )
    assert _sks(items_of(got)) == _sorted_numbers()
    assert all(len(p["Items"]) <= page_size for p in got)
    whole = paginator.paginate(
        TableName=numbers_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        PaginationConfig={"PageSize": page_size},
    ).build_full_result()
    assert _sks(whole["Items"]) == _sorted_numbers()


# --------------------------------------------------------------------------- 1 MB pages


@pytest.fixture(scope="module")
def big_table(ddb: Any) -> Any:
    """About 1.2 MB in one partition key: twelve items of 100 KB."""
    name = unique("q-big")
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    put_all(ddb, name, [{"p": s("k"), "s": n(i), "blob": s("x" * 100_000)} for i in range(12)], workers=4)
    yield name
    ddb.delete_table(TableName=name)


def test_page_stops_at_one_megabyte(ddb: Any, big_table: str) -> None:
    got = pages(ddb.query, TableName=big_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")})
    assert len(got) >= 2
    first = got[0]
    # ten items (1,000,000 bytes of values) fit in 1 MB, twelve do not
    assert 10 <= first["Count"] < 12
    assert first["LastEvaluatedKey"] == {"p": s("k"), "s": first["Items"][-1]["s"]}
    assert [int(i["s"]["N"]) for i in items_of(got)] == list(range(12))
    assert "LastEvaluatedKey" not in got[-1]


def test_one_megabyte_is_measured_before_the_filter(ddb: Any, big_table: str) -> None:
    got = _query(
        ddb, big_table, KeyConditionExpression="p = :p", FilterExpression="attribute_exists(nothing)",
        ExpressionAttributeValues={":p": s("k")},
    )
    # nothing matched, yet the page still stopped on the bytes it read
    assert got["Count"] == 0 and got["Items"] == []
    assert 10 <= got["ScannedCount"] < 12
    assert "LastEvaluatedKey" in got


def test_one_megabyte_applies_to_select_count_and_projections(ddb: Any, big_table: str) -> None:
    for extra in ({"Select": "COUNT"}, {"ProjectionExpression": "s"}):
        got = _query(ddb, big_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")}, **extra)
        assert 10 <= got["ScannedCount"] < 12
        assert "LastEvaluatedKey" in got


# --------------------------------------------------------------------------- FilterExpression


@pytest.fixture(scope="module")
def filter_table(ddb: Any) -> Any:
    """Partition "k" with sort keys 0..19; "even" only on even ones, "tag" 0..4 cycling."""
    name = unique("q-flt")
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    items = []
    for i in range(20):
        item: Item = {"p": s("k"), "s": n(i), "tag": n(i % 5)}
        if i % 2 == 0:
            item["even"] = {"BOOL": True}
        items.append(item)
    put_all(ddb, name, items)
    yield name
    ddb.delete_table(TableName=name)


def test_filter_is_applied_after_limit(ddb: Any, filter_table: str) -> None:
    got = _query(
        ddb, filter_table, KeyConditionExpression="p = :p", FilterExpression="attribute_exists(even)",
        ExpressionAttributeValues={":p": s("k")}, Limit=5,
    )
    # Limit counts items read (0..4); the filter keeps 0, 2, 4 of them
    assert got["ScannedCount"] == 5
    assert got["Count"] == 3
    assert _sks(got["Items"]) == ["0", "2", "4"]
    assert got["LastEvaluatedKey"] == {"p": s("k"), "s": n(4)}


def test_filtered_page_can_be_empty_and_still_carry_last_evaluated_key(ddb: Any, filter_table: str) -> None:
    got = _query(
        ddb, filter_table, KeyConditionExpression="p = :p", FilterExpression="tag = :t",
        ExpressionAttributeValues={":p": s("k"), ":t": n(4)}, Limit=3,
    )
    assert got["Items"] == [] and got["Count"] == 0 and got["ScannedCount"] == 3
    assert got["LastEvaluatedKey"] == {"p": s("k"), "s": n(2)}


def test_filter_paging_gives_every_match_once(ddb: Any, filter_table: str) -> None:
    got = pages(
        ddb.query, TableName=filter_table, KeyConditionExpression="p = :p", FilterExpression="tag = :t",
        ExpressionAttributeValues={":p": s("k"), ":t": n(4)}, Limit=3,
    )
    assert _sks(items_of(got)) == ["4", "9", "14", "19"]
    assert sum(p["ScannedCount"] for p in got) == 20
    assert sum(p["Count"] for p in got) == 4


def test_filter_with_select_count(ddb: Any, filter_table: str) -> None:
    got = _query(
        ddb, filter_table, KeyConditionExpression="p = :p", FilterExpression="even = :t",
        ExpressionAttributeValues={":p": s("k"), ":t": {"BOOL": True}}, Select="COUNT",
    )
    assert "Items" not in got
    assert got["Count"] == 10 and got["ScannedCount"] == 20


@pytest.mark.parametrize("expr", ["s > :v", "p = :v", "attribute_exists(s)", "tag = :v OR s = :v", "#k = :v"])
def test_filter_on_a_key_attribute_is_rejected(ddb: Any, filter_table: str, expr: str) -> None:
    values: dict[str, Any] = {":p": s("k")}
    if ":v" in expr:
        values[":v"] = s("k") if expr.startswith("p") else n(1)
    kw: dict[str, Any] = {"ExpressionAttributeNames": {"#k": "s"}} if "#k" in expr else {}
    key = "p" if expr.startswith("p") else "s"
    expect_error(
        lambda: _query(ddb, filter_table, KeyConditionExpression="p = :p", FilterExpression=expr, ExpressionAttributeValues=values, **kw),
        "ValidationException",
        f"Filter Expression can only contain non-primary key attributes: Primary key attribute: {key}",
    )


# --------------------------------------------------------------------------- projection and Select


@pytest.fixture(scope="module")
def doc_table(ddb: Any) -> Any:
    name = unique("q-doc")
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    doc = {
        "p": s("k"), "s": n(1), "top": s("t"),
        "m": {"M": {"a": {"L": [s("zero"), s("one"), {"M": {"deep": n(7)}}]}, "b": s("bee"), "c": n(3)}},
        "a.b": s("dotted"),
    }  # fmt: skip
    put_all(ddb, name, [doc, {"p": s("k"), "s": n(2), "top": s("u")}])
    yield name
    ddb.delete_table(TableName=name)


def test_projection_with_nested_paths_and_names(ddb: Any, doc_table: str) -> None:
    got = _query(
        ddb, doc_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        ProjectionExpression="m.a[1], m.a[2].deep, #d, m.c, nothing, #t",
        ExpressionAttributeNames={"#d": "a.b", "#t": "top"},
    )
    assert got["Items"] == [
        {
            "m": {"M": {"a": {"L": [s("one"), {"M": {"deep": n(7)}}]}, "c": n(3)}},
            "a.b": s("dotted"),
            "top": s("t"),
        },
        # keys are not added; an item with none of the paths is still returned, empty-ish
        {"top": s("u")},
    ]
    assert got["Count"] == 2


def test_projection_of_no_existing_attribute_gives_empty_items(ddb: Any, doc_table: str) -> None:
    got = _query(
        ddb, doc_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
        ProjectionExpression="nothing",
    )
    assert got["Items"] == [{}, {}]


def test_select_variants(ddb: Any, doc_table: str) -> None:
    base: dict[str, Any] = {"KeyConditionExpression": "p = :p", "ExpressionAttributeValues": {":p": s("k")}}
    full = _query(ddb, doc_table, **base)
    assert _query(ddb, doc_table, Select="ALL_ATTRIBUTES", **base)["Items"] == full["Items"]
    assert full["Items"][0]["top"] == s("t") and "m" in full["Items"][0]
    count = _query(ddb, doc_table, Select="COUNT", **base)
    assert "Items" not in count and count["Count"] == count["ScannedCount"] == 2
    specific = _query(ddb, doc_table, Select="SPECIFIC_ATTRIBUTES", ProjectionExpression="top, s", **base)
    assert specific["Items"] == [{"top": s("t"), "s": n(1)}, {"top": s("u"), "s": n(2)}]


@pytest.mark.parametrize(
    ("select", "projection", "message"),
    [
        ("SPECIFIC_ATTRIBUTES", None, "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"),
        ("COUNT", "top", "Cannot specify the ProjectionExpression when choosing to get only the Count"),
        ("ALL_ATTRIBUTES", "top", "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"),
        ("ALL_PROJECTED_ATTRIBUTES", None, "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
    ],
)
def test_invalid_select_combinations(
    ddb: Any, doc_table: str, select: str, projection: str | None, message: str
) -> None:
    kw: dict[str, Any] = {"ProjectionExpression": projection} if projection else {}
    expect_error(
        lambda: _query(
            ddb, doc_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
            Select=select, **kw,
        ),
        "ValidationException",
        ONE_ERROR + message,
    )


def test_select_enum(ddb: Any, doc_table: str) -> None:
    expect_error(
        lambda: _query(
            ddb, doc_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")}, Select="count"
        ),
        "ValidationException",
        "1 validation error detected: Value 'count' at 'select' failed to satisfy constraint: "
        "Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]",
    )


# --------------------------------------------------------------------------- key condition errors


@pytest.fixture(scope="module")
def plain_table(ddb: Any) -> Any:
    name = unique("q-kc")
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    put_all(ddb, name, [{"p": s("k"), "s": n(1), "x": s("v")}])
    yield name
    ddb.delete_table(TableName=name)


INVALID_KC = "Invalid KeyConditionExpression: "


@pytest.mark.parametrize(
    ("expr", "values", "message"),
    [
        ("s = :n", {":n": n(1)}, "Query condition missed key schema element: p"),
        ("x = :x", {":x": s("v")}, "Query condition missed key schema element: p"),
        ("p = :p AND x = :x", {":p": s("k"), ":x": s("v")}, "Query condition missed key schema element: s"),
        ("p = :p OR s = :n", {":p": s("k"), ":n": n(1)}, INVALID_KC + "Invalid operator used in KeyConditionExpression: OR"),
        ("p = :p AND s <> :n", {":p": s("k"), ":n": n(1)}, INVALID_KC + "Invalid operator used in KeyConditionExpression: <>"),
        ("p = :p AND s IN (:n)", {":p": s("k"), ":n": n(1)}, INVALID_KC + "Invalid operator used in KeyConditionExpression: IN"),
        ("p = :p AND NOT s = :n", {":p": s("k"), ":n": n(1)}, INVALID_KC + "Invalid operator used in KeyConditionExpression: NOT"),
        ("p = :p AND p = :p", {":p": s("k")}, INVALID_KC + "KeyConditionExpressions must only contain one condition per key"),
        ("p = :p AND s > :n AND s < :m", {":p": s("k"), ":n": n(1), ":m": n(5)}, INVALID_KC + "KeyConditionExpressions must only contain one condition per key"),
        ("p = :n", {":n": n(1)}, "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ("p = :p AND s = :x", {":p": s("k"), ":x": s("1")}, "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ("p = :p AND s BETWEEN :n AND :x", {":p": s("k"), ":n": n(1), ":x": s("9")}, None),
        ("p = :p AND begins_with(s, :n)", {":p": s("k"), ":n": n(1)}, INVALID_KC + "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ("p < :p", {":p": s("k")}, "Query key condition not supported"),
        ("begins_with(p, :p)", {":p": s("k")}, "Query key condition not supported"),
        ("p = :p AND attribute_exists(s)", {":p": s("k")}, INVALID_KC + "Invalid operator used in KeyConditionExpression: attribute_exists"),
        ("p = :p AND m.s = :n", {":p": s("k"), ":n": n(1)}, INVALID_KC + "KeyConditionExpressions cannot have conditions on nested attributes"),
    ],
)
def test_key_condition_errors(ddb: Any, plain_table: str, expr: str, values: dict[str, Any], message: str | None) -> None:
    expect_error(
        lambda: _query(ddb, plain_table, KeyConditionExpression=expr, ExpressionAttributeValues=values),
        "ValidationException",
        message,
    )


def test_key_condition_missing(raw_ddb: Any, plain_table: str) -> None:
    expect_error(
        lambda: raw_ddb.query(TableName=plain_table),
        "ValidationException",
        "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
    )


def test_key_condition_accepts_names_parentheses_and_keyword_case(ddb: Any, numbers_table: str) -> None:
    got = _query(
        ddb, numbers_table, KeyConditionExpression="((#s bEtWeEn :lo aNd :hi) and (:p = #p))",
        ExpressionAttributeNames={"#p": "p", "#s": "s"},
        ExpressionAttributeValues={":p": s("k"), ":lo": n(-1), ":hi": n(1)},
    )
    assert _sks(got["Items"]) == [v for v in _sorted_numbers() if -1 <= Decimal(v) <= 1]


def test_query_missing_table(ddb: Any) -> None:
    expect_error(
        lambda: _query(ddb, "no-such-table-q", KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")}),
        "ResourceNotFoundException",
    )


# --------------------------------------------------------------------------- ExclusiveStartKey errors


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ({"p": s("other"), "s": n(1)}, "The provided starting key is outside query boundaries based on provided conditions"),
        # a missing or extra attribute: DynamoDB's bare text (dynalite's query tests)
        ({"p": s("k")}, "The provided starting key is invalid"),
        ({"p": s("k"), "s": s("1")}, "The provided starting key is invalid: The provided key element does not match the schema"),
        ({"p": s("k"), "s": n(1), "x": s("v")}, "The provided starting key is invalid"),
    ],
)
def test_exclusive_start_key_errors(ddb: Any, plain_table: str, start: Item, message: str) -> None:
    expect_error(
        lambda: _query(
            ddb, plain_table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": s("k")},
            ExclusiveStartKey=start,
        ),
        "ValidationException",
        message,
    )


# --------------------------------------------------------------------------- hash-only tables


def test_hash_only_table(ddb: Any, make_table: TableFactory) -> None:
    table = make_table(("p", "N"))
    put_all(ddb, table, [{"p": n(i), "v": n(i * 10)} for i in range(5)])
    got = _query(ddb, table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": n("3.0")})
    assert got["Items"] == [{"p": n(3), "v": n(30)}]
    assert got["Count"] == got["ScannedCount"] == 1
    assert "LastEvaluatedKey" not in got
    # stopping on Limit returns a LastEvaluatedKey even though nothing can follow
    limited = _query(ddb, table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": n(3)}, Limit=1)
    assert limited["LastEvaluatedKey"] == {"p": n(3)}
    rest = _query(
        ddb, table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": n(3)}, Limit=1,
        ExclusiveStartKey=limited["LastEvaluatedKey"],
    )
    assert rest["Count"] == 0 and "LastEvaluatedKey" not in rest
    missing = _query(ddb, table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": n(9)})
    assert missing["Items"] == [] and missing["Count"] == 0


def test_hash_only_table_rejects_sort_key_conditions(ddb: Any, make_table: TableFactory) -> None:
    table = make_table(("p", "S"))
    expect_error(
        lambda: _query(ddb, table, KeyConditionExpression="p = :p AND x = :x", ExpressionAttributeValues={":p": s("k"), ":x": s("v")}),
        "ValidationException",
    )
    expect_error(
        lambda: _query(ddb, table, KeyConditionExpression="p = :p", FilterExpression="p = :p", ExpressionAttributeValues={":p": s("k")}),
        "ValidationException",
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: p",
    )
