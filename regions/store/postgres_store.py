"""The PostgreSQL store with its hot statements sent straight to asyncpg.

The statements every request runs (``direct.py``) go to the asyncpg connection
underneath SQLAlchemy's, inside the transaction SQLAlchemy manages, so commit,
rollback, pooling and every rarer statement stay one code path with SQLite's.
asyncpg's statement cache keeps their plans prepared.

The transaction is started before the first direct statement
(:func:`_begin_on_driver`): SQLAlchemy's asyncpg adapter begins lazily on its own
first statement, and a direct statement before that would run outside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from regions.store.postgres_dialect import PostgresDialect
from regions.store.sql import ReadTx, SqlStore, WriteTx

__all__ = ["PostgresStore"]


class _AsyncpgDriver:
    """:class:`~regions.store.direct.Driver` on an asyncpg connection."""

    def __init__(self, pg: Any) -> None:
        self.pg = pg

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = await self.pg.fetch(sql, *args)
        return rows

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
        row: Sequence[Any] | None = await self.pg.fetchrow(sql, *args)
        return row

    async def execute(self, sql: str, args: Sequence[Any]) -> None:
        await self.pg.execute(sql, *args)

    async def lock_partition(self, tid: int, part: int) -> None:
        # transaction-scoped advisory lock keyed (tid, part): read-modify-write is
        # safe across connections and processes without locking rows that may not
        # exist yet (postgres_dialect.py)
        await self.pg.execute("SELECT pg_advisory_xact_lock($1, $2)", tid, part)

    def any_of(self, column: str, values: Sequence[Any], args: list[Any]) -> str:
        # one array parameter: one prepared statement whatever the number of values
        args.append(list(values))
        return f"{column} = ANY(${len(args)}::bigint[])"


async def _driver(conn: AsyncConnection) -> _AsyncpgDriver:
    """The asyncpg connection under a SQLAlchemy connection."""
    fairy = await conn.get_raw_connection()
    return _AsyncpgDriver(fairy.driver_connection)


async def _begin_on_driver(conn: AsyncConnection) -> None:
    """Start SQLAlchemy's transaction now (see the module docstring).  Its adapter
    begins on first use; ``_start_transaction`` is that same step, and if a future
    SQLAlchemy renames it, a trivial statement through SQLAlchemy does it too."""
    fairy = await conn.get_raw_connection()
    adapter: Any = fairy.dbapi_connection
    start = getattr(adapter, "_start_transaction", None)
    if start is None or not hasattr(adapter, "_transaction"):
        await conn.exec_driver_sql("SELECT 1")
    elif adapter._transaction is None:
        await start()


class PostgresStore(SqlStore):
    """``SqlStore`` with the hot statements on asyncpg directly (module docstring)."""

    def __init__(self, url: str, dialect: PostgresDialect) -> None:
        super().__init__(url, dialect)
        self.pg_dialect = dialect

    @asynccontextmanager
    async def write(self) -> AsyncIterator[WriteTx]:
        assert self._writer is not None, "store not open"
        async with self._writer.begin() as conn:
            await _begin_on_driver(conn)
            yield WriteTx(conn, self.pg_dialect, await _driver(conn))

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[ReadTx]:
        """Without ``snapshot`` every statement sees what is committed when it runs
        (no transaction); with it, one REPEATABLE READ transaction for the block."""
        assert self._reader is not None, "store not open"
        async with self._reader.connect() as conn:
            if snapshot:
                await conn.execution_options(isolation_level="REPEATABLE READ")
                await _begin_on_driver(conn)
            yield ReadTx(conn, await _driver(conn))
