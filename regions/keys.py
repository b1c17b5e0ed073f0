"""Primary keys: schema, validation, order-preserving encoding and partitioning.

A table's key values are stored as byte strings in their own database columns (``hk``
for the partition key, ``rk`` for the sort key), and the database orders rows by plain
``memcmp``.  :func:`encode_key_value` therefore maps each key value to bytes whose
bytewise order is DynamoDB's order for that type.  An encoding is *not*
self-delimiting: it is only ever compared with encodings of the same attribute, alone in
its column, so never concatenate two of them and expect the order to survive.

Multi-attribute keys (a GSI may have up to four partition-key and four sort-key
attributes) need several values in one column.  :func:`encode_key_values` stores a
single value exactly as :func:`encode_key_value` does (so every single-attribute key,
table or index, keeps its stored bytes), and several values as the concatenation of
their *components* (:func:`encode_key_component`): each value's encoding with every
``00`` byte escaped as ``00 FF``, then the terminator ``00 01``.  Why that keeps
DynamoDB's order (attribute by attribute, each in its type's order):

* escaping preserves memcmp order between two encodings ``x < y``: up to their first
  difference the escaped forms agree; a differing byte pair keeps its order (``00``
  becomes ``00 FF`` and every other byte stays itself, and ``00 .. < 01..FF``); and
  when ``x`` is a proper prefix of ``y`` the terminator ``00 01`` of ``x`` meets either
  a byte ``>= 01`` or the escape ``00 FF`` of ``y``, both greater;
* a component never is a proper prefix of another (``00 01`` never occurs inside the
  escaped body, where ``00`` is always followed by ``FF``), so comparing two
  concatenations is decided by the first attribute whose values differ, in that
  attribute's order, and later attributes only break ties.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from regions.errors import ValidationError
from regions.types import AttributeValue, Item, normalize_number, number_parts, validate_values

__all__ = [
    "MAX_HASH_KEY_BYTES",
    "MAX_RANGE_KEY_BYTES",
    "EncodedKey",
    "KeyAttr",
    "KeySchema",
    "decode_key",
    "decode_key_value",
    "encode_key",
    "encode_key_component",
    "encode_key_value",
    "encode_key_values",
    "item_key",
    "partition_of",
    "validate_key",
]

KEY_TYPES: Final = ("S", "N", "B")
MAX_HASH_KEY_BYTES: Final = 2048
MAX_RANGE_KEY_BYTES: Final = 1024

_INVALID = "One or more parameter values were invalid: "
MSG_SCHEMA_MISMATCH: Final = "The provided key element does not match the schema"
MSG_MISSING_KEY: Final = _INVALID + "Missing the key {} in the item"
MSG_TYPE_MISMATCH: Final = _INVALID + "Type mismatch for key {} expected: {} actual: {}"
MSG_EMPTY_KEY: Final = (
    "One or more parameter values are not valid. "
    "The AttributeValue for a key attribute cannot contain an empty {} value. Key: {}"
)
# "of2048" (no space) is DynamoDB's own spelling.
MSG_HASH_TOO_BIG: Final = (
    _INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes"
)
MSG_RANGE_TOO_BIG: Final = (
    _INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)


@dataclass(frozen=True)
class KeyAttr:
    """One key attribute: its name and scalar type ("S", "N" or "B")."""

    name: str
    type: str

    def __post_init__(self) -> None:
        if self.type not in KEY_TYPES:
            raise ValueError(f"key attribute type must be S, N or B, not {self.type!r}")


@dataclass(frozen=True)
class KeySchema:
    """A table's (or index's) primary key: a partition key and an optional sort key.

    A GSI's key may have several partition-key and sort-key attributes (DynamoDB's
    multi-attribute keys): ``hash`` and ``range`` are then the first of each, and
    ``more_hash`` / ``more_range`` the others, in KeySchema order.  Tables and LSIs
    never have them.
    """

    hash: KeyAttr
    range: KeyAttr | None = None
    more_hash: tuple[KeyAttr, ...] = ()
    more_range: tuple[KeyAttr, ...] = ()

    def __post_init__(self) -> None:
        if self.more_range and self.range is None:
            raise ValueError("more_range without a first sort key attribute")

    @property
    def hash_attrs(self) -> tuple[KeyAttr, ...]:
        """The partition-key attributes, in KeySchema order."""
        return (self.hash, *self.more_hash)

    @property
    def range_attrs(self) -> tuple[KeyAttr, ...]:
        """The sort-key attributes, in KeySchema order (empty without a sort key)."""
        return () if self.range is None else (self.range, *self.more_range)

    @property
    def multi(self) -> bool:
        """Whether the partition key or the sort key has several attributes."""
        return bool(self.more_hash or self.more_range)

    @property
    def attrs(self) -> tuple[KeyAttr, ...]:
        """The key attributes, partition key first."""
        return self.hash_attrs + self.range_attrs

    @property
    def names(self) -> tuple[str, ...]:
        """The key attribute names, partition key first."""
        return tuple(a.name for a in self.attrs)


@dataclass(frozen=True)
class EncodedKey:
    """A key as stored: partition number, encoded partition key, encoded sort key.

    ``rk`` is ``b""`` when the table has no sort key.
    """

    part: int
    hk: bytes
    rk: bytes


# --- numbers --------------------------------------------------------------------------
#
# Layout: class byte, then for non-zero values an exponent byte and one byte per
# significant digit.
#
#   negative  01 | 255-(e+130) | 9-d1 ... 9-dn | 0A
#   zero      02
#   positive  03 | e+130       | d1 ... dn
#
# ``e`` is the exponent of the leading digit (-130..125, so e+130 fits a byte) and the
# digits carry no leading or trailing zeros.  For positives, a larger exponent is a larger
# number and, at equal exponents, digit strings compare like decimal fractions (a prefix
# is smaller: 0.12 < 0.123).  Negatives invert both, and the 0A terminator, larger than
# any complemented digit, makes a prefix sort *after* its extensions: -0.12 > -0.123.

_NEGATIVE, _ZERO, _POSITIVE = 0x01, 0x02, 0x03
_NEGATIVE_END = 0x0A
_EXPONENT_BIAS = 130


def _encode_number(n: str) -> bytes:
    canonical = normalize_number(n)
    if canonical == "0":
        return bytes([_ZERO])
    negative, digits, exponent = number_parts(canonical)
    biased = exponent + _EXPONENT_BIAS
    if negative:
        body = bytes(9 - int(d) for d in digits)
        return bytes([_NEGATIVE, 255 - biased]) + body + bytes([_NEGATIVE_END])
    return bytes([_POSITIVE, biased]) + bytes(int(d) for d in digits)


def _decode_number(data: bytes) -> str:
    if data == bytes([_ZERO]):
        return "0"
    if len(data) < 3 or data[0] not in (_NEGATIVE, _POSITIVE):
        raise ValueError(f"not an encoded number: {data!r}")
    if data[0] == _NEGATIVE:
        if data[-1] != _NEGATIVE_END:
            raise ValueError(f"not an encoded number: {data!r}")
        exponent = 255 - data[1] - _EXPONENT_BIAS
        digit_values = [9 - b for b in data[2:-1]]
        sign = "-"
    else:
        exponent = data[1] - _EXPONENT_BIAS
        digit_values = list(data[2:])
        sign = ""
    # Canonical digits only: no leading or trailing zero, or the inverse would not be exact.
    if (
        not digit_values
        or any(not 0 <= d <= 9 for d in digit_values)
        or digit_values[0] == 0
        or digit_values[-1] == 0
    ):
        raise ValueError(f"not an encoded number: {data!r}")
    digits = "".join(map(str, digit_values))
    return normalize_number(f"{sign}{digits}e{exponent - len(digits) + 1}")


# --- public API -----------------------------------------------------------------------


def encode_key_value(av: AttributeValue, type_: str) -> bytes:
    """Order-preserving bytes of a key value of type ``type_``.

    S gives its UTF-8 bytes (code-point order), B its raw bytes, and N the layout above
    (numeric order over the whole range).  Not self-delimiting; see the module docstring.
    """
    if type_ not in KEY_TYPES or type_ not in av:
        raise ValueError(f"expected a {type_} key value, got {av!r}")
    value = av[type_]
    if type_ == "S":
        return str(value).encode("utf-8")
    if type_ == "B":
        return base64.b64decode(value)
    return _encode_number(value)


_ESCAPED_ZERO: Final = b"\x00\xff"
_COMPONENT_END: Final = b"\x00\x01"


def encode_key_component(av: AttributeValue, type_: str) -> bytes:
    """One value of a multi-attribute key: :func:`encode_key_value` made
    self-delimiting (``00`` escaped as ``00 FF``, then ``00 01``); see the module
    docstring for why concatenations of components keep the order."""
    return encode_key_value(av, type_).replace(b"\x00", _ESCAPED_ZERO) + _COMPONENT_END


def encode_key_values(values: Sequence[tuple[AttributeValue, str]]) -> bytes:
    """The stored bytes of one key column from its ``(value, type)`` pairs: one value
    exactly as :func:`encode_key_value`, several as the concatenation of their
    components (:func:`encode_key_component`)."""
    if len(values) == 1:
        av, type_ = values[0]
        return encode_key_value(av, type_)
    return b"".join(encode_key_component(av, type_) for av, type_ in values)


def decode_key_value(data: bytes, type_: str) -> AttributeValue:
    """Exact inverse of :func:`encode_key_value` (numbers come back canonical)."""
    if type_ == "S":
        return {"S": data.decode("utf-8")}
    if type_ == "B":
        return {"B": base64.b64encode(data).decode("ascii")}
    if type_ == "N":
        return {"N": _decode_number(data)}
    raise ValueError(f"key attribute type must be S, N or B, not {type_!r}")


def partition_of(hk: bytes, partitions: int) -> int:
    """Partition number of an encoded partition key.

    The 8-byte BLAKE2b digest (``digest_size=8``) read as a big-endian unsigned integer,
    modulo ``partitions``: the same on every process, machine and Python version, unlike
    ``hash()``.
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    digest = hashlib.blake2b(hk, digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def _check_key_value(attr: KeyAttr, av: AttributeValue, *, is_hash: bool) -> None:
    """Empty and length rules shared by items and ``Key`` parameters."""
    if attr.type == "N":
        return  # a valid number is always short enough
    raw = encode_key_value(av, attr.type)
    if not raw:
        kind = "string" if attr.type == "S" else "binary"
        raise ValidationError(MSG_EMPTY_KEY.format(kind, attr.name))
    if is_hash and len(raw) > MAX_HASH_KEY_BYTES:
        raise ValidationError(MSG_HASH_TOO_BIG)
    if not is_hash and len(raw) > MAX_RANGE_KEY_BYTES:
        raise ValidationError(MSG_RANGE_TOO_BIG)


def item_key(item: Item, schema: KeySchema) -> Item:
    """The key attributes of a full, already validated item (PutItem), checked.

    Each key attribute in turn, partition key first, must be present, of the schema's
    type, non-empty and within the length limit; the first failure raises
    ValidationError with DynamoDB's text.
    """
    key: Item = {}
    for position, attr in enumerate(schema.attrs):
        av = item.get(attr.name)
        if av is None:
            raise ValidationError(MSG_MISSING_KEY.format(attr.name))
        if attr.type not in av:
            actual = next(iter(av), "")
            raise ValidationError(MSG_TYPE_MISMATCH.format(attr.name, attr.type, actual))
        _check_key_value(attr, av, is_hash=position == 0)
        key[attr.name] = av
    return key


def validate_key(key: object, schema: KeySchema) -> Item:
    """Validate a request's ``Key`` (GetItem, DeleteItem, ...) and return it canonical.

    The values are validated like any AttributeValue first; then the map must hold
    exactly the schema's attributes with the schema's types, else ValidationError
    ``The provided key element does not match the schema``; then the empty and length
    rules apply as for items.
    """
    values = validate_values(key)
    if len(values) != len(schema.attrs):
        raise ValidationError(MSG_SCHEMA_MISMATCH)
    for attr in schema.attrs:
        av = values.get(attr.name)
        if av is None or attr.type not in av:
            raise ValidationError(MSG_SCHEMA_MISMATCH)
    for position, attr in enumerate(schema.attrs):
        _check_key_value(attr, values[attr.name], is_hash=position == 0)
    return {name: values[name] for name in schema.names}


def encode_key(key: Item, schema: KeySchema, partitions: int) -> EncodedKey:
    """Encode a validated key (from :func:`item_key` or :func:`validate_key`) for storage."""
    hk = encode_key_value(key[schema.hash.name], schema.hash.type)
    rk = b""
    if schema.range is not None:
        rk = encode_key_value(key[schema.range.name], schema.range.type)
    return EncodedKey(part=partition_of(hk, partitions), hk=hk, rk=rk)


def decode_key(hk: bytes, rk: bytes, schema: KeySchema) -> Item:
    """Rebuild a key item from its stored encodings (inverse of :func:`encode_key`)."""
    key: Item = {schema.hash.name: decode_key_value(hk, schema.hash.type)}
    if schema.range is not None:
        key[schema.range.name] = decode_key_value(rk, schema.range.type)
    return key
