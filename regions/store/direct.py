"""The store's hot statements as plain SQL, shared by both backends' direct paths.

Why: building, compiling and executing a SQLAlchemy Core statement costs about
100 µs of Python, several times what the database driver itself spends, and every
request runs a few of them (a PutItem: read, leaf, row, change record).  The
statements every request runs are written here once, as SQL both SQLite (3.35+)
and PostgreSQL accept, with ``$n`` placeholders; a :class:`Driver` runs them on
the connection of the surrounding transaction (``sqlite_store.py``: sqlite3,
``postgres_store.py``: asyncpg under SQLAlchemy).  Everything rarer still goes
through SQLAlchemy in ``sql.py`` on that same connection, inside the same
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from regions.store import verify as _verify
from regions.store.base import UNREAD, IndexRow, KeyRange, StoredChange, StoredRow, Unread
from regions.versions import Version

__all__ = ["DirectReads", "DirectWrites", "Driver", "RowKey"]

#: an item's place: (tid, part, hk, rk)
RowKey = tuple[int, int, bytes, bytes]


class Driver(Protocol):
    """One connection of a backend, for the statements below."""

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]: ...

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None: ...

    async def execute(self, sql: str, args: Sequence[Any]) -> None:
        """A write that returns nothing.  A backend may hold it and send it with a
        later statement of the same transaction (``postgres_store.py``), never after
        a read or the commit, and errors may then surface there."""
        ...

    async def write_returning(self, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
        """A write whose row comes back (``RETURNING``)."""
        ...

    async def get_rows(self, keys: Sequence[RowKey]) -> list[Sequence[Any] | None]:
        """GET_ROW for each ``(tid, part, hk, rk)``, in order (one statement on
        PostgreSQL)."""
        ...

    async def get_rows_meta(
        self, keys: Sequence[RowKey], meta_key: str
    ) -> tuple[list[Sequence[Any] | None], str | None]:
        """``get_rows`` and the value of one meta row, read together (one statement on
        PostgreSQL, where the meta row is the catalog epoch every write checks)."""
        ...

    def any_of(self, column: str, values: Sequence[Any], args: list[Any]) -> str:
        """A condition ``column`` is one of ``values``, its parameters added to ``args``."""
        ...

    async def lock_partition(self, tid: int, part: int) -> None:
        """Serialise the writers of one partition until the transaction ends."""
        ...


_ITEM_COLS = "part, hk, rk, hlc, origin, data, size"
_INDEX_COLS = "part, hk, rk, tk, data, size"
GET_ROW = f"SELECT {_ITEM_COLS} FROM gt_items WHERE tid=$1 AND part=$2 AND hk=$3 AND rk=$4"
UPSERT_ROW = (
    "INSERT INTO gt_items (tid, part, hk, rk, hlc, origin, data, size, tomb_ms) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (tid, part, hk, rk) DO UPDATE SET "
    "hlc=excluded.hlc, origin=excluded.origin, data=excluded.data, size=excluded.size, "
    "tomb_ms=excluded.tomb_ms"
)
# the additive leaf upsert of regions/store/verify.py (table-qualified: PostgreSQL
# finds a bare column name ambiguous next to ``excluded``)
UPSERT_LEAF = (
    "INSERT INTO gt_verify (tid, part, bucket, live, s0, s1, s2, s3) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (tid, part, bucket) DO UPDATE SET "
    "live=gt_verify.live+excluded.live, s0=gt_verify.s0+excluded.s0, "
    "s1=gt_verify.s1+excluded.s1, s2=gt_verify.s2+excluded.s2, s3=gt_verify.s3+excluded.s3"
)
UPSERT_INDEX = (
    "INSERT INTO gt_index (tid, iid, part, hk, rk, tk, data, size) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (tid, iid, part, hk, rk, tk) "
    "DO UPDATE SET data=excluded.data, size=excluded.size"
)
DELETE_INDEX = (
    "DELETE FROM gt_index WHERE tid=$1 AND iid=$2 AND part=$3 AND hk=$4 AND rk=$5 AND tk=$6"
)
#: a change record whose seq the writer does not need: a write like the row's, which
#: the PostgreSQL groups can hold and send with the COMMIT (postgres_groups.py)
LOG_CHANGE = (
    "INSERT INTO gt_changes (tid, part, event, hlc, origin, record, created_ms, pending) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
)
APPEND_CHANGE = f"{LOG_CHANGE} RETURNING seq"
GET_META = "SELECT value FROM gt_meta WHERE key=$1"
UPSERT_META = (
    "INSERT INTO gt_meta (key, value) VALUES ($1, $2) "
    "ON CONFLICT (key) DO UPDATE SET value=excluded.value"
)
BUMP_META = (
    "INSERT INTO gt_meta (key, value) VALUES ($1, '1') "
    "ON CONFLICT (key) DO UPDATE SET value=CAST(CAST(gt_meta.value AS INTEGER) + 1 AS TEXT) "
    "RETURNING value"
)
_CHANGE_COLS = "seq, tid, part, record, created_ms"


def _stored(r: Sequence[Any]) -> StoredRow:
    return StoredRow(r[0], r[1], r[2], Version(r[3], r[4]), r[5], r[6])


def _index_row(r: Sequence[Any]) -> IndexRow:
    return IndexRow(r[0], r[1], r[2], r[3], r[4], r[5])


def _change(r: Sequence[Any]) -> StoredChange:
    return StoredChange(r[0], r[1], r[2], r[3], r[4])


def _param(args: list[Any], value: Any) -> str:
    args.append(value)
    return f"${len(args)}"


def _range(sql: list[str], args: list[Any], rng: KeyRange) -> None:
    if rng.low is not None:
        sql.append(f"AND rk {'>=' if rng.low_inclusive else '>'} {_param(args, rng.low)}")
    if rng.high is not None:
        sql.append(f"AND rk {'<=' if rng.high_inclusive else '<'} {_param(args, rng.high)}")


def _after(sql: list[str], args: list[Any], cols: str, op: str, after: Sequence[Any]) -> None:
    """Row-value comparison: (a, b, ...) > ($i, $j, ...)."""
    marks = ", ".join(_param(args, v) for v in after)
    sql.append(f"AND ({cols}) {op} ({marks})")


class DirectReads:
    """The reads every request makes (``sql.ReadTx``'s methods of the same names)."""

    db: Driver

    async def get_row(self, tid: int, part: int, hk: bytes, rk: bytes) -> StoredRow | None:
        r = await self.db.fetchrow(GET_ROW, (tid, part, hk, rk))
        return _stored(r) if r is not None else None

    async def get_rows(self, keys: Sequence[RowKey]) -> list[StoredRow | None]:
        """``get_row`` of several items at once (a batch's or a transaction's)."""
        if len(keys) == 1:
            return [await self.get_row(*keys[0])]
        return [_stored(r) if r is not None else None for r in await self.db.get_rows(keys)]

    async def get_rows_and_meta(
        self, keys: Sequence[RowKey], meta_key: str
    ) -> tuple[list[StoredRow | None], str | None]:
        """``get_rows`` and ``get_meta(meta_key)`` in one statement where the backend
        can: a write that checks the catalog epoch pays no round trip for it."""
        rows, value = await self.db.get_rows_meta(keys, meta_key)
        return [_stored(r) if r is not None else None for r in rows], value

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
        _range(sql, args, rng)
        if after_rk is not None:
            sql.append(f"AND rk {'>' if forward else '<'} {_param(args, after_rk)}")
        order = "ASC" if forward else "DESC"
        sql.append(f"AND data IS NOT NULL ORDER BY rk {order} LIMIT {_param(args, limit)}")
        return [_stored(r) for r in await self.db.fetch(" ".join(sql), args)]

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
            sql.append("AND " + self.db.any_of("part", parts, args))
        if after is not None:
            _after(sql, args, "part, hk, rk", ">", after)
        sql.append(f"ORDER BY part, hk, rk LIMIT {_param(args, limit)}")
        return [_stored(r) for r in await self.db.fetch(" ".join(sql), args)]

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
        _range(sql, args, rng)
        if after is not None:
            _after(sql, args, "rk, tk", ">" if forward else "<", after)
        order = "rk ASC, tk ASC" if forward else "rk DESC, tk DESC"
        sql.append(f"ORDER BY {order} LIMIT {_param(args, limit)}")
        return [_index_row(r) for r in await self.db.fetch(" ".join(sql), args)]

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
            sql.append("AND " + self.db.any_of("part", parts, args))
        if after is not None:
            _after(sql, args, "part, hk, rk, tk", ">", after)
        sql.append(f"ORDER BY part, hk, rk, tk LIMIT {_param(args, limit)}")
        return [_index_row(r) for r in await self.db.fetch(" ".join(sql), args)]

    async def get_meta(self, key: str) -> str | None:
        r = await self.db.fetchrow(GET_META, (key,))
        return str(r[0]) if r is not None else None

    async def pending_changes(
        self, limit: int, share: tuple[int, int] = (1, 0)
    ) -> list[StoredChange]:
        """The oldest records waiting for the publisher; with ``share`` (nodes, slot),
        only those of the partitions ``part mod nodes == slot``: one node's share of
        the outbox when a region's nodes publish side by side (replicator/runner.py)."""
        nodes, slot = share
        if nodes <= 1:
            rows = await self.db.fetch(
                f"SELECT {_CHANGE_COLS} FROM gt_changes WHERE pending = TRUE "
                "ORDER BY seq LIMIT $1",
                (limit,),
            )
        else:
            # ((part % n) + n) % n: a slot for every part, whatever the sign of part
            rows = await self.db.fetch(
                f"SELECT {_CHANGE_COLS} FROM gt_changes WHERE pending = TRUE "
                "AND ((part % $2) + $2) % $2 = $3 ORDER BY seq LIMIT $1",
                (limit, nodes, slot),
            )
        return [_change(r) for r in rows]

    async def changes_after(
        self, tid: int, part: int, after_seq: int, limit: int
    ) -> list[StoredChange]:
        rows = await self.db.fetch(
            f"SELECT {_CHANGE_COLS} FROM gt_changes "
            "WHERE tid=$1 AND part=$2 AND seq>$3 ORDER BY seq LIMIT $4",
            (tid, part, after_seq, limit),
        )
        return [_change(r) for r in rows]


class DirectWrites(DirectReads):
    """The writes every write request makes (``sql.WriteTx``'s methods)."""

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
            prev = await self.get_row(tid, part, hk, rk)
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
            await self.db.execute(
                UPSERT_LEAF,
                [leaf[c] for c in ("tid", "part", "bucket", "live", "s0", "s1", "s2", "s3")],
            )
        tomb_ms = now_ms if data is None else None
        await self.db.execute(
            UPSERT_ROW, (tid, part, hk, rk, version.hlc, version.origin, data, size, tomb_ms)
        )

    async def put_index_entry(self, tid: int, iid: int, e: IndexRow) -> None:
        await self.db.execute(UPSERT_INDEX, (tid, iid, e.part, e.hk, e.rk, e.tk, e.data, e.size))

    async def delete_index_entry(
        self, tid: int, iid: int, part: int, hk: bytes, rk: bytes, tk: bytes
    ) -> None:
        await self.db.execute(DELETE_INDEX, (tid, iid, part, hk, rk, tk))

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
        # with the row and leaf upserts held before it, one statement (postgres_store.py)
        r = await self.db.write_returning(
            APPEND_CHANGE,
            (tid, part, event, version.hlc, version.origin, record, now_ms, pending),
        )
        assert r is not None
        return int(r[0])

    async def log_change(
        self,
        tid: int,
        part: int,
        event: str,
        version: Version,
        record: bytes,
        now_ms: int,
        pending: bool,
    ) -> None:
        """``append_change`` without its seq: held like the row's writes, so it costs no
        round trip of its own (postgres_groups.py)."""
        await self.db.execute(
            LOG_CHANGE, (tid, part, event, version.hlc, version.origin, record, now_ms, pending)
        )

    async def mark_published(self, seqs: Sequence[int]) -> None:
        # bounded chunks: SQLite caps the number of bound parameters per statement
        for i in range(0, len(seqs), 500):
            args: list[Any] = []
            cond = self.db.any_of("seq", list(seqs[i : i + 500]), args)
            await self.db.execute(f"UPDATE gt_changes SET pending = FALSE WHERE {cond}", args)

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.execute(UPSERT_META, (key, value))

    async def bump_meta(self, key: str) -> int:
        """Add one to an integer meta value (0 if absent) and return it.  One statement:
        its row lock makes concurrent bumps from several processes or nodes take turns,
        where a read and a write would both read N and write N + 1."""
        # a write: sent in order with the transaction's other writes (postgres_groups.py)
        r = await self.db.write_returning(BUMP_META, (key,))
        assert r is not None
        return int(r[0])
