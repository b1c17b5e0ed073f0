"""The expression engine against an independent reference model.

Hypothesis draws random items of plain Python values and random *valid* condition and
update expressions over them (built as small trees here, then rendered to text with
``#name``/``:value`` placeholders and parentheses).  The engine parses the text and
evaluates it on the wire form of the item; the reference below evaluates the tree on
the plain values.  Both must agree on every example.

The reference is written from DynamoDB's documented behaviour (Developer Guide:
Expressions.OperatorsAndFunctions, Expressions.UpdateExpressions, and key ordering: S
by UTF-8 bytes, N by value, B by unsigned bytes) and the edge cases Alternator's tests
record against the service, not from the engine: it works on Python values
(str, int/Decimal, bool, None, bytes, list, dict, frozenset) and never calls into
``regions`` (``from_plain`` only converts the inputs the engine is given).

Structural choices come from a Random that Hypothesis seeds, with probabilities
tuned so that the interesting cases are common: paths mostly exist, constants are
often the compared value itself, a member, a prefix or a neighbour of it.  (Each
tuning was checked by breaking the engine on purpose: ``<>`` on a missing operand,
UTF-16 string order, list ``contains``, NOT chains, BETWEEN bounds, append order,
``if_not_exists``, emptied sets, ADD on a missing number; every such break fails
one of these tests.)  Where those sources leave a behaviour open (the length
``size()`` gives a non-ASCII string; what ``<>`` does with a ``size()`` that has no
value; whether an unused ``if_not_exists`` fallback is evaluated) the reference raises
:class:`Unverified` and the example is discarded rather than asserting a guess.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any, Final, TypeAlias, TypeVar

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from regions.errors import ValidationError
from regions.expressions import (
    ExpressionContext,
    apply_update,
    evaluate_condition,
    parse_condition,
    parse_update,
)
from regions.types import from_plain

CHECKS = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# --------------------------------------------------------------------------- plain values

Plain: TypeAlias = Any
_T = TypeVar("_T")
Comp: TypeAlias = str | int
PathT: TypeAlias = tuple[Comp, ...]

#: attribute names: the last three can only be written as #placeholders (a reserved
#: word, and a name with a dot, which ``#n`` keeps as ONE component)
NAMES: Final = ("a", "b", "c", "k", "name", "size", "x.y")
BARE: Final = frozenset({"a", "b", "c", "k"})
TYPE_NAMES: Final = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class Unverified(Exception):
    """The reference document does not decide this case."""


# Strings mix ASCII with a BMP character and one outside the BMP, so that code-point
# (UTF-8) order differs from UTF-16 order and ordering bugs show.
_CHARS: Final = st.sampled_from(["a", "b", "é", "\uffee", "\U0001f600"])
strings = st.one_of(st.text(_CHARS, min_size=1, max_size=3), st.just(""))
numbers = st.one_of(
    st.integers(-3, 12),
    st.sampled_from(
        [
            Decimal("0.5"),
            Decimal("-1.25"),
            Decimal("1E+3"),
            Decimal("1000.00"),
            Decimal("12345678901234567890123456789012345678"),
            Decimal("1E-100"),
            Decimal("9.9E+125"),
        ]
    ),
)
binaries = st.binary(max_size=3)
scalars = st.one_of(strings, numbers, binaries, st.booleans(), st.none())
sets = st.one_of(
    st.frozensets(strings, min_size=1, max_size=3),
    st.frozensets(numbers, min_size=1, max_size=3),
    st.frozensets(binaries, min_size=1, max_size=3),
)
values = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(NAMES), inner, max_size=3)
    ),
    max_leaves=6,
)
items = st.dictionaries(st.sampled_from(NAMES), values, min_size=1, max_size=5)


def dtype(v: Plain) -> str:
    if isinstance(v, bool):
        return "BOOL"  # before int: True is an int in Python
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "S"
    if isinstance(v, int | Decimal):
        return "N"
    if isinstance(v, bytes):
        return "B"
    if isinstance(v, list):
        return "L"
    if isinstance(v, dict):
        return "M"
    assert isinstance(v, frozenset) and v
    return {"S": "SS", "N": "NS", "B": "BS"}[dtype(next(iter(v)))]


def num(v: Plain) -> Decimal:
    return Decimal(v)


def equal(a: Plain, b: Plain) -> bool:
    """DynamoDB equality: same type, and numbers by value, sets regardless of order."""
    if a is MISSING or b is MISSING or dtype(a) != dtype(b):
        return False
    t = dtype(a)
    if t == "N":
        return num(a) == num(b)
    if t == "NS":
        return {num(x) for x in a} == {num(x) for x in b}
    if t == "L":
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if t == "M":
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return bool(a == b)


def order(a: Plain, b: Plain) -> int | None:
    """-1/0/1 for S (UTF-8 bytes), N (numerically), B (unsigned bytes); None otherwise."""
    if a is MISSING or b is MISSING or dtype(a) != dtype(b):
        return None
    t = dtype(a)
    if t == "S":
        x, y = a.encode("utf-8"), b.encode("utf-8")
    elif t == "N":
        x, y = num(a), num(b)
    elif t == "B":
        x, y = a, b
    else:
        return None
    return int(x > y) - int(x < y)


def get(item: dict[str, Plain], path: PathT) -> Plain:
    cur: Plain = item.get(str(path[0]), MISSING)
    for comp in path[1:]:
        if isinstance(comp, str):
            cur = cur.get(comp, MISSING) if isinstance(cur, dict) else MISSING
        else:
            cur = cur[comp] if isinstance(cur, list) and comp < len(cur) else MISSING
    return cur


# --------------------------------------------------------------------------- condition trees


@dataclass(frozen=True)
class P:
    path: PathT


@dataclass(frozen=True)
class V:
    value: Plain


@dataclass(frozen=True)
class Size:
    of: P


Operand: TypeAlias = P | V | Size


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Btw:
    x: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True)
class InList:
    x: Operand
    candidates: tuple[Operand, ...]


@dataclass(frozen=True)
class Fn:
    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True)
class NotC:
    c: Cond
    wrap: bool = False


@dataclass(frozen=True)
class AndC:
    left: Cond
    right: Cond
    wrap: bool = False


@dataclass(frozen=True)
class OrC:
    left: Cond
    right: Cond
    wrap: bool = False


Cond: TypeAlias = Cmp | Btw | InList | Fn | NotC | AndC | OrC


# --------------------------------------------------------------------------- reference: conditions


@dataclass(frozen=True)
class _Value:
    """An evaluated operand; ``from_size`` marks a size() result (for the unverified
    ``<>`` case)."""

    v: Plain
    from_size: bool = False


def _size(v: Plain) -> Plain:
    """§4.2: S its length, B its bytes, sets/L/M their counts; else no value."""
    t = dtype(v) if v is not MISSING else None
    if t == "S":
        if not v.isascii():
            raise Unverified("size() of a non-ASCII string: characters or bytes")
        return len(v)
    if t in ("B", "SS", "NS", "BS", "L", "M"):
        return len(v)
    return MISSING


def _operand(op: Operand, item: dict[str, Plain]) -> _Value:
    if isinstance(op, P):
        return _Value(get(item, op.path))
    if isinstance(op, V):
        return _Value(op.value)
    return _Value(_size(get(item, op.of.path)), from_size=True)


def _compare(op: str, a: _Value, b: _Value) -> bool:
    if op == "<>":
        if (a.from_size and a.v is MISSING) or (b.from_size and b.v is MISSING):
            raise Unverified("<> against a size() without a value")
        # §4.2: different types are unequal, and a missing operand makes <> true
        return not equal(a.v, b.v)
    if op == "=":
        return equal(a.v, b.v)
    o = order(a.v, b.v)
    if o is None:
        return False  # missing, other types, or unordered types: false, never an error
    return {"<": o < 0, "<=": o <= 0, ">": o > 0, ">=": o >= 0}[op]


def _contains(a: Plain, b: Plain) -> bool:
    if a is MISSING or b is MISSING:
        return False
    ta, tb = dtype(a), dtype(b)
    if ta in ("S", "B"):
        return ta == tb and b in a  # substring (UTF-8 substrings are code-point ones)
    if ta in ("SS", "NS", "BS"):
        return ta == tb + "S" and any(equal(x, b) for x in a)
    if ta == "L":
        return any(equal(x, b) for x in a)
    return False


def reference_condition(c: Cond, item: dict[str, Plain]) -> bool:
    if isinstance(c, NotC):
        return not reference_condition(c.c, item)
    if isinstance(c, AndC):
        # both sides are evaluated: an Unverified on either side must surface
        left, right = reference_condition(c.left, item), reference_condition(c.right, item)
        return left and right
    if isinstance(c, OrC):
        left, right = reference_condition(c.left, item), reference_condition(c.right, item)
        return left or right
    if isinstance(c, Cmp):
        return _compare(c.op, _operand(c.left, item), _operand(c.right, item))
    if isinstance(c, Btw):
        x = _operand(c.x, item)
        return _compare(">=", x, _operand(c.low, item)) and _compare(
            "<=", x, _operand(c.high, item)
        )
    if isinstance(c, InList):
        x = _operand(c.x, item).v
        return any(equal(x, _operand(o, item).v) for o in c.candidates)
    args = [_operand(a, item).v for a in c.args]
    if c.name == "attribute_exists":
        return args[0] is not MISSING
    if c.name == "attribute_not_exists":
        return args[0] is MISSING
    if c.name == "attribute_type":
        return args[0] is not MISSING and dtype(args[0]) == args[1]
    if c.name == "begins_with":
        a, b = args
        if a is MISSING or b is MISSING or dtype(a) != dtype(b) or dtype(a) not in ("S", "B"):
            return False
        return bool(a.startswith(b))
    assert c.name == "contains"
    return _contains(args[0], args[1])


# --------------------------------------------------------------------------- rendering


@dataclass
class Renderer:
    """Tree -> expression text plus its ExpressionAttributeNames/Values."""

    hash_all: bool = False
    lower: bool = False
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Plain] = field(default_factory=dict)

    def kw(self, word: str) -> str:
        return word.lower() if self.lower else word

    def name(self, n: str) -> str:
        if n in BARE and not self.hash_all:
            return n
        for ph, known in self.names.items():
            if known == n:
                return ph
        ph = f"#n{len(self.names)}"
        self.names[ph] = n
        return ph

    def value(self, v: Plain) -> str:
        ph = f":v{len(self.values)}"
        self.values[ph] = v
        return ph

    def path(self, p: PathT) -> str:
        out = self.name(str(p[0]))
        for comp in p[1:]:
            out += f"[{comp}]" if isinstance(comp, int) else "." + self.name(comp)
        return out

    def operand(self, op: Operand) -> str:
        if isinstance(op, P):
            return self.path(op.path)
        if isinstance(op, V):
            return self.value(op.value)
        return f"size({self.path(op.of.path)})"

    def cond(self, c: Cond) -> str:
        text, _ = self._cond(c)
        return text

    def _group(self, text: str, grouped: bool) -> tuple[str, bool]:
        # never "((x))": DynamoDB rejects redundant parentheses
        return (text, True) if grouped else (f"({text})", True)

    def _cond(self, c: Cond) -> tuple[str, bool]:
        """(text, whether the text is one parenthesised group)."""
        if isinstance(c, NotC):
            inner, grouped = self._cond(c.c)
            if isinstance(c.c, AndC | OrC):  # NOT binds tighter than AND and OR
                inner, grouped = self._group(inner, grouped)
            text = f"{self.kw('NOT')} {inner}"
            return self._group(text, False) if c.wrap else (text, False)
        if isinstance(c, AndC | OrC):
            parts = []
            for child in (c.left, c.right):
                t, g = self._cond(child)
                if isinstance(c, AndC) and isinstance(child, OrC):  # AND binds tighter
                    t, g = self._group(t, g)
                parts.append(t)
            text = f" {self.kw('AND' if isinstance(c, AndC) else 'OR')} ".join(parts)
            return self._group(text, False) if c.wrap else (text, False)
        if isinstance(c, Cmp):
            return f"{self.operand(c.left)} {c.op} {self.operand(c.right)}", False
        if isinstance(c, Btw):
            x, lo, hi = (self.operand(o) for o in (c.x, c.low, c.high))
            return f"{x} {self.kw('BETWEEN')} {lo} {self.kw('AND')} {hi}", False
        if isinstance(c, InList):
            cands = ", ".join(self.operand(o) for o in c.candidates)
            return f"{self.operand(c.x)} {self.kw('IN')} ({cands})", False
        args = ", ".join(self.operand(a) for a in c.args)
        return f"{c.name}({args})", False

    def context(self) -> ExpressionContext:
        wire = {k: from_plain(v) for k, v in self.values.items()}
        return ExpressionContext(self.names or None, wire or None)


# --------------------------------------------------------------------------- generation


def _subvalues(v: Plain) -> list[Plain]:
    """Every value inside ``v`` (itself, container members, set elements)."""
    out = [v]
    if isinstance(v, list):
        for x in v:
            out += _subvalues(x)
    elif isinstance(v, dict):
        for x in v.values():
            out += _subvalues(x)
    elif isinstance(v, frozenset):
        out += list(v)
    return out


class Gen:
    """Structural choices from a Random that Hypothesis seeds (so they follow the
    probabilities written here, where ``data.draw`` would favour its "simplest" picks),
    fresh values from Hypothesis strategies."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.rnd: random.Random = data.draw(st.randoms(use_true_random=True), label="choices")

    def chance(self, p: float) -> bool:
        return self.rnd.random() < p

    def choice(self, options: Sequence[_T]) -> _T:
        return options[self.rnd.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rnd.randint(low, high)

    def fresh(self, strategy: st.SearchStrategy[_T]) -> _T:
        return self.data.draw(strategy)


def existing_paths(item: dict[str, Plain]) -> list[tuple[PathT, Plain]]:
    """Every path that exists in ``item``, with its value."""
    out: list[tuple[PathT, Plain]] = []

    def walk(path: PathT, v: Plain) -> None:
        out.append((path, v))
        if isinstance(v, dict):
            for k, x in v.items():
                walk((*path, k), x)
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk((*path, i), x)

    for k, v in item.items():
        walk((k,), v)
    return out


def _wander(g: Gen, item: dict[str, Plain]) -> PathT:
    """A random walk: mostly along the item, sometimes off it (missing paths, paths
    through scalars, list indexes past the end)."""
    top = g.choice(sorted(item)) if item and g.chance(0.7) else g.choice(NAMES)
    path: list[Comp] = [top]
    cur: Plain = item.get(top, MISSING)
    while len(path) <= 3 and g.chance(0.5 if isinstance(cur, dict | list) else 0.15):
        follow = g.chance(0.7)
        if isinstance(cur, dict) and cur and follow:
            comp: Comp = g.choice(sorted(cur))
        elif isinstance(cur, list) and cur and follow:
            comp = g.integer(0, len(cur) - 1)
        elif isinstance(cur, list):
            comp = g.integer(len(cur), len(cur) + 2)
        else:
            comp = g.choice(NAMES) if g.chance(0.5) else g.integer(0, 2)
        path.append(comp)
        cur = get({"_": cur}, ("_", comp)) if cur is not MISSING else MISSING
    return tuple(path)


def _new_child(g: Gen, item: dict[str, Plain]) -> PathT:
    """A path that does not exist under a parent that does: a new attribute, a new
    map key, or a list index past the end."""
    parents: list[tuple[PathT, Plain]] = [((), item)]
    parents += [(p, v) for p, v in existing_paths(item) if isinstance(v, dict | list)]
    path, parent = g.choice(parents)
    if isinstance(parent, list):
        return (*path, g.integer(len(parent), len(parent) + 2))
    free = [n for n in NAMES if n not in parent]
    return (*path, g.choice(free or NAMES))


def draw_path(g: Gen, item: dict[str, Plain], want: Callable[[Plain], bool] | None = None) -> PathT:
    """Mostly a path that exists (holding a value ``want`` accepts, if any does), else
    a new child of an existing container, else a random walk."""
    roll = g.rnd.random()
    if roll < 0.6:
        found = [p for p, v in existing_paths(item) if want is None or want(v)]
        if found:
            return g.choice(found)
    if roll < 0.8:
        return _new_child(g, item)
    return _wander(g, item)


def of_type(*types: str) -> Callable[[Plain], bool]:
    return lambda v: dtype(v) in types


def _related(near: Plain) -> list[Plain]:
    """Constants that make a comparison with ``near`` interesting: itself, its
    members, its prefixes and its numeric neighbours."""
    if near is MISSING:
        return []
    out: list[Plain] = [near]
    if isinstance(near, str):
        # prefixes, and strings differing in the last character: the UTF-8 order of
        # "\uffee" and "\U0001f600" is the opposite of their UTF-16 order
        out += [near[:i] for i in range(len(near))]
        out += [near[:-1] + c for c in ("a", "\uffee", "\U0001f600")]
    elif isinstance(near, bytes):
        out += [near[:i] for i in range(len(near))]
        out += [near[:-1] + bytes([b]) for b in (0, 0x7F, 0x80, 0xFF)]
    elif isinstance(near, int | Decimal) and not isinstance(near, bool):
        out += [num(near) - 1, num(near) + 1]
    elif isinstance(near, list):
        out += near
    elif isinstance(near, frozenset):
        members = sorted(near, key=repr)
        out += members
        if len(members) > 1:
            out.append(frozenset(members[1:]))
    elif isinstance(near, dict):
        out += list(near.values())
    return out


_FRESH: Final[dict[str, st.SearchStrategy[Plain]]] = {
    "S": strings,
    "N": numbers,
    "B": binaries,
    "BOOL": st.booleans(),
}


def draw_constant(
    g: Gen, item: dict[str, Plain], kinds: tuple[str, ...] | None = None, near: Plain = MISSING
) -> Plain:
    """A constant: often related to ``near`` (the value it will be compared with), or
    found elsewhere in the item, so that equalities and bounds are hit."""
    related = [v for v in _related(near) if kinds is None or dtype(v) in kinds]
    pool = [v for v in _subvalues(item) if kinds is None or dtype(v) in kinds]
    roll = g.rnd.random()
    if related and roll < 0.5:
        return g.choice(related)
    if pool and roll < 0.75:
        return g.choice(pool)
    if kinds is None:
        return g.fresh(values)
    return g.fresh(_FRESH[g.choice(kinds)])


def _size_or_missing(v: Plain) -> Plain:
    try:
        return _size(v)
    except Unverified:
        return MISSING


def value_of(op: Operand, item: dict[str, Plain]) -> Plain:
    """What an operand holds in the item (to draw constants related to it)."""
    if isinstance(op, P):
        return get(item, op.path)
    if isinstance(op, Size):
        return _size_or_missing(get(item, op.of.path))
    return op.value


ORDERED: Final = ("S", "N", "B")


def draw_subject(
    g: Gen, item: dict[str, Plain], want: Callable[[Plain], bool] | None = None
) -> P | Size:
    if g.chance(0.2):
        return Size(P(draw_path(g, item, of_type("S", "B", "SS", "NS", "BS", "L", "M"))))
    return P(draw_path(g, item, want))


def _other(g: Gen, item: dict[str, Plain], first: Operand) -> P:
    """A path operand different from ``first`` (DynamoDB rejects e.g. ``a = a``)."""
    p = P(draw_path(g, item))
    return p if not (isinstance(first, P) and p == first) else P((*p.path, "k"))


def draw_leaf(g: Gen, item: dict[str, Plain]) -> Cond:
    kind = g.choice(["cmp", "cmp", "between", "in", "fn", "fn"])
    if kind == "cmp":
        op = g.choice(["=", "<>", "<", "<=", ">", ">="])
        ordering = op not in ("=", "<>")
        # an ordering comparison mostly between values of one ordered type
        left: Operand = draw_subject(g, item, of_type(g.choice(ORDERED)) if ordering else None)
        right: Operand
        if g.chance(0.6):
            # a constant of a type the operator accepts (ordering: S, N and B only)
            kinds = ORDERED if ordering else None
            right = V(draw_constant(g, item, kinds, value_of(left, item)))
        else:
            right = _other(g, item, left)
        if g.chance(0.3):
            left, right = right, left
        return Cmp(op, left, right)
    if kind == "between":
        x = draw_subject(g, item, of_type(*ORDERED))
        near = value_of(x, item)
        if g.chance(0.7):
            t = g.choice(ORDERED)
            if near is not MISSING and dtype(near) in ORDERED and g.chance(0.7):
                t = dtype(near)
            lo, hi = draw_constant(g, item, (t,), near), draw_constant(g, item, (t,), near)
            if (order(lo, hi) or 0) > 0:
                lo, hi = hi, lo  # constant bounds must be in order
            return Btw(x, V(lo), V(hi))
        bound = V(draw_constant(g, item, ORDERED, near))
        other = _other(g, item, x)
        return Btw(x, bound, other) if g.chance(0.5) else Btw(x, other, bound)
    if kind == "in":
        x = draw_subject(g, item)
        near = value_of(x, item)
        cands = tuple(
            V(draw_constant(g, item, None, near)) if g.chance(0.7) else _other(g, item, x)
            for _ in range(g.integer(1, 4))
        )
        return InList(x, cands)
    name = g.choice(
        ["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"]
    )
    want = {
        "begins_with": of_type("S", "B"),
        "contains": of_type(*g.choice([("S", "B"), ("SS", "NS", "BS"), ("L",)])),
    }.get(name)
    p = P(draw_path(g, item, want))
    if name in ("attribute_exists", "attribute_not_exists"):
        return Fn(name, (p,))
    if name == "attribute_type":
        current = get(item, p.path)
        own = dtype(current) if current is not MISSING and g.chance(0.5) else None
        return Fn(name, (p, V(own or g.choice(TYPE_NAMES))))
    if g.chance(0.25):
        second: Operand = _other(g, item, p)
    elif name == "begins_with":
        second = V(draw_constant(g, item, ("S", "B"), get(item, p.path)))
    else:
        second = V(draw_constant(g, item, ("S", "N", "B", "BOOL"), get(item, p.path)))
    return Fn(name, (p, second))


def draw_condition(g: Gen, item: dict[str, Plain], depth: int = 0) -> Cond:
    if depth >= 3 or not g.chance(0.55 - 0.15 * depth):
        return draw_leaf(g, item)
    kind = g.choice(["and", "or", "not"])
    wrap = g.chance(0.3)
    if kind == "not":
        return NotC(draw_condition(g, item, depth + 1), wrap)
    left = draw_condition(g, item, depth + 1)
    right = draw_condition(g, item, depth + 1)
    return AndC(left, right, wrap) if kind == "and" else OrC(left, right, wrap)


def wire(item: dict[str, Plain]) -> dict[str, Any]:
    return {k: from_plain(v) for k, v in item.items()}


# --------------------------------------------------------------------------- the property


@CHECKS
@given(st.data())
def test_conditions_evaluate_like_the_reference(data: st.DataObject) -> None:
    item = data.draw(items, label="item")
    g = Gen(data)
    tree = draw_condition(g, item)
    r = Renderer(hash_all=g.chance(0.3), lower=g.chance(0.2))
    text = r.cond(tree)
    kind = g.choice(["ConditionExpression", "FilterExpression"])
    ctx = r.context()
    try:
        parsed = parse_condition(text, ctx, kind)
        ctx.check_all_used()
    except ValidationError as exc:
        raise AssertionError(f"valid expression rejected: {text!r} {r.names}: {exc}") from None
    try:
        expected = reference_condition(tree, item)
        expected_missing = reference_condition(tree, {})
    except Unverified:
        assume(False)
        raise  # unreachable: assume(False) raises
    got = evaluate_condition(parsed, wire(item))
    event(f"condition {expected}")
    assert got == expected, (text, r.names, r.values, item)
    # the item does not exist: every attribute is missing
    assert evaluate_condition(parsed, None) == expected_missing, (text, r.values)


#: strings whose UTF-8 (code point) order differs from their UTF-16 order
close_strings = st.text(st.sampled_from(["a", "\uffee", "\U0001f600"]), max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["=", "<>", "<", "<=", ">", ">="]),
    st.one_of(
        st.tuples(close_strings, close_strings),
        st.tuples(numbers, numbers),
        st.tuples(binaries, binaries),
    ),
)
def test_scalar_comparisons_like_the_reference(op: str, pair: tuple[Plain, Plain]) -> None:
    """Every comparison operator on two values of one ordered type: the trees above
    rarely put two close strings side by side."""
    tree = Cmp(op, P(("a",)), V(pair[1]))
    r = Renderer()
    parsed = parse_condition(r.cond(tree), r.context())
    item = {"a": pair[0]}
    assert evaluate_condition(parsed, wire(item)) == reference_condition(tree, item)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_functions_like_the_reference(data: st.DataObject) -> None:
    """begins_with, contains and size() on one attribute of every type, with
    arguments related to it (its members, prefixes, size)."""
    g = Gen(data)
    item = {"a": data.draw(values, label="a")}
    subject = P(("a",))
    name = g.choice(["begins_with", "contains", "size"])
    tree: Cond
    if name == "size":
        near = _size_or_missing(item["a"])
        n = near if near is not MISSING else g.integer(0, 3)
        tree = Cmp(g.choice(["=", "<", "<=", ">", ">="]), Size(subject), V(g.choice([n, n + 1])))
    else:
        kinds = ("S", "B") if name == "begins_with" else ("S", "N", "B", "BOOL")
        tree = Fn(name, (subject, V(draw_constant(g, item, kinds, item["a"]))))
    r = Renderer()
    parsed = parse_condition(r.cond(tree), r.context())
    try:
        expected = reference_condition(tree, item)
    except Unverified:
        assume(False)
        raise
    event(f"{name} {expected}")
    assert evaluate_condition(parsed, wire(item)) == expected, (r.cond(tree), r.values, item)


def test_the_reference_decides_known_cases() -> None:
    """The reference itself, on cases DynamoDB's documentation spells out."""
    item: dict[str, Plain] = {"a": 1, "b": "x", "s": frozenset({1, 2}), "l": [1, {"k": "v"}]}

    def ev(c: Cond) -> bool:
        return reference_condition(c, item)

    assert not ev(Cmp("=", P(("zz",)), P(("yy",))))  # two missing are not equal
    assert ev(Cmp("<>", P(("zz",)), V(1)))  # <> with a missing operand
    assert not ev(Cmp("<", P(("b",)), V(5)))  # types differ: false, not an error
    assert ev(Cmp("=", P(("a",)), V(Decimal("1.000"))))  # numbers by value
    assert ev(Cmp("=", P(("s",)), V(frozenset({Decimal(2), 1}))))  # sets ignore order
    assert ev(Cmp(">", V("\U0001f600"), V("\uffee")))  # UTF-8 order, not UTF-16
    assert not ev(Cmp("=", V(True), V(1)))  # BOOL is not N
    assert ev(Fn("contains", (P(("l",)), V({"k": "v"}))))
    assert not ev(Fn("contains", (P(("s",)), V("1"))))  # element type must match
    assert not ev(Cmp("=", Size(P(("a",))), V(1)))  # size() of a number: false
    assert ev(Btw(P(("a",)), V(1), V(1)))
    assert ev(Fn("attribute_type", (P(("l", 1)), V("M"))))


# --------------------------------------------------------------------------- updates


@dataclass(frozen=True)
class Arith:
    op: str
    left: SetValue
    right: SetValue


@dataclass(frozen=True)
class IfNotExists:
    path: P
    fallback: SetValue


@dataclass(frozen=True)
class ListAppend:
    left: SetValue
    right: SetValue


SetValue: TypeAlias = P | V | Arith | IfNotExists | ListAppend


@dataclass(frozen=True)
class Action:
    verb: str  # SET, REMOVE, ADD, DELETE
    path: PathT
    value: SetValue | None = None


class UpdateFails(Exception):
    """DynamoDB rejects this update on this item (a ValidationException)."""


def check_number(d: Decimal) -> Decimal:
    if d == 0:
        return Decimal(0)
    with localcontext() as c:
        c.prec = 1000
        n = d.normalize()
    significant = len(n.as_tuple().digits)
    if significant > 38:
        raise UpdateFails("more than 38 significant digits")
    if n.adjusted() > 125 or n.adjusted() < -130:
        raise UpdateFails("number out of range")
    return n


def _exact_add(a: Decimal, b: Decimal, sign: int = 1) -> Decimal:
    with localcontext() as c:
        c.prec = 1000
        c.Emax, c.Emin = 999_999, -999_999
        return a + sign * b


def _set_value(v: SetValue, old: dict[str, Plain]) -> Plain:
    """§4.3: a SET value, computed from the OLD item."""
    if isinstance(v, V):
        return v.value
    if isinstance(v, P):
        found = get(old, v.path)
        if found is MISSING:
            raise UpdateFails("refers to an attribute that does not exist")
        return found
    if isinstance(v, Arith):
        a, b = _set_value(v.left, old), _set_value(v.right, old)
        if dtype(a) != "N" or dtype(b) != "N":
            raise UpdateFails("+ and - take numbers only")
        return check_number(_exact_add(num(a), num(b), 1 if v.op == "+" else -1))
    if isinstance(v, IfNotExists):
        current = get(old, v.path.path)
        if current is not MISSING:
            if isinstance(v.fallback, P) and get(old, v.fallback.path) is MISSING:
                raise Unverified("an unused if_not_exists fallback that does not exist")
            return current
        return _set_value(v.fallback, old)
    a, b = _set_value(v.left, old), _set_value(v.right, old)
    if dtype(a) != "L" or dtype(b) != "L":
        raise UpdateFails("list_append needs two lists")
    return [*a, *b]


def _add(current: Plain, operand: Plain) -> Plain:
    """§4.3 ADD: numbers add (missing = 0), sets union (missing = empty)."""
    t = dtype(operand)
    if current is MISSING:
        return operand
    if dtype(current) != t:
        raise UpdateFails("ADD of another type")
    if t == "N":
        return check_number(_exact_add(num(current), num(operand)))
    if t == "NS":
        have = {num(x) for x in current}
        return frozenset(current) | {x for x in operand if num(x) not in have}
    return frozenset(current) | operand


def _delete(current: Plain, operand: Plain) -> Plain:
    """§4.3 DELETE: set difference; an emptied set is removed; missing stays missing."""
    if current is MISSING:
        return MISSING
    if dtype(current) != dtype(operand):
        raise UpdateFails("DELETE of another type")
    gone = {num(x) for x in operand} if dtype(operand) == "NS" else set(operand)
    kept = frozenset(x for x in current if (num(x) if dtype(operand) == "NS" else x) not in gone)
    return kept if kept else MISSING


class _Removed:
    """Marks a list element removed by index (positions stay those of the old list)."""


def _parent(root: dict[str, Plain], path: PathT) -> Plain:
    """The container holding ``path``'s last step.  §4.3: a parent that is missing or
    not a container of the right kind (map for a name, list for an index) makes the
    path invalid for update."""
    cur: Plain = root
    for comp in path[:-1]:
        if isinstance(comp, str):
            ok = isinstance(cur, dict) and comp in cur
        else:
            ok = isinstance(cur, list) and comp < len(cur)
        if not ok:
            raise UpdateFails("document path invalid for update")
        cur = cur[comp]
    wanted = dict if isinstance(path[-1], str) else list
    if not isinstance(cur, wanted):
        raise UpdateFails("document path invalid for update")
    return cur


def reference_update(item: dict[str, Plain] | None, actions: list[Action]) -> dict[str, Plain]:
    old = item if item is not None else {}
    # every SET value is computed from the old item before anything changes
    set_values = [
        _set_value(a.value, old) if a.verb == "SET" and a.value is not None else None
        for a in actions
    ]
    new = copy.deepcopy(old)
    appends: list[tuple[list[Plain], int, Plain]] = []
    for action, value in zip(actions, set_values, strict=True):
        if item is None and action.verb in ("REMOVE", "DELETE"):
            continue  # nothing to remove from an item that does not exist
        # parents are checked on the new item before any list changes length, so
        # indexes still name positions of the old list
        parent = _parent(new, action.path)
        last = action.path[-1]
        if isinstance(last, int):
            assert isinstance(parent, list)
            if action.verb == "SET":
                if last < len(parent):
                    parent[last] = value
                else:
                    appends.append((parent, last, value))
            else:
                assert action.verb == "REMOVE"
                if last < len(parent):
                    parent[last] = _Removed()
            continue
        assert isinstance(parent, dict)
        current = parent.get(last, MISSING)
        if action.verb == "SET":
            result = value
        elif action.verb == "REMOVE":
            result = MISSING
        elif action.verb == "ADD":
            assert isinstance(action.value, V)
            result = _add(current, action.value.value)
        else:
            assert isinstance(action.value, V)
            result = _delete(current, action.value.value)
        if result is MISSING:
            parent.pop(last, None)
        else:
            parent[last] = result

    def sweep(v: Plain) -> Plain:
        if isinstance(v, list):
            return [sweep(x) for x in v if not isinstance(x, _Removed)]
        if isinstance(v, dict):
            return {k: sweep(x) for k, x in v.items()}
        return v

    # SET past the end appends, in index order, after the removals
    for target, _, value in sorted(appends, key=lambda t: t[1]):
        target.append(value)
    return {k: sweep(v) for k, v in new.items()}


def _overlaps(p: PathT, q: PathT) -> bool:
    """§4.3: a repeated or ancestor path overlaps; a name against an index conflicts."""
    for x, y in zip(p, q, strict=False):
        if isinstance(x, int) != isinstance(y, int):
            return True
        if x != y:
            return False
    return True


def draw_set_value(g: Gen, item: dict[str, Plain], depth: int = 0) -> SetValue:
    kinds = ["value", "value", "path", "arith", "if_not_exists", "list_append"]
    kind = g.choice(kinds if depth < 2 else kinds[:3])
    if kind == "value":
        return V(draw_constant(g, item))
    if kind == "path":
        return P(draw_path(g, item))
    if kind == "arith":

        def number_operand() -> SetValue:
            roll = g.integer(0, 2)
            if roll == 0:
                return V(draw_constant(g, item, ("N",)))
            p = P(draw_path(g, item, of_type("N")))
            return p if roll == 1 else IfNotExists(p, V(draw_constant(g, item, ("N",))))

        return Arith(g.choice("+-"), number_operand(), number_operand())
    if kind == "if_not_exists":
        p = P(draw_path(g, item))
        fallback = V(draw_constant(g, item)) if g.chance(0.7) else _other(g, item, p)
        return IfNotExists(p, fallback)

    def list_operand() -> SetValue:
        roll = g.integer(0, 2)
        if roll == 0:
            return V(g.fresh(st.lists(scalars, max_size=2)))
        p = P(draw_path(g, item, of_type("L")))
        return p if roll == 1 else IfNotExists(p, V(g.fresh(st.lists(scalars, max_size=2))))

    return ListAppend(list_operand(), list_operand())


def draw_add_delete_value(g: Gen, current: Plain, verb: str) -> Plain:
    """Mostly of the target's own type (so the action applies), sometimes not."""
    t = dtype(current) if current is not MISSING else None
    if t == "N" and verb == "ADD" and g.chance(0.75):
        return g.fresh(numbers)
    if t in ("SS", "NS", "BS") and g.chance(0.75):
        if verb == "DELETE" and g.chance(0.3):
            return current  # everything: the attribute goes
        element = {"SS": strings, "NS": numbers, "BS": binaries}[t]
        mine = sorted(current, key=repr)
        return g.fresh(
            st.frozensets(st.one_of(st.sampled_from(mine), element), min_size=1, max_size=3)
        )
    return g.fresh(st.one_of(numbers, sets) if verb == "ADD" else sets)


def draw_actions(g: Gen, item: dict[str, Plain]) -> list[Action]:
    actions: list[Action] = []
    for _ in range(g.integer(1, 4)):
        if actions and len(actions[-1].path) > 1 and g.chance(0.4):
            # a sibling of the previous target: several changes to one list (old
            # positions, appends in index order) or one map
            *parent, last = actions[-1].path
            current = get(item, tuple(parent))
            if isinstance(last, int):
                size = len(current) if isinstance(current, list) else 0
                sibling: Comp = g.integer(0, size + 3)
            else:
                sibling = g.choice(NAMES)
            path: PathT = (*parent, sibling)
        else:
            want = of_type("N", "SS", "NS", "BS") if g.chance(0.3) else None
            path = draw_path(g, item, want)
        if any(_overlaps(path, a.path) for a in actions):
            continue  # DynamoDB rejects overlapping and conflicting paths
        verbs = ["SET", "SET", "REMOVE"] + (["ADD", "DELETE"] if isinstance(path[-1], str) else [])
        verb = g.choice(verbs)
        if verb == "SET":
            actions.append(Action(verb, path, draw_set_value(g, item)))
        elif verb == "REMOVE":
            actions.append(Action(verb, path))
        else:
            current = get(item, path)
            actions.append(Action(verb, path, V(draw_add_delete_value(g, current, verb))))
    return actions


def render_update(r: Renderer, actions: list[Action], clause_order: list[str]) -> str:
    def value(v: SetValue) -> str:
        if isinstance(v, P | V):
            return r.operand(v)
        if isinstance(v, Arith):
            return f"{value(v.left)} {v.op} {value(v.right)}"
        if isinstance(v, IfNotExists):
            return f"if_not_exists({r.path(v.path.path)}, {value(v.fallback)})"
        return f"list_append({value(v.left)}, {value(v.right)})"

    clauses = []
    for verb in clause_order:
        mine = [a for a in actions if a.verb == verb]
        if not mine:
            continue
        parts = []
        for a in mine:
            if verb == "SET":
                assert a.value is not None
                parts.append(f"{r.path(a.path)} = {value(a.value)}")
            elif verb == "REMOVE":
                parts.append(r.path(a.path))
            else:
                assert isinstance(a.value, V)
                parts.append(f"{r.path(a.path)} {r.operand(a.value)}")
        clauses.append(f"{r.kw(verb)} " + ", ".join(parts))
    return " ".join(clauses)


def _outcome(fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | str:
    try:
        return fn()
    except (ValidationError, UpdateFails):
        return "ValidationException"


@CHECKS
@given(st.data())
def test_updates_apply_like_the_reference(data: st.DataObject) -> None:
    item = data.draw(items, label="item")
    g = Gen(data)
    exists = g.chance(0.85)
    actions = draw_actions(g, item)
    r = Renderer(hash_all=g.chance(0.3), lower=g.chance(0.2))
    order_ = ["SET", "REMOVE", "ADD", "DELETE"]
    g.rnd.shuffle(order_)
    text = render_update(r, actions, order_)
    ctx = r.context()
    try:
        parsed = parse_update(text, ctx)
        ctx.check_all_used()
    except ValidationError as exc:
        raise AssertionError(f"valid update rejected: {text!r} {r.names}: {exc}") from None
    start = item if exists else None
    try:
        expected = _outcome(lambda: wire(reference_update(start, actions)))
    except Unverified:
        assume(False)
        raise
    got = _outcome(lambda: apply_update(None if start is None else wire(start), parsed, ()).item)
    event("update fails" if isinstance(expected, str) else "update applies")
    assert got == expected, (text, r.names, r.values, start)


def test_the_update_reference_decides_known_cases() -> None:
    one = V(Decimal(1))
    # ADD starts a missing number at 0 and creates a missing set
    assert reference_update({}, [Action("ADD", ("n",), one)]) == {"n": Decimal(1)}
    assert reference_update(None, [Action("ADD", ("s",), V(frozenset({"x"})))]) == {
        "s": frozenset({"x"})
    }
    # DELETE that empties a set removes the attribute
    assert (
        reference_update({"s": frozenset({"x"})}, [Action("DELETE", ("s",), V(frozenset({"x"})))])
        == {}
    )
    # indexes name old positions; SET past the end appends in index order
    got = reference_update(
        {"l": [0, 1, 2, 3]},
        [
            Action("REMOVE", ("l", 1)),
            Action("SET", ("l", 9), V("z")),
            Action("SET", ("l", 3), V("t")),
            Action("SET", ("l", 5), V("y")),
        ],
    )
    assert got == {"l": [0, 2, "t", "y", "z"]}
    # values come from the old item: a swap
    swap = [Action("SET", ("a",), P(("b",))), Action("SET", ("b",), P(("a",)))]
    assert reference_update({"a": 1, "b": 2}, swap) == {"a": 2, "b": 1}
    # REMOVE of something missing is a no-op; SET under a missing map fails
    assert reference_update({"a": 1}, [Action("REMOVE", ("zz",))]) == {"a": 1}
    try:
        reference_update({"a": 1}, [Action("SET", ("zz", "q"), one)])
    except UpdateFails:
        pass
    else:
        raise AssertionError("SET zz.q with zz missing must fail")
