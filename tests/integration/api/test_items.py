"""Single-item operations through boto3: PutItem, GetItem, DeleteItem (no expressions).

Expected texts are DynamoDB's own (the Developer Guide's data types and naming rules,
dynalite's putItem/getItem suites and the real-service captures they quote).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary

from tests.fixtures.regions import RegionProcess
from tests.integration.api.conftest import TableFactory
from tests.integration.api.support import SERVICE_NS, error_of, expect_error, post, unique

pytestmark = pytest.mark.integration

INVALID = "One or more parameter values were invalid: "
KEY_MISMATCH = "The provided key element does not match the schema"


def _wrap(depth: int) -> dict[str, Any]:
    """A value nested ``depth`` maps deep: depth 1 is {"M": {"n": {"S": "leaf"}}}."""
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"n": value}}
    return value


def _get(ddb: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    out = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
    item: dict[str, Any] | None = out.get("Item")
    return item


# --------------------------------------------------------------------------- serialization


def test_number_as_json_number(region_proc: RegionProcess, table: str) -> None:
    r = post(
        region_proc.url, "PutItem", {"TableName": table, "Item": {"p": {"S": "k"}, "n": {"N": 5}}}
    )
    assert r.status_code == 400
    assert error_of(r) == (
        SERVICE_NS + "SerializationException",
        "NUMBER_VALUE cannot be converted to String",
    )


def test_bad_base64_length(region_proc: RegionProcess, table: str) -> None:
    r = post(
        region_proc.url,
        "PutItem",
        {"TableName": table, "Item": {"p": {"S": "k"}, "b": {"B": "YWJjZGVmZ2g"}}},
    )
    assert r.status_code == 400
    assert error_of(r) == (
        SERVICE_NS + "SerializationException",
        "Base64 encoded length is expected a multiple of 4 bytes but found: 11",
    )


@pytest.mark.parametrize(
    "item",
    [
        [],
        "item",
        {"p": "k"},
        {"p": {"S": ["k"]}},
        {"p": {"S": "k"}, "l": {"L": {"a": 1}}},
        {"p": {"S": "k"}, "b": {"BOOL": 1}},
    ],
    ids=["list", "string", "bare-value", "S-list", "L-map", "BOOL-number"],
)
def test_wrong_json_types_in_items(region_proc: RegionProcess, table: str, item: object) -> None:
    r = post(region_proc.url, "PutItem", {"TableName": table, "Item": item})
    assert r.status_code == 400
    assert error_of(r)[0] == SERVICE_NS + "SerializationException"


# --------------------------------------------------------------------------- validation


def test_put_without_item(raw_ddb: Any, table: str) -> None:
    expect_error(
        lambda: raw_ddb.put_item(TableName=table),
        "ValidationException",
        "1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null",
    )


@pytest.mark.parametrize("rv", ["ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"])
def test_put_and_delete_return_values(ddb: Any, table: str, rv: str) -> None:
    ddb.put_item(TableName=table, Item={"p": {"S": "k"}, "v": {"S": "old"}})
    expect_error(
        lambda: ddb.put_item(
            TableName=table, Item={"p": {"S": "k"}, "v": {"S": "new"}}, ReturnValues=rv
        ),
        "ValidationException",
        "ReturnValues can only be ALL_OLD or NONE",
    )
    expect_error(
        lambda: ddb.delete_item(TableName=table, Key={"p": {"S": "k"}}, ReturnValues=rv),
        "ValidationException",
        "ReturnValues can only be ALL_OLD or NONE",
    )
    # neither rejected write happened
    assert _get(ddb, table, {"p": {"S": "k"}}) == {"p": {"S": "k"}, "v": {"S": "old"}}


def test_return_values_enum(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.put_item(TableName=table, Item={"p": {"S": "k"}}, ReturnValues="EVERYTHING"),
        "ValidationException",
        "1 validation error detected: Value 'EVERYTHING' at 'returnValues' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]",
    )
    assert _get(ddb, table, {"p": {"S": "k"}}) is None


@pytest.mark.parametrize(
    "key",
    [
        {"p": {"S": "k"}, "x": {"S": "extra"}},
        {"q": {"S": "k"}},
        {"p": {"N": "1"}},
        {"p": {"SS": ["k"]}},
        {},
    ],
    ids=["extra", "other-name", "wrong-type", "set", "empty"],
)
@pytest.mark.parametrize("operation", ["get_item", "delete_item"])
def test_key_must_match_schema(
    raw_ddb: Any, ddb: Any, table: str, operation: str, key: dict[str, Any]
) -> None:
    ddb.put_item(TableName=table, Item={"p": {"S": "k"}})
    expect_error(
        lambda: getattr(raw_ddb, operation)(TableName=table, Key=key),
        "ValidationException",
        KEY_MISMATCH,
    )
    assert _get(ddb, table, {"p": {"S": "k"}}) == {"p": {"S": "k"}}


@pytest.mark.parametrize(
    "key",
    [
        {"p": {"S": "k"}},
        {"p": {"S": "k"}, "s": {"S": "1"}},
        {"p": {"S": "k"}, "s": {"N": "1"}, "x": {"N": "1"}},
    ],
    ids=["missing-range", "range-type", "extra"],
)
def test_key_must_match_range_schema(
    ddb: Any, make_table: TableFactory, key: dict[str, Any]
) -> None:
    t = make_table(("p", "S"), ("s", "N"))
    expect_error(lambda: ddb.get_item(TableName=t, Key=key), "ValidationException", KEY_MISMATCH)
    expect_error(lambda: ddb.delete_item(TableName=t, Key=key), "ValidationException", KEY_MISMATCH)


def test_put_key_type_mismatch(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.put_item(TableName=table, Item={"p": {"N": "1"}}),
        "ValidationException",
        INVALID + "Type mismatch for key p expected: S actual: N",
    )


def test_put_missing_key(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("p", "S"), ("s", "B"))
    expect_error(
        lambda: ddb.put_item(TableName=t, Item={"s": {"B": b"x"}, "v": {"S": "x"}}),
        "ValidationException",
        INVALID + "Missing the key p in the item",
    )
    expect_error(
        lambda: ddb.put_item(TableName=t, Item={"p": {"S": "x"}}),
        "ValidationException",
        INVALID + "Missing the key s in the item",
    )


def test_empty_string_key(ddb: Any, table: str) -> None:
    message = (
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        "cannot contain an empty string value. Key: p"
    )
    expect_error(
        lambda: ddb.put_item(TableName=table, Item={"p": {"S": ""}}), "ValidationException", message
    )
    expect_error(
        lambda: ddb.get_item(TableName=table, Key={"p": {"S": ""}}), "ValidationException", message
    )
    expect_error(
        lambda: ddb.delete_item(TableName=table, Key={"p": {"S": ""}}),
        "ValidationException",
        message,
    )


def test_empty_binary_key(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("p", "S"), ("s", "B"))
    err = expect_error(
        lambda: ddb.put_item(TableName=t, Item={"p": {"S": "k"}, "s": {"B": b""}}),
        "ValidationException",
    )
    message = err.response["Error"]["Message"]
    assert "The AttributeValue for a key attribute cannot contain an empty binary value" in message
    assert message.endswith("Key: s")


def test_empty_values_outside_keys_are_fine(ddb: Any, table: str) -> None:
    item = {
        "p": {"S": "k"},
        "s": {"S": ""},
        "b": {"B": b""},
        "l": {"L": [{"S": ""}]},
        "m": {"M": {"e": {"S": ""}}},
        "ss": {"SS": ["", "x"]},
        "el": {"L": []},
        "em": {"M": {}},
    }
    ddb.put_item(TableName=table, Item=item)
    got = _get(ddb, table, {"p": {"S": "k"}})
    assert got is not None
    assert {k: v for k, v in got.items() if k != "ss"} == {
        k: v for k, v in item.items() if k != "ss"
    }
    assert sorted(got["ss"]["SS"]) == ["", "x"]


def test_hash_key_length_limit(ddb: Any, table: str) -> None:
    at_limit = "\u00e9" * 1024  # 2048 UTF-8 bytes: the limit counts bytes, not characters
    ddb.put_item(TableName=table, Item={"p": {"S": at_limit}})
    assert _get(ddb, table, {"p": {"S": at_limit}}) == {"p": {"S": at_limit}}
    message = INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes"
    over = at_limit + "x"
    expect_error(
        lambda: ddb.put_item(TableName=table, Item={"p": {"S": over}}),
        "ValidationException",
        message,
    )
    expect_error(
        lambda: ddb.get_item(TableName=table, Key={"p": {"S": over}}),
        "ValidationException",
        message,
    )


def test_range_key_length_limit(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("p", "S"), ("s", "B"))
    ddb.put_item(TableName=t, Item={"p": {"S": "k"}, "s": {"B": b"\xff" * 1024}})
    assert _get(ddb, t, {"p": {"S": "k"}, "s": {"B": b"\xff" * 1024}}) is not None
    expect_error(
        lambda: ddb.put_item(TableName=t, Item={"p": {"S": "k"}, "s": {"B": b"\xff" * 1025}}),
        "ValidationException",
        INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
    )


# Item size (Developer Guide, CapacityUnitCalculations): each attribute is its name's UTF-8 bytes plus its value;
# S is its UTF-8 bytes, B its raw bytes, and a map or list costs 3 bytes plus 1 per
# element (a map element also its key's bytes).  The limit is 409,600 bytes.
LIMIT = 409_600


@pytest.mark.parametrize(
    ("shape", "overhead"),
    [
        # p:"k" (1+1) + name "b" (1) + the string
        (lambda n: {"b": {"S": "y" * n}}, 3),
        # ... + name "b" + raw bytes
        (lambda n: {"b": {"B": b"\x00" * n}}, 3),
        # ... + name "m" + 3 + (1 + key "a" + string)
        (lambda n: {"m": {"M": {"a": {"S": "y" * n}}}}, 8),
        # ... + name "l" + 3 + (1 + string)
        (lambda n: {"l": {"L": [{"S": "y" * n}]}}, 7),
        # ... + 2-byte name + 2-byte UTF-8 characters
        (lambda n: {"\u00e9": {"S": "\u00e9" * (n // 2)}}, 4),
    ],
    ids=["S", "B", "M", "L", "utf8"],
)
def test_item_size_limit(ddb: Any, table: str, shape: Any, overhead: int) -> None:
    at_limit = {"p": {"S": "k"}, **shape(LIMIT - overhead)}
    ddb.put_item(TableName=table, Item=at_limit)
    assert _get(ddb, table, {"p": {"S": "k"}}) == at_limit
    ddb.delete_item(TableName=table, Key={"p": {"S": "k"}})
    over = {"p": {"S": "k"}, **shape(LIMIT - overhead + 2)}
    expect_error(
        lambda: ddb.put_item(TableName=table, Item=over),
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    )
    assert _get(ddb, table, {"p": {"S": "k"}}) is None


def test_item_one_byte_over_the_limit(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.put_item(
            TableName=table, Item={"p": {"S": "k"}, "b": {"S": "y" * (LIMIT - 2)}}
        ),
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"SS": ["a", "a"]}, INVALID + "Input collection [a, a] contains duplicates."),
        (
            {"BS": [b"b", b"b"]},
            INVALID + "Input collection [Yg==, Yg==]of type BS contains duplicates.",
        ),
        ({"NS": ["1", "1"]}, "Input collection contains duplicates"),
        ({"SS": []}, INVALID + "An string set  may not be empty"),
        ({"NS": []}, INVALID + "An number set  may not be empty"),
        ({"BS": []}, INVALID + "Binary sets should not be empty"),
        ({"NULL": False}, INVALID + "Null attribute value types must have the value of true"),
        (
            {"N": "1e126"},
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            {"N": "-1e126"},
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            {"N": "1e-131"},
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ),
        (
            {"N": "-1e-131"},
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ),
        ({"N": "1" * 39}, "Attempting to store more than 38 significant digits in a Number"),
        (
            {"N": "-1.23456789012345678901234567890123456789"},
            "Attempting to store more than 38 significant digits in a Number",
        ),
        ({"N": "b"}, "The parameter cannot be converted to a numeric value: b"),
        ({"NS": ["1", "b"]}, "The parameter cannot be converted to a numeric value: b"),
        (
            {"S": "a", "N": "1"},
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ),
        (
            {},
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
    ],
    ids=[
        "SS-dup",
        "BS-dup",
        "NS-dup",
        "SS-empty",
        "NS-empty",
        "BS-empty",
        "NULL-false",
        "overflow",
        "neg-overflow",
        "underflow",
        "neg-underflow",
        "39-digits",
        "39-digits-frac",
        "not-a-number",
        "NS-not-a-number",
        "two-types",
        "no-type",
    ],
)
def test_invalid_values(
    raw_ddb: Any, ddb: Any, table: str, value: dict[str, Any], message: str
) -> None:
    expect_error(
        lambda: raw_ddb.put_item(TableName=table, Item={"p": {"S": "k"}, "a": value}),
        "ValidationException",
        message,
    )
    # nested values get the same checks
    expect_error(
        lambda: raw_ddb.put_item(
            TableName=table, Item={"p": {"S": "k"}, "m": {"M": {"x": {"L": [value]}}}}
        ),
        "ValidationException",
        message,
    )
    assert _get(ddb, table, {"p": {"S": "k"}}) is None


def test_numbers_equal_by_value_are_set_duplicates(ddb: Any, table: str) -> None:
    err = expect_error(
        lambda: ddb.put_item(TableName=table, Item={"p": {"S": "k"}, "a": {"NS": ["1e3", "1000"]}}),
        "ValidationException",
    )
    assert "contains duplicates" in err.response["Error"]["Message"]


@pytest.mark.parametrize(
    "text", ["NaN", "Infinity", "-Infinity", " 1", "1 ", "0x10", "1_000", "", "+", "."]
)
def test_not_a_number(ddb: Any, table: str, text: str) -> None:
    err = expect_error(
        lambda: ddb.put_item(TableName=table, Item={"p": {"S": "k"}, "n": {"N": text}}),
        "ValidationException",
    )
    assert err.response["Error"]["Message"].startswith(
        "The parameter cannot be converted to a numeric value"
    )


OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"


@pytest.mark.parametrize(
    ("expression", "a", "b"),
    [
        ("SET n = :a + :b", "1E50", "1"),
        ("SET n = :a - :b", "1E50", "1"),
        ("SET n = :a + :b", "9E125", "9E125"),
        ("SET n = :a - :b", "9E125", "-9E125"),
    ],
    ids=["plus-imprecise", "minus-imprecise", "plus-overflow", "minus-overflow"],
)
def test_arithmetic_beyond_38_digits_or_the_range(
    ddb: Any, table: str, expression: str, a: str, b: str
) -> None:
    """A result that would need more than 38 digits is refused with DynamoDB's overflow
    text, as one too large is (Alternator's test_update_expression_plus_imprecise and
    _plus_overflow, run against DynamoDB)."""
    expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key={"p": {"S": "arith"}},
            UpdateExpression=expression,
            ExpressionAttributeValues={":a": {"N": a}, ":b": {"N": b}},
        ),
        "ValidationException",
        OVERFLOW,
    )
    assert "Item" not in ddb.get_item(TableName=table, Key={"p": {"S": "arith"}})
    # 38 digits exactly is fine, and exact
    ddb.update_item(
        TableName=table,
        Key={"p": {"S": "arith"}},
        UpdateExpression="SET n = :a + :b",
        ExpressionAttributeValues={":a": {"N": "1E37"}, ":b": {"N": "1"}},
    )
    item = ddb.get_item(TableName=table, Key={"p": {"S": "arith"}}, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "1" + "0" * 36 + "1"}


def test_nesting_limit(ddb: Any, table: str) -> None:
    # the attribute is level 1, so 31 wraps put the leaf at level 32: the deepest allowed
    ddb.put_item(TableName=table, Item={"p": {"S": "ok"}, "d": _wrap(31)})
    assert _get(ddb, table, {"p": {"S": "ok"}}) == {"p": {"S": "ok"}, "d": _wrap(31)}
    err = expect_error(
        lambda: ddb.put_item(TableName=table, Item={"p": {"S": "deep"}, "d": _wrap(32)}),
        "ValidationException",
    )
    assert err.response["Error"]["Message"].startswith(
        "Nesting Levels have exceeded supported limits"
    )
    deep_list: dict[str, Any] = {"S": "leaf"}
    for _ in range(32):
        deep_list = {"L": [deep_list]}
    expect_error(
        lambda: ddb.put_item(TableName=table, Item={"p": {"S": "deep"}, "d": deep_list}),
        "ValidationException",
    )
    assert _get(ddb, table, {"p": {"S": "deep"}}) is None


def test_empty_attribute_name(raw_ddb: Any, table: str) -> None:
    err = expect_error(
        lambda: raw_ddb.put_item(TableName=table, Item={"p": {"S": "k"}, "": {"S": "x"}}),
        "ValidationException",
    )
    assert "Empty attribute name" in err.response["Error"]["Message"]


@pytest.mark.parametrize("operation", ["put_item", "get_item", "delete_item"])
def test_unknown_table(ddb: Any, operation: str) -> None:
    name = unique("missing")
    arg = {"Item": {"p": {"S": "k"}}} if operation == "put_item" else {"Key": {"p": {"S": "k"}}}
    err = expect_error(
        lambda: getattr(ddb, operation)(TableName=name, **arg), "ResourceNotFoundException"
    )
    assert err.response["Error"]["Message"] in (
        "Requested resource not found",
        f"Requested resource not found: Table: {name} not found",
    )


@pytest.mark.parametrize("operation", ["put_item", "get_item", "delete_item"])
def test_invalid_table_name(ddb: Any, operation: str) -> None:
    arg = {"Item": {"p": {"S": "k"}}} if operation == "put_item" else {"Key": {"p": {"S": "k"}}}
    expect_error(
        lambda: getattr(ddb, operation)(TableName="ab", **arg),
        "ValidationException",
        "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3",
    )


def test_placeholders_without_expressions(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": {"S": "k"}})
    expect_error(
        lambda: ddb.put_item(
            TableName=table, Item={"p": {"S": "k"}}, ExpressionAttributeNames={"#a": "a"}
        ),
        "ValidationException",
        "ExpressionAttributeNames can only be specified when using expressions",
    )
    expect_error(
        lambda: ddb.delete_item(
            TableName=table, Key={"p": {"S": "k"}}, ExpressionAttributeValues={":a": {"S": "a"}}
        ),
        "ValidationException",
        "ExpressionAttributeValues can only be specified when using expressions",
    )
    expect_error(
        lambda: ddb.get_item(
            TableName=table, Key={"p": {"S": "k"}}, ExpressionAttributeNames={"#a": "a"}
        ),
        "ValidationException",
        "ExpressionAttributeNames can only be specified when using expressions",
    )
    assert _get(ddb, table, {"p": {"S": "k"}}) == {"p": {"S": "k"}}


# --------------------------------------------------------------------------- functionality


def test_round_trip_every_type(ddb: Any, table: str) -> None:
    item = {
        "p": {"S": "every-type"},
        "s": {"S": "h\u00e9llo \U0001f600"},
        "n": {"N": "-12.5"},
        "b": {"B": bytes(range(256))},
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "z": {"NULL": True},
        "m": {"M": {"a": {"S": "x"}, "b": {"N": "1"}}},
        "l": {"L": [{"S": "x"}, {"N": "2"}, {"NULL": True}, {"BOOL": False}]},
        "nested": {
            "M": {
                "list": {"L": [{"M": {"deep": {"L": [{"B": b"\x00\x01"}, {"M": {}}]}}}, {"L": []}]},
                "map": {"M": {"k": {"SS": ["only"]}}},
            }
        },
    }
    ddb.put_item(TableName=table, Item=item)
    assert _get(ddb, table, {"p": {"S": "every-type"}}) == item


@pytest.mark.parametrize(
    ("value", "members"),
    [
        ({"SS": ["b", "a", "\u00e9", "A"]}, {"a", "b", "A", "\u00e9"}),
        ({"NS": ["3", "1.5", "-2", "100"]}, {"3", "1.5", "-2", "100"}),
        ({"BS": [b"\x02", b"\x00", b"\xff\x00"]}, {b"\x02", b"\x00", b"\xff\x00"}),
    ],
    ids=["SS", "NS", "BS"],
)
def test_sets_keep_their_elements(
    ddb: Any, table: str, value: dict[str, Any], members: set[Any]
) -> None:
    ddb.put_item(TableName=table, Item={"p": {"S": "k"}, "set": value})
    got = _get(ddb, table, {"p": {"S": "k"}})
    assert got is not None
    ((tag, elements),) = got["set"].items()
    assert tag == next(iter(value))
    assert len(elements) == len(members)
    assert set(elements) == members


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("1E+3", "1000"),
        ("1e3", "1000"),
        ("01.50", "1.5"),
        ("-0", "0"),
        ("-0.000", "0"),
        ("0e10", "0"),
        (".5", "0.5"),
        ("+3", "3"),
        ("1.0e-1", "0.1"),
        ("-1.2300E2", "-123"),
        ("100", "100"),
        ("1e125", "1" + "0" * 125),
        (
            "9.9999999999999999999999999999999999999E+125",
            "99999999999999999999999999999999999999" + "0" * 88,
        ),
        ("1e-130", "0." + "0" * 129 + "1"),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
    ],
)
def test_numbers_come_back_canonical(ddb: Any, table: str, given: str, canonical: str) -> None:
    ddb.put_item(
        TableName=table,
        Item={
            "p": {"S": "k"},
            "n": {"N": given},
            "ns": {"NS": [given]},
            "l": {"L": [{"N": given}]},
        },
    )
    got = _get(ddb, table, {"p": {"S": "k"}})
    assert got == {
        "p": {"S": "k"},
        "n": {"N": canonical},
        "ns": {"NS": [canonical]},
        "l": {"L": [{"N": canonical}]},
    }


def test_number_keys_compare_by_value(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("p", "N"), ("s", "N"))
    ddb.put_item(TableName=t, Item={"p": {"N": "1e3"}, "s": {"N": "-0"}, "v": {"S": "first"}})
    got = _get(ddb, t, {"p": {"N": "1000"}, "s": {"N": "0"}})
    assert got == {"p": {"N": "1000"}, "s": {"N": "0"}, "v": {"S": "first"}}
    # the same key spelled differently overwrites rather than adding an item
    ddb.put_item(TableName=t, Item={"p": {"N": "1000.0"}, "s": {"N": "0.0"}, "v": {"S": "second"}})
    assert _get(ddb, t, {"p": {"N": "10E2"}, "s": {"N": "0"}}) == {
        "p": {"N": "1000"},
        "s": {"N": "0"},
        "v": {"S": "second"},
    }
    assert ddb.describe_table(TableName=t)["Table"]["ItemCount"] == 1


def test_binary_keys(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("p", "B"), ("s", "B"))
    key = {"p": {"B": b"\x00\xff\x80"}, "s": {"B": bytes(range(200))}}
    ddb.put_item(TableName=t, Item={**key, "v": {"B": b"\x01"}})
    assert _get(ddb, t, key) == {**key, "v": {"B": b"\x01"}}


def test_get_missing_item_has_no_item_key(ddb: Any, table: str) -> None:
    out = ddb.get_item(TableName=table, Key={"p": {"S": "nothing-here"}})
    assert "Item" not in out
    out = ddb.get_item(TableName=table, Key={"p": {"S": "nothing-here"}}, ConsistentRead=True)
    assert "Item" not in out


def test_put_replaces_the_whole_item(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": {"S": "k"}, "a": {"S": "1"}, "b": {"S": "2"}})
    ddb.put_item(TableName=table, Item={"p": {"S": "k"}, "c": {"S": "3"}})
    assert _get(ddb, table, {"p": {"S": "k"}}) == {"p": {"S": "k"}, "c": {"S": "3"}}


def test_put_return_values(ddb: Any, table: str) -> None:
    key = {"p": {"S": "k"}}
    created = ddb.put_item(TableName=table, Item={**key, "v": {"N": "1"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in created  # ALL_OLD on a Put that created the item
    replaced = ddb.put_item(TableName=table, Item={**key, "v": {"N": "2"}}, ReturnValues="ALL_OLD")
    assert replaced["Attributes"] == {**key, "v": {"N": "1"}}
    plain = ddb.put_item(TableName=table, Item={**key, "v": {"N": "3"}}, ReturnValues="NONE")
    assert "Attributes" not in plain
    default = ddb.put_item(TableName=table, Item={**key, "v": {"N": "4"}})
    assert "Attributes" not in default
    assert _get(ddb, table, key) == {**key, "v": {"N": "4"}}


def test_delete_return_values(ddb: Any, table: str) -> None:
    key = {"p": {"S": "k"}}
    ddb.put_item(TableName=table, Item={**key, "v": {"S": "x"}})
    out = ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")
    assert out["Attributes"] == {**key, "v": {"S": "x"}}
    assert _get(ddb, table, key) is None
    ddb.put_item(TableName=table, Item={**key, "v": {"S": "y"}})
    assert "Attributes" not in ddb.delete_item(TableName=table, Key=key, ReturnValues="NONE")
    assert _get(ddb, table, key) is None


def test_delete_missing_item_succeeds(ddb: Any, table: str) -> None:
    out = ddb.delete_item(TableName=table, Key={"p": {"S": "never"}})
    assert "Attributes" not in out
    out = ddb.delete_item(TableName=table, Key={"p": {"S": "never"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in out


def test_remove_of_nested_paths_of_a_missing_item_creates_and_refuses_nothing(
    ddb: Any, table: str
) -> None:
    """DynamoDB skips REMOVE and DELETE of an item that is not there, nested paths too
    (Alternator's test_nested_attribute_remove_from_missing_item, run against it);
    on an existing item without ``x`` the nested path is invalid."""
    key = {"p": {"S": "absent"}}
    for expression in ("REMOVE x.y", "REMOVE x[0]", "REMOVE x.y, z", "REMOVE x.y[2].z"):
        ddb.update_item(TableName=table, Key=key, UpdateExpression=expression)
        assert _get(ddb, table, key) is None, expression
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET a = :v REMOVE x.y DELETE s.t :set",
        ExpressionAttributeValues={":v": {"N": "1"}, ":set": {"SS": ["q"]}},
    )
    assert _get(ddb, table, key) == {**key, "a": {"N": "1"}}
    expect_error(
        lambda: ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE x.y"),
        "ValidationException",
        "The document path provided in the update expression is invalid for update",
    )


def test_hash_range_items_are_distinct(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("p", "S"), ("s", "N"))
    for s in ("1", "2", "10"):
        ddb.put_item(TableName=t, Item={"p": {"S": "h"}, "s": {"N": s}, "v": {"S": f"v{s}"}})
    for s in ("1", "2", "10"):
        assert _get(ddb, t, {"p": {"S": "h"}, "s": {"N": s}}) == {
            "p": {"S": "h"},
            "s": {"N": s},
            "v": {"S": f"v{s}"},
        }
    ddb.delete_item(TableName=t, Key={"p": {"S": "h"}, "s": {"N": "2"}})
    assert _get(ddb, t, {"p": {"S": "h"}, "s": {"N": "2"}}) is None
    assert _get(ddb, t, {"p": {"S": "h"}, "s": {"N": "10"}}) is not None


def test_request_id_and_return_consumed_capacity_none(ddb: Any, table: str) -> None:
    out = ddb.put_item(TableName=table, Item={"p": {"S": "k"}}, ReturnConsumedCapacity="NONE")
    assert out["ResponseMetadata"]["RequestId"]
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200


# --------------------------------------------------------------------------- boto3 resource API


def test_resource_round_trip(ddb_resource: Any, table: str) -> None:
    t = ddb_resource.Table(table)
    item = {
        "p": "res",
        "int": 42,
        "dec": Decimal("3.14159265358979323846264338327950288"),
        "big": Decimal("1E+30"),  # written out as 31 digits: boto3 traps Rounded past 38
        "neg": Decimal("-0.001"),
        "flag": True,
        "nothing": None,
        "strs": {"a", "b"},
        "nums": {Decimal(1), Decimal("2.5")},
        "bins": {b"\x00", b"\x01"},
        "bin": b"\x00\xffdata",
        "nested": {"list": [1, "two", {"three": [Decimal("3.0")]}], "empty": {}},
    }
    t.put_item(Item=item)
    got = t.get_item(Key={"p": "res"}, ConsistentRead=True)["Item"]
    assert got["int"] == 42
    assert got["dec"] == Decimal("3.14159265358979323846264338327950288")
    assert got["big"] == Decimal("1E+30")
    assert got["neg"] == Decimal("-0.001")
    assert got["flag"] is True
    assert got["nothing"] is None
    assert got["strs"] == {"a", "b"}
    assert got["nums"] == {Decimal(1), Decimal("2.5")}
    assert got["bins"] == {Binary(b"\x00"), Binary(b"\x01")}
    assert got["bin"] == Binary(b"\x00\xffdata")
    assert got["nested"] == {"list": [1, "two", {"three": [3]}], "empty": {}}
    assert set(got) == set(item)


def test_resource_return_values_and_delete(ddb_resource: Any, table: str) -> None:
    t = ddb_resource.Table(table)
    assert "Attributes" not in t.put_item(Item={"p": "k", "v": 1}, ReturnValues="ALL_OLD")
    assert t.put_item(Item={"p": "k", "v": 2}, ReturnValues="ALL_OLD")["Attributes"] == {
        "p": "k",
        "v": 1,
    }
    assert t.delete_item(Key={"p": "k"}, ReturnValues="ALL_OLD")["Attributes"] == {"p": "k", "v": 2}
    assert "Item" not in t.get_item(Key={"p": "k"})


def test_resource_binary_key(ddb_resource: Any, make_table: TableFactory) -> None:
    t = ddb_resource.Table(make_table(("p", "B")))
    t.put_item(Item={"p": b"\xde\xad", "v": "x"})
    assert t.get_item(Key={"p": Binary(b"\xde\xad")})["Item"] == {
        "p": Binary(b"\xde\xad"),
        "v": "x",
    }


def test_wire_binary_is_padded_base64(region_proc: RegionProcess, ddb: Any, table: str) -> None:
    ddb.put_item(
        TableName=table, Item={"p": {"S": "k"}, "b": {"B": b"ab"}, "bs": {"BS": [b"a", b"abc"]}}
    )
    r = post(region_proc.url, "GetItem", {"TableName": table, "Key": {"p": {"S": "k"}}})
    assert r.status_code == 200
    item = r.json()["Item"]
    assert item["b"] == {"B": base64.b64encode(b"ab").decode()}
    assert sorted(item["bs"]["BS"]) == sorted(["YQ==", "YWJj"])


def test_a_malformed_request_for_a_missing_table_is_a_validation_error(ddb: Any) -> None:
    # DynamoDB validates the whole request before it looks the table up
    missing = "no-such-table-anywhere"
    bad_number = {"k": {"S": "a"}, "n": {"N": "not-a-number"}}
    for call in (
        lambda: ddb.put_item(TableName=missing, Item=bad_number),
        lambda: ddb.get_item(TableName=missing, Key={"k": {"N": "x"}}),
        lambda: ddb.delete_item(TableName=missing, Key={"k": {"N": "x"}}),
        lambda: ddb.update_item(TableName=missing, Key={"k": {"N": "x"}}),
    ):
        expect_error(call, "ValidationException")
    # a well-formed one gets ResourceNotFoundException
    expect_error(lambda: ddb.get_item(TableName=missing, Key={"k": {"S": "a"}}), "ResourceNotFoundException")
