"""Reading one import object: decompress, split into lines, parse, validate.

:func:`read_import_object` is the whole pipeline for ImportTable: it yields each item
(:class:`~.records.ParsedItem`) or, for a line that does not make one, an
:class:`~.errors.ItemError` to count in ``ErrorCount`` and log, and carries on.  It
raises :class:`~.errors.ObjectFormatError` when the rest of the object cannot be read
(corrupt compression, a decompression bomb, a bad CSV header), after yielding
everything before that point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final, Literal

import orjson

from regions.keys import KeySchema
from regions.protection.formats.compression import DEFAULT_MAX_OUTPUT, decompress_stream
from regions.protection.formats.csv_import import CsvOptions, read_csv
from regions.protection.formats.dynamodb_json import decode_item_line
from regions.protection.formats.errors import FormatError, ItemError
from regions.protection.formats.ion_reader import decode_ion_item_line
from regions.protection.formats.lines import DEFAULT_MAX_LINE, Line, split_lines
from regions.protection.formats.records import ParsedItem
from regions.types import Item

__all__ = [
    "INPUT_FORMATS",
    "InputFormat",
    "error_log_line",
    "read_import_object",
    "read_lines",
]

InputFormat = Literal["CSV", "DYNAMODB_JSON", "ION"]
INPUT_FORMATS: Final[tuple[InputFormat, ...]] = ("CSV", "DYNAMODB_JSON", "ION")


def read_lines(
    lines: Iterable[Line],
    decode: Callable[[bytes], Item | None],
    max_line: int = DEFAULT_MAX_LINE,
) -> Iterator[ParsedItem | ItemError]:
    """Items of a line-per-item object (DynamoDB JSON, Ion); ``decode`` gives None for
    a line holding no item (blank, comment, version marker only)."""
    index = 0
    for line in lines:
        if line.data is not None and not line.data.strip():
            continue
        try:
            if line.data is None:
                raise FormatError(f"line longer than {max_line} bytes")
            item = decode(line.data)
        except FormatError as exc:
            yield ItemError(index, line.number, str(exc), line.size)
            index += 1
            continue
        if item is not None:
            yield ParsedItem(index, line.number, item, line.size)
            index += 1


def read_import_object(
    chunks: Iterable[bytes],
    *,
    input_format: str,
    compression: str,
    key_schema: KeySchema | None,
    attribute_types: Mapping[str, str],
    csv_options: CsvOptions | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    max_line: int = DEFAULT_MAX_LINE,
) -> Iterator[ParsedItem | ItemError]:
    """Items of one import object given as compressed ``chunks``.

    ``key_schema`` is the new table's key (each item needs it); ``attribute_types``
    maps every AttributeDefinition to S, N or B (CSV types key columns with it).
    """
    lines = split_lines(decompress_stream(chunks, compression, max_output), max_line)
    if input_format == "CSV":
        yield from read_csv(
            lines, csv_options or CsvOptions(), attribute_types, key_schema, max_record=max_line
        )
    elif input_format == "DYNAMODB_JSON":
        yield from read_lines(lines, lambda b: decode_item_line(b, key_schema), max_line)
    elif input_format == "ION":
        yield from read_lines(lines, lambda b: decode_ion_item_line(b, key_schema), max_line)
    else:
        raise ValueError(f"unknown input format {input_format!r}")


def error_log_line(import_arn: str, bucket: str, key: str, error: ItemError) -> bytes:
    """One entry of the import's error report, in the shape DynamoDB logs to
    ``/aws-dynamodb/imports`` (Developer Guide, "Import format quotas and validation"):
    ``{"itemS3Pointer":{"bucket","key","itemIndex"},"importArn","errorMessages":[...]}``.
    """
    entry = {
        "itemS3Pointer": {"bucket": bucket, "key": key, "itemIndex": error.index},
        "importArn": import_arn,
        "errorMessages": [error.message],
    }
    return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
