"""ProjectionExpression: parsing, and projecting an item onto a list of paths.

A projection keeps the item's structure (Developer Guide, Expressions.ProjectionExpressions;
alternator's test_projection_expression.py): ``a.b[0]`` yields ``{"a": {"M": {"b": {"L": [e]}}}}``,
several paths merge (``a.b[0], a.b[2]`` gives a two-element list, in index order),
paths that lead nowhere are dropped, and a container none of whose requested parts
exists is dropped with them.
"""

from __future__ import annotations

from typing import Final

from regions.expressions.ast import AttributeValue, Item, Path
from regions.expressions.context import ExpressionContext
from regions.expressions.parser import Parser, check_source, too_deep
from regions.expressions.validate import Validator

__all__ = ["parse_projection", "project", "updated_attributes"]

_KIND: Final = "ProjectionExpression"


def parse_projection(expr: str, ctx: ExpressionContext) -> list[Path]:
    """Parse a ProjectionExpression into its paths (``#names`` substituted).

    Raises ValidationError (``Invalid ProjectionExpression: ...``) for syntax errors,
    reserved words, undefined names, paths deeper than 32, and overlapping
    (``a, a.b``) or conflicting (``a.b, a[0]``) paths; records the names used in ``ctx``.
    """
    check_source(expr, _KIND)
    try:
        parser = Parser(expr, _KIND, ctx)
        operands = parser.run(parser.projection)
        parser.raise_problems()
        validator = Validator(_KIND, ctx)
        validator.paths(operands)
    except RecursionError:
        raise too_deep(_KIND) from None
    validator.commit()
    return [op.path for op in operands]


# A projection tree maps each path element to the subtree below it; None means "the
# whole value from here down".
_Tree = dict[str | int, "_Tree | None"]


def _build_tree(paths: list[Path]) -> _Tree:
    root: _Tree = {}
    for path in paths:
        node = root
        for position, element in enumerate(path):
            last = position == len(path) - 1
            if element in node and node[element] is None:
                break  # an ancestor is already projected whole
            if last:
                node[element] = None
                break
            child = node.get(element)
            if child is None:
                child = {}
                node[element] = child
            node = child
    return root


def _copy(value: AttributeValue) -> AttributeValue:
    """A structural copy, so results never alias the stored item."""
    tag, member = next(iter(value.items()))
    if tag == "M":
        return {"M": {k: _copy(v) for k, v in member.items()}}
    if tag == "L":
        return {"L": [_copy(v) for v in member]}
    if tag in ("SS", "NS", "BS"):
        return {tag: list(member)}
    return {tag: member}


def _project_value(value: AttributeValue, tree: _Tree | None) -> AttributeValue | None:
    if tree is None:
        return _copy(value)
    members = value.get("M")
    if isinstance(members, dict):
        projected = {}
        for key, subtree in tree.items():
            if isinstance(key, str) and key in members:
                part = _project_value(members[key], subtree)
                if part is not None:
                    projected[key] = part
        return {"M": projected} if projected else None
    elements = value.get("L")
    if isinstance(elements, list):
        kept = []
        for index in sorted(k for k in tree if isinstance(k, int)):
            if index < len(elements):
                part = _project_value(elements[index], tree[index])
                if part is not None:
                    kept.append(part)
        return {"L": kept} if kept else None
    return None


def project(item: Item, paths: list[Path]) -> Item:
    """The parts of ``item`` named by ``paths``, in the item's own structure.

    Missing paths are dropped (keys are not added); the result may be empty.  The
    result shares nothing with ``item``.
    """
    tree = _build_tree(paths)
    result: Item = {}
    for name, subtree in tree.items():
        if isinstance(name, str) and name in item:
            part = _project_value(item[name], subtree)
            if part is not None:
                result[name] = part
    return result


def updated_attributes(item: Item, paths: list[Path]) -> Item:
    """What ``ReturnValues=UPDATED_OLD/UPDATED_NEW`` returns: ``item`` (the old or the
    new one) projected onto the update's target paths.

    DynamoDB returns only the touched parts of nested attributes (``SET a.b = :v``
    returns ``{"a": {"M": {"b": ...}}}``, not all of ``a``), which is exactly a
    projection (alternator's test_returnvalues.py).  An element appended past the end
    of a list is therefore not returned, and REMOVE of ``a[1]`` returns the new
    ``a[1]`` for UPDATED_NEW, as DynamoDB does.
    """
    return project(item, paths)
