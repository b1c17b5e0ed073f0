"""A group's writes as SQL text, for the simple-query protocol.

Why: a group's last message is its writes and then COMMIT.  asyncpg sends a statement
with parameters (the extended protocol) as a message of its own and waits for its
answer, so the writes and the COMMIT were two round trips.  The simple-query protocol
carries several statements in one message, but no parameters: the writes' values go
in the text.  This module writes them there, and only for the statements the store
itself builds (``postgres_groups._Batch``), whose every parameter is an array or a
number of a type named in its cast (``$3::bytea[]``, ``$9::bigint``).

Each array becomes one string constant cast to its type (``'{1,2}'::integer[]``), so
the server parses one literal per column instead of one expression per value.  Quoting
relies on ``standard_conforming_strings=on`` (a backslash is an ordinary character in
a string constant), which the store sets on every connection it opens
(``postgres_dialect.py``) so that a server default cannot change it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["UnsupportedParameter", "inline"]

#: a parameter and its cast: ``$12::bytea[]``, ``$3::bigint``
_MARK = re.compile(r"\$(\d+)::([a-z]+)(\[\])?")
_NUMBERS = frozenset(("integer", "bigint"))
#: a parameter left: one without a cast (its type unknown here)
_BARE = re.compile(r"\$\d")


class UnsupportedParameter(ValueError):
    """A parameter this module does not write as text (its caller sends the statement
    with parameters instead)."""


def inline(sql: str, args: Sequence[Any]) -> str:
    """``sql`` with each ``$n::type`` or ``$n::type[]`` replaced by ``args[n-1]`` as a
    constant of that type."""

    def constant(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        if not 0 <= index < len(args):
            raise UnsupportedParameter(f"no value for ${index + 1}")
        kind, value = match.group(2), args[index]
        if match.group(3):
            if not isinstance(value, (list, tuple)):
                raise UnsupportedParameter(f"${index + 1} is not an array")
            body = ",".join(_element(kind, v) for v in value)
            return f"'{{{body}}}'::{kind}[]"
        if value is None:
            return f"NULL::{kind}"
        if kind not in _NUMBERS:
            raise UnsupportedParameter(f"${index + 1}: a {kind} outside an array")
        return f"{_integer(value)}::{kind}"

    # in the statement, not the result: a value may read like a parameter
    if len(_BARE.findall(sql)) != len(_MARK.findall(sql)):
        raise UnsupportedParameter("a parameter without a cast")
    return _MARK.sub(constant, sql)


def _integer(value: Any) -> str:
    # bool is an int in Python, and no column of ours takes one as a number
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsupportedParameter(f"not an integer: {type(value).__name__}")
    return str(value)


def _element(kind: str, value: Any) -> str:
    """One element of an array constant (inside the single quotes)."""
    if value is None:
        return "NULL"
    if kind in _NUMBERS:
        return _integer(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise UnsupportedParameter(f"not a boolean: {type(value).__name__}")
        return "t" if value else "f"
    if kind == "bytea":
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise UnsupportedParameter(f"not bytes: {type(value).__name__}")
        # hex input; the array's own escape doubles the backslash
        return '"\\\\x' + bytes(value).hex() + '"'
    if kind == "text":
        if not isinstance(value, str):
            raise UnsupportedParameter(f"not a string: {type(value).__name__}")
        if "\x00" in value:
            raise UnsupportedParameter("text with a NUL character")
        # the array's quoting (backslash before " and \), then the string constant's
        # (a quote doubled)
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + quoted.replace("'", "''") + '"'
    raise UnsupportedParameter(f"type {kind}")
