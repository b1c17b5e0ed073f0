"""ExpressionContext: the placeholder maps and their use across expressions."""

from __future__ import annotations

import pytest

from regions.expressions import ExpressionContext, parse_condition, parse_projection, parse_update

from .helpers import av, ctx, error


@pytest.mark.parametrize(
    ("names", "values", "message"),
    [
        ({}, None, "ExpressionAttributeNames must not be empty"),
        (None, {}, "ExpressionAttributeValues must not be empty"),
        ({}, {}, "ExpressionAttributeNames must not be empty"),
        ({"a": "a"}, None, 'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'),
        ({"#": "a"}, None, 'ExpressionAttributeNames contains invalid key: Syntax error; key: "#"'),
        (
            {"#a-b": "a"},
            None,
            'ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b"',
        ),
        (
            None,
            {"v": {"S": "x"}},
            'ExpressionAttributeValues contains invalid key: Syntax error; key: "v"',
        ),
        (
            None,
            {":": {"S": "x"}},
            'ExpressionAttributeValues contains invalid key: Syntax error; key: ":"',
        ),
        (
            None,
            {":v": {"SS": []}},
            "ExpressionAttributeValues contains invalid value: One or more parameter values were "
            "invalid: An string set  may not be empty for key :v",
        ),
        (
            None,
            {":v": {"N": "1e126"}},
            "ExpressionAttributeValues contains invalid value: Number overflow. Attempting to "
            "store a number with magnitude larger than supported range for key :v",
        ),
        (
            None,
            {":v": {}},
            "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, "
            "must contain exactly one of the supported datatypes for key :v",
        ),
        (
            {"#a": ""},
            None,
            "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a",
        ),
    ],
)
def test_rejected_maps(
    names: dict[str, str] | None, values: dict[str, dict[str, object]] | None, message: str
) -> None:
    assert error(ExpressionContext, names, values) == message


def test_placeholder_keys_up_to_255_bytes() -> None:
    long_name, long_value = "#" + "n" * 254, ":" + "v" * 254
    c = ExpressionContext({long_name: "a"}, {long_value: av(1)})
    parse_condition(f"{long_name} = {long_value}", c)
    c.check_all_used()
    assert error(ExpressionContext, {long_name + "n": "a"}, None) == (
        "ExpressionAttributeNames contains invalid key: The expression attribute map contains a "
        "key that is too long; size of key: 256"
    )
    assert error(ExpressionContext, None, {long_value + "v": av(1)}) == (
        "ExpressionAttributeValues contains invalid key: The expression attribute map contains a "
        "key that is too long; size of key: 256"
    )


def test_values_are_canonical() -> None:
    c = ExpressionContext(None, {":n": {"N": "1E+3"}, ":s": {"NS": ["10", "2", "1e0"]}})
    assert c.value(":n") == {"N": "1000"}
    assert c.value(":s") == {"NS": ["1", "2", "10"]}
    assert c.value(":x") is None


def test_no_maps_is_fine() -> None:
    c = ExpressionContext(None, None)
    c.check_all_used()
    parse_projection("a", c)
    c.check_all_used()


def test_unused_value() -> None:
    c = ctx(values={":a": 1, ":b": 2})
    parse_condition("x = :a", c)
    assert error(c.check_all_used) == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"
    )


def test_unused_names_reported_before_values() -> None:
    c = ctx(names={"#a": "a", "#b": "b", "#c": "c"}, values={":v": 1, ":w": 2})
    parse_condition("#a = :v", c)
    assert error(c.check_all_used) == (
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b, #c}"
    )


def test_use_is_shared_across_expressions() -> None:
    c = ctx(names={"#a": "a", "#b": "b"}, values={":v": 1, ":w": 2})
    parse_update("SET #a = :v", c)
    parse_condition("#b = :w", c)
    c.check_all_used()


def test_use_counts_even_if_evaluation_short_circuits() -> None:
    # alternator test_update_condition_unused_entries_short_circuit
    c = ctx(names={"#name1": "a", "#name2": "b"}, values={":val1": 1, ":val2": 2, ":val3": 3})
    parse_condition("#name1 = :val1 OR #name2 = :val2", c)
    parse_update("SET #name1 = :val3", c)
    c.check_all_used()


def test_failed_parse_marks_nothing() -> None:
    c = ctx(values={":v": 1})
    error(parse_condition, "a = :v AND", c)
    assert error(c.check_all_used).endswith("keys: {:v}")


def test_accessors() -> None:
    c = ExpressionContext({"#a": "x.y"}, {":v": av("s")})
    assert c.name("#a") == "x.y"
    assert c.name("#b") is None
    assert c.value(":v") == {"S": "s"}
