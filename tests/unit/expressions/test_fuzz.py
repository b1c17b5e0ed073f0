"""Property tests: on any input the parsers raise nothing but ValidationError, and what
they accept evaluates, applies and projects without crashing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regions.errors import ValidationError
from regions.expressions import (
    ExpressionContext,
    apply_update,
    evaluate_condition,
    parse_condition,
    parse_key_condition,
    parse_projection,
    parse_update,
    project,
)

from .helpers import av, item

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GENERATED = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = {"#a": "a", "#b": "b", "#n": "name", "#d": "x.y"}
VALUES = {
    ":v": av(1),
    ":w": av(2),
    ":s": av("str"),
    ":l": av([1, "x"]),
    ":ss": av({"a", "b"}),
    ":ns": av({1, 2}),
    ":m": av({"k": 1}),
    ":b": av(b"by"),
    ":t": av("S"),
}
ITEM = item(
    {
        "a": 1,
        "b": "str",
        "l": [1, [2], {"k": "v"}],
        "m": {"a": {"b": [1, 2]}},
        "s": {"x"},
        "n": {1, 2},
    }
)

# Tokens that make interesting expressions more likely than random text does.
# fmt: off
VOCAB = [
    "a", "b", "l", "m", "s", "n", "q", "name", "size", "#a", "#b", "#n", "#d", "#zz",
    ":v", ":w", ":s", ":l", ":ss", ":ns", ":m", ":b", ":t", ":zz",
    "=", "<>", "<", "<=", ">", ">=", "+", "-", "(", ")", "[", "]", ".", ",", "0", "1", "12",
    "AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE",
    "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains",
    "if_not_exists", "list_append", "dog", " ", "  ", "_", "!", "#", ":", "'q'", "\"",
]
# fmt: on

token_soup = st.lists(st.sampled_from(VOCAB), max_size=30).map(" ".join)
raw_text = st.text(max_size=60)
expressions = st.one_of(
    token_soup, raw_text, st.lists(st.sampled_from(VOCAB), max_size=30).map("".join)
)


def context() -> ExpressionContext:
    return ExpressionContext(dict(NAMES), dict(VALUES))


@FAST
@given(expressions)
def test_condition_parser_raises_only_validation_errors(expr: str) -> None:
    for kind in ("ConditionExpression", "FilterExpression"):
        try:
            cond = parse_condition(expr, context(), kind)
        except ValidationError:
            continue
        assert isinstance(evaluate_condition(cond, ITEM), bool)
        assert isinstance(evaluate_condition(cond, None), bool)


@FAST
@given(expressions)
def test_update_parser_raises_only_validation_errors(expr: str) -> None:
    try:
        update = parse_update(expr, context())
    except ValidationError:
        return
    for start in (ITEM, None):
        try:
            result = apply_update(start, update, ("p",))
        except ValidationError:
            continue
        assert isinstance(result.item, dict)


@FAST
@given(expressions)
def test_projection_parser_raises_only_validation_errors(expr: str) -> None:
    try:
        paths = parse_projection(expr, context())
    except ValidationError:
        return
    assert isinstance(project(ITEM, paths), dict)


@FAST
@given(expressions)
def test_key_condition_parser_raises_only_validation_errors(expr: str) -> None:
    try:
        parse_key_condition(expr, context(), "a", "N", "b", "S")
    except ValidationError:
        pass


# --- grammar-shaped inputs: mostly valid, so validation and evaluation get exercised ----

heads = st.sampled_from(["a", "b", "l", "m", "s", "n", "q", "#a", "#b", "#d", "#zz", "name"])
steps = st.lists(st.sampled_from([".a", ".b", ".k", ".x", "[0]", "[1]", "[2]"]), max_size=3)
paths = st.builds(lambda h, s: h + "".join(s), heads, steps)
values = st.sampled_from([":v", ":w", ":s", ":l", ":ss", ":ns", ":m", ":b", ":t", ":zz"])
functions = st.sampled_from(
    [
        "attribute_exists",
        "attribute_not_exists",
        "attribute_type",
        "begins_with",
        "contains",
        "size",
        "if_not_exists",
        "list_append",
        "dog",
    ]
)


def call(name: str, args: list[str]) -> str:
    return f"{name}({', '.join(args)})"


leaf_operands = st.one_of(paths, values, paths.map(lambda p: f"size({p})"))
operands = st.recursive(
    leaf_operands,
    lambda inner: st.builds(call, functions, st.lists(inner, min_size=1, max_size=3)),
    max_leaves=4,
)
comparators = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
simple_conditions = st.one_of(
    st.builds(lambda a, op, b: f"{a} {op} {b}", operands, comparators, operands),
    st.builds(lambda a, b, c: f"{a} BETWEEN {b} AND {c}", operands, operands, operands),
    st.builds(
        lambda a, bs: f"{a} IN ({', '.join(bs)})",
        operands,
        st.lists(operands, min_size=1, max_size=4),
    ),
    st.builds(call, functions, st.lists(operands, min_size=1, max_size=3)),
)
conditions = st.recursive(
    simple_conditions,
    lambda inner: st.one_of(
        inner.map(lambda c: f"NOT {c}"),
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["AND", "OR"]), inner),
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["AND", "OR"]), inner),
    ),
    max_leaves=6,
)
set_values = st.one_of(
    operands,
    st.builds(lambda a, op, b: f"{a} {op} {b}", operands, st.sampled_from(["+", "-"]), operands),
)
actions = st.one_of(
    st.builds(lambda p, v: ("SET", f"{p} = {v}"), paths, set_values),
    st.builds(lambda p: ("REMOVE", p), paths),
    st.builds(lambda p, v: ("ADD", f"{p} {v}"), paths, values),
    st.builds(lambda p, v: ("DELETE", f"{p} {v}"), paths, values),
)


def render_update(chosen: list[tuple[str, str]]) -> str:
    sections: dict[str, list[str]] = {}
    for section, text in chosen:
        sections.setdefault(section, []).append(text)
    return " ".join(f"{s} {', '.join(parts)}" for s, parts in sections.items())


updates = st.lists(actions, min_size=1, max_size=4).map(render_update)


@GENERATED
@given(conditions)
def test_generated_conditions(expr: str) -> None:
    test_condition_parser_raises_only_validation_errors.hypothesis.inner_test(expr)  # type: ignore[attr-defined]
    try:
        parse_key_condition(expr, context(), "a", "N", "b", "S")
    except ValidationError:
        pass


@GENERATED
@given(updates)
def test_generated_updates(expr: str) -> None:
    test_update_parser_raises_only_validation_errors.hypothesis.inner_test(expr)  # type: ignore[attr-defined]


@GENERATED
@given(st.lists(paths, min_size=1, max_size=4).map(", ".join))
def test_generated_projections(expr: str) -> None:
    test_projection_parser_raises_only_validation_errors.hypothesis.inner_test(expr)  # type: ignore[attr-defined]
