"""KeyConditionExpression: accepted forms and every rejection, with DynamoDB's texts."""

from __future__ import annotations

import pytest

from regions.expressions import parse_key_condition
from regions.expressions.ast import KeyCondition

from .helpers import av, ctx, error

VALUES: dict[str, object] = {
    ":p": "pk",
    ":c": 3,
    ":c1": 4,
    ":c2": 7,
    ":s": "00",
    ":a": 3,
    ":b": b"ab",
    ":num": 3,
    ":t": True,
    ":f": False,
    ":empty": "",
    ":eb": b"",
    ":type": "S",
}


def parse(
    expr: str,
    names: dict[str, str] | None = None,
    *,
    range_type: str | None = "N",
    hash_only: bool = False,
) -> KeyCondition:
    used = {k: v for k, v in VALUES.items() if k in expr}
    c = ctx(names, used or None)
    if hash_only:
        return parse_key_condition(expr, c, "p", "S", None, None)
    return parse_key_condition(expr, c, "p", "S", "c", range_type)


def failure(expr: str, *, range_type: str = "N", hash_only: bool = False) -> str:
    return error(parse, expr, range_type=range_type, hash_only=hash_only)


P, C, C1, C2 = av("pk"), av(3), av(4), av(7)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("p=:p", KeyCondition(P, None, ())),
        (" p  =   :p ", KeyCondition(P, None, ())),
        (":p = p", KeyCondition(P, None, ())),
        ("p=:p AND c=:c", KeyCondition(P, "=", (C,))),
        ("p=:p AND c<:c", KeyCondition(P, "<", (C,))),
        ("p=:p AND c<=:c", KeyCondition(P, "<=", (C,))),
        ("p=:p AND c>:c", KeyCondition(P, ">", (C,))),
        ("p=:p AND c>=:c", KeyCondition(P, ">=", (C,))),
        ("p=:p AND :c<c", KeyCondition(P, ">", (C,))),  # reversed operands flip
        ("p=:p AND :c<=c", KeyCondition(P, ">=", (C,))),
        ("p=:p AND :c>c", KeyCondition(P, "<", (C,))),
        ("p=:p AND :c>=c", KeyCondition(P, "<=", (C,))),
        (":p=p AND :c=c", KeyCondition(P, "=", (C,))),
        ("p=:p AND c BETWEEN :c1 AND :c2", KeyCondition(P, "BETWEEN", (C1, C2))),
        ("p=:p AnD c BeTwEeN :c1 aNd :c2", KeyCondition(P, "BETWEEN", (C1, C2))),
        ("c=:c AND p=:p", KeyCondition(P, "=", (C,))),
        ("((c=:c) AND (p=:p))", KeyCondition(P, "=", (C,))),
        ("(p=:p AND c=:c)", KeyCondition(P, "=", (C,))),
    ],
)
def test_accepted(expr: str, expected: KeyCondition) -> None:
    assert parse(expr) == expected


def test_begins_with_on_strings_and_binaries() -> None:
    assert parse("p=:p AND begins_with(c, :s)", range_type="S") == KeyCondition(
        P, "BEGINS_WITH", (av("00"),)
    )
    assert parse("p=:p AND begins_with(c,:b)", range_type="B") == KeyCondition(
        P, "BEGINS_WITH", (av(b"ab"),)
    )


def test_name_references() -> None:
    assert parse("#n1=:p AND #n2=:c", {"#n1": "p", "#n2": "c"}) == KeyCondition(P, "=", (C,))


def test_hash_only_table() -> None:
    assert parse("p=:p", hash_only=True) == KeyCondition(P, None, ())


K = "Invalid KeyConditionExpression: "


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", K + "The expression can not be empty;"),
        # the condition grammar and validator apply
        ("p", K + 'Syntax error; token: "<EOF>", near: "p"'),
        (":a", K + 'Syntax error; token: "<EOF>", near: ":a"'),
        ("p=:p AND c!=:c", K + 'Syntax error; token: "!", near: "c!="'),
        ("a > 4", K + 'Syntax error; token: "4", near: "> 4"'),
        ("((c=:c) AND ((p=:p)))", K + "The expression has redundant parentheses;"),
        ("p=:p AND dog(c, :c)", K + "Invalid function name; function: dog"),
        ("p=:p AND BEGINS_WITH(c,:s)", K + "Invalid function name; function: BEGINS_WITH"),
        (
            "p=:x",
            K
            + "An expression attribute value used in expression is not defined; attribute value: :x",
        ),
        (
            "#x=:p",
            K
            + "An expression attribute name used in the document path is not defined; attribute name: #x",
        ),
        (
            "p=:p AND begins_with(c, :num)",
            K
            + "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
        ),
        (
            "p=:p AND c < :t",
            K
            + "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL",
        ),
        (
            "p=:p AND :t >= c",
            K
            + "Incorrect operand type for operator or function; operator or function: >=, operand type: BOOL",
        ),
        (
            "p=:p AND c BETWEEN :f AND :t",
            K
            + "Incorrect operand type for operator or function; operator or function: BETWEEN, operand type: BOOL",
        ),
        (
            "p=:p AND c BETWEEN :c2 AND :c1",
            K
            + "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
            "lower bound operand: AttributeValue: {N:7}, upper bound operand: AttributeValue: {N:4}",
        ),
        (
            "attribute_type(p, :num)",
            K
            + "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N",
        ),
        # the shape of a key condition
        ("p=:p AND c<>:c", K + "Invalid operator used in KeyConditionExpression: <>"),
        ("p=:p AND c IN (:c)", K + "Invalid operator used in KeyConditionExpression: IN"),
        ("c=:c OR p=:p", K + "Invalid operator used in KeyConditionExpression: OR"),
        ("NOT c=:c AND p=:p", K + "Invalid operator used in KeyConditionExpression: NOT"),
        (
            "p=:p AND attribute_exists(c)",
            K + "Invalid operator used in KeyConditionExpression: attribute_exists",
        ),
        (
            "attribute_not_exists(p)",
            K + "Invalid operator used in KeyConditionExpression: attribute_not_exists",
        ),
        (
            "attribute_type(p, :type)",
            K + "Invalid operator used in KeyConditionExpression: attribute_type",
        ),
        (
            "p=:p AND contains(c, :c)",
            K + "Invalid operator used in KeyConditionExpression: contains",
        ),
        ("p=:p AND size(c) > :c", K + "KeyConditionExpressions cannot contain nested operations"),
        ("p=:p AND c > size(a.b)", K + "KeyConditionExpressions cannot contain nested operations"),
        (
            "p=:p AND :c BETWEEN c AND :c2",
            K
            + "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand",
        ),
        (
            "p=:p AND begins_with(:s, c)",
            K
            + "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand",
        ),
        (
            "p=c",
            K
            + "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (
            "p=:p AND c BETWEEN a AND :c2",
            K
            + "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (
            "p=:p AND b > a.b",
            K
            + "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (":p=:a", K + "Invalid condition in KeyConditionExpression: No key attribute specified"),
        (
            "p=:p AND a.b<:a",
            K + "KeyConditionExpressions cannot have conditions on nested attributes",
        ),
        (
            "p=:p AND c[0]<:a",
            K + "KeyConditionExpressions cannot have conditions on nested attributes",
        ),
        ("p=:p AND p=:p", K + "KeyConditionExpressions must only contain one condition per key"),
        (
            "p=:p AND c>=:c1 AND c<=:c2",
            K + "KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "(p=:p AND c>:c) AND (c<:c2)",
            K + "KeyConditionExpressions must only contain one condition per key",
        ),
        # matching the schema
        ("p<:p", "Query key condition not supported"),
        ("p BETWEEN :p AND :p", "Query key condition not supported"),
        ("begins_with(p, :p)", "Query key condition not supported"),
        ("c=:c", "Query condition missed key schema element: p"),
        ("a=:a", "Query condition missed key schema element: p"),
        ("p=:p AND a<:a", "Query condition missed key schema element: c"),
        ("a=:a AND c=:c", "Query condition missed key schema element: p"),
        (
            "p=:p AND c<:c AND a<:a",
            "The number of query conditions (3) exceeds the number of key attributes defined in the schema (2)",
        ),
        (
            "p=:num",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "p=:p AND c=:s",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "p=:p AND c=:t",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "p=:p AND c BETWEEN :s AND :s",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "p=:p AND begins_with(c, :s)",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "p<:num",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "p=:empty",
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: p",
        ),
    ],
)
def test_rejections(expr: str, message: str) -> None:
    assert failure(expr) == message


def test_sort_key_condition_on_a_hash_only_table() -> None:
    assert failure("p=:p AND c=:c", hash_only=True) == (
        "The number of query conditions (2) exceeds the number of key attributes defined in the schema (1)"
    )


def test_empty_binary_sort_key_value() -> None:
    assert failure("p=:p AND c=:eb", range_type="B") == (
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        "cannot contain an empty string value. Key: c"
    )
