"""Limits: expression size, operators, IN operands, path depth, pathological nesting."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from regions.expressions import (
    apply_update,
    evaluate_condition,
    parse_condition,
    parse_key_condition,
    parse_projection,
    parse_update,
)

from .helpers import ctx, error, item

TOO_MANY = "The expression contains too many operators; operator count: 301"


# --- expression size ---------------------------------------------------------------------


def padded(expr: str, size: int) -> str:
    return expr + " " * (size - len(expr.encode()))


def test_condition_size_limit() -> None:
    c = ctx(values={":v": 1})
    parse_condition(padded("a = :v", 4096), c)
    assert error(parse_condition, padded("a = :v", 4097), c) == (
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; "
        "expression size: 4097"
    )
    assert error(parse_condition, padded("a = :v", 4097), c, "FilterExpression") == (
        "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; "
        "expression size: 4097"
    )


def test_size_counts_utf8_bytes() -> None:
    # 4095 characters but 4097 bytes: the limit is on bytes.
    expr = "a = :v" + " " * 4087 + "\u00e9\u00e9"
    assert len(expr) == 4095
    assert "expression size: 4097" in error(parse_condition, expr, ctx(values={":v": 1}))


def test_update_and_projection_size_limits() -> None:
    parse_update(padded("SET a = :v", 4096), ctx(values={":v": 1}))
    assert error(parse_update, padded("SET a = :v", 4097), ctx(values={":v": 1})) == (
        "Invalid UpdateExpression: Expression size has exceeded the maximum allowed size;"
    )
    parse_projection(padded("a", 4096), ctx())
    assert error(parse_projection, padded("a", 4097), ctx()) == (
        "Invalid ProjectionExpression: Expression size has exceeded the maximum allowed size;"
    )


def test_key_condition_size_limit() -> None:
    expr = padded("p = :p", 4097)
    assert error(parse_key_condition, expr, ctx(values={":p": "x"}), "p", "S", None, None) == (
        "Invalid KeyConditionExpression: Expression size has exceeded the maximum allowed size; "
        "expression size: 4097"
    )


# --- operator count ----------------------------------------------------------------------


def chain(comparisons: int) -> str:
    return " OR ".join(["a = :v"] * comparisons)


def test_operator_limit_in_conditions() -> None:
    c = ctx(values={":v": 1})
    parse_condition(chain(150), c)  # 150 comparisons + 149 ORs = 299 operators
    assert error(parse_condition, chain(151), c) == "Invalid ConditionExpression: " + TOO_MANY


def test_not_counts_as_an_operator() -> None:
    c = ctx(values={":v": 1})
    parse_condition("NOT " * 299 + "a = :v", c)  # 300 operators
    assert (
        error(parse_condition, "NOT " * 300 + "a = :v", c)
        == "Invalid ConditionExpression: " + TOO_MANY
    )


def test_functions_count_as_operators() -> None:
    c = ctx(values={":v": 1})
    exprs = " AND ".join(["size(a) = :v"] * 100)  # 100 sizes + 100 = + 99 ANDs = 299
    parse_condition(exprs, c)
    exprs = " AND ".join(["size(a) = :v"] * 101)
    assert error(parse_condition, exprs, c) == "Invalid ConditionExpression: " + TOO_MANY


def test_operator_limit_in_updates() -> None:
    c = ctx(values={":v": 1})
    ok = "SET " + ",".join(f"a{i}=:v+:v" for i in range(300))  # 300 additions
    parse_update(ok, c)
    too_many = ok + ",b=:v+:v"
    assert error(parse_update, too_many, c) == "Invalid UpdateExpression: " + TOO_MANY


def test_plain_assignments_are_not_operators() -> None:
    parse_update("SET " + ",".join(f"a{i}=:v" for i in range(400)), ctx(values={":v": 1}))


# --- IN ----------------------------------------------------------------------------------


def test_in_list_limit() -> None:
    values = {f":v{i}": i for i in range(101)}
    c = ctx(values=values)
    ok = "a IN (" + ", ".join(f":v{i}" for i in range(100)) + ")"
    cond = parse_condition(ok, c)
    assert evaluate_condition(cond, item({"a": 99}))
    bad = "a IN (" + ", ".join(f":v{i}" for i in range(101)) + ")"
    assert error(parse_condition, bad, c) == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; "
        "number of operands: 101"
    )


# --- path depth --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "template", "kind"),
    [
        (parse_condition, "attribute_exists({})", "ConditionExpression"),
        (parse_update, "REMOVE {}", "UpdateExpression"),
        (parse_projection, "{}", "ProjectionExpression"),
    ],
)
def test_path_depth(fn: Callable[..., object], template: str, kind: str) -> None:
    fn(template.format("a" + ".b" * 31), ctx())
    fn(template.format("a" + "[1]" * 31), ctx())
    assert error(fn, template.format("a" + ".b" * 32), ctx()) == (
        f"Invalid {kind}: The document path has too many nesting levels; nesting levels: 33"
    )


# --- nesting that would exhaust a naive recursive parser --------------------------------


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("(" * 2000 + "a = :v" + ")" * 2000, "The expression has redundant parentheses;"),
        ("(" * 2000 + "a" + ")" * 2000 + " = :v", "The expression has redundant parentheses;"),
        ("a = " + "(" * 2000, "The expression has redundant parentheses;"),
        ("size(" * 650 + "a" + ")" * 650 + " = :v", TOO_MANY),
        ("(NOT " * 600 + "a = :v" + ")" * 600, TOO_MANY),
        ("NOT " * 1000 + "a = :v", TOO_MANY),
    ],
)
def test_deep_nesting_is_a_validation_error(expr: str, message: str) -> None:
    assert (
        error(parse_condition, expr, ctx(values={":v": 1}))
        == "Invalid ConditionExpression: " + message
    )


def test_deep_update_nesting() -> None:
    expr = "SET a = " + "f(" * 1000 + ":v" + ")" * 1000
    assert (
        error(parse_update, expr, ctx(values={":v": 1})) == "Invalid UpdateExpression: " + TOO_MANY
    )
    expr = "SET a = " + "(" * 1500 + ":v + :v" + ")" * 1500
    assert error(parse_update, expr, ctx(values={":v": 1})) == (
        "Invalid UpdateExpression: The expression has redundant parentheses;"
    )


def test_legitimately_deep_expressions_work() -> None:
    c = ctx(values={":v": 1})
    # 299 NOTs in 299 parentheses plus one comparison: exactly 300 operators.
    cond = parse_condition("(NOT " * 299 + "a = :v" + ")" * 299, c)
    assert evaluate_condition(cond, item({"a": 1})) is False
    nested_and = "(a = :v AND " * 149 + "a = :v" + ")" * 149  # 150 comparisons + 149 ANDs
    assert evaluate_condition(parse_condition(nested_and, c), item({"a": 1}))


def test_deeply_nested_update_functions_work() -> None:
    # 240 nested calls (240 operators) fill the 4096-byte budget.
    expr = "SET a = " + "if_not_exists(b," * 240 + ":v" + ")" * 240
    assert len(expr) <= 4096
    update = parse_update(expr, ctx(values={":v": 1}))
    assert apply_update(item({}), update, ("p",)).item == item({"a": 1})
