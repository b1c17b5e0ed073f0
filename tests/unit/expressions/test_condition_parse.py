"""ConditionExpression / FilterExpression parsing: tree shapes, precedence and every
rejection with DynamoDB's exact text."""

from __future__ import annotations

import pytest

from regions.expressions import parse_condition
from regions.expressions.ast import (
    And,
    Between,
    Comparison,
    Condition,
    FunctionCall,
    In,
    Not,
    Or,
    PathOperand,
    ValueOperand,
)

from .helpers import ctx, error

VALUES: dict[str, object] = {
    ":v": 1,
    ":w": 2,
    ":n": 5,
    ":two": 2,
    ":one": 1,
    ":s": "dog",
    ":t": "S",
    ":dog": "DOG",
    ":l": [1, 2],
    ":l2": [3],
    ":b": True,
    ":ss": {"a", "b"},
}
NAMES = {"#n": "name", "#dot": "a.b", "#a": "a"}


def parse(
    expr: str, names: dict[str, str] | None = None, values: dict[str, object] | None = None
) -> Condition:
    return parse_condition(expr, ctx(names, values))


def a(*path: str | int) -> PathOperand:
    return PathOperand(tuple(path))


V = ValueOperand(":v", {"N": "1"})
W = ValueOperand(":w", {"N": "2"})


# --- shapes and precedence -------------------------------------------------------------


def test_comparison_operators() -> None:
    for op in ("=", "<>", "<", "<=", ">", ">="):
        assert parse(f"a {op} :v", values={":v": 1}) == Comparison(op, a("a"), V)


def test_whitespace_is_optional_and_free() -> None:
    assert parse("a=:v", values={":v": 1}) == parse("  a \t=\n :v  ", values={":v": 1})


def test_keywords_are_case_insensitive() -> None:
    cond = parse("a between :v aNd :w Or NOT b In (:v)", values={":v": 1, ":w": 2})
    assert cond == Or((Between(a("a"), V, W), Not(In(a("b"), (V,)))))


def test_and_binds_tighter_than_or() -> None:
    cond = parse("a = :v OR b = :v AND c = :v", values={":v": 1})
    assert cond == Or(
        (Comparison("=", a("a"), V), And((Comparison("=", a("b"), V), Comparison("=", a("c"), V))))
    )


def test_not_binds_tighter_than_and() -> None:
    cond = parse("NOT a = :v AND b = :v", values={":v": 1})
    assert cond == And((Not(Comparison("=", a("a"), V)), Comparison("=", a("b"), V)))


def test_between_and_is_not_the_boolean_and() -> None:
    cond = parse("b BETWEEN a AND c AND a < b")
    assert cond == And((Between(a("b"), a("a"), a("c")), Comparison("<", a("a"), a("b"))))


def test_parentheses_group() -> None:
    cond = parse("(a = :v OR b = :v) AND c = :v", values={":v": 1})
    assert isinstance(cond, And)
    assert isinstance(cond.operands[0], Or)


def test_chains_are_flattened() -> None:
    cond = parse("a = :v AND b = :v AND c = :v OR d = :v OR e = :v", values={":v": 1})
    assert isinstance(cond, Or) and len(cond.operands) == 3
    assert isinstance(cond.operands[0], And) and len(cond.operands[0].operands) == 3


def test_not_not() -> None:
    assert parse("NOT NOT a = :v", values={":v": 1}) == Not(Not(Comparison("=", a("a"), V)))


def test_parenthesised_operands() -> None:
    assert parse("(a) < (:v)", values={":v": 1}) == Comparison("<", a("a"), V)
    assert parse("(size(a)) < :v", values={":v": 1}) == Comparison(
        "<", FunctionCall("size", (a("a"),)), V
    )


def test_one_pair_of_parentheses_per_level_is_fine() -> None:
    parse("((a = :v) AND (b = :v))", values={":v": 1})
    parse("(NOT (a = :v))", values={":v": 1})
    parse("((a = :v) OR b = :v)", values={":v": 1})


def test_functions() -> None:
    assert parse("attribute_exists(a)") == FunctionCall("attribute_exists", (a("a"),))
    assert parse("contains (a, :v)", values={":v": 1}) == FunctionCall("contains", (a("a"), V))
    assert parse("size(a) > :v", values={":v": 1}) == Comparison(
        ">", FunctionCall("size", (a("a"),)), V
    )
    assert parse("begins_with(:s, a)", values={":s": "x"}) == FunctionCall(
        "begins_with", (ValueOperand(":s", {"S": "x"}), a("a"))
    )


def test_paths() -> None:
    assert parse("a.b[0].c[12] = :v", values={":v": 1}).left == a("a", "b", 0, "c", 12)  # type: ignore[union-attr]
    cond = parse("#dot.#n = :v", names=NAMES, values={":v": 1})
    assert cond == Comparison("=", PathOperand(("a.b", "name"), ("#dot", "#n")), V)


def test_in_list() -> None:
    cond = parse("a IN (:v, b, :w)", values={":v": 1, ":w": 2})
    assert cond == In(a("a"), (V, a("b"), W))


def test_values_are_canonical_in_the_tree() -> None:
    cond = parse("a = :v", values={":v": 1000})
    assert cond == Comparison("=", a("a"), ValueOperand(":v", {"N": "1000"}))


def test_filter_expression_kind() -> None:
    c = ctx(values={":v": 1})
    assert parse_condition("a = :v", c, "FilterExpression") == Comparison("=", a("a"), V)
    assert error(parse_condition, "a =", ctx(), "FilterExpression") == (
        'Invalid FilterExpression: Syntax error; token: "<EOF>", near: "="'
    )


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_condition("a = a", ctx(), "UpdateExpression")


# --- rejections ------------------------------------------------------------------------

P = "Invalid ConditionExpression: "
ANY_TYPE = "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "The expression can not be empty;"),
        # syntax
        ("foo", 'Syntax error; token: "<EOF>", near: "foo"'),
        (" ", 'Syntax error; token: "<EOF>", near: " "'),
        ("a = ", 'Syntax error; token: "<EOF>", near: "= "'),
        ("a == :v", 'Syntax error; token: "=", near: "== :v"'),
        ("a = 5", 'Syntax error; token: "5", near: "= 5"'),
        ("a != :v", 'Syntax error; token: "!", near: "a !="'),
        ("a IN ()", 'Syntax error; token: ")", near: "()"'),
        ("a IN :v", 'Syntax error; token: ":v", near: "IN :v"'),
        ("a BETWEEN :v", 'Syntax error; token: "<EOF>", near: ":v"'),
        ("a BETWEEN :v OR :w", 'Syntax error; token: "OR", near: ":v OR :w"'),
        ("attribute_type()", 'Syntax error; token: ")", near: "()"'),
        ("attribute_exists(#)", 'Syntax error; token: "#", near: "(#)"'),
        (":v", 'Syntax error; token: "<EOF>", near: ":v"'),
        ("a = :v AND", 'Syntax error; token: "<EOF>", near: "AND"'),
        ("a = :v b = :v", 'Syntax error; token: "b", near: ":v b ="'),
        ("(a = :v", 'Syntax error; token: "<EOF>", near: ":v"'),
        ("a = :v)", 'Syntax error; token: ")", near: ":v)"'),
        ("a < b[-1]", 'Syntax error; token: "-", near: "[-1"'),
        ("a[01] = :v", 'Syntax error; token: "1", near: "01]"'),
        ("a[:v] = :v", 'Syntax error; token: ":v", near: "[:v]"'),
        ("a.in = :v", 'Syntax error; token: "in", near: ".in ="'),
        ("a. = :v", 'Syntax error; token: "=", near: ". = :v"'),
        ('"a" = :v', 'Syntax error; token: ""a"", near: ""a" ="'),
        ("_a = :v", 'Syntax error; token: "_", near: "_a"'),
        ("a = :v + :v", 'Syntax error; token: "+", near: ":v + :v"'),
        ("set = :v", 'Syntax error; token: "set", near: "set ="'),
        ("NOT", 'Syntax error; token: "<EOF>", near: "NOT"'),
        ("#n(a)", 'Syntax error; token: "(", near: "#n(a"'),
        # parentheses
        ("((a = :v))", "The expression has redundant parentheses;"),
        ("((a)) = :v", "The expression has redundant parentheses;"),
        ("a = ((:v))", "The expression has redundant parentheses;"),
        ("NOT ((a = :v))", "The expression has redundant parentheses;"),
        ("a IN (((:v)))", "The expression has redundant parentheses;"),
        ("size(((a))) = :v", "The expression has redundant parentheses;"),
        # functions
        ("dog(a) = :v", "Invalid function name; function: dog"),
        ("BEGINS_WITH(a, :s)", "Invalid function name; function: BEGINS_WITH"),
        (
            "size(a)",
            "The function is not allowed to be used this way in an expression; function: size",
        ),
        (
            "NOT size(a)",
            "The function is not allowed to be used this way in an expression; function: size",
        ),
        (
            "attribute_exists(a) < :v",
            "The function is not allowed to be used this way in an expression; function: attribute_exists",
        ),
        (
            "size(contains(a, :v)) = :v",
            "The function is not allowed to be used this way in an expression; function: contains",
        ),
        (
            "if_not_exists(a, :v) = :v",
            "The function is not allowed in a condition expression; function: if_not_exists",
        ),
        (
            "list_append(a, :l) = :l",
            "The function is not allowed in a condition expression; function: list_append",
        ),
        # reserved words (bare names only; as written)
        ("name = :v", "Attribute name is a reserved keyword; reserved keyword: name"),
        ("a.Name = :v", "Attribute name is a reserved keyword; reserved keyword: Name"),
        ("attribute_exists(size)", "Attribute name is a reserved keyword; reserved keyword: size"),
        # placeholders
        (
            "#x = :v",
            "An expression attribute name used in the document path is not defined; attribute name: #x",
        ),
        (
            "a = :x",
            "An expression attribute value used in expression is not defined; attribute value: :x",
        ),
        # operand counts
        (
            "attribute_exists(a, b)",
            "Incorrect number of operands for operator or function; operator or function: "
            "attribute_exists, number of operands: 2",
        ),
        (
            "size(a, a) = :v",
            "Incorrect number of operands for operator or function; operator or function: size, "
            "number of operands: 2",
        ),
        (
            "begins_with(a)",
            "Incorrect number of operands for operator or function; operator or function: "
            "begins_with, number of operands: 1",
        ),
        (
            "contains(a, :v, :w)",
            "Incorrect number of operands for operator or function; operator or function: "
            "contains, number of operands: 3",
        ),
        # operand types (constants only)
        (
            "attribute_exists(:v)",
            "Operator or function requires a document path; operator or function: attribute_exists",
        ),
        (
            "attribute_not_exists(size(a))",
            "Operator or function requires a document path; operator or function: attribute_not_exists",
        ),
        (
            "attribute_type(a, b)",
            "Incorrect operand type for operator or function; operator or function: "
            f"attribute_type, operand type: {ANY_TYPE}",
        ),
        (
            "attribute_type(a, :v)",
            "Incorrect operand type for operator or function; operator or function: "
            "attribute_type, operand type: N",
        ),
        (
            "attribute_type(a, :dog)",
            "Invalid attribute type name found; type: DOG, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}",
        ),
        (
            "begins_with(a, :v)",
            "Incorrect operand type for operator or function; operator or function: begins_with, "
            "operand type: N",
        ),
        (
            "begins_with(:ss, a)",
            "Incorrect operand type for operator or function; operator or function: begins_with, "
            "operand type: SS",
        ),
        (
            "size(:v) = :v",
            "Incorrect operand type for operator or function; operator or function: size, "
            "operand type: N",
        ),
        (
            "size(:b) = :v",
            "Incorrect operand type for operator or function; operator or function: size, "
            "operand type: BOOL",
        ),
        (
            "size(size(a)) = :v",
            "Incorrect operand type for operator or function; operator or function: size, "
            "operand type: N",
        ),
        (
            "a < :l",
            "Incorrect operand type for operator or function; operator or function: <, operand type: L",
        ),
        (
            ":l >= a",
            "Incorrect operand type for operator or function; operator or function: >=, operand type: L",
        ),
        (
            "a <= :b",
            "Incorrect operand type for operator or function; operator or function: <=, operand type: BOOL",
        ),
        (
            "a > :ss",
            "Incorrect operand type for operator or function; operator or function: >, operand type: SS",
        ),
        (
            "a BETWEEN :l AND :l2",
            "Incorrect operand type for operator or function; operator or function: BETWEEN, "
            "operand type: L",
        ),
        # BETWEEN bounds (both constants)
        (
            "a BETWEEN :two AND :s",
            "The BETWEEN operator requires same data type for lower and upper bounds; lower bound "
            "operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {S:dog}",
        ),
        (
            "a BETWEEN :two AND :one",
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
            "lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {N:1}",
        ),
        # the first operand must be distinct
        (
            "a = a",
            "The first operand must be distinct from the remaining operands for this operator or "
            "function; operator: =, first operand: [a]",
        ),
        (
            "contains(a, a)",
            "The first operand must be distinct from the remaining operands for this operator or "
            "function; operator: contains, first operand: [a]",
        ),
        (
            "a.b[1] IN (:v, a.b[1])",
            "The first operand must be distinct from the remaining operands for this operator or "
            "function; operator: IN, first operand: [a, b, [1]]",
        ),
        (
            "a BETWEEN :v AND a",
            "The first operand must be distinct from the remaining operands for this operator or "
            "function; operator: BETWEEN, first operand: [a]",
        ),
        (
            "#a <> a",
            "The first operand must be distinct from the remaining operands for this operator or "
            "function; operator: <>, first operand: [a]",
        ),
    ],
)
def test_rejections(expr: str, message: str) -> None:
    assert error(parse_condition, expr, ctx(NAMES, VALUES)) == P + message


@pytest.mark.parametrize(
    "expr",
    [
        "a BETWEEN b AND :v",  # bounds unchecked unless both are constants
        "a BETWEEN :s AND b",
        "size(a) = :s",  # a size compared with a string is merely false
        "a < b",
        "a = :l",  # = and <> take any type
        "a <> :ss",
        "a IN (:l, :ss, :b)",
        "contains(a, :l)",
        "begins_with(a, b)",
        "contains(a, a.b)",  # different paths
        "attribute_type(a, :t)",
        "size(a.b[2]) >= :v",
        ":v = :v",  # two constants are fine in a condition
        "a BETWEEN :v AND :v",
        "a IN ((:v))",  # the IN list's own parentheses are not an operand's
        "size((a)) = :v",
    ],
)
def test_accepted(expr: str) -> None:
    parse_condition(expr, ctx(NAMES, VALUES))


def test_first_syntax_error_wins_over_everything() -> None:
    assert error(parse_condition, "((name = :x)) AND", ctx()) == (
        P + 'Syntax error; token: "<EOF>", near: "AND"'
    )


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        # redundant parentheses, then unknown functions, then misplaced ones, then reserved
        ("((name = :v)) AND dog(a) AND size(a)", "The expression has redundant parentheses;"),
        ("name = :v AND size(a) AND dog(a)", "Invalid function name; function: dog"),
        (
            "name = :v AND size(a)",
            "The function is not allowed to be used this way in an expression; function: size",
        ),
        ("#x = :v AND name = :v", "Attribute name is a reserved keyword; reserved keyword: name"),
        # then tree order: the first undefined placeholder or bad operand
        (
            "#x = :y",
            "An expression attribute name used in the document path is not defined; attribute name: #x",
        ),
        (
            "a = :y AND #x = :v",
            "An expression attribute value used in expression is not defined; attribute value: :y",
        ),
    ],
)
def test_error_precedence(expr: str, message: str) -> None:
    assert error(parse_condition, expr, ctx(values={":v": 1})) == P + message
