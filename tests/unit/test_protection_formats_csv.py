"""regions.protection.formats.csv_import: ImportTable's CSV input."""

from __future__ import annotations

import base64

import pytest

from regions.errors import ValidationError
from regions.keys import KeyAttr, KeySchema
from regions.protection.formats.csv_import import CsvOptions, read_csv, validate_csv_options
from regions.protection.formats.errors import ItemError, ObjectFormatError
from regions.protection.formats.lines import split_lines
from regions.protection.formats.records import ParsedItem

TABLE = KeySchema(KeyAttr("pk", "S"), KeyAttr("sk", "N"))
TYPES = {"pk": "S", "sk": "N", "gsi_b": "B"}


def read(data: bytes, options: CsvOptions | None = None) -> list[ParsedItem | ItemError]:
    return list(read_csv(split_lines([data]), options or CsvOptions(), TYPES, TABLE))


def items(data: bytes, options: CsvOptions | None = None) -> list[dict[str, dict[str, str]]]:
    out = []
    for r in read(data, options):
        assert isinstance(r, ParsedItem), r
        out.append(r.item)
    return out


def test_first_line_is_the_header_and_non_keys_are_strings() -> None:
    assert items(b"pk,sk,price,flag\na,1.50,10,true\n") == [
        {"pk": {"S": "a"}, "sk": {"N": "1.5"}, "price": {"S": "10"}, "flag": {"S": "true"}}
    ]


def test_header_list_makes_the_first_line_data() -> None:
    options = CsvOptions(header_list=("pk", "sk", "v"))
    assert items(b"a,1,x\nb,2,y", options) == [
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x"}},
        {"pk": {"S": "b"}, "sk": {"N": "2"}, "v": {"S": "y"}},
    ]


@pytest.mark.parametrize("delimiter", list(",;:|\t "))
def test_every_allowed_delimiter(delimiter: str) -> None:
    d = delimiter.encode()
    data = b"pk" + d + b"sk" + d + b"v\n" + b"a" + d + b"1" + d + b'"x' + d + b'y"\n'
    assert items(data, CsvOptions(delimiter=delimiter)) == [
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x" + delimiter + "y"}}
    ]


def test_quoting_rules() -> None:
    data = (
        b'pk,sk,v\n"a,b",1,"say ""hi"""\n'
        b'"multi\nline",2,"x\r\ny"\r\n'
        b"c,3,\n"
        b'd,4,""\n'
        b'e,5,"trailing",\n'
    )
    result = read(data)
    assert [r.item for r in result if isinstance(r, ParsedItem)] == [
        {"pk": {"S": "a,b"}, "sk": {"N": "1"}, "v": {"S": 'say "hi"'}},
        {"pk": {"S": "multi\nline"}, "sk": {"N": "2"}, "v": {"S": "x\ny"}},
        {"pk": {"S": "c"}, "sk": {"N": "3"}},  # an empty field gives no attribute
        {"pk": {"S": "d"}, "sk": {"N": "4"}},
    ]
    [error] = [r for r in result if isinstance(r, ItemError)]
    assert (error.index, error.line, error.message) == (
        4,
        8,  # "x\r\ny" spans lines 4-5 (a CR before a line break is dropped)
        "the record has 4 fields, the header 3",
    )
    second = result[1]
    assert isinstance(second, ParsedItem) and (second.index, second.line) == (1, 3)


def test_key_typing_from_attribute_definitions() -> None:
    raw = base64.b64encode(b"\x01\x02").decode()
    assert items(f"pk,sk,gsi_b,other\na,-1E3,{raw},{raw}\n".encode()) == [
        {"pk": {"S": "a"}, "sk": {"N": "-1000"}, "gsi_b": {"B": raw}, "other": {"S": raw}}
    ]


def test_malformed_lines_are_errors_for_that_line_only() -> None:
    data = (
        b"pk,sk,v\n"
        b"ok1,1,a\n"
        b"bad,notanumber,b\n"  # bad key value
        b",2,c\n"  # empty key
        b"short,3\n"  # wrong field count
        b'"x"y,4,d\n'  # junk after a closing quote
        b"ok2,5,e\n"
        b"nosk,,f\n"  # missing sort key value
        b"big,1E+126,g\n"
        b"gsi,6,v,extra\n"
        b"ok3,7,h\n"
    )
    result = read(data)
    ok = [r.item["pk"]["S"] for r in result if isinstance(r, ParsedItem)]
    assert ok == ["ok1", "ok2", "ok3"]
    errors = {r.line: r.message for r in result if isinstance(r, ItemError)}
    assert errors == {
        3: "The parameter cannot be converted to a numeric value: notanumber (attribute sk)",
        4: "One or more parameter values are not valid. The AttributeValue for a key "
        "attribute cannot contain an empty string value. Key: pk",
        5: "the record has 2 fields, the header 3",
        6: "unexpected character after a closing quote at column 4",
        8: "The parameter cannot be converted to a numeric value (attribute sk)",
        9: "Number overflow. Attempting to store a number with magnitude larger than "
        "supported range (attribute sk)",
        10: "the record has 4 fields, the header 3",
    }
    assert [r.index for r in result] == list(range(10))


def test_missing_key_column_is_dynamodbs_error() -> None:
    # The guide's troubleshooting example: no "pk" column at all.
    schema = KeySchema(KeyAttr("pk", "S"))
    data = b"title,artist,year_of_release\nThe Dark Side of the Moon,Pink Floyd,1973\n"
    [error] = list(read_csv(split_lines([data]), CsvOptions(), {"pk": "S"}, schema))
    assert isinstance(error, ItemError)
    assert error.index == 0
    assert (
        error.message == "One or more parameter values were invalid: Missing the key pk in the item"
    )


def test_bad_gsi_key_value_is_an_error_and_empty_one_is_omitted() -> None:
    result = read(b"pk,sk,gsi_b\na,1,not base64!\nb,2,\n")
    assert isinstance(result[0], ItemError) and "Base64" in result[0].message
    assert isinstance(result[1], ParsedItem) and "gsi_b" not in result[1].item


def test_blank_lines_bom_and_crlf() -> None:
    data = b"\xef\xbb\xbfpk,sk\r\n\r\na,1\r\n\r\nb,2"
    assert items(data) == [
        {"pk": {"S": "a"}, "sk": {"N": "1"}},
        {"pk": {"S": "b"}, "sk": {"N": "2"}},
    ]


def test_unterminated_quote_and_invalid_utf8() -> None:
    result = read(b'pk,sk\na,1\n"open,2\nstill open\n')
    assert isinstance(result[0], ParsedItem)
    assert isinstance(result[1], ItemError)
    assert result[1].message == "unterminated quoted field at the end of the object"
    result = read(b"pk,sk\n\xff,1\nb,2\n")
    assert isinstance(result[0], ItemError) and "invalid UTF-8" in result[0].message
    assert isinstance(result[1], ParsedItem)


def test_oversized_records_are_bounded() -> None:
    long_line = b"pk,sk,v\na,1," + b"x" * 5000 + b"\nb,2,y\n"
    result = list(
        read_csv(split_lines([long_line], 1000), CsvOptions(), TYPES, TABLE, max_record=1000)
    )
    assert isinstance(result[0], ItemError) and "longer than 1000 bytes" in result[0].message
    assert isinstance(result[1], ParsedItem) and result[1].item["pk"] == {"S": "b"}
    # A quoted field that never closes is cut at max_record, not buffered whole.
    open_quote = b'pk,sk,v\na,1,"' + b"x\n" * 5000
    result = list(
        read_csv(split_lines([open_quote], 1000), CsvOptions(), TYPES, TABLE, max_record=1000)
    )
    assert isinstance(result[0], ItemError) and "longer than 1000 bytes" in result[0].message
    assert all(isinstance(r, ItemError) for r in result)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"pk,,v\na,1,2\n", "empty column name"),
        (b"pk,sk,pk\na,1,2\n", "names column 'pk' twice"),
        (b'"pk,sk\n', "unreadable CSV header"),
    ],
)
def test_bad_header_ends_the_object(data: bytes, message: str) -> None:
    with pytest.raises(ObjectFormatError, match=message):
        read(data)


def test_csv_options_validation() -> None:
    validate_csv_options(CsvOptions(delimiter="\t", header_list=("a", "b c")))
    with pytest.raises(ValidationError, match=r"regular expression pattern: \[,;:\|\\t \]"):
        validate_csv_options(CsvOptions(delimiter="#"))
    with pytest.raises(ValidationError, match="length less than or equal to 1"):
        validate_csv_options(CsvOptions(delimiter=",,"))
    with pytest.raises(ValidationError, match=r"inputFormatOptions\.csv\.headerList"):
        validate_csv_options(CsvOptions(header_list=("a,b",)))
    with pytest.raises(ValidationError, match="headerList"):
        validate_csv_options(CsvOptions(header_list=('say"',)))
    with pytest.raises(ValidationError, match="headerList"):
        validate_csv_options(CsvOptions(header_list=("",)))
    with pytest.raises(ValidationError, match="less than or equal to 255"):
        validate_csv_options(CsvOptions(header_list=tuple(f"h{i}" for i in range(256))))
