"""Applying UpdateExpressions to items: every action, nested paths, list indexes,
number arithmetic, sets, key protection and the result flags."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import pytest

from regions.expressions import ExpressionContext, apply_update, parse_update, updated_attributes
from regions.expressions.ast import UpdateResult

from .helpers import AV, av, ctx, error, item

KEYS = ("p",)
INVALID_PATH = "The document path provided in the update expression is invalid for update"
MISSING = "The provided expression refers to an attribute that does not exist in the item"
WRONG_TYPE = "An operand in the update expression has an incorrect data type"
OVERFLOW = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
UNDERFLOW = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
PRECISION = "Attempting to store more than 38 significant digits in a Number"


def wire_ctx(numbers: dict[str, str]) -> ExpressionContext:
    """A context of N values given as exact strings (no float rounding)."""
    return ExpressionContext(None, {k: {"N": v} for k, v in numbers.items()})


def run(
    expr: str,
    start: Mapping[str, object] | None,
    values: Mapping[str, object] | None = None,
    names: dict[str, str] | None = None,
    keys: tuple[str, ...] = KEYS,
) -> UpdateResult:
    update = parse_update(expr, ctx(names, values))
    old = None if start is None else item(start)
    return apply_update(old, update, keys)


def new(
    expr: str,
    start: Mapping[str, object] | None,
    values: Mapping[str, object] | None = None,
    names: dict[str, str] | None = None,
) -> dict[str, AV]:
    return run(expr, start, values, names).item


def failure(
    expr: str, start: Mapping[str, object] | None, values: Mapping[str, object] | None = None
) -> str:
    update = parse_update(expr, ctx(None, values))
    old = None if start is None else item(start)
    return error(apply_update, old, update, KEYS)


# --- SET -------------------------------------------------------------------------------


def test_set_creates_and_replaces() -> None:
    assert new("SET b = :v", {"p": "k", "a": "hi"}, {":v": 4}) == item(
        {"p": "k", "a": "hi", "b": 4}
    )
    assert new("SET a = :v", {"p": "k", "a": "hi"}, {":v": "hey"}) == item({"p": "k", "a": "hey"})
    assert new("SET x = :v, y = :v", {"p": "k"}, {":v": 4}) == item({"p": "k", "x": 4, "y": 4})


def test_set_empty_containers_and_strings() -> None:
    values = {":l": [], ":m": {}, ":s": "", ":b": b""}
    assert new("SET d = :l, e = :m, f = :s, g = :b", {"p": "k"}, values) == item(
        {"p": "k", "d": [], "e": {}, "f": "", "g": b""}
    )


def test_set_copies_an_attribute() -> None:
    assert new("SET b = a", {"a": "hello"}) == item({"a": "hello", "b": "hello"})
    assert new("SET z = a.c.x", {"a": {"c": {"x": 7}}}) == item({"a": {"c": {"x": 7}}, "z": 7})
    assert new("SET a = a", {"a": "hello"}) == item({"a": "hello"})


@pytest.mark.parametrize(
    ("expr", "start"),
    [
        ("SET c = z", {"a": 1}),
        ("SET c = z", None),
        ("SET z = z", {"a": 1}),
        ("SET x = :v, y = x", {"a": 1}),  # values are read before anything is written
        ("SET a = b + :v", {"a": 1}),
        ("SET a = :v - b", {"a": 1}),
        ("SET a = list_append(b, :l)", {"a": 1}),
        ("SET a = list_append(:l, b)", None),
        ("SET a = if_not_exists(a, b)", {"a": 1}),  # the fallback is always evaluated
        ("SET a = b.c[1]", {"b": {"c": [0]}}),
    ],
)
def test_missing_operand(expr: str, start: Mapping[str, object] | None) -> None:
    assert failure(expr, start, {":v": 1, ":l": [1]}) == MISSING


def test_values_come_from_the_old_item() -> None:
    assert new("SET a = b, b = a", {"a": 1, "b": 2}) == item({"a": 2, "b": 1})
    assert new("REMOVE a SET b = a", {"a": "hello"}) == item({"b": "hello"})
    assert new("SET c = b REMOVE b", {"b": "hello"}) == item({"c": "hello"})


def test_arithmetic() -> None:
    assert new("SET b = :v + :w", {}, {":v": 4, ":w": 3}) == item({"b": 7})
    assert new("SET b = :v - :w", {}, {":v": 5, ":w": 2}) == item({"b": 3})
    assert new("SET a = a + :v", {"a": 2}, {":v": 3}) == item({"a": 5})
    assert new("SET a = :v - a", {"a": 2}, {":v": 3}) == item({"a": 1})
    assert new("SET b = a + a", {"a": 2}) == item({"a": 2, "b": 4})
    assert new("SET n = :a + :b", {}, {":a": 0.1, ":b": 0.2}) == {"n": {"N": "0.3"}}
    assert new("SET n = :a - :a", {}, {":a": 7.5}) == {"n": {"N": "0"}}
    assert new("SET n = :a + :b", {}, {":a": 1e125, ":b": -1e125}) == {"n": {"N": "0"}}
    assert new("SET n = if_not_exists(n, :z) + :one", {}, {":z": 0, ":one": 1}) == {"n": {"N": "1"}}
    assert new("SET #nn = :seven - #n", {"n": 2}, {":seven": 7}, {"#nn": "nn", "#n": "n"}) == item(
        {"n": 2, "nn": 5}
    )


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ("9.9999999999999999999999999999999999999E+125", "1E+125", OVERFLOW),
        ("1.1E-130", "-1E-130", UNDERFLOW),
        ("1E+37", "0.1", OVERFLOW),  # DynamoDB words it so (Alternator, test_number.py)
    ],
)
def test_arithmetic_limits(a: str, b: str, message: str) -> None:
    update = parse_update("SET n = :a + :b", wire_ctx({":a": a, ":b": b}))
    assert error(apply_update, {}, update, KEYS) == message


def test_arithmetic_on_non_numbers() -> None:
    assert failure("SET a = a + :v", {"a": "str"}, {":v": 1}) == WRONG_TYPE
    assert failure("SET a = :v - a", {"a": {1, 2}}, {":v": 1}) == WRONG_TYPE


def test_list_append() -> None:
    values = {":a": [4, "hello"], ":b": ["hi", 7]}
    assert new("SET a = list_append(:a, :b)", {}, values) == item({"a": [4, "hello", "hi", 7]})
    assert new("SET a = list_append(a, :b)", {"a": [1]}, values) == item({"a": [1, "hi", 7]})
    assert new("SET a = list_append(:b, a)", {"a": [1]}, values) == item({"a": ["hi", 7, 1]})
    assert new("SET c = list_append(a, b)", {"a": [1], "b": []}) == item(
        {"a": [1], "b": [], "c": [1]}
    )
    assert new("SET a = list_append(if_not_exists(a, :e), :b)", {}, {":e": [], ":b": [1]}) == item(
        {"a": [1]}
    )


@pytest.mark.parametrize("value", [7, "hello", b"hi", {1, 2, 3}, {"a": 3}, True, None])
def test_list_append_needs_lists(value: object) -> None:
    assert failure("SET a = list_append(b, :l)", {"b": value}, {":l": [1]}) == WRONG_TYPE
    assert failure("SET a = list_append(:l, b)", {"b": value}, {":l": [1]}) == WRONG_TYPE


def test_if_not_exists() -> None:
    assert new("SET a = if_not_exists(a, :v)", {}, {":v": 2}) == item({"a": 2})
    assert new("SET a = if_not_exists(a, :v)", {"a": 1}, {":v": 2}) == item({"a": 1})
    assert new("SET b = if_not_exists(c, :v)", {"a": 1}, {":v": 4}) == item({"a": 1, "b": 4})
    assert new("SET b = if_not_exists(a, :v)", {"a": 1}, {":v": 4}) == item({"a": 1, "b": 1})
    assert new("SET a = if_not_exists(b, if_not_exists(c, :v))", {}, {":v": 3}) == item({"a": 3})
    assert new("SET x = if_not_exists(b.c, a)", {"a": 3}) == item({"a": 3, "x": 3})


# --- nested paths and lists ------------------------------------------------------------


def test_set_nested() -> None:
    start = {"a": {"b": 3, "c": 4}, "d": 5}
    assert new("SET a.c = :v", start, {":v": 7}) == item({"a": {"b": 3, "c": 7}, "d": 5})
    assert new("SET a.d = :v", start, {":v": 3}) == item({"a": {"b": 3, "c": 4, "d": 3}, "d": 5})
    assert new("SET a.c = :v", {"a": {"c": {"one": 1}}}, {":v": 7}) == item({"a": {"c": 7}})


def test_set_deep_with_names_and_indexes() -> None:
    start = {"a": {"b": 3, "c": ["hi", {"x": {"y": [3, 5, 7]}}]}}
    result = new("SET a.c[1].#name.y[1] = :v", start, {":v": 9}, {"#name": "x"})
    assert result == item({"a": {"b": 3, "c": ["hi", {"x": {"y": [3, 9, 7]}}]}})
    result = new("SET a.z = a.c[1].#name.y[1]", start, None, {"#name": "x"})
    assert result["a"]["M"]["z"] == av(5)


def test_placeholder_with_a_dot_is_one_attribute() -> None:
    assert new("SET #a = :v", {}, {":v": 3}, {"#a": "a.b"}) == item({"a.b": 3})


def test_several_nested_changes() -> None:
    start = {"a": {"x": 3, "y": 4, "c": {"y": 3}}, "b": {"x": 1, "y": 2}}
    result = new(
        "SET a.b = :v1, a.c.d = :v2, b.x = :v3 REMOVE a.x, b.y",
        start,
        {":v1": 10, ":v2": "dog", ":v3": 17},
    )
    assert result == item({"a": {"y": 4, "b": 10, "c": {"y": 3, "d": "dog"}}, "b": {"x": 17}})


def test_set_list_element() -> None:
    assert new("SET a[1] = :v", {"a": ["one", "two", "three"]}, {":v": "hello"}) == item(
        {"a": ["one", "hello", "three"]}
    )


def test_set_past_the_end_appends_in_index_order() -> None:
    start = {"a": ["one", "two", "three"]}
    assert new("SET a[7] = :v", start, {":v": "hello"}) == item(
        {"a": ["one", "two", "three", "hello"]}
    )
    result = new(
        "SET a[84] = :v1, a[37] = :v2, a[17] = :v3, a[50] = :v4",
        start,
        {":v1": "a1", ":v2": "a2", ":v3": "a3", ":v4": "a4"},
    )
    assert result == item({"a": ["one", "two", "three", "a3", "a2", "a4", "a1"]})


def test_indexes_refer_to_the_old_list() -> None:
    start = {"a": [2, 3, 4, 5, 6, 7]}
    assert new("REMOVE a[1] SET a[3] = :v", start, {":v": 17}) == item({"a": [2, 4, 17, 6, 7]})
    assert new("SET a[3] = :v REMOVE a[1]", start, {":v": 17}) == item({"a": [2, 4, 17, 6, 7]})
    assert new("REMOVE a[0], a[2], a[5]", start) == item({"a": [3, 5, 6]})
    assert new("REMOVE a[1] SET a[9] = :v", start, {":v": 1}) == item({"a": [2, 4, 5, 6, 7, 1]})


@pytest.mark.parametrize(
    ("expr", "start"),
    [
        ("SET a.c = :v", {"a": "hello"}),
        ("SET b.c = :v", {"b": ["hi"]}),
        ("SET c.c = :v", {"a": 1}),
        ("SET c.c = :v", None),
        ("SET a.b.c = :v", {"a": {"x": 1}}),
        ("SET a[0] = :v", {"a": "hello"}),
        ("SET b[0] = :v", {"a": 1}),
        ("SET b[0] = :v", None),
        ("SET a[0] = :v", {"a": {"0": 1}}),
        ("SET a.x = :v", {"a": [1]}),
        ("SET a[5].x = :v", {"a": [1]}),  # under a list element that does not exist
        ("REMOVE a.c", {"a": "hello"}),
        ("REMOVE b.c", {"b": ["hi"]}),
        ("REMOVE c.c", {"a": 1}),
        ("REMOVE a[0]", {"a": "hello"}),
        ("REMOVE b[0]", {"a": 1}),
        ("ADD a.b :v", {"a": 1}),
        ("DELETE c.d :ss", {"a": 1}),
    ],
)
def test_invalid_document_path(expr: str, start: Mapping[str, object] | None) -> None:
    assert failure(expr, start, {":v": 1, ":ss": {"x"}}) == INVALID_PATH


# --- REMOVE ----------------------------------------------------------------------------


def test_remove() -> None:
    assert new("REMOVE a", {"p": "k", "a": "hello", "b": "hi"}) == item({"p": "k", "b": "hi"})
    assert new("REMOVE #i", {"item": "x", "b": 1}, names={"#i": "item"}) == item({"b": 1})


def test_remove_nested() -> None:
    start = {"a": {"b": 3, "c": ["hi", {"x": {"y": [3, 5, 7]}, "q": 2}]}}
    assert new("REMOVE a.c[1].x.y[1], a.c[1].q", start) == item(
        {"a": {"b": 3, "c": ["hi", {"x": {"y": [3, 7]}}]}}
    )


def test_remove_leaves_empty_containers() -> None:
    assert new("REMOVE a.b", {"a": {"b": 1}}) == item({"a": {}})
    assert new("REMOVE a[0]", {"a": [1]}) == item({"a": []})


@pytest.mark.parametrize(
    ("expr", "start"),
    [
        ("REMOVE c", {"a": {"x": 3}, "b": ["hi"]}),
        ("REMOVE a.y", {"a": {"x": 3}, "b": ["hi"]}),
        ("REMOVE b[7]", {"a": {"x": 3}, "b": ["hi"]}),
        ("REMOVE a[17]", {"a": [4, 5, 6]}),
    ],
)
def test_remove_missing_is_a_no_op(expr: str, start: Mapping[str, object]) -> None:
    assert new(expr, start) == item(start)


def test_remove_from_a_missing_item_does_nothing() -> None:
    for expr in ("REMOVE x", "REMOVE x.y", "REMOVE x[0]", "REMOVE a, b.c[1]"):
        result = run(expr, None)
        assert result.item == {}
        assert not result.created
        assert result.touched_only_remove


# --- ADD and DELETE --------------------------------------------------------------------


def test_add_numbers() -> None:
    assert new("ADD a :v", {"a": 3, "b": "hi"}, {":v": 4}) == item({"a": 7, "b": "hi"})
    assert new("ADD b :v", {"a": "hello"}, {":v": 7}) == item({"a": "hello", "b": 7})
    assert new("ADD a :v", {"a": 1.5}, {":v": -1.5}) == {"a": {"N": "0"}}
    assert new("ADD a.b[1] :v", {"a": {"b": [1, 2]}}, {":v": 10}) == item({"a": {"b": [1, 12]}})


def test_add_number_limits() -> None:
    update = parse_update("ADD a :v", wire_ctx({":v": "9E+125"}))
    assert error(apply_update, {"a": {"N": "1" + "0" * 125}}, update, KEYS) == OVERFLOW
    update = parse_update("ADD a :v", wire_ctx({":v": "0.1"}))
    assert error(apply_update, {"a": {"N": "1" + "0" * 37}}, update, KEYS) == PRECISION


def test_add_sets() -> None:
    assert new("ADD a :v", {"a": {"dog", "cat", "mouse"}}, {":v": {"pig"}}) == item(
        {"a": {"dog", "cat", "mouse", "pig"}}
    )
    assert new("ADD a :v", {"a": {"beaver", "lynx"}}, {":v": {"lynx", "badger"}}) == item(
        {"a": {"beaver", "lynx", "badger"}}
    )
    assert new("ADD b :v", {"a": "hello"}, {":v": {"dog"}}) == item({"a": "hello", "b": {"dog"}})
    assert new("ADD n :v", {"n": {1000, 2}}, {":v": {1e3, 5}}) == item({"n": {2, 5, 1000}})
    assert new("ADD b :v", {"b": {b"x"}}, {":v": {b"y"}}) == item({"b": {b"x", b"y"}})
    assert new("ADD a.d[2] :v", {"a": {"d": ["e", "f", {"g", "h"}]}}, {":v": {"l", "m"}}) == item(
        {"a": {"d": ["e", "f", {"g", "h", "l", "m"}]}}
    )


def test_add_sets_stay_canonical() -> None:
    result = new("ADD n :v", {"n": {10}}, {":v": {9, 100}})
    assert result == {"n": {"NS": ["9", "10", "100"]}}
    result = new("ADD s :v", {"s": {"b"}}, {":v": {"a", "\u00e9", "Z"}})
    assert result == {"s": {"SS": ["Z", "a", "b", "\u00e9"]}}


@pytest.mark.parametrize(
    ("start", "value"),
    [
        ("hi", 1),  # number onto a string
        (1, {"x"}),  # set onto a number
        ({"x"}, 1),  # number onto a set
        ({"x"}, {1}),  # NS onto SS
        ([1, 2], {3}),  # set onto a list
    ],
)
def test_add_type_mismatch(start: object, value: object) -> None:
    assert failure("ADD a :v", {"a": start}, {":v": value}) == WRONG_TYPE


def test_delete() -> None:
    start = {"a": {"dog", "cat", "mouse"}, "b": "hi"}
    assert new("DELETE a :v", start, {":v": {"cat", "mouse"}}) == item({"a": {"dog"}, "b": "hi"})
    assert new("DELETE a :v", start, {":v": {"pig"}}) == item(start)
    assert new("DELETE a :v", start, {":v": {"dog", "cat", "mouse", "pig"}}) == item({"b": "hi"})
    assert new("DELETE q :v", start, {":v": {"dog"}}) == item(start)
    assert new("DELETE n :v", {"n": {1, 2, 1000}}, {":v": {1e3}}) == item({"n": {1, 2}})
    assert new("DELETE b :v", {"b": {b"x", b"y"}}, {":v": {b"y"}}) == item({"b": {b"x"}})


@pytest.mark.parametrize(("start", "value"), [("hi", {"x"}), ({1}, {"x"}), ([1], {1})])
def test_delete_type_mismatch(start: object, value: object) -> None:
    assert failure("DELETE a :v", {"a": start}, {":v": value}) == WRONG_TYPE


# --- keys, flags, purity ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "key"),
    [
        ("SET p = :v", "p"),
        ("SET c = :v", "c"),
        ("REMOVE p", "p"),
        ("REMOVE c", "c"),
        ("ADD p :v", "p"),
        ("DELETE c :ss", "c"),
        ("SET a = :v, p.x = :v", "p"),
        ("SET #k = :v", "p"),
    ],
)
def test_keys_cannot_be_updated(expr: str, key: str) -> None:
    names = {"#k": "p"} if "#k" in expr else None
    values: dict[str, object] = {":v": 1, ":ss": {"x"}} if ":ss" in expr else {":v": 1}
    update = parse_update(expr, ctx(names, values))
    message = error(apply_update, {"p": av("k"), "c": av("s")}, update, ("p", "c"))
    assert message == (
        "One or more parameter values were invalid: Cannot update attribute "
        f"{key}. This attribute is part of the key"
    )


def test_result_flags() -> None:
    created = run("SET a = :v", None, {":v": 1})
    assert created.created and not created.touched_only_remove
    assert created.item == item({"a": 1})
    assert created.updated_paths == [("a",)]
    existing = run("SET a = :v", {"a": 0}, {":v": 1})
    assert not existing.created
    add_new = run("ADD n :v", None, {":v": 8})
    assert add_new.created and add_new.item == item({"n": 8})
    delete_missing = run("DELETE s :v", None, {":v": {"x"}})
    assert delete_missing.created and delete_missing.item == {}
    removed = run("REMOVE a, b.c", {"a": 1, "b": {"c": 2}})
    assert removed.touched_only_remove and not removed.created
    assert removed.updated_paths == [("a",), ("b", "c")]


def test_input_is_not_modified() -> None:
    start = item({"a": {"b": [1, 2, {"c": {"x"}}]}, "n": 1, "s": {"q"}})
    snapshot = copy.deepcopy(start)
    update = parse_update(
        "SET a.b[2].d = :v, a.b[0] = :v ADD n :v, s :ss REMOVE a.b[1]",
        ctx(None, {":v": 5, ":ss": {"r"}}),
    )
    result = apply_update(start, update, KEYS)
    assert start == snapshot
    assert result.item == item({"a": {"b": [5, {"c": {"x"}, "d": 5}]}, "n": 6, "s": {"q", "r"}})


# --- UPDATED_OLD / UPDATED_NEW ---------------------------------------------------------


def test_updated_attributes_are_nested_projections() -> None:
    # alternator test_returnvalues.py::test_update_item_returnvalues_nested
    old = item({"p": "k", "a": {"b": "dog", "c": [1, 2, 3]}, "d": "cat"})
    values = {":val": 7, ":val2": "yo"}

    def both(expr: str) -> tuple[dict[str, AV], dict[str, AV]]:
        used = {k: v for k, v in values.items() if k in expr}
        result = apply_update(old, parse_update(expr, ctx(None, used or None)), KEYS)
        return updated_attributes(old, result.updated_paths), updated_attributes(
            result.item, result.updated_paths
        )

    assert both("SET a.b = :val2") == (item({"a": {"b": "dog"}}), item({"a": {"b": "yo"}}))
    assert both("SET a.c[1] = :val") == (item({"a": {"c": [2]}}), item({"a": {"c": [7]}}))
    assert both("SET a.c[1] = :val, a.b = :val2") == (
        item({"a": {"b": "dog", "c": [2]}}),
        item({"a": {"b": "yo", "c": [7]}}),
    )
    assert both("REMOVE a.c[1], a.c[3]") == (item({"a": {"c": [2]}}), item({"a": {"c": [3]}}))
    assert both("SET a.x1 = :val") == ({}, item({"a": {"x1": 7}}))
    assert both("SET a.c[100] = :val") == ({}, {})
    assert both("SET d = :val") == (item({"d": "cat"}), item({"d": 7}))
