"""A group's writes written as SQL text (regions/store/postgres_literals.py) read back
by a real PostgreSQL as exactly the values written, through the simple-query protocol
the group's last message uses."""

from __future__ import annotations

import random
from collections.abc import Callable

import asyncpg
import pytest

from regions.store.postgres_literals import inline

pytestmark = pytest.mark.integration

_AWKWARD = [
    "",
    " leading and trailing ",
    "it's",
    "''",
    'a "quoted" word',
    "back\\slash\\",
    "\\x41",
    "{braces},commas",
    "NULL",
    "null",
    "E'\\n'",
    "$1::text",
    "tab\tnew\nline\r",
    "ünïcödé ✓ 𝄞",
    "'; DROP TABLE gt_items; --",
]


async def test_awkward_values_come_back_as_written(
    postgres_db_factory: Callable[[], str],
) -> None:
    url = postgres_db_factory().replace("postgresql+asyncpg://", "postgresql://")
    rng = random.Random(7)
    alphabet = "ab'\"\\{},; \t\nNUL€𝄞x0"
    texts = _AWKWARD + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(200)
    ] + [None]
    blobs = [b"", bytes(range(256)), b"\\x00", b"'\"{}", None] + [
        rng.randbytes(rng.randrange(0, 64)) for _ in range(50)
    ]
    ints = [0, -1, 2**31 - 1, -(2**31), None]
    bigs = [2**63 - 1, -(2**63), 1, None]
    bools = [True, False, None]
    conn = await asyncpg.connect(url, server_settings={"standard_conforming_strings": "on"})
    try:
        sql = (
            "CREATE TEMP TABLE back AS SELECT $1::text[] AS t, $2::bytea[] AS b, "
            "$3::integer[] AS i, $4::bigint[] AS g, $5::boolean[] AS o, $6::bigint AS n"
        )
        # the simple-query protocol, several statements in one message, as a group sends
        await conn.execute(f"BEGIN; {inline(sql, [texts, blobs, ints, bigs, bools, 42])}; COMMIT")
        row = await conn.fetchrow("SELECT t, b, i, g, o, n FROM back")
    finally:
        await conn.close()
    assert row is not None
    assert list(row["t"]) == texts
    assert list(row["b"]) == blobs
    assert list(row["i"]) == ints
    assert list(row["g"]) == bigs
    assert list(row["o"]) == bools
    assert row["n"] == 42
