"""A strict reader for the Amazon Ion text that DynamoDB's ION imports and exports use.

Only the subset that maps onto DynamoDB types is accepted (Developer Guide, "Amazon S3
import formats for DynamoDB", Ion to DynamoDB datatype conversion): string -> S,
decimal and int -> N, blob -> B, bool -> BOOL, null -> NULL, struct -> M, list -> L,
and lists annotated ``$dynamodb_SS`` / ``$dynamodb_NS`` / ``$dynamodb_BS`` -> sets.
Everything else Ion has (floats, timestamps, symbols as values, clobs, s-expressions,
typed nulls, other annotations, symbol tables) is refused with a message naming it:
guessing a DynamoDB type for it would import something the user did not write.

Numbers never pass through a float: the digits and exponent go to the same
normalisation a PutItem uses, so 38 digits and exponents -130..+125 are exact and
anything outside gets DynamoDB's own overflow, underflow or precision message.

The reader is written for hostile input: nesting is capped (:data:`MAX_DEPTH`), no
number text is ever converted to an int unless short, every escape is checked, and a
line is at most what the caller's line splitter allowed, so a bad line costs time
linear in its length and ends in :class:`~.errors.FormatError`, never a crash.

Input is line-oriented, as DynamoDB's is ("items in an Ion file are delimited by
newlines"): each line holds an optional ``$ion_1_0`` marker and at most one value.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from regions.errors import ValidationError
from regions.keys import KeySchema
from regions.protection.formats.errors import FormatError
from regions.protection.formats.records import ChangeRecord, checked_item
from regions.types import MAX_NESTING, AttributeValue, Item, normalize_number

__all__ = ["MAX_DEPTH", "decode_ion_change_line", "decode_ion_item_line", "parse_ion_line"]

#: Containers deeper than this are refused before DynamoDB's own nesting check (32
#: levels within an item) could even run; the margin covers ``{Item:...}`` and
#: ``{Record:{NewImage:...}}`` wrappers, so DynamoDB's message wins for items that
#: are merely too deep, and hostile depth never reaches Python's recursion limit.
MAX_DEPTH: Final = MAX_NESTING + 8

_SET_ANNOTATIONS: Final = {"$dynamodb_SS": "SS", "$dynamodb_NS": "NS", "$dynamodb_BS": "BS"}
_IDENTIFIER: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*", re.ASCII)
_SYMBOL_ID: Final = re.compile(r"\$[0-9]+", re.ASCII)
_WHITESPACE: Final = re.compile(r"(?:[ \t\v\f\r\n]+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
# A number (or timestamp) runs until one of Ion's numeric stop characters.
_NUMERIC: Final = re.compile(r"[+\-]?[0-9][0-9A-Za-z_.+\-:]*", re.ASCII)
_DEC_INT: Final = re.compile(r"-?(?:0|[1-9](?:_?[0-9])*)", re.ASCII)
_HEX_INT: Final = re.compile(r"-?0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*", re.ASCII)
_BIN_INT: Final = re.compile(r"-?0[bB][01](?:_?[01])*", re.ASCII)
_DECIMAL: Final = re.compile(
    r"(?P<int>-?(?:0|[1-9](?:_?[0-9])*))"
    r"(?:\.(?P<frac>[0-9](?:_?[0-9])*)?)?"
    r"(?:[dD](?P<exp>[+\-]?[0-9]+))?",
    re.ASCII,
)
_FLOAT: Final = re.compile(r"-?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][+\-]?[0-9]+", re.ASCII)
_TYPED_NULL: Final = re.compile(r"null\.([a-z]+)", re.ASCII)
_VERSION_MARKER: Final = re.compile(r"\$ion_[0-9]+_[0-9]+", re.ASCII)
_SIMPLE_ESCAPES: Final = {
    "a": "\a", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "v": "\v",
    "?": "?", "0": "\0", "'": "'", '"': '"', "/": "/", "\\": "\\",
}  # fmt: skip
_HEX_ESCAPE_LENGTHS: Final = {"x": 2, "u": 4, "U": 8}
_STOP: Final = frozenset(" \t\v\f\r\n,]})[{(\"'/")
# A hex or binary int of more digits than this is beyond DynamoDB's 10**126.
_MAX_RADIX_DIGITS: Final = 440


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # --- low level ----------------------------------------------------------------

    def fail(self, message: str) -> FormatError:
        return FormatError(f"{message} (at column {self.pos + 1})")

    def skip(self) -> None:
        m = _WHITESPACE.match(self.text, self.pos)
        assert m is not None  # the pattern matches the empty string
        self.pos = m.end()
        if self.text.startswith("/*", self.pos):
            raise self.fail("unterminated /* comment")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def expect(self, ch: str) -> None:
        self.skip()
        if self.peek() != ch:
            found = self.peek() or "end of line"
            raise self.fail(f"expected '{ch}', found '{found}'")
        self.pos += 1

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    # --- strings and symbols ------------------------------------------------------

    def _escape(self) -> str:
        """Decode the escape whose backslash is at ``self.pos``."""
        kind = self.peek(2)[1:]
        if kind in _SIMPLE_ESCAPES:
            self.pos += 2
            return _SIMPLE_ESCAPES[kind]
        if kind not in _HEX_ESCAPE_LENGTHS:
            raise self.fail(f"invalid escape '\\{kind}'")
        n = _HEX_ESCAPE_LENGTHS[kind]
        digits = self.text[self.pos + 2 : self.pos + 2 + n]
        if len(digits) != n or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail(f"invalid escape '\\{kind}{digits}'")
        self.pos += 2 + n
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDBFF and kind == "u" and self.peek(2) == "\\u":
            low_digits = self.text[self.pos + 2 : self.pos + 6]
            try:
                low = int(low_digits, 16)
            except ValueError:
                low = -1
            if 0xDC00 <= low <= 0xDFFF:
                self.pos += 6
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
        if 0xD800 <= code <= 0xDFFF:
            raise self.fail(f"lone surrogate escape '\\{kind}{digits}'")
        if code > 0x10FFFF:
            raise self.fail(f"escape '\\{kind}{digits}' is beyond Unicode")
        return chr(code)

    def quoted(self, quote: str) -> str:
        """A ``"string"`` or ``'symbol'`` whose opening quote is at ``self.pos``."""
        self.pos += 1
        out: list[str] = []
        text = self.text
        while True:
            end = self.pos
            while end < len(text) and text[end] not in (quote, "\\", "\n"):
                end += 1
            out.append(text[self.pos : end])
            self.pos = end
            if end >= len(text) or text[end] == "\n":
                raise self.fail("unterminated string")
            if text[end] == quote:
                self.pos += 1
                return "".join(out)
            out.append(self._escape())

    def long_strings(self) -> str:
        """Adjacent ``'''long strings'''``, concatenated as Ion concatenates them."""
        out: list[str] = []
        text = self.text
        while True:
            self.pos += 3
            while True:
                end = self.pos
                while end < len(text) and text[end] not in ("'", "\\"):
                    end += 1
                out.append(text[self.pos : end])
                self.pos = end
                if end >= len(text):
                    raise self.fail("unterminated long string")
                if text.startswith("'''", end):
                    self.pos += 3
                    break
                if text[end] == "'":
                    out.append("'")
                    self.pos += 1
                else:
                    out.append(self._escape())
            self.skip()
            if not text.startswith("'''", self.pos):
                return "".join(out)

    def symbol(self) -> str:
        """An identifier or ``'quoted'`` symbol, e.g. a field name or annotation."""
        if self.peek() == "'":
            return self.quoted("'")
        m = _IDENTIFIER.match(self.text, self.pos)
        if m is None:
            raise self.fail("expected a symbol")
        name = m.group()
        if _SYMBOL_ID.fullmatch(name):
            raise self.fail(f"symbol ID {name} needs a symbol table, which is not supported")
        self.pos = m.end()
        return name

    # --- values -------------------------------------------------------------------

    def value(self, depth: int) -> AttributeValue:
        if depth > MAX_DEPTH:
            raise self.fail(f"values nested deeper than {MAX_DEPTH} levels")
        self.skip()
        annotations = self.annotations()
        if annotations:
            return self.annotated(annotations, depth)
        ch = self.peek()
        if ch == "{":
            if self.peek(2) == "{{":
                return {"B": self.blob()}
            return {"M": self.struct(depth)}
        if ch == "[":
            return {"L": self.list(depth)}
        if ch == '"':
            return {"S": self.quoted('"')}
        if self.peek(3) == "'''":
            return {"S": self.long_strings()}
        if ch == "(":
            raise self.fail("Ion s-expressions have no DynamoDB type")
        if ch == "'":
            raise self.fail("Ion symbols have no DynamoDB type (write a string)")
        if ch.isdigit() or (ch in "+-" and self.peek(2)[1:].isdigit()):
            return {"N": self.number()}
        if self.peek(4) in ("+inf", "-inf"):
            raise self.fail("Ion floats have no exact DynamoDB number (infinity)")
        return self.keyword()

    def annotations(self) -> list[str]:
        """``name::`` prefixes, if any; leaves ``self.pos`` at the value."""
        found: list[str] = []
        while True:
            start = self.pos
            if self.peek() != "'" and not _IDENTIFIER.match(self.text, self.pos):
                return found
            if self.peek(3) == "'''":
                return found
            name = self.symbol()
            self.skip()
            if self.peek(2) != "::":
                self.pos = start
                return found
            self.pos += 2
            self.skip()
            found.append(name)

    def annotated(self, annotations: list[str], depth: int) -> AttributeValue:
        if len(annotations) != 1 or annotations[0] not in _SET_ANNOTATIONS:
            raise self.fail(
                f"unsupported annotation {'::'.join(annotations)}:: "
                "(only $dynamodb_SS, $dynamodb_NS and $dynamodb_BS on lists)"
            )
        tag = _SET_ANNOTATIONS[annotations[0]]
        if self.peek() != "[":
            raise self.fail(f"{annotations[0]}:: must annotate a list")
        members: list[str] = []
        for element in self.list(depth):
            etag, member = next(iter(element.items()))
            if etag != tag[0]:
                kind = {"S": "strings", "N": "numbers", "B": "blobs"}[tag[0]]
                raise self.fail(f"{annotations[0]} holds only {kind}")
            members.append(member)
        return {tag: members}

    def struct(self, depth: int) -> dict[str, AttributeValue]:
        self.pos += 1
        fields: dict[str, AttributeValue] = {}
        while True:
            self.skip()
            if self.peek() == "}":
                self.pos += 1
                return fields
            name = self.field_name()
            self.expect(":")
            if name in fields:
                raise self.fail(f"duplicate field '{name}'")
            fields[name] = self.value(depth + 1)
            self.skip()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                raise self.fail("expected ',' or '}' in a struct")

    def field_name(self) -> str:
        if self.peek() == '"':
            return self.quoted('"')
        if self.peek(3) == "'''":
            return self.long_strings()
        if self.peek() == "'" or _IDENTIFIER.match(self.text, self.pos):
            return self.symbol()
        raise self.fail("expected a field name")

    def list(self, depth: int) -> list[AttributeValue]:
        self.pos += 1
        items: list[AttributeValue] = []
        while True:
            self.skip()
            if self.peek() == "]":
                self.pos += 1
                return items
            items.append(self.value(depth + 1))
            self.skip()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise self.fail("expected ',' or ']' in a list")

    def blob(self) -> str:
        self.pos += 2
        self.skip()
        if self.peek() in ('"', "'"):
            raise self.fail("Ion clobs have no DynamoDB type (write a blob)")
        end = self.text.find("}}", self.pos)
        if end < 0:
            raise self.fail("unterminated blob")
        b64 = "".join(self.text[self.pos : end].split())
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise self.fail("blob is not valid base64") from None
        self.pos = end + 2
        # Re-encoded: the canonical spelling DynamoDB values use internally.
        return base64.b64encode(raw).decode("ascii")

    def number(self) -> str:
        m = _NUMERIC.match(self.text, self.pos)
        assert m is not None  # called on a digit or a sign before one
        token = m.group()
        self.pos = m.end()
        if self.peek() and self.peek() not in _STOP:
            raise self.fail(f"invalid number '{token}{self.peek()}'")
        try:
            return _number(token)
        except ValidationError as exc:
            raise self.fail(f"{exc.message}: {token[:50]}") from None
        except FormatError as exc:
            raise self.fail(str(exc)) from None

    def keyword(self) -> AttributeValue:
        m = _IDENTIFIER.match(self.text, self.pos)
        if m is None:
            found = self.peek() or "end of line"
            raise self.fail(f"expected a value, found '{found}'")
        word = m.group()
        self.pos = m.end()
        if word in ("true", "false"):
            return {"BOOL": word == "true"}
        if word == "null":
            typed = _TYPED_NULL.match(self.text, self.pos - 4)
            if typed is not None:
                self.pos = typed.end()
                if typed.group(1) != "null":
                    raise self.fail(f"typed null {typed.group()} has no DynamoDB type")
            return {"NULL": True}
        if word == "nan":
            raise self.fail("Ion floats have no exact DynamoDB number (nan)")
        raise self.fail(f"Ion symbols have no DynamoDB type (found {word[:50]})")


def _number(token: str) -> str:
    """DynamoDB number text for an Ion int or decimal token; raises ValidationError
    (DynamoDB's range and precision messages) or FormatError."""
    if token.startswith("+"):
        raise FormatError("Ion numbers take no '+' sign")
    if _HEX_INT.fullmatch(token) or _BIN_INT.fullmatch(token):
        negative = token.startswith("-")
        digits = token.lstrip("-")[2:].replace("_", "")
        if len(digits) > _MAX_RADIX_DIGITS:
            raise ValidationError(
                "Number overflow. Attempting to store a number with magnitude larger "
                "than supported range"
            )
        value = int(digits, 16 if token.lstrip("-")[1] in "xX" else 2)
        return normalize_number(f"{'-' if negative else ''}{value}")
    if _DEC_INT.fullmatch(token):
        return normalize_number(token.replace("_", ""))
    m = _DECIMAL.fullmatch(token)
    if m is not None:
        text = m["int"].replace("_", "") + "." + (m["frac"] or "").replace("_", "")
        if m["exp"] is not None:
            text += "e" + m["exp"]
        return normalize_number(text)
    if _FLOAT.fullmatch(token):
        raise FormatError(
            f"Ion floats have no exact DynamoDB number ({token[:50]}); write a decimal"
        )
    if "T" in token or token.count("-") >= 2:
        raise FormatError(f"Ion timestamps have no DynamoDB type ({token[:50]})")
    raise FormatError(f"invalid number '{token[:50]}'")


def parse_ion_line(line: bytes) -> dict[str, AttributeValue] | None:
    """The top-level struct of one line, its fields as DynamoDB values (a nested struct
    is ``{"M": ...}``), or None for a line with no value (blank, comment, or only the
    version marker).  Raises FormatError."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"invalid UTF-8 at byte {exc.start}") from None
    parser = _Parser(text)
    result: dict[str, AttributeValue] | None = None
    while not parser.at_end():
        if parser.text.startswith("$ion_symbol_table", parser.pos):
            raise parser.fail("Ion symbol tables are not supported")
        if parser.text.startswith("$ion_1_0", parser.pos):
            end = parser.pos + len("$ion_1_0")
            if end >= len(text) or text[end] in _STOP:
                parser.pos = end
                continue
        if _VERSION_MARKER.match(text, parser.pos):
            raise parser.fail("unsupported Ion version marker (only $ion_1_0)")
        if result is not None:
            raise parser.fail("more than one value on a line")
        if parser.peek() != "{" or parser.peek(2) == "{{":
            raise parser.fail("a line must hold one struct")
        value = parser.value(0)
        result = value["M"]
    return result


def _only(fields: dict[str, AttributeValue], name: str) -> dict[str, AttributeValue]:
    """The struct under the line's single field ``name``."""
    if name not in fields:
        raise FormatError(f"the line has no {name} field")
    extra = sorted(k for k in fields if k != name)
    if extra:
        raise FormatError(f"unexpected field '{extra[0]}' next to {name}")
    inner = fields[name].get("M")
    if inner is None:
        raise FormatError(f"{name} must be a struct")
    result: dict[str, AttributeValue] = inner
    return result


def decode_ion_item_line(line: bytes, key_schema: KeySchema | None = None) -> Item | None:
    """The item of one import line ``$ion_1_0 {Item:{...}}``, validated (see
    :func:`~.records.checked_item`), or None for a line without a value.  Raises
    FormatError."""
    fields = parse_ion_line(line)
    if fields is None:
        return None
    return checked_item(_only(fields, "Item"), key_schema)


def _image(fields: dict[str, AttributeValue], name: str) -> Item | None:
    av = fields.get(name)
    if av is None:
        return None
    if "M" not in av:
        raise FormatError(f"{name} must be a struct")
    return checked_item(av["M"])


def decode_ion_change_line(line: bytes) -> ChangeRecord | None:
    """One incremental-export line ``$ion_1_0 {Record:{...}}``, validated, or None for
    a line without a value.  Raises FormatError."""
    fields = parse_ion_line(line)
    if fields is None:
        return None
    record = _only(fields, "Record")
    extra = sorted(set(record) - {"Keys", "Metadata", "OldImage", "NewImage"})
    if extra:
        raise FormatError(f"unexpected field '{extra[0]}' in Record")
    meta = record.get("Metadata", {}).get("M")
    stamp = meta.get("WriteTimestampMicros", {}).get("N") if isinstance(meta, dict) else None
    if not isinstance(stamp, str) or not stamp.isdigit():
        raise FormatError("Record needs Metadata:{WriteTimestampMicros:<non-negative integer>}")
    keys = _image(record, "Keys")
    if keys is None:
        raise FormatError("Record has no Keys field")
    return ChangeRecord(int(stamp), keys, _image(record, "OldImage"), _image(record, "NewImage"))
