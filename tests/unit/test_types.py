"""regions.types: numbers, value validation, sizes, canonical bytes, ordering, plain JSON."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regions.errors import SerializationError, ValidationError
from regions.types import (
    MAX_ITEM_SIZE,
    check_item_size,
    compare_values,
    decimal_to_number,
    decode_item,
    encode_item,
    from_plain,
    item_size,
    normalize_number,
    number_key,
    number_parts,
    to_plain,
    validate_item,
    validate_value,
    validate_values,
    value_size,
    values_equal,
)

FAST = settings(max_examples=150, deadline=None)

OVERFLOW = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
UNDERFLOW = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
PRECISION = "Attempting to store more than 38 significant digits in a Number"
NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
INVALID = "One or more parameter values were invalid: "
EMPTY_AV = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
MULTI_AV = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
NESTING = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """Valid DynamoDB numbers in exponent form, over the full range and precision."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from(["0", "-0", "0e99", "0.000"]))
    ndigits = draw(st.integers(1, 38))
    coef = draw(st.integers(10 ** (ndigits - 1), 10**ndigits - 1))
    adjusted = draw(st.integers(-130, 125))
    sign = draw(st.sampled_from(["", "-", "+"]))
    return f"{sign}{coef}e{adjusted - ndigits + 1}"


# --- numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("1E+3", "1000"),
        ("1e3", "1000"),
        ("01.50", "1.5"),
        ("-0", "0"),
        ("+0", "0"),
        ("-0.000", "0"),
        ("0e1000", "0"),
        (".5", "0.5"),
        ("5.", "5"),
        ("+3", "3"),
        (".123", "0.123"),
        ("0001.23", "1.23"),
        ("1e+5", "100000"),
        ("1.0e-1", "0.1"),
        ("-17e5", "-1700000"),
        ("-7.1234", "-7.1234"),
        ("-17.4E37", "-174" + "0" * 36),
        ("1e125", "1" + "0" * 125),
        ("9.9999999999999999999999999999999999999e125", "9" * 38 + "0" * 88),
        ("1e-130", "0." + "0" * 129 + "1"),
        ("-1e-130", "-0." + "0" * 129 + "1"),
        ("3.1415926535897932384626433832795028841", "3.1415926535897932384626433832795028841"),
        (
            "31415926535897932384626433832795028841e30",
            "31415926535897932384626433832795028841" + "0" * 30,
        ),
        ("0000012345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        (
            "-00001.23456789012345678901234567890123456780000",
            "-1.2345678901234567890123456789012345678",
        ),
        ("0e-99999999999999999999999", "0"),
    ],
)
def test_normalize_number(raw: str, canonical: str) -> None:
    assert normalize_number(raw) == canonical


def test_1e125_has_126_digits() -> None:
    assert len(normalize_number("1e125")) == 126


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1e126", OVERFLOW),
        ("-1e126", OVERFLOW),
        ("11e125", OVERFLOW),
        ("1e99999999999999999999999", OVERFLOW),
        ("1e-131", UNDERFLOW),
        ("-1e-131", UNDERFLOW),
        ("0.9e-130", UNDERFLOW),
        ("-1e-99999999999999999999999", UNDERFLOW),
        ("1" * 39, PRECISION),
        ("123456789012345678901234567890123456789", PRECISION),
        ("-1.23456789012345678901234567890123456789", PRECISION),
        ("314159265358979323846264338327950288419e30", PRECISION),
        ("", NOT_NUMERIC),
        ("NaN", f"{NOT_NUMERIC}: NaN"),
        ("-NaN", f"{NOT_NUMERIC}: -NaN"),
        ("Infinity", f"{NOT_NUMERIC}: Infinity"),
        ("-Infinity", f"{NOT_NUMERIC}: -Infinity"),
        ("dog", f"{NOT_NUMERIC}: dog"),
        (" 1", f"{NOT_NUMERIC}:  1"),
        ("1 ", f"{NOT_NUMERIC}: 1 "),
        ("1_000", f"{NOT_NUMERIC}: 1_000"),
        (".", f"{NOT_NUMERIC}: ."),
        ("e5", f"{NOT_NUMERIC}: e5"),
        ("1e", f"{NOT_NUMERIC}: 1e"),
        ("0x10", f"{NOT_NUMERIC}: 0x10"),
        ("\u0661", f"{NOT_NUMERIC}: \u0661"),  # Arabic-Indic one: Decimal() would take it
    ],
)
def test_normalize_number_rejects(raw: str, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        normalize_number(raw)
    assert exc.value.message == message


@FAST
@given(numbers())
def test_normalize_is_exact_and_idempotent(raw: str) -> None:
    canonical = normalize_number(raw)
    assert Decimal(canonical) == Decimal(raw)
    assert normalize_number(canonical) == canonical
    assert "e" not in canonical.lower() and not canonical.startswith("+")
    assert canonical != "-0"
    if "." in canonical:
        assert not canonical.endswith("0")


def test_number_key_and_parts() -> None:
    assert number_key("1000") == number_key(normalize_number("1e3")) == Decimal(1000)
    assert number_key("-0.5") < number_key("0")
    assert number_parts("-0.012") == (True, "12", -2)
    assert number_parts("1200") == (False, "12", 3)


def test_decimal_to_number() -> None:
    assert decimal_to_number(Decimal("1E+3")) == "1000"
    assert decimal_to_number(Decimal("-0")) == "0"
    with pytest.raises(ValidationError, match="overflow"):
        decimal_to_number(Decimal("9e125") + Decimal("9e125"))
    with pytest.raises(ValidationError) as exc:
        decimal_to_number(Decimal("NaN"))
    assert exc.value.message == f"{NOT_NUMERIC}: NaN"


# --- validate_value -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ({"S": "x"}, {"S": "x"}),
        ({"S": ""}, {"S": ""}),
        ({"N": "01.50"}, {"N": "1.5"}),
        ({"B": ""}, {"B": ""}),
        ({"B": "YWJj"}, {"B": "YWJj"}),
        ({"BOOL": False}, {"BOOL": False}),
        ({"NULL": True}, {"NULL": True}),
        ({"M": {}}, {"M": {}}),
        ({"L": []}, {"L": []}),
        ({"SS": ["b", "a", ""]}, {"SS": ["", "a", "b"]}),
        ({"NS": ["10", "2", "-1e3", "0.5"]}, {"NS": ["-1000", "0.5", "2", "10"]}),
        ({"BS": ["Yg==", "YQ==", ""]}, {"BS": ["", "YQ==", "Yg=="]}),
        # UTF-8 order: U+FFFF sorts before U+1F600 although UTF-16 says otherwise.
        ({"SS": ["\U0001f600", "\uffff", "z", "¿"]}, {"SS": ["z", "¿", "\uffff", "\U0001f600"]}),
        # BS by unsigned bytes: 0x7f < 0x80.
        ({"BS": [b64(b"\x80"), b64(b"\x7f"), b64(b"\x7f\x00")]}, {"BS": ["fw==", "fwA=", "gA=="]}),
        (
            {"M": {"a": {"N": "1e2"}, "b": {"L": [{"NS": ["2", "1"]}, {"N": "-0"}]}}},
            {"M": {"a": {"N": "100"}, "b": {"L": [{"NS": ["1", "2"]}, {"N": "0"}]}}},
        ),
        # Unknown members are ignored, as DynamoDB's JSON protocol ignores them.
        ({"S": "x", "X": 1}, {"S": "x"}),
        ({"S": "x", "N": None}, {"S": "x"}),
    ],
)
def test_validate_value_canonical(value: dict[str, Any], canonical: dict[str, Any]) -> None:
    assert validate_value(value) == canonical


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, EMPTY_AV),
        ({"X": "y"}, EMPTY_AV),
        ({"S": None}, EMPTY_AV),
        ({"M": {"a": {}}}, EMPTY_AV),
        ({"L": [{}]}, EMPTY_AV),
        ({"L": [None]}, EMPTY_AV),
        ({"L": [{"a": {}}]}, EMPTY_AV),
        ({"S": "a", "N": "1"}, MULTI_AV),
        ({"S": "a", "BOOL": True}, MULTI_AV),
        # The bad member is reported before the type count, as DynamoDB does.
        ({"S": "a", "N": "b"}, f"{NOT_NUMERIC}: b"),
        ({"S": "", "N": ""}, NOT_NUMERIC),
        ({"NULL": False}, INVALID + "Null attribute value types must have the value of true"),
        ({"SS": []}, INVALID + "An string set  may not be empty"),
        ({"NS": []}, INVALID + "An number set  may not be empty"),
        ({"BS": []}, INVALID + "Binary sets should not be empty"),
        ({"SS": ["a", "a"]}, INVALID + "Input collection [a, a] contains duplicates."),
        (
            {"BS": ["Yg==", "Yg=="]},
            INVALID + "Input collection [Yg==, Yg==]of type BS contains duplicates.",
        ),
        ({"NS": ["1", "1"]}, "Input collection contains duplicates"),
        ({"NS": ["1e3", "1000"]}, "Input collection contains duplicates"),
        ({"NS": ["2", "2.0"]}, "Input collection contains duplicates"),
        ({"NS": ["1", ""]}, NOT_NUMERIC),
        ({"NS": ["1", "b"]}, f"{NOT_NUMERIC}: b"),
        ({"NS": ["1", None]}, NOT_NUMERIC),
        ({"NS": ["1e126"]}, OVERFLOW),
        ({"N": "1e-131"}, UNDERFLOW),
        ({"N": "NaN"}, f"{NOT_NUMERIC}: NaN"),
        ({"M": {"a": {"N": "1" * 39}}}, PRECISION),
    ],
)
def test_validate_value_rejects(value: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_value(value)
    assert exc.value.message == message


START_OF_MAP = "Start of structure or map found where not expected"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"N": 5}, "NUMBER_VALUE cannot be converted to String"),
        ({"N": 5.5}, "DECIMAL_VALUE cannot be converted to String"),
        ({"S": 1}, "NUMBER_VALUE cannot be converted to String"),
        ({"S": True}, "TRUE_VALUE cannot be converted to String"),
        ({"S": False}, "FALSE_VALUE cannot be converted to String"),
        ({"S": []}, "Unrecognized collection type class java.lang.String"),
        ({"S": {}}, START_OF_MAP),
        ({"SS": ["a", 1]}, "NUMBER_VALUE cannot be converted to String"),
        ({"NS": [1]}, "NUMBER_VALUE cannot be converted to String"),
        ({"BOOL": "x"}, "Unexpected token received from parser"),
        ({"BOOL": "true"}, "Unexpected token received from parser"),
        ({"BOOL": 1}, "NUMBER_VALUE cannot be converted to Boolean"),
        ({"BOOL": 0.5}, "DECIMAL_VALUE cannot be converted to Boolean"),
        ({"NULL": []}, "Unrecognized collection type class java.lang.Boolean"),
        ({"NULL": {}}, START_OF_MAP),
        ({"B": True}, "only base-64-encoded strings are convertible to bytes"),
        ({"B": 23}, "only base-64-encoded strings are convertible to bytes"),
        ({"B": []}, "Unrecognized collection type class java.nio.ByteBuffer"),
        ({"B": {}}, START_OF_MAP),
        (
            {"B": "abcdefghijk"},
            "Base64 encoded length is expected a multiple of 4 bytes but found: 11",
        ),
        ({"B": "23456"}, "Base64 encoded length is expected a multiple of 4 bytes but found: 5"),
        ({"B": "ab!d"}, "Invalid Base64 character: '!'"),
        ({"B": "ab d"}, "Invalid Base64 character: ' '"),
        ({"B": "=+/="}, "Invalid last non-pad Base64 character dectected"),
        ({"B": "+/+="}, "Invalid last non-pad Base64 character dectected"),
        ({"B": "a==="}, "Invalid last non-pad Base64 character dectected"),
        ({"BS": ["YQ==", 5]}, "only base-64-encoded strings are convertible to bytes"),
        ({"SS": "a"}, "Unexpected field type"),
        ({"NS": 1}, "Unexpected field type"),
        ({"BS": {}}, START_OF_MAP),
        ({"L": "a"}, "Unexpected field type"),
        ({"L": {}}, START_OF_MAP),
        (
            {"M": []},
            "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>",
        ),
        ({"M": "a"}, "Unexpected field type"),
        ({"L": ["a"]}, "Unexpected value type in payload"),
        (
            {"L": [[]]},
            "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue",
        ),
        ({"M": {"a": 1}}, "Unexpected value type in payload"),
        ("x", "Unexpected value type in payload"),
        ([], "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue"),
        ({"S": "\ud800"}, "Invalid UTF-8: string contains a lone surrogate"),
        ({"M": {"\udfff": {"S": "x"}}}, "Invalid UTF-8: string contains a lone surrogate"),
        ({"SS": ["\ud800"]}, "Invalid UTF-8: string contains a lone surrogate"),
    ],
)
def test_validate_value_wrong_json_types(value: object, message: str) -> None:
    with pytest.raises(SerializationError) as exc:
        validate_value(value)
    assert exc.value.message == message


def test_serialization_errors_win_over_validation_errors() -> None:
    # DynamoDB deserialises the whole request before validating any of it.
    with pytest.raises(SerializationError):
        validate_value({"L": [{"NULL": False}, {"N": 5}]})
    with pytest.raises(SerializationError):
        validate_item({"a": {"SS": []}, "b": {"S": 1}})


def nested(levels: int) -> dict[str, Any]:
    """``levels`` single-key maps around a string: nested(1) == {"M": {"n": {"S": ...}}}."""
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"M": {"n": value}}
    return value


def test_nesting_limit() -> None:
    # The attribute is level 1: 31 wraps put the leaf at level 32, the deepest allowed.
    assert validate_value(nested(31)) == nested(31)
    with pytest.raises(ValidationError) as exc:
        validate_value(nested(32))
    assert exc.value.message == NESTING
    deep_list: dict[str, Any] = {"S": "leaf"}
    for _ in range(32):
        deep_list = {"L": [deep_list]}
    with pytest.raises(ValidationError, match="Nesting Levels"):
        validate_item({"a": deep_list})
    # ``depth`` counts enclosing containers already walked by the caller.
    with pytest.raises(ValidationError, match="Nesting Levels"):
        validate_value(nested(1), depth=31)


def test_very_deep_value_does_not_blow_the_stack() -> None:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(5000):
        value = {"L": [value]}
    with pytest.raises(ValidationError, match="Nesting Levels"):
        validate_value(value)


# --- validate_item --------------------------------------------------------------------


def test_validate_item_canonical() -> None:
    item = validate_item({"pk": {"S": "a"}, "n": {"N": "1E+3"}, "s": {"NS": ["2", "1"]}})
    assert item == {"pk": {"S": "a"}, "n": {"N": "1000"}, "s": {"NS": ["1", "2"]}}


def test_validate_item_rejects() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_item({"": {"S": "a"}})
    assert exc.value.message == "Empty attribute name"
    with pytest.raises(ValidationError, match="65535"):
        validate_item({"a" * 65536: {"S": "a"}})
    assert validate_item({"é" * 32767: {"S": "a"}})  # 65534 bytes
    with pytest.raises(ValidationError, match="65535"):
        validate_item({"é" * 32768: {"S": "a"}})  # 65536 bytes
    with pytest.raises(SerializationError) as ser:
        validate_item([])
    assert ser.value.message.startswith("Unrecognized collection type java.util.Map")
    with pytest.raises(SerializationError, match="Unexpected field type"):
        validate_item("x")
    with pytest.raises(ValidationError) as exc:
        validate_item({"a": None})
    assert exc.value.message == EMPTY_AV


def test_validate_values_allows_any_names() -> None:
    assert validate_values({":v": {"N": "1e2"}, "": {"S": ""}}) == {
        ":v": {"N": "100"},
        "": {"S": ""},
    }


# --- sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "size"),
    [
        ("0", 1),
        ("1", 2),
        ("-1", 3),
        ("10", 2),
        ("12", 2),
        ("123", 3),
        ("1234", 3),
        ("0.12", 2),
        ("0.012", 3),
        ("-0.012", 4),
        ("1e125", 2),  # dynalite's "smallest number" limit test
        ("11e124", 2),
        ("11111e121", 4),
        ("111111e120", 4),
        ("1111111e119", 5),
        ("1" * 38 + "e88", 20),  # dynalite's "big number" limit test
    ],
)
def test_number_size(number: str, size: int) -> None:
    assert value_size({"N": normalize_number(number)}) == size


def test_item_size_examples() -> None:
    assert item_size({"ab": {"S": "xyz"}}) == 5
    assert item_size({"é": {"S": "€"}}) == 2 + 3  # UTF-8 bytes, names included
    for raw in (b"", b"\x00", b"ab", b"abc", b"\x00\x01\x02\x03"):
        assert item_size({"b": {"B": b64(raw)}}) == 1 + len(raw)
    assert item_size({"t": {"BOOL": True}, "n": {"NULL": True}}) == 4
    assert item_size({"ss": {"SS": ["a", "bc"]}}) == 2 + 3
    assert item_size({"ns": {"NS": ["1", "-1"]}}) == 2 + 5
    assert item_size({"bs": {"BS": [b64(b"ab"), ""]}}) == 2 + 2
    # L: 3 + per element (1 + size); M: 3 + per entry (1 + name + size).
    assert item_size({"l": {"L": [{"S": "x"}, {"N": "1"}]}}) == 1 + 3 + 2 + 3
    assert item_size({"m": {"M": {"a": {"S": "x"}}}}) == 1 + 3 + 1 + 1 + 1
    assert item_size({"m": {"M": {}}, "l": {"L": []}}) == 4 + 4


def test_check_item_size_boundary() -> None:
    def item_of(total: int) -> dict[str, Any]:
        # a(1) + "k"(1) + b(1) + filler
        return {"a": {"S": "k"}, "b": {"S": "x" * (total - 3)}}

    assert item_size(item_of(MAX_ITEM_SIZE)) == MAX_ITEM_SIZE
    check_item_size(item_of(MAX_ITEM_SIZE))
    with pytest.raises(ValidationError) as exc:
        check_item_size(item_of(MAX_ITEM_SIZE + 1))
    assert exc.value.message == "Item size has exceeded the maximum allowed size"
    with pytest.raises(ValidationError) as exc:
        check_item_size(item_of(MAX_ITEM_SIZE + 1), update=True)
    assert exc.value.message == "Item size to update has exceeded the maximum allowed size"


def test_check_item_size_with_numbers_like_dynalite() -> None:
    # Two 5-byte numbers; the filler string is sized to land exactly on the limit.
    big = normalize_number("1111111" + "0" * 119)
    item: dict[str, Any] = {"a": {"S": "key"}, "c": {"N": big}, "d": {"N": big}}
    used = item_size(item)
    item["b"] = {"S": "x" * (MAX_ITEM_SIZE - used - 1)}
    check_item_size(item)
    item["b"] = {"S": "x" * (MAX_ITEM_SIZE - used)}
    with pytest.raises(ValidationError):
        check_item_size(item)


# --- canonical bytes ------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.text(max_size=8)
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda f: f == 0 or 1e-130 <= abs(f) < 1e125  # DynamoDB's range
    )
    | st.binary(max_size=8)
)
python_sets = (
    st.frozensets(st.text(max_size=4), min_size=1, max_size=4)
    | st.frozensets(st.integers(-1000, 1000), min_size=1, max_size=4)
    | st.frozensets(st.binary(max_size=4), min_size=1, max_size=4)
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=4), children, max_size=4
    )


plain_strategy = st.recursive(json_scalars | python_sets, _containers, max_leaves=12)
#: Sets come back from to_plain as lists, so exact plain round trips exclude them.
set_free_strategy = st.recursive(json_scalars, _containers, max_leaves=12)


@FAST
@given(st.dictionaries(st.text(min_size=1, max_size=6), plain_strategy, max_size=5))
def test_encode_decode_round_trip(plain: dict[str, Any]) -> None:
    item = validate_item({k: from_plain(v) for k, v in plain.items()})
    data = encode_item(item)
    assert decode_item(data) == item
    assert encode_item(decode_item(data)) == data
    assert validate_item(decode_item(data)) == item  # canonical is a fixed point


def test_encode_item_is_canonical() -> None:
    one = validate_item({"s": {"NS": ["2", "1"]}, "a": {"N": "1e3"}})
    two = validate_item({"a": {"N": "1000.0"}, "s": {"NS": ["1", "2.0"]}})
    assert encode_item(one) == encode_item(two)
    assert encode_item(one) == b'{"a":{"N":"1000"},"s":{"NS":["1","2"]}}'
    assert encode_item({"x": {"S": "é"}}) == '{"x":{"S":"é"}}'.encode()
    # Map keys are sorted by UTF-8 bytes at every level.
    nested_map = validate_item({"m": {"M": {"\U0001f600": {"S": "1"}, "\uffff": {"S": "2"}}}})
    assert encode_item(nested_map).index("\uffff".encode()) < encode_item(nested_map).index(
        "\U0001f600".encode()
    )


# --- comparison -----------------------------------------------------------------------


def test_compare_values() -> None:
    assert compare_values({"N": "2"}, {"N": "10"}) == -1
    assert compare_values({"N": "10"}, {"N": "10"}) == 0
    assert compare_values({"N": "-0.12"}, {"N": "-0.123"}) == 1
    assert compare_values({"S": "a"}, {"S": "A"}) == 1
    assert compare_values({"S": "¿"}, {"S": "z"}) == 1
    assert compare_values({"S": "\U0001f600"}, {"S": "\uffff"}) == 1  # UTF-16 says -1
    assert compare_values({"B": b64(b"\x80")}, {"B": b64(b"\x7f")}) == 1
    assert compare_values({"B": ""}, {"B": "AA=="}) == -1
    assert compare_values({"S": "1"}, {"N": "1"}) is None
    assert compare_values({"SS": ["a"]}, {"SS": ["a"]}) is None
    assert compare_values({"BOOL": True}, {"BOOL": False}) is None


@FAST
@given(st.text(max_size=6), st.text(max_size=6))
def test_compare_strings_is_utf8_order(a: str, b: str) -> None:
    x, y = a.encode(), b.encode()
    assert compare_values({"S": a}, {"S": b}) == (x > y) - (x < y)


@FAST
@given(numbers(), numbers())
def test_compare_numbers_is_numeric(a: str, b: str) -> None:
    ca, cb = normalize_number(a), normalize_number(b)
    da, db = Decimal(a), Decimal(b)
    assert compare_values({"N": ca}, {"N": cb}) == (da > db) - (da < db)


def test_values_equal() -> None:
    assert values_equal({"N": "1000"}, {"N": "1e3"})
    assert values_equal({"NS": ["1", "2"]}, {"NS": ["2.0", "1"]})
    assert values_equal({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    assert values_equal({"BS": ["YQ==", "Yg=="]}, {"BS": ["Yg==", "YQ=="]})
    assert values_equal(
        {"M": {"a": {"L": [{"N": "1"}, {"NULL": True}]}}},
        {"M": {"a": {"L": [{"N": "1.0"}, {"NULL": True}]}}},
    )
    assert not values_equal({"L": [{"N": "1"}, {"N": "2"}]}, {"L": [{"N": "2"}, {"N": "1"}]})
    assert not values_equal({"S": "1"}, {"N": "1"})
    assert not values_equal({"M": {"a": {"S": "x"}}}, {"M": {"b": {"S": "x"}}})
    assert not values_equal({"BOOL": True}, {"BOOL": False})
    assert not values_equal({"SS": ["a"]}, {"SS": ["a", "b"]})


# --- plain values ---------------------------------------------------------------------


def test_from_plain() -> None:
    assert from_plain("x") == {"S": "x"}
    assert from_plain(True) == {"BOOL": True}
    assert from_plain(None) == {"NULL": True}
    assert from_plain(3) == {"N": "3"}
    assert from_plain(0.1) == {"N": "0.1"}
    assert from_plain(1e20) == {"N": "100000000000000000000"}
    assert from_plain(Decimal("1.50")) == {"N": "1.5"}
    assert from_plain(b"\x00") == {"B": "AA=="}
    assert from_plain([1, "a"]) == {"L": [{"N": "1"}, {"S": "a"}]}
    assert from_plain({"k": {"n": None}}) == {"M": {"k": {"M": {"n": {"NULL": True}}}}}
    assert from_plain({"b", "a"}) == {"SS": ["a", "b"]}
    assert from_plain({3, 1.5}) == {"NS": ["1.5", "3"]}
    assert from_plain(frozenset({b"b", b"a"})) == {"BS": ["YQ==", "Yg=="]}
    with pytest.raises(ValidationError, match="overflow"):
        from_plain(10**126)
    with pytest.raises(ValidationError, match="numeric"):
        from_plain(float("nan"))
    with pytest.raises(ValidationError, match="may not be empty"):
        from_plain(set())
    with pytest.raises(TypeError):
        from_plain(object())
    with pytest.raises(TypeError):
        from_plain({1, "a"})


def test_to_plain() -> None:
    assert to_plain({"N": "3"}) == 3
    assert type(to_plain({"N": "1" + "0" * 125})) is int
    assert to_plain({"N": "0.1"}) == 0.1
    exact = to_plain({"N": "0.1000000000000000000000000001"})
    assert exact == Decimal("0.1000000000000000000000000001")
    assert isinstance(exact, Decimal)
    assert to_plain({"N": "9" * 38 + "0" * 88}) == 10**126 - 10**88  # integral: int
    assert to_plain({"N": "9.9999999999999999999999999999999999999"}) == Decimal(
        "9.9999999999999999999999999999999999999"
    )
    assert to_plain({"B": "AA=="}) == b"\x00"
    assert to_plain({"NULL": True}) is None
    assert to_plain({"BOOL": False}) is False
    assert to_plain({"SS": ["a", "b"]}) == ["a", "b"]
    assert to_plain({"NS": ["-1", "0.5"]}) == [-1, 0.5]
    assert to_plain({"BS": ["YQ=="]}) == [b"a"]
    assert to_plain({"M": {"l": {"L": [{"S": "x"}]}}}) == {"l": ["x"]}


@FAST
@given(set_free_strategy)
def test_plain_round_trip(value: Any) -> None:
    typed = from_plain(value)
    assert from_plain(to_plain(typed)) == typed
    assert to_plain(from_plain(to_plain(typed))) == to_plain(typed)


@FAST
@given(python_sets)
def test_sets_become_sorted_lists(value: frozenset[Any]) -> None:
    plain = to_plain(from_plain(value))
    assert isinstance(plain, list)
    assert sorted(plain, key=lambda x: x.encode() if isinstance(x, str) else x) == plain
    assert set(plain) == set(value)


@FAST
@given(numbers())
def test_plain_numbers_are_lossless(raw: str) -> None:
    canonical = normalize_number(raw)
    assert from_plain(to_plain({"N": canonical})) == {"N": canonical}
