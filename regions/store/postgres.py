"""PostgreSQL backend (asyncpg through SQLAlchemy), for production regions.

Durability (invariant 7): every transaction commits with ``synchronous_commit=on``
(set per connection, so a server default of ``off`` cannot weaken it).

Writers of one partition serialise on a transaction-scoped advisory lock keyed
``(tid, part)``: it makes read-modify-write (conditions, UpdateItem, LWW apply)
safe across connections and processes without row locks on rows that may not
exist yet.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from regions.store import schema as s
from regions.store.sql import _Dialect

__all__ = ["PostgresDialect"]


class PostgresDialect(_Dialect):
    name = "postgresql"

    def __init__(self, pool_size: int = 10) -> None:
        self.pool_size = pool_size

    def make_engines(self, url: str) -> tuple[AsyncEngine, AsyncEngine]:
        engine = create_async_engine(
            url,
            pool_size=self.pool_size,
            max_overflow=self.pool_size,
            pool_pre_ping=True,
            connect_args={"server_settings": {"synchronous_commit": "on"}},
        )
        return engine, engine

    async def lock_partition(self, conn: AsyncConnection, tid: int, part: int) -> None:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": tid, "b": part})

    async def durability(self, conn: AsyncConnection) -> dict[str, str]:
        commit = (await conn.execute(text("SHOW synchronous_commit"))).scalar_one()
        fsync = (await conn.execute(text("SHOW fsync"))).scalar_one()
        return {"synchronous_commit": str(commit), "fsync": str(fsync)}

    def upsert_item(self, values: dict[str, Any]) -> Any:
        stmt = pg_insert(s.items).values(**values)
        return stmt.on_conflict_do_update(
            index_elements=["tid", "part", "hk", "rk"],
            set_={k: stmt.excluded[k] for k in ("hlc", "origin", "data", "size", "tomb_ms")},
        )

    def upsert_meta(self, key: str, value: str) -> Any:
        stmt = pg_insert(s.meta).values(key=key, value=value)
        return stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value})

    def upsert_index(self, values: dict[str, Any]) -> Any:
        stmt = pg_insert(s.index_entries).values(**values)
        return stmt.on_conflict_do_update(
            index_elements=["tid", "iid", "part", "hk", "rk", "tk"],
            set_={"data": stmt.excluded.data, "size": stmt.excluded.size},
        )
