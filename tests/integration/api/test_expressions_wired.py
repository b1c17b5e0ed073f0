"""Expressions wired through the item operations: ConditionExpression on writes,
ProjectionExpression on GetItem, UpdateItem with every clause and ReturnValues option.

This checks the wiring and DynamoDB's observable results, not the grammar (the unit
tests of ``regions/expressions`` do that).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.api.conftest import TableFactory
from tests.integration.api.support import DYNAMODB_NS, error_of, expect_error, post

pytestmark = pytest.mark.integration

CONDITION_FAILED = "The conditional request failed"
KEY = {"p": {"S": "k"}}


def _get(ddb: Any, table: str, key: dict[str, Any] = KEY) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get(
        "Item"
    )
    return item


# --------------------------------------------------------------------------- conditions


def test_put_if_absent(ddb: Any, table: str) -> None:
    ddb.put_item(
        TableName=table,
        Item={**KEY, "v": {"S": "first"}},
        ConditionExpression="attribute_not_exists(p)",
    )
    err = expect_error(
        lambda: ddb.put_item(
            TableName=table,
            Item={**KEY, "v": {"S": "second"}},
            ConditionExpression="attribute_not_exists(p)",
        ),
        "ConditionalCheckFailedException",
        CONDITION_FAILED,
    )
    assert "Item" not in err.response
    assert _get(ddb, table) == {**KEY, "v": {"S": "first"}}


def test_condition_failure_returns_old_item_on_request(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "v": {"N": "1"}})
    err = expect_error(
        lambda: ddb.put_item(
            TableName=table,
            Item={**KEY, "v": {"N": "2"}},
            ConditionExpression="v = :two",
            ExpressionAttributeValues={":two": {"N": "2"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
        "ConditionalCheckFailedException",
        CONDITION_FAILED,
    )
    assert err.response["Item"] == {**KEY, "v": {"N": "1"}}
    err = expect_error(
        lambda: ddb.delete_item(
            TableName=table,
            Key=KEY,
            ConditionExpression="v = :two",
            ExpressionAttributeValues={":two": {"N": "2"}},
            ReturnValuesOnConditionCheckFailure="NONE",
        ),
        "ConditionalCheckFailedException",
        CONDITION_FAILED,
    )
    assert "Item" not in err.response
    assert _get(ddb, table) == {**KEY, "v": {"N": "1"}}


def test_condition_failure_on_missing_item_has_no_item(region_proc: Any, table: str) -> None:
    r = post(
        region_proc.url,
        "DeleteItem",
        {
            "TableName": table,
            "Key": KEY,
            "ConditionExpression": "attribute_exists(p)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )
    assert r.status_code == 400
    assert error_of(r) == (DYNAMODB_NS + "ConditionalCheckFailedException", CONDITION_FAILED)
    assert "Item" not in r.json()


def test_conditional_delete_and_put_that_pass(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "v": {"N": "1"}})
    ddb.put_item(
        TableName=table,
        Item={**KEY, "v": {"N": "2"}},
        ConditionExpression="#v = :one AND attribute_exists(p)",
        ExpressionAttributeNames={"#v": "v"},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    out = ddb.delete_item(
        TableName=table,
        Key=KEY,
        ConditionExpression="v > :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_OLD",
    )
    assert out["Attributes"] == {**KEY, "v": {"N": "2"}}
    assert _get(ddb, table) is None


# --------------------------------------------------------------------------- projection


def test_get_projection_with_names(ddb: Any, table: str) -> None:
    ddb.put_item(
        TableName=table,
        Item={
            **KEY,
            "name": {"S": "n"},
            "a.b": {"S": "dotted"},
            "m": {"M": {"x": {"N": "1"}, "y": {"L": [{"S": "y0"}, {"S": "y1"}]}}},
            "other": {"S": "not asked"},
        },
    )
    out = ddb.get_item(
        TableName=table,
        Key=KEY,
        ProjectionExpression="#n, #dot, m.y[1], nosuch",
        ExpressionAttributeNames={"#n": "name", "#dot": "a.b"},
    )
    assert out["Item"] == {
        "name": {"S": "n"},
        "a.b": {"S": "dotted"},
        "m": {"M": {"y": {"L": [{"S": "y1"}]}}},
    }


def test_get_projection_of_nothing_present(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item=KEY)
    assert ddb.get_item(TableName=table, Key=KEY, ProjectionExpression="nope")["Item"] == {}
    assert "Item" not in ddb.get_item(
        TableName=table, Key={"p": {"S": "absent"}}, ProjectionExpression="nope"
    )


# --------------------------------------------------------------------------- UpdateItem

OLD = {
    **KEY,
    "a": {"N": "1"},
    "b": {"S": "x"},
    "c": {"N": "5"},
    "s": {"SS": ["a", "b"]},
    "keep": {"S": "same"},
}
UPDATE = {
    "UpdateExpression": "SET a = a + :one, n = :new REMOVE b ADD c :two DELETE s :dels",
    "ExpressionAttributeValues": {
        ":one": {"N": "1"},
        ":new": {"S": "fresh"},
        ":two": {"N": "2"},
        ":dels": {"SS": ["a"]},
    },
}
NEW = {
    **KEY,
    "a": {"N": "2"},
    "n": {"S": "fresh"},
    "c": {"N": "7"},
    "s": {"SS": ["b"]},
    "keep": {"S": "same"},
}


@pytest.mark.parametrize(
    ("rv", "attributes"),
    [
        ("NONE", None),
        ("ALL_OLD", OLD),
        ("UPDATED_OLD", {"a": OLD["a"], "b": OLD["b"], "c": OLD["c"], "s": OLD["s"]}),
        ("ALL_NEW", NEW),
        ("UPDATED_NEW", {"a": NEW["a"], "n": NEW["n"], "c": NEW["c"], "s": NEW["s"]}),
    ],
)
def test_update_return_values(
    ddb: Any, table: str, rv: str, attributes: dict[str, Any] | None
) -> None:
    ddb.put_item(TableName=table, Item=OLD)
    out = ddb.update_item(TableName=table, Key=KEY, ReturnValues=rv, **UPDATE)
    if attributes is None:
        assert "Attributes" not in out
    else:
        assert out["Attributes"] == attributes
    assert _get(ddb, table) == NEW


def test_update_is_an_upsert(ddb: Any, table: str) -> None:
    out = ddb.update_item(
        TableName=table,
        Key=KEY,
        UpdateExpression="SET v = :v ADD c :one, tags :t",
        ExpressionAttributeValues={":v": {"S": "new"}, ":one": {"N": "1"}, ":t": {"NS": ["3"]}},
        ReturnValues="ALL_NEW",
    )
    expected = {**KEY, "v": {"S": "new"}, "c": {"N": "1"}, "tags": {"NS": ["3"]}}
    assert out["Attributes"] == expected
    assert _get(ddb, table) == expected


def test_remove_only_update_does_not_create(ddb: Any, table: str) -> None:
    out = ddb.update_item(
        TableName=table, Key=KEY, UpdateExpression="REMOVE gone", ReturnValues="ALL_NEW"
    )
    assert "Attributes" not in out
    assert _get(ddb, table) is None


def test_delete_emptying_a_set_removes_it(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "s": {"SS": ["a"]}})
    ddb.update_item(
        TableName=table,
        Key=KEY,
        UpdateExpression="DELETE s :s",
        ExpressionAttributeValues={":s": {"SS": ["a"]}},
    )
    assert _get(ddb, table) == KEY


def test_update_condition_failure(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={**KEY, "v": {"N": "1"}})
    err = expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key=KEY,
            UpdateExpression="SET v = :two",
            ConditionExpression="v = :two",
            ExpressionAttributeValues={":two": {"N": "2"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
        "ConditionalCheckFailedException",
        CONDITION_FAILED,
    )
    assert err.response["Item"] == {**KEY, "v": {"N": "1"}}
    assert _get(ddb, table) == {**KEY, "v": {"N": "1"}}


def test_update_of_a_key_attribute(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("p", "S"), ("s", "N"))
    key = {"p": {"S": "k"}, "s": {"N": "1"}}
    expect_error(
        lambda: ddb.update_item(
            TableName=t,
            Key=key,
            UpdateExpression="SET s = :v",
            ExpressionAttributeValues={":v": {"N": "2"}},
        ),
        "ValidationException",
        "One or more parameter values were invalid: Cannot update attribute s. This attribute is part of the key",
    )
    assert _get(ddb, t, key) is None


# --------------------------------------------------------------------------- placeholders


def test_unused_value(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.put_item(
            TableName=table,
            Item=KEY,
            ConditionExpression="attribute_not_exists(p)",
            ExpressionAttributeValues={":v": {"S": "x"}},
        ),
        "ValidationException",
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}",
    )
    assert _get(ddb, table) is None


def test_unused_name(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.get_item(
            TableName=table, Key=KEY, ProjectionExpression="p", ExpressionAttributeNames={"#n": "n"}
        ),
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}",
    )


def test_undefined_value(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key=KEY,
            UpdateExpression="SET a = :a",
            ExpressionAttributeValues={":b": {"S": "x"}},
        ),
        "ValidationException",
        "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :a",
    )
    expect_error(
        lambda: ddb.delete_item(TableName=table, Key=KEY, ConditionExpression="a = :missing"),
        "ValidationException",
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :missing",
    )
    assert _get(ddb, table) is None


def test_undefined_name(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.get_item(TableName=table, Key=KEY, ProjectionExpression="#nope"),
        "ValidationException",
        "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; attribute name: #nope",
    )


def test_placeholder_errors_win_over_a_failing_condition(ddb: Any, table: str) -> None:
    # checked when the expression is parsed, before evaluation could short-circuit
    ddb.put_item(TableName=table, Item=KEY)
    expect_error(
        lambda: ddb.put_item(
            TableName=table,
            Item={**KEY, "v": {"S": "x"}},
            ConditionExpression="attribute_not_exists(p) AND v = :undefined",
        ),
        "ValidationException",
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :undefined",
    )
    assert _get(ddb, table) == KEY
