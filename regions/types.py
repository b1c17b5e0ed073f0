"""DynamoDB attribute values: validation, canonical form, ordering, sizes, storage bytes.

Values travel in DynamoDB's wire form after JSON decoding, e.g. ``{"S": "x"}`` or
``{"N": "1.5"}``.  Everything that enters a region passes through :func:`validate_item`
or :func:`validate_value`, which return the *canonical* form:

* numbers rewritten without exponent, sign of zero, or redundant zeros (``"1E+3"`` ->
  ``"1000"``), so equal numbers are equal strings;
* sets sorted (SS by UTF-8 bytes, NS numerically, BS by raw bytes), so equal sets are
  equal lists;
* binaries re-encoded as padded standard base64;
* unknown members of an AttributeValue dropped (the JSON protocol ignores them).

Canonical values make :func:`encode_item` deterministic: identical items encode to
identical bytes, which is what the convergence verifier hashes.

Error wording follows DynamoDB as recorded by dynalite's test-suite (run against the real
service), ScyllaDB alternator's tests and the Developer Guide
(HowItWorks.NamingRulesDataTypes, ServiceQuotas); see the constants below.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import orjson

from regions.errors import SerializationError, ValidationError

__all__ = [
    "MAX_ITEM_SIZE",
    "MAX_NESTING",
    "NUMBER_CONTEXT",
    "AttributeValue",
    "Item",
    "arithmetic_result",
    "check_item_size",
    "compare_values",
    "decimal_to_number",
    "decode_item",
    "encode_item",
    "expect_string",
    "from_plain",
    "item_size",
    "normalize_number",
    "number_key",
    "number_parts",
    "to_plain",
    "validate_item",
    "validate_value",
    "validate_values",
    "value_size",
    "values_equal",
]

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

#: 400 KB, names and values together (Developer Guide, ServiceQuotas).
MAX_ITEM_SIZE: Final = 409_600
#: An attribute is level 1; a value at level 33 is rejected (Developer Guide,
#: HowItWorks.NamingRulesDataTypes: 32 levels).
MAX_NESTING: Final = 32
MAX_ATTRIBUTE_NAME_BYTES: Final = 65_535

_MAX_DIGITS: Final = 38
_MAX_EXPONENT: Final = 125  # adjusted exponent (of the leading digit)
_MIN_EXPONENT: Final = -130

#: Arithmetic context matching DynamoDB's number type.  ``Inexact`` is trapped so that a
#: result needing more than 38 digits raises instead of being silently rounded.
NUMBER_CONTEXT: Final = decimal.Context(
    prec=_MAX_DIGITS,
    Emax=_MAX_EXPONENT,
    Emin=_MIN_EXPONENT,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)

# --- messages -------------------------------------------------------------------------
# ValidationException texts.
_INVALID = "One or more parameter values were invalid: "
MSG_EMPTY_VALUE: Final = (
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
)
MSG_MULTIPLE_TYPES: Final = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
MSG_NULL_NOT_TRUE: Final = _INVALID + "Null attribute value types must have the value of true"
MSG_EMPTY_SET: Final = {
    "SS": _INVALID + "An string set  may not be empty",
    "NS": _INVALID + "An number set  may not be empty",
    "BS": _INVALID + "Binary sets should not be empty",
}
MSG_NS_DUPLICATES: Final = "Input collection contains duplicates"
MSG_NULL_SET_MEMBER: Final = _INVALID + "Set may not contain null values"
MSG_NESTING: Final = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)
MSG_NOT_NUMERIC: Final = "The parameter cannot be converted to a numeric value"
MSG_OVERFLOW: Final = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
MSG_UNDERFLOW: Final = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
MSG_PRECISION: Final = "Attempting to store more than 38 significant digits in a Number"
MSG_EMPTY_NAME: Final = "Empty attribute name"
MSG_LONG_NAME: Final = _INVALID + "Attribute name exceeds the maximum length of 65535 bytes"
MSG_ITEM_TOO_BIG: Final = "Item size has exceeded the maximum allowed size"
MSG_UPDATE_TOO_BIG: Final = "Item size to update has exceeded the maximum allowed size"

# SerializationException texts: Coral's Jackson-based deserializer, by target type.
_START_OF_MAP = "Start of structure or map found where not expected"
_UNEXPECTED_FIELD = "Unexpected field type"
_AV_CLASS = "com.amazonaws.dynamodb.v20120810.AttributeValue"
_BASE64_ONLY = "only base-64-encoded strings are convertible to bytes"
MSG_BAD_BASE64_CHAR: Final = "Invalid Base64 character: '{}'"
MSG_BAD_BASE64_END: Final = "Invalid last non-pad Base64 character dectected"  # sic
MSG_BAD_BASE64_LENGTH: Final = (
    "Base64 encoded length is expected a multiple of 4 bytes but found: {}"
)
MSG_BAD_UTF8: Final = "Invalid UTF-8: string contains a lone surrogate"

_SET_TYPES: Final = ("SS", "NS", "BS")
#: Checked in this order, so the first bad member of a multi-typed value is reported
#: before "more than one datatypes", as DynamoDB does.
_TYPES: Final = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")

_NUMBER_RE: Final = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[+-]?[0-9]+))?",
    re.ASCII,
)
_BASE64_ALPHABET: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
)
_BASE64_RE: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)


# --- numbers --------------------------------------------------------------------------


def _not_numeric(s: str) -> ValidationError:
    return ValidationError(f"{MSG_NOT_NUMERIC}: {s}" if s else MSG_NOT_NUMERIC)


def _canonical_number(negative: bool, digits: str, exp10: int) -> str:
    """Format ``(-1)**negative * int(digits) * 10**exp10`` canonically, checking range.

    ``digits`` may carry leading and trailing zeros; they are not significant.
    """
    stripped = digits.lstrip("0")
    if not stripped:
        return "0"
    sig = stripped.rstrip("0")
    exp10 += len(stripped) - len(sig)
    adjusted = exp10 + len(sig) - 1
    # DynamoDB reports range before precision (dynalite's recorded order).
    if adjusted > _MAX_EXPONENT:
        raise ValidationError(MSG_OVERFLOW)
    if adjusted < _MIN_EXPONENT:
        raise ValidationError(MSG_UNDERFLOW)
    if len(sig) > _MAX_DIGITS:
        raise ValidationError(MSG_PRECISION)
    if exp10 >= 0:
        text = sig + "0" * exp10
    elif len(sig) > -exp10:
        text = f"{sig[:exp10]}.{sig[exp10:]}"
    else:
        text = "0." + "0" * (-exp10 - len(sig)) + sig
    return "-" + text if negative else text


def normalize_number(s: str) -> str:
    """Validate a DynamoDB number string and return its canonical spelling.

    Accepts an optional sign, digits with an optional point (``.5``, ``5.``), and an
    optional exponent; rejects everything else (``NaN``, ``Infinity``, spaces, ``_``).
    The result has no exponent, no ``+``, no leading or trailing zeros and no ``-0``.

    Raises ValidationError with DynamoDB's text for a non-number, more than 38
    significant digits, or a magnitude outside 1E-130 .. 9.99...E+125.
    """
    m = _NUMBER_RE.fullmatch(s)
    if m is None:
        raise _not_numeric(s)
    int_part, frac = m["int"], m["frac"] or ""
    if not int_part and not frac:
        raise _not_numeric(s)
    digits = int_part + frac
    negative = m["sign"] == "-"
    exp_text = m["exp"]
    if exp_text is None:
        return _canonical_number(negative, digits, -len(frac))
    exp_digits = exp_text.lstrip("+-").lstrip("0")
    if len(exp_digits) > 18:
        # Too long for a sane int() (and for Python's int-from-str limit): the value is
        # either zero or hopelessly out of range.
        if not digits.strip("0"):
            return "0"
        raise ValidationError(MSG_UNDERFLOW if exp_text.startswith("-") else MSG_OVERFLOW)
    return _canonical_number(negative, digits, int(exp_text) - len(frac))


def decimal_to_number(d: Decimal) -> str:
    """Canonical number string for a Decimal (e.g. an arithmetic result), range-checked."""
    if not d.is_finite():
        raise _not_numeric(str(d))
    sign, digit_tuple, exponent = d.as_tuple()
    assert isinstance(exponent, int)  # finite, so never 'n'/'N'/'F'
    return _canonical_number(bool(sign), "".join(map(str, digit_tuple)), exponent)


def arithmetic_result(d: Decimal) -> str:
    """Canonical number string for the exact result of ``+``, ``-`` or ``ADD``.

    A result that needs more than 38 significant digits (``1E50 + 1``) is refused with
    DynamoDB's *overflow* text, not the precision one that a stored value of 39 digits
    gets: Alternator's test_update_expression_plus_imprecise, run against DynamoDB,
    records DynamoDB answering "Number overflow. Attempting to store a number with
    magnitude larger than supported range" for ``SET b = :a + :b`` and ``:a - :b``."""
    try:
        return decimal_to_number(d)
    except ValidationError as exc:
        if exc.message == MSG_PRECISION:
            raise ValidationError(MSG_OVERFLOW) from None
        raise


def number_key(s: str) -> Decimal:
    """Exact comparable value of a (canonical) number string, for ordering and dedupe."""
    return NUMBER_CONTEXT.create_decimal(s)


# --- JSON-type checks (SerializationException) -----------------------------------------


def _json_kind(v: object) -> str:
    if v is True:
        return "TRUE_VALUE"
    if v is False:
        return "FALSE_VALUE"
    if isinstance(v, int):
        return "NUMBER_VALUE"
    if isinstance(v, float):
        return "DECIMAL_VALUE"
    if isinstance(v, str):
        return "STRING_VALUE"
    if isinstance(v, list | tuple):
        return "list"
    if isinstance(v, dict):
        return "map"
    return "other"


def _expect_str(v: object) -> str:
    if isinstance(v, str):
        return v
    kind = _json_kind(v)
    if kind == "list":
        raise SerializationError("Unrecognized collection type class java.lang.String")
    if kind == "map":
        raise SerializationError(_START_OF_MAP)
    raise SerializationError(f"{kind} cannot be converted to String")


def expect_string(v: object) -> str:
    """``v`` if it is a JSON string; else the SerializationException Coral's deserializer
    raises for a String member given another JSON type (``NUMBER_VALUE cannot be
    converted to String``...)."""
    return _expect_str(v)


def _expect_bool(v: object) -> bool:
    if isinstance(v, bool):
        return v
    kind = _json_kind(v)
    if kind == "list":
        raise SerializationError("Unrecognized collection type class java.lang.Boolean")
    if kind == "map":
        raise SerializationError(_START_OF_MAP)
    if kind in ("NUMBER_VALUE", "DECIMAL_VALUE"):
        raise SerializationError(f"{kind} cannot be converted to Boolean")
    raise SerializationError("Unexpected token received from parser")


def _expect_list(v: object) -> list[Any]:
    if isinstance(v, list):
        return v
    if isinstance(v, dict):
        raise SerializationError(_START_OF_MAP)
    raise SerializationError(_UNEXPECTED_FIELD)


def _expect_map(v: object) -> dict[str, Any]:
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, str):
                raise SerializationError(_UNEXPECTED_FIELD)
        return v
    if isinstance(v, list):
        raise SerializationError(
            f"Unrecognized collection type java.util.Map<java.lang.String, {_AV_CLASS}>"
        )
    raise SerializationError(_UNEXPECTED_FIELD)


def _expect_av(v: object) -> dict[str, Any] | None:
    """An AttributeValue structure; JSON null counts as an empty one."""
    if v is None:
        return None
    if isinstance(v, dict):
        return v
    if isinstance(v, list):
        raise SerializationError(f"Unrecognized collection type class {_AV_CLASS}")
    raise SerializationError("Unexpected value type in payload")


def _decode_base64(v: object) -> bytes:
    """Strict padded standard base64, with the Java decoder's complaints."""
    if isinstance(v, list):
        raise SerializationError("Unrecognized collection type class java.nio.ByteBuffer")
    if isinstance(v, dict):
        raise SerializationError(_START_OF_MAP)
    if not isinstance(v, str):
        raise SerializationError(_BASE64_ONLY)
    if len(v) % 4:
        raise SerializationError(MSG_BAD_BASE64_LENGTH.format(len(v)))
    if _BASE64_RE.fullmatch(v) is None:
        bad = next((ch for ch in v if ch not in _BASE64_ALPHABET), None)
        # Otherwise the padding is misplaced: inside the text, or three of it.
        raise SerializationError(
            MSG_BAD_BASE64_CHAR.format(bad) if bad is not None else MSG_BAD_BASE64_END
        )
    try:
        raw = base64.b64decode(v, validate=True)
    except binascii.Error:
        raise SerializationError(MSG_BAD_BASE64_END) from None
    # Non-zero unused bits in the last character give a second spelling of the same
    # bytes; DynamoDB rejects them, and so every accepted string is already canonical.
    if base64.b64encode(raw).decode("ascii") != v:
        raise SerializationError(MSG_BAD_BASE64_END)
    return raw


def _utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise SerializationError(MSG_BAD_UTF8) from None


def _check_shape(av: object, depth: int) -> None:
    """Raise SerializationError for any wrong JSON type in a value.

    Runs over the whole value before any semantic check, because DynamoDB deserialises
    the request completely before validating it.  It stops descending past the nesting
    limit, leaving that to the semantic pass, so recursion stays bounded.
    """
    value = _expect_av(av)
    if value is None or depth > MAX_NESTING:
        return
    for tag in _TYPES:
        member = value.get(tag)
        if member is None:
            continue
        if tag in ("S", "N"):
            _utf8(_expect_str(member))  # storage and ordering need valid UTF-8
        elif tag == "B":
            _decode_base64(member)
        elif tag in ("BOOL", "NULL"):
            _expect_bool(member)
        elif tag in _SET_TYPES:
            for element in _expect_list(member):
                if element is None:
                    continue
                if tag == "BS":
                    _decode_base64(element)
                else:
                    _utf8(_expect_str(element))
        elif tag == "L":
            for element in _expect_list(member):
                _check_shape(element, depth + 1)
        else:  # "M"
            for name, element in _expect_map(member).items():
                _utf8(name)
                _check_shape(element, depth + 1)


# --- semantic validation (ValidationException) -----------------------------------------


def _utf8_order(s: str) -> bytes:
    return s.encode("utf-8")


def _canonical_set(tag: str, elements: list[Any]) -> list[str]:
    if not elements:
        raise ValidationError(MSG_EMPTY_SET[tag])
    if tag == "NS":
        if any(e is None for e in elements):
            raise ValidationError(MSG_NOT_NUMERIC)
        canon = [normalize_number(e) for e in elements]
        # Canonical spellings are unique per value, so "1e3" and "1000" collide here.
        if len(set(canon)) != len(canon):
            raise ValidationError(MSG_NS_DUPLICATES)
        return sorted(canon, key=number_key)
    if any(e is None for e in elements):
        raise ValidationError(MSG_NULL_SET_MEMBER)
    if tag == "SS":
        if len(set(elements)) != len(elements):
            raise ValidationError(
                f"{_INVALID}Input collection [{', '.join(elements)}] contains duplicates."
            )
        return sorted(elements, key=_utf8_order)
    raws = [_decode_base64(e) for e in elements]
    if len(set(raws)) != len(raws):
        raise ValidationError(
            f"{_INVALID}Input collection [{', '.join(elements)}]of type BS contains duplicates."
        )
    return [base64.b64encode(r).decode("ascii") for r in sorted(raws)]


def _canonical(av: object, depth: int) -> AttributeValue:
    """Semantic validation of a value whose JSON shape is already known to be right."""
    if depth >= MAX_NESTING:
        raise ValidationError(MSG_NESTING)
    value = _expect_av(av) or {}
    out: AttributeValue = {}
    for tag in _TYPES:
        member = value.get(tag)
        if member is None:
            continue
        if tag == "S":
            out[tag] = member
        elif tag == "N":
            out[tag] = normalize_number(member)
        elif tag == "B":
            out[tag] = member  # the shape pass accepted only canonical base64
        elif tag == "BOOL":
            out[tag] = member
        elif tag == "NULL":
            if member is not True:
                raise ValidationError(MSG_NULL_NOT_TRUE)
            out[tag] = True
        elif tag in _SET_TYPES:
            out[tag] = _canonical_set(tag, member)
        elif tag == "L":
            out[tag] = [_canonical(e, depth + 1) for e in member]
        else:  # "M"
            out[tag] = {k: _canonical(e, depth + 1) for k, e in member.items()}
    if not out:
        raise ValidationError(MSG_EMPTY_VALUE)
    if len(out) > 1:
        raise ValidationError(MSG_MULTIPLE_TYPES)
    return out


def validate_value(av: object, *, depth: int = 0) -> AttributeValue:
    """Validate one wire AttributeValue and return its canonical form.

    ``depth`` is the number of enclosing M/L containers (0 for an item attribute or an
    expression value).  Wrong JSON types raise SerializationError; everything else
    DynamoDB rejects raises ValidationError.  Unknown members are ignored, as
    DynamoDB's JSON protocol ignores them: ``{"X": 1}`` is therefore an *empty* value.
    """
    _check_shape(av, depth)
    return _canonical(av, depth)


def _check_name(name: str) -> None:
    if not name:
        raise ValidationError(MSG_EMPTY_NAME)
    # A code point is at most 4 UTF-8 bytes, so short names need no encoding.
    if len(name) > MAX_ATTRIBUTE_NAME_BYTES // 4 and len(_utf8(name)) > MAX_ATTRIBUTE_NAME_BYTES:
        raise ValidationError(MSG_LONG_NAME)


def _shape_of_map(values: object) -> dict[str, Any]:
    attrs = _expect_map(values)
    for name, av in attrs.items():
        _utf8(name)
        _check_shape(av, 0)
    return attrs


def validate_values(values: object) -> dict[str, AttributeValue]:
    """Validate a map of name -> AttributeValue without attribute-name rules.

    For maps whose keys are not attribute names of a stored item, e.g. a request's
    ``Key`` (checked against the key schema afterwards) or ``ExpressionAttributeValues``.
    """
    attrs = _shape_of_map(values)
    return {name: _canonical(av, 0) for name, av in attrs.items()}


def validate_item(item: object) -> Item:
    """Validate a top-level attribute map (e.g. PutItem's ``Item``); return it canonical.

    Attribute names must be non-empty and at most 65535 UTF-8 bytes.
    """
    attrs = _shape_of_map(item)
    out: Item = {}
    for name, av in attrs.items():
        _check_name(name)
        out[name] = _canonical(av, 0)
    return out


# --- sizes ----------------------------------------------------------------------------


def number_parts(canonical: str) -> tuple[bool, str, int]:
    """Split a canonical non-zero number into (negative, digits, exponent).

    ``digits`` are the significant digits (no leading or trailing zeros) and
    ``exponent`` is the power of ten of the first one: ``"-0.0120"`` is not canonical,
    ``"-0.012"`` gives ``(True, "12", -2)``.
    """
    negative = canonical.startswith("-")
    int_part, _, frac = canonical.lstrip("-").partition(".")
    leading_frac_zeros = len(frac) - len(frac.lstrip("0"))
    exponent = len(int_part) - 1 if int_part != "0" else -(leading_frac_zeros + 1)
    return negative, (int_part + frac).strip("0"), exponent


def _base64_size(v: str) -> int:
    """Decoded length of canonical padded base64, without decoding it."""
    return len(v) // 4 * 3 - v[-2:].count("=")


def _number_size(n: str) -> int:
    """Stored size of a number: base-100 digit pairs plus an exponent byte.

    The digit pairs are aligned on the decimal point, so the count depends on the
    parity of the exponent; negatives carry a terminator byte.  Rule from dynalite
    (checked there against DynamoDB's item-size limit).
    """
    if n == "0":
        return 1
    negative, digits, exponent = number_parts(n)
    count = len(digits)
    pairs = (count + 1) // 2 + (1 if count % 2 == 0 and exponent % 2 == 0 else 0)
    return 1 + pairs + (1 if negative else 0)


def value_size(av: AttributeValue) -> int:
    """Size in bytes DynamoDB charges for one canonical value (without its name)."""
    tag, member = next(iter(av.items()))
    if tag == "S":
        return len(_utf8(member))
    if tag == "N":
        return _number_size(member)
    if tag == "B":
        return _base64_size(member)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(_utf8(e)) for e in member)
    if tag == "NS":
        return sum(_number_size(e) for e in member)
    if tag == "BS":
        return sum(_base64_size(e) for e in member)
    if tag == "L":
        return 3 + sum(1 + value_size(e) for e in member)
    if tag == "M":
        return 3 + sum(1 + len(_utf8(k)) + value_size(e) for k, e in member.items())
    raise ValueError(f"not a canonical AttributeValue: {tag!r}")


def item_size(item: Item) -> int:
    """DynamoDB's item size: for each attribute, UTF-8 name bytes plus value size."""
    return sum(len(_utf8(name)) + value_size(av) for name, av in item.items())


def check_item_size(item: Item, *, update: bool = False) -> None:
    """Raise ValidationError if ``item`` is larger than :data:`MAX_ITEM_SIZE`."""
    if item_size(item) > MAX_ITEM_SIZE:
        raise ValidationError(MSG_UPDATE_TOO_BIG if update else MSG_ITEM_TOO_BIG)


# --- storage bytes --------------------------------------------------------------------


def encode_item(item: Item) -> bytes:
    """Canonical bytes of a canonical item: compact JSON, map keys sorted by UTF-8.

    Identical canonical items give identical bytes; :func:`decode_item` inverts it.
    """
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


def decode_item(data: bytes) -> Item:
    """Inverse of :func:`encode_item`."""
    item: Item = orjson.loads(data)
    return item


# --- comparison -----------------------------------------------------------------------


def compare_values(a: AttributeValue, b: AttributeValue) -> int | None:
    """DynamoDB's ordering of two scalar values: -1, 0 or 1.

    S compares by UTF-8 bytes (code points, not UTF-16), N numerically, B by unsigned
    bytes.  Returns None when the types differ or are not ordered (sets, M, L, ...).
    """
    if len(a) != 1 or len(b) != 1:
        return None
    (ta, va), (tb, vb) = next(iter(a.items())), next(iter(b.items()))
    if ta != tb:
        return None
    if ta == "S":
        x, y = _utf8(va), _utf8(vb)
    elif ta == "B":
        x, y = base64.b64decode(va), base64.b64decode(vb)
    elif ta == "N":
        da, db = number_key(va), number_key(vb)
        return (da > db) - (da < db)
    else:
        return None
    return (x > y) - (x < y)


def values_equal(a: AttributeValue, b: AttributeValue) -> bool:
    """Deep equality: numbers by value, sets ignoring order, B by decoded bytes."""
    if len(a) != 1 or len(b) != 1:
        return False
    (ta, va), (tb, vb) = next(iter(a.items())), next(iter(b.items()))
    if ta != tb:
        return False
    if ta in ("S", "BOOL", "NULL"):
        return bool(va == vb)
    if ta == "N":
        return number_key(va) == number_key(vb)
    if ta == "B":
        return base64.b64decode(va) == base64.b64decode(vb)
    if ta == "SS":
        return set(va) == set(vb)
    if ta == "NS":
        return {number_key(x) for x in va} == {number_key(x) for x in vb}
    if ta == "BS":
        return {base64.b64decode(x) for x in va} == {base64.b64decode(x) for x in vb}
    if ta == "L":
        return len(va) == len(vb) and all(values_equal(x, y) for x, y in zip(va, vb, strict=True))
    if ta == "M":
        return va.keys() == vb.keys() and all(values_equal(va[k], vb[k]) for k in va)
    return False


# --- plain JSON-like values -----------------------------------------------------------


def _plain_number(n: str) -> int | float | Decimal:
    """int when integral; float when it reproduces the exact value; else Decimal."""
    if "." not in n:
        return int(n)
    f = float(n)
    try:
        exact = math.isfinite(f) and normalize_number(repr(f)) == n
    except ValidationError:  # rounded past the range, e.g. near 1E+126
        exact = False
    return f if exact else Decimal(n)


def to_plain(av: AttributeValue) -> Any:
    """Convert a canonical typed value to plain Python for typeless (REST) clients.

    S -> str, N -> int if integral, else float if that float's shortest repr is the
    same number, else Decimal (so nothing is ever rounded; callers serialising JSON must
    emit Decimal as a number literal), B -> bytes, BOOL -> bool, NULL -> None,
    L -> list, M -> dict, SS/NS/BS -> lists in canonical (sorted) order.
    """
    tag, member = next(iter(av.items()))
    converters: dict[str, Callable[[Any], Any]] = {
        "S": lambda v: v,
        "N": _plain_number,
        "B": base64.b64decode,
        "BOOL": bool,
        "NULL": lambda _: None,
        "SS": list,
        "NS": lambda v: [_plain_number(x) for x in v],
        "BS": lambda v: [base64.b64decode(x) for x in v],
        "L": lambda v: [to_plain(x) for x in v],
        "M": lambda v: {k: to_plain(x) for k, x in v.items()},
    }
    return converters[tag](member)


def _typed_number(value: int | float | Decimal) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _not_numeric(repr(value))
        return repr(value)
    return str(value)


def _typed_set(value: set[Any] | frozenset[Any]) -> AttributeValue:
    if not value:
        raise ValidationError(MSG_EMPTY_SET["SS"])
    if all(isinstance(x, str) for x in value):
        return {"SS": list(value)}
    if all(isinstance(x, bytes | bytearray) for x in value):
        return {"BS": [base64.b64encode(bytes(x)).decode("ascii") for x in value]}
    if all(isinstance(x, int | float | Decimal) and not isinstance(x, bool) for x in value):
        return {"NS": [_typed_number(x) for x in value]}
    raise TypeError("a set must hold only str, only bytes, or only numbers")


def _typed(value: object, depth: int = 0) -> AttributeValue:
    if depth >= MAX_NESTING:
        # the limit validate_value enforces, checked while descending: a REST body
        # nested ~900 deep would otherwise exhaust Python's stack (a 500, not a 400)
        raise ValidationError(MSG_NESTING)
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float | Decimal):
        return {"N": _typed_number(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple):
        return {"L": [_typed(x, depth + 1) for x in value]}
    if isinstance(value, dict):
        return {"M": {str(k): _typed(x, depth + 1) for k, x in value.items()}}
    if isinstance(value, set | frozenset):
        return _typed_set(value)
    raise TypeError(f"cannot convert {type(value).__name__} to an AttributeValue")


def from_plain(value: object) -> AttributeValue:
    """Convert plain Python (parsed JSON) to a canonical typed value.

    str -> S, bool -> BOOL, int/float/Decimal -> N, None -> NULL, list/tuple -> L,
    dict -> M, bytes -> B; a Python set becomes SS, NS or BS by its element type.
    The result is validated like wire input (number range, nesting, set rules).
    """
    return validate_value(_typed(value))
