"""KeyConditionExpression: a condition restricted to the key schema.

DynamoDB parses it with the condition grammar and validator (so syntax, placeholder,
operand-type and BETWEEN errors read ``Invalid KeyConditionExpression: ...``), then
checks its shape - a conjunction of at most one condition per key attribute, each
comparing the bare attribute with constants - and finally matches it to the schema.
Texts: dynalite's query tests (recorded from DynamoDB), moto's and a test suite pinned
against AWS for the newer wordings; see the package report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from regions.errors import ValidationError
from regions.expressions.ast import (
    And,
    AttributeValue,
    Between,
    Comparison,
    Condition,
    FunctionCall,
    In,
    KeyCondition,
    Not,
    Operand,
    Or,
    PathOperand,
    ValueOperand,
)
from regions.expressions.context import ExpressionContext
from regions.expressions.evaluate import parse_condition_tree
from regions.expressions.validate import invalid

__all__ = ["KeyTerms", "parse_key_condition", "parse_key_terms"]

_KIND: Final = "KeyConditionExpression"
_FLIPPED: Final = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_BAD_FUNCTIONS: Final = frozenset(
    {"attribute_exists", "attribute_not_exists", "attribute_type", "contains"}
)


def _error(message: str) -> ValidationError:
    return invalid(_KIND, message)


def _bad_operator(name: str) -> ValidationError:
    return _error(f"Invalid operator used in KeyConditionExpression: {name}")


def _key_term(
    node: Condition,
    operands: tuple[Operand, ...],
    found: dict[str, tuple[str, tuple[AttributeValue, ...]]],
) -> None:
    """Record one key condition (comparison, BETWEEN or begins_with) in ``found``."""
    attribute: str | None = None
    position = 0
    for i, op in enumerate(operands):
        if isinstance(op, PathOperand):
            if attribute is not None:
                raise _error(
                    "Invalid condition in KeyConditionExpression: "
                    "Multiple attribute names used in one condition"
                )
            if len(op.path) > 1:
                raise _error("KeyConditionExpressions cannot have conditions on nested attributes")
            head = op.path[0]
            assert isinstance(head, str)
            attribute, position = head, i
        elif isinstance(op, FunctionCall):
            raise _error("KeyConditionExpressions cannot contain nested operations")
    if attribute is None:
        raise _error("Invalid condition in KeyConditionExpression: No key attribute specified")
    if attribute in found:
        raise _error("KeyConditionExpressions must only contain one condition per key")
    values = tuple(
        op.value for op in operands if isinstance(op, ValueOperand) and op.value is not None
    )
    if isinstance(node, Comparison):
        op_name = node.op if position == 0 else _FLIPPED[node.op]
    elif isinstance(node, Between):
        op_name = "BETWEEN"
    else:
        op_name = "BEGINS_WITH"
    found[attribute] = (op_name, values)


def _collect(cond: Condition, found: dict[str, tuple[str, tuple[AttributeValue, ...]]]) -> None:
    if isinstance(cond, Or):
        raise _bad_operator("OR")
    if isinstance(cond, Not):
        raise _bad_operator("NOT")
    if isinstance(cond, In):
        raise _bad_operator("IN")
    if isinstance(cond, And):
        for sub in cond.operands:
            _collect(sub, found)
        return
    if isinstance(cond, Comparison):
        if cond.op == "<>":
            raise _bad_operator("<>")
        _key_term(cond, (cond.left, cond.right), found)
        return
    if isinstance(cond, Between):
        if not isinstance(cond.operand, PathOperand):
            raise _error(
                "Invalid condition in KeyConditionExpression: "
                "BETWEEN operator must have the key attribute as its first operand"
            )
        _key_term(cond, (cond.operand, cond.low, cond.high), found)
        return
    if cond.name in _BAD_FUNCTIONS:
        raise _bad_operator(cond.name)
    # Validation leaves begins_with as the only other function here.
    if not isinstance(cond.args[0], PathOperand):
        raise _error(
            "Invalid condition in KeyConditionExpression: "
            "begins_with operator must have the key attribute as its first operand"
        )
    _key_term(cond, cond.args, found)


def _check_values(key_type: str, values: tuple[AttributeValue, ...]) -> None:
    for value in values:
        if next(iter(value)) != key_type:
            raise ValidationError(
                "One or more parameter values were invalid: "
                "Condition parameter type does not match schema type"
            )


def _check_not_empty(name: str, values: tuple[AttributeValue, ...]) -> None:
    for value in values:
        if value.get("S") == "" or value.get("B") == "":
            raise ValidationError(
                "One or more parameter values are not valid. The AttributeValue for a key "
                f"attribute cannot contain an empty string value. Key: {name}"
            )


@dataclass(frozen=True, slots=True)
class KeyTerms:
    """A KeyConditionExpression parsed and checked for shape (one condition per
    attribute, each on a bare attribute), not yet matched to a key schema: the part
    that needs no table, so a request can be decoded before its table is looked up.
    ``terms`` are ``(attribute, operator, values)`` in the order written."""

    terms: tuple[tuple[str, str, tuple[AttributeValue, ...]], ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The attributes it constrains."""
        return tuple(name for name, _, _ in self.terms)

    def resolve(
        self,
        hash_name: str,
        hash_type: str,
        range_name: str | None,
        range_type: str | None,
    ) -> KeyCondition:
        """Match it to a key schema (``*_type`` is S, N or B): see
        :func:`parse_key_condition` for the errors."""
        found = {name: (op, values) for name, op, values in self.terms}
        schema_size = 1 if range_name is None else 2
        if len(found) > schema_size:
            raise ValidationError(
                f"The number of query conditions ({len(found)}) exceeds the number of key "
                f"attributes defined in the schema ({schema_size})"
            )
        if hash_name not in found:
            raise ValidationError(f"Query condition missed key schema element: {hash_name}")
        if len(found) == 2 and range_name not in found:
            raise ValidationError(f"Query condition missed key schema element: {range_name}")
        hash_op, hash_values = found[hash_name]
        _check_values(hash_type, hash_values)
        if hash_op != "=":
            raise ValidationError("Query key condition not supported")
        _check_not_empty(hash_name, hash_values)
        range_op: str | None = None
        range_values: tuple[AttributeValue, ...] = ()
        if range_name is not None and range_type is not None and range_name in found:
            range_op, range_values = found[range_name]
            _check_values(range_type, range_values)
            _check_not_empty(range_name, range_values)
        return KeyCondition(hash_values[0], range_op, range_values)


def parse_key_terms(expr: str, ctx: ExpressionContext) -> KeyTerms:
    """Parse a KeyConditionExpression up to its shape, without a key schema (syntax,
    placeholders, operators, one condition per key attribute)."""
    cond = parse_condition_tree(expr, ctx, _KIND)
    found: dict[str, tuple[str, tuple[AttributeValue, ...]]] = {}
    _collect(cond, found)
    return KeyTerms(tuple((name, op, values) for name, (op, values) in found.items()))


def parse_key_condition(
    expr: str,
    ctx: ExpressionContext,
    hash_name: str,
    hash_type: str,
    range_name: str | None,
    range_type: str | None,
) -> KeyCondition:
    """Parse a KeyConditionExpression against a key schema (``*_type`` is S, N or B):
    :func:`parse_key_terms`, then :meth:`KeyTerms.resolve`.

    The partition key needs ``=``; the optional sort key condition may be ``= < <= > >=``,
    BETWEEN or ``begins_with``; operands may be reversed (``:v < sk``) and parenthesised.
    Raises ValidationError with DynamoDB's texts, e.g. ``Query key condition not
    supported``, ``Query condition missed key schema element: pk``,
    ``Invalid KeyConditionExpression: KeyConditionExpressions must only contain one
    condition per key``, ``One or more parameter values were invalid: Condition parameter
    type does not match schema type``.
    """
    return parse_key_terms(expr, ctx).resolve(hash_name, hash_type, range_name, range_type)
