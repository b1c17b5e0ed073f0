"""KeyConditionExpression: a condition restricted to the key schema.

DynamoDB parses it with the condition grammar and validator (so syntax, placeholder,
operand-type and BETWEEN errors read ``Invalid KeyConditionExpression: ...``), then
checks its shape - a conjunction of at most one condition per key attribute, each
comparing the bare attribute with constants - and finally matches it to the schema.
Texts: dynalite's query tests (recorded from DynamoDB), moto's and a test suite pinned
against AWS for the newer wordings; see the package report.

A GSI with a multi-attribute key (several HASH or RANGE attributes) takes the rules of
the Developer Guide's "Multi-attribute key schema": "you must specify all partition
key attributes using equality conditions"; sort key attributes are used "left-to-right
in the order they're defined in the key schema ... but you cannot skip attributes in
the middle. Inequality conditions such as >, <, BETWEEN, or begins_with() must be the
last condition in your query" (:func:`resolve_multi`).  DynamoDB's texts for those two
errors were not found: ours start with its ``Query key condition not supported`` and
name the attributes (see the function).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

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
from regions.keys import KeySchema

__all__ = [
    "IndexKeyCondition",
    "KeyTerms",
    "parse_key_condition",
    "parse_key_terms",
    "resolve_multi",
]

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
class IndexKeyCondition:
    """A key condition matched to a key schema, single- or multi-attribute.

    ``hash_values`` are the partition-key values in KeySchema order; ``range_prefix``
    the values of the leading sort-key attributes held equal; ``range_op`` /
    ``range_values`` the condition on the next sort-key attribute (as
    :class:`KeyCondition`'s), or None.  For a single-attribute key ``range_prefix`` is
    empty and the members read as a :class:`KeyCondition`'s.
    """

    hash_values: tuple[AttributeValue, ...]
    range_prefix: tuple[AttributeValue, ...]
    range_op: str | None
    range_values: tuple[AttributeValue, ...]

    @property
    def hash_value(self) -> AttributeValue:
        """The (first) partition-key value."""
        return self.hash_values[0]

    @classmethod
    def single(cls, kc: KeyCondition) -> IndexKeyCondition:
        return cls((kc.hash_value,), (), kc.range_op, kc.range_values)


#: the legacy KeyConditions operators a key condition may use, as expression operators
_LEGACY_OPERATORS: Final = {
    "EQ": "=", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">",
    "BETWEEN": "BETWEEN", "BEGINS_WITH": "BEGINS_WITH",
}  # fmt: skip
_MSG_NOT_SUPPORTED: Final = "Query key condition not supported"


def _hash_error(schema: KeySchema, name: str, missing: bool) -> ValidationError:
    if not schema.more_hash:
        # one partition-key attribute: the single-attribute texts
        if missing:
            return ValidationError(f"Query condition missed key schema element: {name}")
        return ValidationError(_MSG_NOT_SUPPORTED)
    return ValidationError(
        f"{_MSG_NOT_SUPPORTED}: every HASH key attribute needs an equality condition, "
        f"and HASH key attribute {name} has none"
    )


def _range_error(later: str, earlier: str) -> ValidationError:
    return ValidationError(
        f"{_MSG_NOT_SUPPORTED}: RANGE key attribute {later} has a condition, so every "
        f"RANGE key attribute before it needs an equality condition, and {earlier} has none"
    )


class _Terms(Protocol):
    """A key condition parsed without its table: KeyTerms, or the legacy
    KeyConditionsTerms (regions/expressions/legacy.py)."""

    @property
    def terms(self) -> tuple[tuple[str, str, tuple[AttributeValue, ...]], ...]: ...

    def resolve(
        self, hash_name: str, hash_type: str, range_name: str | None, range_type: str | None
    ) -> KeyCondition: ...


def match_schema(source: _Terms, schema: KeySchema, *, legacy: bool) -> IndexKeyCondition:
    """Match a parsed key condition to a key schema: a multi-attribute one (a GSI's)
    by :func:`resolve_multi`, which takes the legacy KeyConditions as well (DynamoDB
    accepts them there: ScyllaDB's test suite, run against it, scylladb/scylladb#31393),
    a single-attribute one by the source's own ``resolve``."""
    if schema.multi:
        return resolve_multi(source.terms, schema, legacy=legacy)
    rng = schema.range
    return IndexKeyCondition.single(
        source.resolve(
            schema.hash.name,
            schema.hash.type,
            rng.name if rng else None,
            rng.type if rng else None,
        )
    )


def resolve_multi(
    terms: tuple[tuple[str, str, tuple[AttributeValue, ...]], ...],
    schema: KeySchema,
    *,
    legacy: bool = False,
) -> IndexKeyCondition:
    """Match key conditions to a multi-attribute key schema (a GSI's).

    ``terms`` are ``(attribute, operator, values)``: expression operators, or the
    legacy ``ComparisonOperator`` names with ``legacy``.  In order: more conditions
    than key attributes (DynamoDB's ``The number of query conditions ...``); each
    HASH attribute, in KeySchema order, needs an ``=`` condition with a value of its
    type; a condition on a non-key attribute reports the first unconstrained RANGE
    attribute as missed (as for a single sort key); the RANGE attributes used must be
    a leading run of the KeySchema's, every one but the last with ``=``.
    """
    found: dict[str, tuple[str, tuple[AttributeValue, ...]]] = {}
    for name, op, values in terms:
        if legacy:
            if op not in _LEGACY_OPERATORS:
                raise ValidationError(
                    "Attempted conditional constraint is not an indexable operation"
                )
            op = _LEGACY_OPERATORS[op]
        found[name] = (op, values)
    size = len(schema.attrs)
    if len(found) > size:
        raise ValidationError(
            f"The number of query conditions ({len(found)}) exceeds the number of key "
            f"attributes defined in the schema ({size})"
        )
    hash_values: list[AttributeValue] = []
    for attr in schema.hash_attrs:
        if attr.name not in found:
            raise _hash_error(schema, attr.name, missing=True)
        op, values = found[attr.name]
        _check_values(attr.type, values)
        if op != "=":
            raise _hash_error(schema, attr.name, missing=False)
        _check_not_empty(attr.name, values)
        hash_values.append(values[0])
    ranges = schema.range_attrs
    used = [i for i, attr in enumerate(ranges) if attr.name in found]
    if len(found) > len(schema.hash_attrs) + len(used):
        missed = next((a.name for a in ranges if a.name not in found), schema.hash.name)
        raise ValidationError(f"Query condition missed key schema element: {missed}")
    if not used:
        return IndexKeyCondition(tuple(hash_values), (), None, ())
    last = used[-1]
    prefix: list[AttributeValue] = []
    for i in range(last + 1):
        attr = ranges[i]
        if attr.name not in found:
            raise _range_error(ranges[last].name, attr.name)
        op, values = found[attr.name]
        _check_values(attr.type, values)
        _check_not_empty(attr.name, values)
        if i < last:
            if op != "=":
                raise _range_error(ranges[last].name, attr.name)
            prefix.append(values[0])
    op, values = found[ranges[last].name]
    return IndexKeyCondition(tuple(hash_values), tuple(prefix), op, values)


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

    def resolve_for(self, schema: KeySchema) -> IndexKeyCondition:
        """Match it to a key schema, single- or multi-attribute."""
        return match_schema(self, schema, legacy=False)


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
