"""BatchGetItem and BatchWriteItem through boto3 (client, resource ``batch_writer``/``Table``).

Expected texts are DynamoDB's: dynalite's test/batchGetItem.js and test/batchWriteItem.js
(recorded against the service), Alternator's test_batch.py and the botocore model.
Results are compared as sets: DynamoDB returns batch items in any order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.api.conftest import TableFactory
from tests.integration.api.support import VALIDATE_NS, error_of, expect_error, post

pytestmark = pytest.mark.integration

DUPLICATES = "Provided list of item keys contains duplicates"
NO_MATCH = "The provided key element does not match the schema"
MAP_KEYS = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 255, "
    "Member must have length greater than or equal to 3, "
    "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+]"
)
WRITE_LIST = (
    "Map value must satisfy constraint: [Member must have length less than or equal to 25, "
    "Member must have length greater than or equal to 1]"
)


def s(v: str) -> dict[str, str]:
    return {"S": v}


def n(v: str) -> dict[str, str]:
    return {"N": v}


def put(item: dict[str, Any]) -> dict[str, Any]:
    return {"PutRequest": {"Item": item}}


def delete(key: dict[str, Any]) -> dict[str, Any]:
    return {"DeleteRequest": {"Key": key}}


def get(ddb: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item


def by_key(items: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda i: tuple(str(i[k]) for k in names))


def constraint(value_re: str, member: str, text: str) -> Callable[[str], bool]:
    pattern = re.compile(
        rf"1 validation error detected: Value '{value_re}' at '{re.escape(member)}' "
        rf"failed to satisfy constraint: {re.escape(text)}"
    )
    return lambda message: pattern.fullmatch(message) is not None


# =========================================================================== BatchWriteItem


def test_batch_writer_puts_then_deletes(ddb_resource: Any, ddb: Any, make_table: TableFactory) -> None:
    name = make_table(range_=("c", "N"))
    t = ddb_resource.Table(name)
    items = [{"p": f"p{i % 3}", "c": Decimal(i), "v": f"v{i}"} for i in range(30)]
    # 30 puts: batch_writer sends them as 25 + 5
    with t.batch_writer() as writer:
        for item in items:
            writer.put_item(Item=item)
    for item in items:
        assert t.get_item(Key={"p": item["p"], "c": item["c"]}, ConsistentRead=True)["Item"] == item
    with t.batch_writer() as writer:
        for item in items[:20]:
            writer.delete_item(Key={"p": item["p"], "c": item["c"]})
    for item in items[:20]:
        assert "Item" not in t.get_item(Key={"p": item["p"], "c": item["c"]}, ConsistentRead=True)
    for item in items[20:]:
        assert "Item" in t.get_item(Key={"p": item["p"], "c": item["c"]}, ConsistentRead=True)


def test_batch_write_mixed_multiple_tables(ddb: Any, make_table: TableFactory) -> None:
    a = make_table()
    b = make_table(("k", "N"), ("r", "S"))
    ddb.put_item(TableName=a, Item={"p": s("old"), "x": s("1")})
    out = ddb.batch_write_item(
        RequestItems={
            a: [put({"p": s("new"), "x": s("2")}), delete({"p": s("old")})],
            b: [put({"k": n("7"), "r": s("r"), "y": s("b")})],
        }
    )
    assert out["UnprocessedItems"] == {}
    assert get(ddb, a, {"p": s("old")}) is None
    assert get(ddb, a, {"p": s("new")}) == {"p": s("new"), "x": s("2")}
    assert get(ddb, b, {"k": n("7"), "r": s("r")}) == {"k": n("7"), "r": s("r"), "y": s("b")}


def test_batch_write_same_key_in_two_tables_is_not_a_duplicate(ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.batch_write_item(RequestItems={a: [put({"p": s("k"), "t": s("a")})], b: [put({"p": s("k"), "t": s("b")})]})
    assert get(ddb, a, {"p": s("k")}) == {"p": s("k"), "t": s("a")}
    assert get(ddb, b, {"p": s("k")}) == {"p": s("k"), "t": s("b")}


def test_batch_write_put_replaces_whole_item(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": s("k"), "a": s("1"), "b": s("2")})
    ddb.batch_write_item(RequestItems={table: [put({"p": s("k"), "c": s("3")})]})
    assert get(ddb, table, {"p": s("k")}) == {"p": s("k"), "c": s("3")}


def test_batch_write_numbers_come_back_canonical(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("k", "N"))
    ddb.batch_write_item(RequestItems={t: [put({"k": n("1E+3"), "v": n("01.50")})]})
    assert get(ddb, t, {"k": n("1000")}) == {"k": n("1000"), "v": n("1.5")}


@pytest.mark.parametrize(
    "requests",
    [
        [put({"p": s("d")}), put({"p": s("d"), "x": s("1")})],
        [delete({"p": s("d")}), delete({"p": s("d")})],
        [put({"p": s("d")}), delete({"p": s("d")})],
        [delete({"p": s("d")}), put({"p": s("d")})],
    ],
    ids=["put-put", "delete-delete", "put-delete", "delete-put"],
)
def test_batch_write_two_operations_on_one_key(ddb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    expect_error(lambda: ddb.batch_write_item(RequestItems={table: [put({"p": s("other")}), *requests]}), "ValidationException", DUPLICATES)
    assert get(ddb, table, {"p": s("other")}) is None


def test_batch_write_duplicate_numbers_compare_canonically(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("k", "N"), ("r", "N"))
    expect_error(
        lambda: ddb.batch_write_item(RequestItems={t: [put({"k": n("1e3"), "r": n("0.5")}), delete({"k": n("1000"), "r": n("5E-1")})]}),
        "ValidationException",
        DUPLICATES,
    )
    # one key attribute equal is not a duplicate
    ddb.batch_write_item(RequestItems={t: [put({"k": n("1e3"), "r": n("1")}), put({"k": n("1000"), "r": n("2")})]})
    assert get(ddb, t, {"k": n("1000"), "r": n("1")}) is not None
    assert get(ddb, t, {"k": n("1000"), "r": n("2")}) is not None


def test_batch_write_25_requests_is_the_limit(ddb: Any, raw_ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.batch_write_item(RequestItems={a: [put({"p": s(f"k{i}")}) for i in range(25)]})
    assert all(get(ddb, a, {"p": s(f"k{i}")}) for i in range(25))
    # 26 in one table: the list's length constraint (dynalite, Alternator)
    err = expect_error(
        lambda: raw_ddb.batch_write_item(RequestItems={b: [put({"p": s(f"k{i}")}) for i in range(26)]}),
        "ValidationException",
    )
    assert constraint(r"\{.+\}", "requestItems", WRITE_LIST)(err.response["Error"]["Message"])
    # 13 + 13 over two tables
    expect_error(
        lambda: raw_ddb.batch_write_item(
            RequestItems={
                a: [delete({"p": s(f"k{i}")}) for i in range(13)],
                b: [put({"p": s(f"k{i}")}) for i in range(13)],
            }
        ),
        "ValidationException",
        "Too many items requested for the BatchWriteItem call",
    )
    assert get(ddb, a, {"p": s("k0")}) is not None  # the rejected call deleted nothing
    assert get(ddb, b, {"p": s("k0")}) is None  # and wrote nothing


def test_batch_write_empty_request_items(raw_ddb: Any) -> None:
    expect_error(
        lambda: raw_ddb.batch_write_item(RequestItems={}),
        "ValidationException",
        "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )


def test_batch_write_empty_list_for_a_table(raw_ddb: Any, table: str) -> None:
    err = expect_error(lambda: raw_ddb.batch_write_item(RequestItems={table: []}), "ValidationException")
    assert constraint(r"\{.+\}", "requestItems", WRITE_LIST)(err.response["Error"]["Message"])


def test_batch_write_bad_table_name(raw_ddb: Any) -> None:
    err = expect_error(lambda: raw_ddb.batch_write_item(RequestItems={"a": [put({"a": s("a")})]}), "ValidationException")
    assert constraint(r"\{.+\}", "requestItems", MAP_KEYS)(err.response["Error"]["Message"])


def test_batch_write_request_without_put_or_delete(raw_ddb: Any, table: str) -> None:
    message = "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
    expect_error(lambda: raw_ddb.batch_write_item(RequestItems={table: [{}]}), "ValidationException", message)
    both = {"PutRequest": {"Item": {"p": s("x")}}, "DeleteRequest": {"Key": {"p": s("x")}}}
    expect_error(lambda: raw_ddb.batch_write_item(RequestItems={table: [both]}), "ValidationException", message)


def test_batch_write_missing_item_and_key_members(raw_ddb: Any) -> None:
    err = expect_error(
        lambda: raw_ddb.batch_write_item(RequestItems={"abc": [{"PutRequest": {}}, {"DeleteRequest": {}}]}),
        "ValidationException",
    )
    assert err.response["Error"]["Message"] == (
        "2 validation errors detected: "
        "Value null at 'requestItems.abc.member.1.member.putRequest.item' failed to satisfy constraint: Member must not be null; "
        "Value null at 'requestItems.abc.member.2.member.deleteRequest.key' failed to satisfy constraint: Member must not be null"
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (put({"p": n("3")}), NO_MATCH),
        (put({"x": s("no key")}), NO_MATCH),
        (delete({"p": s("k"), "extra": s("x")}), NO_MATCH),
        (put({"p": s("")}), "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: p"),
        (put({"p": s("k"), "big": s("x" * 409_600)}), "Item size has exceeded the maximum allowed size"),
        (put({"p": s("k"), "set": {"SS": []}}), "One or more parameter values were invalid: An string set  may not be empty"),
        (put({"p": s("k"), "n": n("1e126")}), "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ],
    ids=["key-type", "key-missing", "key-extra", "key-empty", "too-big", "empty-set", "overflow"],
)
def test_batch_write_bad_request_writes_nothing(ddb: Any, table: str, bad: dict[str, Any], message: str) -> None:
    first, last = put({"p": s("first")}), delete({"p": s("keep")})
    ddb.put_item(TableName=table, Item={"p": s("keep")})
    expect_error(lambda: ddb.batch_write_item(RequestItems={table: [first, bad, last]}), "ValidationException", message)
    assert get(ddb, table, {"p": s("first")}) is None
    assert get(ddb, table, {"p": s("keep")}) is not None


def test_batch_write_unknown_table_writes_nothing(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.batch_write_item(RequestItems={table: [put({"p": s("k")})], "no-such-table-xyz": [put({"p": s("k")})]}),
        "ResourceNotFoundException",
    )
    assert get(ddb, table, {"p": s("k")}) is None


def test_batch_write_is_validated_before_the_table_is_looked_up(raw_ddb: Any) -> None:
    # dynalite: attribute values are checked before ResourceNotFound
    expect_error(
        lambda: raw_ddb.batch_write_item(RequestItems={"no-such-table-xyz": [put({"a": {"S": "a", "N": "1"}})]}),
        "ValidationException",
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
    )


def test_batch_write_wire_shape(region_proc: RegionProcess, table: str) -> None:
    r = post(region_proc.url, "BatchWriteItem", {"RequestItems": {table: [put({"p": s("w")})]}})
    assert r.status_code == 200
    assert r.json() == {"UnprocessedItems": {}}
    r = post(region_proc.url, "BatchWriteItem", {"RequestItems": {}})
    assert error_of(r)[0] == VALIDATE_NS + "ValidationException"


# =========================================================================== BatchGetItem


def test_batch_get_multiple_tables_missing_items_omitted(ddb: Any, make_table: TableFactory) -> None:
    a = make_table()
    b = make_table(("k", "N"), ("r", "S"))
    c = make_table()
    items_a = [{"p": s(f"a{i}"), "v": n(str(i))} for i in range(5)]
    items_b = [{"k": n(str(i)), "r": s("r"), "w": s(f"b{i}")} for i in range(3)]
    ddb.batch_write_item(RequestItems={a: [put(i) for i in items_a], b: [put(i) for i in items_b]})
    out = ddb.batch_get_item(
        RequestItems={
            # keys in a different order than written, with missing ones between
            a: {"Keys": [{"p": s("a4")}, {"p": s("nope")}, {"p": s("a0")}, {"p": s("a2")}], "ConsistentRead": True},
            b: {"Keys": [{"k": n("2"), "r": s("r")}, {"k": n("0"), "r": s("r")}, {"k": n("0"), "r": s("x")}]},
            c: {"Keys": [{"p": s("nothing")}]},
        }
    )
    assert by_key(out["Responses"][a], "p") == by_key([items_a[0], items_a[2], items_a[4]], "p")
    assert by_key(out["Responses"][b], "k") == by_key([items_b[0], items_b[2]], "k")
    assert out["Responses"][c] == []  # a table with no hits still gets its list
    assert out["UnprocessedKeys"] == {}


def test_batch_get_through_the_resource(ddb_resource: Any, make_table: TableFactory) -> None:
    name = make_table(range_=("c", "N"))
    t = ddb_resource.Table(name)
    with t.batch_writer() as writer:
        for i in range(10):
            writer.put_item(Item={"p": "x", "c": i, "v": {"nested": [i, "s"]}})
    out = ddb_resource.batch_get_item(RequestItems={name: {"Keys": [{"p": "x", "c": i} for i in range(0, 10, 3)]}})
    got = sorted(out["Responses"][name], key=lambda i: i["c"])
    assert got == [{"p": "x", "c": Decimal(i), "v": {"nested": [Decimal(i), "s"]}} for i in (0, 3, 6, 9)]
    assert out["UnprocessedKeys"] == {}


def test_batch_get_projection_per_table(ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.batch_write_item(
        RequestItems={
            a: [put({"p": s("1"), "x": s("x1"), "y": s("y1")}), put({"p": s("2"), "y": s("y2")})],
            b: [put({"p": s("1"), "x": s("bx"), "z": {"M": {"deep": s("d"), "other": s("o")}}})],
        }
    )
    out = ddb.batch_get_item(
        RequestItems={
            a: {"Keys": [{"p": s("1")}, {"p": s("2")}], "ProjectionExpression": "x"},
            b: {"Keys": [{"p": s("1")}], "ProjectionExpression": "#z.deep, p", "ExpressionAttributeNames": {"#z": "z"}},
        }
    )
    # an item with nothing projected is still answered, as {} (dynalite)
    assert sorted(out["Responses"][a], key=len) == [{}, {"x": s("x1")}]
    assert out["Responses"][b] == [{"p": s("1"), "z": {"M": {"deep": s("d")}}}]


def test_batch_get_unused_expression_name(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.batch_get_item(
            RequestItems={table: {"Keys": [{"p": s("1")}], "ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": "a", "#unused": "u"}}}
        ),
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
    )


def test_batch_get_legacy_attributes_to_get(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": s("1"), "a": s("x"), "b": s("y")})
    out = ddb.batch_get_item(RequestItems={table: {"Keys": [{"p": s("1")}], "AttributesToGet": ["a"]}})
    assert out["Responses"][table] == [{"a": s("x")}]
    err = expect_error(
        lambda: ddb.batch_get_item(
            RequestItems={table: {"Keys": [{"p": s("1")}], "AttributesToGet": ["a"], "ProjectionExpression": "a"}}
        ),
        "ValidationException",
    )
    assert err.response["Error"]["Message"].startswith(
        "Can not use both expression and non-expression parameters in the same request"
    )


def test_batch_get_duplicates(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("k", "N"), ("r", "S"))
    expect_error(
        lambda: ddb.batch_get_item(RequestItems={t: {"Keys": [{"k": n("1"), "r": s("a")}, {"k": n("2"), "r": s("a")}, {"k": n("1"), "r": s("a")}]}}),
        "ValidationException",
        DUPLICATES,
    )
    # numbers compare canonically: 1e3 is 1000
    expect_error(
        lambda: ddb.batch_get_item(RequestItems={t: {"Keys": [{"k": n("1e3"), "r": s("a")}, {"k": n("1000.0"), "r": s("a")}]}}),
        "ValidationException",
        DUPLICATES,
    )
    # the same partition key with another sort key is fine
    out = ddb.batch_get_item(RequestItems={t: {"Keys": [{"k": n("1"), "r": s("a")}, {"k": n("1"), "r": s("b")}]}})
    assert out["Responses"][t] == []


def test_batch_get_same_key_in_two_tables(ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.put_item(TableName=a, Item={"p": s("k"), "t": s("a")})
    ddb.put_item(TableName=b, Item={"p": s("k"), "t": s("b")})
    out = ddb.batch_get_item(RequestItems={a: {"Keys": [{"p": s("k")}]}, b: {"Keys": [{"p": s("k")}]}})
    assert out["Responses"] == {a: [{"p": s("k"), "t": s("a")}], b: [{"p": s("k"), "t": s("b")}]}


def test_batch_get_100_keys_is_the_limit(ddb: Any, raw_ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.batch_write_item(RequestItems={a: [put({"p": s(f"k{i}")}) for i in range(25)]})
    out = ddb.batch_get_item(RequestItems={a: {"Keys": [{"p": s(f"k{i}")} for i in range(100)]}})
    assert len(out["Responses"][a]) == 25
    assert out["UnprocessedKeys"] == {}
    # 101 in one table: the list's own constraint (dynalite)
    err = expect_error(
        lambda: raw_ddb.batch_get_item(RequestItems={a: {"Keys": [{"p": s(f"k{i}")} for i in range(101)]}}),
        "ValidationException",
    )
    assert constraint(r"\[.+\]", f"requestItems.{a}.member.keys", "Member must have length less than or equal to 100")(
        err.response["Error"]["Message"]
    )
    # 101 over two tables
    expect_error(
        lambda: raw_ddb.batch_get_item(
            RequestItems={a: {"Keys": [{"p": s(f"k{i}")} for i in range(60)]}, b: {"Keys": [{"p": s(f"k{i}")} for i in range(41)]}}
        ),
        "ValidationException",
        "Too many items requested for the BatchGetItem call",
    )


def test_batch_get_empty_requests(raw_ddb: Any, table: str) -> None:
    expect_error(
        lambda: raw_ddb.batch_get_item(RequestItems={}),
        "ValidationException",
        "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )
    expect_error(
        lambda: raw_ddb.batch_get_item(RequestItems={table: {"Keys": []}}),
        "ValidationException",
        f"1 validation error detected: Value '[]' at 'requestItems.{table}.member.keys' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )
    expect_error(
        lambda: raw_ddb.batch_get_item(RequestItems={table: {}}),
        "ValidationException",
        f"1 validation error detected: Value null at 'requestItems.{table}.member.keys' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_batch_get_bad_table_name(raw_ddb: Any) -> None:
    err = expect_error(lambda: raw_ddb.batch_get_item(RequestItems={"a": {"Keys": [{"a": s("a")}]}}), "ValidationException")
    assert constraint(r"\{.+\}", "requestItems", MAP_KEYS)(err.response["Error"]["Message"])


def test_batch_get_unknown_table(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.batch_get_item(RequestItems={table: {"Keys": [{"p": s("k")}]}, "no-such-table-xyz": {"Keys": [{"p": s("k")}]}}),
        "ResourceNotFoundException",
    )


@pytest.mark.parametrize(
    "key",
    [{"p": n("1")}, {"q": s("1")}, {"p": s("1"), "extra": s("x")}, {}],
    ids=["type", "name", "extra", "empty"],
)
def test_batch_get_key_must_match_schema(ddb: Any, table: str, key: dict[str, Any]) -> None:
    expect_error(lambda: ddb.batch_get_item(RequestItems={table: {"Keys": [{"p": s("ok")}, key]}}), "ValidationException", NO_MATCH)


def test_batch_get_16mb_cap_leaves_unprocessed_keys(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(range_=("c", "N"))
    blob = "x" * 390_000
    count = 45  # about 17.5 MB, more than one answer may hold
    for start in range(0, count, 25):
        ddb.batch_write_item(RequestItems={t: [put({"p": s("big"), "c": n(str(i)), "b": s(blob)}) for i in range(start, min(start + 25, count))]})
    keys = [{"p": s("big"), "c": n(str(i))} for i in range(count)]
    first = ddb.batch_get_item(RequestItems={t: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "p, c, b"}})
    got = first["Responses"][t]
    left = first["UnprocessedKeys"]
    assert 0 < len(got) < count
    assert sum(len(i["b"]["S"]) for i in got) <= 16 * 1024 * 1024
    # UnprocessedKeys can be sent back as is: it keeps the table's options
    assert left[t]["ConsistentRead"] is True
    assert left[t]["ProjectionExpression"] == "p, c, b"
    assert len(left[t]["Keys"]) == count - len(got)
    seen = [i["c"]["N"] for i in got]
    request = left
    while request:
        out = ddb.batch_get_item(RequestItems=request)
        seen += [i["c"]["N"] for i in out["Responses"][t]]
        request = out["UnprocessedKeys"]
    assert sorted(seen, key=int) == [str(i) for i in range(count)]


def test_batch_get_wire_shape(region_proc: RegionProcess, table: str) -> None:
    r = post(region_proc.url, "BatchGetItem", {"RequestItems": {table: {"Keys": [{"p": s("none")}]}}})
    assert r.status_code == 200
    assert r.json() == {"Responses": {table: []}, "UnprocessedKeys": {}}
