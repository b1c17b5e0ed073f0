"""DynamoDB JSON lines: ``{"Item":{...}}`` for full exports and imports, and the
incremental export's ``{"Metadata":...,"Keys":...,"OldImage":...,"NewImage":...}``.

Values are DynamoDB's marshalled form (``{"S":"x"}``, ``{"N":"1.5"}``, ``{"B":"<base64>"}``
...), exactly what the wire protocol carries, so items go out as stored and come back
through the same validation as a PutItem.  ``WriteTimestampMicros`` is itself a
marshalled number (``{"N":"1680109764000000"}``), as exports written by DynamoDB have it
(readers of real exports address ``Metadata.WriteTimestampMicros.N``).

Keys are written sorted, so an item always gives the same bytes (and a data file the
same md5Checksum); DynamoDB's documented example is sorted the same way.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from regions.errors import ValidationError
from regions.keys import KeySchema
from regions.protection.formats.errors import FormatError
from regions.protection.formats.records import ChangeRecord, checked_item
from regions.types import Item, normalize_number

__all__ = [
    "decode_change_line",
    "decode_item_line",
    "encode_change_line",
    "encode_item_line",
]

_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
_CHANGE_MEMBERS: Final = frozenset({"Metadata", "Keys", "OldImage", "NewImage"})


def encode_item_line(item: Item) -> bytes:
    """One full-export line, newline included."""
    return orjson.dumps({"Item": item}, option=_OPTIONS)


def encode_change_line(record: ChangeRecord) -> bytes:
    """One incremental-export line, newline included; absent images are left out."""
    line: dict[str, Any] = {
        "Metadata": {"WriteTimestampMicros": {"N": str(record.write_timestamp_micros)}},
        "Keys": record.keys,
    }
    if record.old_image is not None:
        line["OldImage"] = record.old_image
    if record.new_image is not None:
        line["NewImage"] = record.new_image
    return orjson.dumps(line, option=_OPTIONS)


def _object(line: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FormatError("a line must hold one JSON object")
    return value


def decode_item_line(line: bytes, key_schema: KeySchema | None = None) -> Item:
    """The item of one import line ``{"Item":{...}}``, validated (see
    :func:`~.records.checked_item`); raises FormatError."""
    value = _object(line)
    if "Item" not in value:
        raise FormatError('the line has no "Item" member')
    extra = sorted(k for k in value if k != "Item")
    if extra:
        raise FormatError(f'unexpected member "{extra[0]}" next to "Item"')
    if not isinstance(value["Item"], dict):
        raise FormatError('"Item" must be a JSON object')
    return checked_item(value["Item"], key_schema)


def _image(value: dict[str, Any], name: str) -> Item | None:
    raw = value.get(name)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError(f'"{name}" must be a JSON object')
    return checked_item(raw)


def decode_change_line(line: bytes) -> ChangeRecord:
    """One incremental-export line, validated; raises FormatError."""
    value = _object(line)
    extra = sorted(set(value) - _CHANGE_MEMBERS)
    if extra:
        raise FormatError(f'unexpected member "{extra[0]}" in an incremental export line')
    meta = value.get("Metadata")
    stamp = meta.get("WriteTimestampMicros") if isinstance(meta, dict) else None
    number = stamp.get("N") if isinstance(stamp, dict) else None
    if not isinstance(number, str):
        raise FormatError('missing "Metadata": {"WriteTimestampMicros": {"N": ...}}')
    micros = _micros(number)
    keys = _image(value, "Keys")
    if keys is None:
        raise FormatError('the line has no "Keys" member')
    return ChangeRecord(micros, keys, _image(value, "OldImage"), _image(value, "NewImage"))


def _micros(number: str) -> int:
    try:
        canonical = normalize_number(number)
    except ValidationError:
        canonical = ""
    if not canonical.isdigit():
        raise FormatError(f"WriteTimestampMicros is not a non-negative integer: {number!r}")
    return int(canonical)
