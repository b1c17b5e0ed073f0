"""regions.protection.formats: DynamoDB JSON and Ion lines (exports and imports)."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regions.keys import KeyAttr, KeySchema
from regions.protection.formats.dynamodb_json import (
    decode_change_line,
    decode_item_line,
    encode_change_line,
    encode_item_line,
)
from regions.protection.formats.errors import FormatError
from regions.protection.formats.ion_reader import (
    MAX_DEPTH,
    decode_ion_change_line,
    decode_ion_item_line,
    parse_ion_line,
)
from regions.protection.formats.ion_writer import ion_change_line, ion_decimal, ion_item_line
from regions.protection.formats.records import ChangeRecord, change_record
from regions.types import Item, validate_item

FAST = settings(max_examples=200, deadline=None)
PK = KeySchema(KeyAttr("pk", "S"))
#: the item of the Developer Guide's examples ("DynamoDB table export output format")
DOCUMENTED_ITEM: dict[str, Any] = {
    "Authors": {"SS": ["Author1", "Author2"]},
    "Dimensions": {"S": "8.5 x 11.0 x 1.5"},
    "ISBN": {"S": "333-3333333333"},
    "Id": {"N": "103"},
    "InPublication": {"BOOL": False},
    "PageCount": {"N": "600"},
    "Price": {"N": "2000"},
    "ProductCategory": {"S": "Book"},
    "Title": {"S": "Book 103 Title"},
}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


#: One attribute of every DynamoDB type, nested ones included.
EVERY_TYPE: Item = validate_item(
    {
        "pk": {"S": "a"},
        "s": {"S": 'quote " backslash \\ newline \n tab \t nul \x00 del \x7f é 😀'},
        "empty": {"S": ""},
        "n": {"N": "1.50"},
        "neg": {"N": "-0.000123"},
        "big": {"N": "9.9999999999999999999999999999999999999E+125"},
        "tiny": {"N": "1E-130"},
        "digits38": {"N": "12345678901234567890123456789012345678"},
        "zero": {"N": "-0"},
        "b": {"B": b64(b"\x00\xff binary")},
        "eb": {"B": ""},
        "ss": {"SS": ["b", "a", ""]},
        "ns": {"NS": ["10", "-2.5", "3E+5"]},
        "bs": {"BS": [b64(b"x"), b64(b"")]},
        "m": {"M": {"inner": {"S": "v"}, "weird name": {"N": "1"}, "$x": {"NULL": True}}},
        "l": {"L": [{"S": "x"}, {"N": "2"}, {"L": []}, {"M": {}}, {"BOOL": True}]},
        "nul": {"NULL": True},
        "bo": {"BOOL": False},
        "name with 'quotes' and \"doubles\"": {"S": "x"},
        "true": {"S": "keyword as a name"},
        "$10": {"S": "symbol-id-looking name"},
    }
)


# --- DynamoDB JSON ------------------------------------------------------------------


def test_json_item_line_round_trips_every_type() -> None:
    line = encode_item_line(EVERY_TYPE)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_item_line(line.rstrip(b"\n"), PK) == EVERY_TYPE


def test_json_item_line_matches_the_documented_example() -> None:
    # Developer Guide, "DynamoDB table export output format", DynamoDB JSON: the same
    # item, on one line (the guide spreads it over many for readability).
    documented = {"Item": DOCUMENTED_ITEM}
    item = validate_item(documented["Item"])
    line = encode_item_line(item)
    assert line == json.dumps(documented, separators=(",", ":")).encode() + b"\n"
    assert json.loads(line) == documented
    assert decode_item_line(line) == item


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[1]", "a line must hold one JSON object"),
        (b'{"item": {}}', 'the line has no "Item" member'),
        (b'{"Item": {"pk": {"S": "a"}}, "Extra": 1}', 'unexpected member "Extra"'),
        (b'{"Item": [1]}', '"Item" must be a JSON object'),
        (b'{"Item": {"x": {"S": "a"}}}', "Missing the key pk in the item"),
        (b'{"Item": {"pk": {"N": "1"}}}', "Type mismatch for key pk expected: S actual: N"),
        (b'{"Item": {"pk": {"S": "a"}, "n": {"N": "x"}}}', "cannot be converted to a numeric"),
        (b'{"Item": {"pk": {"S": "a"}, "n": {"N": 5}}}', "NUMBER_VALUE cannot be converted"),
        (b'{"Item": {"pk": {"S": "a"}, "b": {"B": "abc"}}}', "multiple of 4 bytes"),
        (b'{"Item": {"pk": {"S": "a"}, "e": {}}}', "Supplied AttributeValue is empty"),
        (b'{"Item": {"pk": {"S": "a"}, "s": {"SS": ["a", "a"]}}}', "contains duplicates"),
        (b'{"Item": {"pk": {"S": "a"}, "n": {"N": "1E+126"}}}', "Number overflow"),
        (b'{"Item": {"pk": {"S": "a"}, "n": {"N": "1E-131"}}}', "Number underflow"),
        (b'{"Item": {"pk": {"S": ""}}}', "cannot contain an empty string value. Key: pk"),
        (b'{"Item": {"pk": {"S": "\xff"}}}', "not valid JSON"),
    ],
)
def test_json_import_line_errors(line: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message.replace("(", r"\(")):
        decode_item_line(line, PK)


def test_json_import_refuses_oversized_and_deep_items() -> None:
    big = {"Item": {"pk": {"S": "a"}, "s": {"S": "x" * 409_600}}}
    with pytest.raises(FormatError, match="Item size has exceeded the maximum allowed size"):
        decode_item_line(orjson.dumps(big), PK)
    value: Any = {"S": "leaf"}
    for _ in range(40):
        value = {"L": [value]}
    with pytest.raises(FormatError, match="Nesting Levels have exceeded"):
        decode_item_line(orjson.dumps({"Item": {"pk": {"S": "a"}, "d": value}}), PK)
    hostile = b'{"Item":' + b"[" * 100_000
    with pytest.raises(FormatError, match="not valid JSON"):
        decode_item_line(hostile, PK)


# --- incremental records ------------------------------------------------------------

KEYS: Item = {"pk": {"S": "CUST#100"}}
OLD: Item = {"pk": {"S": "CUST#100"}, "FirstName": {"S": "John"}}
NEW: Item = {"pk": {"S": "CUST#100"}, "FirstName": {"S": "Jane"}}
STAMP = 1_680_109_764_000_000


@pytest.mark.parametrize(
    ("view", "old", "new", "members"),
    [
        ("NEW_AND_OLD_IMAGES", None, NEW, {"Metadata", "Keys", "NewImage"}),
        ("NEW_AND_OLD_IMAGES", OLD, NEW, {"Metadata", "Keys", "OldImage", "NewImage"}),
        ("NEW_AND_OLD_IMAGES", OLD, None, {"Metadata", "Keys", "OldImage"}),
        ("NEW_IMAGE", None, NEW, {"Metadata", "Keys", "NewImage"}),
        ("NEW_IMAGE", OLD, NEW, {"Metadata", "Keys", "NewImage"}),
        ("NEW_IMAGE", OLD, None, {"Metadata", "Keys"}),
    ],
)
def test_incremental_members_per_view_type(
    view: Any, old: Item | None, new: Item | None, members: set[str]
) -> None:
    record = change_record(view, KEYS, old, new, STAMP)
    assert record is not None
    line = json.loads(encode_change_line(record))
    assert set(line) == members
    assert line["Metadata"] == {"WriteTimestampMicros": {"N": str(STAMP)}}
    assert line["Keys"] == KEYS
    if "NewImage" in members:
        assert line["NewImage"] == new
    if "OldImage" in members:
        assert line["OldImage"] == old
    assert decode_change_line(encode_change_line(record).rstrip(b"\n")) == record
    ion = ion_change_line(record)
    assert ion.startswith(b'$ion_1_0 {Record:{Keys:{pk:"CUST#100"},Metadata:{')
    assert decode_ion_change_line(ion) == record


def test_insert_then_delete_in_the_window_exports_nothing() -> None:
    assert change_record("NEW_AND_OLD_IMAGES", KEYS, None, None, STAMP) is None
    assert change_record("NEW_IMAGE", KEYS, None, None, STAMP) is None
    with pytest.raises(ValueError, match="view type"):
        change_record("OLD_IMAGE", KEYS, OLD, NEW, STAMP)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"Keys": {"pk": {"S": "a"}}}', "WriteTimestampMicros"),
        (b'{"Metadata": {"WriteTimestampMicros": {"N": "1"}}}', 'no "Keys"'),
        (b'{"Metadata": {"WriteTimestampMicros": {"N": "-1"}}, "Keys": {}}', "non-negative"),
        (b'{"Metadata": {"WriteTimestampMicros": 5}, "Keys": {}}', "WriteTimestampMicros"),
        (b'{"Metadata": {"WriteTimestampMicros": {"N": "1"}}, "Keys": {}, "X": 1}', '"X"'),
    ],
)
def test_incremental_line_errors(line: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        decode_change_line(line)


# --- Ion ----------------------------------------------------------------------------

#: Developer Guide, "DynamoDB table export output format", Amazon Ion (the guide's
#: example, joined onto one line as exports write it).
DOCUMENTED_ION = (
    b'$ion_1_0 {Item:{Authors:$dynamodb_SS::["Author1","Author2"],'
    b'Dimensions:"8.5 x 11.0 x 1.5",ISBN:"333-3333333333",Id:103.,InPublication:false,'
    b'PageCount:6d2,Price:2d3,ProductCategory:"Book",Title:"Book 103 Title"}}\n'
)


def test_ion_writes_the_documented_example() -> None:
    item = validate_item(DOCUMENTED_ITEM)
    assert ion_item_line(item) == DOCUMENTED_ION
    assert decode_ion_item_line(DOCUMENTED_ION) == item


def test_ion_reads_the_documented_example_as_formatted() -> None:
    # The guide's multi-line layout, with comments, joined into one line.
    text = b"""$ion_1_0 { /* an item */
        Item:{ Authors : $dynamodb_SS:: [ "Author1" , "Author2" ] ,
               Id:103., PageCount:6d2, Price:2d3, InPublication:false, }  }"""
    assert decode_ion_item_line(text.replace(b"\n", b" ")) == {
        "Authors": {"SS": ["Author1", "Author2"]},
        "Id": {"N": "103"},
        "PageCount": {"N": "600"},
        "Price": {"N": "2000"},
        "InPublication": {"BOOL": False},
    }


def test_ion_round_trips_every_type() -> None:
    line = ion_item_line(EVERY_TYPE)
    assert line.count(b"\n") == 1 and line.startswith(b"$ion_1_0 {Item:{")
    assert decode_ion_item_line(line, PK) == EVERY_TYPE
    text = line.decode()
    assert "nul:null" in text and "bo:false" in text
    assert "ns:$dynamodb_NS::[-2.5,1d1,3d5]" in text
    assert "bs:$dynamodb_BS::[{{}},{{eA==}}]" in text
    assert "'weird name':1." in text and "'$x':null" in text and "'true':" in text


@pytest.mark.parametrize(
    ("number", "ion"),
    [
        ("103", "103."),
        ("600", "6d2"),
        ("2000", "2d3"),
        ("0", "0."),
        ("-0", "0."),
        ("1.5", "1.5"),
        ("1.50", "1.5"),
        ("-0.001", "-0.001"),
        ("0.0000001", "0.0000001"),
        ("0.00000001", "1d-8"),
        ("1E-130", "1d-130"),
        (
            "9.9999999999999999999999999999999999999E+125",
            "99999999999999999999999999999999999999d88",
        ),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678."),
        ("-123.456", "-123.456"),
    ],
)
def test_ion_decimal_spelling_is_exact(number: str, ion: str) -> None:
    assert ion_decimal(number) == ion
    line = b'{Item:{pk:"a",n:' + ion.encode() + b"}}"
    parsed = decode_ion_item_line(line)
    assert parsed is not None
    assert parsed["n"] == validate_item({"n": {"N": number}})["n"]


@pytest.mark.parametrize(
    ("ion", "number"),
    [
        ("42", "42"),
        ("-7", "-7"),
        ("1_000", "1000"),
        ("0x1F", "31"),
        ("-0b101", "-5"),
        ("1.5d3", "1500"),
        ("1.5D-3", "0.0015"),
        ("0.", "0"),
        ("-0d0", "0"),
        ("1_0.2_5", "10.25"),
    ],
)
def test_ion_reads_ints_and_decimals_exactly(ion: str, number: str) -> None:
    parsed = decode_ion_item_line(b"{Item:{n:" + ion.encode() + b"}}")
    assert parsed == {"n": {"N": number}}


def test_ion_lines_without_values_are_skipped() -> None:
    for line in (b"", b"   ", b"$ion_1_0", b"// a comment", b"/* c */ $ion_1_0 "):
        assert parse_ion_line(line) is None
        assert decode_ion_item_line(line) is None


def test_ion_strings_symbols_and_blobs() -> None:
    line = (
        b'{Item:{"str field":"a\\tb\\x41\\u00e9\\U0001F600\\"\\\\",'
        b"'sym\\'q':'''long ''' /* c */ '''string''',"
        b"b:{{ aGVs bG8= }}, nulls:[null, null.null]}}"
    )
    assert decode_ion_item_line(line) == {
        "str field": {"S": 'a\tbAé😀"\\'},
        "sym'q": {"S": "long string"},
        "b": {"B": "aGVsbG8="},
        "nulls": {"L": [{"NULL": True}, {"NULL": True}]},
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{Item:{a:1e3}}", "Ion floats have no exact DynamoDB number"),
        (b"{Item:{a:nan}}", "Ion floats"),
        (b"{Item:{a:+inf}}", "Ion floats"),
        (b"{Item:{a:2007-01-01T}}", "Ion timestamps have no DynamoDB type"),
        (b"{Item:{a:foo}}", "Ion symbols have no DynamoDB type"),
        (b"{Item:{a:'foo'}}", "Ion symbols have no DynamoDB type"),
        (b"{Item:{a:(1 2)}}", "s-expressions"),
        (b'{Item:{a:{{"clob"}}}}', "clobs"),
        (b"{Item:{a:null.string}}", "typed null null.string"),
        (b"{Item:{a:x::1}}", "unsupported annotation x::"),
        (b"{Item:{a:$dynamodb_SS::1}}", "must annotate a list"),
        (b"{Item:{a:$dynamodb_SS::[1]}}", "holds only strings"),
        (b'{Item:{a:$dynamodb_NS::["1"]}}', "holds only numbers"),
        (b'{Item:{a:$dynamodb_SS::["x","x"]}}', "contains duplicates"),
        (b"{Item:{a:$10}}", "symbol ID \\$10"),
        (b"{Item:{a:{{abc}}}}", "blob is not valid base64"),
        (b"{Item:{a:{{YQ==}}", "unterminated|expected"),
        (b'{Item:{a:"\\ud800"}}', "lone surrogate"),
        (b'{Item:{a:"\\q"}}', "invalid escape"),
        (b'{Item:{a:"\\x4"}}', "invalid escape"),
        (b'{Item:{a:"open}}', "unterminated string"),
        (b"{Item:{a:1,a:2}}", "duplicate field 'a'"),
        (b"{Item:{a:1}} {Item:{}}", "more than one value on a line"),
        (b"[1]", "a line must hold one struct"),
        (b"{Other:{}}", "the line has no Item field"),
        (b"{Item:{}, X:1}", "unexpected field 'X'"),
        (b"{Item:[]}", "Item must be a struct"),
        (b"$ion_1_1 {Item:{}}", "unsupported Ion version marker"),
        (b'$ion_symbol_table::{symbols:["a"]}', "symbol tables are not supported"),
        (b"{Item:{a:1 b:2}}", "expected ',' or '}'"),
        (b"{Item:{a:[1 2]}}", "expected ',' or ']'"),
        (b"{Item:{a:+1}}", "no '\\+' sign"),
        (b"{Item:{a:01}}", "invalid number"),
        (b"{Item:{a:1x}}", "invalid number"),
        (b"{Item:{a:1d99999999999999999999999999}}", "Number overflow"),
        (b"{Item:{a:1d-99999999999999999999999999}}", "Number underflow"),
        (b"{Item:{a:1234567890123456789012345678901234567891}}", "more than 38 significant"),
        (b"{Item:{/* open", "unterminated /\\* comment"),
        (b"{Item:{pk:1}}", "Type mismatch for key pk"),
        (b"\xff", "invalid UTF-8"),
    ],
)
def test_ion_import_errors(line: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        decode_ion_item_line(line, PK if b"pk" in line else None)


@pytest.mark.parametrize(
    "line",
    [
        b"{Item:{a:" + b"[" * 200_000,
        b"{Item:{a:" + b"{x:" * 200_000,
        b"{Item:{a:$dynamodb_SS::" + b"[" * 200_000,
        b"{Item:{a:1" + b"0" * 500_000 + b"}}",
        b"{Item:{a:0x" + b"f" * 500_000 + b"}}",
        b"{Item:{a:1." + b"5" * 500_000 + b"}}",
        b"{Item:{a:{{" + b"A" * 500_000,
        b'{Item:{a:"' + b"\\u" * 200_000,
        b"{Item:{a:'''" + b"\\x" * 200_000,
        b"{" * 300_000,
    ],
)
def test_ion_hostile_input_fails_cleanly(line: bytes) -> None:
    with pytest.raises(FormatError):
        decode_ion_item_line(line)


def test_ion_nesting_deeper_than_dynamodb_allows_gets_dynamodb_message() -> None:
    deep = b"{Item:{a:" + b"[" * 33 + b"1" + b"]" * 33 + b"}}"
    with pytest.raises(FormatError, match="Nesting Levels have exceeded"):
        decode_ion_item_line(deep)
    deeper = b"{Item:{a:" + b"[" * (MAX_DEPTH + 5) + b"1" + b"]" * (MAX_DEPTH + 5) + b"}}"
    with pytest.raises(FormatError, match=f"nested deeper than {MAX_DEPTH}"):
        decode_ion_item_line(deeper)


# --- property: both formats round-trip any item --------------------------------------

_names = st.text(min_size=1, max_size=8)
_numbers = (
    st.decimals(allow_nan=False, allow_infinity=False, places=None)
    .filter(lambda d: d == 0 or -130 <= d.adjusted() <= 125)
    .map(lambda d: format(d, "f") if abs(int(d.as_tuple().exponent)) < 200 else str(d))
)
_b64 = st.binary(max_size=12).map(b64)
_scalars = st.one_of(
    st.text(max_size=12).map(lambda s: {"S": s}),
    _numbers.map(lambda n: {"N": n}),
    _b64.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True).map(lambda v: {"SS": v}),
    st.lists(st.integers(-(10**40), 10**40), min_size=1, max_size=4, unique=True).map(
        lambda v: {"NS": [str(n) for n in v]}
    ),
    st.lists(st.binary(max_size=4), min_size=1, max_size=4, unique=True).map(
        lambda v: {"BS": [b64(b) for b in v]}
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda v: {"L": v}),
        st.dictionaries(_names, inner, max_size=4).map(lambda v: {"M": v}),
    ),
    max_leaves=12,
)


def _canonical(raw: dict[str, Any]) -> Item | None:
    try:
        return validate_item(raw)
    except Exception:  # e.g. more than 38 digits: not an item DynamoDB would store
        return None


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_names, _values, min_size=1, max_size=6))
def test_any_item_round_trips_through_both_formats(raw: dict[str, Any]) -> None:
    item = _canonical(raw)
    if item is None:
        return
    assert decode_item_line(encode_item_line(item)) == item
    assert decode_ion_item_line(ion_item_line(item)) == item
    record = ChangeRecord(STAMP, {"k": {"S": "v"}}, item, item)
    assert decode_change_line(encode_change_line(record)) == record
    assert decode_ion_change_line(ion_change_line(record)) == record


@FAST
@given(st.binary(max_size=200))
def test_ion_reader_never_crashes_on_random_bytes(data: bytes) -> None:
    try:
        decode_ion_item_line(data)
    except FormatError:
        pass


@FAST
@given(st.text(alphabet="{}[]():,\"'\\$ ion_1_0Itemdxu0123456789.-+/*nultrefas{{}}", max_size=80))
def test_ion_reader_never_crashes_on_ion_like_text(text: str) -> None:
    try:
        decode_ion_item_line(text.encode())
    except FormatError:
        pass
