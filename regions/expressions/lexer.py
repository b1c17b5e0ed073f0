"""Tokenizer shared by all five expression kinds.

The token rules are DynamoDB's own lexer grammar (``Tokens.g4``, shipped with the DAX
client): whitespace is `` \\t\\n\\r``; a bare name is ``[a-zA-Z][a-zA-Z0-9_]*``; a list
index is ``0`` or ``[1-9][0-9]*`` (so ``01`` is two tokens); ``#name`` and ``:value``
placeholders are the sigil followed by ``[a-zA-Z0-9_]+``; the nine keywords (``IN``,
``BETWEEN``, ``NOT``, ``AND``, ``OR``, ``SET``, ``ADD``, ``DELETE``, ``REMOVE``) are
case-insensitive and win over a bare name of the same spelling; quoted strings are
tokens the parser never accepts; any other single character is an "unknown" token.

Keeping the same token boundaries matters because syntax errors quote the offending
token and its neighbours (:func:`syntax_error_message`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "KEYWORDS",
    "Token",
    "TokenKind",
    "syntax_error_message",
    "tokenize",
]


class TokenKind:
    """Token kinds (plain strings keep tokens cheap and easy to print)."""

    WS: Final = "WS"
    NAME: Final = "NAME"  # bare identifier
    NAME_REF: Final = "NAME_REF"  # #name
    VALUE_REF: Final = "VALUE_REF"  # :value
    INDEX: Final = "INDEX"  # list index digits
    KEYWORD: Final = "KEYWORD"
    OP: Final = "OP"  # = <> < <= > >= + -
    PUNCT: Final = "PUNCT"  # ( ) , . [ ]
    STRING: Final = "STRING"  # a quoted literal: lexed, never valid
    UNKNOWN: Final = "UNKNOWN"


KEYWORDS: Final = frozenset({"IN", "BETWEEN", "NOT", "AND", "OR", "SET", "ADD", "DELETE", "REMOVE"})

_WHITESPACE: Final = frozenset(" \t\n\r")
_ID_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ID_CHAR: Final = _ID_START | frozenset("0123456789_")
_DIGITS: Final = frozenset("0123456789")
_PUNCT: Final = frozenset("(),.[]")


@dataclass(frozen=True, slots=True)
class Token:
    """One token, with its ``[start, end)`` character span in the source."""

    kind: str
    text: str
    start: int
    end: int

    def is_keyword(self, word: str) -> bool:
        """True if this is keyword ``word`` (given in upper case)."""
        return self.kind == TokenKind.KEYWORD and self.text.upper() == word

    def is_punct(self, char: str) -> bool:
        return self.kind == TokenKind.PUNCT and self.text == char

    def is_op(self, *ops: str) -> bool:
        return self.kind == TokenKind.OP and self.text in ops


def _scan_while(source: str, i: int, chars: frozenset[str]) -> int:
    n = len(source)
    while i < n and source[i] in chars:
        i += 1
    return i


def _scan_string(source: str, i: int) -> int | None:
    """End of a quoted literal starting at ``i`` (backslash escapes the quote), or None."""
    quote = source[i]
    j = i + 1
    n = len(source)
    while j < n:
        if source[j] == "\\" and j + 1 < n and source[j + 1] == quote:
            j += 2
            continue
        if source[j] == quote:
            return j + 1
        j += 1
    return None


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens, whitespace runs included (they shape error texts)."""
    tokens: list[Token] = []
    i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if c in _WHITESPACE:
            j = _scan_while(source, i, _WHITESPACE)
            kind = TokenKind.WS
        elif c in _ID_START:
            j = _scan_while(source, i + 1, _ID_CHAR)
            word = source[i:j]
            kind = TokenKind.KEYWORD if word.upper() in KEYWORDS else TokenKind.NAME
        elif c == "0":
            j, kind = i + 1, TokenKind.INDEX
        elif c in _DIGITS:
            j, kind = _scan_while(source, i + 1, _DIGITS), TokenKind.INDEX
        elif c in "#:" and i + 1 < n and source[i + 1] in _ID_CHAR:
            j = _scan_while(source, i + 1, _ID_CHAR)
            kind = TokenKind.NAME_REF if c == "#" else TokenKind.VALUE_REF
        elif c in "<>":
            # Longest match, as the ANTLR lexer does: "<>", "<=", ">=" are single tokens.
            nxt = source[i + 1] if i + 1 < n else ""
            two = c + nxt
            j = i + 2 if two in ("<>", "<=", ">=") else i + 1
            kind = TokenKind.OP
        elif c in "=+-":
            j, kind = i + 1, TokenKind.OP
        elif c in _PUNCT:
            j, kind = i + 1, TokenKind.PUNCT
        elif c in "\"'":
            end = _scan_string(source, i)
            if end is None:
                j, kind = i + 1, TokenKind.UNKNOWN
            else:
                j, kind = end, TokenKind.STRING
        else:
            j, kind = i + 1, TokenKind.UNKNOWN
        tokens.append(Token(kind, source[i:j], i, j))
        i = j
    return tokens


def syntax_error_message(tokens: list[Token], index: int) -> str:
    """DynamoDB's syntax-error text for the token at ``tokens[index]`` (or end of input).

    ``near`` quotes the offending token between its neighbours: the previous token (and
    the one before it when the previous is whitespace), then the next token (and the one
    after it when the next is whitespace).  This reproduces observed messages such as
    ``token: "1", near: "VALUE 1"``, ``token: ")", near: "()"``, ``token: "0",
    near: ", 0)"`` and ``token: "<EOF>", near: "foo"``.
    """
    at_end = index >= len(tokens)
    pieces: list[str] = []
    if index >= 1:
        last = tokens[index - 1]
        if last.kind == TokenKind.WS and index >= 2:
            pieces.append(tokens[index - 2].text)
        pieces.append(last.text)
    if at_end:
        token_text = "<EOF>"
    else:
        token_text = tokens[index].text
        pieces.append(token_text)
        if index + 1 < len(tokens):
            following = tokens[index + 1]
            pieces.append(following.text)
            if following.kind == TokenKind.WS and index + 2 < len(tokens):
                pieces.append(tokens[index + 2].text)
    near = "".join(pieces)
    return f'Syntax error; token: "{token_text}", near: "{near}"'
