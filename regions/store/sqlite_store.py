"""The SQLite store on the standard ``sqlite3`` module, without a driver thread.

Why a backend of its own: profiles of a region under load (docs/benchmarks.md)
showed a point read costing ~120 µs of SQLAlchemy statement building and
execution plus an aiosqlite thread round trip, against ~10 µs for the same
statement on a bare ``sqlite3`` cursor.  SQLite runs in this process, so a read
is a few microseconds of CPU: it is cheaper to run it on the event loop's thread
than to hand it to another thread and wait.

- **Hot statements are plain SQL** (``direct.py``: point reads, range scans, the
  row, index, leaf and change-log upserts of a write).  Every other statement still
  goes through SQLAlchemy Core on the SAME sqlite3 connection (:class:`_SaConn`,
  duck-typed as the ``AsyncConnection`` the shared code expects), so the rare
  paths (DDL, maintenance, verification, catalog) stay one code path with
  PostgreSQL's.
- **Reads** take a pooled connection (WAL readers never wait for the writer).  A
  ``read(snapshot=True)`` block runs in a deferred transaction and sees one snapshot;
  any other read runs in autocommit, each statement seeing the latest commit, as
  PostgreSQL's reads do.
- **Writes** are committed in groups (:meth:`SqliteStore.write`): bodies run on
  the loop thread, each in a SAVEPOINT of one shared ``BEGIN IMMEDIATE``
  transaction, and only BEGIN (which may wait for another process's lock) and
  COMMIT (the fsync of ``synchronous=FULL``) go to a worker thread.  A write is
  acknowledged after the COMMIT that contains it returned (invariant 7).
- **Processes sharing the file** (``globaltables region --workers``) take turns at
  writing through an exclusive ``flock`` on ``<db>-writer.lock``, held from BEGIN to
  COMMIT.  SQLite's own busy handler would also serialise them, but it polls with
  sleeps of 1 ms and more, longer than a whole group commit here; a process waiting
  on the ``flock`` wakes the moment the other releases it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
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
from regions.store.direct import GET_META, GET_ROW, RowKey
from regions.store.sql import ReadTx, SqlStore, WriteTx
from regions.store.sqlite_dialect import SqliteDialect

__all__ = ["SqliteStore"]

#: most writes one group commit may hold (bounds the latency of its first member)
_GROUP_MAX = 64
#: idle read connections kept open
_POOL_MAX = 16


#: shared SQL (``$1`` placeholders) -> SQLite's numbered ``?1`` form (bounded: the
#: IN lists of scans and of mark_published make a few hundred variants)
_NUMBERED: dict[str, str] = {}


def _numbered(sql: str) -> str:
    out = _NUMBERED.get(sql)
    if out is None:
        out = sql.replace("$", "?")
        if len(_NUMBERED) < 4096:
            _NUMBERED[sql] = out
    return out


class _Sqlite3Driver:
    """:class:`~regions.store.direct.Driver` on a sqlite3 connection; the calls
    complete synchronously on the loop thread (module docstring)."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        return self.raw.execute(_numbered(sql), args).fetchall()

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self.raw.execute(_numbered(sql), args).fetchone()
        return row

    async def execute(self, sql: str, args: Sequence[Any]) -> None:
        self.raw.execute(_numbered(sql), args)

    async def write_returning(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
        return await self.fetchrow(sql, args)

    async def get_rows(self, keys: Sequence[RowKey]) -> list[Sequence[Any] | None]:
        # in process, a few µs each: nothing to gain from one statement
        return [await self.fetchrow(GET_ROW, key) for key in keys]

    async def get_rows_meta(
        self, keys: Sequence[RowKey], meta_key: str
    ) -> tuple[list[Sequence[Any] | None], str | None]:
        row = await self.fetchrow(GET_META, (meta_key,))
        return await self.get_rows(keys), (str(row[0]) if row is not None else None)

    async def lock_partition(self, tid: int, part: int) -> None:
        # BEGIN IMMEDIATE already holds the database write lock
        return None

    def any_of(self, column: str, values: Sequence[Any], args: list[Any]) -> str:
        first = len(args) + 1
        args.extend(values)
        return f"{column} IN ({', '.join(f'${first + i}' for i in range(len(values)))})"


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
    """One sqlite3 connection, its SQLAlchemy face and its direct driver."""

    def __init__(self, path: str, dialect: SqliteDialect) -> None:
        # isolation_level=None: the module issues no implicit BEGIN/COMMIT, we do;
        # check_same_thread=False: the writer's BEGIN/COMMIT may run on a worker
        # thread (never at the same time as the loop thread uses the connection)
        self.raw = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        dialect._pragmas(self.raw)
        raw = self.raw
        self._engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
        self.sa = _SaConn(self._engine.connect())
        self.driver = _Sqlite3Driver(raw)

    def close(self) -> None:
        try:
            self.sa.sa.close()
            self._engine.dispose()
        finally:
            self.raw.close()


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
        #: writers waiting for the lock: the last of a burst commits the group
        self._queued = 0
        self._members: list[asyncio.Future[None]] = []
        # one thread: BEGIN and COMMIT of the writer connection, never two at once
        self._io: ThreadPoolExecutor | None = None
        #: the group COMMIT running now (shielded: it outlives a cancelled flusher)
        self._commit_task: asyncio.Future[None] | None = None
        #: the lock file every process writing this database takes turns on
        self._turn_fd: int | None = None
        #: other processes of the region write here too (share_with_processes)
        self._shared = False

    async def open(self) -> None:
        self._io = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
        self._turn_fd = os.open(f"{self.path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._writer_conn = _Conn(self.path, self.sqlite)
        # DDL in autocommit: each CREATE commits on its own, and all are IF NOT EXISTS
        s.metadata.create_all(self._writer_conn.sa.sa)
        # from now on BEGIN IMMEDIATE does its own waiting, off the loop (_begin)
        self._writer_conn.raw.execute("PRAGMA busy_timeout=0")

    async def close(self) -> None:
        async with self._lock:
            if self._in_group:
                await self._flush()
            # a COMMIT whose flusher was cancelled (a request cut off at shutdown) may
            # still run on the worker thread: closing the connection under it crashes
            # the process (sqlite3 is not safe against that), so it ends first
            if self._commit_task is not None:
                await asyncio.wait([self._commit_task])
            if self._io is not None:
                self._io.shutdown(wait=True)
                self._io = None
            for conn in self._idle:
                conn.close()
            self._idle.clear()
            if self._writer_conn is not None:
                self._writer_conn.close()
                self._writer_conn = None
            if self._turn_fd is not None:
                os.close(self._turn_fd)
                self._turn_fd = None

    def share_with_processes(self) -> None:
        self._shared = True

    async def _begin(self, conn: _Conn) -> None:
        """BEGIN IMMEDIATE: the database write lock, for the whole group.

        Tried on the loop thread first with no busy wait (the writer connection's
        busy_timeout is 0): in WAL mode nobody else holds the lock unless another
        process writes to the same file.  If one does, wait for it on the worker
        thread, up to the configured busy_timeout, so the loop never blocks.  The
        writers' turn (the lock file, module docstring) is taken first the same way."""
        assert self._turn_fd is not None and self._io is not None
        loop = asyncio.get_running_loop()
        if self._shared:
            # always queue for the turn: the process that just ended its turn would
            # otherwise take it back on the loop before the waiting one even wakes
            await loop.run_in_executor(self._io, self._begin_waiting, conn)
            return
        try:
            fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # another process of the region is writing: wait for its turn to end
            await loop.run_in_executor(self._io, self._begin_waiting, conn)
            return
        try:
            conn.raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            # the primary code (the low byte): SQLITE_BUSY_SNAPSHOT and kin are busy too
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                self._end_turn()
                raise
        await loop.run_in_executor(self._io, self._begin_waiting, conn)

    def _begin_waiting(self, conn: _Conn) -> None:
        assert self._turn_fd is not None
        # a no-op if this process already holds it (flock locks are per open file)
        fcntl.flock(self._turn_fd, fcntl.LOCK_EX)
        conn.raw.execute(f"PRAGMA busy_timeout={self.sqlite.busy_timeout_ms}")
        try:
            # a writer that does not take turns (an older version) may still hold it
            conn.raw.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._end_turn()
            raise
        finally:
            conn.raw.execute("PRAGMA busy_timeout=0")

    def _end_turn(self) -> None:
        if self._turn_fd is not None:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def _commit_now(self) -> None:
        """COMMIT (on the worker thread), then end the turn at once: another process
        waiting for it wakes while this one is still settling its group."""
        assert self._writer_conn is not None
        try:
            self._writer_conn.raw.execute("COMMIT")
        finally:
            if not self._writer_conn.raw.in_transaction:
                self._end_turn()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[WriteTx]:
        """Group commit for SQLite's single writer.

        Writers queue on one lock.  Each runs its body inside a SAVEPOINT of a shared
        transaction; the writer that finds nobody queued behind it (or a full group)
        COMMITs for the whole group.  Every ``write()`` still returns only after the
        commit that contains it is durable (invariant 7), but one fsync serves many
        writes.  A body that raises rolls back its savepoint only: other members of
        the group are unaffected.  If the group COMMIT itself fails, every member
        gets the error, so nothing is acknowledged that was not made durable."""
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
                yield WriteTx(cast(AsyncConnection, conn.sa), self.sqlite, conn.driver)
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
            except BaseException:
                # the failure reaches this writer as the exception itself; its own
                # future holds the same one and is not awaited any more
                if committed is not None and committed.done() and not committed.cancelled():
                    committed.exception()
                raise
            finally:
                self._lock.release()
        await committed

    async def _flush(self) -> None:
        """COMMIT the open group (durable when it returns) and settle its members.

        The commit runs as a task of its own, shielded: if the request that happens
        to flush is cancelled (its client went away), the COMMIT already running on
        the worker thread still completes and still settles every member with what
        really happened, instead of reporting a failure for writes that are durable."""
        members, self._members = self._members, []
        if not self._in_group:
            return
        self._in_group = False
        task = self._commit_task = asyncio.ensure_future(self._commit(members))
        await asyncio.shield(task)

    async def _commit(self, members: list[asyncio.Future[None]]) -> None:
        assert self._io is not None
        try:
            await asyncio.get_running_loop().run_in_executor(self._io, self._commit_now)
        except BaseException as exc:
            # nothing of the group is acknowledged; leave the connection usable
            assert self._writer_conn is not None
            try:
                if self._writer_conn.raw.in_transaction:
                    self._writer_conn.raw.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._end_turn()
            for fut in members:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        for fut in members:
            if not fut.done():
                fut.set_result(None)

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[ReadTx]:
        """A pooled connection.  With ``snapshot``, in a deferred read transaction:
        one snapshot for the whole block.  Without it, as on PostgreSQL, each
        statement sees what is committed when it runs (SQLite's autocommit), which
        spares a point read the BEGIN and ROLLBACK around its one SELECT."""
        assert self._writer_conn is not None, "store not open"
        conn = self._idle.pop() if self._idle else _Conn(self.path, self.sqlite)
        reusable = False
        try:
            if not snapshot:
                yield ReadTx(cast(AsyncConnection, conn.sa), conn.driver)
                reusable = not conn.raw.in_transaction
                return
            conn.raw.execute("BEGIN")
            try:
                yield ReadTx(cast(AsyncConnection, conn.sa), conn.driver)
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
