"""Recursive-descent parser for Condition/Filter/KeyCondition, Update and Projection
expressions, following DynamoDB's grammar (``DynamoDbGrammar.g4``, shipped with the DAX
client):

.. code-block:: text

    condition  := operand comparator operand | operand BETWEEN operand AND operand
                | operand IN ( operand {, operand} ) | function
                | ( condition ) | NOT condition | condition AND condition
                | condition OR condition
    update     := { SET set_action {, set_action} | REMOVE path {, path}
                  | ADD path :value {, ...} | DELETE path :value {, ...} }+
    set_action := path = ( operand | operand (+|-) operand | ( arithmetic ) )
    projection := path {, path}
    operand    := path | :value | name ( operand {, operand} ) | ( operand )
    path       := (name | #name) { . (name | #name) | [ index ] }

Precedence, tightest first: comparisons, IN, BETWEEN, functions, parentheses, NOT, AND,
OR.  ``((x))`` (a parenthesised group directly inside another) is "redundant
parentheses".  Errors are reported in DynamoDB's order: syntax first (the first token
the grammar cannot accept), then redundant parentheses, unknown or misplaced functions,
reserved words and repeated update sections; semantic checks follow in
:mod:`regions.expressions.validate`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NoReturn, TypeVar

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
    PathOperand,
    ValueOperand,
)
from regions.expressions.context import ExpressionContext
from regions.expressions.lexer import Token, TokenKind, syntax_error_message, tokenize
from regions.expressions.reserved import is_reserved
from regions.expressions.validate import (
    CONDITION_FUNCTIONS,
    MAX_OPERATORS,
    UPDATE_FUNCTIONS,
    invalid,
)

__all__ = [
    "CONDITION_KINDS",
    "MAX_EXPRESSION_BYTES",
    "MAX_LIST_INDEX",
    "Parser",
    "RawAction",
    "check_source",
    "too_deep",
]

MAX_EXPRESSION_BYTES: Final = 4096
CONDITION_KINDS: Final = frozenset(
    {"ConditionExpression", "FilterExpression", "KeyConditionExpression"}
)
UPDATE_KIND: Final = "UpdateExpression"

_COMPARATORS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})
_SECTIONS: Final = ("SET", "REMOVE", "ADD", "DELETE")
#: Parentheses and function calls nest the parser (and the tree walkers) one level each.
#: Without redundant parentheses every level costs an operator, so an expression under
#: the 300-operator limit never comes near this; the guard keeps hostile input from
#: exhausting the Python stack.
_MAX_NESTING: Final = MAX_OPERATORS + 10

# Priorities of the problems found while parsing: the most urgent is reported.  The
# order is dynalite's (recorded from DynamoDB) for ConditionExpression.
_P_PARENS: Final = 0
_P_FUNCTION_NAME: Final = 1
_P_FUNCTION_PLACE: Final = 2
_P_RESERVED: Final = 3
# DynamoDB Local checks list indexes in the same parse-tree walk as reserved words
# (exitListAccess beside exitId), so the two are reported in source order.
_P_LIST_INDEX: Final = _P_RESERVED
_P_SECTION: Final = 4

#: The largest list index a document path may hold.  Real DynamoDB refuses
#: ``l[4294967295]`` and accepts ``l[4294967294]`` (measured on the service by Floci,
#: floci-io/floci#3073, 2026-09-05); the text is DynamoDB's ``INVALID_LIST_INDEX``,
#: ``Invalid ProjectionExpression: List index is not within the allowable range; index:
#: [99999999999999]`` as ScyllaDB recorded it from DynamoDB (scylladb/scylladb#25947).
MAX_LIST_INDEX: Final = 4_294_967_294

_REDUNDANT: Final = "The expression has redundant parentheses;"

_T = TypeVar("_T")


def check_source(expression: str, kind: str) -> None:
    """Empty and oversized expressions are rejected before parsing."""
    if expression == "":
        raise invalid(kind, "The expression can not be empty;")
    size = len(expression.encode("utf-8", "surrogatepass"))
    if size > MAX_EXPRESSION_BYTES:
        # DynamoDB Local adds the size for condition-like expressions only.
        suffix = f" expression size: {size}" if kind in CONDITION_KINDS else ""
        raise invalid(kind, f"Expression size has exceeded the maximum allowed size;{suffix}")


class _SyntaxFailure(Exception):
    """The grammar cannot accept ``tokens[index]`` (``len(tokens)`` = end of input)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


@dataclass(frozen=True, slots=True)
class RawAction:
    """An update action as parsed: the target keeps its placeholders for validation."""

    section: str  # SET, REMOVE, ADD or DELETE
    target: PathOperand
    value: Operand | None  # SET: any operand; ADD/DELETE: a ValueOperand


class Parser:
    """Parses one expression of one kind.

    Use :meth:`run` with :meth:`condition`, :meth:`update` or :meth:`projection`; it
    turns syntax failures into DynamoDB's error and then reports the most urgent
    non-syntax problem found while parsing (see the module docstring).
    """

    def __init__(self, source: str, kind: str, ctx: ExpressionContext) -> None:
        self.kind = kind
        self.ctx = ctx
        self.tokens = tokenize(source)
        #: indexes into ``tokens`` of the significant (non-whitespace) tokens
        self.sig = [i for i, t in enumerate(self.tokens) if t.kind != TokenKind.WS]
        self.pos = 0
        self.problems: list[tuple[int, int, str]] = []
        self._openers: list[int] = []
        self._match, self._has_arith = self._scan_parentheses()

    # --- driver -----------------------------------------------------------------------

    def run(self, rule: Callable[[], _T]) -> _T:
        """Apply ``rule`` to the whole input, which must then be exhausted."""
        try:
            result = rule()
            if self.pos < len(self.sig):
                self._fail()
        except _SyntaxFailure as failure:
            raise invalid(self.kind, syntax_error_message(self.tokens, failure.index)) from None
        return result

    def raise_problems(self) -> None:
        """Raise the most urgent problem recorded while parsing, if any."""
        if self.problems:
            _, _, message = min(self.problems)
            raise invalid(self.kind, message)

    def _problem(self, priority: int, message: str) -> None:
        self.problems.append((priority, len(self.problems), message))

    # --- token access -----------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.tokens[self.sig[i]] if i < len(self.sig) else None

    def _token_at(self, sig_index: int) -> Token | None:
        return self.tokens[self.sig[sig_index]] if 0 <= sig_index < len(self.sig) else None

    def _fail(self) -> NoReturn:
        index = self.sig[self.pos] if self.pos < len(self.sig) else len(self.tokens)
        raise _SyntaxFailure(index)

    def _expect_punct(self, char: str) -> None:
        token = self._peek()
        if token is None or not token.is_punct(char):
            self._fail()
        self.pos += 1

    def _at_punct(self, char: str) -> bool:
        token = self._peek()
        return token is not None and token.is_punct(char)

    def _at_keyword(self, word: str) -> bool:
        token = self._peek()
        return token is not None and token.is_keyword(word)

    def _scan_parentheses(self) -> tuple[list[int], list[bool]]:
        """For each ``(``: the index of its ``)`` (-1 if unmatched) and whether a ``+`` or
        ``-`` appears directly inside it.  Lets the parser choose between readings of a
        parenthesis without backtracking."""
        match = [-1] * len(self.sig)
        has_arith = [False] * len(self.sig)
        stack: list[int] = []
        for k, ti in enumerate(self.sig):
            token = self.tokens[ti]
            if token.is_punct("("):
                stack.append(k)
            elif token.is_punct(")"):
                if stack:
                    match[stack.pop()] = k
            elif token.is_op("+", "-") and stack:
                has_arith[stack[-1]] = True
        return match, has_arith

    # --- nesting guard ----------------------------------------------------------------

    def _enter(self) -> None:
        self._openers.append(self.pos)
        if len(self._openers) > _MAX_NESTING:
            # Only an invalid expression gets here: either parentheses nest without an
            # operator between them, or there are more than 300 operators.
            openers = self._openers
            stacked_parens = any(
                b == a + 1 and self._is_open_paren(a) and self._is_open_paren(b)
                for a, b in itertools.pairwise(openers)
            )
            if stacked_parens:
                raise invalid(self.kind, _REDUNDANT)
            raise invalid(
                self.kind,
                f"The expression contains too many operators; operator count: {MAX_OPERATORS + 1}",
            )

    def _is_open_paren(self, sig_index: int) -> bool:
        token = self._token_at(sig_index)
        return token is not None and token.is_punct("(")

    def _leave(self) -> None:
        self._openers.pop()

    # --- paths and operands -----------------------------------------------------------

    def _path_component(self, elements: list[str | int], refs: list[str]) -> None:
        token = self._peek()
        if token is None:
            self._fail()
        if token.kind == TokenKind.NAME:
            if is_reserved(token.text):
                self._problem(
                    _P_RESERVED,
                    f"Attribute name is a reserved keyword; reserved keyword: {token.text}",
                )
            elements.append(token.text)
        elif token.kind == TokenKind.NAME_REF:
            # ``#n`` is one component whatever it stands for ("a.b" is not split).  An
            # undefined reference keeps its text; validation reports it.
            name = self.ctx.name(token.text)
            elements.append(token.text if name is None else name)
            refs.append(token.text)
        else:
            self._fail()
        self.pos += 1

    def path(self) -> PathOperand:
        """``name {.name | [index]}``, names possibly ``#references``."""
        elements: list[str | int] = []
        refs: list[str] = []
        self._path_component(elements, refs)
        while True:
            if self._at_punct("."):
                self.pos += 1
                self._path_component(elements, refs)
            elif self._at_punct("["):
                self.pos += 1
                token = self._peek()
                if token is None or token.kind != TokenKind.INDEX:
                    self._fail()
                self.pos += 1
                elements.append(self._list_index(token.text))
                self._expect_punct("]")
            else:
                return PathOperand(tuple(elements), tuple(refs))

    def _list_index(self, digits: str) -> int:
        # An expression is at most 4096 bytes, so int() never meets Python's digit limit.
        index = int(digits)
        if index > MAX_LIST_INDEX:
            self._problem(
                _P_LIST_INDEX,
                f"List index is not within the allowable range; index: [{digits}]",
            )
        return index

    def operand(self) -> Operand:
        operand, _ = self._operand()
        return operand

    def _operand(self) -> tuple[Operand, bool]:
        """An operand, and whether it was written in parentheses."""
        token = self._peek()
        if token is None:
            self._fail()
        if token.is_punct("("):
            self._enter()
            self.pos += 1
            inner, inner_parenthesized = self._operand()
            self._expect_punct(")")
            self._leave()
            if inner_parenthesized:
                self._problem(_P_PARENS, _REDUNDANT)
            return inner, True
        if token.kind == TokenKind.VALUE_REF:
            self.pos += 1
            return ValueOperand(token.text, self.ctx.value(token.text)), False
        if token.kind == TokenKind.NAME:
            following = self._peek(1)
            if following is not None and following.is_punct("("):
                # A function call, parsed inline (not in a helper) so that nested calls
                # cost one Python frame per level.
                self._enter()
                self.pos += 2
                args = [self._operand()[0]]
                while self._at_punct(","):
                    self.pos += 1
                    args.append(self._operand()[0])
                self._expect_punct(")")
                self._leave()
                return FunctionCall(token.text, tuple(args)), False
        if token.kind in (TokenKind.NAME, TokenKind.NAME_REF):
            return self.path(), False
        self._fail()

    # --- conditions -------------------------------------------------------------------

    def condition(self) -> Condition:
        """A whole Condition/Filter/KeyCondition expression."""
        node, _ = self._disjunction()
        return node

    def _disjunction(self) -> tuple[Condition, bool]:
        """OR of ANDs of (NOT* atom); the flag says "a single parenthesised atom"."""
        alternatives: list[tuple[Condition, bool]] = []
        while True:
            conjuncts: list[tuple[Condition, bool]] = []
            while True:
                negations = 0
                while self._at_keyword("NOT"):
                    self.pos += 1
                    negations += 1
                atom, parenthesized = self._atom()
                for _ in range(negations):
                    atom = Not(atom)
                conjuncts.append((atom, parenthesized and negations == 0))
                if not self._at_keyword("AND"):
                    break
                self.pos += 1
            if len(conjuncts) == 1:
                alternatives.append(conjuncts[0])
            else:
                alternatives.append((And(tuple(c for c, _ in conjuncts)), False))
            if not self._at_keyword("OR"):
                break
            self.pos += 1
        if len(alternatives) == 1:
            return alternatives[0]
        return Or(tuple(a for a, _ in alternatives)), False

    def _starts_comparison(self, token: Token | None) -> bool:
        if token is None:
            return False
        return (token.kind == TokenKind.OP and token.text in _COMPARATORS) or (
            token.is_keyword("BETWEEN") or token.is_keyword("IN")
        )

    def _atom(self) -> tuple[Condition, bool]:
        token = self._peek()
        if token is not None and token.is_punct("("):
            close = self._match[self.pos]
            # "(x) < y" opens an operand, "(x < y)" a condition: the token after the
            # matching ")" tells them apart.
            if close < 0 or not self._starts_comparison(self._token_at(close + 1)):
                self._enter()
                self.pos += 1
                inner, inner_parenthesized = self._disjunction()
                self._expect_punct(")")
                self._leave()
                if inner_parenthesized:
                    self._problem(_P_PARENS, _REDUNDANT)
                return inner, True
        left = self.operand()
        token = self._peek()
        if token is not None and token.kind == TokenKind.OP and token.text in _COMPARATORS:
            self.pos += 1
            return Comparison(token.text, left, self.operand()), False
        if token is not None and token.is_keyword("BETWEEN"):
            self.pos += 1
            low = self.operand()
            if not self._at_keyword("AND"):
                self._fail()
            self.pos += 1
            return Between(left, low, self.operand()), False
        if token is not None and token.is_keyword("IN"):
            self.pos += 1
            self._expect_punct("(")
            candidates = [self.operand()]
            while self._at_punct(","):
                self.pos += 1
                candidates.append(self.operand())
            self._expect_punct(")")
            return In(left, tuple(candidates)), False
        if isinstance(left, FunctionCall):
            return left, False
        self._fail()

    # --- updates ----------------------------------------------------------------------

    def update(self) -> list[RawAction]:
        """A whole UpdateExpression: one or more sections, each at most once."""
        actions: list[RawAction] = []
        seen: set[str] = set()
        if self._peek() is None:
            self._fail()
        while self._peek() is not None:
            token = self._peek()
            section = next(
                (s for s in _SECTIONS if token is not None and token.is_keyword(s)), None
            )
            if section is None:
                self._fail()
            self.pos += 1
            if section in seen:
                self._problem(
                    _P_SECTION,
                    f'The "{section}" section can only be used once in an update expression;',
                )
            seen.add(section)
            actions.append(self._action(section))
            while self._at_punct(","):
                self.pos += 1
                actions.append(self._action(section))
        return actions

    def _action(self, section: str) -> RawAction:
        target = self.path()
        if section == "SET":
            token = self._peek()
            if token is None or not token.is_op("="):
                self._fail()
            self.pos += 1
            return RawAction(section, target, self._set_value())
        if section == "REMOVE":
            return RawAction(section, target, None)
        token = self._peek()
        if token is None or token.kind != TokenKind.VALUE_REF:
            self._fail()
        self.pos += 1
        return RawAction(section, target, ValueOperand(token.text, self.ctx.value(token.text)))

    def _group_is_arithmetic(self, k: int) -> bool:
        """Whether the group opened at ``k`` holds ``x + y``, possibly inside more
        parentheses (``((a + b))``)."""
        while True:
            if self._has_arith[k]:
                return True
            close = self._match[k]
            inner = k + 1
            if close < 0 or not self._is_open_paren(inner) or self._match[inner] != close - 1:
                return False
            k = inner

    def _set_value(self) -> Operand:
        if self._at_punct("(") and self._group_is_arithmetic(self.pos):
            return self._parenthesized_arithmetic()
        left, _ = self._operand()
        token = self._peek()
        if token is not None and token.is_op("+", "-"):
            self.pos += 1
            return Arithmetic(token.text, left, self.operand())
        return left

    def _parenthesized_arithmetic(self) -> Arithmetic:
        opened = self.pos
        self._enter()
        self.pos += 1
        if (
            not self._has_arith[opened]
            and self._at_punct("(")
            and self._group_is_arithmetic(self.pos)
        ):
            inner = self._parenthesized_arithmetic()
            self._problem(_P_PARENS, _REDUNDANT)
        else:
            left = self.operand()
            token = self._peek()
            if token is None or not token.is_op("+", "-"):
                self._fail()
            self.pos += 1
            inner = Arithmetic(token.text, left, self.operand())
        self._expect_punct(")")
        self._leave()
        return inner

    # --- projections ------------------------------------------------------------------

    def projection(self) -> list[PathOperand]:
        """A whole ProjectionExpression: comma-separated paths."""
        paths = [self.path()]
        while self._at_punct(","):
            self.pos += 1
            paths.append(self.path())
        return paths

    # --- functions: names and places --------------------------------------------------

    def check_condition_functions(self, cond: Condition) -> None:
        """Record unknown functions and functions used in the wrong place in a condition."""
        stack: list[Condition] = [cond]
        while stack:
            node = stack.pop()
            if isinstance(node, Not):
                stack.append(node.operand)
            elif isinstance(node, And | Or):
                stack.extend(reversed(node.operands))
            elif isinstance(node, FunctionCall):
                self._check_call(node, as_condition=True, parent=None)
            elif isinstance(node, Comparison):
                self._check_operand(node.left)
                self._check_operand(node.right)
            elif isinstance(node, Between):
                for op in (node.operand, node.low, node.high):
                    self._check_operand(op)
            else:
                for op in (node.operand, *node.candidates):
                    self._check_operand(op)

    def check_update_functions(self, actions: list[RawAction]) -> None:
        """Record unknown functions and condition functions in SET values."""
        for action in actions:
            if action.section == "SET" and action.value is not None:
                self._check_operand(action.value)

    def _check_operand(self, op: Operand, parent: str | None = None) -> None:
        if isinstance(op, FunctionCall):
            self._check_call(op, as_condition=False, parent=parent)
        elif isinstance(op, Arithmetic):
            self._check_operand(op.left)
            self._check_operand(op.right)

    def _check_call(self, call: FunctionCall, *, as_condition: bool, parent: str | None) -> None:
        name = call.name
        if self.kind == UPDATE_KIND:
            if name in UPDATE_FUNCTIONS:
                # DynamoDB rejects list_append(list_append(...), ...) (observed by the
                # ScyllaDB alternator tests) while accepting other nestings.
                if name == "list_append" and parent == "list_append":
                    self._misplaced(name)
            elif name in CONDITION_FUNCTIONS:
                self._problem(
                    _P_FUNCTION_PLACE,
                    f"The function is not allowed in an update expression; function: {name}",
                )
            else:
                self._problem(_P_FUNCTION_NAME, f"Invalid function name; function: {name}")
        elif name in CONDITION_FUNCTIONS:
            # size() yields a number, so it only works as an operand; the others yield a
            # boolean, so they only work as a condition.
            if as_condition == (name == "size"):
                self._misplaced(name)
        elif name in UPDATE_FUNCTIONS:
            self._problem(
                _P_FUNCTION_PLACE,
                f"The function is not allowed in a condition expression; function: {name}",
            )
        else:
            self._problem(_P_FUNCTION_NAME, f"Invalid function name; function: {name}")
        for arg in call.args:
            self._check_operand(arg, parent=name)

    def _misplaced(self, name: str) -> None:
        self._problem(
            _P_FUNCTION_PLACE,
            f"The function is not allowed to be used this way in an expression; function: {name}",
        )


def too_deep(kind: str) -> ValidationError:
    """Last resort for input nested past the Python stack despite the nesting guard."""
    return invalid(
        kind,
        f"The expression contains too many operators; operator count: {MAX_OPERATORS + 1}",
    )
