"""TransactWriteItems and TransactGetItems through boto3, against a real region process.

Expected behaviour and texts: the Developer Guide's transaction-apis page, the botocore
model, Alternator's test_transact.py (run against DynamoDB), dynalite's validations/transactWriteItems.js.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from regions.transactions import request_hash
from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.conftest import TableFactory
from tests.integration.api.support import (
    DYNAMODB_NS,
    REGION,
    create_table,
    error_of,
    expect_error,
    post,
    unique,
)

pytestmark = pytest.mark.integration

CANCELLED = "Transaction cancelled, please refer cancellation reasons for specific reasons "
CCF = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
NONE = {"Code": "None"}
MULTIPLE = "Transaction request cannot include multiple operations on one item"


def s(v: str) -> dict[str, str]:
    return {"S": v}


def n(v: str) -> dict[str, str]:
    return {"N": v}


def get(ddb: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item


def cancelled(ddb: Any, items: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    """Run a transaction that must be cancelled; return its CancellationReasons after
    checking the message lists the same codes in the same order."""
    err = expect_error(lambda: ddb.transact_write_items(TransactItems=items, **kw), "TransactionCanceledException")
    reasons: list[dict[str, Any]] = err.response["CancellationReasons"]
    assert len(reasons) == len(items)
    codes = ", ".join(r["Code"] for r in reasons)
    assert err.response["Error"]["Message"] == f"{CANCELLED}[{codes}]"
    return reasons


def p_put(table: str, p: str, **attrs: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {"p": s(p), **attrs}}}


# =========================================================================== single actions


def test_put_update_delete_check_succeed(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": s("u"), "x": n("42")})
    ddb.put_item(TableName=table, Item={"p": s("d")})
    out = ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"p": s("new"), "a": s("1")}, "ConditionExpression": "attribute_not_exists(p)"}},
            {
                "Update": {
                    "TableName": table,
                    "Key": {"p": s("u")},
                    "UpdateExpression": "SET #x = #x + :one",
                    "ConditionExpression": "#x = :v",
                    "ExpressionAttributeNames": {"#x": "x"},
                    "ExpressionAttributeValues": {":one": n("1"), ":v": n("42")},
                }
            },
            {"Delete": {"TableName": table, "Key": {"p": s("d")}, "ConditionExpression": "attribute_exists(p)"}},
            {"ConditionCheck": {"TableName": table, "Key": {"p": s("c")}, "ConditionExpression": "attribute_not_exists(p)"}},
        ]
    )
    assert {k: v for k, v in out.items() if k != "ResponseMetadata"} == {}
    assert get(ddb, table, {"p": s("new")}) == {"p": s("new"), "a": s("1")}
    assert get(ddb, table, {"p": s("u")}) == {"p": s("u"), "x": n("43")}
    assert get(ddb, table, {"p": s("d")}) is None
    assert get(ddb, table, {"p": s("c")}) is None  # a ConditionCheck writes nothing


def test_put_replaces_and_update_upserts(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": s("r"), "old": s("x")})
    ddb.transact_write_items(
        TransactItems=[
            p_put(table, "r", y=s("y")),
            {"Update": {"TableName": table, "Key": {"p": s("up")}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": s("1")}}},
            {"Update": {"TableName": table, "Key": {"p": s("rm")}, "UpdateExpression": "REMOVE v"}},
        ]
    )
    assert get(ddb, table, {"p": s("r")}) == {"p": s("r"), "y": s("y")}
    assert get(ddb, table, {"p": s("up")}) == {"p": s("up"), "v": s("1")}
    assert get(ddb, table, {"p": s("rm")}) is None  # a REMOVE-only update creates nothing


@pytest.mark.parametrize(
    "action",
    [
        {"Put": {"Item": {"p": s("f")}, "ConditionExpression": "attribute_exists(p)"}},
        {"Delete": {"Key": {"p": s("f")}, "ConditionExpression": "attribute_exists(p)"}},
        {"Update": {"Key": {"p": s("f")}, "UpdateExpression": "SET a = :a", "ConditionExpression": "attribute_exists(p)", "ExpressionAttributeValues": {":a": s("1")}}},
        {"ConditionCheck": {"Key": {"p": s("f")}, "ConditionExpression": "attribute_exists(p)"}},
    ],
    ids=["put", "delete", "update", "check"],
)
def test_single_failed_condition_is_a_cancellation(ddb: Any, table: str, action: dict[str, Any]) -> None:
    kind, body = next(iter(action.items()))
    assert cancelled(ddb, [{kind: {"TableName": table, **body}}]) == [CCF]
    assert get(ddb, table, {"p": s("f")}) is None


# =========================================================================== atomicity, reasons


def test_failed_condition_on_action_3_writes_nothing(ddb: Any, make_table: TableFactory) -> None:
    a = make_table()
    b = make_table(("k", "N"), ("r", "S"))
    ddb.put_item(TableName=a, Item={"p": s("existing"), "v": n("1")})
    reasons = cancelled(
        ddb,
        [
            p_put(a, "one"),
            {"Update": {"TableName": a, "Key": {"p": s("existing")}, "UpdateExpression": "SET v = v + :one", "ExpressionAttributeValues": {":one": n("1")}}},
            {"ConditionCheck": {"TableName": b, "Key": {"k": n("1"), "r": s("x")}, "ConditionExpression": "attribute_exists(k)"}},
            {"Put": {"TableName": b, "Item": {"k": n("2"), "r": s("y")}}},
        ],
    )
    assert reasons == [NONE, NONE, CCF, NONE]
    assert get(ddb, a, {"p": s("one")}) is None
    assert get(ddb, a, {"p": s("existing")}) == {"p": s("existing"), "v": n("1")}
    assert get(ddb, b, {"k": n("2"), "r": s("y")}) is None


def test_multiple_tables_in_one_transaction(ddb: Any, make_table: TableFactory) -> None:
    a = make_table()
    b = make_table(("k", "N"), ("r", "S"))
    ddb.transact_write_items(
        TransactItems=[
            p_put(a, "k", t=s("a")),
            {"Put": {"TableName": b, "Item": {"k": n("1"), "r": s("k"), "t": s("b")}, "ConditionExpression": "attribute_not_exists(k)"}},
        ]
    )
    assert get(ddb, a, {"p": s("k")}) == {"p": s("k"), "t": s("a")}
    assert get(ddb, b, {"k": n("1"), "r": s("k")}) == {"k": n("1"), "r": s("k"), "t": s("b")}


def test_every_failed_condition_is_listed_in_order(ddb: Any, table: str) -> None:
    reasons = cancelled(
        ddb,
        [
            p_put(table, "1"),
            {"Put": {"TableName": table, "Item": {"p": s("2")}, "ConditionExpression": "attribute_not_exists(p)"}},
            {"ConditionCheck": {"TableName": table, "Key": {"p": s("3")}, "ConditionExpression": "attribute_exists(p)"}},
            {"Put": {"TableName": table, "Item": {"p": s("4")}, "ConditionExpression": "attribute_exists(p)"}},
        ],
    )
    assert reasons == [NONE, NONE, CCF, CCF]


def test_return_values_on_condition_check_failure(ddb: Any, table: str) -> None:
    old = {"p": s("rv"), "x": n("42"), "y": s("dog")}
    ddb.put_item(TableName=table, Item=old)
    failing = {"Key": {"p": s("rv")}, "ConditionExpression": "x = :v", "ExpressionAttributeValues": {":v": n("43")}}
    reasons = cancelled(
        ddb,
        [
            {"ConditionCheck": {"TableName": table, **failing, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            # ALL_OLD on an item that does not exist: no Item
            {"Put": {"TableName": table, "Item": {"p": s("missing")}, "ConditionExpression": "attribute_exists(p)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ],
    )
    assert reasons == [{**CCF, "Item": old}, CCF]
    # boto3 leaves the reason's Item in wire form (Alternator's test does the same)
    assert {k: TypeDeserializer().deserialize(v) for k, v in reasons[0]["Item"].items()}["y"] == "dog"
    reasons = cancelled(
        ddb,
        [{"Update": {"TableName": table, **failing, "UpdateExpression": "SET x = :v", "ReturnValuesOnConditionCheckFailure": "NONE"}}],
    )
    assert reasons == [CCF]
    assert get(ddb, table, {"p": s("rv")}) == old


def test_bad_key_is_one_validation_error_reason(ddb: Any, table: str) -> None:
    reasons = cancelled(
        ddb,
        [
            {"Put": {"TableName": table, "Item": {"p": n("7")}}},
            # a second bad key is not reached; a false condition is never evaluated
            {"Put": {"TableName": table, "Item": {"p": n("8")}}},
            {"Put": {"TableName": table, "Item": {"p": s("v3")}, "ConditionExpression": "attribute_exists(p)"}},
        ],
    )
    assert reasons == [
        {"Code": "ValidationError", "Message": "One or more parameter values were invalid: Type mismatch for key p expected: S actual: N"},
        NONE,
        NONE,
    ]
    reasons = cancelled(ddb, [{"Delete": {"TableName": table, "Key": {"q": s("x")}}}])
    assert reasons == [{"Code": "ValidationError", "Message": "The provided key element does not match the schema"}]


def test_update_failing_at_run_time_is_a_validation_error_reason(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": s("str1"), "a": s("text")})
    ddb.put_item(TableName=table, Item={"p": s("str2"), "a": s("text")})
    add_one = {"UpdateExpression": "SET a = a + :one", "ExpressionAttributeValues": {":one": n("1")}}
    reasons = cancelled(
        ddb,
        [
            {"Update": {"TableName": table, "Key": {"p": s("str1")}, **add_one}},
            {"Update": {"TableName": table, "Key": {"p": s("str2")}, **add_one}},
            {"ConditionCheck": {"TableName": table, "Key": {"p": s("none")}, "ConditionExpression": "attribute_exists(p)"}},
        ],
    )
    # every failed condition, only the first ValidationError (as DynamoDB reports them)
    assert [r["Code"] for r in reasons] == ["ValidationError", "None", "ConditionalCheckFailed"]
    assert "Message" in reasons[0]
    assert get(ddb, table, {"p": s("str1")}) == {"p": s("str1"), "a": s("text")}


def test_cancellation_on_the_wire(region_proc: RegionProcess, table: str) -> None:
    r = post(
        region_proc.url,
        "TransactWriteItems",
        {"TransactItems": [p_put(table, "w"), {"ConditionCheck": {"TableName": table, "Key": {"p": s("w2")}, "ConditionExpression": "attribute_exists(p)"}}]},
    )
    assert r.status_code == 400
    body = r.json()
    assert body == {
        "__type": DYNAMODB_NS + "TransactionCanceledException",
        "Message": CANCELLED + "[None, ConditionalCheckFailed]",
        "CancellationReasons": [NONE, CCF],
    }
    assert error_of(r)[1] == CANCELLED + "[None, ConditionalCheckFailed]"


# =========================================================================== whole-request errors


@pytest.mark.parametrize(
    "second",
    [
        {"Put": {"Item": {"p": s("dup"), "other": s("x")}}},
        {"ConditionCheck": {"Key": {"p": s("dup")}, "ConditionExpression": "attribute_not_exists(p)"}},
        {"Delete": {"Key": {"p": s("dup")}}},
        {"Update": {"Key": {"p": s("dup")}, "UpdateExpression": "REMOVE a"}},
    ],
    ids=["put", "check", "delete", "update"],
)
def test_two_actions_on_one_item(ddb: Any, table: str, second: dict[str, Any]) -> None:
    kind, body = next(iter(second.items()))
    expect_error(
        lambda: ddb.transact_write_items(TransactItems=[p_put(table, "dup"), p_put(table, "fine"), {kind: {"TableName": table, **body}}]),
        "ValidationException",
        MULTIPLE,
    )
    assert get(ddb, table, {"p": s("fine")}) is None


def test_one_item_is_found_through_canonical_numbers(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(("k", "N"))
    expect_error(
        lambda: ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": t, "Item": {"k": n("1e3")}}}, {"Delete": {"TableName": t, "Key": {"k": n("1000.00")}}}]
        ),
        "ValidationException",
        MULTIPLE,
    )


def test_same_key_in_two_tables_is_two_items(ddb: Any, make_table: TableFactory) -> None:
    a, b = make_table(), make_table()
    ddb.transact_write_items(TransactItems=[p_put(a, "same"), p_put(b, "same")])
    assert get(ddb, a, {"p": s("same")}) is not None
    assert get(ddb, b, {"p": s("same")}) is not None


def test_100_actions_is_the_limit(ddb: Any, raw_ddb: Any, table: str) -> None:
    ddb.transact_write_items(TransactItems=[p_put(table, f"h{i}", i=n(str(i))) for i in range(100)])
    assert get(ddb, table, {"p": s("h99")}) == {"p": s("h99"), "i": n("99")}
    err = expect_error(
        lambda: raw_ddb.transact_write_items(TransactItems=[p_put(table, f"x{i}") for i in range(101)]),
        "ValidationException",
    )
    message = err.response["Error"]["Message"]
    assert message.startswith("1 validation error detected: Value '[")
    assert message.endswith("' at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100")
    assert get(ddb, table, {"p": s("x0")}) is None


def test_empty_transaction(raw_ddb: Any) -> None:
    expect_error(
        lambda: raw_ddb.transact_write_items(TransactItems=[]),
        "ValidationException",
        "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )


def test_entry_without_or_with_two_actions(raw_ddb: Any, table: str) -> None:
    expect_error(
        lambda: raw_ddb.transact_write_items(TransactItems=[{}]),
        "ValidationException",
        "The action or operation requested is invalid. Verify that the action is typed correctly.",
    )
    both = {**p_put(table, "a"), "Delete": {"TableName": table, "Key": {"p": s("a")}}}
    expect_error(lambda: raw_ddb.transact_write_items(TransactItems=[both]), "ValidationException")


def test_condition_check_needs_its_expression(raw_ddb: Any, table: str) -> None:
    expect_error(
        lambda: raw_ddb.transact_write_items(TransactItems=[{"ConditionCheck": {"TableName": table, "Key": {"p": s("x")}}}]),
        "ValidationException",
        "1 validation error detected: Value null at 'transactItems.1.member.conditionCheck.conditionExpression' "
        "failed to satisfy constraint: Member must not be null",
    )


def test_bad_return_values_on_condition_check_failure(raw_ddb: Any, table: str) -> None:
    for option in ("none", "dog"):
        err = expect_error(
            lambda option=option: raw_ddb.transact_write_items(  # type: ignore[misc]
                TransactItems=[{"Put": {"TableName": table, "Item": {"p": s("x")}, "ReturnValuesOnConditionCheckFailure": option}}]
            ),
            "ValidationException",
        )
        assert "transactItems.1.member.put.returnValuesOnConditionCheckFailure" in err.response["Error"]["Message"]


def test_client_request_token_length(raw_ddb: Any, ddb: Any, table: str) -> None:
    ddb.transact_write_items(TransactItems=[p_put(table, "t36")], ClientRequestToken=uuid.uuid4().hex[:4] + "x" * 32)
    err = expect_error(
        lambda: raw_ddb.transact_write_items(TransactItems=[p_put(table, "t37")], ClientRequestToken="y" * 37),
        "ValidationException",
    )
    assert "at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36" in err.response["Error"]["Message"]
    assert get(ddb, table, {"p": s("t37")}) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ConditionExpression": "attribute_exists(#xyz)"}, "#xyz"),
        ({"ConditionExpression": "p = :xyz"}, ":xyz"),
        ({"ConditionExpression": "attribute_exists(p)", "ExpressionAttributeNames": {"#xyz": "x"}}, "Value provided in ExpressionAttributeNames unused in expressions: keys: {#xyz}"),
        ({"ConditionExpression": "attribute_exists(p)", "ExpressionAttributeValues": {":xyz": n("7")}}, "Value provided in ExpressionAttributeValues unused in expressions: keys: {:xyz}"),
        ({"ConditionExpression": "hello!"}, "Syntax error"),
        ({"ExpressionAttributeValues": {":v": n("1")}}, "ExpressionAttributeValues can only be specified when using expressions"),
    ],
    ids=["missing-name", "missing-value", "unused-name", "unused-value", "syntax", "values-without-expression"],
)
def test_expression_errors_reject_the_whole_request(ddb: Any, table: str, extra: dict[str, Any], message: str) -> None:
    err = expect_error(
        lambda: ddb.transact_write_items(TransactItems=[p_put(table, "ok"), {"Put": {"TableName": table, "Item": {"p": s("e")}, **extra}}]),
        "ValidationException",
    )
    assert message in err.response["Error"]["Message"]
    assert get(ddb, table, {"p": s("ok")}) is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (7, "NUMBER_VALUE cannot be converted to String"),
        ({"x": "y"}, "Start of structure or map found where not expected"),
        (["x"], "Unrecognized collection type class java.lang.String"),
    ],
    ids=["number", "map", "list"],
)
def test_expression_attribute_name_of_the_wrong_json_type(
    raw_ddb: Any, ddb: Any, table: str, name: object, message: str
) -> None:
    """A name that is not a JSON string is a SerializationException for the whole
    request, found before the "unused" check (Alternator's
    test_transact_write_items_serialization_exception, run against DynamoDB)."""
    action = {"Put": {"TableName": table, "Item": {"p": s("ser")}, "ConditionExpression": "attribute_exists(p)", "ExpressionAttributeNames": {"#xyz": name}}}
    expect_error(lambda: raw_ddb.transact_write_items(TransactItems=[p_put(table, "ok"), action]), "SerializationException", message)
    # the single-item operations read the same member the same way, even without an expression
    expect_error(
        lambda: raw_ddb.put_item(TableName=table, Item={"p": s("ser")}, ExpressionAttributeNames={"#xyz": name}),
        "SerializationException",
        message,
    )
    assert get(ddb, table, {"p": s("ok")}) is None
    assert get(ddb, table, {"p": s("ser")}) is None


def test_each_action_has_its_own_placeholders(ddb: Any, table: str) -> None:
    # :v is defined by action 1 and used only by action 2: unused in 1, undefined in 2
    err = expect_error(
        lambda: ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"p": s("a")}, "ConditionExpression": "attribute_not_exists(p)", "ExpressionAttributeValues": {":v": n("1")}}},
                {"Update": {"TableName": table, "Key": {"p": s("b")}, "UpdateExpression": "SET x = :v"}},
            ]
        ),
        "ValidationException",
    )
    assert ":v" in err.response["Error"]["Message"]
    # the same placeholder names in two actions mean different values
    ddb.transact_write_items(
        TransactItems=[
            {"Update": {"TableName": table, "Key": {"p": s("a")}, "UpdateExpression": "SET #n = :v", "ExpressionAttributeNames": {"#n": "x"}, "ExpressionAttributeValues": {":v": s("A")}}},
            {"Update": {"TableName": table, "Key": {"p": s("b")}, "UpdateExpression": "SET #n = :v", "ExpressionAttributeNames": {"#n": "y"}, "ExpressionAttributeValues": {":v": s("B")}}},
        ]
    )
    assert get(ddb, table, {"p": s("a")}) == {"p": s("a"), "x": s("A")}
    assert get(ddb, table, {"p": s("b")}) == {"p": s("b"), "y": s("B")}


def test_invalid_attribute_value_is_a_validation_exception(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.transact_write_items(TransactItems=[p_put(table, "ok"), p_put(table, "bad", e={"SS": []})]),
        "ValidationException",
        "One or more parameter values were invalid: An string set  may not be empty",
    )


def test_unknown_table(ddb: Any, table: str) -> None:
    expect_error(lambda: ddb.transact_write_items(TransactItems=[p_put(table, "ok"), p_put("no-such-table-xyz", "x")]), "ResourceNotFoundException")
    assert get(ddb, table, {"p": s("ok")}) is None


def test_4mb_request_payload(ddb: Any, table: str) -> None:
    long = "x" * 100_000
    expect_error(
        lambda: ddb.transact_write_items(TransactItems=[p_put(table, f"big{i}", x=s(long)) for i in range(50)]),
        "ValidationException",
        "Transaction payload size cannot exceed 4 MB",
    )
    assert get(ddb, table, {"p": s("big0")}) is None
    ddb.transact_write_items(TransactItems=[p_put(table, f"big{i}", x=s(long)) for i in range(30)])
    assert get(ddb, table, {"p": s("big29")}) == {"p": s("big29"), "x": s(long)}
    # deleting more than 4 MB of items is a small request, and fine
    for i in range(30, 50):
        ddb.put_item(TableName=table, Item={"p": s(f"big{i}"), "x": s(long)})
    ddb.transact_write_items(TransactItems=[{"Delete": {"TableName": table, "Key": {"p": s(f"big{i}")}}} for i in range(50)])
    assert get(ddb, table, {"p": s("big0")}) is None


# =========================================================================== ClientRequestToken


def _increment(table: str, p: str) -> list[dict[str, Any]]:
    return [{"Update": {"TableName": table, "Key": {"p": s(p)}, "UpdateExpression": "ADD c :one", "ExpressionAttributeValues": {":one": n("1")}}}]


def test_token_replay_does_not_write_again(ddb: Any, table: str) -> None:
    items = _increment(table, "ctr")
    ddb.transact_write_items(TransactItems=items)
    ddb.transact_write_items(TransactItems=items)
    assert get(ddb, table, {"p": s("ctr")}) == {"p": s("ctr"), "c": n("2")}  # no token: both run
    token = uuid.uuid4().hex
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    assert get(ddb, table, {"p": s("ctr")}) == {"p": s("ctr"), "c": n("3")}


def test_token_replay_does_not_overwrite_a_later_change(ddb: Any, table: str) -> None:
    token = uuid.uuid4().hex
    items = [p_put(table, "tok", v=s("from transaction"))]
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    ddb.put_item(TableName=table, Item={"p": s("tok"), "v": s("changed later")})
    # a replay answers success, and must not put the transaction's item back
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    assert get(ddb, table, {"p": s("tok")}) == {"p": s("tok"), "v": s("changed later")}


def test_token_with_other_parameters(ddb: Any, table: str) -> None:
    token = uuid.uuid4().hex
    ddb.transact_write_items(TransactItems=[p_put(table, "m1")], ClientRequestToken=token)
    expect_error(
        lambda: ddb.transact_write_items(TransactItems=[p_put(table, "m2")], ClientRequestToken=token),
        "IdempotentParameterMismatchException",
    )
    assert get(ddb, table, {"p": s("m2")}) is None
    # the answer's message member is "Message", as the model has it
    r = post(
        ddb.meta.endpoint_url,
        "TransactWriteItems",
        {"TransactItems": [p_put(table, "m3")], "ClientRequestToken": token},
    )
    assert set(r.json()) == {"__type", "Message"}
    assert r.json()["__type"] == DYNAMODB_NS + "IdempotentParameterMismatchException"


def test_token_ignores_member_order_and_return_options(region_proc: RegionProcess, ddb: Any, table: str) -> None:
    token = uuid.uuid4().hex
    first = {"Put": {"TableName": table, "Item": {"p": s("ord"), "a": s("1"), "b": s("2")}}}
    reordered = {"Put": {"Item": {"b": s("2"), "a": s("1"), "p": s("ord")}, "TableName": table}}
    ok = post(region_proc.url, "TransactWriteItems", {"TransactItems": [first], "ClientRequestToken": token})
    assert ok.status_code == 200
    ddb.delete_item(TableName=table, Key={"p": s("ord")})
    again = post(
        region_proc.url,
        "TransactWriteItems",
        {"ClientRequestToken": token, "ReturnConsumedCapacity": "TOTAL", "TransactItems": [reordered]},
    )
    assert again.status_code == 200, again.text
    assert get(ddb, table, {"p": s("ord")}) is None  # a replay: nothing written


def test_cancelled_call_does_not_consume_its_token(ddb: Any, table: str) -> None:
    token = uuid.uuid4().hex
    items = [{"Put": {"TableName": table, "Item": {"p": s("later"), "v": s("x")}, "ConditionExpression": "attribute_exists(p)"}}]
    expect_error(lambda: ddb.transact_write_items(TransactItems=items, ClientRequestToken=token), "TransactionCanceledException")
    ddb.put_item(TableName=table, Item={"p": s("later")})
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    assert get(ddb, table, {"p": s("later")}) == {"p": s("later"), "v": s("x")}


def _store_path(proc: RegionProcess) -> Path:
    assert proc.store.startswith("sqlite:///")
    return Path(proc.store.removeprefix("sqlite:///"))


def _set_token_record(proc: RegionProcess, token: str, record: dict[str, Any]) -> None:
    """Write a token record into the region's store, as another process would."""
    with sqlite3.connect(_store_path(proc), timeout=30) as db:
        db.execute(
            "INSERT INTO gt_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (f"txtoken:{token}", json.dumps(record)),
        )


def test_token_in_flight(region_proc: RegionProcess, raw_ddb: Any, table: str) -> None:
    token = uuid.uuid4().hex
    items = [p_put(table, "inflight")]
    now_ms = int(time.time() * 1000)
    _set_token_record(region_proc, token, {"hash": request_hash(items), "state": "pending", "at": now_ms})
    expect_error(
        lambda: raw_ddb.transact_write_items(TransactItems=items, ClientRequestToken=token),
        "TransactionInProgressException",
        "Transaction from previous request is still in progress",
    )
    assert get(raw_ddb, table, {"p": s("inflight")}) is None
    # different parameters under a token in flight are still a mismatch
    expect_error(
        lambda: raw_ddb.transact_write_items(TransactItems=[p_put(table, "other")], ClientRequestToken=token),
        "IdempotentParameterMismatchException",
    )


def test_token_expires_after_ten_minutes(region_proc: RegionProcess, ddb: Any, table: str) -> None:
    token = uuid.uuid4().hex
    items = _increment(table, "exp")
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    stale = int(time.time() * 1000) - 10 * 60 * 1000 - 5_000
    _set_token_record(region_proc, token, {"hash": request_hash(items), "state": "done", "at": stale})
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)  # a new request again
    assert get(ddb, table, {"p": s("exp")}) == {"p": s("exp"), "c": n("2")}
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)  # and replayed again
    assert get(ddb, table, {"p": s("exp")}) == {"p": s("exp"), "c": n("2")}
    # and an expired token may carry new parameters
    _set_token_record(region_proc, token, {"hash": request_hash(items), "state": "done", "at": stale})
    ddb.transact_write_items(TransactItems=[p_put(table, "exp2")], ClientRequestToken=token)
    assert get(ddb, table, {"p": s("exp2")}) is not None


@pytest.fixture
def own_region(tmp_path: Path) -> Iterator[RegionProcess]:
    proc = RegionProcess(REGION, free_port(), f"sqlite:///{tmp_path}/tokens.db", log_dir=tmp_path).start()
    yield proc
    proc.stop()


def test_token_survives_a_restart(own_region: RegionProcess) -> None:
    client = own_region.client()
    name = unique()
    create_table(client, name)
    token = uuid.uuid4().hex
    items = _increment(name, "r")
    client.transact_write_items(TransactItems=items, ClientRequestToken=token)  # type: ignore[attr-defined]
    own_region.stop()
    own_region.start()
    client = own_region.client()
    client.transact_write_items(TransactItems=items, ClientRequestToken=token)  # type: ignore[attr-defined]
    assert get(client, name, {"p": s("r")}) == {"p": s("r"), "c": n("1")}
    expect_error(
        lambda: client.transact_write_items(TransactItems=_increment(name, "other"), ClientRequestToken=token),  # type: ignore[attr-defined]
        "IdempotentParameterMismatchException",
    )


# =========================================================================== TransactGetItems


def test_transact_get_aligned_with_request(ddb: Any, make_table: TableFactory) -> None:
    a = make_table()
    b = make_table(("k", "N"), ("r", "S"))
    ddb.put_item(TableName=a, Item={"p": s("1"), "x": n("1"), "y": n("2"), "z": {"M": {"d": s("deep"), "o": s("other")}}})
    ddb.put_item(TableName=b, Item={"k": n("5"), "r": s("r"), "w": s("b")})
    out = ddb.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": b, "Key": {"k": n("5.0"), "r": s("r")}}},
            {"Get": {"TableName": a, "Key": {"p": s("missing")}}},
            {"Get": {"TableName": a, "Key": {"p": s("1")}, "ProjectionExpression": "x, #z.d", "ExpressionAttributeNames": {"#z": "z"}}},
            {"Get": {"TableName": a, "Key": {"p": s("1")}, "ProjectionExpression": "nothing"}},
        ]
    )
    assert out["Responses"] == [
        {"Item": {"k": n("5"), "r": s("r"), "w": s("b")}},
        {},
        {"Item": {"x": n("1"), "z": {"M": {"d": s("deep")}}}},
        {"Item": {}},
    ]


def test_transact_get_through_the_resource_client(ddb_resource: Any, table: str) -> None:
    ddb_resource.Table(table).put_item(Item={"p": "r", "v": 3})
    # the resource's client speaks Python values both ways
    client = ddb_resource.meta.client
    client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"p": "w", "l": [1, "a"]}}}])
    out = client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table, "Key": {"p": "r"}}}, {"Get": {"TableName": table, "Key": {"p": "w"}}}]
    )
    assert out["Responses"] == [{"Item": {"p": "r", "v": 3}}, {"Item": {"p": "w", "l": [1, "a"]}}]


def test_transact_get_limits(ddb: Any, raw_ddb: Any, table: str) -> None:
    out = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"p": s(str(i))}}} for i in range(100)])
    assert out["Responses"] == [{}] * 100
    err = expect_error(
        lambda: raw_ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"p": s(str(i))}}} for i in range(101)]),
        "ValidationException",
    )
    assert err.response["Error"]["Message"].endswith(
        "' at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100"
    )
    expect_error(
        lambda: raw_ddb.transact_get_items(TransactItems=[]),
        "ValidationException",
        "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )


def test_transact_get_expression_names(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.transact_get_items(
            TransactItems=[{"Get": {"TableName": table, "Key": {"p": s("1")}, "ProjectionExpression": "#xx", "ExpressionAttributeNames": {"#xx": "x", "#qq": "q"}}}]
        ),
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#qq}",
    )
    err = expect_error(
        lambda: ddb.transact_get_items(
            TransactItems=[{"Get": {"TableName": table, "Key": {"p": s("1")}, "ProjectionExpression": "#xx, #zz", "ExpressionAttributeNames": {"#xx": "x"}}}]
        ),
        "ValidationException",
    )
    assert "#zz" in err.response["Error"]["Message"]


def test_transact_get_errors(ddb: Any, table: str) -> None:
    expect_error(
        lambda: ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "no-such-table-xyz", "Key": {"p": s("1")}}}]),
        "ResourceNotFoundException",
    )
    expect_error(
        lambda: ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"p": n("1")}}}]),
        "ValidationException",
        "The provided key element does not match the schema",
    )
