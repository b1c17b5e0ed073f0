"""Semantic checks run on a parsed expression, in DynamoDB's order and wording.

Parsing (:mod:`regions.expressions.parser`) reports syntax errors, redundant
parentheses, unknown or misplaced functions and reserved words.  Everything else is
checked here, walking the tree in post-order and stopping at the first problem, as
DynamoDB Local's ``ExpressionValidator``/``OperatorValidator`` do:

* placeholders: undefined ``#name``/``:value``;
* paths: more than 32 levels;
* operators and functions: operand count, operand types (a *constant* of a type the
  operator can never accept is an error; an item attribute of the wrong type merely
  makes the condition false), "first operand must be distinct", document-path
  arguments, ``attribute_type`` names, BETWEEN bounds, IN list length;
* at most 300 operators per expression;
* UpdateExpression and ProjectionExpression: overlapping or conflicting paths, and the
  operand types of ADD and DELETE.

Texts come from DynamoDB Local's ``DbValidationError`` enum and dynalite's recordings of
the real service; see the report accompanying this package for sources.
"""

from __future__ import annotations

from typing import Final

from regions.errors import ValidationError
from regions.expressions.ast import (
    And,
    Arithmetic,
    Between,
    Comparison,
    Condition,
    FunctionCall,
    In,
    Not,
    Operand,
    Or,
    Path,
    PathOperand,
    ValueOperand,
    format_path,
)
from regions.expressions.context import ExpressionContext
from regions.types import compare_values

__all__ = [
    "CONDITION_FUNCTIONS",
    "MAX_IN_OPERANDS",
    "MAX_OPERATORS",
    "MAX_PATH_DEPTH",
    "UPDATE_FUNCTIONS",
    "Validator",
    "invalid",
    "path_relation",
    "value_type",
]

MAX_PATH_DEPTH: Final = 32
MAX_OPERATORS: Final = 300
MAX_IN_OPERANDS: Final = 100

#: Functions of Condition/Filter/KeyCondition expressions, with their arity.
CONDITION_FUNCTIONS: Final = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
    "size": 1,
}
#: Functions of UpdateExpression SET values, with their arity.
UPDATE_FUNCTIONS: Final = {"if_not_exists": 2, "list_append": 2}

_ORDERED: Final = frozenset({"S", "N", "B"})
_ITERABLE: Final = frozenset({"S", "B", "SS", "NS", "BS", "L", "M"})
_STRING_BINARY: Final = frozenset({"S", "B"})
_NUMBER: Final = frozenset({"N"})
_LIST: Final = frozenset({"L"})
_ORDERING_OPS: Final = frozenset({"<", "<=", ">", ">="})
#: Functions whose first operand must not reappear as a later operand (the operators
#: DynamoDB Local marks as accepting missing operands).
_DISTINCT_FUNCTIONS: Final = frozenset(
    {"attribute_type", "begins_with", "contains", "if_not_exists"}
)
_PATH_FUNCTIONS: Final = frozenset({"attribute_exists", "attribute_not_exists", "if_not_exists"})

ATTRIBUTE_TYPES: Final = frozenset({"S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"})
# Both set renderings are DynamoDB's (recorded by dynalite), in its (hash) order.
_ANY_TYPE_TEXT: Final = "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
_VALID_TYPES_TEXT: Final = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"

#: How ADD/DELETE name an operand type ("operator: ADD, operand type: STRING").
_TYPE_NAMES: Final = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "L": "LIST",
    "M": "MAP",
    "SS": "STRING_SET",
    "NS": "NUMBER_SET",
    "BS": "BINARY_SET",
}
_ADD_TYPES: Final = frozenset({"N", "SS", "NS", "BS"})
_DELETE_TYPES: Final = frozenset({"SS", "NS", "BS"})


def invalid(kind: str, message: str) -> ValidationError:
    """A ValidationError for expression ``kind``: ``Invalid <kind>: <message>``."""
    return ValidationError(f"Invalid {kind}: {message}")


def value_type(value: dict[str, object]) -> str:
    """The type tag of a canonical AttributeValue (``"S"``, ``"NS"``, ...)."""
    return next(iter(value))


def path_relation(first: Path, second: Path) -> str | None:
    """``"overlap"`` if one path is a prefix of the other (or equal), ``"conflict"`` if
    they first differ by a name against an index (``a.b`` vs ``a[0]``), else None."""
    for a, b in zip(first, second, strict=False):
        if isinstance(a, int) != isinstance(b, int):
            return "conflict"
        if a != b:
            return None
    return "overlap"


def _return_type(op: Operand) -> str | None:
    """The single type an operand can produce, or None if it could be anything."""
    if isinstance(op, ValueOperand):
        return value_type(op.value) if op.value is not None else None
    if isinstance(op, Arithmetic):
        return "N"
    if isinstance(op, FunctionCall):
        if op.name == "size":
            return "N"
        if op.name == "list_append":
            return "L"
        if op.name == "if_not_exists":
            return None
        return "BOOL"
    return None


def _render_bound(op: Operand) -> str:
    assert isinstance(op, ValueOperand) and op.value is not None
    tag = value_type(op.value)
    return f"AttributeValue: {{{tag}:{op.value[tag]}}}"


class Validator:
    """Post-order checks for one expression; records the placeholders it uses.

    Call one of :meth:`condition`, :meth:`update_targets`/:meth:`operand`/
    :meth:`add_delete_value`, or :meth:`paths`, then :meth:`commit` to mark the
    placeholders as used in the context.  Every check raises on the first problem.
    """

    def __init__(self, kind: str, ctx: ExpressionContext) -> None:
        self.kind = kind
        self.ctx = ctx
        self.operators = 0
        self.names_used: list[str] = []
        self.values_used: list[str] = []

    def _error(self, message: str) -> ValidationError:
        return invalid(self.kind, message)

    def commit(self) -> None:
        """Mark the placeholders seen as used (only once the expression is valid)."""
        self.ctx.mark_used(self.names_used, self.values_used)

    # --- leaves -----------------------------------------------------------------------

    def path(self, operand: PathOperand) -> None:
        """Undefined ``#name`` references, then nesting depth."""
        for ref in operand.placeholders:
            if self.ctx.name(ref) is None:
                raise self._error(
                    "An expression attribute name used in the document path is not defined; "
                    f"attribute name: {ref}"
                )
            self.names_used.append(ref)
        if len(operand.path) > MAX_PATH_DEPTH:
            raise self._error(
                "The document path has too many nesting levels; "
                f"nesting levels: {len(operand.path)}"
            )

    def _value(self, operand: ValueOperand) -> None:
        if operand.value is None:
            raise self._error(
                "An expression attribute value used in expression is not defined; "
                f"attribute value: {operand.name}"
            )
        self.values_used.append(operand.name)

    def _count_operator(self) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise self._error(
                f"The expression contains too many operators; operator count: {self.operators}"
            )

    # --- operator checks --------------------------------------------------------------

    def _check_types(
        self, name: str, operands: tuple[Operand, ...], allowed: frozenset[str]
    ) -> None:
        for op in operands:
            found = _return_type(op)
            if found is not None and found not in allowed:
                raise self._error(
                    "Incorrect operand type for operator or function; "
                    f"operator or function: {name}, operand type: {found}"
                )

    def _check_distinct(self, name: str, operands: tuple[Operand, ...]) -> None:
        first = operands[0]
        if not isinstance(first, PathOperand):
            return
        for later in operands[1:]:
            if isinstance(later, PathOperand) and later.path == first.path:
                raise self._error(
                    "The first operand must be distinct from the remaining operands for this "
                    f"operator or function; operator: {name}, first operand: "
                    f"{format_path(first.path)}"
                )

    def _function(self, call: FunctionCall) -> None:
        name = call.name
        expected = CONDITION_FUNCTIONS.get(name, UPDATE_FUNCTIONS.get(name))
        # The parser has already rejected unknown names; this keeps the checker total.
        if expected is None:
            raise self._error(f"Invalid function name; function: {name}")
        if len(call.args) != expected:
            raise self._error(
                "Incorrect number of operands for operator or function; "
                f"operator or function: {name}, number of operands: {len(call.args)}"
            )
        if name == "begins_with":
            self._check_types(name, call.args, _STRING_BINARY)
        elif name == "size":
            self._check_types(name, call.args, _ITERABLE)
        elif name == "list_append":
            self._check_types(name, call.args, _LIST)
        if name in _DISTINCT_FUNCTIONS:
            self._check_distinct(name, call.args)
        if name in _PATH_FUNCTIONS and not isinstance(call.args[0], PathOperand):
            raise self._error(
                f"Operator or function requires a document path; operator or function: {name}"
            )
        if name == "attribute_type":
            self._attribute_type(call.args[1])
        self._count_operator()

    def _attribute_type(self, arg: Operand) -> None:
        if isinstance(arg, ValueOperand) and arg.value is not None:
            tag = value_type(arg.value)
            if tag != "S":
                found = tag
            else:
                type_name = arg.value["S"]
                if type_name not in ATTRIBUTE_TYPES:
                    raise self._error(
                        f"Invalid attribute type name found; type: {type_name}, "
                        f"valid types: {_VALID_TYPES_TEXT}"
                    )
                return
        else:
            found = _return_type(arg) or _ANY_TYPE_TEXT
        raise self._error(
            "Incorrect operand type for operator or function; "
            f"operator or function: attribute_type, operand type: {found}"
        )

    # --- operands and conditions ------------------------------------------------------

    def operand(self, op: Operand) -> None:
        """Validate an operand (and any function or arithmetic inside it)."""
        if isinstance(op, PathOperand):
            self.path(op)
        elif isinstance(op, ValueOperand):
            self._value(op)
        elif isinstance(op, FunctionCall):
            for arg in op.args:
                self.operand(arg)
            self._function(op)
        else:
            self.operand(op.left)
            self.operand(op.right)
            self._check_types(op.op, (op.left, op.right), _NUMBER)
            self._count_operator()

    def condition(self, cond: Condition) -> None:
        """Validate a condition tree (Condition/Filter/KeyCondition expressions)."""
        # NOT chains can be as long as the expression allows; unwrap them in a loop so
        # validation depth follows parentheses only.
        negations = 0
        while isinstance(cond, Not):
            negations += 1
            cond = cond.operand
        if isinstance(cond, And | Or):
            for sub in cond.operands:
                self.condition(sub)
            for _ in range(len(cond.operands) - 1):
                self._count_operator()
        elif isinstance(cond, Comparison):
            self.operand(cond.left)
            self.operand(cond.right)
            pair = (cond.left, cond.right)
            if cond.op in _ORDERING_OPS:
                self._check_types(cond.op, pair, _ORDERED)
            self._check_distinct(cond.op, pair)
            self._count_operator()
        elif isinstance(cond, Between):
            trio = (cond.operand, cond.low, cond.high)
            for op in trio:
                self.operand(op)
            self._check_types("BETWEEN", trio, _ORDERED)
            self._check_distinct("BETWEEN", trio)
            self._between_bounds(cond.low, cond.high)
            self._count_operator()
        elif isinstance(cond, In):
            everything = (cond.operand, *cond.candidates)
            for op in everything:
                self.operand(op)
            self._check_distinct("IN", everything)
            if len(cond.candidates) > MAX_IN_OPERANDS:
                raise self._error(
                    "The IN operator is provided with too many operands; "
                    f"number of operands: {len(cond.candidates)}"
                )
            self._count_operator()
        else:
            self.operand(cond)
        for _ in range(negations):
            self._count_operator()

    def _between_bounds(self, low: Operand, high: Operand) -> None:
        # Only constants can be checked before evaluation; with an item attribute on
        # either side a bad range just makes the condition false.
        if not (isinstance(low, ValueOperand) and isinstance(high, ValueOperand)):
            return
        assert low.value is not None and high.value is not None
        if value_type(low.value) != value_type(high.value):
            raise self._error(
                "The BETWEEN operator requires same data type for lower and upper bounds; "
                f"lower bound operand: {_render_bound(low)}, "
                f"upper bound operand: {_render_bound(high)}"
            )
        order = compare_values(low.value, high.value)
        if order is not None and order > 0:
            raise self._error(
                "The BETWEEN operator requires upper bound to be greater than or equal to "
                f"lower bound; lower bound operand: {_render_bound(low)}, "
                f"upper bound operand: {_render_bound(high)}"
            )

    # --- update and projection paths --------------------------------------------------

    def paths(self, operands: list[PathOperand]) -> None:
        """Validate target paths, each against the ones before it (overlap/conflict)."""
        seen: list[Path] = []
        for operand in operands:
            self.path(operand)
            for earlier in seen:
                relation = path_relation(earlier, operand.path)
                if relation is not None:
                    raise self._error(
                        f"Two document paths {relation} with each other; must remove or "
                        f"rewrite one of these paths; path one: {format_path(earlier)}, "
                        f"path two: {format_path(operand.path)}"
                    )
            seen.append(operand.path)

    def add_delete_value(self, action: str, operand: ValueOperand) -> None:
        """The value of an ADD (number or set) or DELETE (set) action."""
        self._value(operand)
        assert operand.value is not None
        tag = value_type(operand.value)
        allowed = _ADD_TYPES if action == "ADD" else _DELETE_TYPES
        if tag not in allowed:
            raise self._error(
                "Incorrect operand type for operator or function; "
                f"operator: {action}, operand type: {_TYPE_NAMES[tag]}, "
                f"typeSet: ALLOWED_FOR_{action}_OPERAND"
            )
