"""UpdateExpression: parsing and application to an item.

Application follows DynamoDB (Developer Guide, Expressions.UpdateExpressions; alternator's
test_update_expression.py; DynamoDB Local's ``OperatorExecutor``):

* every SET value is computed from the *old* item before anything is written, so
  ``SET a = b, b = a`` swaps and ``REMOVE a SET b = a`` copies;
* all of a value's operands are evaluated; a missing one is an error ("refers to an
  attribute that does not exist"), except the first argument of ``if_not_exists``;
* list indexes refer to positions in the old list: ``REMOVE a[1] SET a[3] = :v`` sets
  the old fourth element; SET past the end appends, in index order; REMOVE of a
  missing element or attribute does nothing;
* a path whose parent is missing or not a map/list is "invalid for update" (for REMOVE
  too, unless the whole item is missing, where REMOVE does nothing);
* ADD adds to a number (a missing one counts as 0) or unions a set (creating it);
  DELETE removes set elements, and an emptied set removes the attribute;
* numbers are computed exactly and then held to DynamoDB's 38 digits and range.
"""

from __future__ import annotations

import base64
import decimal
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from regions.errors import ValidationError
from regions.expressions.ast import (
    Action,
    AddAction,
    Arithmetic,
    AttributeValue,
    DeleteAction,
    FunctionCall,
    Item,
    Operand,
    PathOperand,
    RemoveAction,
    SetAction,
    Update,
    UpdateResult,
    ValueOperand,
)
from regions.expressions.context import ExpressionContext
from regions.expressions.evaluate import resolve_path
from regions.expressions.parser import Parser, check_source, too_deep
from regions.expressions.validate import Validator
from regions.types import arithmetic_result, decimal_to_number, number_key

__all__ = ["apply_update", "parse_update"]

_KIND: Final = "UpdateExpression"

MSG_INVALID_PATH: Final = (
    "The document path provided in the update expression is invalid for update"
)
MSG_MISSING_OPERAND: Final = (
    "The provided expression refers to an attribute that does not exist in the item"
)
MSG_WRONG_TYPE: Final = "An operand in the update expression has an incorrect data type"

#: Wide enough that sums of two in-range numbers are exact; the result is then checked
#: against DynamoDB's limits (``arithmetic_result``, ``decimal_to_number``).
_EXACT: Final = decimal.Context(prec=400, Emax=999_999, Emin=-999_999)


def parse_update(expr: str, ctx: ExpressionContext) -> Update:
    """Parse an UpdateExpression; raise ValidationError (``Invalid UpdateExpression: ...``)
    as DynamoDB does; record the placeholders used in ``ctx``."""
    check_source(expr, _KIND)
    try:
        parser = Parser(expr, _KIND, ctx)
        raw = parser.run(parser.update)
        parser.check_update_functions(raw)
        parser.raise_problems()
        validator = Validator(_KIND, ctx)
        validator.paths([a.target for a in raw])
        actions: list[Action] = []
        for a in raw:
            path = a.target.path
            if a.section == "SET":
                assert a.value is not None
                validator.operand(a.value)
                actions.append(SetAction(path, a.value))
            elif a.section == "REMOVE":
                actions.append(RemoveAction(path))
            else:
                assert isinstance(a.value, ValueOperand)
                validator.add_delete_value(a.section, a.value)
                assert a.value.value is not None
                cls = AddAction if a.section == "ADD" else DeleteAction
                actions.append(cls(path, a.value.value))
    except RecursionError:
        raise too_deep(_KIND) from None
    validator.commit()
    return Update(tuple(actions))


# --- values ---------------------------------------------------------------------------


def _tag(value: AttributeValue) -> str:
    return next(iter(value))


def _arithmetic(op: str, a: AttributeValue, b: AttributeValue) -> AttributeValue:
    if _tag(a) != "N" or _tag(b) != "N":
        raise ValidationError(MSG_WRONG_TYPE)
    x, y = Decimal(a["N"]), Decimal(b["N"])
    result = _EXACT.add(x, y) if op == "+" else _EXACT.subtract(x, y)
    return {"N": arithmetic_result(result)}


def _value(op: Operand, item: Item) -> AttributeValue:
    """Compute a SET value from the old item."""
    if isinstance(op, ValueOperand):
        assert op.value is not None
        return op.value
    if isinstance(op, PathOperand):
        found = resolve_path(item, op.path)
        if found is None:
            raise ValidationError(MSG_MISSING_OPERAND)
        return found
    if isinstance(op, Arithmetic):
        return _arithmetic(op.op, _value(op.left, item), _value(op.right, item))
    return _call(op, item)


def _call(call: FunctionCall, item: Item) -> AttributeValue:
    if call.name == "if_not_exists":
        first = call.args[0]
        assert isinstance(first, PathOperand)
        current = resolve_path(item, first.path)
        # The fallback is evaluated even when unused, so a missing one is an error
        # either way (DynamoDB Local's ifNotExist).
        fallback = _value(call.args[1], item)
        return fallback if current is None else current
    if call.name == "list_append":
        left, right = _value(call.args[0], item), _value(call.args[1], item)
        if _tag(left) != "L" or _tag(right) != "L":
            raise ValidationError(MSG_WRONG_TYPE)
        return {"L": [*left["L"], *right["L"]]}
    raise AssertionError(f"not an update function: {call.name}")


def _sorted_set(tag: str, elements: list[str]) -> AttributeValue:
    """A canonical set: numbers by value, strings by UTF-8, binaries by raw bytes."""
    if tag == "NS":
        return {tag: sorted(elements, key=number_key)}
    if tag == "SS":
        return {tag: sorted(elements, key=lambda s: s.encode("utf-8", "surrogatepass"))}
    return {tag: sorted(elements, key=base64.b64decode)}


def _set_key(tag: str, element: str) -> object:
    if tag == "NS":
        return number_key(element)
    if tag == "BS":
        return base64.b64decode(element)
    return element


def _add(current: AttributeValue | None, operand: AttributeValue) -> AttributeValue:
    tag = _tag(operand)
    if current is None:
        return operand
    if _tag(current) != tag:
        raise ValidationError(MSG_WRONG_TYPE)
    if tag == "N":
        # ADD keeps the precision text: only SET's +/- is recorded with the overflow one
        return {"N": decimal_to_number(_EXACT.add(Decimal(current["N"]), Decimal(operand["N"])))}
    present = {_set_key(tag, e) for e in current[tag]}
    extra = [e for e in operand[tag] if _set_key(tag, e) not in present]
    return current if not extra else _sorted_set(tag, [*current[tag], *extra])


def _delete(current: AttributeValue | None, operand: AttributeValue) -> AttributeValue | None:
    tag = _tag(operand)
    if current is None:
        return None
    if _tag(current) != tag:
        raise ValidationError(MSG_WRONG_TYPE)
    gone = {_set_key(tag, e) for e in operand[tag]}
    kept = [e for e in current[tag] if _set_key(tag, e) not in gone]
    return {tag: kept} if kept else None


# --- the update tree ------------------------------------------------------------------


@dataclass
class _Node:
    """One position in the item touched by the update.

    A leaf carries its action (and the precomputed value for SET); an inner node has
    children keyed by name or by index - never both, as conflicting paths are rejected
    at parse time.
    """

    action: Action | None = None
    value: AttributeValue | None = None
    children: dict[str | int, _Node] = field(default_factory=dict)


def _leaf(node: _Node, current: AttributeValue | None) -> AttributeValue | None:
    """The new value at a leaf, or None for "absent"."""
    action = node.action
    if isinstance(action, SetAction):
        return node.value
    if isinstance(action, RemoveAction):
        return None
    if isinstance(action, AddAction):
        return _add(current, action.value)
    assert isinstance(action, DeleteAction)
    return _delete(current, action.value)


def _apply(node: _Node, current: AttributeValue | None) -> AttributeValue | None:
    if node.action is not None:
        return _leaf(node, current)
    by_index = isinstance(next(iter(node.children)), int)
    container = "L" if by_index else "M"
    if current is None or _tag(current) != container:
        raise ValidationError(MSG_INVALID_PATH)
    if by_index:
        return _apply_list(node, current["L"])
    members = dict(current["M"])
    for name, child in node.children.items():
        assert isinstance(name, str)
        new = _apply(child, members.get(name))
        if new is None:
            members.pop(name, None)
        else:
            members[name] = new
    return {"M": members}


def _apply_list(node: _Node, old: list[AttributeValue]) -> AttributeValue:
    elements: list[AttributeValue | None] = list(old)
    appended: list[AttributeValue] = []
    for index in sorted(node.children, key=int):
        assert isinstance(index, int)
        child = node.children[index]
        if index < len(old):
            elements[index] = _apply(child, old[index])
        elif child.action is None:
            # Descending into an element that does not exist.
            raise ValidationError(MSG_INVALID_PATH)
        else:
            # Past the end: SET (and ADD) append in index order, REMOVE/DELETE do nothing.
            new = _leaf(child, None)
            if new is not None:
                appended.append(new)
    return {"L": [e for e in elements if e is not None] + appended}


def apply_update(
    item: Item | None, update: Update, key_names: tuple[str, ...], *, absent: bool = False
) -> UpdateResult:
    """Apply a parsed update to ``item`` (None: no such item) and return the new item.

    The input is not modified; unchanged sub-values are shared with it.  When ``item``
    is None the result starts empty and the caller adds the key attributes; ``absent``
    says that ``item`` holds only the key of an item that does not exist (so that SET
    can read the key attributes).  REMOVE and DELETE of a missing item are skipped,
    nested paths included (DynamoDB creates nothing and refuses nothing), and a
    REMOVE-only update of one creates nothing (``created`` False).
    Raises ValidationError for key attributes in a path, missing operands, operands of
    the wrong type, invalid document paths and numbers out of DynamoDB's range.
    """
    for action in update.actions:
        head = action.path[0]
        if head in key_names:
            raise ValidationError(
                "One or more parameter values were invalid: Cannot update attribute "
                f"{head}. This attribute is part of the key"
            )
    missing = item is None or absent
    old: Item = item if item is not None else {}
    root = _Node()
    for action in update.actions:
        if missing and isinstance(action, RemoveAction | DeleteAction):
            continue  # nothing to remove from a missing item
        value = _value(action.value, old) if isinstance(action, SetAction) else None
        node = root
        for element in action.path:
            node = node.children.setdefault(element, _Node())
        node.action, node.value = action, value
    new_item: Item = dict(old)
    if root.children:
        result = _apply(root, {"M": old})
        assert result is not None
        new_item = result["M"]
    only_remove = update.only_remove
    return UpdateResult(
        item=new_item,
        updated_paths=update.paths,
        created=missing and not only_remove,
        touched_only_remove=only_remove,
    )
