"""Objects in the region's own database: the default of a PostgreSQL store with no S3.

A region of several nodes over one PostgreSQL (regions/nodes.py) has no directory
they all see, but it has the database: a backup taken by one node must restore on
another.  So objects are rows of ``gt_objects`` (regions/store/schema.py): chunks of
at most 1 MiB, written in one store transaction, so a reader sees a whole object or
none of it.  Works on the SQLite store as well (the tests prove both backends).

A put upserts its chunks in order, then deletes the chunks past its end: two puts of
one key take turns on chunk 0's row lock, so the later one's object is what remains,
whole.  Keys are stored as their UTF-8 bytes, so both databases list them in S3's
order (bytewise), whatever the database's collation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from sqlalchemy import and_, delete, func, select

from regions.protection.objects import (
    STREAM_CHUNK_BYTES,
    NoSuchBucket,
    NoSuchObject,
    ObjectInfo,
    ObjectStoreError,
    check_bucket,
    check_key,
    check_prefix,
)
from regions.store import SqlStore
from regions.store import schema as s

__all__ = ["CHUNK_BYTES", "DatabaseObjects"]

#: the largest chunk row
CHUNK_BYTES = 1 << 20
#: keys listed per statement
_LIST_PAGE = 1000
#: the bucket marker's key (no object key is empty)
_MARKER = b""


def _insert(backend: str) -> Any:
    if backend == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(s.objects)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(s.objects)


def _why(e: BaseException) -> str:
    """The database's own words, short: never SQLAlchemy's rendering of the
    statement's parameters (a chunk is a megabyte)."""
    orig = getattr(e, "orig", None) or e
    text = f"{type(orig).__name__}: {orig}".splitlines()[0] if str(orig) else type(orig).__name__
    return text[:300]


def _prefix_end(prefix: bytes) -> bytes | None:
    """The least byte string above every string that starts with ``prefix`` (None:
    no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class DatabaseObjects:
    """:class:`~regions.protection.objects.ObjectStore` in the ``gt_objects`` table
    of an open :class:`~regions.store.SqlStore`."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        # describe() leaves the password out
        self.description = f"database {store.describe()}"

    def __repr__(self) -> str:
        return f"DatabaseObjects({self.description!r})"

    async def _has_bucket(self, conn: Any, bucket: str) -> bool:
        o = s.objects.c
        res = await conn.execute(
            select(o.chunk).where(o.bucket == bucket, o.key == _MARKER, o.chunk == 0)
        )
        return res.first() is not None

    async def put(self, bucket: str, key: str, data: bytes) -> None:
        check_bucket(bucket)
        k = check_key(key).encode("utf-8")
        data = bytes(data)
        chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
        o = s.objects.c
        try:
            async with self.store.write() as tx:
                if not await self._has_bucket(tx.conn, bucket):
                    raise NoSuchBucket(f"no such bucket: {bucket}")
                ins = _insert(self.store.backend)
                upsert = ins.on_conflict_do_update(
                    index_elements=[o.bucket, o.key, o.chunk], set_={"data": ins.excluded.data}
                )
                # one statement per chunk: each a bounded parameter, chunk 0 first (the
                # row lock that orders two puts of one key)
                for n, chunk in enumerate(chunks):
                    await tx.conn.execute(
                        upsert, {"bucket": bucket, "key": k, "chunk": n, "data": chunk}
                    )
                await tx.conn.execute(
                    delete(s.objects).where(o.bucket == bucket, o.key == k, o.chunk >= len(chunks))
                )
        except ObjectStoreError:
            raise
        except Exception as e:
            raise ObjectStoreError(f"cannot store {key!r} in {bucket}: {_why(e)}") from e

    async def get(self, bucket: str, key: str) -> bytes:
        check_bucket(bucket)
        k = check_key(key).encode("utf-8")
        o = s.objects.c
        try:
            async with self.store.read(snapshot=True) as tx:
                res = await tx.conn.execute(
                    select(o.chunk, o.data).where(o.bucket == bucket, o.key == k).order_by(o.chunk)
                )
                rows = list(res)
                if not rows and not await self._has_bucket(tx.conn, bucket):
                    raise NoSuchBucket(f"no such bucket: {bucket}")
        except ObjectStoreError:
            raise
        except Exception as e:
            raise ObjectStoreError(f"cannot read {key!r} in {bucket}: {_why(e)}") from e
        if not rows:
            raise NoSuchObject(f"no such object: {bucket}/{key}")
        if [int(r[0]) for r in rows] != list(range(len(rows))):
            raise ObjectStoreError(f"object {bucket}/{key} is damaged: chunks missing")
        return b"".join(bytes(r[1]) for r in rows)

    async def get_chunks(
        self, bucket: str, key: str, chunk_size: int = STREAM_CHUNK_BYTES
    ) -> AsyncGenerator[bytes, None]:
        """A few chunk rows per statement, each in a short read transaction of its
        own: one transaction held for the whole read would keep a connection (and, on
        SQLite, the WAL from being checkpointed) as long as the slowest reader takes.

        So unlike :meth:`get` the rows are not read in one snapshot: an object
        replaced or deleted while it is being read gives :class:`ObjectStoreError`
        when the number of its chunks changed, and the new bytes from there on when
        it did not (as ranged GETs of S3 would)."""
        check_bucket(bucket)
        k = check_key(key).encode("utf-8")
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        total = await self._chunk_count(bucket, key, k)
        per_page = max(1, chunk_size // CHUNK_BYTES)
        n = 0
        while n < total:
            count = min(per_page, total - n)
            rows = await self._chunk_rows(bucket, key, k, n, count, last=n + count == total)
            n += len(rows)
            for row in rows:
                for start in range(0, len(row), chunk_size):
                    yield row[start : start + chunk_size]

    async def _chunk_count(self, bucket: str, key: str, k: bytes) -> int:
        """How many chunk rows the object has; NoSuchObject / NoSuchBucket if none."""
        o = s.objects.c
        try:
            async with self.store.read() as tx:
                res = await tx.conn.execute(
                    select(func.count(), func.max(o.chunk)).where(o.bucket == bucket, o.key == k)
                )
                count, last = res.one()
                if not count and not await self._has_bucket(tx.conn, bucket):
                    raise NoSuchBucket(f"no such bucket: {bucket}")
        except ObjectStoreError:
            raise
        except Exception as e:
            raise ObjectStoreError(f"cannot read {key!r} in {bucket}: {_why(e)}") from e
        if not count:
            raise NoSuchObject(f"no such object: {bucket}/{key}")
        if int(last) != int(count) - 1:
            raise ObjectStoreError(f"object {bucket}/{key} is damaged: chunks missing")
        return int(count)

    async def _chunk_rows(
        self, bucket: str, key: str, k: bytes, first: int, n: int, *, last: bool
    ) -> list[bytes]:
        """Chunks ``first`` to ``first + n - 1``, all of them or ObjectStoreError (also
        when ``last`` and the object has grown past them meanwhile)."""
        o = s.objects.c
        try:
            async with self.store.read() as tx:
                res = await tx.conn.execute(
                    select(o.chunk, o.data)
                    .where(o.bucket == bucket, o.key == k, o.chunk >= first)
                    .order_by(o.chunk)
                    # the last page asks for one row more: there must be none
                    .limit(n + 1 if last else n)
                )
                rows = [(int(r[0]), bytes(r[1])) for r in res]
        except Exception as e:
            raise ObjectStoreError(f"cannot read {key!r} in {bucket}: {_why(e)}") from e
        if [c for c, _ in rows] != list(range(first, first + n)):
            raise ObjectStoreError(f"object {bucket}/{key} changed or was deleted while read")
        return [data for _, data in rows]

    async def list(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        check_bucket(bucket)
        p = check_prefix(prefix).encode("utf-8")
        end = _prefix_end(p)
        o = s.objects.c
        after = _MARKER
        first = True
        while True:
            conds: list[Any] = [o.bucket == bucket, o.key > after]
            if p:
                conds.append(o.key >= p)
            if end is not None:
                conds.append(o.key < end)
            try:
                async with self.store.read() as tx:
                    if first and not await self._has_bucket(tx.conn, bucket):
                        raise NoSuchBucket(f"no such bucket: {bucket}")
                    res = await tx.conn.execute(
                        select(o.key, func.sum(func.length(o.data)))
                        .where(and_(*conds))
                        .group_by(o.key)
                        .order_by(o.key)
                        .limit(_LIST_PAGE)
                    )
                    page = [(bytes(r[0]), int(r[1] or 0)) for r in res]
            except ObjectStoreError:
                raise
            except Exception as e:
                raise ObjectStoreError(f"cannot list {bucket}: {_why(e)}") from e
            first = False
            for kb, size in page:
                yield ObjectInfo(kb.decode("utf-8"), size)
            if len(page) < _LIST_PAGE:
                return
            after = page[-1][0]

    async def delete(self, bucket: str, key: str) -> None:
        check_bucket(bucket)
        k = check_key(key).encode("utf-8")
        o = s.objects.c
        try:
            async with self.store.write() as tx:
                if not await self._has_bucket(tx.conn, bucket):
                    raise NoSuchBucket(f"no such bucket: {bucket}")
                await tx.conn.execute(delete(s.objects).where(o.bucket == bucket, o.key == k))
        except ObjectStoreError:
            raise
        except Exception as e:
            raise ObjectStoreError(f"cannot delete {key!r} in {bucket}: {_why(e)}") from e

    async def ensure_bucket(self, bucket: str) -> None:
        check_bucket(bucket)
        o = s.objects.c
        try:
            async with self.store.write() as tx:
                await tx.conn.execute(
                    _insert(self.store.backend)
                    .values(bucket=bucket, key=_MARKER, chunk=0, data=b"")
                    .on_conflict_do_nothing(index_elements=[o.bucket, o.key, o.chunk])
                )
        except Exception as e:
            raise ObjectStoreError(f"cannot create bucket {bucket}: {_why(e)}") from e

    async def bucket_exists(self, bucket: str) -> bool:
        check_bucket(bucket)
        try:
            async with self.store.read() as tx:
                return await self._has_bucket(tx.conn, bucket)
        except Exception as e:
            raise ObjectStoreError(f"cannot read bucket {bucket}: {_why(e)}") from e
