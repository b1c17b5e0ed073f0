"""Partitioned item store with two backends behind one interface."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from regions.store.base import UNREAD, IndexRow, KeyRange, StoredChange, StoredRow, Unread
from regions.store.sql import ReadTx, SqlStore, WriteTx

__all__ = [
    "UNREAD",
    "IndexRow",
    "KeyRange",
    "ReadTx",
    "SqlStore",
    "StoredChange",
    "StoredRow",
    "Unread",
    "WriteTx",
    "open_store_url",
]


def open_store_url(url: str, *, sqlite_synchronous: str = "FULL") -> SqlStore:
    """Build (not open) a store from a user URL: ``sqlite:///path`` or
    ``postgresql://user@host:port/db``; the async driver is chosen here."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        from regions.store.sqlite_dialect import SqliteDialect
        from regions.store.sqlite_store import SqliteStore

        if not u.database or u.database == ":memory:":
            raise ValueError("the SQLite store needs a file path: sqlite:///path/to/region.db")
        return SqliteStore(
            u.set(drivername="sqlite").render_as_string(hide_password=False),
            SqliteDialect(synchronous=sqlite_synchronous),
        )
    if backend in ("postgresql", "postgres"):
        from regions.store.postgres_dialect import PostgresDialect
        from regions.store.postgres_store import PostgresStore

        return PostgresStore(
            u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
            PostgresDialect(),
        )
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://...")
