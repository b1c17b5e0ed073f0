"""Shape checks of request members (types, enums, lengths, presence), DynamoDB-worded.

This is the edge tier of validation: it checks that the JSON has the shape the
API model declares and nothing about meaning (key schemas, item contents), which
``regions/`` checks.  Wrong JSON types are SerializationExceptions, as the Coral
front end reports them; constraint failures are collected and reported together
as one ValidationException, ``N validation errors detected: ...; ...``.
"""

from __future__ import annotations

import re
from typing import Any

from regions.errors import SerializationError, ValidationError

__all__ = ["Shape"]

_ARN_PREFIX = "arn:"
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]+")


def _json_kind(value: object) -> str:
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "VALUE_STRING"
    return "VALUE"


def _wrong_type(value: object, expected: str) -> SerializationError:
    if isinstance(value, dict):
        return SerializationError("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return SerializationError("Start of list found where not expected")
    return SerializationError(f"{_json_kind(value)} cannot be converted to {expected}")


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _show(value: object) -> str:
    return "null" if value is None else str(value)


class Shape:
    """Reads members of one request body, collecting constraint failures."""

    def __init__(self, body: dict[str, Any], prefix: str = "") -> None:
        self.body = body
        self.prefix = prefix
        self.errors: list[str] = []

    def _member(self, name: str) -> str:
        return f"{self.prefix}{_camel(name)}"

    def fail(self, name: str, value: object, constraint: str) -> None:
        self.errors.append(
            f"Value '{_show(value)}' at '{self._member(name)}' failed to satisfy constraint: {constraint}"
            if value is not None
            else f"Value null at '{self._member(name)}' failed to satisfy constraint: {constraint}"
        )

    def done(self) -> None:
        if self.errors:
            n = len(self.errors)
            raise ValidationError(
                f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(self.errors)
            )

    # -- typed getters: JSON type errors raise at once, constraints accumulate

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        min_len: int | None = None,
        max_len: int | None = None,
        enum: tuple[str, ...] | None = None,
        pattern: str | None = None,
    ) -> str | None:
        value = self.body.get(name)
        if value is None:
            if required:
                self.fail(name, None, "Member must not be null")
            return None
        if not isinstance(value, str):
            raise _wrong_type(value, "String")
        # the pattern before the lengths, as Coral lists them (dynalite's recordings)
        if pattern is not None and re.fullmatch(pattern, value) is None:
            self.fail(name, value, f"Member must satisfy regular expression pattern: {pattern}")
        if min_len is not None and len(value) < min_len:
            self.fail(name, value, f"Member must have length greater than or equal to {min_len}")
        if max_len is not None and len(value) > max_len:
            self.fail(name, value, f"Member must have length less than or equal to {max_len}")
        if enum is not None and value not in enum:
            self.fail(name, value, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        return value

    def table_name(self, name: str = "TableName") -> str:
        # TableName also takes an ARN (botocore allows 1..1024 for that reason), so a
        # plain name gets DynamoDB's own 3..255 and pattern rule here: without it a
        # 2-character name would reach the catalog and come back ResourceNotFound
        value = self.string(name, required=True, min_len=1, max_len=1024)
        if value is not None and not value.startswith(_ARN_PREFIX):
            if len(value) < 3:
                self.fail(name, value, "Member must have length greater than or equal to 3")
            if len(value) > 255:
                self.fail(name, value, "Member must have length less than or equal to 255")
            if _TABLE_NAME.fullmatch(value) is None:
                self.fail(
                    name,
                    value,
                    f"Member must satisfy regular expression pattern: {_TABLE_NAME.pattern}",
                )
        return value or ""

    def boolean(self, name: str) -> bool | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise _wrong_type(value, "Boolean")
        return value

    def integer(self, name: str, *, min_value: int | None = None, max_value: int | None = None) -> int | None:
        value = self.body.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(value, "Long")
        ivalue = int(value)
        if min_value is not None and ivalue < min_value:
            self.fail(name, ivalue, f"Member must have value greater than or equal to {min_value}")
        if max_value is not None and ivalue > max_value:
            self.fail(name, ivalue, f"Member must have value less than or equal to {max_value}")
        return ivalue

    def mapping(self, name: str, *, required: bool = False) -> dict[str, Any] | None:
        value = self.body.get(name)
        if value is None:
            if required:
                self.fail(name, None, "Member must not be null")
            return None
        if not isinstance(value, dict):
            raise _wrong_type(value, "Map")
        return value

    def listing(
        self, name: str, *, required: bool = False, min_len: int | None = None, max_len: int | None = None
    ) -> list[Any] | None:
        value = self.body.get(name)
        if value is None:
            if required:
                self.fail(name, None, "Member must not be null")
            return None
        if not isinstance(value, list):
            raise _wrong_type(value, "List")
        if min_len is not None and len(value) < min_len:
            self.fail(name, value, f"Member must have length greater than or equal to {min_len}")
        if max_len is not None and len(value) > max_len:
            self.fail(name, value, f"Member must have length less than or equal to {max_len}")
        return value

    def struct(self, name: str, *, required: bool = False) -> Shape | None:
        value = self.mapping(name, required=required)
        if value is None:
            return None
        sub = Shape(value, prefix=f"{self._member(name)}.")
        # one error list per request: a nested member's failure must reach done()
        sub.errors = self.errors
        return sub

    def child(self, value: object, path: str) -> Shape:
        """A nested structure (list element) sharing this shape's error list."""
        if not isinstance(value, dict):
            raise _wrong_type(value, "Structure")
        sub = Shape(value, prefix=f"{self.prefix}{path}.")
        sub.errors = self.errors
        return sub
