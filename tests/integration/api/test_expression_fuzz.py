"""Expressions fuzzed over raw HTTP: whatever text arrives as a Condition, Filter,
Update, Projection or KeyCondition expression, the answer is a 200 or a 400
ValidationException (or, for a well-formed condition that is false, a
ConditionalCheckFailedException), never a 500.

Inputs are random strings and "near-valid" expressions: valid ones with a few token
edits (a token dropped, doubled, swapped, replaced or inserted, keywords re-cased),
which reach much deeper into the parser and validator than random text does.  The
request bodies are built here and sent with httpx, so no client-side validation
stands in between.  Each placeholder the expression mentions is defined when the
pools below have it, so valid expressions really run (an unused placeholder alone
would make every request a 400).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import JSON_10, TARGET_PREFIX, create_table, http, unique

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NAMES: Final = {"#n": "name", "#p": "p", "#s": "s", "#d": "a.b", "#m": "m"}
VALUES: Final[dict[str, Any]] = {
    ":s": {"S": "x"},
    ":e": {"S": ""},
    ":n": {"N": "1"},
    ":m": {"N": "5"},
    ":big": {"N": "9.9E+125"},
    ":k": {"S": "k1"},
    ":l": {"L": [{"S": "a"}, {"N": "2"}]},
    ":empty": {"L": []},
    ":ss": {"SS": ["a", "b"]},
    ":ns": {"NS": ["1", "2"]},
    ":t": {"S": "M"},
    ":b": {"B": "AAE="},
    ":map": {"M": {"x": {"N": "1"}}},
    ":null": {"NULL": True},
    ":bool": {"BOOL": False},
}
ITEM: Final[dict[str, Any]] = {
    "p": {"S": "k1"},
    "s": {"N": "1"},
    "a": {"S": "xyz"},
    "n": {"N": "3"},
    "l": {"L": [{"S": "a"}, {"M": {"b": {"N": "1"}}}]},
    "m": {"M": {"b": {"L": [{"N": "1"}]}, "c": {"SS": ["a"]}}},
    "ss": {"SS": ["a", "c"]},
    "name": {"S": "reserved"},
}

SEEDS: Final = {
    "ConditionExpression": [
        "attribute_exists(p)",
        "attribute_not_exists(zz) AND a = :s",
        "#n = :s OR n < :m",
        "size(l) > :n AND l[1].b = :n",
        "n BETWEEN :n AND :m",
        "a IN (:s, :e, :n)",
        "NOT (a = :s OR n <> :n)",
        "begins_with(a, :s) AND contains(ss, :s)",
        "attribute_type(m, :t)",
        "m.b[0] >= :n",
        "(a < :s) OR (NOT attribute_exists(#d))",
    ],
    "FilterExpression": [
        "a = :s",
        "size(m.c) = :n OR contains(l, :s)",
        "NOT n BETWEEN :n AND :m",
        "attribute_type(#n, :t) AND l[0] <> :e",
        "n IN (:n, :m) AND (begins_with(a, :s) OR a > :e)",
    ],
    "UpdateExpression": [
        "SET a = :s",
        "SET n = n + :n, l = list_append(if_not_exists(l, :empty), :l)",
        "REMOVE a, m.b[0]",
        "ADD n :n, ss :ss",
        "DELETE ss :ss",
        "SET #n = :s REMOVE zz ADD q :ns DELETE m.c :ss",
        "SET m.b[5] = :map, z = if_not_exists(z, :null)",
        "SET n = :big + :big",
        "SET x = l[0], y = :bool",
    ],
    "ProjectionExpression": ["a, n", "m.b[0], #n", "l[1].b, ss", "#d, #m.c"],
    "KeyConditionExpression": [
        "p = :k",
        "#p = :k AND s > :n",
        "p = :k AND s BETWEEN :n AND :m",
        "p = :k AND begins_with(s, :s)",
        ":k = p AND (s <= :m)",
    ],
}

VOCAB: Final = [
    "a", "n", "l", "m", "p", "s", "ss", "zz", "name", "size", "#n", "#p", "#d", "#zz",
    ":s", ":n", ":m", ":l", ":ss", ":t", ":zz", ":empty", "=", "<>", "<", "<=", ">", ">=",
    "+", "-", "(", ")", "[", "]", ".", ",", "0", "1", "99999999999", "-1", "AND", "OR",
    "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE", "attribute_exists",
    "attribute_not_exists", "attribute_type", "begins_with", "contains", "size",
    "if_not_exists", "list_append", "dog", " ", "", "'", '"', "#", ":", "é", "\t", "\u2028",
]  # fmt: skip

_TOKEN = re.compile(r"#\w+|:\w+|\w+|\S")
_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")


@st.composite
def near_valid(draw: st.DrawFn, kind: str) -> str:
    """A seed expression of ``kind`` with up to three token edits."""
    tokens = _TOKEN.findall(draw(st.sampled_from(SEEDS[kind])))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, max(len(tokens) - 1, 0)))
        edit = draw(st.sampled_from(["drop", "double", "swap", "replace", "insert", "case"]))
        if not tokens:
            tokens = [draw(st.sampled_from(VOCAB))]
        elif edit == "drop":
            del tokens[i]
        elif edit == "double":
            tokens.insert(i, tokens[i])
        elif edit == "swap" and i + 1 < len(tokens):
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        elif edit == "replace":
            tokens[i] = draw(st.sampled_from(VOCAB))
        elif edit == "insert":
            tokens.insert(i, draw(st.sampled_from(VOCAB)))
        else:
            tokens[i] = tokens[i].swapcase()
    return " ".join(tokens)


def expressions(kind: str) -> st.SearchStrategy[str]:
    # no lone surrogates: they cannot be encoded as UTF-8 JSON at all
    text = st.text(st.characters(codec="utf-8"), max_size=60)
    soup = st.lists(st.sampled_from(VOCAB), max_size=25).map(" ".join)
    # near-valid three times out of five: random text rarely gets past the lexer
    return st.one_of(near_valid(kind), near_valid(kind), near_valid(kind), text, soup)


def _placeholders(*exprs: str) -> dict[str, Any]:
    """ExpressionAttributeNames/Values for the placeholders the text mentions (those
    the pools define; the others stay undefined, itself a case worth sending)."""
    used = {m for e in exprs for m in _PLACEHOLDER.findall(e)}
    names = {k: v for k, v in NAMES.items() if k in used}
    values = {k: v for k, v in VALUES.items() if k in used}
    out: dict[str, Any] = {}
    if names:
        out["ExpressionAttributeNames"] = names
    if values:
        out["ExpressionAttributeValues"] = values
    return out


@pytest.fixture(scope="module")
def fuzz_table(region_proc: RegionProcess, ddb: Any) -> Iterator[str]:
    name = unique("fuzz")
    create_table(ddb, name, ("p", "S"), ("s", "N"))
    yield name
    ddb.delete_table(TableName=name)


def _send(url: str, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    r = http().post(
        url + "/",
        json=body,
        headers={"Content-Type": JSON_10, "X-Amz-Target": TARGET_PREFIX + operation},
    )
    return r.status_code, r.json()


def _assert_handled(status: int, body: dict[str, Any], expr: str, conditional: bool) -> str:
    """200, or a 400 ValidationException (ConditionalCheckFailed where a condition
    decides): never a 500, never another error."""
    assert status in (200, 400), (status, body, expr)
    if status == 200:
        return "ok"
    kind = str(body.get("__type", ""))
    allowed = ("ValidationException",) + (
        ("ConditionalCheckFailedException",) if conditional else ()
    )
    assert kind.endswith(allowed), (body, expr)
    return kind.rsplit("#", 1)[-1]


def _body(table: str, kind: str, expr: str) -> tuple[str, dict[str, Any], bool]:
    """(operation, request body, whether a condition can fail) for one expression."""
    key = {"p": ITEM["p"], "s": ITEM["s"]}
    if kind == "ConditionExpression":
        return "PutItem", {"TableName": table, "Item": ITEM, kind: expr}, True
    if kind == "FilterExpression":
        return "Scan", {"TableName": table, kind: expr}, False
    if kind == "UpdateExpression":
        return "UpdateItem", {"TableName": table, "Key": key, kind: expr}, False
    if kind == "ProjectionExpression":
        return "GetItem", {"TableName": table, "Key": key, kind: expr}, False
    return "Query", {"TableName": table, kind: expr}, False


KINDS: Final = list(SEEDS)


@pytest.mark.parametrize("kind", KINDS)
def test_seeds_are_valid(region_proc: RegionProcess, fuzz_table: str, kind: str) -> None:
    """The unedited seeds run (so the edits start from valid expressions)."""
    _send(region_proc.url, "PutItem", {"TableName": fuzz_table, "Item": ITEM})
    for expr in SEEDS[kind]:
        operation, body, conditional = _body(fuzz_table, kind, expr)
        status, out = _send(region_proc.url, operation, body | _placeholders(expr))
        outcome = _assert_handled(status, out, expr, conditional)
        # a seed may only fail where the data decides (a false condition, a sum out
        # of range, begins_with on a number key)
        assert outcome != "ValidationException" or expr in (
            "SET n = :big + :big",
            "p = :k AND begins_with(s, :s)",
        ), (expr, out)


@pytest.mark.parametrize("kind", KINDS)
def test_fuzzed_expressions_never_500(
    region_proc: RegionProcess, fuzz_table: str, kind: str
) -> None:
    outcomes: dict[str, int] = {}

    @FUZZ
    @given(expr=expressions(kind))
    def run(expr: str) -> None:
        if kind == "UpdateExpression":
            # restore the item: updates change it (and a REMOVE could strip it bare)
            _send(region_proc.url, "PutItem", {"TableName": fuzz_table, "Item": ITEM})
        operation, body, conditional = _body(fuzz_table, kind, expr)
        status, out = _send(region_proc.url, operation, body | _placeholders(expr))
        outcome = _assert_handled(status, out, expr, conditional)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    _send(region_proc.url, "PutItem", {"TableName": fuzz_table, "Item": ITEM})
    run()
    # the fuzz reached both sides of the parser: accepted and rejected expressions
    assert outcomes.get("ValidationException", 0) > 0, outcomes
    assert sum(n for o, n in outcomes.items() if o != "ValidationException") > 0, outcomes


def test_fuzzed_pairs_in_one_request(region_proc: RegionProcess, fuzz_table: str) -> None:
    """UpdateItem with both a fuzzed UpdateExpression and ConditionExpression, which
    share one placeholder map (used-ness is judged across both)."""

    @settings(FUZZ, max_examples=40)
    @given(update=expressions("UpdateExpression"), condition=expressions("ConditionExpression"))
    def run(update: str, condition: str) -> None:
        key = {"p": ITEM["p"], "s": ITEM["s"]}
        body = {
            "TableName": fuzz_table,
            "Key": key,
            "UpdateExpression": update,
            "ConditionExpression": condition,
        } | _placeholders(update, condition)
        status, out = _send(region_proc.url, "UpdateItem", body)
        _assert_handled(status, out, f"{update} | {condition}", conditional=True)

    _send(region_proc.url, "PutItem", {"TableName": fuzz_table, "Item": ITEM})
    run()
