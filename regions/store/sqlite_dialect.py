"""SQLite dialect settings: the embedded default backend, no server to install.

Durability (invariant 7): WAL journal with ``synchronous=FULL`` by default, so a
commit is on disk when ``write()`` returns.  ``NORMAL`` is offered as a knob: it
keeps the database consistent after a crash but may lose the last transactions
on power loss, which would break "no acknowledged write is lost".

Writers use ``BEGIN IMMEDIATE`` so that a read-modify-write transaction holds the
write lock from its first statement; a deferred transaction that upgrades later
can fail with SQLITE_BUSY when another process wrote in between.  The connections
themselves are ``sqlite_store.py``'s; this module holds what the SQL shares with
SQLAlchemy's SQLite dialect (pragmas and the durability read-back).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from regions.store.sql import _Dialect

__all__ = ["SqliteDialect"]

SYNCHRONOUS_MODES = ("FULL", "NORMAL", "EXTRA")
#: what ``PRAGMA synchronous`` answers, by number
_SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class SqliteDialect(_Dialect):
    name = "sqlite"

    def __init__(self, synchronous: str = "FULL", busy_timeout_ms: int = 30_000) -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}")
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = busy_timeout_ms

    def _pragmas(self, dbapi_conn: Any) -> None:
        # the driver must not issue its own BEGIN: we decide when and how to begin
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={self.synchronous}")
        cur.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        cur.close()

    async def durability(self, conn: AsyncConnection) -> dict[str, str]:
        # synchronous is per connection (a fresh connection to the file would show
        # SQLite's default), so it must be read on the writer's own connection
        journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
        sync = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one()
        return {
            "journal_mode": str(journal).upper(),
            "synchronous": _SYNCHRONOUS_NAMES.get(int(sync), str(sync)),
        }
