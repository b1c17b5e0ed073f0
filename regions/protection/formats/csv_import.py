"""ImportTable's CSV input (DynamoDB Developer Guide, "Amazon S3 import formats for
DynamoDB"; API reference, CsvOptions).

* The first line is the header, unless ``InputFormatOptions.Csv.HeaderList`` is given:
  then every line, the first included, is data.
* ``Delimiter`` is one of ``, ; : | tab space`` (pattern ``[,;:|\\t ]``), comma by
  default.
* Fields may be quoted with ``"``; inside quotes the delimiter and newlines are plain
  text and ``""`` is one quote (RFC 4180).
* "All columns other than the hash range and keys of your base table and secondary
  indexes are imported as DynamoDB strings"; key columns take their type (S, N or B,
  B as base64) from ``AttributeDefinitions``.
* An empty field gives no attribute: AWS documents nothing here, and an absent
  attribute is what a sparse table exported to CSV means (an empty string would be a
  value the source never had).  An empty *key* field is an error, as for PutItem.
* A record with the wrong number of fields, a bad key value or a missing key is an
  error for that record only (:class:`~.errors.ItemError`); reading goes on with the
  next line.  An unusable header ends the object (:class:`~.errors.ObjectFormatError`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from regions.errors import ValidationError
from regions.keys import KeySchema
from regions.protection.formats.errors import FormatError, ItemError, ObjectFormatError
from regions.protection.formats.lines import DEFAULT_MAX_LINE, Line
from regions.protection.formats.records import ParsedItem, checked_item
from regions.types import AttributeValue, Item, normalize_number

__all__ = ["CSV_DELIMITERS", "CsvOptions", "read_csv", "validate_csv_options"]

CSV_DELIMITERS: Final = ",;:|\t "
_HEADER_PATTERN: Final = re.compile(r"[\x20-\x21\x23-\x2B\x2D-\x7E]*")
_MAX_HEADERS: Final = 255
_MAX_HEADER_LENGTH: Final = 65536
_BOM: Final = "\ufeff"


@dataclass(frozen=True, slots=True)
class CsvOptions:
    """``InputFormatOptions.Csv``."""

    delimiter: str = ","
    header_list: tuple[str, ...] | None = None


def _constraint(value: object, member: str, constraint: str) -> ValidationError:
    return ValidationError(
        f"1 validation error detected: Value '{value}' at "
        f"'inputFormatOptions.csv.{member}' failed to satisfy constraint: {constraint}"
    )


def validate_csv_options(options: CsvOptions) -> None:
    """Raise ValidationError, worded as DynamoDB's request validation, for options that
    break the CsvOptions constraints (API reference, CsvOptions)."""
    if len(options.delimiter) != 1:
        bound = "less than or equal to 1" if options.delimiter else "greater than or equal to 1"
        raise _constraint(options.delimiter, "delimiter", f"Member must have length {bound}")
    if options.delimiter not in CSV_DELIMITERS:
        raise _constraint(
            options.delimiter,
            "delimiter",
            "Member must satisfy regular expression pattern: [,;:|\\t ]",
        )
    headers = options.header_list
    if headers is None:
        return
    if not 1 <= len(headers) <= _MAX_HEADERS:
        raise _constraint(
            list(headers),
            "headerList",
            f"Member must have length less than or equal to {_MAX_HEADERS}",
        )
    for name in headers:
        if not 1 <= len(name) <= _MAX_HEADER_LENGTH:
            raise _constraint(
                list(headers),
                "headerList",
                "Member must satisfy constraint: [Member must have length less than or "
                f"equal to {_MAX_HEADER_LENGTH}, Member must have length greater than or "
                "equal to 1]",
            )
        if not _HEADER_PATTERN.fullmatch(name):
            raise _constraint(
                list(headers),
                "headerList",
                "Member must satisfy constraint: [Member must satisfy regular expression "
                "pattern: [\\x20-\\x21\\x23-\\x2B\\x2D-\\x7E]*]",
            )


@dataclass
class _Record:
    line: int
    size: int = 0
    fields: list[str] | None = None
    error: str | None = None


class _Splitter:
    """RFC 4180 records over lines: a quoted field may continue on the next line."""

    def __init__(self, delimiter: str, max_record: int) -> None:
        self.delimiter = delimiter
        self.max_record = max_record
        self.fields: list[str] = []
        self.quoted: list[str] | None = None  # pieces of an open quoted field
        self.record: _Record | None = None
        self.length = 0

    def _scan(self, text: str) -> str | None:
        """Continue the record with one line of text; return an error or None."""
        pos = 0
        while True:
            if self.quoted is not None:
                close = text.find('"', pos)
                if close < 0:
                    self.quoted.append(text[pos:] + "\n")
                    return None  # the field goes on in the next line
                if text.startswith('""', close):
                    self.quoted.append(text[pos : close + 1])
                    pos = close + 2
                    continue
                self.quoted.append(text[pos:close])
                self.fields.append("".join(self.quoted))
                self.quoted = None
                pos = close + 1
                if pos == len(text):
                    return None
                if text[pos] != self.delimiter:
                    return f"unexpected character after a closing quote at column {pos + 1}"
            elif text.startswith('"', pos):
                self.quoted = []
                pos += 1
                continue
            else:
                end = text.find(self.delimiter, pos)
                if end < 0:
                    self.fields.append(text[pos:])
                    return None
                self.fields.append(text[pos:end])
                pos = end
            # text[pos] is a delimiter: a field follows it, empty at the end of the line
            pos += 1
            if pos == len(text):
                self.fields.append("")
                return None

    def feed(self, line: Line) -> _Record | None:
        """The record that ``line`` completes, or None while a quoted field is open."""
        if self.record is None:
            self.record = _Record(line.number)
            self.fields = []
            self.length = 0
        record = self.record
        record.size += line.size
        self.length += line.size
        error: str | None = None
        if line.data is None or self.length > self.max_record:
            error = f"record longer than {self.max_record} bytes"
        else:
            try:
                error = self._scan(line.data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                error = f"invalid UTF-8 at byte {exc.start} of line {line.number}"
        if error is None and self.quoted is not None:
            return None
        self.record = None
        self.quoted = None
        if error is not None:
            record.error = error
        else:
            record.fields = self.fields
        return record

    def finish(self) -> _Record | None:
        """An unterminated quoted field at the end of the object."""
        record = self.record
        self.record = None
        if record is None:
            return None
        record.error = "unterminated quoted field at the end of the object"
        return record


def _typed(name: str, value: str, type_: str) -> AttributeValue:
    if type_ == "N":
        try:
            return {"N": normalize_number(value)}
        except ValidationError as exc:
            raise FormatError(f"{exc.message} (attribute {name})") from None
    return {type_: value}


def _header(fields: list[str]) -> tuple[str, ...]:
    if fields and fields[0].startswith(_BOM):
        fields[0] = fields[0][1:]
    names = tuple(fields)
    if any(not n for n in names):
        raise ObjectFormatError("the CSV header has an empty column name")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ObjectFormatError(f"the CSV header names column {n!r} twice")
        seen.add(n)
    return names


def read_csv(
    lines: Iterable[Line],
    options: CsvOptions,
    attribute_types: Mapping[str, str],
    key_schema: KeySchema | None = None,
    *,
    max_record: int = DEFAULT_MAX_LINE,
) -> Iterator[ParsedItem | ItemError]:
    """Items (or per-record errors) of one CSV object, in order.

    ``attribute_types`` maps each attribute of ``AttributeDefinitions`` (the keys of
    the table and of its indexes) to S, N or B; ``key_schema`` is the table's key,
    whose attributes every item needs.  Raises ObjectFormatError for a bad header.
    """
    splitter = _Splitter(options.delimiter, max_record)
    header = options.header_list
    index = 0

    def records() -> Iterator[_Record]:
        for line in lines:
            if splitter.record is None and line.data == b"":
                continue  # blank lines hold no record
            record = splitter.feed(line)
            if record is not None:
                yield record
        last = splitter.finish()
        if last is not None:
            yield last

    for record in records():
        if header is None:
            if record.error is not None:
                raise ObjectFormatError(f"unreadable CSV header: {record.error}")
            assert record.fields is not None
            header = _header(record.fields)
            continue
        if index == 0 and options.header_list is not None and record.fields:
            record.fields[0] = record.fields[0].removeprefix(_BOM)
        try:
            if record.error is not None:
                raise FormatError(record.error)
            assert record.fields is not None
            item = _item(header, record.fields, attribute_types, key_schema)
        except FormatError as exc:
            yield ItemError(index, record.line, str(exc), record.size)
        else:
            yield ParsedItem(index, record.line, item, record.size)
        index += 1


def _item(
    header: tuple[str, ...],
    fields: list[str],
    attribute_types: Mapping[str, str],
    key_schema: KeySchema | None,
) -> Item:
    if len(fields) != len(header):
        raise FormatError(f"the record has {len(fields)} fields, the header {len(header)}")
    key_names = set(key_schema.names) if key_schema is not None else set()
    raw: Item = {}
    for name, value in zip(header, fields, strict=True):
        type_ = attribute_types.get(name)
        if value == "" and name not in key_names:
            continue  # see the module docstring: an empty field gives no attribute
        raw[name] = _typed(name, value, type_) if type_ is not None else {"S": value}
    return checked_item(raw, key_schema)
