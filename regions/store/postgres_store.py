"""The PostgreSQL store: its own pool of asyncpg connections, transactions it begins
and commits itself, and as few round trips per request as the SQL allows.

Why (issue #18, docs/benchmarks.md "PostgreSQL store path (#18)"): a region process
runs Python on one core, and every round trip to the server costs it 40-60 µs of CPU
(asyncpg, the event loop, the loopback socket's system calls).  Through SQLAlchemy's
pool a PutItem made ten of them (the pool's pre-ping alone is three: BEGIN, ``;``,
ROLLBACK; then BEGIN, the partition lock, the read, the leaf, row and change-log
statements, COMMIT) and a GetItem four, and every write committed (flushed the WAL)
on its own.  Now:

- **Connections** are the store's own (``postgres_pool.py``): SQLAlchemy connections
  in AUTOCOMMIT mode kept for their lifetime, no pre-ping, BEGIN and COMMIT sent by
  the store, SQLAlchemy statements of the rare paths on the same connection.
- **Writes** are committed in groups (``postgres_groups.py``): concurrent ``write()``
  blocks share one transaction and its round trips (the partition locks of all of them
  in one message, their reads in one statement, their writes in one statement, one
  COMMIT).  Each ``write()`` returns after the COMMIT that contains it (invariant 7).
- **Reads** outside a snapshot run in autocommit; their point reads (GetItem) are
  coalesced the same way, one statement per loop pass (``PointReads``).  A snapshot
  read begins ``REPEATABLE READ`` before its first statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from sqlalchemy.ext.asyncio import AsyncConnection

from regions.store import postgres_pool as _pool
from regions.store.postgres_dialect import PostgresDialect
from regions.store.postgres_groups import Groups, SaOnMember
from regions.store.postgres_pool import BEGIN_SNAPSHOT, PointReads, Pool, SaOnDriver
from regions.store.sql import ReadTx, SqlStore, WriteTx

__all__ = ["PostgresStore"]


class PostgresStore(SqlStore):
    """``SqlStore``'s interface on pooled asyncpg connections (module docstring)."""

    def __init__(self, url: str, dialect: PostgresDialect) -> None:
        super().__init__(url, dialect)
        self.pg_dialect = dialect
        self._pool: Pool | None = None
        self._point_reads: PointReads | None = None
        self._groups: Groups | None = None

    async def open(self) -> None:
        await super().open()
        assert self._writer is not None
        self._pool = Pool(self._writer, self.pg_dialect.pool_size)
        self._point_reads = PointReads(self._pool)
        self._groups = Groups(self._pool)

    async def close(self) -> None:
        if self._groups is not None:
            await self._groups.close()
            self._groups = None
        if self._point_reads is not None:
            await self._point_reads.close()
            self._point_reads = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await super().close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[WriteTx]:
        """One write, committed with the other writes of its group (module docstring)."""
        assert self._groups is not None, "store not open"
        member = self._groups.join()
        try:
            yield WriteTx(cast(AsyncConnection, SaOnMember(member)), self.pg_dialect, member)
        except BaseException:
            await member.finish(ok=False)
            raise
        await member.finish(ok=True)

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[ReadTx]:
        """Without ``snapshot`` every statement sees what is committed when it runs
        (autocommit); with it, one REPEATABLE READ transaction for the block."""
        assert self._pool is not None, "store not open"
        if snapshot:
            driver = _pool._AsyncpgDriver(self._pool, None, BEGIN_SNAPSHOT)
        else:
            driver = _pool._AsyncpgDriver(self._pool, None, None, self._point_reads)
        try:
            yield ReadTx(cast(AsyncConnection, SaOnDriver(driver)), driver)
        finally:
            if driver.slot is not None:
                reusable = await driver.abort()
                await self._pool.release(driver.slot, reusable=reusable)
