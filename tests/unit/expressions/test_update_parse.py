"""UpdateExpression parsing: clauses, values and every rejection."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from regions.expressions import parse_update
from regions.expressions.ast import (
    AddAction,
    Arithmetic,
    DeleteAction,
    FunctionCall,
    PathOperand,
    RemoveAction,
    SetAction,
    Update,
    ValueOperand,
)

from .helpers import ctx, error

VALUES: dict[str, object] = {
    ":v": 1,
    ":w": 2,
    ":x": 3,
    ":s": "hi",
    ":l": ["a"],
    ":ss": {"a", "b"},
    ":ns": {1},
    ":b": b"x",
    ":m": {"k": 1},
    ":t": True,
    ":z": None,
}
NAMES = {"#a": "a", "#a2": "a", "#n": "name", "#d": "x.y"}

P = "Invalid UpdateExpression: "
V = ValueOperand(":v", {"N": "1"})
W = ValueOperand(":w", {"N": "2"})


def parse(
    expr: str, names: dict[str, str] | None = None, values: Mapping[str, object] | None = None
) -> Update:
    return parse_update(expr, ctx(names, values))


def test_all_four_clauses() -> None:
    u = parse("SET a = :v REMOVE b, c.d[2] ADD e :v DELETE f :ss", values={":v": 1, ":ss": {"a"}})
    assert u.actions == (
        SetAction(("a",), V),
        RemoveAction(("b",)),
        RemoveAction(("c", "d", 2)),
        AddAction(("e",), {"N": "1"}),
        DeleteAction(("f",), {"SS": ["a"]}),
    )
    assert u.paths == [("a",), ("b",), ("c", "d", 2), ("e",), ("f",)]
    assert not u.only_remove


def test_clause_order_is_free_and_keywords_case_insensitive() -> None:
    u = parse("remove a Set b = :v, c = :w", values={":v": 1, ":w": 2})
    assert u.actions == (RemoveAction(("a",)), SetAction(("b",), V), SetAction(("c",), W))
    assert parse("REMOVE a, b").only_remove


def test_set_values() -> None:
    values = {":v": 1, ":w": 2}
    assert parse("SET a = b.c[1]").actions[0] == SetAction(("a",), PathOperand(("b", "c", 1)))
    assert parse("SET a = :v + :w", values=values).actions[0] == SetAction(
        ("a",), Arithmetic("+", V, W)
    )
    assert parse("SET a=a-:v", values=values).actions[0] == SetAction(
        ("a",), Arithmetic("-", PathOperand(("a",)), V)
    )
    assert parse("SET a = (:v + :w)", values=values).actions[0] == SetAction(
        ("a",), Arithmetic("+", V, W)
    )
    assert parse("SET a = (:v) + (b)", values=values).actions[0] == SetAction(
        ("a",), Arithmetic("+", V, PathOperand(("b",)))
    )
    assert parse("SET a = (:v)", values=values).actions[0] == SetAction(("a",), V)
    assert parse("SET a = if_not_exists(a, :v) + :w", values=values).actions[0] == SetAction(
        ("a",), Arithmetic("+", FunctionCall("if_not_exists", (PathOperand(("a",)), V)), W)
    )


def test_nested_functions_allowed() -> None:
    values = {":v": 1, ":l": ["x"]}
    parse("SET a = list_append(if_not_exists(a, :l), :l)", values=values)
    parse("SET a = if_not_exists(b, if_not_exists(c, :v))", values=values)
    parse("SET a = if_not_exists(a, list_append(b, :l))", values=values)


def test_names_and_placeholders() -> None:
    u = parse(
        "SET #d = :v, #a.#n = :v", names={"#d": "x.y", "#a": "a", "#n": "name"}, values={":v": 1}
    )
    assert u.paths == [("x.y",), ("a", "name")]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "The expression can not be empty;"),
        # syntax
        ("SET", 'Syntax error; token: "<EOF>", near: "SET"'),
        ("  ", 'Syntax error; token: "<EOF>", near: "  "'),
        ("HELLO b = :v", 'Syntax error; token: "HELLO", near: "HELLO b"'),
        ("SET path = VALUE 1", 'Syntax error; token: "1", near: "VALUE 1"'),
        ("SET a = :v, ", 'Syntax error; token: "<EOF>", near: ", "'),
        ("SET a = :v b = :w", 'Syntax error; token: "b", near: ":v b ="'),
        ("SET a = :v + :w + :x", 'Syntax error; token: "+", near: ":w + :x"'),
        ("SET a = (:v + :w) + :x", 'Syntax error; token: "+", near: ") + :x"'),
        ("SET a = :v * :w", 'Syntax error; token: "*", near: ":v * :w"'),
        ("SET :v = :w", 'Syntax error; token: ":v", near: "SET :v ="'),
        ("SET a[:x] = :v", 'Syntax error; token: ":x", near: "[:x]"'),
        ("SET a[#a] = :v", 'Syntax error; token: "#a", near: "[#a]"'),
        ("SET _123 = :v", 'Syntax error; token: "_", near: "SET _123"'),
        ("SET 123a = :v", 'Syntax error; token: "123", near: "SET 123a"'),
        ("SET hi-there = :v", 'Syntax error; token: "-", near: "hi-there"'),
        ('SET "hithere" = :v', 'Syntax error; token: ""hithere"", near: "SET "hithere" ="'),
        ("SET a = :", 'Syntax error; token: ":", near: "= :"'),
        ("SET # = :v", 'Syntax error; token: "#", near: "SET # ="'),
        ("SET a = _f(b)", 'Syntax error; token: "_", near: "= _f"'),
        ("SET c = if_not_exists(c, :v + :w)", 'Syntax error; token: "+", near: ":v + :w"'),
        ("SET a = b REMOVE", 'Syntax error; token: "<EOF>", near: "REMOVE"'),
        ("REMOVE a = :v", 'Syntax error; token: "=", near: "a = :v"'),
        ("ADD a b", 'Syntax error; token: "b", near: "a b"'),
        ("ADD a", 'Syntax error; token: "<EOF>", near: "a"'),
        ("DELETE a :ss :ss", 'Syntax error; token: ":ss", near: ":ss :ss"'),
        ("SET a = :v AND b = :w", 'Syntax error; token: "AND", near: ":v AND b"'),
        # sections
        (
            "SET a = :v SET b = :w",
            'The "SET" section can only be used once in an update expression;',
        ),
        (
            "SET a = :v REMOVE b SET c = :w",
            'The "SET" section can only be used once in an update expression;',
        ),
        (
            "REMOVE a REMOVE b",
            'The "REMOVE" section can only be used once in an update expression;',
        ),
        ("ADD a :v ADD b :v", 'The "ADD" section can only be used once in an update expression;'),
        (
            "DELETE a :ss delete b :ss",
            'The "DELETE" section can only be used once in an update expression;',
        ),
        # parentheses
        ("SET a = ((:v))", "The expression has redundant parentheses;"),
        ("SET a = ((:v + :w))", "The expression has redundant parentheses;"),
        ("SET a = list_append(((:l)), :l)", "The expression has redundant parentheses;"),
        # functions
        ("SET a = f(b)", "Invalid function name; function: f"),
        ("SET a = f123_hi(b, c, d)", "Invalid function name; function: f123_hi"),
        ("SET a = LIST_APPEND(:l, :l)", "Invalid function name; function: LIST_APPEND"),
        ("SET a = size(b)", "The function is not allowed in an update expression; function: size"),
        (
            "SET a = attribute_exists(b)",
            "The function is not allowed in an update expression; function: attribute_exists",
        ),
        (
            "SET a = list_append(list_append(:l, :l), :l)",
            "The function is not allowed to be used this way in an expression; function: list_append",
        ),
        # reserved words
        ("SET value = :v", "Attribute name is a reserved keyword; reserved keyword: value"),
        ("REMOVE a.status", "Attribute name is a reserved keyword; reserved keyword: status"),
        ("SET a = :v + size", "Attribute name is a reserved keyword; reserved keyword: size"),
        # placeholders
        (
            "SET #x = :v",
            "An expression attribute name used in the document path is not defined; attribute name: #x",
        ),
        (
            "SET a = :y",
            "An expression attribute value used in expression is not defined; attribute value: :y",
        ),
        (
            "ADD a :y",
            "An expression attribute value used in expression is not defined; attribute value: :y",
        ),
        (
            "SET a = b.#x",
            "An expression attribute name used in the document path is not defined; attribute name: #x",
        ),
        # overlapping and conflicting paths
        (
            "SET a = :v REMOVE a",
            "Two document paths overlap with each other; must remove or rewrite one of these "
            "paths; path one: [a], path two: [a]",
        ),
        (
            "SET #a = :v, #a2 = :w",
            "Two document paths overlap with each other; must remove or rewrite one of these "
            "paths; path one: [a], path two: [a]",
        ),
        (
            "SET a = :v, a.b = :w",
            "Two document paths overlap with each other; must remove or rewrite one of these "
            "paths; path one: [a], path two: [a, b]",
        ),
        (
            "SET a.b.c.d.e = :v, a.b = :w",
            "Two document paths overlap with each other; must remove or rewrite one of these "
            "paths; path one: [a, b, c, d, e], path two: [a, b]",
        ),
        (
            "SET a[1][1] = :v, a[1] = :w",
            "Two document paths overlap with each other; must remove or rewrite one of these "
            "paths; path one: [a, [1], [1]], path two: [a, [1]]",
        ),
        (
            "REMOVE a[1] ADD a[1] :v",
            "Two document paths overlap with each other; must remove or rewrite one of these "
            "paths; path one: [a, [1]], path two: [a, [1]]",
        ),
        (
            "SET a.b = :v, a[1] = :w",
            "Two document paths conflict with each other; must remove or rewrite one of these "
            "paths; path one: [a, b], path two: [a, [1]]",
        ),
        (
            "SET a.b.c = :v, a.b[2] = :w",
            "Two document paths conflict with each other; must remove or rewrite one of these "
            "paths; path one: [a, b, c], path two: [a, b, [2]]",
        ),
        # operand counts and types
        (
            "SET a = list_append(:l)",
            "Incorrect number of operands for operator or function; operator or function: "
            "list_append, number of operands: 1",
        ),
        (
            "SET a = if_not_exists(a, :v, :w)",
            "Incorrect number of operands for operator or function; operator or function: "
            "if_not_exists, number of operands: 3",
        ),
        (
            "SET a = list_append(:l, :s)",
            "Incorrect operand type for operator or function; operator or function: list_append, "
            "operand type: S",
        ),
        (
            "SET a = :s + :v",
            "Incorrect operand type for operator or function; operator or function: +, operand type: S",
        ),
        (
            "SET a = :v - :l",
            "Incorrect operand type for operator or function; operator or function: -, operand type: L",
        ),
        (
            "SET a = list_append(:l, :l) + :v",
            "Incorrect operand type for operator or function; operator or function: +, operand type: L",
        ),
        (
            "SET a = if_not_exists(:v, :w)",
            "Operator or function requires a document path; operator or function: if_not_exists",
        ),
        (
            "SET b = if_not_exists(if_not_exists(a, :v), :w)",
            "Operator or function requires a document path; operator or function: if_not_exists",
        ),
        (
            "SET a = if_not_exists(a, a)",
            "The first operand must be distinct from the remaining operands for this operator or "
            "function; operator: if_not_exists, first operand: [a]",
        ),
        # ADD / DELETE operands
        (
            "ADD a :s",
            "Incorrect operand type for operator or function; operator: ADD, operand type: STRING, "
            "typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "ADD a :l",
            "Incorrect operand type for operator or function; operator: ADD, operand type: LIST, "
            "typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "ADD a :m",
            "Incorrect operand type for operator or function; operator: ADD, operand type: MAP, "
            "typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "ADD a :b",
            "Incorrect operand type for operator or function; operator: ADD, operand type: BINARY, "
            "typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "ADD a :t",
            "Incorrect operand type for operator or function; operator: ADD, operand type: BOOLEAN, "
            "typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "ADD a :z",
            "Incorrect operand type for operator or function; operator: ADD, operand type: NULL, "
            "typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "DELETE a :v",
            "Incorrect operand type for operator or function; operator: DELETE, operand type: "
            "NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND",
        ),
        (
            "DELETE a :s",
            "Incorrect operand type for operator or function; operator: DELETE, operand type: "
            "STRING, typeSet: ALLOWED_FOR_DELETE_OPERAND",
        ),
    ],
)
def test_rejections(expr: str, message: str) -> None:
    assert error(parse_update, expr, ctx(NAMES, VALUES)) == P + message


@pytest.mark.parametrize(
    "expr",
    [
        "SET a = a + :v",  # reading a path that is also written is fine
        "REMOVE a SET b = a",
        "SET a.b = :v, a.c = :w",
        "SET a[1] = :v, a[2] = :w",
        "SET a.b = :v, a.c[2] = :w",
        "SET a = list_append(a, a)",  # no distinct rule for list_append or +
        "SET a = b + b",
        "ADD a :ns, b :ss DELETE c :ss",
        "SET x = :v, y = x",  # parses; fails on an item without x
    ],
)
def test_accepted(expr: str) -> None:
    parse_update(expr, ctx(NAMES, VALUES))


def test_only_one_error_reported_in_dynamodb_order() -> None:
    # syntax beats everything; then parentheses; then function names; then reserved words
    assert error(parse_update, "SET value = f(a) SET", ctx()) == (
        P + 'Syntax error; token: "<EOF>", near: "SET"'
    )
    assert error(parse_update, "SET value = ((:v)) SET b = f(a)", ctx(values={":v": 1})) == (
        P + "The expression has redundant parentheses;"
    )
    assert error(parse_update, "SET value = :v SET b = f(a)", ctx(values={":v": 1})) == (
        P + "Invalid function name; function: f"
    )
    assert error(parse_update, "SET value = :v SET b = :v", ctx(values={":v": 1})) == (
        P + "Attribute name is a reserved keyword; reserved keyword: value"
    )
    # target paths (names, overlaps) are checked before values
    assert error(parse_update, "SET a = :x, a = :v", ctx(values={":v": 1})) == (
        P + "Two document paths overlap with each other; must remove or rewrite one of these "
        "paths; path one: [a], path two: [a]"
    )
