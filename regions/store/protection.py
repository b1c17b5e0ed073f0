"""The store's side of data protection: backups, point-in-time recovery, restores.

Statements on a transaction's connection (``tx.conn``), for both backends, as
``regions/store/verify.py`` does for the verifier: nothing outside ``regions/store/``
runs SQL.  What the rows mean is regions/protection/'s.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from regions.store import schema as s
from regions.store.base import StoredChange

__all__ = [
    "add_snapshot",
    "all_pitr",
    "backup",
    "backups",
    "backups_in",
    "change_page",
    "complete_snapshot",
    "delete_backup",
    "delete_restore",
    "delete_snapshots",
    "disable_pitr",
    "enable_pitr",
    "forget_tables",
    "get_pitr",
    "insert_backup",
    "insert_restore",
    "restores",
    "set_pitr_period",
    "snapshots",
    "trim_pitr_log",
    "update_backup",
]


def _conn(tx: Any) -> AsyncConnection:
    conn: AsyncConnection = tx.conn
    return conn


# ---------------------------------------------------------------- backups


async def insert_backup(tx: Any, row: dict[str, Any]) -> None:
    await _conn(tx).execute(s.backups.insert().values(**row))


async def update_backup(tx: Any, arn: str, **values: Any) -> None:
    await _conn(tx).execute(update(s.backups).where(s.backups.c.arn == arn).values(**values))


async def backup(tx: Any, arn: str) -> dict[str, Any] | None:
    res = await _conn(tx).execute(select(s.backups).where(s.backups.c.arn == arn))
    row = res.first()
    return dict(row._mapping) if row is not None else None


async def backups(
    tx: Any,
    *,
    table_name: str | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Backups, oldest first (then by ARN), filtered by table and creation time
    (``from_ms`` inclusive, ``to_ms`` exclusive)."""
    b = s.backups.c
    q = select(s.backups).order_by(b.created_ms, b.arn)
    if table_name is not None:
        q = q.where(b.table_name == table_name)
    if from_ms is not None:
        q = q.where(b.created_ms >= from_ms)
    if to_ms is not None:
        q = q.where(b.created_ms < to_ms)
    return [dict(r._mapping) for r in await _conn(tx).execute(q)]


async def backups_in(tx: Any, status: str) -> list[dict[str, Any]]:
    res = await _conn(tx).execute(select(s.backups).where(s.backups.c.status == status))
    return [dict(r._mapping) for r in res]


async def delete_backup(tx: Any, arn: str) -> None:
    await _conn(tx).execute(delete(s.backups).where(s.backups.c.arn == arn))


# ---------------------------------------------------------------- point-in-time recovery


async def get_pitr(tx: Any, tid: int) -> dict[str, Any] | None:
    res = await _conn(tx).execute(select(s.pitr).where(s.pitr.c.tid == tid))
    row = res.first()
    return dict(row._mapping) if row is not None else None


async def all_pitr(tx: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await _conn(tx).execute(select(s.pitr))]


async def enable_pitr(tx: Any, tid: int, table_id: str, period_days: int, now_ms: int) -> None:
    """Enable PITR of table ``tid``, forgetting whatever an earlier enabling (or an
    earlier table of that number) left behind."""
    await _forget(tx, tid)
    await _conn(tx).execute(
        s.pitr.insert().values(
            tid=tid, table_id=table_id, period_days=period_days, enabled_ms=now_ms
        )
    )


async def set_pitr_period(tx: Any, tid: int, period_days: int) -> None:
    await _conn(tx).execute(
        update(s.pitr).where(s.pitr.c.tid == tid).values(period_days=period_days)
    )


async def disable_pitr(tx: Any, tid: int) -> list[str]:
    """Disable PITR of ``tid``; returns its snapshots' object prefixes (to delete)."""
    prefixes = [p for _, p, _ in await snapshots(tx, tid)]
    await _forget(tx, tid)
    return prefixes


async def _forget(tx: Any, tid: int) -> None:
    conn = _conn(tx)
    await conn.execute(delete(s.pitr).where(s.pitr.c.tid == tid))
    await conn.execute(delete(s.pitr_snapshots).where(s.pitr_snapshots.c.tid == tid))
    await conn.execute(delete(s.pitr_log).where(s.pitr_log.c.tid == tid))


async def forget_tables(tx: Any) -> list[str]:
    """Forget PITR of tables that no longer exist (DeleteTable); their snapshots'
    prefixes are returned, to delete."""
    conn = _conn(tx)
    live = {int(r[0]) for r in await conn.execute(select(s.tables.c.tid))}
    gone = [r for r in await all_pitr(tx) if int(r["tid"]) not in live]
    prefixes: list[str] = []
    for row in gone:
        prefixes += await disable_pitr(tx, int(row["tid"]))
    # log rows of tables whose PITR row is gone already
    await conn.execute(delete(s.pitr_log).where(s.pitr_log.c.tid.not_in(select(s.pitr.c.tid))))
    return prefixes


async def add_snapshot(tx: Any, tid: int, taken_ms: int, prefix: str) -> None:
    await _conn(tx).execute(
        s.pitr_snapshots.insert().values(tid=tid, taken_ms=taken_ms, prefix=prefix, complete=False)
    )


async def complete_snapshot(tx: Any, tid: int, taken_ms: int) -> None:
    p = s.pitr_snapshots.c
    await _conn(tx).execute(
        update(s.pitr_snapshots).where(p.tid == tid, p.taken_ms == taken_ms).values(complete=True)
    )


async def snapshots(tx: Any, tid: int) -> list[tuple[int, str, bool]]:
    """(taken_ms, prefix, complete) of a table's snapshots, oldest first."""
    p = s.pitr_snapshots.c
    res = await _conn(tx).execute(
        select(p.taken_ms, p.prefix, p.complete).where(p.tid == tid).order_by(p.taken_ms)
    )
    return [(int(r[0]), str(r[1]), bool(r[2])) for r in res]


async def delete_snapshots(tx: Any, tid: int, taken: list[int]) -> None:
    if taken:
        p = s.pitr_snapshots.c
        await _conn(tx).execute(delete(s.pitr_snapshots).where(p.tid == tid, p.taken_ms.in_(taken)))


async def trim_pitr_log(tx: Any, tid: int, before_ms: int) -> int:
    res = await _conn(tx).execute(
        delete(s.pitr_log).where(s.pitr_log.c.tid == tid, s.pitr_log.c.created_ms < before_ms)
    )
    return int(res.rowcount or 0)


async def change_page(
    tx: Any, tid: int, from_ms: int, to_ms: int, after_seq: int, limit: int
) -> list[StoredChange]:
    """Up to ``limit`` change records of table ``tid`` created in ``[from_ms,
    to_ms]`` with a seq above ``after_seq``, in seq order: from the PITR log (older
    than the stream retention) and the change log (younger).  Read both in one
    snapshot (``store.read(snapshot=True)``) so that the trim that moves records
    between them cannot hide one."""
    conn = _conn(tx)
    out: list[StoredChange] = []
    for table in (s.pitr_log, s.changes):
        c = table.c
        res = await conn.execute(
            select(c.seq, c.tid, c.created_ms, c.record)
            .where(
                and_(
                    c.tid == tid,
                    c.seq > after_seq,
                    c.created_ms >= from_ms,
                    c.created_ms <= to_ms,
                )
            )
            .order_by(c.seq)
            .limit(limit)
        )
        for r in res:
            out.append(StoredChange(int(r[0]), int(r[1]), 0, bytes(r[3]), int(r[2])))
    unique = {c.seq: c for c in out}
    return [unique[k] for k in sorted(unique)][:limit]


# ---------------------------------------------------------------- restores


async def insert_restore(tx: Any, row: dict[str, Any]) -> None:
    await _conn(tx).execute(s.restores.insert().values(**row))


async def restores(tx: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await _conn(tx).execute(select(s.restores))]


async def delete_restore(tx: Any, table_id: str) -> None:
    await _conn(tx).execute(delete(s.restores).where(s.restores.c.table_id == table_id))
