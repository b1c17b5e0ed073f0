"""Condition evaluation: every operator and function, missing attributes, types."""

from __future__ import annotations

import pytest

from regions.expressions import evaluate_condition, parse_condition, resolve_path

from .helpers import av, ctx, item

ITEM = item(
    {
        "n": 1,
        "n2": 2,
        "n3": 3,
        "s": "cat",
        "b": b"cat",
        "t": True,
        "f": False,
        "z": None,
        "ss": {"dog", "chinchilla"},
        "ns": {1, 2, 3},
        "bs": {b"xyz", b"hi"},
        "l": ["hi", 2, {3, 4}, [5, 6], {"k": "v"}],
        "m": {"x": 1, "y": [-1, 2, 0], "z": {"q": "deep"}},
        "e": "",
        "el": [],
        "em": {},
        "uni": "h\u00e9\U0001d11e",  # 3 code points, 4 UTF-16 units
        "ten": 10,
    }
)

VALUES: dict[str, object] = {
    ":one": 1,
    ":two": 2,
    ":three": 3,
    ":ten": 10,
    ":str1": "1",
    ":cat": "cat",
    ":dog": "dog",
    ":ca": "ca",
    ":at": "at",
    ":bcat": b"cat",
    ":bca": b"ca",
    ":bdog": b"dog",
    ":true": True,
    ":null": None,
    ":list": [1, 2],
    ":map": {"x": 1},
    ":ss": {"chinchilla", "dog"},
    ":ns": {3, 2, 1},
    ":nset": {1, 2},
    ":bs": {b"hi", b"xyz"},
    ":l56": [5, 6],
    ":set34": {3, 4},
    ":kv": {"k": "v"},
    ":hi": "hi",
    ":zero": 0,
    ":empty": "",
    ":thousand": 1000,
    ":e3": 1e3,
    ":m": {"x": 1, "y": [-1, 2, 0], "z": {"q": "deep"}},
    ":big": 10,
    ":small": 9,
}
for _t in ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"):
    VALUES[f":type_{_t}"] = _t


def check(expr: str, target: dict | None = ITEM) -> bool:  # type: ignore[type-arg]
    used = {k: v for k, v in VALUES.items() if k in expr}
    cond = parse_condition(expr, ctx(None, used or None))
    return evaluate_condition(cond, target)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # equality and inequality, all types
        ("n = :one", True),
        ("n = :two", False),
        ("n <> :two", True),
        ("n <> :one", False),
        ("s = :cat", True),
        ("b = :bcat", True),
        ("t = :true", True),
        ("z = :null", True),
        ("ss = :ss", True),  # sets ignore order
        ("ns = :ns", True),
        ("bs = :bs", True),
        ("ns = :nset", False),
        ("m = :m", True),
        ("l[3] = :l56", True),
        ("l[2] = :set34", True),
        ("n = n2", False),
        ("n3 = l[2]", False),
        # numbers compare by value
        ("ten = :big", True),
        ("n = :str1", False),  # different types are unequal...
        ("n <> :str1", True),  # ...and never an error
        # ordering: N numerically, S and B by bytes
        ("n < :two", True),
        ("n < :one", False),
        ("n <= :one", True),
        ("n > :zero", True),
        ("n >= :two", False),
        ("ten > :small", True),  # 10 > 9 numerically
        ("s < :dog", True),
        ("s > :ca", True),
        ("b < :bdog", True),
        ("b >= :bcat", True),
        ("n < :str1", False),  # mixed types: false
        ("s >= n", False),
        ("l < n", False),  # item attribute of an unordered type: false
        ("n < n2", True),
        ("m.x < m.y[1]", True),
        ("m.x < m.y[0]", False),
        # BETWEEN (inclusive)
        ("n BETWEEN :one AND :two", True),
        ("n BETWEEN :two AND :three", False),
        ("n2 BETWEEN n AND n3", True),
        ("s BETWEEN :ca AND :dog", True),
        ("b BETWEEN :bca AND :bdog", True),
        ("n BETWEEN :one AND :one", True),
        ("n2 BETWEEN n3 AND n", False),  # inverted range from the item: just false
        ("n BETWEEN :str1 AND s", False),
        # IN
        ("n IN (:two, :one)", True),
        ("n IN (:two, :three)", False),
        ("n IN (:cat, :one)", True),  # mixed candidate types are fine
        ("s IN (:one, :cat)", True),
        ("ss IN (:ss)", True),
        # missing attributes
        ("q = :one", False),
        ("q <> :one", True),
        ("q = r", False),  # two missing attributes are not equal
        ("q <> r", True),
        ("q < :one", False),
        (":one < q", False),
        ("q <= r", False),
        ("q BETWEEN :one AND :two", False),
        ("n BETWEEN q AND :two", False),
        ("q IN (:one, r)", False),
        ("m.nope = :one", False),
        ("l[99] = :one", False),
        ("s.x = :one", False),  # path through a non-map
        ("m[0] = :one", False),  # index into a map
        ("l.x = :one", False),
        # attribute_exists / attribute_not_exists
        ("attribute_exists(n)", True),
        ("attribute_exists(q)", False),
        ("attribute_exists(m.z.q)", True),
        ("attribute_exists(l[4].k)", True),
        ("attribute_exists(l[5])", False),
        ("attribute_exists(z)", True),  # NULL is a value
        ("attribute_not_exists(q)", True),
        ("attribute_not_exists(n)", False),
        # attribute_type
        ("attribute_type(s, :type_S)", True),
        ("attribute_type(n, :type_N)", True),
        ("attribute_type(b, :type_B)", True),
        ("attribute_type(t, :type_BOOL)", True),
        ("attribute_type(z, :type_NULL)", True),
        ("attribute_type(ss, :type_SS)", True),
        ("attribute_type(ns, :type_NS)", True),
        ("attribute_type(bs, :type_BS)", True),
        ("attribute_type(l, :type_L)", True),
        ("attribute_type(m, :type_M)", True),
        ("attribute_type(n, :type_S)", False),
        ("attribute_type(q, :type_S)", False),
        ("attribute_type(:one, :type_N)", True),  # a constant works too
        # begins_with
        ("begins_with(s, :ca)", True),
        ("begins_with(s, :dog)", False),
        ("begins_with(s, :cat)", True),
        ("begins_with(s, :empty)", True),
        ("begins_with(b, :bca)", True),
        ("begins_with(b, :ca)", False),  # B vs S
        ("begins_with(q, :ca)", False),
        ("begins_with(n, :ca)", False),  # item attribute of another type
        ("begins_with(:cat, s)", True),  # either side may be an attribute
        ("begins_with(s, m.z.q)", False),
        # contains
        ("contains(s, :at)", True),
        ("contains(s, :dog)", False),
        ("contains(b, :bca)", True),
        ("contains(b, :ca)", False),
        ("contains(ss, :dog)", True),
        ("contains(ss, :cat)", False),
        ("contains(ns, :two)", True),
        ("contains(ns, :str1)", False),
        ("contains(bs, :bcat)", False),
        ("contains(l, :hi)", True),
        ("contains(l, :two)", True),
        ("contains(l, :set34)", True),
        ("contains(l, :l56)", True),
        ("contains(l, :kv)", True),
        ("contains(l, :three)", False),
        ("contains(m, :cat)", False),
        ("contains(n, :one)", False),
        ("contains(q, :one)", False),
        ("contains(s, q)", False),
        ("contains(b, :ss)", False),
        # size
        ("size(s) = :three", True),
        ("size(b) = :three", True),
        ("size(ss) = :two", True),
        ("size(ns) = :three", True),
        ("size(l) > :three", True),
        ("size(m) = :three", True),
        ("size(e) = :zero", True),
        ("size(el) = :zero", True),
        ("size(em) = :zero", True),
        ("size(uni) = :three", False),
        ("size(n) = :one", False),  # no size for numbers, booleans or null
        ("size(t) = :one", False),
        ("size(z) = :one", False),
        ("size(n) < :ten", False),
        ("size(q) = :zero", False),
        ("size(s) = :cat", False),  # compared with a string: false
        ("size(s) = n3", True),
        ("size(s) BETWEEN :one AND :three", True),
        ("size(l) IN (:three, :big)", False),
        # boolean logic
        ("n = :one AND s = :cat", True),
        ("n = :one AND s = :dog", False),
        ("n = :two OR s = :cat", True),
        ("n = :two OR s = :dog", False),
        ("NOT n = :two", True),
        ("NOT NOT n = :two", False),
        ("NOT NOT NOT NOT n = :one", True),
        ("n < n2 OR n3 < n2 AND n2 < n3", True),  # AND before OR
        ("NOT n < n2 AND n3 < n2", False),  # NOT before AND
        ("n2 BETWEEN n AND n3 AND n < n2", True),
        ("(n < n2 OR n2 < n) AND (n2 < n3 AND (n < n2 OR n2 < n3))", True),
        ("NOT (n = :one AND s = :dog)", True),
        ("(n = :two OR s = :cat) AND NOT attribute_exists(q)", True),
    ],
)
def test_evaluation(expr: str, expected: bool) -> None:
    assert check(expr) is expected


def test_size_counts_utf16_units() -> None:
    # "h\u00e9\U0001d11e" is 3 code points, 5 UTF-8 bytes, 4 UTF-16 code units; DynamoDB
    # Local (Java String.length) answers 4.
    cond = parse_condition("size(uni) = :four", ctx(values={":four": 4}))
    assert evaluate_condition(cond, ITEM)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("attribute_not_exists(p)", True),
        ("attribute_exists(p)", False),
        ("a = :one", False),
        ("a <> :one", True),
        ("NOT a = :one", True),
        ("size(a) = :zero", False),
        ("begins_with(a, :ca)", False),
        ("contains(a, :one)", False),
        (":one = :one", True),
        (":one < :two", True),
    ],
)
def test_missing_item(expr: str, expected: bool) -> None:
    assert check(expr, None) is expected


def test_unordered_sets_in_the_item_compare_equal() -> None:
    stored = {"a": {"SS": ["mouse", "cat", "dog"]}}
    cond = parse_condition("a = :v", ctx(values={":v": {"cat", "dog", "mouse"}}))
    assert evaluate_condition(cond, stored)


def test_nested_sets_compare_regardless_of_order() -> None:
    stored = {"a": {"M": {"d": {"L": [{"S": "e"}, {"SS": ["h", "g"]}]}}}}
    cond = parse_condition("a = :v", ctx(values={":v": {"d": ["e", {"g", "h"}]}}))
    assert evaluate_condition(cond, stored)


def test_placeholder_name_is_one_component() -> None:
    stored = item({"a.b": "flat", "a": {"b": "nested"}})
    c = ctx({"#ab": "a.b"}, {":v": "flat"})
    assert evaluate_condition(parse_condition("#ab = :v", c), stored)
    c = ctx(None, {":v": "nested"})
    assert evaluate_condition(parse_condition("a.b = :v", c), stored)


def test_reserved_names_through_placeholders() -> None:
    stored = item({"and": {"or": 2}})
    c = ctx({"#a": "and", "#o": "or"}, {":two": 2})
    assert evaluate_condition(parse_condition("#a.#o = :two", c), stored)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("m", "z", "q"), av("deep")),
        (("l", 4, "k"), av("v")),
        (("l", 0), av("hi")),
        (("l", 9), None),
        (("m", 0), None),
        (("s", "x"), None),
        (("nope",), None),
    ],
)
def test_resolve_path(path: tuple[str | int, ...], expected: object) -> None:
    assert resolve_path(ITEM, path) == expected


def test_deep_not_chain_evaluates() -> None:
    expr = "NOT " * 299 + "n = :one"
    assert check(expr) is False  # odd number of NOTs


def test_deeply_nested_parentheses_evaluate() -> None:
    expr = "(NOT " * 299 + "n = :one" + ")" * 299
    assert check(expr) is False
