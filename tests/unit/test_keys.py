"""regions.keys: schema, order-preserving key encoding, partitioning, key validation."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regions.errors import SerializationError, ValidationError
from regions.keys import (
    EncodedKey,
    KeyAttr,
    KeySchema,
    decode_key,
    decode_key_value,
    encode_key,
    encode_key_value,
    item_key,
    partition_of,
    validate_key,
)
from regions.types import normalize_number

FAST = settings(max_examples=200, deadline=None)

HASH_S = KeySchema(KeyAttr("a", "S"))
RANGE_S = KeySchema(KeyAttr("a", "S"), KeyAttr("b", "S"))
RANGE_N = KeySchema(KeyAttr("p", "S"), KeyAttr("n", "N"))
RANGE_B = KeySchema(KeyAttr("a", "S"), KeyAttr("b", "B"))
HASH_B = KeySchema(KeyAttr("pk", "B"))

MISMATCH = "The provided key element does not match the schema"
HASH_TOO_BIG = (
    "One or more parameter values were invalid: "
    "Size of hashkey has exceeded the maximum size limit of2048 bytes"
)
RANGE_TOO_BIG = (
    "One or more parameter values were invalid: "
    "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)


NOT_STRINGS: tuple[dict[str, Any], ...] = (
    {"B": "abcd"},
    {"N": "1"},
    {"BOOL": True},
    {"NULL": True},
    {"SS": ["a"]},
    {"NS": ["1"]},
    {"BS": ["aaaa"]},
    {"M": {}},
    {"L": []},
)


def empty_key(kind: str, name: str) -> str:
    return (
        "One or more parameter values are not valid. The AttributeValue for a key "
        f"attribute cannot contain an empty {kind} value. Key: {name}"
    )


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


def cmp(a: Any, b: Any) -> int:
    return sign((a > b) - (a < b))


# --- schema ---------------------------------------------------------------------------


def test_schema() -> None:
    assert HASH_S.names == ("a",)
    assert RANGE_N.names == ("p", "n")
    assert RANGE_N.attrs == (KeyAttr("p", "S"), KeyAttr("n", "N"))
    with pytest.raises(ValueError):
        KeyAttr("a", "BOOL")


# --- number encoding ------------------------------------------------------------------


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """Canonical numbers over the full range: up to 38 digits, exponents -130..125."""
    if draw(st.integers(0, 25)) == 0:
        return "0"
    ndigits = draw(st.integers(1, 38))
    coef = draw(st.integers(10 ** (ndigits - 1), 10**ndigits - 1))
    adjusted = draw(st.integers(-130, 125))
    negative = draw(st.booleans())
    return normalize_number(f"{'-' if negative else ''}{coef}e{adjusted - ndigits + 1}")


@st.composite
def related_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A number and a neighbour sharing its leading digits (prefix / extension cases)."""
    base = draw(numbers())
    if base == "0":
        return base, draw(numbers())
    digits = Decimal(base).as_tuple().digits
    text = "".join(map(str, digits))[: draw(st.integers(1, 37))]
    extra = draw(st.text(alphabet="0123456789", min_size=0, max_size=38 - len(text)))
    exponent = Decimal(base).adjusted()
    other_sign = "-" if draw(st.booleans()) == base.startswith("-") else ""
    other = f"{other_sign}{text}{extra}e{exponent - len(text + extra) + 1}"
    return base, normalize_number(other)


def enc_n(n: str) -> bytes:
    return encode_key_value({"N": n}, "N")


@FAST
@given(numbers(), numbers())
def test_number_encoding_preserves_order(a: str, b: str) -> None:
    assert cmp(enc_n(a), enc_n(b)) == cmp(Decimal(a), Decimal(b))


@FAST
@given(related_numbers())
def test_number_encoding_preserves_order_of_neighbours(pair: tuple[str, str]) -> None:
    a, b = pair
    assert cmp(enc_n(a), enc_n(b)) == cmp(Decimal(a), Decimal(b))


@FAST
@given(numbers())
def test_number_encoding_round_trips(n: str) -> None:
    assert decode_key_value(enc_n(n), "N") == {"N": n}


def test_number_encoding_examples() -> None:
    ordered = [
        "-" + "9" * 38 + "0" * 88,
        "-1" + "0" * 125,
        "-100",
        "-10",
        "-2",
        "-1.5",
        "-1",
        "-0.123",
        "-0.12",
        "-0.1",
        "-" + normalize_number("1e-130"),
        "0",
        normalize_number("1e-130"),
        "0.1",
        "0.12",
        "0.123",
        "1",
        "1.5",
        "2",
        "10",
        "100",
        "1" + "0" * 125,
        "9" * 38 + "0" * 88,
    ]
    encoded = [enc_n(n) for n in ordered]
    assert encoded == sorted(encoded)
    assert len(set(encoded)) == len(encoded)
    # Equal values, whatever their spelling, encode identically.
    assert enc_n("1e3") == enc_n("1000") == enc_n("1000.00")
    assert enc_n("-0") == enc_n("0")


def test_decode_rejects_garbage() -> None:
    for bad in (
        b"",
        b"\x03",
        b"\x03\x81",
        b"\x03\x81\x0a",
        b"\x01\x7e\x08",
        b"\x07\x00\x01",
        b"\x03\x81\x01\x00",
        b"\x03\x81\x00\x01",
    ):
        with pytest.raises(ValueError):
            decode_key_value(bad, "N")
    with pytest.raises(ValueError):
        decode_key_value(b"x", "BOOL")


# --- string and binary encoding -------------------------------------------------------


@FAST
@given(st.text(max_size=8), st.text(max_size=8))
def test_string_encoding_is_utf8_order(a: str, b: str) -> None:
    ea, eb = encode_key_value({"S": a}, "S"), encode_key_value({"S": b}, "S")
    assert cmp(ea, eb) == cmp(a.encode(), b.encode())
    assert decode_key_value(ea, "S") == {"S": a}


def test_string_order_is_code_point_not_utf16() -> None:
    emoji, last_bmp = "\U0001f600", "\uffff"
    # UTF-16 puts the surrogate pair D83D.. before FFFF; DynamoDB does not.
    assert emoji.encode("utf-16-be") < last_bmp.encode("utf-16-be")
    assert encode_key_value({"S": last_bmp}, "S") < encode_key_value({"S": emoji}, "S")
    assert encode_key_value({"S": "A"}, "S") < encode_key_value({"S": "a"}, "S")
    assert encode_key_value({"S": "z"}, "S") < encode_key_value({"S": "¿"}, "S")


@FAST
@given(st.binary(max_size=8), st.binary(max_size=8))
def test_binary_encoding_is_byte_order(a: bytes, b: bytes) -> None:
    ea = encode_key_value({"B": b64(a)}, "B")
    eb = encode_key_value({"B": b64(b)}, "B")
    assert (ea, eb) == (a, b)
    assert decode_key_value(ea, "B") == {"B": b64(a)}


def test_encode_key_value_wrong_type() -> None:
    with pytest.raises(ValueError):
        encode_key_value({"S": "x"}, "N")
    with pytest.raises(ValueError):
        encode_key_value({"BOOL": True}, "BOOL")


# --- partitions -----------------------------------------------------------------------


def test_partition_of_is_stable() -> None:
    # Pinned values: a change here reshuffles every stored row.
    assert partition_of(b"abc", 1024) == 345
    assert partition_of(b"user#42", 16) == 6
    assert partition_of(b"", 7) == 0
    assert partition_of(b"anything", 1) == 0
    with pytest.raises(ValueError):
        partition_of(b"x", 0)


@FAST
@given(st.binary(max_size=16), st.integers(1, 4096))
def test_partition_in_range(hk: bytes, partitions: int) -> None:
    assert 0 <= partition_of(hk, partitions) < partitions


# --- item_key -------------------------------------------------------------------------


def test_item_key_extracts() -> None:
    item = {"p": {"S": "x"}, "n": {"N": "5"}, "other": {"S": "y"}}
    assert item_key(item, RANGE_N) == {"p": {"S": "x"}, "n": {"N": "5"}}


@pytest.mark.parametrize(
    ("schema", "item", "message"),
    [
        (HASH_S, {}, "One or more parameter values were invalid: Missing the key a in the item"),
        (
            HASH_S,
            {"b": {"S": "a"}},
            "One or more parameter values were invalid: Missing the key a in the item",
        ),
        (
            RANGE_S,
            {"a": {"S": "a"}},
            "One or more parameter values were invalid: Missing the key b in the item",
        ),
        *[
            (
                HASH_S,
                {"a": value},
                f"One or more parameter values were invalid: Type mismatch for key a expected: S actual: {next(iter(value))}",
            )
            for value in NOT_STRINGS
        ],
        (
            RANGE_N,
            {"p": {"S": "x"}, "n": {"S": "1"}},
            "One or more parameter values were invalid: Type mismatch for key n expected: N actual: S",
        ),
        (HASH_S, {"a": {"S": ""}}, empty_key("string", "a")),
        (RANGE_B, {"a": {"S": "a"}, "b": {"B": ""}}, empty_key("binary", "b")),
        (HASH_B, {"pk": {"B": ""}}, empty_key("binary", "pk")),
        (HASH_S, {"a": {"S": "x" * 2049}}, HASH_TOO_BIG),
        (HASH_S, {"a": {"S": "é" * 1025}}, HASH_TOO_BIG),  # 2050 UTF-8 bytes
        (HASH_B, {"pk": {"B": b64(b"\x00" * 2049)}}, HASH_TOO_BIG),
        (RANGE_S, {"a": {"S": "a"}, "b": {"S": "x" * 1025}}, RANGE_TOO_BIG),
        (RANGE_B, {"a": {"S": "a"}, "b": {"B": b64(b"\x01" * 1025)}}, RANGE_TOO_BIG),
    ],
)
def test_item_key_rejects(schema: KeySchema, item: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        item_key(item, schema)
    assert exc.value.message == message


def test_item_key_size_limits_are_inclusive() -> None:
    item_key({"a": {"S": "x" * 2048}}, HASH_S)
    item_key({"a": {"S": "é" * 1024}}, HASH_S)
    item_key({"a": {"S": "a"}, "b": {"S": "x" * 1024}}, RANGE_S)
    item_key({"pk": {"B": b64(b"\x00" * 2048)}}, HASH_B)
    # Numbers are never too long.
    item_key({"p": {"S": "x"}, "n": {"N": "9" * 38 + "0" * 88}}, RANGE_N)


# --- validate_key ---------------------------------------------------------------------


def test_validate_key_canonicalises() -> None:
    assert validate_key({"n": {"N": "1E+3"}, "p": {"S": "x"}}, RANGE_N) == {
        "p": {"S": "x"},
        "n": {"N": "1000"},
    }


@pytest.mark.parametrize(
    "key",
    [
        {},
        {"b": {"S": "a"}},
        {"a": {"S": "a"}, "b": {"S": "a"}},
        {"a": {"B": "abcd"}},
        {"a": {"N": "1"}},
        {"a": {"BOOL": True}},
        {"a": {"NULL": True}},
        {"a": {"SS": ["a"]}},
        {"a": {"NS": ["1"]}},
        {"a": {"BS": ["aaaa"]}},
        {"a": {"M": {}}},
        {"a": {"L": []}},
    ],
)
def test_validate_key_schema_mismatch(key: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_key(key, HASH_S)
    assert exc.value.message == MISMATCH


def test_validate_key_errors() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_key({"a": {"S": "a"}}, RANGE_S)
    assert exc.value.message == MISMATCH
    with pytest.raises(ValidationError) as exc:
        validate_key({"a": {"S": ""}}, HASH_S)
    assert exc.value.message == empty_key("string", "a")
    with pytest.raises(ValidationError) as exc:
        validate_key({"pk": {"B": ""}}, HASH_B)
    assert exc.value.message == empty_key("binary", "pk")
    with pytest.raises(ValidationError) as exc:
        validate_key({"a": {"S": "x" * 2049}}, HASH_S)
    assert exc.value.message == HASH_TOO_BIG
    with pytest.raises(ValidationError) as exc:
        validate_key({"a": {"S": "a"}, "b": {"S": "x" * 1025}}, RANGE_S)
    assert exc.value.message == RANGE_TOO_BIG
    # Values are validated before the schema is consulted.
    with pytest.raises(ValidationError) as exc:
        validate_key({"p": {"S": "x"}, "n": {"N": "1e126"}}, RANGE_N)
    assert "overflow" in exc.value.message
    with pytest.raises(SerializationError):
        validate_key({"a": {"S": 1}}, HASH_S)
    with pytest.raises(SerializationError):
        validate_key([], HASH_S)


# --- encode_key / decode_key ----------------------------------------------------------


def test_encode_key() -> None:
    key = validate_key({"p": {"S": "x"}, "n": {"N": "1e3"}}, RANGE_N)
    enc = encode_key(key, RANGE_N, 64)
    assert enc == EncodedKey(part=partition_of(b"x", 64), hk=b"x", rk=enc_n("1000"))
    assert decode_key(enc.hk, enc.rk, RANGE_N) == {"p": {"S": "x"}, "n": {"N": "1000"}}
    # Same value, different spelling: same stored key.
    assert encode_key({"p": {"S": "x"}, "n": {"N": "1000.0"}}, RANGE_N, 64) == enc


def test_encode_key_hash_only() -> None:
    enc = encode_key({"a": {"S": "k"}}, HASH_S, 8)
    assert enc.rk == b""
    assert enc.hk == b"k"
    assert decode_key(enc.hk, enc.rk, HASH_S) == {"a": {"S": "k"}}
