"""The SQLite store on the standard ``sqlite3`` module, without a driver thread.

Why a backend of its own: profiles of a region under load (docs/benchmarks.md)
showed a point read costing ~120 µs of SQLAlchemy statement building and
execution plus an aiosqlite thread round trip, against ~10 µs for the same
statement on a bare ``sqlite3`` cursor.  SQLite runs in this process, so a read
is a few microseconds of CPU: it is cheaper to run it on the event loop's thread
than to hand it to another thread and wait.

- **Hot statements are hand-written SQL** (point reads, range scans, the row,
  index, leaf and change-log upserts of a write).  Every other statement still
  goes through SQLAlchemy Core on the SAME sqlite3 connection (:class:`_SaConn`,
  duck-typed as the ``AsyncConnection`` the shared code expects), so the rare
  paths (DDL, maintenance, verification, catalog) stay one code path with
  PostgreSQL's.
- **Reads** take a pooled connection and run in a deferred transaction, so one
  ``read()`` block sees one snapshot (WAL readers never wait for the writer).
- **Writes** keep the group commit of ``SqlStore._group_write``: bodies run on
  the loop thread, each in a SAVEPOINT of one shared ``BEGIN IMMEDIATE``
  transaction, and only BEGIN (which may wait for another process's lock) and
  COMMIT (the fsync of ``synchronous=FULL``) go to a worker thread.  A write is
  acknowledged after the COMMIT that contains it returned (invariant 7).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import StaticPool

from regions.store import schema as s
from regions.store import verify as _verify
from regions.store.base import UNREAD, IndexRow, KeyRange, StoredChange, StoredRow, Unread
from regions.store.sql import _GROUP_MAX, ReadTx, SqlStore, WriteTx
from regions.store.sqlite import SqliteDialect
from regions.versions import Version

__all__ = ["SqliteStore"]

#: idle read connections kept open
_POOL_MAX = 16

_ITEM_COLS = "part, hk, rk, hlc, origin, data, size"
_INDEX_COLS = "part, hk, rk, tk, data, size"
_GET_ROW = f"SELECT {_ITEM_COLS} FROM gt_items WHERE tid=? AND part=? AND hk=? AND rk=?"
_UPSERT_ROW = (
    "INSERT INTO gt_items (tid, part, hk, rk, hlc, origin, data, size, tomb_ms) "
    "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (tid, part, hk, rk) DO UPDATE SET "
    "hlc=excluded.hlc, origin=excluded.origin, data=excluded.data, size=excluded.size, "
    "tomb_ms=excluded.tomb_ms"
)
_UPSERT_LEAF = (
    "INSERT INTO gt_verify (tid, part, bucket, live, s0, s1, s2, s3) "
    "VALUES (:tid, :part, :bucket, :live, :s0, :s1, :s2, :s3) "
    "ON CONFLICT (tid, part, bucket) DO UPDATE SET live=live+excluded.live, "
    "s0=s0+excluded.s0, s1=s1+excluded.s1, s2=s2+excluded.s2, s3=s3+excluded.s3"
)
_UPSERT_INDEX = (
    "INSERT INTO gt_index (tid, iid, part, hk, rk, tk, data, size) VALUES (?,?,?,?,?,?,?,?) "
    "ON CONFLICT (tid, iid, part, hk, rk, tk) DO UPDATE SET data=excluded.data, "
    "size=excluded.size"
)
_DELETE_INDEX = (
    "DELETE FROM gt_index WHERE tid=? AND iid=? AND part=? AND hk=? AND rk=? AND tk=?"
)
_APPEND_CHANGE = (
    "INSERT INTO gt_changes (tid, part, event, hlc, origin, record, created_ms, pending) "
    "VALUES (?,?,?,?,?,?,?,?)"
)
_UPSERT_META = (
    "INSERT INTO gt_meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value=excluded.value"
)


def _stored(r: tuple[Any, ...]) -> StoredRow:
    return StoredRow(r[0], r[1], r[2], Version(r[3], r[4]), r[5], r[6])


def _index_row(r: tuple[Any, ...]) -> IndexRow:
    return IndexRow(r[0], r[1], r[2], r[3], r[4], r[5])


class _SaConn:
    """SQLAlchemy Core on a direct sqlite3 connection, with the awaitable surface of
    ``AsyncConnection`` that the shared store code uses.

    SQLAlchemy never begins or commits here: the store issues BEGIN, SAVEPOINT and
    COMMIT itself on the raw connection, and SQLAlchemy's own (autobegun, never
    committed) transaction emits no SQL with pysqlite in autocommit mode.
    """

    def __init__(self, sa: Connection) -> None:
        self.sa = sa
        self.dialect = sa.dialect

    async def execute(self, stmt: Any, params: Any = None) -> Any:
        return self.sa.execute(stmt) if params is None else self.sa.execute(stmt, params)

    async def exec_driver_sql(self, sql: str, params: Any = None) -> Any:
        return (
            self.sa.exec_driver_sql(sql) if params is None else self.sa.exec_driver_sql(sql, params)
        )

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(self.sa, *args)


class _Conn:
    """One sqlite3 connection and its SQLAlchemy face."""

    def __init__(self, path: str, dialect: SqliteDialect) -> None:
        # isolation_level=None: the module issues no implicit BEGIN/COMMIT, we do;
        # check_same_thread=False: the writer's BEGIN/COMMIT run on a worker thread
        # (never at the same time as the loop thread uses the connection)
        self.raw = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        dialect._pragmas(self.raw)
        raw = self.raw
        self._engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
        self.sa = _SaConn(self._engine.connect())

    def close(self) -> None:
        try:
            self.sa.sa.close()
            self._engine.dispose()
        finally:
            self.raw.close()


class _DirectReads:
    """The hot reads as plain SQL on the raw connection."""

    raw: sqlite3.Connection

    async def get_row(self, tid: int, part: int, hk: bytes, rk: bytes) -> StoredRow | None:
        r = self.raw.execute(_GET_ROW, (tid, part, hk, rk)).fetchone()
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
        sql = [f"SELECT {_ITEM_COLS} FROM gt_items WHERE tid=? AND part=? AND hk=?"]
        args: list[Any] = [tid, part, hk]
        _range(sql, args, "rk", rng)
        if after_rk is not None:
            sql.append("AND rk > ?" if forward else "AND rk < ?")
            args.append(after_rk)
        sql.append("AND data IS NOT NULL ORDER BY rk " + ("ASC" if forward else "DESC"))
        sql.append("LIMIT ?")
        args.append(limit)
        return [_stored(r) for r in self.raw.execute(" ".join(sql), args)]

    async def scan(
        self,
        tid: int,
        *,
        parts: Sequence[int] | None = None,
        after: tuple[int, bytes, bytes] | None = None,
        limit: int = 1000,
    ) -> list[StoredRow]:
        return self._scan(tid, parts, after, limit, live=True)

    async def scan_all_rows(
        self, tid: int, *, after: tuple[int, bytes, bytes] | None = None, limit: int = 1000
    ) -> list[StoredRow]:
        return self._scan(tid, None, after, limit, live=False)

    def _scan(
        self,
        tid: int,
        parts: Sequence[int] | None,
        after: tuple[int, bytes, bytes] | None,
        limit: int,
        *,
        live: bool,
    ) -> list[StoredRow]:
        sql = [f"SELECT {_ITEM_COLS} FROM gt_items WHERE tid=?"]
        args: list[Any] = [tid]
        if live:
            sql.append("AND data IS NOT NULL")
        if parts is not None:
            sql.append(f"AND part IN ({','.join('?' * len(parts))})")
            args.extend(parts)
        if after is not None:
            sql.append("AND (part, hk, rk) > (?, ?, ?)")
            args.extend(after)
        sql.append("ORDER BY part, hk, rk LIMIT ?")
        args.append(limit)
        return [_stored(r) for r in self.raw.execute(" ".join(sql), args)]

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
        sql = [f"SELECT {_INDEX_COLS} FROM gt_index WHERE tid=? AND iid=? AND part=? AND hk=?"]
        args: list[Any] = [tid, iid, part, hk]
        _range(sql, args, "rk", rng)
        if after is not None:
            sql.append("AND (rk, tk) > (?, ?)" if forward else "AND (rk, tk) < (?, ?)")
            args.extend(after)
        sql.append("ORDER BY rk ASC, tk ASC" if forward else "ORDER BY rk DESC, tk DESC")
        sql.append("LIMIT ?")
        args.append(limit)
        return [_index_row(r) for r in self.raw.execute(" ".join(sql), args)]

    async def index_scan(
        self,
        tid: int,
        iid: int,
        *,
        parts: Sequence[int] | None = None,
        after: tuple[int, bytes, bytes, bytes] | None = None,
        limit: int = 1000,
    ) -> list[IndexRow]:
        sql = [f"SELECT {_INDEX_COLS} FROM gt_index WHERE tid=? AND iid=?"]
        args: list[Any] = [tid, iid]
        if parts is not None:
            sql.append(f"AND part IN ({','.join('?' * len(parts))})")
            args.extend(parts)
        if after is not None:
            sql.append("AND (part, hk, rk, tk) > (?, ?, ?, ?)")
            args.extend(after)
        sql.append("ORDER BY part, hk, rk, tk LIMIT ?")
        args.append(limit)
        return [_index_row(r) for r in self.raw.execute(" ".join(sql), args)]

    async def get_meta(self, key: str) -> str | None:
        r = self.raw.execute("SELECT value FROM gt_meta WHERE key=?", (key,)).fetchone()
        return str(r[0]) if r is not None else None

    async def pending_changes(self, limit: int) -> list[StoredChange]:
        cur = self.raw.execute(
            "SELECT seq, tid, part, record, created_ms FROM gt_changes "
            "WHERE pending=1 ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [StoredChange(*r) for r in cur]

    async def changes_after(
        self, tid: int, part: int, after_seq: int, limit: int
    ) -> list[StoredChange]:
        cur = self.raw.execute(
            "SELECT seq, tid, part, record, created_ms FROM gt_changes "
            "WHERE tid=? AND part=? AND seq>? ORDER BY seq LIMIT ?",
            (tid, part, after_seq, limit),
        )
        return [StoredChange(*r) for r in cur]


def _range(sql: list[str], args: list[Any], col: str, rng: KeyRange) -> None:
    if rng.low is not None:
        sql.append(f"AND {col} >= ?" if rng.low_inclusive else f"AND {col} > ?")
        args.append(rng.low)
    if rng.high is not None:
        sql.append(f"AND {col} <= ?" if rng.high_inclusive else f"AND {col} < ?")
        args.append(rng.high)


class SqliteReadTx(_DirectReads, ReadTx):
    def __init__(self, conn: _Conn) -> None:
        super().__init__(cast(AsyncConnection, conn.sa))
        self.raw = conn.raw


class SqliteWriteTx(_DirectReads, WriteTx):
    def __init__(self, conn: _Conn, dialect: SqliteDialect) -> None:
        super().__init__(cast(AsyncConnection, conn.sa), dialect)
        self.raw = conn.raw

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
            got = self.raw.execute(_GET_ROW, (tid, part, hk, rk)).fetchone()
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
            self.raw.execute(_UPSERT_LEAF, leaf)
        self.raw.execute(
            _UPSERT_ROW,
            (
                tid,
                part,
                hk,
                rk,
                version.hlc,
                version.origin,
                data,
                size,
                now_ms if data is None else None,
            ),
        )

    async def put_index_entry(self, tid: int, iid: int, e: IndexRow) -> None:
        self.raw.execute(_UPSERT_INDEX, (tid, iid, e.part, e.hk, e.rk, e.tk, e.data, e.size))

    async def delete_index_entry(
        self, tid: int, iid: int, part: int, hk: bytes, rk: bytes, tk: bytes
    ) -> None:
        self.raw.execute(_DELETE_INDEX, (tid, iid, part, hk, rk, tk))

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
        cur = self.raw.execute(
            _APPEND_CHANGE,
            (tid, part, event, version.hlc, version.origin, record, now_ms, int(pending)),
        )
        seq = cur.lastrowid
        assert seq is not None
        return seq

    async def mark_published(self, seqs: Sequence[int]) -> None:
        # bounded chunks: SQLite caps the number of bound parameters per statement
        for i in range(0, len(seqs), 500):
            chunk = list(seqs[i : i + 500])
            self.raw.execute(
                f"UPDATE gt_changes SET pending=0 WHERE seq IN ({','.join('?' * len(chunk))})",
                chunk,
            )

    async def set_meta(self, key: str, value: str) -> None:
        self.raw.execute(_UPSERT_META, (key, value))


class SqliteStore(SqlStore):
    """``SqlStore``'s interface on direct sqlite3 connections (module docstring)."""

    def __init__(self, url: str, dialect: SqliteDialect) -> None:
        super().__init__(url, dialect)
        self.sqlite = dialect
        database = make_url(url).database
        if not database:
            raise ValueError("the SQLite store needs a file path")
        self.path = database
        self._lock = asyncio.Lock()
        self._writer_conn: _Conn | None = None
        self._idle: list[_Conn] = []
        self._in_group = False
        self._members: list[asyncio.Future[None]] = []
        # one thread: BEGIN and COMMIT of the writer connection, never two at once
        self._io: ThreadPoolExecutor | None = None

    async def open(self) -> None:
        self._io = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
        self._writer_conn = _Conn(self.path, self.sqlite)
        # DDL in autocommit: each CREATE commits on its own, and all are IF NOT EXISTS
        s.metadata.create_all(self._writer_conn.sa.sa)
        # from now on BEGIN IMMEDIATE does its own waiting, off the loop (_begin)
        self._writer_conn.raw.execute("PRAGMA busy_timeout=0")

    async def close(self) -> None:
        async with self._lock:
            if self._in_group:
                await self._flush()
            for conn in self._idle:
                conn.close()
            self._idle.clear()
            if self._writer_conn is not None:
                self._writer_conn.close()
                self._writer_conn = None
            if self._io is not None:
                self._io.shutdown(wait=True)
                self._io = None

    async def _on_io(self, sql: str) -> None:
        assert self._writer_conn is not None and self._io is not None
        raw = self._writer_conn.raw
        await asyncio.get_running_loop().run_in_executor(self._io, raw.execute, sql)

    async def _begin(self, conn: _Conn) -> None:
        """BEGIN IMMEDIATE: the database write lock, for the whole group.

        Tried on the loop thread first with no busy wait (the writer connection's
        busy_timeout is 0): in WAL mode nobody else holds the lock unless another
        process writes to the same file.  If one does, wait for it on the worker
        thread, up to the configured busy_timeout, so the loop never blocks."""
        try:
            conn.raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            # the primary code (the low byte): SQLITE_BUSY_SNAPSHOT and kin are busy too
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        assert self._io is not None
        await asyncio.get_running_loop().run_in_executor(self._io, self._begin_waiting, conn)

    def _begin_waiting(self, conn: _Conn) -> None:
        conn.raw.execute(f"PRAGMA busy_timeout={self.sqlite.busy_timeout_ms}")
        try:
            conn.raw.execute("BEGIN IMMEDIATE")
        finally:
            conn.raw.execute("PRAGMA busy_timeout=0")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[WriteTx]:
        """Group commit (see ``SqlStore._group_write``, same contract): queue on one
        lock, run the body in a SAVEPOINT of the open group transaction, and let the
        member that finds nobody queued behind it (or a full group) COMMIT for all."""
        assert self._writer_conn is not None, "store not open"
        loop = asyncio.get_running_loop()
        self._queued += 1
        await self._lock.acquire()
        self._queued -= 1
        committed: asyncio.Future[None] | None = None
        try:
            conn = self._writer_conn
            if not self._in_group:
                await self._begin(conn)
                self._in_group = True
            conn.raw.execute("SAVEPOINT gt_write")
            try:
                yield SqliteWriteTx(conn, self.sqlite)
            except BaseException:
                conn.raw.execute("ROLLBACK TO gt_write")
                conn.raw.execute("RELEASE gt_write")
                raise
            conn.raw.execute("RELEASE gt_write")
            committed = loop.create_future()
            self._members.append(committed)
        finally:
            try:
                if self._queued == 0 or len(self._members) >= _GROUP_MAX:
                    await self._flush()
            finally:
                self._lock.release()
        await committed

    async def _flush(self) -> None:
        """COMMIT the open group (durable when it returns) and settle its members."""
        members, self._members = self._members, []
        if not self._in_group:
            return
        self._in_group = False
        try:
            await self._on_io("COMMIT")
        except BaseException as exc:
            # nothing of the group is acknowledged; leave the connection usable
            assert self._writer_conn is not None
            try:
                if self._writer_conn.raw.in_transaction:
                    self._writer_conn.raw.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for fut in members:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        for fut in members:
            if not fut.done():
                fut.set_result(None)

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[ReadTx]:
        """A pooled connection in a deferred read transaction: one snapshot for the
        whole block (``snapshot`` is therefore always honoured)."""
        assert self._writer_conn is not None, "store not open"
        conn = self._idle.pop() if self._idle else _Conn(self.path, self.sqlite)
        reusable = False
        try:
            conn.raw.execute("BEGIN")
            try:
                yield SqliteReadTx(conn)
            finally:
                conn.raw.execute("ROLLBACK")
                reusable = True
        finally:
            # a connection whose ROLLBACK failed is in an unknown state: not reused
            if reusable and len(self._idle) < _POOL_MAX:
                self._idle.append(conn)
            else:
                conn.close()

    async def durability(self) -> dict[str, str]:
        async with self.write() as tx:
            return {"backend": self.backend, **await self.sqlite.durability(tx.conn)}

    async def ping(self) -> bool:
        try:
            async with self.read() as tx:
                await tx.get_meta("ping")
            return True
        except Exception:
            return False
