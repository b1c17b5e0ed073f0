"""The store's side of exports and imports (``gt_exports``, ``gt_imports``).

Statements on a transaction's connection (``tx.conn``), for both backends, as
regions/store/protection.py does for backups.  What the rows mean is
regions/protection/exports.py's and imports.py's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from regions.store import schema as s

__all__ = ["by_token", "get", "insert", "listing", "set_row", "with_status"]

_TABLES: dict[str, Table] = {"export": s.exports, "import": s.imports}


def _conn(tx: Any) -> AsyncConnection:
    conn: AsyncConnection = tx.conn
    return conn


async def insert(tx: Any, kind: str, row: dict[str, Any]) -> None:
    await _conn(tx).execute(_TABLES[kind].insert().values(**row))


async def set_row(tx: Any, kind: str, arn: str, **values: Any) -> None:
    t = _TABLES[kind]
    await _conn(tx).execute(update(t).where(t.c.arn == arn).values(**values))


async def get(tx: Any, kind: str, arn: str) -> dict[str, Any] | None:
    t = _TABLES[kind]
    row = (await _conn(tx).execute(select(t).where(t.c.arn == arn))).first()
    return dict(row._mapping) if row is not None else None


async def by_token(tx: Any, kind: str, token: str, since_ms: int) -> list[dict[str, Any]]:
    """Rows with ``ClientToken`` ``token`` started at ``since_ms`` or later."""
    t = _TABLES[kind]
    res = await _conn(tx).execute(
        select(t).where(t.c.client_token == token, t.c.started_ms >= since_ms)
    )
    return [dict(r._mapping) for r in res]


async def with_status(tx: Any, kind: str, status: str) -> list[dict[str, Any]]:
    t = _TABLES[kind]
    res = await _conn(tx).execute(select(t).where(t.c.status == status))
    return [dict(r._mapping) for r in res]


async def listing(
    tx: Any, kind: str, *, table_arn: str | None, after_arn: str | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows in ARN order (the ids start with the start time, so
    oldest first within a table), filtered by table, after ``after_arn``."""
    t = _TABLES[kind]
    q = select(t).order_by(t.c.started_ms, t.c.arn)
    if table_arn is not None:
        q = q.where(t.c.table_arn == table_arn)
    rows = [dict(r._mapping) for r in await _conn(tx).execute(q)]
    if after_arn is not None:
        at = next((i for i, r in enumerate(rows) if r["arn"] == after_arn), None)
        rows = rows[at + 1 :] if at is not None else []
    return rows[:limit]
