"""Syntax trees for the five expression kinds.

Nodes are frozen dataclasses.  Placeholders are already substituted: a
:class:`PathOperand` carries the resolved path (``#n`` replaced by its name, as one
component) and a :class:`ValueOperand` the canonical AttributeValue.  Parsing keeps a
node even when a placeholder is undefined (``value=None``, the ``#n`` text left in the
path) so that validation can report the error in DynamoDB's order; a tree handed out by
the public ``parse_*`` functions never contains such a node.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "Action",
    "AddAction",
    "And",
    "Arithmetic",
    "AttributeValue",
    "Between",
    "Comparison",
    "Condition",
    "DeleteAction",
    "FunctionCall",
    "In",
    "Item",
    "KeyCondition",
    "Not",
    "Operand",
    "Or",
    "Path",
    "PathOperand",
    "RemoveAction",
    "SetAction",
    "Update",
    "UpdateResult",
    "ValueOperand",
    "format_path",
]

AttributeValue: TypeAlias = dict[str, Any]
Item: TypeAlias = dict[str, AttributeValue]

#: A document path: names (map keys) and list indexes, e.g. ``("a", "b", 0)`` for
#: ``a.b[0]``.  The first element is always a name.
Path: TypeAlias = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """DynamoDB's rendering of a path in error texts: ``a.b[0]`` is ``[a, b, [0]]``."""
    return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in path) + "]"


# --- operands -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PathOperand:
    """A document path read from the item.

    ``placeholders`` lists the ``#name`` references the path was written with, in
    order; validation uses it to report undefined ones and to track usage.
    """

    path: Path
    placeholders: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ValueOperand:
    """An ``:value`` placeholder and its (canonical) value; None only before validation."""

    name: str
    value: AttributeValue | None


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """``name(args...)``: a condition function, ``size``, or an update function."""

    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left + right`` or ``left - right`` (UpdateExpression SET values only)."""

    op: str
    left: Operand
    right: Operand


Operand: TypeAlias = PathOperand | ValueOperand | FunctionCall | Arithmetic


# --- conditions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right`` with op one of ``= <> < <= > >=``."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    """``operand BETWEEN low AND high`` (both bounds inclusive)."""

    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    """``operand IN (candidates...)``."""

    operand: Operand
    candidates: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


@dataclass(frozen=True, slots=True)
class And:
    """Conjunction of two or more conditions (flattened: ``a AND b AND c`` is one node)."""

    operands: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Disjunction of two or more conditions (flattened like :class:`And`)."""

    operands: tuple[Condition, ...]


#: A boolean expression.  A :class:`FunctionCall` here is a condition function such as
#: ``attribute_exists(a)``.
Condition: TypeAlias = Comparison | Between | In | Not | And | Or | FunctionCall


# --- updates --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetAction:
    path: Path
    value: Operand


@dataclass(frozen=True, slots=True)
class RemoveAction:
    path: Path


@dataclass(frozen=True, slots=True)
class AddAction:
    path: Path
    value: AttributeValue


@dataclass(frozen=True, slots=True)
class DeleteAction:
    path: Path
    value: AttributeValue


Action: TypeAlias = SetAction | RemoveAction | AddAction | DeleteAction


@dataclass(frozen=True, slots=True)
class Update:
    """A parsed UpdateExpression: its actions in the order they were written."""

    actions: tuple[Action, ...]

    @property
    def paths(self) -> list[Path]:
        """The target path of every action, in order."""
        return [a.path for a in self.actions]

    @property
    def only_remove(self) -> bool:
        """True if every action is a REMOVE (such an update never creates an item)."""
        return all(isinstance(a, RemoveAction) for a in self.actions)


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """Outcome of :func:`regions.expressions.apply_update`.

    ``item`` is the complete new item (without key attributes when there was no old
    item: the caller adds the key).  ``updated_paths`` are the action targets, for
    ``ReturnValues=UPDATED_OLD/UPDATED_NEW``.  ``created`` says the update creates a
    previously missing item; ``touched_only_remove`` that every action was a REMOVE, in
    which case a missing item stays missing.
    """

    item: Item
    updated_paths: list[Path]
    created: bool
    touched_only_remove: bool


# --- key conditions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyCondition:
    """A validated KeyConditionExpression.

    ``range_op`` is one of ``= < <= > >= BETWEEN BEGINS_WITH`` (already flipped when
    the value was written first, ``:v < sk`` becoming ``>``), or None without a sort
    key condition.  ``range_values`` has two values for BETWEEN, one otherwise.
    """

    hash_value: AttributeValue
    range_op: str | None
    range_values: tuple[AttributeValue, ...]


def paths_in(node: object) -> Iterator[Path]:
    """Every document path a parsed expression refers to: its operands' paths and an
    update's targets (filters and projections' GSI checks, authorization's
    ``dynamodb:Attributes``)."""
    if isinstance(node, PathOperand):
        yield node.path
        return
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        path = getattr(node, "path", None)
        if isinstance(path, tuple) and path:
            yield path  # an update action's target
        for f in dataclasses.fields(node):
            if f.name != "path":
                yield from paths_in(getattr(node, f.name))
    elif isinstance(node, tuple | list):
        for child in node:
            yield from paths_in(child)
