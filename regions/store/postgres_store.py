"""The PostgreSQL store with its hot statements sent straight to asyncpg.

Why: building, compiling and executing a SQLAlchemy Core statement costs about
100 µs of Python per statement, several times asyncpg's own cost, and a PutItem
runs five of them (partition lock, leaf, row, change record, plus the read).
Here the statements a read or a write runs on every request are plain SQL on the
asyncpg connection underneath SQLAlchemy's, inside the transaction SQLAlchemy
manages (so commit, rollback, pooling and every rarer statement stay one code
path with SQLite's).  Plans are cached by asyncpg's statement cache.

The transaction is started before the first direct statement
(:func:`_begin_on_driver`): SQLAlchemy's asyncpg adapter begins lazily on its own
first statement, and a direct statement before that would run outside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from regions.store import verify as _verify
from regions.store.base import UNREAD, IndexRow, KeyRange, StoredChange, StoredRow, Unread
from regions.store.postgres import PostgresDialect
from regions.store.sql import ReadTx, SqlStore, WriteTx
from regions.versions import Version

__all__ = ["PostgresStore"]

_ITEM_COLS = "part, hk, rk, hlc, origin, data, size"
_INDEX_COLS = "part, hk, rk, tk, data, size"
_GET_ROW = f"SELECT {_ITEM_COLS} FROM gt_items WHERE tid=$1 AND part=$2 AND hk=$3 AND rk=$4"
_UPSERT_ROW = (
    "INSERT INTO gt_items (tid, part, hk, rk, hlc, origin, data, size, tomb_ms) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (tid, part, hk, rk) DO UPDATE SET "
    "hlc=excluded.hlc, origin=excluded.origin, data=excluded.data, size=excluded.size, "
    "tomb_ms=excluded.tomb_ms"
)
_UPSERT_LEAF = (
    "INSERT INTO gt_verify AS v (tid, part, bucket, live, s0, s1, s2, s3) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (tid, part, bucket) DO UPDATE SET "
    "live=v.live+excluded.live, s0=v.s0+excluded.s0, s1=v.s1+excluded.s1, "
    "s2=v.s2+excluded.s2, s3=v.s3+excluded.s3"
)
_UPSERT_INDEX = (
    "INSERT INTO gt_index (tid, iid, part, hk, rk, tk, data, size) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (tid, iid, part, hk, rk, tk) "
    "DO UPDATE SET data=excluded.data, size=excluded.size"
)
_DELETE_INDEX = (
    "DELETE FROM gt_index WHERE tid=$1 AND iid=$2 AND part=$3 AND hk=$4 AND rk=$5 AND tk=$6"
)
_APPEND_CHANGE = (
    "INSERT INTO gt_changes (tid, part, event, hlc, origin, record, created_ms, pending) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING seq"
)
_UPSERT_META = (
    "INSERT INTO gt_meta (key, value) VALUES ($1, $2) "
    "ON CONFLICT (key) DO UPDATE SET value=excluded.value"
)
_LOCK = "SELECT pg_advisory_xact_lock($1, $2)"


def _stored(r: Any) -> StoredRow:
    return StoredRow(r[0], r[1], r[2], Version(r[3], r[4]), r[5], r[6])


def _index_row(r: Any) -> IndexRow:
    return IndexRow(r[0], r[1], r[2], r[3], r[4], r[5])


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under a SQLAlchemy connection."""
    fairy = await conn.get_raw_connection()
    return fairy.driver_connection


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


class _DirectReads:
    pg: Any

    async def get_row(self, tid: int, part: int, hk: bytes, rk: bytes) -> StoredRow | None:
        r = await self.pg.fetchrow(_GET_ROW, tid, part, hk, rk)
        return _stored(r) if r is not None else None

    async def query(
        self,
        tid: int,
        part: int,
        hk: bytes,
        rng: KeyRange,
        *,
        forward: bool = True,
        after_rk: bytes | None = None,
        limit: int = 1000,
    ) -> list[StoredRow]:
        sql = [f"SELECT {_ITEM_COLS} FROM gt_items WHERE tid=$1 AND part=$2 AND hk=$3"]
        args: list[Any] = [tid, part, hk]
        _range(sql, args, "rk", rng)
        if after_rk is not None:
            args.append(after_rk)
            sql.append(f"AND rk {'>' if forward else '<'} ${len(args)}")
        args.append(limit)
        sql.append(
            f"AND data IS NOT NULL ORDER BY rk {'ASC' if forward else 'DESC'} LIMIT ${len(args)}"
        )
        return [_stored(r) for r in await self.pg.fetch(" ".join(sql), *args)]

    async def scan(
        self,
        tid: int,
        *,
        parts: Sequence[int] | None = None,
        after: tuple[int, bytes, bytes] | None = None,
        limit: int = 1000,
    ) -> list[StoredRow]:
        return await self._scan(tid, parts, after, limit, live=True)

    async def scan_all_rows(
        self, tid: int, *, after: tuple[int, bytes, bytes] | None = None, limit: int = 1000
    ) -> list[StoredRow]:
        return await self._scan(tid, None, after, limit, live=False)

    async def _scan(
        self,
        tid: int,
        parts: Sequence[int] | None,
        after: tuple[int, bytes, bytes] | None,
        limit: int,
        *,
        live: bool,
    ) -> list[StoredRow]:
        sql = [f"SELECT {_ITEM_COLS} FROM gt_items WHERE tid=$1"]
        args: list[Any] = [tid]
        if live:
            sql.append("AND data IS NOT NULL")
        if parts is not None:
            args.append(list(parts))
            sql.append(f"AND part = ANY(${len(args)}::int[])")
        if after is not None:
            n = len(args)
            args.extend(after)
            sql.append(f"AND (part, hk, rk) > (${n + 1}, ${n + 2}, ${n + 3})")
        args.append(limit)
        sql.append(f"ORDER BY part, hk, rk LIMIT ${len(args)}")
        return [_stored(r) for r in await self.pg.fetch(" ".join(sql), *args)]

    async def index_query(
        self,
        tid: int,
        iid: int,
        part: int,
        hk: bytes,
        rng: KeyRange,
        *,
        forward: bool = True,
        after: tuple[bytes, bytes] | None = None,
        limit: int = 1000,
    ) -> list[IndexRow]:
        sql = [f"SELECT {_INDEX_COLS} FROM gt_index WHERE tid=$1 AND iid=$2 AND part=$3 AND hk=$4"]
        args: list[Any] = [tid, iid, part, hk]
        _range(sql, args, "rk", rng)
        if after is not None:
            n = len(args)
            args.extend(after)
            sql.append(f"AND (rk, tk) {'>' if forward else '<'} (${n + 1}, ${n + 2})")
        args.append(limit)
        order = "rk ASC, tk ASC" if forward else "rk DESC, tk DESC"
        sql.append(f"ORDER BY {order} LIMIT ${len(args)}")
        return [_index_row(r) for r in await self.pg.fetch(" ".join(sql), *args)]

    async def index_scan(
        self,
        tid: int,
        iid: int,
        *,
        parts: Sequence[int] | None = None,
        after: tuple[int, bytes, bytes, bytes] | None = None,
        limit: int = 1000,
    ) -> list[IndexRow]:
        sql = [f"SELECT {_INDEX_COLS} FROM gt_index WHERE tid=$1 AND iid=$2"]
        args: list[Any] = [tid, iid]
        if parts is not None:
            args.append(list(parts))
            sql.append(f"AND part = ANY(${len(args)}::int[])")
        if after is not None:
            n = len(args)
            args.extend(after)
            sql.append(f"AND (part, hk, rk, tk) > (${n + 1}, ${n + 2}, ${n + 3}, ${n + 4})")
        args.append(limit)
        sql.append(f"ORDER BY part, hk, rk, tk LIMIT ${len(args)}")
        return [_index_row(r) for r in await self.pg.fetch(" ".join(sql), *args)]

    async def get_meta(self, key: str) -> str | None:
        v = await self.pg.fetchval("SELECT value FROM gt_meta WHERE key=$1", key)
        return str(v) if v is not None else None

    async def pending_changes(self, limit: int) -> list[StoredChange]:
        rows = await self.pg.fetch(
            "SELECT seq, tid, part, record, created_ms FROM gt_changes "
            "WHERE pending ORDER BY seq LIMIT $1",
            limit,
        )
        return [StoredChange(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def changes_after(
        self, tid: int, part: int, after_seq: int, limit: int
    ) -> list[StoredChange]:
        rows = await self.pg.fetch(
            "SELECT seq, tid, part, record, created_ms FROM gt_changes "
            "WHERE tid=$1 AND part=$2 AND seq>$3 ORDER BY seq LIMIT $4",
            tid,
            part,
            after_seq,
            limit,
        )
        return [StoredChange(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def _range(sql: list[str], args: list[Any], col: str, rng: KeyRange) -> None:
    if rng.low is not None:
        args.append(rng.low)
        sql.append(f"AND {col} {'>=' if rng.low_inclusive else '>'} ${len(args)}")
    if rng.high is not None:
        args.append(rng.high)
        sql.append(f"AND {col} {'<=' if rng.high_inclusive else '<'} ${len(args)}")


class PgReadTx(_DirectReads, ReadTx):
    def __init__(self, conn: AsyncConnection, pg: Any) -> None:
        super().__init__(conn)
        self.pg = pg


class PgWriteTx(_DirectReads, WriteTx):
    def __init__(self, conn: AsyncConnection, dialect: PostgresDialect, pg: Any) -> None:
        super().__init__(conn, dialect)
        self.pg = pg

    async def lock_partition(self, tid: int, part: int) -> None:
        await self.pg.execute(_LOCK, tid, part)

    async def put_row(
        self,
        tid: int,
        part: int,
        hk: bytes,
        rk: bytes,
        version: Version,
        data: bytes | None,
        size: int,
        now_ms: int,
        *,
        prev: StoredRow | Unread | None = UNREAD,
    ) -> None:
        if prev is UNREAD:
            got = await self.pg.fetchrow(_GET_ROW, tid, part, hk, rk)
            prev = _stored(got) if got is not None else None
        # the verifier's leaf moves in the same transaction as the row (invariant 1)
        leaf = _verify.leaf_delta(
            tid,
            part,
            hk,
            rk,
            prev.version if prev is not None else None,
            prev.data if prev is not None else None,
            version,
            data,
        )
        if leaf is not None:
            await self.pg.execute(
                _UPSERT_LEAF,
                leaf["tid"],
                leaf["part"],
                leaf["bucket"],
                leaf["live"],
                leaf["s0"],
                leaf["s1"],
                leaf["s2"],
                leaf["s3"],
            )
        await self.pg.execute(
            _UPSERT_ROW,
            tid,
            part,
            hk,
            rk,
            version.hlc,
            version.origin,
            data,
            size,
            now_ms if data is None else None,
        )

    async def put_index_entry(self, tid: int, iid: int, e: IndexRow) -> None:
        await self.pg.execute(_UPSERT_INDEX, tid, iid, e.part, e.hk, e.rk, e.tk, e.data, e.size)

    async def delete_index_entry(
        self, tid: int, iid: int, part: int, hk: bytes, rk: bytes, tk: bytes
    ) -> None:
        await self.pg.execute(_DELETE_INDEX, tid, iid, part, hk, rk, tk)

    async def append_change(
        self,
        tid: int,
        part: int,
        event: str,
        version: Version,
        record: bytes,
        now_ms: int,
        pending: bool,
    ) -> int:
        seq = await self.pg.fetchval(
            _APPEND_CHANGE, tid, part, event, version.hlc, version.origin, record, now_ms, pending
        )
        return int(seq)

    async def mark_published(self, seqs: Sequence[int]) -> None:
        if seqs:
            await self.pg.execute(
                "UPDATE gt_changes SET pending=false WHERE seq = ANY($1::bigint[])", list(seqs)
            )

    async def set_meta(self, key: str, value: str) -> None:
        await self.pg.execute(_UPSERT_META, key, value)


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
            yield PgWriteTx(conn, self.pg_dialect, await _driver(conn))

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[ReadTx]:
        """Without ``snapshot`` every statement sees what is committed when it runs
        (no transaction); with it, one REPEATABLE READ transaction for the block."""
        assert self._reader is not None, "store not open"
        async with self._reader.connect() as conn:
            if snapshot:
                await conn.execution_options(isolation_level="REPEATABLE READ")
                await _begin_on_driver(conn)
            yield PgReadTx(conn, await _driver(conn))
