"""Condition and filter expressions: parsing and evaluation against an item.

Evaluation never raises: DynamoDB decides every type question it can at parse time,
and what remains (an item attribute that is missing or of another type) just makes the
comparison false.  The rules (Developer Guide, Expressions.OperatorsAndFunctions;
alternator's test_condition_expression.py, DynamoDB Local's ``OperatorExecutor``):

* ``=``, ordering comparisons, BETWEEN and IN are false when an operand is missing -
  two missing attributes are not equal - and ``<>`` is then true;
* operands of different types are unequal; ordering works on S (UTF-8 bytes),
  N (numerically) and B (unsigned bytes) only; sets compare regardless of order;
* ``begins_with`` works on S and B; ``contains`` is a substring test for S and B and a
  membership test for sets (element of the matching scalar type) and lists (any value);
* ``size`` counts characters (UTF-16 code units, as DynamoDB Local does) of S, bytes of
  B, elements of sets and lists, entries of maps; on other types it yields "missing",
  which makes the comparison false.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from regions.expressions.ast import (
    And,
    AttributeValue,
    Between,
    Comparison,
    Condition,
    FunctionCall,
    In,
    Item,
    Not,
    Operand,
    Or,
    Path,
    PathOperand,
    ValueOperand,
)
from regions.expressions.context import ExpressionContext
from regions.expressions.parser import CONDITION_KINDS, Parser, check_source, too_deep
from regions.expressions.validate import Validator
from regions.types import compare_values, values_equal

__all__ = [
    "ParsedCondition",
    "evaluate_condition",
    "parse_condition",
    "parse_condition_tree",
    "resolve_path",
]


def parse_condition_tree(expr: str, ctx: ExpressionContext, kind: str) -> Condition:
    """Parse and validate a condition of any condition-like ``kind`` (also
    ``KeyConditionExpression``), marking its placeholders as used."""
    check_source(expr, kind)
    try:
        parser = Parser(expr, kind, ctx)
        cond = parser.run(parser.condition)
        parser.check_condition_functions(cond)
        parser.raise_problems()
        validator = Validator(kind, ctx)
        validator.condition(cond)
    except RecursionError:
        raise too_deep(kind) from None
    validator.commit()
    return cond


def parse_condition(
    expr: str, ctx: ExpressionContext, kind: str = "ConditionExpression"
) -> Condition:
    """Parse a ConditionExpression (or, with ``kind="FilterExpression"``, a filter).

    Raises ValidationError with DynamoDB's message, prefixed ``Invalid <kind>: ``, for
    any syntax or semantic problem; records the placeholders used in ``ctx``.
    """
    if kind not in ("ConditionExpression", "FilterExpression"):
        raise ValueError(f"not a condition kind: {kind!r}")
    assert kind in CONDITION_KINDS
    return parse_condition_tree(expr, ctx, kind)


# --- evaluation -----------------------------------------------------------------------


def resolve_path(item: Item, path: Path) -> AttributeValue | None:
    """The value at ``path`` in ``item``, or None if any step is missing or mistyped."""
    first = path[0]
    current = item.get(first) if isinstance(first, str) else None
    for element in path[1:]:
        if current is None:
            return None
        if isinstance(element, str):
            children = current.get("M")
            current = children.get(element) if isinstance(children, dict) else None
        else:
            items = current.get("L")
            current = items[element] if isinstance(items, list) and element < len(items) else None
    return current


def _tag(value: AttributeValue) -> str:
    return next(iter(value))


def _size(value: AttributeValue) -> AttributeValue | None:
    tag = _tag(value)
    member = value[tag]
    if tag == "S":
        # UTF-16 code units, like Java's String.length() in DynamoDB Local.
        count = len(member.encode("utf-16-le", "surrogatepass")) // 2
    elif tag == "B":
        count = len(base64.b64decode(member))
    elif tag in ("SS", "NS", "BS", "L", "M"):
        count = len(member)
    else:
        return None
    return {"N": str(count)}


def _operand(op: Operand, item: Item) -> AttributeValue | None:
    if isinstance(op, PathOperand):
        return resolve_path(item, op.path)
    if isinstance(op, ValueOperand):
        return op.value
    if isinstance(op, FunctionCall) and op.name == "size":
        value = _operand(op.args[0], item)
        return None if value is None else _size(value)
    # Validation admits no other operand in a condition.
    raise AssertionError(f"unexpected operand in a condition: {op!r}")


def _equal(a: AttributeValue | None, b: AttributeValue | None) -> bool:
    return a is not None and b is not None and values_equal(a, b)


def _compare(op: str, a: AttributeValue | None, b: AttributeValue | None) -> bool:
    if op == "=":
        return _equal(a, b)
    if op == "<>":
        return not _equal(a, b)
    if a is None or b is None:
        return False
    order = compare_values(a, b)
    if order is None:
        return False
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0


def _bytes(value: AttributeValue) -> bytes:
    return base64.b64decode(value["B"])


def _begins_with(a: AttributeValue | None, b: AttributeValue | None) -> bool:
    if a is None or b is None or _tag(a) != _tag(b):
        return False
    if _tag(a) == "S":
        return bool(a["S"].startswith(b["S"]))
    if _tag(a) == "B":
        return _bytes(a).startswith(_bytes(b))
    return False


_SET_ELEMENT = {"SS": "S", "NS": "N", "BS": "B"}


def _contains(a: AttributeValue | None, b: AttributeValue | None) -> bool:
    if a is None or b is None:
        return False
    container, element = _tag(a), _tag(b)
    if container == "S":
        return element == "S" and b["S"] in a["S"]
    if container == "B":
        return element == "B" and _bytes(b) in _bytes(a)
    if container == "L":
        return any(values_equal(x, b) for x in a["L"])
    if _SET_ELEMENT.get(container) == element:
        return any(values_equal({element: x}, b) for x in a[container])
    return False


def _function(call: FunctionCall, item: Item) -> bool:
    name = call.name
    if name == "attribute_exists":
        return _operand(call.args[0], item) is not None
    if name == "attribute_not_exists":
        return _operand(call.args[0], item) is None
    first = _operand(call.args[0], item)
    second = _operand(call.args[1], item)
    if name == "attribute_type":
        return first is not None and second is not None and _tag(first) == second.get("S")
    if name == "begins_with":
        return _begins_with(first, second)
    if name == "contains":
        return _contains(first, second)
    raise AssertionError(f"not a condition function: {name}")


def _evaluate(cond: Condition, item: Item) -> bool:
    negate = False
    while isinstance(cond, Not):
        negate = not negate
        cond = cond.operand
    if isinstance(cond, And):
        result = all(_evaluate(c, item) for c in cond.operands)
    elif isinstance(cond, Or):
        result = any(_evaluate(c, item) for c in cond.operands)
    elif isinstance(cond, Comparison):
        result = _compare(cond.op, _operand(cond.left, item), _operand(cond.right, item))
    elif isinstance(cond, Between):
        value = _operand(cond.operand, item)
        result = _compare(">=", value, _operand(cond.low, item)) and _compare(
            "<=", value, _operand(cond.high, item)
        )
    elif isinstance(cond, In):
        value = _operand(cond.operand, item)
        result = any(_equal(value, _operand(c, item)) for c in cond.candidates)
    else:
        result = _function(cond, item)
    return result != negate


def evaluate_condition(cond: Condition, item: Item | None) -> bool:
    """Evaluate a parsed condition against ``item`` (None: the item does not exist,
    so every attribute is missing)."""
    return _evaluate(cond, item or {})


@dataclass(frozen=True, slots=True)
class ParsedCondition:
    """A parsed condition as a callable on the stored item (None: absent).

    What a write operation's ``condition`` and a read's filter are when they come from
    a request (ConditionExpression, Expected, FilterExpression, QueryFilter,
    ScanFilter): unlike a closure it keeps its tree, so whoever holds the operation can
    read what it refers to (``paths_in(condition.expr)``, e.g. authorization's
    ``dynamodb:Attributes``) without parsing the text again."""

    expr: Condition

    def __call__(self, item: Item | None) -> bool:
        return _evaluate(self.expr, item or {})
