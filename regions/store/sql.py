"""The partitioned store's transactions, shared by both backends.

A transaction runs the statements every request needs as plain SQL on the
backend's driver (``direct.py``) and everything rarer (catalog, housekeeping,
streams bookkeeping, verification) as SQLAlchemy Core on the same connection,
here.  The dialect-specific parts (engine set-up, connection settings, durability
read-back) sit in ``sqlite_dialect.py`` and ``postgres_dialect.py``, the connections,
partition locks and commits in ``sqlite_store.py`` and ``postgres_store.py`` (with
``postgres_pool.py`` and ``postgres_groups.py``); everything else is one code path so
that the same test suite proves both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import BigInteger, and_, delete, func, literal_column, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from regions.store import schema as s
from regions.store import verify as _verify
from regions.store.base import StoredRow
from regions.store.direct import DirectReads, DirectWrites, Driver
from regions.verify_tree import Leaf
from regions.versions import Version

__all__ = ["ReadTx", "SqlStore", "WriteTx"]


class _Dialect:
    """Backend hooks; see sqlite_dialect.py and postgres_dialect.py."""

    name = "base"

    def make_engines(self, url: str) -> tuple[AsyncEngine, AsyncEngine]:
        raise NotImplementedError

    async def durability(self, conn: AsyncConnection) -> dict[str, str]:
        """The durability settings in force on ``conn``, as the database reports them."""
        raise NotImplementedError

    async def tune_tables(self, conn: AsyncConnection) -> None:
        """Storage settings of the store's tables, after they exist (idempotent: a
        database made by an older version gets them too)."""


#: the table number of the change log's end marker (see WriteTx.trim_changes); no
#: table has it, so no shard ever reads the marker
_MARKER_TID = -1


def _trim_key(tid: int, part: int) -> str:
    """gt_meta key of one shard's trim point (see WriteTx.trim_changes)."""
    return f"streams.trimmed.{tid}.{part}"


class ReadTx(DirectReads):
    """Reads on one connection: ``conn`` for SQLAlchemy statements, ``db`` for the
    direct ones (``DirectReads``), both the same database connection."""

    def __init__(self, conn: AsyncConnection, db: Driver) -> None:
        self.conn = conn
        self.db = db

    async def count_items(self, tid: int) -> tuple[int, int]:
        i = s.items.c
        res = await self.conn.execute(
            select(func.count(), func.coalesce(func.sum(i.size), 0)).where(
                i.tid == tid, i.data.is_not(None)
            )
        )
        row = res.one()
        return int(row[0]), int(row[1])

    async def count_index(self, tid: int, iid: int) -> tuple[int, int]:
        x = s.index_entries.c
        res = await self.conn.execute(
            select(func.count(), func.coalesce(func.sum(x.size), 0)).where(
                x.tid == tid, x.iid == iid
            )
        )
        row = res.one()
        return int(row[0]), int(row[1])

    async def tables(self) -> list[tuple[int, str]]:
        res = await self.conn.execute(
            select(s.tables.c.tid, s.tables.c.spec).order_by(s.tables.c.name)
        )
        return [(int(r.tid), str(r.spec)) for r in res]

    async def table(self, name: str) -> tuple[int, str] | None:
        res = await self.conn.execute(
            select(s.tables.c.tid, s.tables.c.spec).where(s.tables.c.name == name)
        )
        r = res.first()
        return (int(r.tid), str(r.spec)) if r is not None else None

    async def pending_count(self) -> int:
        c = s.changes.c
        res = await self.conn.execute(select(func.count()).where(c.pending.is_(True)))
        return int(res.scalar_one())

    async def pending_versions(self, tid: int) -> set[Version]:
        """The versions of a table's change records still waiting for the publisher."""
        c = s.changes.c
        res = await self.conn.execute(
            select(c.hlc, c.origin).where(c.tid == tid, c.pending.is_(True))
        )
        return {Version(int(r.hlc), str(r.origin)) for r in res}

    async def meta_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """Every (key, value) of the meta table whose key starts with ``prefix``."""
        m = s.meta.c
        res = await self.conn.execute(select(m.key, m.value).where(m.key.like(prefix + "%")))
        return [(str(k), str(v)) for k, v in res]

    async def shard_range(self, tid: int, part: int, from_ms: int) -> tuple[int | None, int | None]:
        """First and last change-log seq of one table partition since ``from_ms``."""
        c = s.changes.c
        res = await self.conn.execute(
            select(func.min(c.seq), func.max(c.seq)).where(
                c.tid == tid, c.part == part, c.created_ms >= from_ms
            )
        )
        row = res.one()
        return (
            int(row[0]) if row[0] is not None else None,
            int(row[1]) if row[1] is not None else None,
        )

    async def first_change_since(self, tid: int, part: int, from_ms: int) -> int | None:
        """The least change-log seq of one table partition among the records created at
        or after ``from_ms``: where a stream shard whose window starts then begins
        (regions/stream_reader.py).  The least seq, not the oldest time: shards are
        ranges of the log, in its order."""
        c = s.changes.c
        res = await self.conn.execute(
            select(func.min(c.seq)).where(c.tid == tid, c.part == part, c.created_ms >= from_ms)
        )
        v = res.scalar()
        return int(v) if v is not None else None

    async def last_change_below(self, tid: int, part: int, below: int | None) -> int | None:
        """The greatest change-log seq of one table partition below ``below`` (every
        one if None): one index seek."""
        c = s.changes.c
        conds: list[Any] = [c.tid == tid, c.part == part]
        if below is not None:
            conds.append(c.seq < below)
        v = (await self.conn.execute(select(func.max(c.seq)).where(*conds))).scalar()
        return int(v) if v is not None else None

    async def change_generations(
        self, tid: int, from_ms: int, length_ms: int
    ) -> list[tuple[int, int, int]]:
        """(partition, generation, least seq) of one table's change records created at
        or after ``from_ms``, generation ``(created_ms - from_ms) // length_ms``: every
        shard boundary of a stream in one scan (regions/stream_reader.py)."""
        c = s.changes.c
        # the numbers inlined (ints), so that SELECT and GROUP BY are the same text:
        # PostgreSQL does not match two expressions that differ in their parameters
        gen = (c.created_ms - literal_column(str(int(from_ms)), BigInteger)) // literal_column(
            str(int(length_ms)), BigInteger
        )
        res = await self.conn.execute(
            select(c.part, gen, func.min(c.seq))
            .where(c.tid == tid, c.created_ms >= from_ms)
            .group_by(c.part, gen)
        )
        return [(int(r[0]), int(r[1]), int(r[2])) for r in res]

    async def conflicts(self, limit: int, table: str | None = None) -> list[dict[str, Any]]:
        c = s.conflicts.c
        q = select(s.conflicts).order_by(c.id.desc()).limit(limit)
        if table is not None:
            q = q.where(c.table_name == table)
        res = await self.conn.execute(q)
        return [dict(r._mapping) for r in res]

    async def quarantined(
        self, *, limit: int, before_id: int | None = None, with_bytes: bool = False
    ) -> list[dict[str, Any]]:
        """Quarantined records, newest first; the message bytes only if asked."""
        q = s.quarantine.c
        cols = [c for c in q if with_bytes or c.name not in ("msg_key", "msg_value")]
        stmt = select(*cols).order_by(q.id.desc()).limit(limit)
        if before_id is not None:
            stmt = stmt.where(q.id < before_id)
        res = await self.conn.execute(stmt)
        return [dict(r._mapping) for r in res]

    async def quarantined_one(self, qid: int) -> dict[str, Any] | None:
        res = await self.conn.execute(select(s.quarantine).where(s.quarantine.c.id == qid))
        row = res.first()
        return dict(row._mapping) if row is not None else None

    async def quarantine_counts(self) -> list[tuple[str, str, int]]:
        """(source, reason, count) of what the quarantine holds."""
        q = s.quarantine.c
        res = await self.conn.execute(
            select(q.source, q.reason, func.count()).group_by(q.source, q.reason)
        )
        return [(str(r[0]), str(r[1]), int(r[2])) for r in res]

    async def max_seq(self) -> int:
        res = await self.conn.execute(select(func.max(s.changes.c.seq)))
        v = res.scalar()
        return int(v) if v is not None else 0

    async def max_hlc(self) -> int:
        res = await self.conn.execute(select(func.max(s.items.c.hlc)))
        v = res.scalar()
        return int(v) if v is not None else 0

    async def retired_tables(self, name: str | None = None) -> list[tuple[int, str]]:
        """(tid, spec) of deleted tables whose streams are kept (gt_retired_tables),
        oldest drop first; only those named ``name`` if given."""
        r = s.retired_tables.c
        q = select(r.tid, r.spec).order_by(r.dropped_ms, r.tid)
        if name is not None:
            q = q.where(r.name == name)
        res = await self.conn.execute(q)
        return [(int(row.tid), str(row.spec)) for row in res]

    async def trimmed_through(self, tid: int, part: int) -> int:
        """The greatest seq ever trimmed from one shard, 0 if none: every record of
        the shard up to it is gone, every later one is still there."""
        value = await self.get_meta(_trim_key(tid, part))
        return int(value) if value is not None else 0


    # the convergence verifier's leaves (regions/store/verify.py)

    async def verify_ready(self, tid: int) -> bool:
        return await _verify.is_ready(self.conn, tid)

    async def verify_leaves(self, tid: int) -> dict[int, Leaf]:
        return await _verify.read_leaves(self.conn, tid)

    async def verify_count_rows(self, tid: int) -> int:
        return await _verify.count_rows(self.conn, tid)

    async def verify_scan_buckets(
        self,
        tid: int,
        buckets: Collection[int],
        *,
        after: tuple[int, bytes, bytes] | None,
        max_rows: int,
    ) -> tuple[list[StoredRow], tuple[int, bytes, bytes] | None, int]:
        return await _verify.scan_buckets(self.conn, tid, buckets, after=after, max_rows=max_rows)


class WriteTx(ReadTx, DirectWrites):
    """One store transaction; commits when the ``write()`` block exits cleanly."""

    def __init__(self, conn: AsyncConnection, dialect: _Dialect, db: Driver) -> None:
        super().__init__(conn, db)
        self._dialect = dialect

    async def verify_rebuild_partition(self, tid: int, part: int) -> int:
        """Recompute one partition's verifier leaves from its rows (under its lock)."""
        return await _verify.rebuild_partition(self.conn, tid, part)

    async def verify_mark_ready(self, tid: int) -> None:
        await _verify.mark_ready(self.conn, tid)

    async def lock_partition(self, tid: int, part: int) -> None:
        """Serialise writers of one partition across processes (the unit of locking)."""
        await self.db.lock_partition(tid, part)

    async def drop_index(self, tid: int, iid: int) -> None:
        x = s.index_entries.c
        await self.conn.execute(delete(s.index_entries).where(x.tid == tid, x.iid == iid))

    async def insert_table(self, name: str, table_id: str, spec: str) -> int:
        values: dict[str, Any] = {"name": name, "table_id": table_id, "spec": spec}
        if self._dialect.name == "sqlite":
            # SQLite numbers an INTEGER PRIMARY KEY max(tid) + 1, so dropping the
            # newest table would hand its number out again while change records still
            # carry it (a retired stream's, or pending ones): the new table's shards
            # would show them.  PostgreSQL's sequence never repeats a number.
            values["tid"] = await self._unused_tid()
        res = await self.conn.execute(s.tables.insert().values(**values).returning(s.tables.c.tid))
        tid = int(res.scalar_one())
        await _verify.mark_ready(self.conn, tid)
        return tid

    async def update_table(self, tid: int, spec: str) -> None:
        await self.conn.execute(update(s.tables).where(s.tables.c.tid == tid).values(spec=spec))

    async def _unused_tid(self) -> int:
        top = 0
        for col in (s.tables.c.tid, s.retired_tables.c.tid, s.changes.c.tid):
            value = (await self.conn.execute(select(func.max(col)))).scalar()
            top = max(top, int(value) if value is not None else 0)
        return top + 1

    async def drop_table(self, tid: int, *, keep_changes: bool = False) -> None:
        """Drop a table's items, indexes and catalog row.  ``keep_changes`` keeps its
        change records too, for a stream that outlives the table (retire_table)."""
        await self.conn.execute(delete(s.items).where(s.items.c.tid == tid))
        await self.conn.execute(delete(s.index_entries).where(s.index_entries.c.tid == tid))
        if not keep_changes:
            # pending changes of a dropped table still ship (the peers decide by
            # table_id); published ones go with the table
            await self.conn.execute(
                delete(s.changes).where(s.changes.c.tid == tid, s.changes.c.pending.is_(False))
            )
            await self._forget_trims(tid)
        await self.conn.execute(delete(s.tables).where(s.tables.c.tid == tid))
        await _verify.clear(self.conn, tid)

    async def retire_table(self, tid: int, name: str, spec: str, dropped_ms: int) -> None:
        """Keep a dropped table's streams (spec, with its streams closed) until
        expire_retired; its change records stay under ``tid``."""
        await self.conn.execute(
            s.retired_tables.insert().values(tid=tid, name=name, spec=spec, dropped_ms=dropped_ms)
        )

    async def expire_retired(self, dropped_before_ms: int, *, include_pending: bool = False) -> int:
        """Forget the retired tables dropped before ``dropped_before_ms`` with what is
        left of their change records (pending ones excepted: they still ship)."""
        r = s.retired_tables.c
        res = await self.conn.execute(select(r.tid).where(r.dropped_ms < dropped_before_ms))
        tids = [int(row.tid) for row in res]
        c = s.changes.c
        for tid in tids:
            conds: list[Any] = [c.tid == tid]
            if not include_pending:
                conds.append(c.pending.is_(False))
            await self.conn.execute(delete(s.changes).where(*conds))
            await self._forget_trims(tid)
        if tids:
            await self.conn.execute(delete(s.retired_tables).where(r.tid.in_(tids)))
        return len(tids)

    async def _forget_trims(self, tid: int) -> None:
        # every shard's key of the table (digits and dots: nothing LIKE would expand)
        prefix = _trim_key(tid, 0).rsplit(".", 1)[0] + "."
        await self.conn.execute(delete(s.meta).where(s.meta.c.key.like(prefix + "%")))

    async def delete_meta(self, keys: list[str]) -> None:
        if keys:
            await self.conn.execute(delete(s.meta).where(s.meta.c.key.in_(keys)))

    async def log_conflict(self, values: dict[str, Any]) -> None:
        await self.conn.execute(s.conflicts.insert().values(**values))

    async def trim_conflicts(self, older_than_ms: int) -> int:
        res = await self.conn.execute(
            delete(s.conflicts).where(s.conflicts.c.at_ms < older_than_ms)
        )
        return int(res.rowcount or 0)

    async def quarantine_put(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(s.quarantine.insert(), rows)

    async def quarantine_drop(self, qid: int) -> bool:
        res = await self.conn.execute(delete(s.quarantine).where(s.quarantine.c.id == qid))
        return bool(res.rowcount)

    async def quarantine_update(self, qid: int, reason: str, detail: str) -> None:
        await self.conn.execute(
            update(s.quarantine)
            .where(s.quarantine.c.id == qid)
            .values(reason=reason, detail=detail)
        )

    async def trim_quarantine(self, older_than_ms: int, keep: int) -> int:
        """Drop entries older than ``older_than_ms``, and the oldest beyond ``keep``
        (a flood of bad records must not fill the disk)."""
        q = s.quarantine.c
        res = await self.conn.execute(delete(s.quarantine).where(q.at_ms < older_than_ms))
        dropped = int(res.rowcount or 0)
        cut = (
            await self.conn.execute(select(q.id).order_by(q.id.desc()).offset(keep).limit(1))
        ).scalar()
        if cut is not None:
            res = await self.conn.execute(delete(s.quarantine).where(q.id <= cut))
            dropped += int(res.rowcount or 0)
        return dropped

    async def gc_tombstones(self, older_than_ms: int) -> int:
        i = s.items.c
        res = await self.conn.execute(
            delete(s.items).where(and_(i.data.is_(None), i.tomb_ms < older_than_ms))
        )
        return int(res.rowcount or 0)

    async def trim_changes(self, older_than_ms: int, *, include_pending: bool = False) -> int:
        """Trim the change log (the Streams API's records) as a prefix of ``seq``:
        below the first record logged at or after ``older_than_ms`` and, unless
        ``include_pending``, below the first record the publisher has not shipped to
        Kafka yet, so the outbox never loses a record.

        A prefix, so that each shard loses only its oldest records and one number
        per shard says what is gone: its greatest trimmed seq, kept in gt_meta
        (trimmed_through), from which the Streams API tells a reader that asks for
        trimmed records (TrimmedDataAccessException) from one that is up to date.
        Returns the number of change records dropped."""
        c = s.changes.c
        res = await self.conn.execute(
            select(c.seq).where(c.created_ms >= older_than_ms).order_by(c.seq).limit(1)
        )
        young = res.scalar()
        bound = int(young) if young is not None else None
        if not include_pending:
            first_pending = (
                await self.conn.execute(select(func.min(c.seq)).where(c.pending.is_(True)))
            ).scalar()
            if first_pending is not None:
                bound = int(first_pending) if bound is None else min(bound, int(first_pending))
        if bound is None:
            # every record is old enough.  SQLite numbers the next record max(seq) + 1
            # of what is left, so emptying the log would hand out trimmed sequence
            # numbers again: an end marker (a row of no table) stays behind instead
            last = (
                await self.conn.execute(select(c.seq, c.tid).order_by(c.seq.desc()).limit(1))
            ).first()
            if last is None:
                return 0
            if last.tid == _MARKER_TID:
                bound = int(last.seq)
            else:
                bound = await self.append_change(
                    _MARKER_TID, 0, "", Version(0, ""), b"", older_than_ms, False
                )
        res = await self.conn.execute(
            select(c.tid, c.part, func.max(c.seq), func.count())
            .where(c.seq < bound, c.tid != _MARKER_TID)
            .group_by(c.tid, c.part)
        )
        trimmed = 0
        for tid, part, top, count in res.all():
            await self.set_meta(_trim_key(int(tid), int(part)), str(int(top)))
            trimmed += int(count)
        # tables with point-in-time recovery keep their records for its window: moved
        # to gt_pitr_log in this same transaction, out of the Streams API's sight
        # (regions/protection/pitr.py reads both and trims its own)
        await self.conn.execute(
            s.pitr_log.insert().from_select(
                ["seq", "tid", "created_ms", "record"],
                select(c.seq, c.tid, c.created_ms, c.record).where(
                    c.seq < bound, c.tid.in_(select(s.pitr.c.tid))
                ),
            )
        )
        await self.conn.execute(delete(s.changes).where(c.seq < bound))
        return trimmed


class SqlStore:
    """A region's store.  ``write()`` yields a transaction; ``read()`` a connection."""

    def __init__(self, url: str, dialect: _Dialect) -> None:
        self.url = url
        self.dialect = dialect
        self._writer: AsyncEngine | None = None
        self._reader: AsyncEngine | None = None

    @property
    def backend(self) -> str:
        return self.dialect.name

    def share_with_processes(self) -> None:
        """Other processes of the region write to this store too (--workers): a
        backend that serialises writers itself lets them take turns fairly."""

    def describe(self) -> str:
        """The URL without its password, for logs and /healthz."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def open(self) -> None:
        self._writer, self._reader = self.dialect.make_engines(self.url)
        async with self._writer.begin() as conn:
            await conn.run_sync(s.metadata.create_all)
            await self.dialect.tune_tables(conn)

    async def close(self) -> None:
        for eng in (self._writer, self._reader):
            if eng is not None:
                await eng.dispose()
        self._writer = self._reader = None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[WriteTx]:
        """One store transaction (``sqlite_store.py``, ``postgres_store.py``)."""
        raise NotImplementedError
        yield  # an async generator, like the backends' own

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[ReadTx]:
        """A read connection; with ``snapshot`` every statement sees the same
        committed state (TransactGetItems is serializable in DynamoDB)."""
        raise NotImplementedError
        yield

    async def durability(self) -> dict[str, str]:
        """Invariant 7's settings read back from a connection that commits writes
        (not from our configuration), so a test or an operator sees what is in force."""
        async with self.write() as tx:
            return {"backend": self.backend, **await self.dialect.durability(tx.conn)}

    async def ping(self) -> bool:
        try:
            async with self.read() as tx:
                await tx.conn.execute(select(1))
            return True
        except Exception:
            return False
