"""Tokenizer: DynamoDB's token boundaries and the "near" text of syntax errors."""

from __future__ import annotations

import pytest

from regions.expressions.lexer import TokenKind, syntax_error_message, tokenize


def kinds(source: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(source) if t.kind != TokenKind.WS]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("abc", [(TokenKind.NAME, "abc")]),
        ("Alpha_Numeric_123", [(TokenKind.NAME, "Alpha_Numeric_123")]),
        ("#n1", [(TokenKind.NAME_REF, "#n1")]),
        ("#_", [(TokenKind.NAME_REF, "#_")]),
        (":123", [(TokenKind.VALUE_REF, ":123")]),
        ("#", [(TokenKind.UNKNOWN, "#")]),
        (":", [(TokenKind.UNKNOWN, ":")]),
        ("_a", [(TokenKind.UNKNOWN, "_"), (TokenKind.NAME, "a")]),
        ("123a", [(TokenKind.INDEX, "123"), (TokenKind.NAME, "a")]),
        ("01", [(TokenKind.INDEX, "0"), (TokenKind.INDEX, "1")]),
        ("and", [(TokenKind.KEYWORD, "and")]),
        ("BeTwEeN", [(TokenKind.KEYWORD, "BeTwEeN")]),
        ("index", [(TokenKind.NAME, "index")]),
        ("set", [(TokenKind.KEYWORD, "set")]),
        (
            "<><=>=<>=",
            [
                (TokenKind.OP, "<>"),
                (TokenKind.OP, "<="),
                (TokenKind.OP, ">="),
                (TokenKind.OP, "<>"),
                (TokenKind.OP, "="),
            ],
        ),
        (
            "a.b[0]",
            [
                (TokenKind.NAME, "a"),
                (TokenKind.PUNCT, "."),
                (TokenKind.NAME, "b"),
                (TokenKind.PUNCT, "["),
                (TokenKind.INDEX, "0"),
                (TokenKind.PUNCT, "]"),
            ],
        ),
        ('"hi there"', [(TokenKind.STRING, '"hi there"')]),
        ("'x\\'y'", [(TokenKind.STRING, "'x\\'y'")]),
        ('"open', [(TokenKind.UNKNOWN, '"'), (TokenKind.NAME, "open")]),
        ("é!$", [(TokenKind.UNKNOWN, "é"), (TokenKind.UNKNOWN, "!"), (TokenKind.UNKNOWN, "$")]),
        ("a\tb\r\nc", [(TokenKind.NAME, "a"), (TokenKind.NAME, "b"), (TokenKind.NAME, "c")]),
    ],
)
def test_token_boundaries(source: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(source) == expected


def test_spans_cover_the_source() -> None:
    source = " SET a = list_append(#b, :c) "
    tokens = tokenize(source)
    assert "".join(t.text for t in tokens) == source
    assert all(source[t.start : t.end] == t.text for t in tokens)


def near(source: str, token_text: str | None) -> str:
    """Message for the first token with ``token_text`` (None: end of input)."""
    tokens = tokenize(source)
    index = len(tokens) if token_text is None else [t.text for t in tokens].index(token_text)
    return syntax_error_message(tokens, index)


@pytest.mark.parametrize(
    ("source", "token", "expected"),
    [
        # Observed DynamoDB messages (moto/alternator/application logs).
        ("SET path = VALUE 1", "1", 'Syntax error; token: "1", near: "VALUE 1"'),
        ("SET _123 = :val1", "_", 'Syntax error; token: "_", near: "SET _123"'),
        ("attribute_type()", ")", 'Syntax error; token: ")", near: "()"'),
        ("foo", None, 'Syntax error; token: "<EOF>", near: "foo"'),
        ("SET a = ", None, 'Syntax error; token: "<EOF>", near: "= "'),
        ("x(a, 0)", "0", 'Syntax error; token: "0", near: ", 0)"'),
        ("l[a]", "a", 'Syntax error; token: "a", near: "[a]"'),
        # Edge positions.
        ("!", "!", 'Syntax error; token: "!", near: "!"'),
        ("  !", "!", 'Syntax error; token: "!", near: "  !"'),
        ("a ! ", "!", 'Syntax error; token: "!", near: "a ! "'),
        ("", None, 'Syntax error; token: "<EOF>", near: ""'),
    ],
)
def test_syntax_error_near(source: str, token: str | None, expected: str) -> None:
    assert near(source, token) == expected
