"""Amazon Ion text lines, as DynamoDB's ION exports write them.

Each line is the Ion version marker and one struct: ``$ion_1_0 {Item:{...}}`` for a
full export.  Types map as the Developer Guide's "DynamoDB to Ion datatype conversion"
table has it: S -> string, N -> decimal, B -> blob, BOOL -> bool, SS/NS/BS -> list
annotated ``$dynamodb_SS`` / ``$dynamodb_NS`` / ``$dynamodb_BS``, L -> list, M -> struct;
NULL (absent from that table) -> Ion's untyped ``null``.

Numbers are written exactly, from the canonical digit string, never through a float:
a coefficient without trailing zeros and an exponent, in the documented example's
spelling (103 -> ``103.``, 600 -> ``6d2``, 2000 -> ``2d3``), and fractions with a point
(``1.5``, ``0.001``) unless that would take many leading zeros (``1d-130``).

An incremental export line wraps its members in ``Record`` (``$ion_1_0 {Record:{Keys:...,
Metadata:{WriteTimestampMicros:...},OldImage:...,NewImage:...}}``), the shape that
Athena tables over DynamoDB's Ion incremental exports address (``Record.NewImage``).
"""

from __future__ import annotations

import re
from typing import Final

from regions.protection.formats.records import ChangeRecord
from regions.types import AttributeValue, Item, normalize_number, number_parts

__all__ = ["ion_change_line", "ion_decimal", "ion_item_line", "ion_value"]

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*", re.ASCII)
# Identifiers that Ion reads as something else when unquoted.
_KEYWORDS: Final = frozenset({"null", "true", "false", "nan"})
_STRING_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SYMBOL_ESCAPES: Final = {"'": "\\'", "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE: Final = re.compile(r"[\"'\\\x00-\x1f\x7f]")
# Beyond this many zeros after the point, the exponent form is shorter and clearer.
_MAX_LEADING_ZEROS: Final = 6


def _escape(text: str, table: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        ch = m.group()
        if ch in table:
            return table[ch]
        if ch in "'\"":  # the other quote needs no escape inside this kind of quote
            return ch
        return f"\\x{ord(ch):02x}"

    return _NEEDS_ESCAPE.sub(one, text)


def _string(text: str) -> str:
    return f'"{_escape(text, _STRING_ESCAPES)}"'


def _field_name(name: str) -> str:
    # '$' names are quoted: '$10' unquoted is a symbol ID, '$ion_1_0' a version marker.
    if _IDENTIFIER.fullmatch(name) and name not in _KEYWORDS:
        return name
    return f"'{_escape(name, _SYMBOL_ESCAPES)}'"


def ion_decimal(number: str) -> str:
    """Ion decimal text for a DynamoDB number string (exact, any spelling accepted)."""
    canonical = normalize_number(number)
    if canonical == "0":
        return "0."
    negative, digits, exponent = number_parts(canonical)
    sign = "-" if negative else ""
    # value = digits * 10**scale_exp
    scale_exp = exponent - (len(digits) - 1)
    if scale_exp == 0:
        return f"{sign}{digits}."
    if scale_exp > 0:
        return f"{sign}{digits}d{scale_exp}"
    point = len(digits) + scale_exp  # digits before the point (<= 0: leading zeros)
    if point > 0:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -point <= _MAX_LEADING_ZEROS:
        return f"{sign}0.{'0' * -point}{digits}"
    return f"{sign}{digits}d{scale_exp}"


def _blob(b64: str) -> str:
    return "{{" + b64 + "}}"


def ion_value(av: AttributeValue) -> str:
    """Ion text of one canonical AttributeValue."""
    tag, member = next(iter(av.items()))
    if tag == "S":
        return _string(member)
    if tag == "N":
        return ion_decimal(member)
    if tag == "B":
        return _blob(member)
    if tag == "BOOL":
        return "true" if member else "false"
    if tag == "NULL":
        return "null"
    if tag == "SS":
        return "$dynamodb_SS::[" + ",".join(_string(s) for s in member) + "]"
    if tag == "NS":
        return "$dynamodb_NS::[" + ",".join(ion_decimal(n) for n in member) + "]"
    if tag == "BS":
        return "$dynamodb_BS::[" + ",".join(_blob(b) for b in member) + "]"
    if tag == "L":
        return "[" + ",".join(ion_value(v) for v in member) + "]"
    if tag == "M":
        return _struct(member)
    raise ValueError(f"not a canonical AttributeValue: {tag!r}")


def _struct(attrs: Item) -> str:
    return "{" + ",".join(f"{_field_name(k)}:{ion_value(attrs[k])}" for k in sorted(attrs)) + "}"


def ion_item_line(item: Item) -> bytes:
    """One full-export line, newline included."""
    return f"$ion_1_0 {{Item:{_struct(item)}}}\n".encode()


def ion_change_line(record: ChangeRecord) -> bytes:
    """One incremental-export line, newline included; absent images are left out."""
    parts = [
        f"Keys:{_struct(record.keys)}",
        f"Metadata:{{WriteTimestampMicros:{ion_decimal(str(record.write_timestamp_micros))}}}",
    ]
    if record.old_image is not None:
        parts.append(f"OldImage:{_struct(record.old_image)}")
    if record.new_image is not None:
        parts.append(f"NewImage:{_struct(record.new_image)}")
    return f"$ion_1_0 {{Record:{{{','.join(parts)}}}}}\n".encode()
