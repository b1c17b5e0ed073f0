"""Objects in an S3-compatible service: AWS S3, or one the user runs (SeaweedFS,
MinIO, versitygw, ...), through boto3.

- Every boto3 call runs in a worker thread (``asyncio.to_thread``); the client is
  built once, on first use, also off the event loop (loading botocore's service
  model takes a while), and shared (boto3 clients are thread-safe).
- A service of the user's own (an ``endpoint_url``) is addressed path-style
  (``http://host:port/bucket/key``): S3-compatible servers need it, and it works
  with a bucket name containing dots over TLS.  AWS S3 gets botocore's default.
- Checksums only where S3 requires them: botocore's newer default (a CRC trailer on
  every upload) is not understood by every S3-compatible server.
- botocore's errors become :class:`NoSuchBucket`, :class:`NoSuchObject` or
  :class:`ObjectStoreError`, with a message built from the service's error code and
  text, never from the request (no credential, no signature).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TypeVar

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
from regions.s3_settings import S3Settings

__all__ = ["S3Objects"]

T = TypeVar("T")

#: keys per ListObjectsV2 page (S3's maximum)
_PAGE = 1000
_NOT_FOUND_CODES = {"404", "NotFound", "NoSuchKey"}


def _lister(args: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    def call(c: Any) -> dict[str, Any]:
        page: dict[str, Any] = c.list_objects_v2(**args)
        return page

    return call


class S3Objects:
    """:class:`~regions.protection.objects.ObjectStore` on an S3-compatible service."""

    def __init__(
        self, settings: S3Settings, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0
    ) -> None:
        self.settings = settings
        self.description = settings.describe()
        self._timeouts = (connect_timeout_s, read_timeout_s)
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Objects({self.description!r})"

    # -- the client ----------------------------------------------------------

    def _make_client(self) -> Any:
        with self._lock:
            if self._client is not None:
                return self._client
            import boto3
            from botocore.config import Config

            st = self.settings
            options: dict[str, Any] = {
                "signature_version": "s3v4",
                "connect_timeout": self._timeouts[0],
                "read_timeout": self._timeouts[1],
                "retries": {"max_attempts": 3, "mode": "standard"},
                "max_pool_connections": 16,
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            }
            if st.endpoint_url is not None:
                options["s3"] = {"addressing_style": "path"}
            # a session of its own: nothing from (or into) boto3's default session
            session = boto3.session.Session()
            self._client = session.client(
                "s3",
                endpoint_url=st.endpoint_url,
                region_name=st.region,
                aws_access_key_id=st.access_key_id,
                aws_secret_access_key=st.secret_access_key,
                aws_session_token=st.session_token,
                config=Config(**options),
            )
            return self._client

    async def _call(
        self, what: str, fn: Callable[[Any], T], *, bucket: str, key: str | None = None
    ) -> T:
        def run() -> T:
            return fn(self._client or self._make_client())

        try:
            return await asyncio.to_thread(run)
        except ObjectStoreError:
            raise
        except Exception as e:
            raise self._error(what, e, bucket, key) from None

    def _error(self, what: str, e: Exception, bucket: str, key: str | None) -> ObjectStoreError:
        from botocore.exceptions import ClientError

        where = f"{bucket}/{key}" if key is not None else bucket
        if isinstance(e, ClientError):
            err = e.response.get("Error", {}) if isinstance(e.response, dict) else {}
            code = str(err.get("Code", "") or "")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return NoSuchBucket(f"no such bucket: {bucket}")
            if key is not None and code in _NOT_FOUND_CODES:
                return NoSuchObject(f"no such object: {where}")
            text = str(err.get("Message", "") or "")[:300]
            detail = f"{code or 'error'} (HTTP {status})" + (f": {text}" if text else "")
            return ObjectStoreError(self._scrub(f"S3 {what} {where} failed: {detail}"))
        return ObjectStoreError(
            self._scrub(f"S3 {what} {where} failed: {type(e).__name__}: {str(e)[:300]}")
        )

    def _scrub(self, message: str) -> str:
        """Belt and braces: a message never carries the secret or the token."""
        for secret in (self.settings.secret_access_key, self.settings.session_token):
            if secret:
                message = message.replace(secret, "***")
        return message

    # -- the interface -------------------------------------------------------

    async def put(self, bucket: str, key: str, data: bytes) -> None:
        check_bucket(bucket)
        check_key(key)
        body = bytes(data)
        await self._call(
            "put",
            lambda c: c.put_object(Bucket=bucket, Key=key, Body=body),
            bucket=bucket,
            key=key,
        )

    async def get(self, bucket: str, key: str) -> bytes:
        check_bucket(bucket)
        check_key(key)

        def fetch(c: Any) -> bytes:
            res = c.get_object(Bucket=bucket, Key=key)
            body = res["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data

        return await self._call("get", fetch, bucket=bucket, key=key)

    async def get_chunks(
        self, bucket: str, key: str, chunk_size: int = STREAM_CHUNK_BYTES
    ) -> AsyncGenerator[bytes, None]:
        check_bucket(bucket)
        check_key(key)
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        res: dict[str, Any] = await self._call(
            "get", lambda c: c.get_object(Bucket=bucket, Key=key), bucket=bucket, key=key
        )
        body = res["Body"]

        def read(_: Any) -> bytes:
            data: bytes = body.read(chunk_size)
            return data

        try:
            while chunk := await self._call("get", read, bucket=bucket, key=key):
                yield chunk
        finally:
            # closing drops the connection (the rest of the body unread): no waiting,
            # so no thread, which a cancelled reader may not get any more
            body.close()

    async def list(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        check_bucket(bucket)
        check_prefix(prefix)
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": _PAGE}
            if token is not None:
                args["ContinuationToken"] = token
            page: dict[str, Any] = await self._call("list", _lister(args), bucket=bucket)
            for obj in page.get("Contents", []):
                yield ObjectInfo(str(obj["Key"]), int(obj.get("Size", 0)))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def delete(self, bucket: str, key: str) -> None:
        check_bucket(bucket)
        check_key(key)
        try:
            await self._call(
                "delete",
                lambda c: c.delete_object(Bucket=bucket, Key=key),
                bucket=bucket,
                key=key,
            )
        except NoSuchObject:
            return  # S3 answers 204; a server that says 404 means the same

    async def ensure_bucket(self, bucket: str) -> None:
        check_bucket(bucket)
        if await self.bucket_exists(bucket):
            return
        args: dict[str, Any] = {"Bucket": bucket}
        if self.settings.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.region}
        try:
            await self._call("create bucket", lambda c: c.create_bucket(**args), bucket=bucket)
        except ObjectStoreError:
            # created meanwhile (another node of the region): fine if it is ours now
            if not await self.bucket_exists(bucket):
                raise

    async def bucket_exists(self, bucket: str) -> bool:
        check_bucket(bucket)
        from botocore.exceptions import ClientError

        def head(c: Any) -> bool:
            try:
                c.head_bucket(Bucket=bucket)
            except ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                if code in ("404", "NoSuchBucket", "NotFound"):
                    return False
                raise
            return True

        return await self._call("head bucket", head, bucket=bucket)
