"""Multi-attribute GSI keys: the composite encoding's order, the sort-key bounds a
Query turns into, KeySchema validation and KeyConditionExpression resolution."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regions import definitions
from regions.errors import ValidationError
from regions.expressions import ExpressionContext, parse_key_terms
from regions.expressions.key_condition import resolve_multi
from regions.indexes import GSI, IndexSpec, entry_for
from regions.keys import (
    KeyAttr,
    KeySchema,
    encode_key_component,
    encode_key_value,
    encode_key_values,
)
from regions.reads import composite_key_range
from regions.store import KeyRange

FAST = settings(max_examples=300, deadline=None)
TYPES = ("S", "N", "B")

# values of each type and their natural order (DynamoDB's: code points, bytes, numbers)
_text = st.text(alphabet=st.sampled_from("\x00\x01ab\xff\u00e9\U0001f600"), max_size=4)
_bytes = st.binary(max_size=4).map(lambda b: b + b"\x00" if b.endswith(b"\xff") else b)
_numbers = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)


def _value(type_: str) -> st.SearchStrategy[tuple[dict[str, Any], Any]]:
    """(AttributeValue, natural sort key) of a non-empty key value of ``type_``."""
    if type_ == "S":
        return _text.filter(bool).map(lambda s: ({"S": s}, s))
    if type_ == "B":
        return _bytes.filter(bool).map(lambda b: ({"B": base64.b64encode(b).decode()}, b))
    return _numbers.map(lambda d: ({"N": str(d)}, Decimal(d)))


@st.composite
def schemas(draw: st.DrawFn) -> tuple[str, ...]:
    return tuple(draw(st.lists(st.sampled_from(TYPES), min_size=2, max_size=4)))


@st.composite
def tuples(draw: st.DrawFn, types: tuple[str, ...]) -> tuple[list[dict[str, Any]], tuple[Any, ...]]:
    pairs = [draw(_value(t)) for t in types]
    return [p[0] for p in pairs], tuple(p[1] for p in pairs)


def _enc(avs: list[dict[str, Any]], types: tuple[str, ...]) -> bytes:
    return encode_key_values(list(zip(avs, types, strict=True)))


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


@FAST
@given(st.data())
def test_composite_encoding_orders_attribute_by_attribute(data: st.DataObject) -> None:
    types = data.draw(schemas())
    a_avs, a_key = data.draw(tuples(types))
    b_avs, b_key = data.draw(tuples(types))
    # a shared leading run makes later attributes decide more often
    cut = data.draw(st.integers(0, len(types)))
    b_avs[:cut], b_key = a_avs[:cut], a_key[:cut] + b_key[cut:]
    assert _cmp(_enc(a_avs, types), _enc(b_avs, types)) == _cmp(a_key, b_key)


@FAST
@given(st.sampled_from(TYPES), st.data())
def test_component_preserves_the_order_of_its_type(type_: str, data: st.DataObject) -> None:
    (a, ka), (b, kb) = data.draw(_value(type_)), data.draw(_value(type_))
    assert _cmp(encode_key_component(a, type_), encode_key_component(b, type_)) == _cmp(ka, kb)


def test_single_attribute_columns_keep_their_plain_encoding() -> None:
    for av, t in (({"S": "a\x00b"}, "S"), ({"N": "-1.5"}, "N"), ({"B": "AAE="}, "B")):
        assert encode_key_values([(av, t)]) == encode_key_value(av, t)


def test_component_examples() -> None:
    assert encode_key_component({"S": "ab"}, "S") == b"ab\x00\x01"
    assert encode_key_component({"B": base64.b64encode(b"a\x00").decode()}, "B") == (
        b"a\x00\xff\x00\x01"
    )
    # "a" < "a\x00" < "ab" survives escaping and concatenation
    first = [encode_key_values([({"S": s}, "S"), ({"N": "1"}, "N")]) for s in ("a", "a\x00", "ab")]
    assert first == sorted(first)


def _in(rng: KeyRange, key: bytes) -> bool:
    if rng.low is not None and (key < rng.low or (key == rng.low and not rng.low_inclusive)):
        return False
    return rng.high is None or key < rng.high or (key == rng.high and rng.high_inclusive)


_OPS = ("=", "<", "<=", ">", ">=", "BETWEEN", "BEGINS_WITH", None)


def _holds(op: str | None, v: Any, bounds: tuple[Any, ...]) -> bool:
    if op is None:
        return True
    if op == "BEGINS_WITH":
        return bool(v[: len(bounds[0])] == bounds[0])
    if op == "BETWEEN":
        return bool(bounds[0] <= v <= bounds[1])
    return {
        "=": v == bounds[0],
        "<": v < bounds[0],
        "<=": v <= bounds[0],
        ">": v > bounds[0],
        ">=": v >= bounds[0],
    }[op]


@FAST
@given(st.data())
def test_composite_range_selects_exactly_the_matching_keys(data: st.DataObject) -> None:
    types = data.draw(schemas())
    attrs = tuple(KeyAttr(f"r{i}", t) for i, t in enumerate(types))
    rows = data.draw(st.lists(tuples(types), min_size=1, max_size=12))
    # condition values taken from the rows now and then, so equalities match
    base_avs, base_key = data.draw(st.sampled_from(rows))
    used = data.draw(st.integers(0, len(types) - 1))
    op = data.draw(st.sampled_from(_OPS))
    nxt = types[used]
    if op == "BEGINS_WITH" and nxt == "N":
        op = ">="
    prefix = tuple(base_avs[:used])
    values: tuple[dict[str, Any], ...] = ()
    bounds: tuple[Any, ...] = ()
    if op is not None:
        count = 2 if op == "BETWEEN" else 1
        drawn = [
            data.draw(st.one_of(st.just((base_avs[used], base_key[used])), _value(nxt)))
            for _ in range(count)
        ]
        drawn.sort(key=lambda p: p[1])
        if op == "BEGINS_WITH":
            raw = drawn[0][1][: data.draw(st.integers(1, max(1, len(drawn[0][1]))))]
            av = {"S": raw} if nxt == "S" else {"B": base64.b64encode(raw).decode()}
            drawn = [(av, raw)]
        values = tuple(p[0] for p in drawn)
        bounds = tuple(p[1] for p in drawn)
    rng = composite_key_range(prefix, op, values, attrs)
    for avs, key in rows:
        expected = key[:used] == base_key[:used] and (
            op is None or _holds(op, key[used], bounds)
        )
        assert _in(rng, _enc(avs, types)) == expected, (op, key, base_key[:used], bounds)


def _gsi(*elements: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": n, "KeyType": k} for n, k in elements]


TYPES_ALL = {n: "S" for n in ("a", "b", "c", "d", "e", "f", "g", "h", "i")}
INVALID = "One or more parameter values were invalid: "


@pytest.mark.parametrize(
    ("elements", "message"),
    [
        (
            _gsi(("a", "HASH"), ("b", "RANGE"), ("c", "HASH")),
            INVALID + "All HASH key attributes must precede RANGE key attributes in the KeySchema",
        ),
        (
            _gsi(*((n, "HASH") for n in "abcde")),
            INVALID + "The KeySchema exceeds the maximum allowed number of HASH key attributes",
        ),
        (
            _gsi(("a", "HASH"), *((n, "RANGE") for n in "bcdef")),
            INVALID + "The KeySchema exceeds the maximum allowed number of RANGE key attributes",
        ),
        (
            _gsi(("a", "HASH"), ("b", "HASH"), ("a", "RANGE")),
            "The KeySchema contains multiple key attributes with the same name",
        ),
        (
            _gsi(("a", "HASH"), ("a", "HASH")),
            "The KeySchema contains multiple key attributes with the same name",
        ),
        (
            _gsi(("a", "HASH"), ("a", "RANGE")),
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ),
        (
            _gsi(("a", "RANGE"), ("b", "RANGE")),
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
    ],
)
def test_gsi_key_schema_errors(elements: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        definitions.key_schema(elements, TYPES_ALL, multi=True)
    assert err.value.message == message


def test_gsi_key_schema_multi() -> None:
    ks = definitions.key_schema(
        _gsi(*((n, "HASH") for n in "abcd"), *((n, "RANGE") for n in "efgh")), TYPES_ALL, multi=True
    )
    assert [a.name for a in ks.hash_attrs] == list("abcd")
    assert [a.name for a in ks.range_attrs] == list("efgh")
    assert ks.multi


def test_table_and_lsi_key_schemas_stay_single() -> None:
    with pytest.raises(ValidationError, match="second KeySchemaElement is not a RANGE"):
        definitions.key_schema(_gsi(("a", "HASH"), ("b", "HASH")), TYPES_ALL)
    with pytest.raises(ValidationError, match="less than or equal to 2"):
        definitions.key_schema(_gsi(("a", "HASH"), ("b", "RANGE"), ("c", "RANGE")), TYPES_ALL)


def test_index_spec_json_round_trips_and_single_stays_as_before() -> None:
    single = IndexSpec("one", GSI, 1, KeySchema(KeyAttr("a", "S"), KeyAttr("b", "N")))
    assert set(single.to_json()["key_schema"]) == {"hash", "range"}
    multi = IndexSpec(
        "two",
        GSI,
        2,
        KeySchema(KeyAttr("a", "S"), KeyAttr("c", "B"), (KeyAttr("b", "N"),), (KeyAttr("d", "S"),)),
    )
    assert IndexSpec.from_json(multi.to_json()) == multi
    assert IndexSpec.from_json(single.to_json()) == single


SCHEMA_2H2R = KeySchema(
    KeyAttr("h1", "S"), KeyAttr("r1", "S"), (KeyAttr("h2", "N"),), (KeyAttr("r2", "S"),)
)


def test_entry_needs_every_key_attribute() -> None:
    index = IndexSpec("gsi", GSI, 1, SCHEMA_2H2R)
    table = KeySchema(KeyAttr("p", "S"))
    full = {"p": {"S": "x"}, "h1": {"S": "a"}, "h2": {"N": "1"}, "r1": {"S": "b"}, "r2": {"S": "c"}}
    entry = entry_for(full, index, table, b"x", b"", 0, 8)
    assert entry is not None
    assert entry.hk == b"a\x00\x01" + encode_key_component({"N": "1"}, "N")
    assert entry.rk == b"b\x00\x01c\x00\x01"
    for missing in ("h1", "h2", "r1", "r2"):
        item = {k: v for k, v in full.items() if k != missing}
        assert entry_for(item, index, table, b"x", b"", 0, 8) is None


def _resolve(expr: str, values: dict[str, Any]) -> Any:
    ctx = ExpressionContext(None, values)
    return parse_key_terms(expr, ctx).resolve_for(SCHEMA_2H2R)


V = {":h1": {"S": "a"}, ":h2": {"N": "1"}, ":r1": {"S": "b"}, ":r2": {"S": "c"}, ":x": {"S": "z"}}


def test_resolve_multi_valid_shapes() -> None:
    kc = _resolve("h2 = :h2 AND h1 = :h1", V)
    assert kc.hash_values == (V[":h1"], V[":h2"]) and kc.range_op is None
    kc = _resolve("h1 = :h1 AND h2 = :h2 AND r1 >= :r1", V)
    assert (kc.range_prefix, kc.range_op, kc.range_values) == ((), ">=", (V[":r1"],))
    kc = _resolve("r2 < :r2 AND h1 = :h1 AND r1 = :r1 AND h2 = :h2", V)
    assert (kc.range_prefix, kc.range_op, kc.range_values) == ((V[":r1"],), "<", (V[":r2"],))
    kc = _resolve("h1 = :h1 AND h2 = :h2 AND r1 = :r1 AND begins_with(r2, :x)", V)
    assert kc.range_op == "BEGINS_WITH"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            "h1 = :h1",
            "Query key condition not supported: every HASH key attribute needs an equality "
            "condition, and HASH key attribute h2 has none",
        ),
        (
            "h1 = :h1 AND h2 > :h2",
            "Query key condition not supported: every HASH key attribute needs an equality "
            "condition, and HASH key attribute h2 has none",
        ),
        (
            "h1 = :h1 AND h2 = :h2 AND r2 = :r2",
            "Query key condition not supported: RANGE key attribute r2 has a condition, so "
            "every RANGE key attribute before it needs an equality condition, and r1 has none",
        ),
        (
            "h1 = :h1 AND h2 = :h2 AND r1 > :r1 AND r2 = :r2",
            "Query key condition not supported: RANGE key attribute r2 has a condition, so "
            "every RANGE key attribute before it needs an equality condition, and r1 has none",
        ),
        (
            "h1 = :h1 AND h2 = :h2 AND x = :x",
            "Query condition missed key schema element: r1",
        ),
        (
            "h1 = :h2 AND h2 = :h2",
            "One or more parameter values were invalid: Condition parameter type does not "
            "match schema type",
        ),
        (
            "h1 = :h1 AND h2 = :h2 AND r1 = :r1 AND r2 = :r2 AND x = :x",
            "The number of query conditions (5) exceeds the number of key attributes defined "
            "in the schema (4)",
        ),
    ],
)
def test_resolve_multi_errors(expr: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        _resolve(expr, V)
    assert err.value.message == message


def test_resolve_multi_legacy_operators() -> None:
    terms = (
        ("h1", "EQ", (V[":h1"],)),
        ("h2", "EQ", (V[":h2"],)),
        ("r1", "BETWEEN", (V[":r1"], V[":x"])),
    )
    kc = resolve_multi(terms, SCHEMA_2H2R, legacy=True)
    assert kc.range_op == "BETWEEN"
    with pytest.raises(ValidationError, match="not an indexable operation"):
        resolve_multi((("h1", "NE", (V[":h1"],)),), SCHEMA_2H2R, legacy=True)
