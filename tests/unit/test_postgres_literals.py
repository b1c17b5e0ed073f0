"""A group's writes written as SQL text (regions/store/postgres_literals.py): what is
refused.  That the server reads back exactly what was written is checked against a
real PostgreSQL in tests/integration/store/test_postgres_literals.py."""

from __future__ import annotations

import pytest

from regions.store.postgres_literals import UnsupportedParameter, inline


def test_arrays_and_numbers_become_constants_of_their_cast() -> None:
    sql = "SELECT $1::integer[], $2::bytea[], $3::text[], $4::boolean[], $5::bigint"
    args = [[1, None, -3], [b"\x00\xff", b""], ["it's", 'a "b" \\ c', None], [True, False], 7]
    assert inline(sql, args) == (
        "SELECT '{1,NULL,-3}'::integer[], '{\"\\\\x00ff\",\"\\\\x\"}'::bytea[], "
        "'{\"it''s\",\"a \\\"b\\\" \\\\ c\",NULL}'::text[], '{t,f}'::boolean[], 7::bigint"
    )


def test_an_empty_array_and_a_null_number() -> None:
    assert inline("SELECT $1::text[], $2::bigint", [[], None]) == (
        "SELECT '{}'::text[], NULL::bigint"
    )


@pytest.mark.parametrize(
    ("sql", "args"),
    [
        ("SELECT $1::integer[]", [["1; DROP TABLE gt_items"]]),  # a string as a number
        ("SELECT $1::integer[]", [[True]]),  # a bool is no number here
        ("SELECT $1::bigint", ["1"]),
        ("SELECT $1::boolean[]", [[1]]),
        ("SELECT $1::bytea[]", [["not bytes"]]),
        ("SELECT $1::text[]", [[b"bytes"]]),
        ("SELECT $1::text[]", [["a\x00b"]]),  # PostgreSQL's text has no NUL
        ("SELECT $1::text", ["a scalar string"]),
        ("SELECT $1::json[]", [["{}"]]),  # a type it does not write
        ("SELECT $1::integer[]", [1]),  # not an array
        ("SELECT $2::integer[]", [[1]]),  # no such parameter
        ("SELECT $1", [1]),  # no cast: its type is unknown
    ],
)
def test_what_it_cannot_write_safely_is_refused(sql: str, args: list[object]) -> None:
    with pytest.raises(UnsupportedParameter):
        inline(sql, args)
