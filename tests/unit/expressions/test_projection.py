"""ProjectionExpression: parsing, rejections and structure-preserving projection."""

from __future__ import annotations

import pytest

from regions.expressions import parse_projection, project

from .helpers import ctx, error, item

P = "Invalid ProjectionExpression: "
ITEM = item(
    {
        "p": "k",
        "a": {"b": [2, 4, {"x": "hi", "y": "yo"}], "c": 5},
        "b": "hello",
        "a.b": "flat",
        "e": {},
        "l": [[1, 2], [3]],
    }
)


def paths(expr: str, names: dict[str, str] | None = None) -> list[tuple[str | int, ...]]:
    return parse_projection(expr, ctx(names))


def test_parse() -> None:
    assert paths("a") == [("a",)]
    assert paths(" a  ,   b  ") == [("a",), ("b",)]
    assert paths("a.b[0], a.c") == [("a", "b", 0), ("a", "c")]
    assert paths("#n1.#n2, #d", {"#n1": "a", "#n2": "b", "#d": "a.b"}) == [("a", "b"), ("a.b",)]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "The expression can not be empty;"),
        ("a,", 'Syntax error; token: "<EOF>", near: ","'),
        (",a", 'Syntax error; token: ",", near: ",a"'),
        ("a,,b", 'Syntax error; token: ",", near: ",,b"'),
        ("a b", 'Syntax error; token: "b", near: "a b"'),
        ("(a)", 'Syntax error; token: "(", near: "(a"'),
        ("a.b[x]", 'Syntax error; token: "x", near: "[x]"'),
        ("a[]", 'Syntax error; token: "]", near: "[]"'),
        ("size(a)", 'Syntax error; token: "(", near: "size(a"'),
        (":v", 'Syntax error; token: ":v", near: ":v"'),
        ("name", "Attribute name is a reserved keyword; reserved keyword: name"),
        ("a.Name", "Attribute name is a reserved keyword; reserved keyword: Name"),
        (
            "#x",
            "An expression attribute name used in the document path is not defined; attribute name: #x",
        ),
        ("a" + ".b" * 32, "The document path has too many nesting levels; nesting levels: 33"),
        ("a" + "[0]" * 32, "The document path has too many nesting levels; nesting levels: 33"),
        (
            "a, a",
            "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]",
        ),
        (
            "a.b[0],a.b[0]",
            "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b, [0]], path two: [a, b, [0]]",
        ),
        (
            "a, a.b[2].c",
            "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b, [2], c]",
        ),
        (
            "a.b.d, a.b",
            "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b, d], path two: [a, b]",
        ),
        (
            "a.b, a[1]",
            "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]",
        ),
        (
            "a[1], a.b",
            "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [1]], path two: [a, b]",
        ),
        (
            "a.b[1], a.b.c",
            "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b, [1]], path two: [a, b, c]",
        ),
    ],
)
def test_rejections(expr: str, message: str) -> None:
    assert error(parse_projection, expr, ctx()) == P + message


@pytest.mark.parametrize(
    "expr",
    ["a, b", "a.b, a.c", "a.b.d, a.b.e", "a[1], a[2]", "a.b, a.c[2]", "a" + ".b" * 31, "p, c"],
)
def test_accepted(expr: str) -> None:
    parse_projection(expr, ctx())


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("a", {"a": {"b": [2, 4, {"x": "hi", "y": "yo"}], "c": 5}}),
        ("a.b", {"a": {"b": [2, 4, {"x": "hi", "y": "yo"}]}}),
        ("a.b[0]", {"a": {"b": [2]}}),
        ("a.b[2]", {"a": {"b": [{"x": "hi", "y": "yo"}]}}),
        ("a.b[2].y", {"a": {"b": [{"y": "yo"}]}}),
        ("a.b[0],a.b[1]", {"a": {"b": [2, 4]}}),
        ("a.b[2],a.b[0]", {"a": {"b": [2, {"x": "hi", "y": "yo"}]}}),  # index order
        ("a.b[0],a.c", {"a": {"b": [2], "c": 5}}),
        ("a.c,b", {"a": {"c": 5}, "b": "hello"}),
        ("a.x, a.b[0], x, a.b[3].x", {"a": {"b": [2]}}),
        ("l[1][0], l[0][1]", {"l": [[2], [3]]}),
        ("e", {"e": {}}),  # an empty map that was asked for is kept
        # nothing there
        ("x", {}),
        ("a.b[3]", {}),
        ("a.x", {}),
        ("a.x.y", {}),
        ("a.b[3].x", {}),
        ("a.b.x", {}),  # a list indexed as a map
        ("a[0]", {}),  # a map indexed as a list
        ("a.b[0].x", {}),
        ("a.b[0][0]", {}),
        ("e.x", {}),
        ("b.x", {}),
    ],
)
def test_project(expr: str, expected: dict[str, object]) -> None:
    assert project(ITEM, paths(expr)) == item(expected)


def test_placeholder_with_a_dot_is_one_attribute() -> None:
    assert project(ITEM, paths("#n", {"#n": "a.b"})) == item({"a.b": "flat"})
    assert project(ITEM, paths("a.b")) == item({"a": {"b": [2, 4, {"x": "hi", "y": "yo"}]}})


def test_keys_are_not_added() -> None:
    assert project(ITEM, paths("b")) == item({"b": "hello"})


def test_result_does_not_alias_the_item() -> None:
    stored = item({"a": {"b": [1]}, "s": {"x"}})
    result = project(stored, [("a",), ("s",)])
    result["a"]["M"]["b"]["L"].append({"N": "2"})
    result["s"]["SS"].append("y")
    assert stored == item({"a": {"b": [1]}, "s": {"x"}})


def test_overlapping_paths_given_directly_take_the_widest() -> None:
    # parse_projection rejects these, but project() also serves UPDATED_OLD/NEW.
    assert project(ITEM, [("a", "c"), ("a",)]) == project(ITEM, [("a",)])
    assert project(ITEM, [("a",), ("a", "c")]) == project(ITEM, [("a",)])
