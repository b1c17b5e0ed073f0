"""Where backups, PITR snapshots and exports are kept: an object store of buckets and keys.

The interface is S3's, reduced to what data protection needs, so that one code path
serves AWS S3, any S3-compatible server, and the embedded default (objects as files
next to the region's store).  Every method is a coroutine; implementations that call
blocking clients run them off the event loop.

Keys are S3 keys: ``/``-separated, no leading ``/``, no ``..`` segment.  Implementations
refuse anything else with :class:`BadObjectKey` (a key is often built from user input:
an export's ``S3Prefix``, an import's ``S3KeyPrefix``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "MAX_KEY_BYTES",
    "STREAM_CHUNK_BYTES",
    "BadObjectKey",
    "NoSuchBucket",
    "NoSuchObject",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "check_bucket",
    "check_key",
    "check_prefix",
]

#: S3's limit on a key's UTF-8 length
MAX_KEY_BYTES = 1024
#: S3's bucket naming rules (general purpose buckets): 3-63 characters of lowercase
#: letters, digits, '.' and '-', starting and ending with a letter or digit
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
#: the pieces :meth:`ObjectStore.get_chunks` gives by default: few enough calls to the
#: store, small enough that a reader holds a few of them without noticing
STREAM_CHUNK_BYTES = 8 * 1024 * 1024


class ObjectStoreError(Exception):
    """The object store failed or refused (the message says which and why; never a
    credential)."""


class NoSuchBucket(ObjectStoreError):
    pass


class NoSuchObject(ObjectStoreError):
    pass


class BadObjectKey(ObjectStoreError):
    pass


def check_bucket(bucket: str) -> str:
    """``bucket`` if it is a valid S3 bucket name, else :class:`BadObjectKey`."""
    if (
        not isinstance(bucket, str)
        or not _BUCKET_RE.match(bucket)
        or ".." in bucket
        or _IPV4_RE.match(bucket)
    ):
        raise BadObjectKey(
            f"invalid bucket name {bucket!r}: 3-63 characters of a-z, 0-9, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    return bucket


def check_key(key: str) -> str:
    """``key`` if it is a key every implementation can store, else
    :class:`BadObjectKey`: non-empty, at most 1024 bytes of UTF-8, ``/``-separated
    segments none of which is empty, ``.`` or ``..``, no NUL (so no leading or
    trailing ``/`` and no ``//``)."""
    if not isinstance(key, str) or not key:
        raise BadObjectKey("an object key cannot be empty")
    _check_text(key, "key")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise BadObjectKey(
                f"invalid object key {key!r}: no leading, trailing or doubled '/', "
                "and no '.' or '..' segment"
            )
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is a valid list prefix (empty, or a key's beginning: it may
    end with ``/`` or within a segment), else :class:`BadObjectKey`."""
    if not isinstance(prefix, str):
        raise BadObjectKey("a key prefix must be a string")
    if prefix:
        _check_text(prefix, "prefix")
        if prefix.startswith("/") or "//" in prefix:
            raise BadObjectKey(f"invalid key prefix {prefix!r}: no leading or doubled '/'")
        # every complete segment must be a valid one ('.' or '..' before a '/')
        for segment in prefix.split("/")[:-1]:
            if segment in (".", ".."):
                raise BadObjectKey(f"invalid key prefix {prefix!r}: '.' or '..' segment")
    return prefix


def _check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise BadObjectKey(f"an object {what} cannot contain NUL")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadObjectKey(f"an object {what} must be valid UTF-8 text") from None
    if size > MAX_KEY_BYTES:
        raise BadObjectKey(f"an object {what} is at most {MAX_KEY_BYTES} bytes of UTF-8")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int


class ObjectStore(Protocol):
    #: what the store is, for logs and /healthz (``s3 http://127.0.0.1:8333``, ``dir /x``)
    description: str

    async def put(self, bucket: str, key: str, data: bytes) -> None:
        """Store ``data`` whole under ``key`` (replacing any object there)."""
        ...

    async def get(self, bucket: str, key: str) -> bytes:
        """The object's bytes; :class:`NoSuchObject` / :class:`NoSuchBucket` if absent."""
        ...

    def get_chunks(
        self, bucket: str, key: str, chunk_size: int = STREAM_CHUNK_BYTES
    ) -> AsyncGenerator[bytes, None]:
        """The object's bytes in order, in non-empty pieces of at most ``chunk_size``
        bytes, read as they are asked for (an object of any size in bounded memory);
        raises as :meth:`get` does, when iterated.  Close the iterator (``aclose``) to
        stop early: that releases the file, rows or connection it reads."""
        ...

    def list(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order."""
        ...

    async def delete(self, bucket: str, key: str) -> None:
        """Remove the object; absent is not an error (S3's semantics)."""
        ...

    async def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket if it does not exist (the region's own bucket only)."""
        ...

    async def bucket_exists(self, bucket: str) -> bool: ...
