"""Where an export's objects go and what its manifests say (DynamoDB Developer Guide,
"DynamoDB table export output format").

Layout, under the request's ``S3Prefix`` (none: at the bucket's root)::

    <prefix>/AWSDynamoDB/<ExportId>/_started                 empty, written first
    <prefix>/AWSDynamoDB/<ExportId>/manifest-summary.json
    <prefix>/AWSDynamoDB/<ExportId>/manifest-summary.md5
    <prefix>/AWSDynamoDB/<ExportId>/manifest-files.json
    <prefix>/AWSDynamoDB/<ExportId>/manifest-files.md5
    <prefix>/AWSDynamoDB/<ExportId>/data/<name>.json.gz      full export (.ion.gz: ION)
    <prefix>/AWSDynamoDB/data/<name>.json.gz                 incremental export: a data
                                                             folder shared by exports

The guide names the checksum objects ``manifest-*.checksum``; exports DynamoDB actually
writes have ``manifest-*.md5`` (24 bytes: the base64 MD5 of the JSON), which is what
tools that verify exports open, so that is what is written here.

``manifest-summary.json`` has the documented members in the documented order; a full
export is version ``2020-06-30`` with ``exportTime``, an incremental one version
``2023-08-01`` with ``exportFromTime``, ``exportToTime`` and ``outputView``; both end
with ``exportType``.  ``manifest-files.json`` is JSON lines, one per data file:
``itemCount``, ``md5Checksum`` (base64 MD5 of the object, as S3's Content-MD5),
``etag`` (the object's S3 ETag, unquoted) and ``dataFileS3Key``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

__all__ = [
    "DATA_FILE_SUFFIX",
    "SUMMARY_VERSION_FULL",
    "SUMMARY_VERSION_INCREMENTAL",
    "ExportFormat",
    "ExportLayout",
    "ManifestFileEntry",
    "export_arn",
    "export_time",
    "manifest_files_document",
    "manifest_files_line",
    "manifest_summary",
    "md5_base64",
    "multipart_etag",
    "new_data_file_name",
    "new_export_id",
    "s3_etag",
]

ExportFormat = Literal["DYNAMODB_JSON", "ION"]
DATA_FILE_SUFFIX: Final[dict[str, str]] = {"DYNAMODB_JSON": ".json.gz", "ION": ".ion.gz"}
SUMMARY_VERSION_FULL: Final = "2020-06-30"
SUMMARY_VERSION_INCREMENTAL: Final = "2023-08-01"
_ROOT: Final = "AWSDynamoDB"


def new_export_id(now_ms: int) -> str:
    """An ExportId as DynamoDB spells them: 14-digit epoch milliseconds, ``-``, 8 hex
    digits (``01645072900758-ee1232a3``); the time makes them sort by start."""
    return f"{now_ms:014d}-{secrets.token_hex(4)}"


def export_arn(table_arn: str, export_id: str) -> str:
    return f"{table_arn}/export/{export_id}"


def new_data_file_name() -> str:
    """A data file's name without suffix: 26 lowercase base32 characters (128 random
    bits), the shape of DynamoDB's (``xygt7i2gje4w7jtdw5652s43pa``)."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


@dataclass(frozen=True, slots=True)
class ExportLayout:
    """The object keys of one export."""

    prefix: str | None
    export_id: str

    def _join(self, *parts: str) -> str:
        # A trailing '/' on the prefix must not give an empty path segment.
        head = (self.prefix or "").rstrip("/")
        return "/".join(([head] if head else []) + [_ROOT, *parts])

    @property
    def directory(self) -> str:
        return self._join(self.export_id)

    @property
    def started_key(self) -> str:
        return self._join(self.export_id, "_started")

    @property
    def manifest_summary_key(self) -> str:
        """Also DescribeExport's ``ExportManifest``."""
        return self._join(self.export_id, "manifest-summary.json")

    @property
    def manifest_summary_md5_key(self) -> str:
        return self._join(self.export_id, "manifest-summary.md5")

    @property
    def manifest_files_key(self) -> str:
        return self._join(self.export_id, "manifest-files.json")

    @property
    def manifest_files_md5_key(self) -> str:
        return self._join(self.export_id, "manifest-files.md5")

    def data_key(self, name: str, export_format: str, *, incremental: bool) -> str:
        suffix = DATA_FILE_SUFFIX[export_format]
        if incremental:
            return self._join("data", name + suffix)
        return self._join(self.export_id, "data", name + suffix)


def md5_base64(data: bytes) -> str:
    """Base64 of the MD5 digest: ``md5Checksum`` and the ``.md5`` objects' content."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def s3_etag(data: bytes) -> str:
    """The ETag S3 gives an object stored by one PUT (without SSE-KMS): hex MD5."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def multipart_etag(parts: Iterable[bytes]) -> str:
    """The ETag of a multipart upload of ``parts``: the MD5 of the parts' MD5 digests,
    ``-`` and the part count (the documented example's ``...4716-1``)."""
    digests = [hashlib.md5(p, usedforsecurity=False).digest() for p in parts]
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


def export_time(moment: datetime | float) -> str:
    """``2020-11-04T07:28:34.028Z``: UTC, milliseconds, as the manifests write times."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined UTC instant")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class ManifestFileEntry:
    """One line of ``manifest-files.json``."""

    item_count: int
    md5_checksum: str
    etag: str
    data_file_s3_key: str


def manifest_files_line(entry: ManifestFileEntry) -> bytes:
    """One JSON line, newline included."""
    line = {
        "itemCount": entry.item_count,
        "md5Checksum": entry.md5_checksum,
        "etag": entry.etag,
        "dataFileS3Key": entry.data_file_s3_key,
    }
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


def manifest_files_document(entries: Iterable[ManifestFileEntry]) -> bytes:
    return b"".join(manifest_files_line(e) for e in entries)


def manifest_summary(
    *,
    layout: ExportLayout,
    table_arn: str,
    table_id: str,
    start_time: datetime | float,
    end_time: datetime | float,
    s3_bucket: str,
    export_format: str,
    item_count: int,
    billed_size_bytes: int,
    exported_at: datetime | float | None = None,
    export_from_time: datetime | float | None = None,
    export_to_time: datetime | float | None = None,
    output_view: str | None = None,
    s3_sse_algorithm: str | None = "AES256",
    s3_sse_kms_key_id: str | None = None,
) -> bytes:
    """``manifest-summary.json``.  Give ``exported_at`` (the point in time exported)
    for a full export, or
    ``export_from_time``, ``export_to_time`` and ``output_view`` for an incremental one.
    """
    incremental = exported_at is None
    if incremental and (export_from_time is None or export_to_time is None or not output_view):
        raise ValueError("an incremental export needs its window and output view")
    if not incremental and (export_from_time or export_to_time or output_view):
        raise ValueError("a full export has an export time, not a window")
    summary: dict[str, Any] = {
        "version": SUMMARY_VERSION_INCREMENTAL if incremental else SUMMARY_VERSION_FULL,
        "exportArn": export_arn(table_arn, layout.export_id),
        "startTime": export_time(start_time),
        "endTime": export_time(end_time),
        "tableArn": table_arn,
        "tableId": table_id,
    }
    if incremental:
        assert export_from_time is not None and export_to_time is not None
        summary["exportFromTime"] = export_time(export_from_time)
        summary["exportToTime"] = export_time(export_to_time)
    else:
        assert exported_at is not None
        summary["exportTime"] = export_time(exported_at)
    summary |= {
        "s3Bucket": s3_bucket,
        "s3Prefix": layout.prefix,
        "s3SseAlgorithm": s3_sse_algorithm,
        "s3SseKmsKeyId": s3_sse_kms_key_id,
        "manifestFilesS3Key": layout.manifest_files_key,
        "billedSizeBytes": billed_size_bytes,
        "itemCount": item_count,
        "outputFormat": export_format,
    }
    if incremental:
        summary["outputView"] = output_view
    summary["exportType"] = "INCREMENTAL_EXPORT" if incremental else "FULL_EXPORT"
    return orjson.dumps(summary)
