"""Request-level handling of DynamoDB's legacy parameters (Expected, ConditionalOperator,
AttributeUpdates, AttributesToGet, KeyConditions, QueryFilter, ScanFilter).

The translation itself lives in :mod:`regions.expressions.legacy`; this module adds what
depends on the request as a whole: the shape checks of the legacy members (reported
with the other constraint failures of the request), the rule that legacy and expression
parameters do not mix, and the Select rules for AttributesToGet.
"""

from __future__ import annotations

from typing import Any

from api.dynamodb.shapes import Shape
from regions import expressions as ex
from regions.errors import ValidationError
from regions.expressions.legacy import (
    ATTRIBUTE_ACTIONS,
    COMPARISON_OPERATORS,
    CONDITIONAL_OPERATORS,
)

__all__ = [
    "attributes_to_get",
    "check_shapes",
    "expected_condition",
    "filter_condition",
    "reject_mixing",
    "select_for_attributes_to_get",
]

_FILTERS = ("QueryFilter", "ScanFilter", "KeyConditions")


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def check_shapes(shape: Shape, members: tuple[str, ...]) -> None:
    """Record the shape failures of the legacy ``members`` an operation accepts (enums,
    required operators, list lengths) on ``shape``, before its ``done()``.

    Paths as DynamoDB reports them, e.g. ``scanFilter.a.member.comparisonOperator``
    (dynalite's scan suite); wrong JSON types raise SerializationError at once.
    """
    for member in members:
        if member == "ConditionalOperator":
            shape.string(member, enum=CONDITIONAL_OPERATORS)
        elif member == "AttributesToGet":
            shape.listing(member, min_len=1, max_len=255)
        else:
            entries = shape.mapping(member) or {}
            for name, spec in entries.items():
                if spec is None:
                    continue
                sub = shape.child(spec, f"{_camel(member)}.{name}.member")
                if member == "AttributeUpdates":
                    sub.string("Action", enum=ATTRIBUTE_ACTIONS)
                    sub.mapping("Value")
                    continue
                sub.string(
                    "ComparisonOperator", required=member in _FILTERS, enum=COMPARISON_OPERATORS
                )
                sub.listing("AttributeValueList")
                if member == "Expected":
                    sub.boolean("Exists")
                    sub.mapping("Value")


def reject_mixing(
    body: dict[str, Any], non_expression: tuple[str, ...], expression: tuple[str, ...]
) -> None:
    """Legacy and expression parameters may not be combined.

    Both lists in DynamoDB's order for the operation, e.g. UpdateItem's
    ``{AttributeUpdates, Expected, ConditionalOperator}`` and ``{UpdateExpression,
    ConditionExpression}`` (dynalite's suites; ExtendDB's tests run against DynamoDB).
    A member counts as given when it is not null, even if empty.
    """
    legacy = [p for p in non_expression if body.get(p) is not None]
    modern = [p for p in expression if body.get(p) is not None]
    if legacy and modern:
        raise ValidationError(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(legacy)}}} "
            f"Expression parameters: {{{', '.join(modern)}}}"
        )


def expected_condition(body: dict[str, Any]) -> ex.ParsedCondition | None:
    """The check of ``Expected`` + ``ConditionalOperator``, or None without Expected
    (its tree names the attributes Expected refers to)."""
    expected = body.get("Expected")
    operator = body.get("ConditionalOperator")
    if expected is None:
        ex.check_conditional_operator(None, operator)
        return None
    return ex.ParsedCondition(ex.expected_to_condition(expected, operator))


def filter_condition(body: dict[str, Any], member: str) -> ex.ParsedCondition | None:
    """``QueryFilter`` or ``ScanFilter`` (+ ``ConditionalOperator``) as a condition."""
    conditions = body.get(member)
    operator = body.get("ConditionalOperator")
    if conditions is None:
        ex.check_conditional_operator(None, operator)
        return None
    return ex.ParsedCondition(ex.filter_to_condition(conditions, operator, member))


def attributes_to_get(body: dict[str, Any]) -> list[ex.Path] | None:
    names = body.get("AttributesToGet")
    return None if names is None else ex.attributes_to_get_paths(names)


def select_for_attributes_to_get(body: dict[str, Any], select: str, prefix: str) -> str:
    """The effective Select once AttributesToGet is taken into account: it implies
    SPECIFIC_ATTRIBUTES and excludes every other Select.

    Text from moto's AWS-verified tests: ``Cannot specify the AttributesToGet when
    choosing to get ALL_ATTRIBUTES`` (``only the Count`` for COUNT), which Query prefixes
    with ``1 validation error detected: `` and Scan does not.
    """
    if body.get("AttributesToGet") is None:
        return select
    if body.get("Select") is None:
        return "SPECIFIC_ATTRIBUTES"
    if select != "SPECIFIC_ATTRIBUTES":
        what = "only the Count" if select == "COUNT" else select
        raise ValidationError(
            f"{prefix}Cannot specify the AttributesToGet when choosing to get {what}"
        )
    return select
