"""Legacy parameters through boto3: Expected + ConditionalOperator, AttributeUpdates,
AttributesToGet, KeyConditions, QueryFilter and ScanFilter.

Each is checked end to end, against the result of the equivalent expression request on
the same data, and for its rejections: mixing legacy with expression parameters,
ExpressionAttributeNames/Values without an expression, ConditionalOperator rules.
Texts: dynalite's suites (recorded from DynamoDB), ExtendDB's tests/test_conditional_
operator.py (run against DynamoDB), moto's AWS-verified Select tests; behaviour:
alternator's test_expected.py, test_item.py, test_key_conditions.py (run against
DynamoDB).  See regions/expressions/legacy.py.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.api.conftest import TableFactory
from tests.integration.api.reads_support import Item, b, items_of, n, pages, put_all, s
from tests.integration.api.support import create_table, expect_error, unique

pytestmark = pytest.mark.integration

INVALID = "One or more parameter values were invalid: "
ONE_ERROR = "1 validation error detected: "
CONDITION_FAILED = "The conditional request failed"
KEY = {"p": s("k")}


def _mixing(non_expression: str, expression: str) -> str:
    return (
        "Can not use both expression and non-expression parameters in the same request: "
        f"Non-expression parameters: {{{non_expression}}} Expression parameters: {{{expression}}}"
    )


def cond(op: str, *values: dict[str, Any]) -> dict[str, Any]:
    return {"ComparisonOperator": op, "AttributeValueList": list(values)}


def _get(ddb: Any, table: str, key: Item = KEY) -> Item | None:
    item: Item | None = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item


def _succeeds(call: Any) -> bool:
    """True if the conditional write went through, False on ConditionalCheckFailed."""
    try:
        call()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException", exc.response
        return False
    return True


BASE: Item = {
    "n": n(1),
    "s": s("hello"),
    "b": b(b"hi there"),
    "ss": {"SS": ["cat", "dog"]},
    "ns": {"NS": ["2", "4", "7"]},
    "l": {"L": [n(2), n(4), s("seven")]},
    "z": {"NULL": True},
}


# --------------------------------------------------------------------------- Expected


def test_put_item_expected_exists_false_is_put_if_absent(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "v": s("first")}, Expected={"p": {"Exists": False}})
    err = expect_error(
        lambda: ddb.put_item(
            TableName=table, Item={**KEY, "v": s("second")}, Expected={"p": {"Exists": False}}
        ),
        "ConditionalCheckFailedException",
        CONDITION_FAILED,
    )
    assert "Item" not in err.response
    assert _get(ddb, table) == {**KEY, "v": s("first")}


def test_put_item_expected_value(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "a": n(1)})
    ddb.put_item(TableName=table, Item={**KEY, "a": n(2)}, Expected={"a": {"Value": n(1)}})
    expect_error(
        lambda: ddb.put_item(
            TableName=table, Item={**KEY, "a": n(3)}, Expected={"a": {"Value": n(1)}}
        ),
        "ConditionalCheckFailedException",
    )
    assert _get(ddb, table) == {**KEY, "a": n(2)}


def test_expected_failure_returns_old_item_on_request(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "a": n(1)})
    err = expect_error(
        lambda: ddb.put_item(
            TableName=table,
            Item={**KEY, "a": n(2)},
            Expected={"a": {"ComparisonOperator": "GT", "AttributeValueList": [n(5)]}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
        "ConditionalCheckFailedException",
        CONDITION_FAILED,
    )
    assert err.response["Item"] == {**KEY, "a": n(1)}


def test_delete_item_expected(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "a": n(1)})
    expect_error(
        lambda: ddb.delete_item(TableName=table, Key=KEY, Expected={"a": {"Value": n(2)}}),
        "ConditionalCheckFailedException",
    )
    assert _get(ddb, table) == {**KEY, "a": n(1)}
    out = ddb.delete_item(
        TableName=table, Key=KEY, Expected={"a": {"Value": n(1)}}, ReturnValues="ALL_OLD"
    )
    assert out["Attributes"] == {**KEY, "a": n(1)}
    assert _get(ddb, table) is None


def test_update_item_expected_with_conditional_operator(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "a": n(1), "b": n(2)})
    conditions = {
        "a": {"Exists": True, "Value": n(74)},
        "b": cond("EQ", n(2)),
        "c": {"Exists": False},
    }
    expect_error(
        lambda: ddb.update_item(
            TableName=table, Key=KEY, AttributeUpdates={"z": {"Value": n(1)}}, Expected=conditions
        ),
        "ConditionalCheckFailedException",
    )
    expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key=KEY,
            AttributeUpdates={"z": {"Value": n(1)}},
            Expected=conditions,
            ConditionalOperator="AND",
        ),
        "ConditionalCheckFailedException",
    )
    ddb.update_item(
        TableName=table,
        Key=KEY,
        AttributeUpdates={"z": {"Value": n(1)}},
        Expected=conditions,
        ConditionalOperator="OR",
    )
    assert _get(ddb, table) == {**KEY, "a": n(1), "b": n(2), "z": n(1)}


def test_empty_expected_always_holds(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "a": n(1)}, Expected={})
    assert _get(ddb, table) == {**KEY, "a": n(1)}


# Legacy condition -> the ConditionExpression DynamoDB documents as its equivalent.
EQUIVALENTS: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    ({"n": cond("EQ", n(1))}, "n = :v", {":v": n(1)}),
    ({"n": cond("EQ", s("1"))}, "n = :v", {":v": s("1")}),
    ({"ss": cond("EQ", {"SS": ["dog", "cat"]})}, "ss = :v", {":v": {"SS": ["dog", "cat"]}}),
    ({"n": cond("NE", n(2))}, "n <> :v", {":v": n(2)}),
    ({"q": cond("NE", n(2))}, "q <> :v", {":v": n(2)}),
    ({"n": cond("LT", n(2))}, "n < :v", {":v": n(2)}),
    ({"n": cond("LE", n(0))}, "n <= :v", {":v": n(0)}),
    ({"s": cond("GT", s("aardvark"))}, "s > :v", {":v": s("aardvark")}),
    ({"b": cond("GE", b(b"zz"))}, "b >= :v", {":v": b(b"zz")}),
    ({"n": cond("GT", s("0"))}, "n > :v", {":v": s("0")}),
    ({"n": cond("IN", n(3), n(1))}, "n IN (:v, :w)", {":v": n(3), ":w": n(1)}),
    ({"ns": cond("IN", n(2))}, "ns IN (:v)", {":v": n(2)}),
    ({"n": cond("BETWEEN", n(0), n(1))}, "n BETWEEN :v AND :w", {":v": n(0), ":w": n(1)}),
    ({"s": cond("BETWEEN", s("i"), s("z"))}, "s BETWEEN :v AND :w", {":v": s("i"), ":w": s("z")}),
    ({"z": cond("NOT_NULL")}, "attribute_exists(z)", {}),
    ({"q": cond("NULL")}, "attribute_not_exists(q)", {}),
    ({"s": cond("CONTAINS", s("ell"))}, "contains(s, :v)", {":v": s("ell")}),
    ({"ns": cond("CONTAINS", n(4))}, "contains(ns, :v)", {":v": n(4)}),
    ({"l": cond("CONTAINS", s("seven"))}, "contains(l, :v)", {":v": s("seven")}),
    ({"b": cond("CONTAINS", b(b"here"))}, "contains(b, :v)", {":v": b(b"here")}),
    ({"s": cond("NOT_CONTAINS", s("dog"))}, "NOT contains(s, :v)", {":v": s("dog")}),
    ({"l": cond("NOT_CONTAINS", n(4))}, "NOT contains(l, :v)", {":v": n(4)}),
    (
        {"q": cond("NOT_CONTAINS", n(1))},
        "attribute_exists(q) AND NOT contains(q, :v)",
        {":v": n(1)},
    ),
    ({"s": cond("BEGINS_WITH", s("hell"))}, "begins_with(s, :v)", {":v": s("hell")}),
    ({"n": cond("BEGINS_WITH", s("1"))}, "begins_with(n, :v)", {":v": s("1")}),
    (
        {"n": {"Value": n(1)}, "s": {"Exists": False}},
        "n = :v AND attribute_not_exists(s)",
        {":v": n(1)},
    ),
]


@pytest.mark.parametrize(("legacy", "expression", "values"), EQUIVALENTS)
def test_expected_agrees_with_condition_expression(
    ddb: Any, table: str, legacy: dict[str, Any], expression: str, values: dict[str, Any]
) -> None:
    def put(key: str, **condition: Any) -> bool:
        ddb.put_item(TableName=table, Item={"p": s(key), **BASE})
        return _succeeds(
            lambda: ddb.update_item(
                TableName=table, Key={"p": s(key)}, **condition, ReturnValues="NONE"
            )
        )

    with_legacy = put("legacy", Expected=legacy, AttributeUpdates={"done": {"Value": n(1)}})
    with_expression = put(
        "expression",
        ConditionExpression=expression,
        UpdateExpression="SET done = :one",
        ExpressionAttributeValues={**values, ":one": n(1)},
    )
    assert with_legacy == with_expression
    legacy_item, expression_item = (
        _get(ddb, table, {"p": s("legacy")}),
        _get(ddb, table, {"p": s("expression")}),
    )
    assert legacy_item is not None and expression_item is not None
    assert {**legacy_item, "p": s("x")} == {**expression_item, "p": s("x")}


def test_expected_validation_errors(ddb: Any, table: str) -> None:
    def fails(expected: dict[str, Any], message: str, **kw: Any) -> None:
        expect_error(
            lambda: ddb.put_item(TableName=table, Item=KEY, Expected=expected, **kw),
            "ValidationException",
            message,
        )

    fails({"a": {}}, INVALID + "Value must be provided when Exists is null for Attribute: a")
    fails(
        {"a": {"Exists": True}},
        INVALID + "Value must be provided when Exists is true for Attribute: a",
    )
    fails(
        {"a": {"Exists": False, "Value": s("x")}},
        INVALID + "Value cannot be used when Exists is false for Attribute: a",
    )
    fails(
        {"a": {"Exists": False, "ComparisonOperator": "EQ", "AttributeValueList": [n(3)]}},
        INVALID + "Exists and ComparisonOperator cannot be used together for Attribute: a",
    )
    fails(
        {"a": {"Value": n(3), "ComparisonOperator": "EQ", "AttributeValueList": [n(3)]}},
        INVALID + "Value and AttributeValueList cannot be used together for Attribute: a",
    )
    fails(
        {"a": {"ComparisonOperator": "EQ"}},
        INVALID
        + "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a",
    )
    fails(
        {"a": {"AttributeValueList": [n(1)]}},
        INVALID + "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
    )
    fails(
        {"a": cond("EQ", n(2), n(3))},
        INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator",
    )
    fails(
        {"a": cond("NOT_NULL", n(2))},
        INVALID + "Invalid number of argument(s) for the NOT_NULL ComparisonOperator",
    )
    fails(
        {"a": cond("IN")}, INVALID + "Invalid number of argument(s) for the IN ComparisonOperator"
    )
    fails(
        {"a": cond("IN", n(3), s("dog"))},
        INVALID + "AttributeValues inside AttributeValueList must be of same type",
    )
    fails(
        {"a": cond("BEGINS_WITH", n(3))},
        INVALID + "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
    )
    fails(
        {"a": cond("BETWEEN", n(4), n(3))},
        "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
    )
    fails({"a": {"Value": {"NS": ["1", "1"]}}}, "Input collection contains duplicates")
    fails(
        {"a": {"Value": n(1)}},
        "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        ConditionalOperator="AND",
    )
    fails(
        {},
        "ConditionalOperator cannot be used without Filter or Expected",
        ConditionalOperator="OR",
    )


def test_conditional_operator_without_expected(ddb: Any, table: str) -> None:
    without = "ConditionalOperator cannot be used without Filter or Expected"
    expect_error(
        lambda: ddb.put_item(TableName=table, Item=KEY, ConditionalOperator="AND"),
        "ValidationException",
        without,
    )
    expect_error(
        lambda: ddb.delete_item(TableName=table, Key=KEY, ConditionalOperator="OR"),
        "ValidationException",
        without,
    )
    expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key=KEY,
            ConditionalOperator="AND",
            AttributeUpdates={"a": {"Value": n(1)}},
        ),
        "ValidationException",
        without,
    )
    assert _get(ddb, table) is None


def test_shape_errors_of_legacy_members(raw_ddb: Any, table: str) -> None:
    expect_error(
        lambda: raw_ddb.put_item(
            TableName=table, Item=KEY, Expected={"a": {"ComparisonOperator": "eq", "Value": n(1)}}
        ),
        "ValidationException",
        ONE_ERROR
        + "Value 'eq' at 'expected.a.member.comparisonOperator' failed to satisfy constraint: "
        "Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, "
        "BEGINS_WITH, GE, CONTAINS]",
    )
    expect_error(
        lambda: raw_ddb.put_item(
            TableName=table,
            Item=KEY,
            Expected={"a": {"Value": n(1)}, "b": {"Value": n(1)}},
            ConditionalOperator="XOR",
        ),
        "ValidationException",
        ONE_ERROR + "Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: "
        "Member must satisfy enum value set: [OR, AND]",
    )
    expect_error(
        lambda: raw_ddb.scan(
            TableName=table, ScanFilter={"a": {"AttributeValueList": [n(1)]}}, Limit=0
        ),
        "ValidationException",
        "2 validation errors detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value "
        "greater than or equal to 1; Value null at 'scanFilter.a.member.comparisonOperator' failed to satisfy "
        "constraint: Member must not be null",
    )
    expect_error(
        lambda: raw_ddb.update_item(
            TableName=table, Key=KEY, AttributeUpdates={"a": {"Action": "REPLACE", "Value": n(1)}}
        ),
        "ValidationException",
        ONE_ERROR
        + "Value 'REPLACE' at 'attributeUpdates.a.member.action' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ADD, PUT, DELETE]",
    )
    expect_error(
        lambda: raw_ddb.get_item(TableName=table, Key=KEY, AttributesToGet=[]),
        "ValidationException",
        ONE_ERROR + "Value '[]' at 'attributesToGet' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )


# --------------------------------------------------------------------------- mixing


def test_mixing_legacy_and_expression_parameters(ddb: Any, make_table: TableFactory) -> None:
    table = make_table(("p", "S"), ("c", "N"))
    key = {"p": s("k"), "c": n(1)}
    v = {":v": s("x")}
    one = cond("EQ", s("x"))
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "put_item",
            {
                "Item": key,
                "Expected": {"a": one},
                "ConditionExpression": "a = :v",
                "ExpressionAttributeValues": v,
            },
            _mixing("Expected", "ConditionExpression"),
        ),
        (
            "put_item",
            {
                "Item": key,
                "Expected": {},
                "ConditionExpression": "a = :v",
                "ExpressionAttributeValues": v,
            },
            _mixing("Expected", "ConditionExpression"),
        ),
        (
            "put_item",
            {
                "Item": key,
                "ConditionalOperator": "AND",
                "ConditionExpression": "attribute_exists(p)",
            },
            _mixing("ConditionalOperator", "ConditionExpression"),
        ),
        (
            "put_item",
            {
                "Item": key,
                "Expected": {"a": one},
                "ConditionalOperator": "AND",
                "ConditionExpression": "attribute_exists(p)",
            },
            _mixing("Expected, ConditionalOperator", "ConditionExpression"),
        ),
        (
            "delete_item",
            {
                "Key": key,
                "Expected": {"a": one},
                "ConditionExpression": "a = :v",
                "ExpressionAttributeValues": v,
            },
            _mixing("Expected", "ConditionExpression"),
        ),
        (
            "update_item",
            {
                "Key": key,
                "AttributeUpdates": {"a": {"Value": s("v")}},
                "Expected": {"a": one},
                "ConditionalOperator": "AND",
                "UpdateExpression": "SET a = :v",
                "ConditionExpression": "attribute_exists(p)",
                "ExpressionAttributeValues": v,
            },
            _mixing(
                "AttributeUpdates, Expected, ConditionalOperator",
                "UpdateExpression, ConditionExpression",
            ),
        ),
        (
            "update_item",
            {
                "Key": key,
                "AttributeUpdates": {"a": {"Value": s("v")}},
                "ConditionExpression": "attribute_exists(p)",
            },
            _mixing("AttributeUpdates", "ConditionExpression"),
        ),
        (
            "update_item",
            {
                "Key": key,
                "Expected": {"a": one, "b": one},
                "UpdateExpression": "SET c2 = :v",
                "ExpressionAttributeValues": v,
            },
            _mixing("Expected", "UpdateExpression"),
        ),
        (
            "get_item",
            {"Key": key, "AttributesToGet": ["a"], "ProjectionExpression": "a"},
            _mixing("AttributesToGet", "ProjectionExpression"),
        ),
        (
            "scan",
            {
                "AttributesToGet": ["a"],
                "ScanFilter": {"a": one},
                "ConditionalOperator": "AND",
                "FilterExpression": "a = :v",
                "ProjectionExpression": "b",
                "ExpressionAttributeValues": v,
            },
            _mixing(
                "AttributesToGet, ScanFilter, ConditionalOperator",
                "ProjectionExpression, FilterExpression",
            ),
        ),
        (
            "scan",
            {"ScanFilter": {"a": one}, "ProjectionExpression": "b"},
            _mixing("ScanFilter", "ProjectionExpression"),
        ),
        (
            "scan",
            {
                "ConditionalOperator": "AND",
                "FilterExpression": "a = :v",
                "ExpressionAttributeValues": {**v, ":unused": s("y")},
            },
            _mixing("ConditionalOperator", "FilterExpression"),
        ),
        (
            "query",
            {
                "KeyConditions": {"p": cond("EQ", s("k"))},
                "QueryFilter": {"a": one},
                "ConditionalOperator": "AND",
                "KeyConditionExpression": "p = :p",
                "FilterExpression": "a = :v",
                "ProjectionExpression": "b",
                "ExpressionAttributeValues": {**v, ":p": s("k")},
            },
            _mixing(
                "QueryFilter, ConditionalOperator, KeyConditions",
                "ProjectionExpression, FilterExpression, KeyConditionExpression",
            ),
        ),
        (
            "query",
            {
                "AttributesToGet": ["a"],
                "KeyConditionExpression": "p = :p",
                "ExpressionAttributeValues": {":p": s("k")},
            },
            _mixing("AttributesToGet", "KeyConditionExpression"),
        ),
        (
            "query",
            {
                "QueryFilter": {"a": one},
                "KeyConditionExpression": "p = :p",
                "ExpressionAttributeValues": {":p": s("k")},
            },
            _mixing("QueryFilter", "KeyConditionExpression"),
        ),
    ]
    for operation, kw, message in cases:
        call = functools.partial(getattr(ddb, operation), TableName=table, **kw)
        expect_error(call, "ValidationException", message)
    assert _get(ddb, table, key) is None


def test_expression_attribute_maps_need_an_expression(ddb: Any, table: str) -> None:
    names = "ExpressionAttributeNames can only be specified when using expressions"
    values = "ExpressionAttributeValues can only be specified when using expressions"
    expect_error(
        lambda: ddb.put_item(
            TableName=table,
            Item=KEY,
            Expected={"a": {"Exists": False}},
            ExpressionAttributeNames={"#a": "a"},
        ),
        "ValidationException",
        names,
    )
    expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key=KEY,
            AttributeUpdates={"a": {"Value": n(1)}},
            ExpressionAttributeValues={":v": n(1)},
        ),
        "ValidationException",
        values,
    )
    expect_error(
        lambda: ddb.query(
            TableName=table,
            KeyConditions={"p": cond("EQ", s("k"))},
            ExpressionAttributeValues={":v": n(1)},
        ),
        "ValidationException",
        values,
    )
    expect_error(
        lambda: ddb.scan(
            TableName=table, ScanFilter={"a": cond("NULL")}, ExpressionAttributeNames={"#a": "a"}
        ),
        "ValidationException",
        names,
    )


# --------------------------------------------------------------------------- AttributeUpdates


def test_attribute_updates_actions(ddb: Any, table: str) -> None:
    ddb.put_item(
        TableName=table,
        Item={
            **KEY,
            "num": n(7),
            "set": {"NS": ["1", "2", "3"]},
            "list": {"L": [n(1)]},
            "gone": s("x"),
            "part": {"SS": ["a", "b"]},
        },
    )
    ddb.update_item(
        TableName=table,
        Key=KEY,
        AttributeUpdates={
            "new": {"Value": s("put")},  # PUT is the default
            "num": {"Action": "ADD", "Value": n(-2.5)},
            "set": {"Action": "ADD", "Value": {"NS": ["3", "4"]}},
            "list": {"Action": "ADD", "Value": {"L": [s("two"), n(1)]}},
            "gone": {"Action": "DELETE"},
            "part": {"Action": "DELETE", "Value": {"SS": ["a", "zz"]}},
            "counter": {"Action": "ADD", "Value": n(5)},
            "fresh": {"Action": "ADD", "Value": {"SS": ["x"]}},
            "fresh_list": {"Action": "ADD", "Value": {"L": [n(7)]}},
            "absent": {"Action": "DELETE", "Value": {"SS": ["x"]}},
        },
    )
    got = _get(ddb, table)
    assert got is not None
    assert {k: v for k, v in got.items() if k not in ("set",)} == {
        **KEY,
        "new": s("put"),
        "num": n("4.5"),
        "list": {"L": [n(1), s("two"), n(1)]},
        "part": {"SS": ["b"]},
        "counter": n(5),
        "fresh": {"SS": ["x"]},
        "fresh_list": {"L": [n(7)]},
    }
    assert sorted(got["set"]["NS"]) == ["1", "2", "3", "4"]
    # deleting every element removes the set
    ddb.update_item(
        TableName=table,
        Key=KEY,
        AttributeUpdates={"part": {"Action": "DELETE", "Value": {"SS": ["b"]}}},
    )
    got = _get(ddb, table)
    assert got is not None and "part" not in got


def test_attribute_updates_on_a_missing_item(ddb: Any, table: str) -> None:
    # an empty map creates the bare key item
    ddb.update_item(TableName=table, Key={"p": s("empty")}, AttributeUpdates={})
    assert _get(ddb, table, {"p": s("empty")}) == {"p": s("empty")}
    # DELETEs alone do not create it
    ddb.update_item(
        TableName=table,
        Key={"p": s("deletes")},
        AttributeUpdates={
            "a": {"Action": "DELETE"},
            "b": {"Action": "DELETE", "Value": {"NS": ["4"]}},
        },
    )
    assert _get(ddb, table, {"p": s("deletes")}) is None
    # any PUT or ADD does
    ddb.update_item(
        TableName=table,
        Key={"p": s("adds")},
        AttributeUpdates={
            "a": {"Action": "ADD", "Value": {"L": [n(1)]}},
            "b": {"Action": "DELETE"},
        },
    )
    assert _get(ddb, table, {"p": s("adds")}) == {"p": s("adds"), "a": {"L": [n(1)]}}


@pytest.mark.parametrize(
    ("return_values", "expected"),
    [
        ("NONE", None),
        ("ALL_OLD", {**KEY, "a": s("a"), "b": s("a"), "c": n(1)}),
        ("UPDATED_OLD", {"a": s("a"), "b": s("a")}),
        ("ALL_NEW", {**KEY, "a": s("b"), "c": n(1), "d": n(2)}),
        ("UPDATED_NEW", {"a": s("b"), "d": n(2)}),
    ],
)
def test_attribute_updates_return_values(
    ddb: Any, table: str, return_values: str, expected: Item | None
) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "a": s("a"), "b": s("a"), "c": n(1)})
    out = ddb.update_item(
        TableName=table,
        Key=KEY,
        AttributeUpdates={
            "a": {"Value": s("b")},
            "b": {"Action": "DELETE"},
            "d": {"Action": "ADD", "Value": n(2)},
        },
        ReturnValues=return_values,
    )
    assert out.get("Attributes") == expected


def test_attribute_updates_agree_with_update_expression(ddb: Any, table: str) -> None:
    start = {
        "n": n(1),
        "ns": {"NS": ["1", "2"]},
        "ss": {"SS": ["a", "b"]},
        "x": s("x"),
        "m": {"M": {"k": n(1)}},
    }
    for key in ("legacy", "expression"):
        ddb.put_item(TableName=table, Item={"p": s(key), **start})
    legacy = ddb.update_item(
        TableName=table,
        Key={"p": s("legacy")},
        AttributeUpdates={
            "n": {"Action": "ADD", "Value": n(41)},
            "ns": {"Action": "ADD", "Value": {"NS": ["3"]}},
            "ss": {"Action": "DELETE", "Value": {"SS": ["a"]}},
            "x": {"Action": "DELETE"},
            "m": {"Action": "PUT", "Value": {"M": {"j": n(2)}}},
        },
        ReturnValues="UPDATED_NEW",
    )
    expression = ddb.update_item(
        TableName=table,
        Key={"p": s("expression")},
        UpdateExpression="ADD n :n, ns :ns DELETE ss :ss REMOVE x SET m = :m",
        ExpressionAttributeValues={
            ":n": n(41),
            ":ns": {"NS": ["3"]},
            ":ss": {"SS": ["a"]},
            ":m": {"M": {"j": n(2)}},
        },
        ReturnValues="UPDATED_NEW",
    )
    assert legacy["Attributes"] == expression["Attributes"]
    legacy_item, expression_item = (
        _get(ddb, table, {"p": s("legacy")}),
        _get(ddb, table, {"p": s("expression")}),
    )
    assert legacy_item is not None and expression_item is not None
    assert {**legacy_item, "p": s("x")} == {**expression_item, "p": s("x")}


def test_attribute_updates_errors(ddb: Any, make_table: TableFactory) -> None:
    table = make_table(("p", "S"), ("c", "N"))
    key = {"p": s("k"), "c": n(1)}
    ddb.put_item(
        TableName=table, Item={**key, "set": {"SS": ["a"]}, "num": n(1), "list": {"L": []}}
    )

    def fails(updates: dict[str, Any], message: str) -> None:
        expect_error(
            lambda: ddb.update_item(TableName=table, Key=key, AttributeUpdates=updates),
            "ValidationException",
            message,
        )

    fails(
        {"c": {"Value": n(2)}},
        INVALID + "Cannot update attribute c. This attribute is part of the key",
    )
    fails(
        {"p": {"Action": "DELETE"}},
        INVALID + "Cannot update attribute p. This attribute is part of the key",
    )
    fails(
        {"a": {"Action": "PUT"}},
        INVALID + "Only DELETE action is allowed when no attribute value is specified",
    )
    fails(
        {"a": {"Action": "ADD"}},
        INVALID + "Only DELETE action is allowed when no attribute value is specified",
    )
    fails(
        {"a": {"Action": "DELETE", "Value": n(1)}},
        INVALID + "DELETE action with value is not supported for the type N",
    )
    fails(
        {"a": {"Action": "DELETE", "Value": {"L": []}}},
        INVALID + "DELETE action with value is not supported for the type L",
    )
    fails(
        {"a": {"Action": "ADD", "Value": s("x")}},
        INVALID + "ADD action is not supported for the type S",
    )
    fails(
        {"a": {"Action": "ADD", "Value": {"M": {}}}},
        INVALID + "ADD action is not supported for the type M",
    )
    fails(
        {"set": {"Action": "ADD", "Value": {"NS": ["2"]}}}, "Type mismatch for attribute to update"
    )
    fails(
        {"set": {"Action": "DELETE", "Value": {"NS": ["2"]}}},
        "Type mismatch for attribute to update",
    )
    fails(
        {"num": {"Action": "DELETE", "Value": {"NS": ["1"]}}},
        "Type mismatch for attribute to update",
    )
    fails(
        {"num": {"Action": "ADD", "Value": {"L": [n(1)]}}}, "Type mismatch for attribute to update"
    )
    fails({"list": {"Action": "ADD", "Value": n(1)}}, "Type mismatch for attribute to update")
    fails(
        {"a": {"Action": "PUT", "Value": {"SS": []}}}, INVALID + "An string set  may not be empty"
    )
    assert _get(ddb, table, key) == {**key, "set": {"SS": ["a"]}, "num": n(1), "list": {"L": []}}


# --------------------------------------------------------------------------- AttributesToGet


def test_get_item_attributes_to_get(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "a": n(1), "b.c": s("dot"), "m": {"M": {"x": n(1)}}})
    legacy = ddb.get_item(TableName=table, Key=KEY, AttributesToGet=["a", "b.c", "nothere", "m"])
    expression = ddb.get_item(
        TableName=table,
        Key=KEY,
        ProjectionExpression="a, #bc, nothere, m",
        ExpressionAttributeNames={"#bc": "b.c"},
    )
    assert (
        legacy["Item"]
        == expression["Item"]
        == {"a": n(1), "b.c": s("dot"), "m": {"M": {"x": n(1)}}}
    )
    # keys are not added, and nothing matching gives an empty item
    assert ddb.get_item(TableName=table, Key=KEY, AttributesToGet=["nothere"])["Item"] == {}
    assert "Item" not in ddb.get_item(TableName=table, Key={"p": s("none")}, AttributesToGet=["a"])
    expect_error(
        lambda: ddb.get_item(TableName=table, Key=KEY, AttributesToGet=["a", "b", "a"]),
        "ValidationException",
        INVALID + "Duplicate value in attribute name: a",
    )


# --------------------------------------------------------------------------- Query


@pytest.fixture(scope="module")
def sorted_table(ddb: Any) -> Iterator[str]:
    """Partition "k" with sort keys 0..11 (and a string attribute), a neighbour partition."""
    name = unique("legacy-q")
    create_table(ddb, name, ("p", "S"), ("c", "N"))
    put_all(
        ddb,
        name,
        [{"p": s("k"), "c": n(i), "a": s(f"v{i % 3}"), "x": n(i * 10)} for i in range(12)]
        + [{"p": s("other"), "c": n(i)} for i in range(3)],
    )
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture(scope="module")
def strings_table(ddb: Any) -> Iterator[str]:
    name = unique("legacy-qs")
    create_table(ddb, name, ("p", "S"), ("c", "S"))
    put_all(ddb, name, [{"p": s("k"), "c": s(v)} for v in ("a", "ab", "abc", "b", "ba", "c")])
    yield name
    ddb.delete_table(TableName=name)


def _all(ddb: Any, table: str, **kw: Any) -> list[Item]:
    return items_of(pages(ddb.query, TableName=table, ConsistentRead=True, **kw))


@pytest.mark.parametrize(
    ("op", "values", "expression"),
    [
        (None, [], "p = :p"),
        ("EQ", [n(3)], "p = :p AND c = :v0"),
        ("LT", [n(5)], "p = :p AND c < :v0"),
        ("LE", [n(5)], "p = :p AND c <= :v0"),
        ("GT", [n(5)], "p = :p AND c > :v0"),
        ("GE", [n(5)], "p = :p AND c >= :v0"),
        ("BETWEEN", [n(4), n(7)], "p = :p AND c BETWEEN :v0 AND :v1"),
    ],
)
@pytest.mark.parametrize("forward", [True, False])
def test_key_conditions_agree_with_key_condition_expression(
    ddb: Any, sorted_table: str, op: str | None, values: list[Item], expression: str, forward: bool
) -> None:
    conditions = {"p": cond("EQ", s("k"))}
    if op is not None:
        conditions["c"] = cond(op, *values)
    legacy = _all(ddb, sorted_table, KeyConditions=conditions, ScanIndexForward=forward, Limit=4)
    modern = _all(
        ddb,
        sorted_table,
        KeyConditionExpression=expression,
        ExpressionAttributeValues={":p": s("k"), **{f":v{i}": v for i, v in enumerate(values)}},
        ScanIndexForward=forward,
        Limit=4,
    )
    assert legacy == modern
    assert legacy  # every case selects something
    if op is None:
        assert len(legacy) == 12


def test_key_conditions_begins_with(ddb: Any, strings_table: str) -> None:
    legacy = _all(
        ddb,
        strings_table,
        KeyConditions={"p": cond("EQ", s("k")), "c": cond("BEGINS_WITH", s("ab"))},
    )
    modern = _all(
        ddb,
        strings_table,
        KeyConditionExpression="p = :p AND begins_with(c, :v)",
        ExpressionAttributeValues={":p": s("k"), ":v": s("ab")},
    )
    assert legacy == modern == [{"p": s("k"), "c": s("ab")}, {"p": s("k"), "c": s("abc")}]


def test_query_filter_and_attributes_to_get(ddb: Any, sorted_table: str) -> None:
    kc = {"p": cond("EQ", s("k")), "c": cond("LT", n(9))}
    legacy = ddb.query(
        TableName=sorted_table,
        KeyConditions=kc,
        QueryFilter={"a": cond("EQ", s("v1")), "x": cond("GT", n(60))},
        ConditionalOperator="OR",
        AttributesToGet=["c", "a"],
        ConsistentRead=True,
    )
    modern = ddb.query(
        TableName=sorted_table,
        KeyConditionExpression="p = :p AND c < :c",
        FilterExpression="a = :a OR x > :x",
        ProjectionExpression="c, a",
        ExpressionAttributeValues={":p": s("k"), ":c": n(9), ":a": s("v1"), ":x": n(60)},
        ConsistentRead=True,
    )
    assert legacy["Items"] == modern["Items"]
    assert (
        (legacy["Count"], legacy["ScannedCount"])
        == (modern["Count"], modern["ScannedCount"])
        == (4, 9)
    )
    assert legacy["Items"][0] == {"c": n(1), "a": s("v1")}


def test_key_conditions_with_filter_and_projection_expressions(ddb: Any, sorted_table: str) -> None:
    # KeyConditions may be combined with the other expressions
    out = ddb.query(
        TableName=sorted_table,
        KeyConditions={"p": cond("EQ", s("k"))},
        FilterExpression="a = :a",
        ProjectionExpression="c",
        ExpressionAttributeValues={":a": s("v2")},
        ConsistentRead=True,
    )
    assert out["Items"] == [{"c": n(2)}, {"c": n(5)}, {"c": n(8)}, {"c": n(11)}]


def test_query_select_with_attributes_to_get(ddb: Any, sorted_table: str) -> None:
    kc = {"p": cond("EQ", s("k")), "c": cond("EQ", n(3))}
    out = ddb.query(
        TableName=sorted_table,
        KeyConditions=kc,
        AttributesToGet=["x"],
        Select="SPECIFIC_ATTRIBUTES",
    )
    assert out["Items"] == [{"x": n(30)}]
    for select, what in [("COUNT", "only the Count"), ("ALL_ATTRIBUTES", "ALL_ATTRIBUTES")]:
        call = functools.partial(
            ddb.query,
            TableName=sorted_table,
            KeyConditions=kc,
            AttributesToGet=["x"],
            Select=select,
        )
        expect_error(
            call,
            "ValidationException",
            f"{ONE_ERROR}Cannot specify the AttributesToGet when choosing to get {what}",
        )


def test_query_legacy_errors(ddb: Any, sorted_table: str, make_table: TableFactory) -> None:
    def fails(message: str, **kw: Any) -> None:
        expect_error(
            lambda: ddb.query(TableName=sorted_table, **kw), "ValidationException", message
        )

    p = {"p": cond("EQ", s("k"))}
    fails("Query condition missed key schema element: p", KeyConditions={"c": cond("EQ", n(3))})
    fails(
        "Query condition missed key schema element: c", KeyConditions={**p, "a": cond("EQ", n(3))}
    )
    fails("Conditions can be of length 1 or 2 only", KeyConditions={})
    fails(
        "Conditions can be of length 1 or 2 only",
        KeyConditions={**p, "c": cond("EQ", n(1)), "a": cond("EQ", n(1))},
    )
    for op in ("NE", "IN", "CONTAINS", "NOT_CONTAINS"):
        fails(
            "Attempted conditional constraint is not an indexable operation",
            KeyConditions={**p, "c": cond(op, n(3))},
        )
    fails(
        "Attempted conditional constraint is not an indexable operation",
        KeyConditions={"p": cond("NOT_NULL")},
    )
    for op in ("LT", "BEGINS_WITH"):
        fails("Query key condition not supported", KeyConditions={"p": cond(op, s("k"))})
    fails(
        INVALID + "Condition parameter type does not match schema type",
        KeyConditions={"p": cond("EQ", n(3))},
    )
    fails(
        INVALID + "Condition parameter type does not match schema type",
        KeyConditions={**p, "c": cond("EQ", s("3"))},
    )
    fails(
        INVALID + "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
        KeyConditions={**p, "c": cond("BEGINS_WITH", n(3))},
    )
    fails(
        INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator",
        KeyConditions={"p": cond("EQ")},
    )
    fails(
        "QueryFilter can only contain non-primary key attributes: Primary key attribute: c",
        KeyConditions=p,
        QueryFilter={"c": cond("EQ", n(3))},
    )
    fails(
        "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        KeyConditions=p,
        QueryFilter={"a": cond("EQ", s("x"))},
        ConditionalOperator="AND",
    )
    # the ConditionalOperator rule comes before the missing key condition
    fails(
        "ConditionalOperator cannot be used without Filter or Expected", ConditionalOperator="AND"
    )
    fails(
        "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
    )
    hash_only = make_table()
    expect_error(
        lambda: ddb.query(
            TableName=hash_only, KeyConditions={"p": cond("EQ", s("k")), "c": cond("EQ", n(1))}
        ),
        "ValidationException",
        "Query key condition not supported",
    )


def test_key_conditions_on_a_local_index(ddb: Any) -> None:
    name = unique("legacy-lsi")
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "p", "KeyType": "HASH"},
            {"AttributeName": "c", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": t}
            for a, t in (("p", "S"), ("c", "N"), ("l", "S"))
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_l",
                "KeySchema": [
                    {"AttributeName": "p", "KeyType": "HASH"},
                    {"AttributeName": "l", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        put_all(
            ddb,
            name,
            [{"p": s("k"), "c": n(i), "l": s("z" if i % 2 else "a"), "v": n(i)} for i in range(6)],
        )
        conditions = {"p": cond("EQ", s("k")), "l": cond("EQ", s("a"))}
        legacy = ddb.query(
            TableName=name, IndexName="by_l", KeyConditions=conditions, AttributesToGet=["c", "v"]
        )
        modern = ddb.query(
            TableName=name,
            IndexName="by_l",
            KeyConditionExpression="p = :p AND l = :l",
            ProjectionExpression="c, v",
            ExpressionAttributeValues={":p": s("k"), ":l": s("a")},
        )
        # v is not projected: the LSI fetches it from the table for both
        assert legacy["Items"] == modern["Items"] == [{"c": n(i), "v": n(i)} for i in (0, 2, 4)]
        # the table's sort key is no key condition of this index
        expect_error(
            lambda: ddb.query(
                TableName=name,
                IndexName="by_l",
                KeyConditions={"p": cond("EQ", s("k")), "c": cond("EQ", n(1))},
            ),
            "ValidationException",
            "Query condition missed key schema element: l",
        )
        expect_error(
            lambda: ddb.query(
                TableName=name,
                IndexName="by_l",
                KeyConditions={"p": cond("EQ", s("k"))},
                QueryFilter={"l": cond("NOT_NULL")},
            ),
            "ValidationException",
            "QueryFilter can only contain non-primary key attributes: Primary key attribute: l",
        )
    finally:
        ddb.delete_table(TableName=name)


# --------------------------------------------------------------------------- Scan


SCAN_ITEMS: list[Item] = [
    {
        "p": s(f"i{i}"),
        "n": n(i),
        "s": s("abcdef"[i % 6] * (1 + i % 3)),
        "t": {"NS": [str(i), str(i + 1)]},
    }
    for i in range(10)
] + [{"p": s("bare")}]

SCAN_EQUIVALENTS: list[tuple[dict[str, Any], str | None, str, dict[str, Any]]] = [
    ({"n": cond("GE", n(5))}, None, "n >= :v0", {":v0": n(5)}),
    ({"n": cond("BETWEEN", n(2), n(4))}, None, "n BETWEEN :v0 AND :v1", {":v0": n(2), ":v1": n(4)}),
    ({"s": cond("BEGINS_WITH", s("bb"))}, None, "begins_with(s, :v0)", {":v0": s("bb")}),
    ({"t": cond("CONTAINS", n(3))}, None, "contains(t, :v0)", {":v0": n(3)}),
    (
        {"t": cond("NOT_CONTAINS", n(3))},
        None,
        "attribute_exists(t) AND NOT contains(t, :v0)",
        {":v0": n(3)},
    ),
    ({"n": cond("NULL")}, None, "attribute_not_exists(n)", {}),
    ({"n": cond("NE", n(1))}, None, "n <> :v0", {":v0": n(1)}),
    (
        {"n": cond("IN", n(1), n(3), n(99))},
        None,
        "n IN (:v0, :v1, :v2)",
        {":v0": n(1), ":v1": n(3), ":v2": n(99)},
    ),
    (
        {"n": cond("LT", n(2)), "s": cond("EQ", s("ee"))},
        "OR",
        "n < :v0 OR s = :v1",
        {":v0": n(2), ":v1": s("ee")},
    ),
    (
        {"n": cond("LT", n(5)), "s": cond("NOT_NULL")},
        "AND",
        "n < :v0 AND attribute_exists(s)",
        {":v0": n(5)},
    ),
]


@pytest.fixture(scope="module")
def scan_table(ddb: Any) -> Iterator[str]:
    name = unique("legacy-s")
    create_table(ddb, name, ("p", "S"))
    put_all(ddb, name, SCAN_ITEMS)
    yield name
    ddb.delete_table(TableName=name)


@pytest.mark.parametrize(("scan_filter", "operator", "expression", "values"), SCAN_EQUIVALENTS)
def test_scan_filter_agrees_with_filter_expression(
    ddb: Any,
    scan_table: str,
    scan_filter: dict[str, Any],
    operator: str | None,
    expression: str,
    values: dict[str, Any],
) -> None:
    legacy_kw: dict[str, Any] = {"ScanFilter": scan_filter}
    if operator is not None:
        legacy_kw["ConditionalOperator"] = operator
    modern_kw: dict[str, Any] = {"FilterExpression": expression}
    if values:
        modern_kw["ExpressionAttributeValues"] = values
    legacy = pages(ddb.scan, TableName=scan_table, ConsistentRead=True, Limit=3, **legacy_kw)
    modern = pages(ddb.scan, TableName=scan_table, ConsistentRead=True, Limit=3, **modern_kw)
    assert items_of(legacy) == items_of(modern)
    assert [(pg["Count"], pg["ScannedCount"]) for pg in legacy] == [
        (pg["Count"], pg["ScannedCount"]) for pg in modern
    ]
    assert 0 < len(items_of(legacy)) < len(SCAN_ITEMS)  # the filter matters


def test_scan_filter_may_name_key_attributes(ddb: Any, scan_table: str) -> None:
    out = ddb.scan(
        TableName=scan_table, ScanFilter={"p": cond("EQ", s("bare"))}, ConsistentRead=True
    )
    assert out["Items"] == [{"p": s("bare")}]


def test_scan_attributes_to_get(ddb: Any, scan_table: str) -> None:
    legacy = items_of(
        pages(ddb.scan, TableName=scan_table, AttributesToGet=["n", "nothere"], ConsistentRead=True)
    )
    modern = items_of(
        pages(
            ddb.scan, TableName=scan_table, ProjectionExpression="n, nothere", ConsistentRead=True
        )
    )
    assert legacy == modern
    assert sorted(legacy, key=lambda i: int(i.get("n", {"N": "-1"})["N"])) == [{}] + [
        {"n": n(i)} for i in range(10)
    ]
    expect_error(
        lambda: ddb.scan(TableName=scan_table, AttributesToGet=["n"], Select="COUNT"),
        "ValidationException",
        "Cannot specify the AttributesToGet when choosing to get only the Count",
    )
    # the duplicate is reported ahead of the invalid filter value
    expect_error(
        lambda: ddb.scan(
            TableName=scan_table,
            AttributesToGet=["n", "n"],
            ScanFilter={"n": cond("EQ", {"NS": ["1", "1"]})},
        ),
        "ValidationException",
        INVALID + "Duplicate value in attribute name: n",
    )


def test_scan_filter_errors(ddb: Any, scan_table: str) -> None:
    def fails(scan_filter: dict[str, Any], message: str, **kw: Any) -> None:
        expect_error(
            lambda: ddb.scan(TableName=scan_table, ScanFilter=scan_filter, **kw),
            "ValidationException",
            message,
        )

    for op in ("LT", "IN", "BETWEEN"):
        values = [{"SS": ["a"]}] * (2 if op == "BETWEEN" else 1)
        fails(
            {"a": cond(op, *values)},
            f"{INVALID}ComparisonOperator {op} is not valid for SS AttributeValue type",
        )
    fails(
        {"a": cond("CONTAINS", {"L": []})},
        INVALID + "ComparisonOperator CONTAINS is not valid for L AttributeValue type",
    )
    fails(
        {"a": cond("NULL", s("a"))},
        INVALID + "Invalid number of argument(s) for the NULL ComparisonOperator",
    )
    fails(
        {"a": cond("BETWEEN", n(1))},
        INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator",
    )
    fails(
        {"a": cond("EQ", {"S": "a", "N": "1"})},
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
    )
    fails(
        {"a": cond("NULL")},
        "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        ConditionalOperator="OR",
    )
    fails(
        {},
        "ConditionalOperator cannot be used without Filter or Expected",
        ConditionalOperator="OR",
    )
    expect_error(
        lambda: ddb.scan(TableName=scan_table, ConditionalOperator="AND", AttributesToGet=["a"]),
        "ValidationException",
        "ConditionalOperator cannot be used without Filter or Expected",
    )
    out = ddb.scan(TableName=scan_table, ScanFilter={}, ConsistentRead=True, Select="COUNT")
    assert out["Count"] == len(SCAN_ITEMS)
