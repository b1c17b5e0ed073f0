"""The PostgreSQL store's connections, and the driver that runs statements on one.

- **Connections** (:class:`Pool`): each one is a SQLAlchemy ``AsyncConnection`` in
  AUTOCOMMIT mode, kept checked out for its lifetime, with the asyncpg connection
  under it.  SQLAlchemy never begins or commits on it; the store does, so SQLAlchemy
  statements (the rare paths in ``sql.py``) run inside the store's transaction on the
  same connection.  No pre-ping (three round trips per checkout with SQLAlchemy's
  asyncpg adapter: BEGIN, ``;``, ROLLBACK): a connection found closed when taken from
  the pool is dropped, and one that turns out dead on the first round trip of a block
  (nothing has run on it yet) is replaced and the round trip made again.
- **The driver** (:class:`_AsyncpgDriver`) of one transaction or one autocommit read
  block.  Every message to the server goes through its ``_round_trip``.  In a
  transaction BEGIN goes out with the first partition lock as one simple-query
  message (``BEGIN; SELECT pg_advisory_xact_lock(t, p)``: integers only, formatted
  here), and writes that return nothing are held and sent with the next statement
  that must go out, as one statement of data-modifying CTEs (a read flushes them
  first, so a transaction reads its own writes; two held statements never write the
  same table, so no row is written twice by one statement, which PostgreSQL leaves
  undefined).  Write blocks use it when they cannot share a group's transaction
  (``postgres_groups.py``).
- **Point reads** of autocommit read blocks are coalesced (:class:`PointReads`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from regions.store.direct import GET_ROW, RowKey

__all__ = [
    "BEGIN",
    "BEGIN_SNAPSHOT",
    "GET_ROWS",
    "GET_ROWS_META",
    "PointReads",
    "Pool",
    "SaOnDriver",
    "Slot",
    "columns",
]

BEGIN = "BEGIN"
BEGIN_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ"
_PARAM = re.compile(r"\$(\d+)")
#: (statement, its parameter count), ... -> the one statement that runs them all
_COMBINED: dict[tuple[tuple[str, int], ...], str] = {}
_TARGETS: dict[str, str] = {}


def _target(sql: str) -> str:
    """The table a held write changes: ``INSERT INTO t``, ``DELETE FROM t``, ``UPDATE t``."""
    table = _TARGETS.get(sql)
    if table is None:
        words = sql.split(None, 3)
        table = words[2] if words[0].upper() in ("INSERT", "DELETE") else words[1]
        _TARGETS[sql] = table
    return table


def _renumbered(sql: str, shift: int) -> str:
    return _PARAM.sub(lambda m: f"${int(m.group(1)) + shift}", sql)


def _combined(statements: Sequence[tuple[str, Sequence[Any]]]) -> tuple[str, list[Any]]:
    """Several statements as one: all but the last as data-modifying CTEs (each runs
    exactly once, whether or not the main statement reads it), their ``$n``
    renumbered after the previous ones' parameters."""
    if len(statements) == 1:
        return statements[0][0], list(statements[0][1])
    key = tuple((sql, len(args)) for sql, args in statements)
    args = [a for _, stmt_args in statements for a in stmt_args]
    text = _COMBINED.get(key)
    if text is None:
        parts: list[str] = []
        offset = 0
        for sql, n in key:
            parts.append(_renumbered(sql, offset))
            offset += n
        *ctes, main = parts
        text = "WITH " + ", ".join(f"w{i} AS ({c})" for i, c in enumerate(ctes)) + " " + main
        if len(_COMBINED) < 1024:
            _COMBINED[key] = text
    return text, args


class Slot:
    """One pooled connection: SQLAlchemy's face and the asyncpg connection under it."""

    __slots__ = ("pg", "sa")

    def __init__(self, sa: AsyncConnection, pg: Any) -> None:
        self.sa = sa
        self.pg = pg


class Pool:
    """At most ``size`` connections, idle ones reused last-in first-out."""

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self._engine = engine
        self._free = asyncio.Semaphore(size)
        self._idle: list[Slot] = []
        self._closed = False

    async def acquire(self) -> Slot:
        await self._free.acquire()
        try:
            while self._idle:
                slot = self._idle.pop()
                if not slot.pg.is_closed():
                    return slot
                await self._drop(slot)
            return await self._connect()
        except BaseException:
            self._free.release()
            raise

    async def replace(self, slot: Slot) -> Slot:
        """A new connection for ``slot``'s place (it was found dead)."""
        await self._drop(slot)
        return await self._connect()

    async def release(self, slot: Slot, *, reusable: bool) -> None:
        try:
            if reusable and not self._closed and not slot.pg.is_closed():
                if slot.sa.in_transaction():
                    # SQLAlchemy's own bookkeeping after a rare-path statement: no SQL
                    # in AUTOCOMMIT mode
                    await slot.sa.rollback()
                self._idle.append(slot)
            else:
                await self._drop(slot)
        finally:
            self._free.release()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for slot in idle:
            await self._drop(slot)

    async def _connect(self) -> Slot:
        sa = await self._engine.connect()
        try:
            await sa.execution_options(isolation_level="AUTOCOMMIT")
            raw = await sa.get_raw_connection()
        except BaseException:
            await sa.close()
            raise
        return Slot(sa, raw.driver_connection)

    @staticmethod
    async def _drop(slot: Slot) -> None:
        try:
            await slot.sa.invalidate()
            await slot.sa.close()
        except Exception:  # a dead connection may fail to close: it is gone either way
            slot.pg.terminate()


def _dead(exc: BaseException, pg: Any) -> bool:
    """Did this round trip fail because the connection is gone (not the statement)?"""
    return isinstance(exc, Exception) and bool(pg.is_closed())


class _AsyncpgDriver:
    """:class:`~regions.store.direct.Driver` on one pooled connection, for one
    transaction (``begin`` its BEGIN) or one autocommit read block (``begin`` None).

    Every message to the server goes through :meth:`_round_trip`."""

    def __init__(
        self,
        pool: Pool,
        slot: Slot | None,
        begin: str | None,
        point_reads: PointReads | None = None,
    ) -> None:
        self._pool = pool
        #: taken from the pool at the first round trip (a read block may need none)
        self.slot = slot
        self._begin = begin
        #: where an autocommit block's point reads go (coalesced with other blocks')
        self._point_reads = point_reads
        self._begun = False
        #: writes not sent yet (module docstring), and the tables they change
        self._held: list[tuple[str, Sequence[Any]]] = []
        self._held_tables: set[str] = set()
        #: nothing has run on this connection in this block yet
        self._fresh = True

    async def connection(self) -> Slot:
        if self.slot is None:
            self.slot = await self._pool.acquire()
        return self.slot

    async def _round_trip(self, how: str, sql: str, args: Sequence[Any]) -> Any:
        """One message to the server and its answer.  ``how``: fetch, fetchrow,
        execute (extended protocol, ``$n`` parameters) or simple (the simple-query
        protocol: several statements, no parameters, no rows back)."""
        pg = (await self.connection()).pg
        if how == "fetch":
            return await pg.fetch(sql, *args)
        if how == "fetchrow":
            return await pg.fetchrow(sql, *args)
        if how == "execute":
            return await pg.execute(sql, *args)
        return await pg.execute(sql)

    async def _send(self, how: str, sql: str, args: Sequence[Any] = ()) -> Any:
        if not self._fresh:
            return await self._round_trip(how, sql, args)
        self._fresh = False
        try:
            return await self._round_trip(how, sql, args)
        except Exception as exc:
            if self.slot is None or not _dead(exc, self.slot.pg):
                raise
        # the pooled connection had died while idle (a server restart): nothing ran on
        # it in this block, so the same round trip on a new connection is the same
        self.slot = await self._pool.replace(self.slot)
        return await self._round_trip(how, sql, args)

    async def send(self, how: str, sql: str, args: Sequence[Any] = ()) -> Any:
        """One round trip of a caller that manages the transaction itself (a group)."""
        return await self._send(how, sql, args)

    async def ready(self) -> None:
        """Before a statement that is not held: BEGIN, then the held writes."""
        if self._begin is not None and not self._begun:
            await self._send("simple", self._begin)
            self._begun = True
        if self._held:
            held, self._held = self._held, []
            self._held_tables.clear()
            await self._send("execute", *_combined(held))

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        await self.ready()
        rows: list[Sequence[Any]] = await self._send("fetch", sql, args)
        return rows

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
        if self._point_reads is not None and sql == GET_ROW:
            return await self._point_reads.get(args)
        await self.ready()
        row: Sequence[Any] | None = await self._send("fetchrow", sql, args)
        return row

    async def execute(self, sql: str, args: Sequence[Any]) -> None:
        if self._begin is None:
            await self._send("execute", sql, args)
            return
        table = _target(sql)
        if table in self._held_tables:
            await self.ready()
        self._held.append((sql, args))
        self._held_tables.add(table)

    async def get_rows(self, keys: Sequence[RowKey]) -> list[Sequence[Any] | None]:
        await self.ready()
        found = {r[0]: r[1:] for r in await self._send("fetch", GET_ROWS, columns(keys))}
        return [found.get(i) for i in range(1, len(keys) + 1)]

    async def get_rows_meta(
        self, keys: Sequence[RowKey], meta_key: str
    ) -> tuple[list[Sequence[Any] | None], str | None]:
        await self.ready()
        return split_meta(await self._send("fetch", GET_ROWS_META, meta_args(keys, [meta_key])), len(keys))

    async def write_returning(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
        """A write whose row comes back, sent with the held writes as one statement
        when it changes none of their tables."""
        if self._held and _target(sql) not in self._held_tables:
            if self._begin is not None and not self._begun:
                await self._send("simple", self._begin)
                self._begun = True
            held, self._held = self._held, []
            self._held_tables.clear()
            row: Sequence[Any] | None = await self._send(
                "fetchrow", *_combined([*held, (sql, args)])
            )
            return row
        return await self.fetchrow(sql, args)

    async def lock_partition(self, tid: int, part: int) -> None:
        # transaction-scoped advisory lock keyed (tid, part): read-modify-write is
        # safe across connections and processes without locking rows that may not
        # exist yet (postgres_dialect.py).  Integers only, so the simple protocol
        # can carry it with the BEGIN in one message.
        lock = f"SELECT pg_advisory_xact_lock({int(tid)}::integer, {int(part)}::integer)"
        if self._held:
            await self.ready()
        if self._begin is not None and not self._begun:
            await self._send("simple", f"{self._begin}; {lock}")
            self._begun = True
        else:
            await self._send("simple", lock)

    def any_of(self, column: str, values: Sequence[Any], args: list[Any]) -> str:
        # one array parameter: one prepared statement whatever the number of values
        args.append(list(values))
        return f"{column} = ANY(${len(args)}::bigint[])"

    async def commit(self) -> None:
        """Send what is held and COMMIT (durable when it returns, invariant 7)."""
        if not self._begun:
            if self._held:
                # one statement in autocommit is a transaction of its own
                held, self._held = self._held, []
                self._held_tables.clear()
                await self._send("execute", *_combined(held))
            return
        await self.ready()
        await self._send("simple", "COMMIT")

    async def abort(self) -> bool:
        """Roll back what ran; True if the connection can be pooled again."""
        self._held.clear()
        self._held_tables.clear()
        if self.slot is None:
            return True
        pg = self.slot.pg
        if pg.is_closed():
            return False
        if not self._begun and not pg.is_in_transaction():
            return True
        try:
            await self._round_trip("simple", "ROLLBACK", ())
        except Exception:  # a connection that cannot roll back is not reused
            return False
        return True


#: several point reads in one statement: one index probe per key (LATERAL), in the
#: order asked (ORDINALITY); a key with no row has no line.  ``OFFSET 0`` keeps the
#: planner from flattening the LATERAL subquery into a join: flattened, a plan made
#: while the table was small (a new table, before autovacuum's first ANALYZE) is a hash
#: join over a sequential scan, and the prepared statement keeps it as the table grows
#: (every read then scanned the whole table: most of PostgreSQL's CPU under a put load)
GET_ROWS = (
    "SELECT k.i, g.part, g.hk, g.rk, g.hlc, g.origin, g.data, g.size "
    "FROM unnest($1::integer[], $2::integer[], $3::bytea[], $4::bytea[]) WITH ORDINALITY "
    "AS k(tid, part, hk, rk, i) CROSS JOIN LATERAL (SELECT * FROM gt_items AS g "
    "WHERE g.tid = k.tid AND g.part = k.part AND g.hk = k.hk AND g.rk = k.rk OFFSET 0) AS g"
)


#: GET_ROWS and meta rows in one statement: each meta row as a line numbered 0, its
#: key in ``hk`` and its value in ``origin`` (the columns' types must match)
GET_ROWS_META = (
    f"{GET_ROWS} UNION ALL SELECT 0, NULL::integer, convert_to(m.key, 'UTF8'), NULL::bytea, "
    "NULL::bigint, m.value, NULL::bytea, NULL::integer FROM gt_meta AS m "
    "WHERE m.key = ANY($5::text[])"
)


def meta_args(keys: Sequence[Sequence[Any]], meta_keys: Sequence[str]) -> list[Any]:
    """GET_ROWS_META's parameters."""
    return [*columns(keys), list(meta_keys)]


def split_meta(
    found: Sequence[Sequence[Any]], n: int
) -> tuple[list[Sequence[Any] | None], str | None]:
    """GET_ROWS_META's answer for one meta key: the ``n`` rows in order, its value."""
    rows: dict[int, Sequence[Any]] = {}
    value: str | None = None
    for r in found:
        if r[0] == 0:
            value = r[5]
        else:
            rows[r[0]] = r[1:]
    return [rows.get(i) for i in range(1, n + 1)], value


def columns(keys: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """GET_ROWS' four array parameters."""
    columns: list[list[Any]] = [[], [], [], []]
    for key in keys:
        for column, value in zip(columns, key, strict=True):
            column.append(value)
    return columns


#: most point reads one statement carries
_POINT_BATCH = 64


class PointReads:
    """The point reads of read blocks outside a snapshot (GetItem's), coalesced.

    A read asked for is sent at the end of the event loop's current pass, with every
    other one asked for in that pass: under load a loop pass serves many requests, and
    one statement for all of them costs one round trip instead of one each.  A read
    asked for alone goes out alone, one loop pass later.  Each statement runs after
    every read in it was asked for, so a read still sees every write acknowledged
    before it began (what an autocommit statement of its own would see)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._queue: list[tuple[Sequence[Any], asyncio.Future[Sequence[Any] | None]]] = []
        self._scheduled = False
        self._running: set[asyncio.Task[None]] = set()

    async def get(self, key: Sequence[Any]) -> Sequence[Any] | None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Sequence[Any] | None] = loop.create_future()
        self._queue.append((key, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._send)
        return await fut

    def _send(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        for start in range(0, len(queue), _POINT_BATCH):
            task = asyncio.get_running_loop().create_task(
                self._run(queue[start : start + _POINT_BATCH])
            )
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(
        self, batch: list[tuple[Sequence[Any], asyncio.Future[Sequence[Any] | None]]]
    ) -> None:
        batch = [(key, fut) for key, fut in batch if not fut.done()]
        if not batch:
            return
        driver = _AsyncpgDriver(self._pool, None, None)
        try:
            if len(batch) == 1:
                key, fut = batch[0]
                row = await driver.fetchrow(GET_ROW, key)
                if not fut.done():
                    fut.set_result(row)
            else:
                arrays = columns([key for key, _ in batch])
                found = {r[0]: r[1:] for r in await driver.fetch(GET_ROWS, arrays)}
                for i, (_, fut) in enumerate(batch, start=1):
                    if not fut.done():
                        fut.set_result(found.get(i))
        except Exception as exc:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
        finally:
            for _, fut in batch:
                fut.cancel()  # only if the statement never answered (this task cancelled)
            if driver.slot is not None:
                await self._pool.release(driver.slot, reusable=await driver.abort())

    async def close(self) -> None:
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


class SaOnDriver:
    """The transaction's SQLAlchemy face (``tx.conn``), duck-typed as the
    ``AsyncConnection`` the shared code uses: each statement runs after the
    transaction's BEGIN and held writes, on the same connection."""

    def __init__(self, driver: _AsyncpgDriver) -> None:
        self._driver = driver

    async def _sa(self) -> AsyncConnection:
        await self._driver.ready()
        return (await self._driver.connection()).sa

    async def execute(self, stmt: Any, params: Any = None) -> Any:
        sa = await self._sa()
        return await (sa.execute(stmt) if params is None else sa.execute(stmt, params))

    async def exec_driver_sql(self, sql: str, params: Any = None) -> Any:
        sa = await self._sa()
        return await (
            sa.exec_driver_sql(sql) if params is None else sa.exec_driver_sql(sql, params)
        )

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await (await self._sa()).run_sync(fn, *args)
