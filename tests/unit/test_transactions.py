"""regions/transactions.py without a store: request identity, token records, reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from regions.errors import ConditionalCheckFailed, DynamoError, ResourceNotFound, ValidationError
from regions.transactions import (
    TOKEN_WINDOW_MS,
    IdempotentParameterMismatch,
    TransactionCanceled,
    TransactionInProgress,
    cancellation_reasons,
    request_hash,
    token_decision,
)

ITEMS: list[dict[str, Any]] = [
    {"Put": {"TableName": "t", "Item": {"p": {"S": "a"}, "x": {"N": "1"}}}},
    {"Delete": {"TableName": "t", "Key": {"p": {"S": "b"}}}},
]


def test_hash_ignores_member_order() -> None:
    reordered = [
        {"Put": {"Item": {"x": {"N": "1"}, "p": {"S": "a"}}, "TableName": "t"}},
        {"Delete": {"Key": {"p": {"S": "b"}}, "TableName": "t"}},
    ]
    assert request_hash(reordered) == request_hash(ITEMS)
    assert request_hash(json.loads(json.dumps(ITEMS))) == request_hash(ITEMS)


@pytest.mark.parametrize(
    "other",
    [
        list(reversed(ITEMS)),
        [ITEMS[0]],
        [{"Put": {"TableName": "t", "Item": {"p": {"S": "a"}, "x": {"N": "2"}}}}, ITEMS[1]],
        [{"Put": {"TableName": "u", "Item": {"p": {"S": "a"}, "x": {"N": "1"}}}}, ITEMS[1]],
        [{"Put": {"TableName": "t", "Item": {"p": {"S": "a"}, "x": {"S": "1"}}}}, ITEMS[1]],
    ],
    ids=["action-order", "fewer", "value", "table", "type"],
)
def test_hash_sees_every_other_difference(other: list[dict[str, Any]]) -> None:
    assert request_hash(other) != request_hash(ITEMS)


def _record(state: str, at: int, digest: str = "h") -> str:
    return json.dumps({"hash": digest, "state": state, "at": at})


def test_token_decisions() -> None:
    now = 10_000_000
    assert token_decision(None, "h", now) is True
    assert token_decision(_record("done", now - 1000), "h", now) is False  # replay
    assert token_decision(_record("done", now - TOKEN_WINDOW_MS - 1), "h", now) is True  # expired
    assert token_decision(_record("done", now - TOKEN_WINDOW_MS - 1, "other"), "h", now) is True
    assert token_decision(_record("void", now), "h", now) is True  # a cancelled call
    with pytest.raises(IdempotentParameterMismatch):
        token_decision(_record("done", now - 1000, "other"), "h", now)
    with pytest.raises(TransactionInProgress):
        token_decision(_record("pending", now - 1000), "h", now)
    with pytest.raises(IdempotentParameterMismatch):
        token_decision(_record("pending", now - 1000, "other"), "h", now)
    assert token_decision(_record("pending", now - TOKEN_WINDOW_MS - 1), "h", now) is True


def test_reasons_keep_every_condition_and_the_first_validation_error() -> None:
    failures: dict[int, DynamoError] = {
        4: ConditionalCheckFailed(item={"p": {"S": "x"}}),
        1: ValidationError("first"),
        3: ValidationError("second"),
        2: ConditionalCheckFailed(),
    }
    assert cancellation_reasons(failures, 6) == [
        {"Code": "None"},
        {"Code": "ValidationError", "Message": "first"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed", "Item": {"p": {"S": "x"}}},
        {"Code": "None"},
    ]
    assert cancellation_reasons({0: ResourceNotFound("gone")}, 1) == [{"Code": "ResourceNotFound", "Message": "gone"}]


def test_cancelled_message_and_body() -> None:
    exc = TransactionCanceled([{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "m"}])
    assert exc.code == "TransactionCanceledException"
    assert exc.message == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, ConditionalCheckFailed]"
    )
    assert exc.extra() == {"CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "m"}]}
