"""ExpressionAttributeNames/Values of one request, shared by all its expressions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from regions.errors import ValidationError
from regions.expressions.ast import AttributeValue
from regions.types import MAX_ATTRIBUTE_NAME_BYTES, expect_string, validate_value

__all__ = ["MSG_NAME_TOO_LARGE", "ExpressionContext", "check_name_size"]

# The placeholder token rules of the expression lexer; DynamoDB parses each key with it.
_NAME_KEY: Final = re.compile(r"#[A-Za-z0-9_]+", re.ASCII)
_VALUE_KEY: Final = re.compile(r":[A-Za-z0-9_]+", re.ASCII)
_MAX_KEY_BYTES: Final = 255
#: An attribute name longer than 65535 UTF-8 bytes: DynamoDB's answer to UpdateItem's
#: ``SET #n = :v`` with ``#n`` naming one (measured on the service, ExtendDB/extenddb#365,
#: 2026-09-16).  ProjectionExpression's and AttributesToGet's names are refused too
#: (ScyllaDB Alternator's test_limit_attribute_length_nonkey_bad, run against DynamoDB,
#: whose match only shows the text names 65535 or 65536).
MSG_NAME_TOO_LARGE: Final = (
    "1 validation error detected: Attribute name is too large, must be less than "
    f"{MAX_ATTRIBUTE_NAME_BYTES + 1} bytes"
)


def check_name_size(name: str) -> None:
    """Refuse an attribute name of more than 65535 UTF-8 bytes."""
    # a code point is at most 4 UTF-8 bytes, so a short name needs no encoding
    if (
        len(name) > MAX_ATTRIBUTE_NAME_BYTES // 4
        and len(name.encode("utf-8", "surrogatepass")) > MAX_ATTRIBUTE_NAME_BYTES
    ):
        raise ValidationError(MSG_NAME_TOO_LARGE)


def _check_key(map_name: str, key: str, pattern: re.Pattern[str]) -> None:
    # DynamoDB Local checks the length before parsing the key as a placeholder token.
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > _MAX_KEY_BYTES:
        raise ValidationError(
            f"{map_name} contains invalid key: The expression attribute map contains a key "
            f"that is too long; size of key: {size}"
        )
    if not pattern.fullmatch(key):
        raise ValidationError(f'{map_name} contains invalid key: Syntax error; key: "{key}"')


class ExpressionContext:
    """Holds ExpressionAttributeNames/Values of ONE request and tracks which were used
    across all its expressions.

    Build one per request, parse every expression of the request with it, then call
    :meth:`check_all_used`: DynamoDB rejects a placeholder that no expression uses, and
    decides this from the parsed expressions (before any evaluation could short-circuit).

    Raises ValidationError for a map given but empty, a key that is not a placeholder
    token or is longer than 255 bytes, or an invalid value (wrapped as DynamoDB words it:
    ``ExpressionAttributeValues contains invalid value: <why> for key :v``).  Values are
    kept in canonical form (numbers normalised, sets sorted).
    """

    def __init__(
        self, names: dict[str, str] | None, values: dict[str, AttributeValue] | None
    ) -> None:
        if names is not None:
            # A name of another JSON type fails deserialisation, before any validation:
            # SerializationException (Alternator's test_transact.py, run against
            # DynamoDB: {"#xyz": 7} in a TransactWriteItems action).
            for name in names.values():
                expect_string(name)
        # Order and wording from dynalite's validateExpressions (recorded from DynamoDB).
        if names is not None:
            if not names:
                raise ValidationError("ExpressionAttributeNames must not be empty")
            for key in names:
                _check_key("ExpressionAttributeNames", key, _NAME_KEY)
            for key, name in names.items():
                if name == "":
                    # Unverified wording: modelled on the values message below.
                    raise ValidationError(
                        "ExpressionAttributeNames contains invalid value: "
                        f"Empty attribute name for key {key}"
                    )
                check_name_size(name)
        canonical: dict[str, AttributeValue] = {}
        if values is not None:
            if not values:
                raise ValidationError("ExpressionAttributeValues must not be empty")
            for key in values:
                _check_key("ExpressionAttributeValues", key, _VALUE_KEY)
            for key, value in values.items():
                try:
                    canonical[key] = validate_value(value)
                except ValidationError as exc:
                    raise ValidationError(
                        f"ExpressionAttributeValues contains invalid value: {exc.message} "
                        f"for key {key}"
                    ) from None
        self.names: dict[str, str] = dict(names or {})
        self.values: dict[str, AttributeValue] = canonical
        self._used_names: set[str] = set()
        self._used_values: set[str] = set()

    def name(self, ref: str) -> str | None:
        """The attribute name behind ``#ref``, or None if undefined."""
        return self.names.get(ref)

    def value(self, ref: str) -> AttributeValue | None:
        """The canonical value behind ``:ref``, or None if undefined."""
        return self.values.get(ref)

    def mark_used(self, names: Iterable[str], values: Iterable[str]) -> None:
        """Record placeholders referenced by a successfully parsed expression."""
        self._used_names.update(names)
        self._used_values.update(values)

    def check_all_used(self) -> None:
        """Raise ValidationError if a provided placeholder was used by no expression.

        Names are checked before values, as dynalite records DynamoDB doing.
        """
        unused_names = [k for k in self.names if k not in self._used_names]
        if unused_names:
            raise ValidationError(
                "Value provided in ExpressionAttributeNames unused in expressions: "
                f"keys: {{{', '.join(unused_names)}}}"
            )
        unused_values = [k for k in self.values if k not in self._used_values]
        if unused_values:
            raise ValidationError(
                "Value provided in ExpressionAttributeValues unused in expressions: "
                f"keys: {{{', '.join(unused_values)}}}"
            )
