"""DynamoDB's legacy (pre-expression) parameters, translated to the expression engine.

``Expected``, ``QueryFilter``/``ScanFilter``, ``KeyConditions``, ``AttributesToGet`` and
``AttributeUpdates`` predate expressions; DynamoDB still accepts them (Developer Guide,
LegacyConditionalParameters).  Each is validated here with DynamoDB's own texts and
turned into the syntax-tree nodes of :mod:`regions.expressions.ast`, so one evaluator
serves both generations.  Pure: no I/O.

Semantics and texts, with their sources:

* Validation order and wording follow dynalite's ``validateAttributeConditions`` /
  ``validateConditions`` and its updateItem/scan/query suites (recorded from DynamoDB):
  ``One or more parameter values were invalid: Invalid number of argument(s) for the EQ
  ComparisonOperator``, ``... ComparisonOperator LT is not valid for SS AttributeValue
  type``, ``... AttributeValues inside AttributeValueList must be of same type``,
  ``The BETWEEN condition was provided a range where the lower bound is greater than the
  upper bound``, ``... Value must be provided when Exists is true for Attribute: a`` ...
* Evaluation follows alternator's test_expected.py (run against DynamoDB): a missing
  attribute makes EQ, ordering, BETWEEN, IN, CONTAINS *and NOT_CONTAINS* false, and NE
  true; NULL / NOT_NULL test existence only; operands of another type just don't match.
  Every operator maps onto an expression node except NOT_CONTAINS, which is
  ``attribute_exists(a) AND NOT contains(a, v)`` (``NOT contains`` alone would be true
  for a missing attribute).
* ``ConditionalOperator`` needs at least two conditions (texts from a suite run against
  DynamoDB, ExtendDB's tests/test_conditional_operator.py).
* ``AttributeUpdates`` (alternator's test_item.py, dynalite's updateItem suite): ADD also
  appends to lists and creates a missing number/set/list; DELETE without a value removes
  the attribute, with a set value removes elements; an update made only of DELETEs does
  not create a missing item; type clashes are ``Type mismatch for attribute to update``.
  The expression ``apply_update`` differs on all three points, hence
  :func:`apply_attribute_updates`.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from regions.errors import SerializationError, ValidationError
from regions.expressions.ast import (
    Action,
    AddAction,
    And,
    AttributeValue,
    Between,
    Comparison,
    Condition,
    DeleteAction,
    FunctionCall,
    In,
    Item,
    KeyCondition,
    Not,
    Or,
    Path,
    PathOperand,
    RemoveAction,
    SetAction,
    Update,
    UpdateResult,
    ValueOperand,
)
from regions.expressions.context import check_name_size

# Package-private helpers, shared so KeyConditions and KeyConditionExpression word their
# key-value errors identically.
from regions.expressions.key_condition import IndexKeyCondition, _check_not_empty, match_schema
from regions.expressions.key_condition import _check_values as _check_key_type
from regions.keys import KeySchema
from regions.types import compare_values, decimal_to_number, number_key, validate_value

__all__ = [
    "ATTRIBUTE_ACTIONS",
    "COMPARISON_OPERATORS",
    "CONDITIONAL_OPERATORS",
    "KeyConditionsTerms",
    "apply_attribute_updates",
    "attribute_updates_to_update",
    "attributes_to_get_paths",
    "check_conditional_operator",
    "expected_to_condition",
    "filter_to_condition",
    "key_conditions_terms",
    "key_conditions_to_key_condition",
]

#: The ComparisonOperator enum, in the order DynamoDB lists it in constraint messages
#: (dynalite's scan/query suites quote it).
COMPARISON_OPERATORS: Final = (
    "IN", "NULL", "BETWEEN", "LT", "NOT_CONTAINS", "EQ", "GT", "NOT_NULL", "NE", "LE",
    "BEGINS_WITH", "GE", "CONTAINS",
)  # fmt: skip
#: ConditionalOperator, as DynamoDB lists it (dynalite's scan suite).
CONDITIONAL_OPERATORS: Final = ("OR", "AND")
#: AttributeValueUpdate.Action, in botocore's model order (DynamoDB's own order in the
#: constraint message is unverified).
ATTRIBUTE_ACTIONS: Final = ("ADD", "PUT", "DELETE")

_INVALID: Final = "One or more parameter values were invalid: "
MSG_BETWEEN_BOUNDS: Final = (
    "The BETWEEN condition was provided a range where the lower bound is greater than the "
    "upper bound"
)
MSG_SAME_TYPE: Final = _INVALID + "AttributeValues inside AttributeValueList must be of same type"
MSG_CONDOP_WITHOUT: Final = "ConditionalOperator cannot be used without Filter or Expected"
MSG_CONDOP_ONE: Final = (
    "ConditionalOperator can only be used when Filter or Expected has two or more elements"
)
MSG_KEY_CONDITIONS_LENGTH: Final = "Conditions can be of length 1 or 2 only"
MSG_NOT_INDEXABLE: Final = "Attempted conditional constraint is not an indexable operation"
MSG_KEY_NOT_SUPPORTED: Final = "Query key condition not supported"
MSG_NO_VALUE: Final = (
    _INVALID + "Only DELETE action is allowed when no attribute value is specified"
)
MSG_TYPE_MISMATCH: Final = "Type mismatch for attribute to update"

#: How many AttributeValueList entries each operator takes: an exact count, or None
#: for "one or more" (IN).
_ARITY: Final[dict[str, int | None]] = {
    "EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "CONTAINS": 1,
    "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "NULL": 0, "NOT_NULL": 0, "IN": None,
    "BETWEEN": 2,
}  # fmt: skip

_SCALAR: Final = frozenset({"S", "N", "B"})
#: The value types each operator accepts (dynalite's validateConditions and the scan
#: suite it was recorded with).  EQ and NE take every type, lists and maps included (the
#: developer guide's LegacyConditionalParameters page).  CONTAINS is documented for S, N
#: and B; the recorded suite rejects sets, M and L but leaves BOOL and NULL untested, so
#: those two stay accepted (such a value can only match a list element).
_TYPES: Final[dict[str, frozenset[str]]] = {
    "LE": _SCALAR, "LT": _SCALAR, "GE": _SCALAR, "GT": _SCALAR, "IN": _SCALAR,
    "BETWEEN": _SCALAR, "BEGINS_WITH": frozenset({"S", "B"}),
    "CONTAINS": _SCALAR | {"BOOL", "NULL"}, "NOT_CONTAINS": _SCALAR | {"BOOL", "NULL"},
}  # fmt: skip

_COMPARATORS: Final = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_KEY_OPERATORS: Final = {
    "EQ": "=", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">",
    "BETWEEN": "BETWEEN", "BEGINS_WITH": "BEGINS_WITH",
}  # fmt: skip
_SET_TYPES: Final = frozenset({"SS", "NS", "BS"})
_ADDABLE: Final = _SET_TYPES | {"N", "L"}

#: Wide enough that the sum of two in-range numbers is exact; ``decimal_to_number`` then
#: holds the result to DynamoDB's 38 digits and range.
_EXACT: Final = decimal.Context(prec=400, Emax=999_999, Emin=-999_999)


# --- shared checks --------------------------------------------------------------------


def _tag(value: AttributeValue) -> str:
    return next(iter(value))


def _enum_error(member: str, value: object, allowed: tuple[str, ...]) -> ValidationError:
    """A constraint failure worded like the edge's shape checks (``api/dynamodb/shapes``);
    the API layer normally reports it first, together with other shape failures."""
    shown = "null" if value is None else f"'{value}'"
    constraint = (
        "Member must not be null"
        if value is None
        else f"Member must satisfy enum value set: [{', '.join(allowed)}]"
    )
    return ValidationError(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _struct(value: object) -> Mapping[str, Any]:
    """One map entry's structure (JSON null is an empty one, as DynamoDB reads it)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SerializationError(
            "Start of list found where not expected"
            if isinstance(value, list)
            else "Unexpected value type in payload"
        )
    return value


def _value_list(spec: Mapping[str, Any]) -> list[AttributeValue] | None:
    """AttributeValueList, validated and canonical; None when absent."""
    raw = spec.get("AttributeValueList")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise SerializationError(
            "Start of structure or map found where not expected."
            if isinstance(raw, dict)
            else "Unexpected value type in payload"
        )
    return [validate_value(v) for v in raw]


def _check_values(op: str, values: list[AttributeValue]) -> None:
    """Count, uniform type, per-operator type and BETWEEN order of an operator's values
    (dynalite's validateConditions order)."""
    arity = _ARITY[op]
    if (arity is None and not values) or (arity is not None and len(values) != arity):
        raise ValidationError(
            f"{_INVALID}Invalid number of argument(s) for the {op} ComparisonOperator"
        )
    if values and any(_tag(v) != _tag(values[0]) for v in values):
        raise ValidationError(MSG_SAME_TYPE)
    allowed = _TYPES.get(op)
    if allowed is not None:
        for v in values:
            if _tag(v) not in allowed:
                raise ValidationError(
                    f"{_INVALID}ComparisonOperator {op} is not valid for {_tag(v)} "
                    "AttributeValue type"
                )
    if op == "BETWEEN":
        order = compare_values(values[0], values[1])
        if order is not None and order > 0:
            raise ValidationError(MSG_BETWEEN_BOUNDS)


def _operator(spec: Mapping[str, Any], member: str, *, required: bool) -> str | None:
    op = spec.get("ComparisonOperator")
    if op is None:
        if required:
            raise _enum_error(member, None, COMPARISON_OPERATORS)
        return None
    if not isinstance(op, str):
        raise SerializationError("Unexpected value type in payload")
    if op not in _ARITY:
        raise _enum_error(member, op, COMPARISON_OPERATORS)
    return op


def check_conditional_operator(
    conditions: Mapping[str, Any] | None, conditional_operator: str | None
) -> None:
    """Reject a ConditionalOperator that has fewer than two conditions to combine.

    ``conditions`` is the request's Expected / QueryFilter / ScanFilter map, or None when
    the request has none.  Texts: ``ConditionalOperator cannot be used without Filter or
    Expected`` (none, or an empty map) and ``ConditionalOperator can only be used when
    Filter or Expected has two or more elements``.
    """
    if conditional_operator is None:
        return
    if conditional_operator not in CONDITIONAL_OPERATORS:
        raise _enum_error("conditionalOperator", conditional_operator, CONDITIONAL_OPERATORS)
    if not conditions:
        raise ValidationError(MSG_CONDOP_WITHOUT)
    if len(conditions) < 2:
        raise ValidationError(MSG_CONDOP_ONE)


# --- conditions -----------------------------------------------------------------------


def _node(name: str, op: str, values: list[AttributeValue]) -> Condition:
    """The expression node that evaluates one legacy condition as DynamoDB does."""
    attr = PathOperand((name,))
    operands = [ValueOperand(f":legacy{i}", v) for i, v in enumerate(values)]
    if op in _COMPARATORS:
        return Comparison(_COMPARATORS[op], attr, operands[0])
    if op == "NULL":
        return FunctionCall("attribute_not_exists", (attr,))
    if op == "NOT_NULL":
        return FunctionCall("attribute_exists", (attr,))
    if op == "IN":
        return In(attr, tuple(operands))
    if op == "BETWEEN":
        return Between(attr, operands[0], operands[1])
    if op == "BEGINS_WITH":
        return FunctionCall("begins_with", (attr, operands[0]))
    contains = FunctionCall("contains", (attr, operands[0]))
    if op == "CONTAINS":
        return contains
    # NOT_CONTAINS is false for a missing attribute, unlike NOT contains(...).
    return And((FunctionCall("attribute_exists", (attr,)), Not(contains)))


def _combine(nodes: list[Condition], conditional_operator: str | None) -> Condition:
    if len(nodes) == 1:
        return nodes[0]
    # An empty map gives And(()), which is always true: DynamoDB ignores Expected={}.
    return Or(tuple(nodes)) if conditional_operator == "OR" else And(tuple(nodes))


def _expected_one(name: str, spec: Mapping[str, Any]) -> Condition:
    """One Expected entry (dynalite's validateAttributeConditions order)."""
    where = f" for Attribute: {name}"
    has_list = spec.get("AttributeValueList") is not None
    value = spec.get("Value")
    exists = spec.get("Exists")
    if exists is not None and not isinstance(exists, bool):
        raise SerializationError("Unexpected value type in payload")
    if has_list and value is not None:
        raise ValidationError(
            f"{_INVALID}Value and AttributeValueList cannot be used together{where}"
        )
    op = _operator(spec, f"expected.{name}.member.comparisonOperator", required=False)
    if op is not None:
        if exists is not None:
            raise ValidationError(
                f"{_INVALID}Exists and ComparisonOperator cannot be used together{where}"
            )
        if op not in ("NULL", "NOT_NULL") and not has_list and value is None:
            raise ValidationError(
                f"{_INVALID}Value or AttributeValueList must be used with ComparisonOperator: "
                f"{op}{where}"
            )
        values = _value_list(spec) if has_list else None
        if values is None:
            values = [] if value is None else [validate_value(value)]
        _check_values(op, values)
        return _node(name, op, values)
    if has_list:
        raise ValidationError(
            f"{_INVALID}AttributeValueList can only be used with a ComparisonOperator{where}"
        )
    if exists is False:
        if value is not None:
            raise ValidationError(f"{_INVALID}Value cannot be used when Exists is false{where}")
        return _node(name, "NULL", [])
    if value is None:
        shown = "null" if exists is None else "true"
        raise ValidationError(f"{_INVALID}Value must be provided when Exists is {shown}{where}")
    return _node(name, "EQ", [validate_value(value)])


def expected_to_condition(
    expected: Mapping[str, Any], conditional_operator: str | None
) -> Condition:
    """Translate ``Expected`` (+ ``ConditionalOperator``) into a condition for
    :func:`regions.expressions.evaluate_condition`.

    Each entry is ``{Value?, Exists?}`` (Exists false: the attribute is absent; otherwise
    it equals Value) or ``{ComparisonOperator, AttributeValueList | Value}``.  Entries
    combine with AND, or OR with ``conditional_operator="OR"``; an empty map is always
    true.  Raises ValidationError with DynamoDB's texts (see the module docstring).
    """
    check_conditional_operator(expected, conditional_operator)
    nodes: list[Condition] = []
    for name, spec in expected.items():
        check_name_size(name)
        nodes.append(_expected_one(name, _struct(spec)))
    return _combine(nodes, conditional_operator)


def _filter_one(
    name: str, spec: Mapping[str, Any], member: str
) -> tuple[str, list[AttributeValue]]:
    op = _operator(spec, f"{member}.{name}.member.comparisonOperator", required=True)
    assert op is not None
    values = _value_list(spec) or []
    _check_values(op, values)
    return op, values


def filter_to_condition(
    conditions: Mapping[str, Any],
    conditional_operator: str | None,
    parameter: str = "ScanFilter",
) -> Condition:
    """Translate ``QueryFilter`` / ``ScanFilter`` (``{attr: {ComparisonOperator,
    AttributeValueList}}``) into a condition; ``parameter`` names the map in constraint
    messages.  Validation as dynalite's validateConditions: attribute values, the
    operator's number of values, one type for all of them, the types the operator
    accepts, BETWEEN's bounds in order.
    """
    check_conditional_operator(conditions, conditional_operator)
    nodes: list[Condition] = []
    for name, spec in conditions.items():
        check_name_size(name)
        op, values = _filter_one(name, _struct(spec), _camel(parameter))
        nodes.append(_node(name, op, values))
    return _combine(nodes, conditional_operator)


@dataclass(frozen=True, slots=True)
class KeyConditionsTerms:
    """Query's ``KeyConditions`` with each condition checked (its operator and values),
    not yet matched to a key schema: the part that needs no table.  ``terms`` are
    ``(attribute, ComparisonOperator, values)`` in the order given."""

    terms: tuple[tuple[str, str, tuple[AttributeValue, ...]], ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The attributes it constrains."""
        return tuple(name for name, _, _ in self.terms)

    def resolve_for(self, schema: KeySchema) -> IndexKeyCondition:
        """Match it to a key schema, single- or multi-attribute."""
        return match_schema(self, schema, legacy=True)

    def resolve(
        self,
        hash_name: str,
        hash_type: str,
        range_name: str | None,
        range_type: str | None,
    ) -> KeyCondition:
        """Match it to a key schema: see :func:`key_conditions_to_key_condition`."""
        parsed = {name: (op, values) for name, op, values in self.terms}
        if len(parsed) not in (1, 2):
            raise ValidationError(MSG_KEY_CONDITIONS_LENGTH)
        if range_name is None and len(parsed) > 1:
            raise ValidationError(MSG_KEY_NOT_SUPPORTED)
        hash_value: AttributeValue | None = None
        range_op: str | None = None
        range_values: tuple[AttributeValue, ...] = ()
        schema = [(hash_name, hash_type, True)]
        if range_name is not None and range_type is not None:
            schema.append((range_name, range_type, False))
        for name, key_type, is_hash in schema:
            if name not in parsed:
                if is_hash or len(parsed) > 1:
                    raise ValidationError(f"Query condition missed key schema element: {name}")
                continue
            op, values = parsed[name]
            if op not in _KEY_OPERATORS:
                raise ValidationError(MSG_NOT_INDEXABLE)
            _check_key_type(key_type, values)
            if is_hash and op != "EQ":
                raise ValidationError(MSG_KEY_NOT_SUPPORTED)
            _check_not_empty(name, values)
            if is_hash:
                hash_value = values[0]
            else:
                range_op, range_values = _KEY_OPERATORS[op], values
        assert hash_value is not None
        return KeyCondition(hash_value, range_op, range_values)


def key_conditions_terms(key_conditions: Mapping[str, Any]) -> KeyConditionsTerms:
    """Check each condition of Query's ``KeyConditions`` (its values, as a filter's),
    without a key schema."""
    terms: list[tuple[str, str, tuple[AttributeValue, ...]]] = []
    for name, spec in key_conditions.items():
        check_name_size(name)
        op, values = _filter_one(name, _struct(spec), "keyConditions")
        terms.append((name, op, tuple(values)))
    return KeyConditionsTerms(tuple(terms))


def key_conditions_to_key_condition(
    key_conditions: Mapping[str, Any],
    hash_name: str,
    hash_type: str,
    range_name: str | None,
    range_type: str | None,
) -> KeyCondition:
    """Translate Query's ``KeyConditions`` against a key schema (``*_type``: S, N or B):
    :func:`key_conditions_terms`, then :meth:`KeyConditionsTerms.resolve`.

    EQ on the partition key; EQ, LE, LT, GE, GT, BEGINS_WITH or BETWEEN on the sort key.
    Checks in dynalite's order (query validations, then the query action): each
    condition's values; ``Conditions can be of length 1 or 2 only``; on a hash-only
    table a second condition is ``Query key condition not supported``; then per key
    attribute, partition key first: ``Query condition missed key schema element: <k>``,
    ``Attempted conditional constraint is not an indexable operation`` (NULL, NOT_NULL,
    NE, CONTAINS, NOT_CONTAINS, IN), ``One or more parameter values were invalid:
    Condition parameter type does not match schema type``, and a partition key operator
    other than EQ is ``Query key condition not supported``.
    """
    return key_conditions_terms(key_conditions).resolve(
        hash_name, hash_type, range_name, range_type
    )


# --- AttributesToGet ------------------------------------------------------------------


def attributes_to_get_paths(names: list[Any]) -> list[Path]:
    """``AttributesToGet`` as projection paths: top-level names, taken literally.

    The list must be non-empty (a shape constraint, checked here too) and free of
    duplicates: ``One or more parameter values were invalid: Duplicate value in attribute
    name: a``.
    """
    if not names:
        raise ValidationError(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1"
        )
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise SerializationError("Unexpected value type in payload")
        # DynamoDB refuses such a name here too; the text is its UpdateItem one (context.py)
        check_name_size(name)
        if name in seen:
            raise ValidationError(f"{_INVALID}Duplicate value in attribute name: {name}")
        seen.add(name)
    return [(name,) for name in names]


# --- AttributeUpdates -----------------------------------------------------------------


def attribute_updates_to_update(updates: Mapping[str, Any]) -> Update:
    """Translate ``AttributeUpdates`` (``{attr: {Action?, Value?}}``) into an Update, to
    be applied with :func:`apply_attribute_updates` (not ``apply_update``: the legacy
    actions differ, see the module docstring).

    PUT (the default) becomes SET, DELETE without a value REMOVE, DELETE with a set
    DELETE, ADD (number, set or list) ADD.  Checks per attribute, in dynalite's order:
    the value itself; ``Only DELETE action is allowed when no attribute value is
    specified``; ``DELETE action with value is not supported for the type S``; ``ADD
    action is not supported for the type S``.
    """
    actions: list[Action] = []
    for name, raw in updates.items():
        # as an UpdateExpression's name (context.py; Alternator's
        # test_limit_attribute_length_nonkey_bad runs this against DynamoDB)
        check_name_size(name)
        spec = _struct(raw)
        action = spec.get("Action")
        if action is None:
            action = "PUT"
        elif not isinstance(action, str):
            raise SerializationError("Unexpected value type in payload")
        elif action not in ATTRIBUTE_ACTIONS:
            raise _enum_error(f"attributeUpdates.{name}.member.action", action, ATTRIBUTE_ACTIONS)
        raw_value = spec.get("Value")
        value = None if raw_value is None else validate_value(raw_value)
        path: Path = (name,)
        if value is None:
            if action != "DELETE":
                raise ValidationError(MSG_NO_VALUE)
            actions.append(RemoveAction(path))
            continue
        tag = _tag(value)
        if action == "DELETE":
            if tag not in _SET_TYPES:
                raise ValidationError(
                    f"{_INVALID}DELETE action with value is not supported for the type {tag}"
                )
            actions.append(DeleteAction(path, value))
        elif action == "ADD":
            if tag not in _ADDABLE:
                raise ValidationError(f"{_INVALID}ADD action is not supported for the type {tag}")
            actions.append(AddAction(path, value))
        else:
            actions.append(SetAction(path, ValueOperand(f":{name}", value)))
    return Update(tuple(actions))


def _set_key(tag: str, element: str) -> object:
    return number_key(element) if tag == "NS" else element


def _legacy_add(current: AttributeValue | None, operand: AttributeValue) -> AttributeValue:
    tag = _tag(operand)
    if current is None:
        return operand  # a missing number counts as 0, a missing set or list as empty
    if _tag(current) != tag:
        raise ValidationError(MSG_TYPE_MISMATCH)
    if tag == "N":
        total = _EXACT.add(Decimal(current["N"]), Decimal(operand["N"]))
        return {"N": decimal_to_number(total)}
    if tag == "L":
        return {"L": [*current["L"], *operand["L"]]}
    present = {_set_key(tag, e) for e in current[tag]}
    extra = [e for e in operand[tag] if _set_key(tag, e) not in present]
    # validate_value re-sorts the union into canonical set order.
    return current if not extra else validate_value({tag: [*current[tag], *extra]})


def _legacy_delete(
    current: AttributeValue | None, operand: AttributeValue
) -> AttributeValue | None:
    if current is None:
        return None
    tag = _tag(operand)
    if _tag(current) != tag:
        raise ValidationError(MSG_TYPE_MISMATCH)
    gone = {_set_key(tag, e) for e in operand[tag]}
    kept = [e for e in current[tag] if _set_key(tag, e) not in gone]
    # An emptied set is removed: DynamoDB stores no empty sets.
    return {tag: kept} if kept else None


def apply_attribute_updates(
    item: Item | None, update: Update, key_names: tuple[str, ...]
) -> UpdateResult:
    """Apply an Update from :func:`attribute_updates_to_update` with legacy semantics.

    ``item`` None means no item (the result then lacks the key; the caller adds it).
    ``touched_only_remove`` is true when there was at least one action and all were
    DELETEs: such an update does not create a missing item, while an empty
    AttributeUpdates does (the bare key item).  Raises ValidationError for a key
    attribute (``Cannot update attribute p. This attribute is part of the key``), type
    clashes (``Type mismatch for attribute to update``) and numbers out of range.
    """
    for action in update.actions:
        head = action.path[0]
        if head in key_names:
            raise ValidationError(
                f"{_INVALID}Cannot update attribute {head}. This attribute is part of the key"
            )
    new: Item = dict(item) if item is not None else {}
    for action in update.actions:
        name = action.path[0]
        assert isinstance(name, str)
        if isinstance(action, SetAction):
            assert isinstance(action.value, ValueOperand) and action.value.value is not None
            new[name] = action.value.value
        elif isinstance(action, RemoveAction):
            new.pop(name, None)
        elif isinstance(action, AddAction):
            new[name] = _legacy_add(new.get(name), action.value)
        else:
            kept = _legacy_delete(new.get(name), action.value)
            if kept is None:
                new.pop(name, None)
            else:
                new[name] = kept
    only_delete = bool(update.actions) and all(
        isinstance(a, RemoveAction | DeleteAction) for a in update.actions
    )
    return UpdateResult(
        item=new,
        updated_paths=update.paths,
        created=item is None and not only_delete,
        touched_only_remove=only_delete,
    )
