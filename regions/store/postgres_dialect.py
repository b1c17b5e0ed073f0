"""PostgreSQL dialect settings (asyncpg through SQLAlchemy), for production regions.

Durability (invariant 7): every transaction commits with ``synchronous_commit=on``
(set per connection, so a server default of ``off`` cannot weaken it).

Writers of one partition serialise on a transaction-scoped advisory lock keyed
``(tid, part)``: it makes read-modify-write (conditions, UpdateItem, LWW apply)
safe across connections and processes without row locks on rows that may not
exist yet (taken by the driver in ``postgres_store.py``).

The engine is only the store's connection factory: ``postgres_store.py`` keeps each
connection it takes for its lifetime, in a pool of its own, and checks liveness
itself (no ``pool_pre_ping``: three round trips per checkout with this adapter).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from regions.store.sql import _Dialect

__all__ = ["CHANGES_TOAST_TARGET", "PostgresDialect"]

#: gt_changes rows up to this size (bytes) are stored whole in the table's own pages,
#: never compressed (``toast_tuple_target``; PostgreSQL's own default is about 2 KB).
#: Why: a change record carries the item's images, so a 1 KB item makes a row of
#: about 2.8 KB; by default PostgreSQL then tried to compress each record and, the
#: payload being incompressible, moved it into the TOAST table in chunks (a second
#: heap insert and an index insert per record).  That made the write statement of a
#: group of PutItems twice as slow (docs/benchmarks.md, "Change records kept in their
#: row").  The log is read once by the publisher and trimmed: space it could save by
#: compressing is not worth CPU on every write.  Rows above it are toasted as before.
CHANGES_TOAST_TARGET = 8160


class PostgresDialect(_Dialect):
    name = "postgresql"

    def __init__(self, pool_size: int = 20) -> None:
        #: most connections the store holds (the old engine's 10 plus 10 overflow)
        self.pool_size = pool_size

    def make_engines(self, url: str) -> tuple[AsyncEngine, AsyncEngine]:
        engine = create_async_engine(
            url,
            pool_size=self.pool_size,
            # the schema set-up at open() and nothing else uses the engine directly
            max_overflow=2,
            connect_args={"server_settings": {"synchronous_commit": "on"}},
        )
        return engine, engine

    async def tune_tables(self, conn: AsyncConnection) -> None:
        option = f"toast_tuple_target={CHANGES_TOAST_TARGET}"
        current = (
            await conn.execute(
                text("SELECT reloptions FROM pg_class WHERE oid = 'gt_changes'::regclass")
            )
        ).scalar_one()
        if option not in (current or []):
            # only when missing: ALTER TABLE takes a lock that other nodes' opens and
            # autovacuum would queue behind
            await conn.exec_driver_sql(f"ALTER TABLE gt_changes SET ({option})")

    async def durability(self, conn: AsyncConnection) -> dict[str, str]:
        commit = (await conn.execute(text("SHOW synchronous_commit"))).scalar_one()
        fsync = (await conn.execute(text("SHOW fsync"))).scalar_one()
        return {"synchronous_commit": str(commit), "fsync": str(fsync)}
