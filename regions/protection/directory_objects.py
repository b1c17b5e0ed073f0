"""Objects as files: the embedded default where a region has no S3 service.

``root/<bucket>/<key>``: a bucket is a subdirectory of ``root``, a key the file's
path below it (``/``-separated segments, checked by
:func:`regions.protection.objects.check_key`, so no key can leave its bucket).

- **Atomic puts.**  The bytes go to a temporary file in ``root/.partial/`` (not a
  bucket: bucket names start with a letter or digit, and not under any bucket, so a
  listing never sees it), are fsynced, then ``os.replace``'d over the key's file and
  the directory fsynced.  A reader sees the old object or the new one, never part of
  one; a crash leaves at most a stray temporary file, removed at the next put.
- **Keys are paths**, so unlike S3 a key cannot also be a "directory" of other keys:
  with ``a/b`` stored, a put of ``a`` fails with :class:`ObjectStoreError` (and the
  reverse).  Data protection never builds such keys.
- **Listing** is in S3's order, by the keys' UTF-8 bytes.
- Every filesystem call runs in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import builtins
import os
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import BinaryIO

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

__all__ = ["DirectoryObjects"]

#: temporary files of puts in progress (not a valid bucket name)
_PARTIAL = ".partial"
#: keys listed per worker-thread call
_LIST_BATCH = 1000
#: a temporary file older than this is a crashed put's, removed by the next put
_STALE_PARTIAL_S = 3600.0


class DirectoryObjects:
    """:class:`~regions.protection.objects.ObjectStore` on a local directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.description = f"dir {self.root}"

    def __repr__(self) -> str:
        return f"DirectoryObjects({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        return self.root / check_bucket(bucket)

    def _existing_bucket(self, bucket: str) -> Path:
        d = self._bucket_dir(bucket)
        if not d.is_dir():
            raise NoSuchBucket(f"no such bucket: {bucket}")
        return d

    # -- the interface -------------------------------------------------------

    async def put(self, bucket: str, key: str, data: bytes) -> None:
        check_key(key)
        await asyncio.to_thread(self._put, bucket, key, bytes(data))

    async def get(self, bucket: str, key: str) -> bytes:
        check_key(key)
        return await asyncio.to_thread(self._get, bucket, key)

    async def get_chunks(
        self, bucket: str, key: str, chunk_size: int = STREAM_CHUNK_BYTES
    ) -> AsyncGenerator[bytes, None]:
        check_key(key)
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        f = await asyncio.to_thread(self._open, bucket, key)
        try:
            while chunk := await asyncio.to_thread(self._read, f, bucket, key, chunk_size):
                yield chunk
        finally:
            # closing a file opened for reading does not block: no thread needed (and
            # none may be available when the reader is being cancelled)
            f.close()

    async def list(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        check_prefix(prefix)
        d = await asyncio.to_thread(self._existing_bucket, bucket)
        # the keys (sorted) in one thread call, their sizes in batches: a listing of
        # many keys neither blocks the loop nor holds every stat result at once
        keys = await asyncio.to_thread(self._keys, d, prefix)
        for start in range(0, len(keys), _LIST_BATCH):
            batch = await asyncio.to_thread(self._sizes, d, keys[start : start + _LIST_BATCH])
            for info in batch:
                yield info

    async def delete(self, bucket: str, key: str) -> None:
        check_key(key)
        await asyncio.to_thread(self._delete, bucket, key)

    async def ensure_bucket(self, bucket: str) -> None:
        d = self._bucket_dir(bucket)
        await asyncio.to_thread(self._mkdir, d)

    async def bucket_exists(self, bucket: str) -> bool:
        d = self._bucket_dir(bucket)
        return await asyncio.to_thread(d.is_dir)

    # -- blocking parts (worker threads) ------------------------------------

    def _mkdir(self, d: Path) -> None:
        try:
            d.mkdir(parents=True, exist_ok=True)
            _fsync_dir(d.parent)
        except OSError as e:
            raise ObjectStoreError(f"cannot create bucket directory {d}: {e.strerror}") from e

    def _put(self, bucket: str, key: str, data: bytes) -> None:
        d = self._existing_bucket(bucket)
        target = d.joinpath(*key.split("/"))
        partial = self.root / _PARTIAL
        try:
            partial.mkdir(exist_ok=True)
            self._sweep_partial(partial)
            tmp = partial / f"{secrets.token_hex(8)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                # a concurrent delete may remove the (empty) parent directories
                # between mkdir and replace: try again a few times
                for attempt in range(5):
                    if target.is_dir():
                        raise ObjectStoreError(
                            f"cannot store {key!r} in {bucket}: other keys are stored under "
                            f"'{key}/' (a directory store cannot hold both)"
                        )
                    try:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(tmp, target)
                        break
                    except (FileNotFoundError, NotADirectoryError, FileExistsError) as e:
                        if isinstance(e, NotADirectoryError | FileExistsError) or attempt == 4:
                            raise ObjectStoreError(
                                f"cannot store {key!r} in {bucket}: a key on its path is an "
                                "object (a directory store cannot hold both)"
                            ) from e
                _fsync_dir(target.parent)
            finally:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        except ObjectStoreError:
            raise
        except OSError as e:
            raise ObjectStoreError(f"cannot store {key!r} in {bucket}: {e.strerror}") from e

    def _sweep_partial(self, partial: Path) -> None:
        """Remove temporary files that crashed puts left behind (old ones only: the
        others may be puts in progress)."""
        cutoff = time.time() - _STALE_PARTIAL_S
        try:
            with os.scandir(partial) as it:
                for entry in it:
                    try:
                        if entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)
                    except OSError:
                        pass
        except OSError:
            pass

    def _get(self, bucket: str, key: str) -> bytes:
        d = self._existing_bucket(bucket)
        path = d.joinpath(*key.split("/"))
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NoSuchObject(f"no such object: {bucket}/{key}") from None
        except OSError as e:
            raise ObjectStoreError(f"cannot read {key!r} in {bucket}: {e.strerror}") from e

    def _open(self, bucket: str, key: str) -> BinaryIO:
        d = self._existing_bucket(bucket)
        path = d.joinpath(*key.split("/"))
        try:
            return path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NoSuchObject(f"no such object: {bucket}/{key}") from None
        except OSError as e:
            raise ObjectStoreError(f"cannot read {key!r} in {bucket}: {e.strerror}") from e

    @staticmethod
    def _read(f: BinaryIO, bucket: str, key: str, size: int) -> bytes:
        try:
            return f.read(size)
        except OSError as e:
            raise ObjectStoreError(f"cannot read {key!r} in {bucket}: {e.strerror}") from e

    def _delete(self, bucket: str, key: str) -> None:
        d = self._existing_bucket(bucket)
        path = d.joinpath(*key.split("/"))
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as e:
            raise ObjectStoreError(f"cannot delete {key!r} in {bucket}: {e.strerror}") from e
        # S3 has no directories: remove the ones this delete left empty
        parent = path.parent
        while parent != d:
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (or gone): its ancestors are not empty either
            parent = parent.parent
        _fsync_dir(parent)

    def _keys(self, d: Path, prefix: str) -> builtins.list[str]:
        """Every key under ``d`` starting with ``prefix``, in UTF-8 byte order."""
        # walk only the directory the prefix's complete segments name
        head, _, _ = prefix.rpartition("/")
        start = d.joinpath(*head.split("/")) if head else d
        if not start.is_dir():
            return []
        keys: builtins.list[str] = []
        base = len(str(d)) + 1
        for dirpath, _dirnames, filenames in os.walk(start):
            rel = dirpath[base:].replace(os.sep, "/")
            for name in filenames:
                key = f"{rel}/{name}" if rel else name
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort(key=lambda k: k.encode("utf-8", "surrogateescape"))
        return keys

    def _sizes(self, d: Path, keys: builtins.list[str]) -> builtins.list[ObjectInfo]:
        out: builtins.list[ObjectInfo] = []
        for key in keys:
            try:
                size = d.joinpath(*key.split("/")).stat().st_size
            except OSError:
                continue  # deleted meanwhile
            out.append(ObjectInfo(key, size))
        return out


def _fsync_dir(d: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
