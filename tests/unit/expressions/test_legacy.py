"""Legacy parameters: Expected, QueryFilter/ScanFilter, KeyConditions, AttributesToGet and
AttributeUpdates - their translation, evaluation and every rejection text.

Expected outcomes come from alternator's test_expected.py / test_item.py (run against
DynamoDB) and dynalite's suites (texts recorded from DynamoDB); see
regions/expressions/legacy.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from regions.errors import SerializationError
from regions.expressions import (
    apply_attribute_updates,
    attribute_updates_to_update,
    attributes_to_get_paths,
    check_conditional_operator,
    evaluate_condition,
    expected_to_condition,
    filter_to_condition,
    key_conditions_to_key_condition,
    parse_condition,
)
from regions.expressions.ast import (
    AddAction,
    DeleteAction,
    KeyCondition,
    RemoveAction,
    SetAction,
    ValueOperand,
)

from .helpers import av, ctx, error, item

INVALID = "One or more parameter values were invalid: "

ITEM = item(
    {
        "n": 1,
        "s": "hello",
        "b": b"hi there",
        "ss": {"dog", "cat"},
        "ns": {2, 4, 7},
        "bs": {b"x", b"y"},
        "l": [2, 4, "seven", True],
        "m": {"k": 1},
        "t": True,
        "z": None,
        "e": "",
    }
)


def cond(op: str, *values: object) -> dict[str, Any]:
    return {"ComparisonOperator": op, "AttributeValueList": [av(v) for v in values]}


def expected(
    attrs: dict[str, dict[str, Any]], operator: str | None = None, target: Any = ITEM
) -> bool:
    return evaluate_condition(expected_to_condition(attrs, operator), target)


def scan_filter(
    attrs: dict[str, dict[str, Any]], operator: str | None = None, target: Any = ITEM
) -> bool:
    return evaluate_condition(filter_to_condition(attrs, operator), target)


# --------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("attr", "op", "values", "result"),
    [
        # EQ / NE: every type, sets regardless of order, missing attributes
        ("n", "EQ", [1], True),
        ("n", "EQ", [2], False),
        ("n", "EQ", ["1"], False),  # another type is just unequal
        ("ss", "EQ", [{"cat", "dog"}], True),
        ("l", "EQ", [[2, 4, "seven", True]], True),
        ("m", "EQ", [{"k": 1}], True),
        ("q", "EQ", [1], False),
        ("n", "NE", [2], True),
        ("n", "NE", [1], False),
        ("n", "NE", ["1"], True),
        ("q", "NE", [1], True),  # a missing attribute is "not equal"
        # ordering on S, N, B; other types and missing attributes are false
        ("n", "LE", [1], True),
        ("n", "LE", [0], False),
        ("n", "LT", [2], True),
        ("n", "LT", [1], False),
        ("n", "GE", [1], True),
        ("n", "GE", [2], False),
        ("n", "GT", [0], True),
        ("n", "GT", [1], False),
        ("s", "LT", ["world"], True),
        ("s", "GT", ["aardvark"], True),
        ("b", "LE", [b"z"], True),
        ("b", "GE", [b"z"], False),
        ("n", "LE", ["1"], False),
        ("ss", "GT", ["a"], False),
        ("q", "LT", [5], False),
        # NULL / NOT_NULL test existence only (a NULL-typed value exists)
        ("q", "NULL", [], True),
        ("z", "NULL", [], False),
        ("n", "NULL", [], False),
        ("z", "NOT_NULL", [], True),
        ("q", "NOT_NULL", [], False),
        # CONTAINS: substring of S/B, member of a set or list
        ("s", "CONTAINS", ["ell"], True),
        ("s", "CONTAINS", ["dog"], False),
        ("s", "CONTAINS", [1], False),
        ("b", "CONTAINS", [b"here"], True),
        ("ns", "CONTAINS", [4], True),
        ("ns", "CONTAINS", [1], False),
        ("ss", "CONTAINS", ["dog"], True),
        ("l", "CONTAINS", [4], True),
        ("l", "CONTAINS", ["seven"], True),
        ("l", "CONTAINS", [True], True),
        ("l", "CONTAINS", [1], False),
        ("q", "CONTAINS", [1], False),
        # NOT_CONTAINS: the negation, except that a missing attribute is false too
        ("s", "NOT_CONTAINS", ["dog"], True),
        ("s", "NOT_CONTAINS", [1], True),
        ("s", "NOT_CONTAINS", ["ell"], False),
        ("ns", "NOT_CONTAINS", [1], True),
        ("ns", "NOT_CONTAINS", [4], False),
        ("l", "NOT_CONTAINS", [4], False),
        ("b", "NOT_CONTAINS", [b"dog"], True),
        ("q", "NOT_CONTAINS", [1], False),
        # BEGINS_WITH on S and B; an attribute of another type is just false
        ("s", "BEGINS_WITH", ["hell"], True),
        ("s", "BEGINS_WITH", ["dog"], False),
        ("b", "BEGINS_WITH", [b"hi"], True),
        ("n", "BEGINS_WITH", ["1"], False),
        ("q", "BEGINS_WITH", ["x"], False),
        # IN: the attribute equals one of the values (never set membership)
        ("n", "IN", [3, 1, 8], True),
        ("n", "IN", [2, 4], False),
        ("ns", "IN", [2], False),
        ("q", "IN", [1], False),
        # BETWEEN, inclusive
        ("n", "BETWEEN", [0, 1], True),
        ("n", "BETWEEN", [1, 3], True),
        ("n", "BETWEEN", [2, 3], False),
        ("s", "BETWEEN", ["a", "z"], True),
        ("b", "BETWEEN", [b"a", b"z"], True),
        ("n", "BETWEEN", ["a", "z"], False),
        ("q", "BETWEEN", [0, 100], False),
    ],
)
def test_operator(attr: str, op: str, values: list[object], result: bool) -> None:
    assert expected({attr: cond(op, *values)}) is result
    assert scan_filter({attr: cond(op, *values)}) is result


@pytest.mark.parametrize(
    ("legacy", "expression"),
    [
        (("EQ", 1), "#a = :v0"),
        (("NE", 1), "#a <> :v0"),
        (("LT", 4), "#a < :v0"),
        (("LE", 4), "#a <= :v0"),
        (("GT", 4), "#a > :v0"),
        (("GE", 4), "#a >= :v0"),
        (("LT", "m"), "#a < :v0"),
        (("IN", 1, 4), "#a IN (:v0, :v1)"),
        (("BETWEEN", 2, 5), "#a BETWEEN :v0 AND :v1"),
        (("BETWEEN", "a", "k"), "#a BETWEEN :v0 AND :v1"),
        (("NULL",), "attribute_not_exists(#a)"),
        (("NOT_NULL",), "attribute_exists(#a)"),
        (("CONTAINS", "e"), "contains(#a, :v0)"),
        (("CONTAINS", 4), "contains(#a, :v0)"),
        (("BEGINS_WITH", "he"), "begins_with(#a, :v0)"),
        (("NOT_CONTAINS", 4), "attribute_exists(#a) AND NOT contains(#a, :v0)"),
    ],
)
def test_same_result_as_the_equivalent_expression(legacy: tuple[Any, ...], expression: str) -> None:
    op, *values = legacy
    targets = [
        None,
        *({"a": v} for v in ITEM.values()),
        item({"a": 4}),
        item({"a": "hello"}),
        item({"a": [1, 4]}),
    ]
    placeholders = {f":v{i}": v for i, v in enumerate(values)}
    parsed = parse_condition(expression, ctx({"#a": "a"}, placeholders or None))
    legacy_cond = expected_to_condition({"a": cond(op, *values)}, None)
    for target in targets:
        assert evaluate_condition(legacy_cond, target) == evaluate_condition(parsed, target), target


def test_not_contains_differs_from_not_contains_expression_on_a_missing_attribute() -> None:
    # The reason NOT_CONTAINS is not translated as plain "NOT contains(a, :v)".
    parsed = parse_condition("NOT contains(a, :v)", ctx(None, {":v": 1}))
    assert evaluate_condition(parsed, {}) is True
    assert expected({"a": cond("NOT_CONTAINS", 1)}, target={}) is False
    assert expected({"a": cond("CONTAINS", 1)}, target={}) is False


def test_attribute_names_are_literal() -> None:
    target = item({"a.b": 1, "a": {"b": 2}})
    assert expected({"a.b": cond("EQ", 1)}, target=target) is True
    assert expected({"a.b": cond("EQ", 2)}, target=target) is False


def test_missing_item_has_every_attribute_missing() -> None:
    assert expected({"a": cond("NULL")}, target=None) is True
    assert expected({"a": {"Exists": False}}, target=None) is True
    assert expected({"a": {"Value": av(1)}}, target=None) is False
    assert expected({"a": cond("NE", 1)}, target=None) is True


# --------------------------------------------------------------------------- Expected forms


@pytest.mark.parametrize(
    ("spec", "result"),
    [
        ({"Value": av(1)}, True),
        ({"Value": av(2)}, False),
        ({"Exists": True, "Value": av(1)}, True),
        ({"Exists": True, "Value": av(2)}, False),
        ({"Exists": False}, False),
        ({"ComparisonOperator": "EQ", "Value": av(1)}, True),  # Value stands in for the list
        ({"ComparisonOperator": "GT", "Value": av(1)}, False),
        ({"ComparisonOperator": "NOT_NULL"}, True),  # no list needed
        ({"ComparisonOperator": "NULL", "AttributeValueList": []}, False),
    ],
)
def test_expected_forms(spec: dict[str, Any], result: bool) -> None:
    assert expected({"n": spec}) is result


def test_expected_exists_false_on_missing_attribute() -> None:
    assert expected({"q": {"Exists": False}}) is True
    assert expected({"q": {"Value": av(1)}}) is False


def test_and_is_the_default_and_or_needs_one() -> None:
    conditions = {"n": {"Value": av(1)}, "s": cond("EQ", "nope"), "q": {"Exists": False}}
    assert expected(conditions) is False
    assert expected(conditions, "AND") is False
    assert expected(conditions, "OR") is True
    everything_false = {"n": {"Value": av(9)}, "s": cond("EQ", "nope")}
    assert expected(everything_false, "OR") is False
    all_true = {"n": {"Value": av(1)}, "s": cond("BEGINS_WITH", "he")}
    assert expected(all_true) is True
    assert scan_filter({"n": cond("EQ", 9), "s": cond("EQ", "hello")}, "OR") is True
    assert scan_filter({"n": cond("EQ", 9), "s": cond("EQ", "hello")}, "AND") is False


def test_empty_maps_always_hold() -> None:
    assert expected({}) is True
    assert expected({}, target=None) is True
    assert scan_filter({}) is True


def test_values_are_canonical() -> None:
    # "1.0" and "1" are the same number; a set given out of order still matches
    assert expected({"n": {"Value": {"N": "1.0"}}}) is True
    assert expected({"ns": {"Value": {"NS": ["7", "2", "4"]}}}) is True


# --------------------------------------------------------------------------- Expected errors


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"Value": av(1), "AttributeValueList": [av(1)], "ComparisonOperator": "EQ"},
            "Value and AttributeValueList cannot be used together for Attribute: a",
        ),
        (
            {"Exists": False, "ComparisonOperator": "EQ", "AttributeValueList": [av(3)]},
            "Exists and ComparisonOperator cannot be used together for Attribute: a",
        ),
        (
            {"Exists": True, "ComparisonOperator": "NULL"},
            "Exists and ComparisonOperator cannot be used together for Attribute: a",
        ),
        (
            {"ComparisonOperator": "EQ"},
            "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a",
        ),
        (
            {"AttributeValueList": [av(1)]},
            "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
        ),
        ({}, "Value must be provided when Exists is null for Attribute: a"),
        ({"Exists": True}, "Value must be provided when Exists is true for Attribute: a"),
        (
            {"Exists": False, "Value": av(1)},
            "Value cannot be used when Exists is false for Attribute: a",
        ),
        (
            {"ComparisonOperator": "BETWEEN", "Value": av("a")},
            "Invalid number of argument(s) for the BETWEEN ComparisonOperator",
        ),
        (
            {"ComparisonOperator": "NULL", "Value": av("a")},
            "Invalid number of argument(s) for the NULL ComparisonOperator",
        ),
        (
            {"ComparisonOperator": "EQ", "AttributeValueList": [av(2), av(3)]},
            "Invalid number of argument(s) for the EQ ComparisonOperator",
        ),
        (
            {"ComparisonOperator": "IN", "AttributeValueList": [av(3), av("dog")]},
            "AttributeValues inside AttributeValueList must be of same type",
        ),
        (
            {"ComparisonOperator": "CONTAINS", "AttributeValueList": [av([1])]},
            "ComparisonOperator CONTAINS is not valid for L AttributeValue type",
        ),
        (
            {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [av(3)]},
            "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
        ),
    ],
)
def test_expected_errors(spec: dict[str, Any], message: str) -> None:
    assert error(expected_to_condition, {"a": spec}, None) == INVALID + message


def test_expected_between_bounds_and_value_errors() -> None:
    spec = {"ComparisonOperator": "BETWEEN", "AttributeValueList": [av(4), av(3)]}
    assert error(expected_to_condition, {"a": spec}, None) == (
        "The BETWEEN condition was provided a range where the lower bound is greater than the "
        "upper bound"
    )
    assert error(expected_to_condition, {"a": {"Value": {}}}, None) == (
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    )
    assert error(expected_to_condition, {"a": {"Value": {"NS": ["1", ""]}}}, None) == (
        "The parameter cannot be converted to a numeric value"
    )
    assert error(
        expected_to_condition, {"a": {"ComparisonOperator": "eq", "Value": av(1)}}, None
    ) == (
        "1 validation error detected: Value 'eq' at 'expected.a.member.comparisonOperator' "
        "failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, "
        "LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
    )
    with pytest.raises(SerializationError):
        expected_to_condition({"a": {"Exists": "yes"}}, None)
    with pytest.raises(SerializationError):
        expected_to_condition({"a": ["EQ"]}, None)


# --------------------------------------------------------------------------- ConditionalOperator


def test_conditional_operator_needs_two_conditions() -> None:
    without = "ConditionalOperator cannot be used without Filter or Expected"
    one = "ConditionalOperator can only be used when Filter or Expected has two or more elements"
    assert error(check_conditional_operator, None, "AND") == without
    assert error(check_conditional_operator, {}, "OR") == without
    assert error(expected_to_condition, {}, "OR") == without
    assert error(expected_to_condition, {"a": {"Value": av(1)}}, "AND") == one
    assert error(filter_to_condition, {"a": cond("NULL")}, "OR") == one
    assert error(check_conditional_operator, {"a": 1, "b": 2}, "XOR") == (
        "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy "
        "constraint: Member must satisfy enum value set: [OR, AND]"
    )
    check_conditional_operator(None, None)
    check_conditional_operator({"a": 1, "b": 2}, "OR")


# --------------------------------------------------------------------------- filter errors


@pytest.mark.parametrize(
    "spec",
    [
        {"ComparisonOperator": "EQ"},
        {"ComparisonOperator": "EQ", "AttributeValueList": []},
        {"ComparisonOperator": "NE"},
        {"ComparisonOperator": "LE"},
        {"ComparisonOperator": "LT"},
        {"ComparisonOperator": "GE"},
        {"ComparisonOperator": "GT"},
        {"ComparisonOperator": "CONTAINS"},
        {"ComparisonOperator": "NOT_CONTAINS"},
        {"ComparisonOperator": "BEGINS_WITH"},
        {"ComparisonOperator": "IN"},
        {"ComparisonOperator": "BETWEEN"},
        cond("NULL", "a"),
        cond("NOT_NULL", "a"),
        cond("EQ", "a", "a"),
        cond("NE", "a", "a"),
        cond("LE", "a", "a"),
        cond("LT", "a", "a"),
        cond("GE", "a", "a"),
        cond("GT", "a", "a"),
        cond("CONTAINS", "a", "a"),
        cond("NOT_CONTAINS", "a", "a"),
        cond("BEGINS_WITH", "a", "a"),
        cond("BETWEEN", "a"),
        cond("BETWEEN", "a", "a", "a"),
    ],
)
def test_filter_argument_counts(spec: dict[str, Any]) -> None:
    op = spec["ComparisonOperator"]
    assert error(filter_to_condition, {"a": spec}, None) == (
        f"{INVALID}Invalid number of argument(s) for the {op} ComparisonOperator"
    )


_NOT_SCALAR = [True, None, {"a"}, {1}, {b"ab"}, {"k": 1}, []]


@pytest.mark.parametrize(
    ("op", "value"),
    [(op, v) for op in ("LT", "LE", "GT", "GE", "IN") for v in _NOT_SCALAR]
    + [(op, v) for op in ("CONTAINS", "NOT_CONTAINS") for v in _NOT_SCALAR[2:]]
    + [("BEGINS_WITH", v) for v in [1, *_NOT_SCALAR]],
)
def test_filter_value_types(op: str, value: object) -> None:
    tag = next(iter(av(value)))
    assert error(filter_to_condition, {"a": cond(op, value)}, None) == (
        f"{INVALID}ComparisonOperator {op} is not valid for {tag} AttributeValue type"
    )


@pytest.mark.parametrize("value", _NOT_SCALAR)
def test_filter_between_types(value: object) -> None:
    tag = next(iter(av(value)))
    assert error(filter_to_condition, {"a": cond("BETWEEN", value, value)}, None) == (
        f"{INVALID}ComparisonOperator BETWEEN is not valid for {tag} AttributeValue type"
    )


@pytest.mark.parametrize("value", [{"a"}, [1], {"k": 1}, True, None, b"x"])
def test_eq_and_ne_take_every_type(value: object) -> None:
    filter_to_condition({"a": cond("EQ", value), "b": cond("NE", value)}, None)


def test_contains_takes_bool_and_null() -> None:
    # only a list element can match them
    target = item({"l": [True, None]})
    assert scan_filter({"l": cond("CONTAINS", True)}, target=target) is True
    assert scan_filter({"l": cond("CONTAINS", None)}, target=target) is True


def test_filter_other_errors() -> None:
    assert error(filter_to_condition, {"a": cond("BETWEEN", "dog", "aardvark")}, None) == (
        "The BETWEEN condition was provided a range where the lower bound is greater than the "
        "upper bound"
    )
    assert error(filter_to_condition, {"a": cond("BETWEEN", 4, "dog")}, None) == (
        f"{INVALID}AttributeValues inside AttributeValueList must be of same type"
    )
    assert error(
        filter_to_condition, {"a": {"AttributeValueList": [av(1)]}}, None, "ScanFilter"
    ) == (
        "1 validation error detected: Value null at 'scanFilter.a.member.comparisonOperator' "
        "failed to satisfy constraint: Member must not be null"
    )
    assert error(
        filter_to_condition, {"a": {"ComparisonOperator": ""}}, None, "QueryFilter"
    ).startswith(
        "1 validation error detected: Value '' at 'queryFilter.a.member.comparisonOperator' "
        "failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL"
    )
    # values are validated before they are counted
    assert error(
        filter_to_condition,
        {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [av(1), {}]}},
        None,
    ) == ("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    assert error(
        filter_to_condition,
        {"a": cond("EQ", "x") | {"AttributeValueList": [{"SS": ["a", "a"]}]}},
        None,
    ) == (f"{INVALID}Input collection [a, a] contains duplicates.")
    with pytest.raises(SerializationError):
        filter_to_condition({"a": {"ComparisonOperator": "EQ", "AttributeValueList": "x"}}, None)


# --------------------------------------------------------------------------- KeyConditions


def key(
    conditions: dict[str, dict[str, Any]], *, hash_only: bool = False, range_type: str = "N"
) -> KeyCondition:
    if hash_only:
        return key_conditions_to_key_condition(conditions, "p", "S", None, None)
    return key_conditions_to_key_condition(conditions, "p", "S", "c", range_type)


@pytest.mark.parametrize(
    ("op", "values", "range_op"),
    [
        ("EQ", [3], "="),
        ("LT", [3], "<"),
        ("LE", [3], "<="),
        ("GT", [3], ">"),
        ("GE", [3], ">="),
        ("BETWEEN", [3, 7], "BETWEEN"),
    ],
)
def test_key_conditions_on_the_sort_key(op: str, values: list[int], range_op: str) -> None:
    kc = key({"p": cond("EQ", "pk"), "c": cond(op, *values)})
    assert kc == KeyCondition(av("pk"), range_op, tuple(av(v) for v in values))


def test_key_conditions_forms() -> None:
    assert key({"p": cond("EQ", "pk")}) == KeyCondition(av("pk"), None, ())
    assert key({"p": cond("EQ", "pk")}, hash_only=True) == KeyCondition(av("pk"), None, ())
    assert key({"c": cond("BEGINS_WITH", "00"), "p": cond("EQ", "pk")}, range_type="S") == (
        KeyCondition(av("pk"), "BEGINS_WITH", (av("00"),))
    )
    assert key({"p": cond("EQ", "pk"), "c": cond("BEGINS_WITH", b"\xff")}, range_type="B") == (
        KeyCondition(av("pk"), "BEGINS_WITH", (av(b"\xff"),))
    )
    # canonical numbers
    kc = key(
        {
            "p": cond("EQ", "pk"),
            "c": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "03.50"}]},
        }
    )
    assert kc.range_values == ({"N": "3.5"},)


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({}, "Conditions can be of length 1 or 2 only"),
        (
            {"p": cond("EQ", "x"), "c": cond("EQ", 1), "z": cond("EQ", 1)},
            "Conditions can be of length 1 or 2 only",
        ),
        ({"c": cond("EQ", 3)}, "Query condition missed key schema element: p"),
        ({"z": cond("EQ", 3)}, "Query condition missed key schema element: p"),
        (
            {"p": cond("EQ", "x"), "z": cond("EQ", 3)},
            "Query condition missed key schema element: c",
        ),
        ({"p": cond("NE", "x")}, "Attempted conditional constraint is not an indexable operation"),
        ({"p": cond("IN", "x")}, "Attempted conditional constraint is not an indexable operation"),
        ({"p": cond("NULL")}, "Attempted conditional constraint is not an indexable operation"),
        ({"p": cond("NOT_NULL")}, "Attempted conditional constraint is not an indexable operation"),
        (
            {"p": cond("CONTAINS", "x")},
            "Attempted conditional constraint is not an indexable operation",
        ),
        (
            {"p": cond("EQ", "x"), "c": cond("NOT_CONTAINS", 3)},
            "Attempted conditional constraint is not an indexable operation",
        ),
        ({"p": cond("LT", "x")}, "Query key condition not supported"),
        ({"p": cond("BEGINS_WITH", "x")}, "Query key condition not supported"),
        ({"p": cond("BETWEEN", "x", "y")}, "Query key condition not supported"),
        (
            {"p": cond("EQ", 3)},
            INVALID + "Condition parameter type does not match schema type",
        ),
        (
            {"p": cond("EQ", "x"), "c": cond("EQ", "3")},
            INVALID + "Condition parameter type does not match schema type",
        ),
        (
            {"p": cond("EQ", "x"), "c": cond("BEGINS_WITH", 3)},
            INVALID + "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
        ),
        (
            {"p": cond("EQ")},
            INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator",
        ),
        (
            {"p": cond("EQ", "x", "y")},
            INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator",
        ),
        (
            {"p": cond("EQ", "x"), "c": cond("BETWEEN", 7, 3)},
            "The BETWEEN condition was provided a range where the lower bound is greater than "
            "the upper bound",
        ),
        (
            {"p": cond("EQ", "")},
            "One or more parameter values are not valid. The AttributeValue for a key attribute "
            "cannot contain an empty string value. Key: p",
        ),
        (
            {"p": {"AttributeValueList": [av("x")]}},
            "1 validation error detected: Value null at 'keyConditions.p.member.comparisonOperator' "
            "failed to satisfy constraint: Member must not be null",
        ),
    ],
)
def test_key_conditions_errors(conditions: dict[str, dict[str, Any]], message: str) -> None:
    assert error(key, conditions) == message


def test_key_conditions_on_a_hash_only_table() -> None:
    assert error(key, {"p": cond("EQ", "x"), "c": cond("EQ", 1)}, hash_only=True) == (
        "Query key condition not supported"
    )


# --------------------------------------------------------------------------- AttributesToGet


def test_attributes_to_get() -> None:
    assert attributes_to_get_paths(["a", "b.c", "#x"]) == [("a",), ("b.c",), ("#x",)]
    assert error(attributes_to_get_paths, ["a", "b", "a"]) == (
        INVALID + "Duplicate value in attribute name: a"
    )
    assert error(attributes_to_get_paths, []) == (
        "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1"
    )


# --------------------------------------------------------------------------- AttributeUpdates


def test_attribute_updates_translation() -> None:
    update = attribute_updates_to_update(
        {
            "a": {"Value": av(1)},
            "b": {"Action": "PUT", "Value": av("x")},
            "c": {"Action": "DELETE"},
            "d": {"Action": "DELETE", "Value": av({1})},
            "e": {"Action": "ADD", "Value": av(2)},
        }
    )
    assert update.actions == (
        SetAction(("a",), ValueOperand(":a", av(1))),
        SetAction(("b",), ValueOperand(":b", av("x"))),
        RemoveAction(("c",)),
        DeleteAction(("d",), av({1})),
        AddAction(("e",), av(2)),
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"x": "whatever"},
            INVALID + "Only DELETE action is allowed when no attribute value is specified",
        ),
        (
            {"Action": "PUT"},
            INVALID + "Only DELETE action is allowed when no attribute value is specified",
        ),
        (
            {"Action": "ADD"},
            INVALID + "Only DELETE action is allowed when no attribute value is specified",
        ),
        *[
            (
                {"Action": "DELETE", "Value": av(v)},
                f"{INVALID}DELETE action with value is not supported for the type {t}",
            )
            for v, t in [
                ("1", "S"),
                (1, "N"),
                (b"b", "B"),
                (None, "NULL"),
                (True, "BOOL"),
                ({}, "M"),
                ([], "L"),
            ]
        ],
        *[
            (
                {"Action": "ADD", "Value": av(v)},
                f"{INVALID}ADD action is not supported for the type {t}",
            )
            for v, t in [("1", "S"), (b"b", "B"), (None, "NULL"), (True, "BOOL"), ({}, "M")]
        ],
        (
            {"Action": "REPLACE", "Value": av(1)},
            "1 validation error detected: Value 'REPLACE' at 'attributeUpdates.a.member.action' "
            "failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]",
        ),
        (
            {"Value": {}},
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
        ({"Action": "DELETE", "Value": {"SS": []}}, INVALID + "An string set  may not be empty"),
    ],
)
def test_attribute_updates_errors(spec: dict[str, Any], message: str) -> None:
    assert error(attribute_updates_to_update, {"a": spec}) == message


def apply(old: dict[str, object] | None, updates: dict[str, Any]) -> dict[str, Any]:
    result = apply_attribute_updates(
        item(old) if old is not None else None, attribute_updates_to_update(updates), ("p",)
    )
    return result.item


@pytest.mark.parametrize(
    ("old", "updates", "new"),
    [
        ({"a": "hi"}, {"b": {"Value": av("x")}}, {"a": "hi", "b": "x"}),
        ({"a": "hi"}, {"a": {"Action": "PUT", "Value": av([1])}}, {"a": [1]}),
        ({"a": "hi", "b": 1}, {"a": {"Action": "DELETE"}}, {"b": 1}),
        ({"b": 1}, {"a": {"Action": "DELETE"}}, {"b": 1}),
        # DELETE with a set removes elements; an emptied set goes; unknown elements are fine
        (
            {"a": {1, 2, 3, 4, 5}},
            {"a": {"Action": "DELETE", "Value": av({2, 4})}},
            {"a": {1, 3, 5}},
        ),
        ({"a": {"dog", "cat"}}, {"a": {"Action": "DELETE", "Value": av({"dog"})}}, {"a": {"cat"}}),
        ({"a": {b"x", b"y"}}, {"a": {"Action": "DELETE", "Value": av({b"y"})}}, {"a": {b"x"}}),
        ({"a": {1, 2}}, {"a": {"Action": "DELETE", "Value": av({1, 2})}}, {}),
        ({"a": {1, 2}}, {"a": {"Action": "DELETE", "Value": av({7})}}, {"a": {1, 2}}),
        ({"a": {1, 2}}, {"a": {"Action": "DELETE", "Value": {"NS": ["1.0"]}}}, {"a": {2}}),
        ({}, {"a": {"Action": "DELETE", "Value": av({7})}}, {}),
        # ADD: numbers, sets, lists; a missing attribute is created
        ({"a": 7}, {"a": {"Action": "ADD", "Value": av(2)}}, {"a": 9}),
        ({"a": 7}, {"a": {"Action": "ADD", "Value": {"N": "-3.5"}}}, {"a": 3.5}),
        ({}, {"a": {"Action": "ADD", "Value": av(2)}}, {"a": 2}),
        ({"a": {1, 2}}, {"a": {"Action": "ADD", "Value": av({3, 2})}}, {"a": {1, 2, 3}}),
        ({"a": {"x"}}, {"a": {"Action": "ADD", "Value": av({"y"})}}, {"a": {"x", "y"}}),
        ({}, {"a": {"Action": "ADD", "Value": av({"y"})}}, {"a": {"y"}}),
        ({"a": [1, 2]}, {"a": {"Action": "ADD", "Value": av([3, 1])}}, {"a": [1, 2, 3, 1]}),
        ({"a": ["a"]}, {"a": {"Action": "ADD", "Value": av([3])}}, {"a": ["a", 3]}),
        ({}, {"a": {"Action": "ADD", "Value": av([7])}}, {"a": [7]}),
        # several at once
        (
            {"a": 1, "b": "x"},
            {
                "a": {"Action": "ADD", "Value": av(1)},
                "b": {"Action": "DELETE"},
                "c": {"Value": av(True)},
            },
            {"a": 2, "c": True},
        ),
    ],
)
def test_apply_attribute_updates(
    old: dict[str, object], updates: dict[str, Any], new: dict[str, object]
) -> None:
    assert apply(old, updates) == item(new)


def test_added_sets_stay_canonical() -> None:
    result = apply({"a": {10, 2}}, {"a": {"Action": "ADD", "Value": {"NS": ["1", "30"]}}})
    assert result["a"] == {"NS": ["1", "2", "10", "30"]}


@pytest.mark.parametrize(
    ("old", "updates"),
    [
        ({"a": {1, 2}}, {"a": {"Action": "ADD", "Value": av({"a"})}}),
        ({"a": {"dog"}}, {"a": {"Action": "ADD", "Value": av(2)}}),
        ({"a": {"dog"}}, {"a": {"Action": "ADD", "Value": av(["cat"])}}),
        ({"a": ["dog"]}, {"a": {"Action": "ADD", "Value": av({"cat"})}}),
        ({"a": ["dog"]}, {"a": {"Action": "ADD", "Value": av(3)}}),
        ({"a": 2}, {"a": {"Action": "ADD", "Value": av(["dog"])}}),
        ({"a": "dog"}, {"a": {"Action": "ADD", "Value": av(1)}}),
        ({"a": {1}}, {"a": {"Action": "DELETE", "Value": av({"hi"})}}),
        ({"a": 1}, {"a": {"Action": "DELETE", "Value": av({1})}}),
        ({"a": {"k": 3}}, {"a": {"Action": "DELETE", "Value": av({1, 2})}}),
    ],
)
def test_apply_type_mismatch(old: dict[str, object], updates: dict[str, Any]) -> None:
    assert error(apply, old, updates) == "Type mismatch for attribute to update"


def test_apply_number_limits() -> None:
    old = {"a": {"N": "9" * 38}}
    exact = attribute_updates_to_update({"a": {"Action": "ADD", "Value": {"N": "1"}}})
    assert apply_attribute_updates(old, exact, ("p",)).item == {"a": {"N": "1" + "0" * 38}}
    too_precise = attribute_updates_to_update({"a": {"Action": "ADD", "Value": {"N": "0.1"}}})
    assert error(apply_attribute_updates, old, too_precise, ("p",)) == (
        "Attempting to store more than 38 significant digits in a Number"
    )
    big = {"a": {"N": "9.9E+125"}}
    overflow = attribute_updates_to_update({"a": {"Action": "ADD", "Value": {"N": "9.9E+125"}}})
    assert error(apply_attribute_updates, big, overflow, ("p",)).startswith("Number overflow.")


def test_key_attributes_cannot_be_updated() -> None:
    for spec in ({"Value": av("x")}, {"Action": "DELETE"}, {"Action": "ADD", "Value": av(1)}):
        update = attribute_updates_to_update({"c": spec})
        assert error(apply_attribute_updates, item({"p": "k", "c": 1}), update, ("p", "c")) == (
            INVALID + "Cannot update attribute c. This attribute is part of the key"
        )


def test_creation_rules() -> None:
    def result(updates: dict[str, Any]) -> tuple[bool, bool]:
        r = apply_attribute_updates(None, attribute_updates_to_update(updates), ("p",))
        return r.created, r.touched_only_remove

    # an empty map or any PUT/ADD creates the item; only DELETEs do not
    assert result({}) == (True, False)
    assert result({"a": {"Value": av(1)}}) == (True, False)
    assert result({"a": {"Action": "ADD", "Value": av(1)}, "b": {"Action": "DELETE"}}) == (
        True,
        False,
    )
    assert result({"a": {"Action": "DELETE"}}) == (False, True)
    assert result({"a": {"Action": "DELETE", "Value": av({1})}, "b": {"Action": "DELETE"}}) == (
        False,
        True,
    )
    existing = apply_attribute_updates(
        item({"a": 1}), attribute_updates_to_update({"a": {"Action": "DELETE"}}), ("p",)
    )
    assert (existing.created, existing.touched_only_remove, existing.item) == (False, True, {})


def test_updated_paths_and_input_untouched() -> None:
    old = item({"a": {1, 2}, "b": [1]})
    snapshot = {k: dict(v) for k, v in old.items()}
    update = attribute_updates_to_update(
        {"a": {"Action": "DELETE", "Value": av({1})}, "b": {"Action": "ADD", "Value": av([2])}}
    )
    result = apply_attribute_updates(old, update, ("p",))
    assert result.updated_paths == [("a",), ("b",)]
    assert old == snapshot
    assert result.item == item({"a": {2}, "b": [1, 2]})
