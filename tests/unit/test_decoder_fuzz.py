"""Property tests of the request decoder: ``decode_body`` and ``validate_item``.

On any input they either return a value or raise a DynamoError (which the router
turns into a 400); anything else would be a 500 that boto3 retries.  What they
accept is canonical: validating it again changes nothing, and its stored bytes
decode back to it.  (The expression parser has its own properties in
tests/unit/expressions/test_fuzz.py; these cover the request body and the item.)
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.dynamodb.protocol import decode_body
from regions.errors import DynamoError, ValidationError
from regions.types import (
    MAX_NESTING,
    decode_item,
    encode_item,
    from_plain,
    item_size,
    normalize_number,
    validate_item,
    validate_value,
)

RUNS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

_TAGS = ["S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL", "X", "s", ""]
_number_text = st.one_of(
    st.from_regex(r"[+-]?[0-9]{0,45}(\.[0-9]{0,45})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(["NaN", "Infinity", "-0", "0e5", "1e125", "9.99e125", "1e-130", "1e-131"]),
    st.text(max_size=8),
)
_b64 = st.one_of(
    st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode()),
    st.text(alphabet="AZaz09+/=!* ", max_size=9),
)
#: any JSON value, small and sometimes deep.  Integers stay within 64 bits: orjson
#: reads larger ones as floats, harmless because every integer member of a request
#: (Limit, capacity units, segments) refuses a float and numbers in items are strings
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_TAGS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=25,
)


def _scalar_member(tag: str) -> st.SearchStrategy[Any]:
    if tag == "N":
        return _number_text
    if tag == "B":
        return _b64
    if tag in ("BOOL", "NULL"):
        return st.booleans() | json_values
    if tag == "SS":
        return st.lists(st.text(max_size=5) | st.none(), max_size=4) | json_values
    if tag == "NS":
        return st.lists(_number_text | st.none(), max_size=4) | json_values
    if tag == "BS":
        return st.lists(_b64, max_size=4) | json_values
    return st.text(max_size=10) | json_values


def _attribute_value(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """AttributeValue-shaped dicts, right and wrong: one or several tags, members of
    the right type or not, containers of further values."""
    scalar = st.sampled_from(_TAGS).flatmap(
        lambda tag: _scalar_member(tag).map(lambda member: {tag: member})
    )
    containers = st.one_of(
        st.lists(children, max_size=3).map(lambda xs: {"L": xs}),
        st.dictionaries(st.text(max_size=4), children, max_size=3).map(lambda m: {"M": m}),
    )
    return st.one_of(scalar, containers, st.tuples(scalar, scalar).map(lambda p: {**p[0], **p[1]}))


attribute_values = st.recursive(
    st.sampled_from(_TAGS).flatmap(lambda tag: _scalar_member(tag).map(lambda m: {tag: m})),
    _attribute_value,
    max_leaves=20,
)
items = st.dictionaries(st.text(max_size=6), attribute_values | json_values, max_size=6)


def _deep(depth: int, container: str) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "x"}
    for _ in range(depth):
        value = {"L": [value]} if container == "L" else {"M": {"m": value}}
    return value


# --------------------------------------------------------------------------- decode_body


@RUNS
@given(st.binary(max_size=200))
def test_decode_body_on_any_bytes(raw: bytes) -> None:
    try:
        body = decode_body(raw)
    except DynamoError as exc:
        assert exc.code == "SerializationException"
    else:
        assert isinstance(body, dict)


@RUNS
@given(json_values)
def test_decode_body_on_any_json(value: Any) -> None:
    raw = json.dumps(value).encode()
    try:
        body = decode_body(raw)
    except DynamoError:
        assert not isinstance(value, dict)
    else:
        assert isinstance(value, dict) and body == json.loads(raw)


def test_decode_body_of_very_deep_json() -> None:
    # orjson stops at 1024 levels; past that it must be a SerializationException,
    # not a RecursionError
    for raw in (b"[" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        try:
            decode_body(raw)
        except DynamoError as exc:
            assert exc.code == "SerializationException"


# --------------------------------------------------------------------------- items


def _accepts(item: Any) -> dict[str, Any] | None:
    try:
        return validate_item(item)
    except DynamoError as exc:
        assert exc.code in ("ValidationException", "SerializationException"), exc
        return None


@RUNS
@given(items)
def test_validate_item_raises_only_dynamo_errors(item: Any) -> None:
    canonical = _accepts(item)
    if canonical is None:
        return
    # canonical means a fixed point, and the stored bytes decode back to it
    assert validate_item(canonical) == canonical
    assert decode_item(encode_item(canonical)) == canonical
    assert encode_item(validate_item(decode_item(encode_item(canonical)))) == encode_item(canonical)
    assert item_size(canonical) >= 0


@RUNS
@given(json_values)
def test_validate_item_on_any_json(value: Any) -> None:
    _accepts(value)


@RUNS
@given(st.sampled_from(["L", "M"]), st.integers(min_value=MAX_NESTING - 2, max_value=400))
def test_nesting_limit_is_an_error_not_a_crash(container: str, depth: int) -> None:
    item = {"p": {"S": "k"}, "v": _deep(depth, container)}
    canonical = _accepts(item)
    # depth counts the containers around the leaf; 32 levels in all are allowed
    assert (canonical is not None) == (depth < MAX_NESTING)


@RUNS
@given(_number_text)
def test_numbers_are_canonical_or_refused(text: str) -> None:
    try:
        canonical = normalize_number(text)
    except DynamoError as exc:
        assert exc.code == "ValidationException"
        return
    assert normalize_number(canonical) == canonical
    assert validate_value({"N": text}) == {"N": canonical}


@pytest.mark.parametrize("depth", [MAX_NESTING - 1, MAX_NESTING, 950, 5000])
def test_plain_values_nested_too_deep_are_refused(depth: int) -> None:
    # the REST API's path (from_plain): a JSON body nested 950 deep used to exhaust
    # Python's stack in the conversion, a 500 instead of a 400
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    if depth < MAX_NESTING:
        assert from_plain(value)["L"]
    else:
        with pytest.raises(ValidationError, match="Nesting Levels"):
            from_plain(value)
