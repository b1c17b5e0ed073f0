"""Exports: ExportTableToPointInTime, DescribeExport, ListExports.

An export writes a table as it was at one instant (FULL_EXPORT, from PITR's snapshots
and change log: :func:`regions.protection.pitr.state_at`), or what changed in a window
(INCREMENTAL_EXPORT, from the change log), to a user's bucket in the layout DynamoDB
writes (regions/protection/formats/manifest.py): ``_started`` first, the gzipped data
files, ``manifest-files.json`` and its ``.md5``, and ``manifest-summary.json`` and its
``.md5`` last, so a reader that finds the summary finds a complete export.

The bucket is written through the region's object store (``Region.objects``): with S3
configured, the S3 service, where a missing bucket fails the export
(``FailureCode`` ``S3NoSuchBucket``) as it fails in DynamoDB; without, the local
object store next to the region's store, where there is no other way to make a
bucket, so the export creates it.

Each export is a row of ``gt_exports`` (every node of the region describes it), IN_PROGRESS
until its job ends COMPLETED or FAILED.  The job runs in the background of the node
that took the request; a job a crash interrupted is run again from the start by the
leader (:func:`resume`, from regions/protection/jobs.py): the instant or window is fixed,
so a second run writes the same items (under new data file names; only the
manifest's files are the export's).  If the instant has left the PITR window
meanwhile, or the table is gone, the export ends FAILED.  Never IN_PROGRESS forever.

Incremental windows (DynamoDB Developer Guide, "Exporting incremental data"): inside
the PITR window, at most 24 hours long and at least 15 minutes long.  The minimum
can be lowered for tests only (``GLOBALTABLES_TEST_EXPORT_MIN_WINDOW_S``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from regions.catalog import TableSpec
from regions.errors import (
    ExportConflict,
    ExportNotFound,
    InvalidExportTime,
    ResourceNotFound,
    TableNotFound,
    ValidationError,
)
from regions.protection import pitr
from regions.protection import transfer_jobs as jobs
from regions.protection.formats.data_files import DataFile, ExportDataWriter
from regions.protection.formats.manifest import (
    ExportLayout,
    ManifestFileEntry,
    export_arn,
    manifest_files_document,
    manifest_summary,
    md5_base64,
    new_export_id,
)
from regions.protection.formats.records import ChangeRecord, change_record
from regions.protection.object_store_factory import refuse_region_bucket
from regions.protection.objects import (
    BadObjectKey,
    NoSuchBucket,
    ObjectStoreError,
    check_bucket,
    check_key,
)
from regions.versions import wall_ms

if TYPE_CHECKING:
    from regions.region import Region

__all__ = [
    "COMPLETED",
    "FAILED",
    "IN_PROGRESS",
    "ExportRequest",
    "describe_export",
    "list_exports",
    "resume",
    "start_export",
]

log = logging.getLogger("globaltables.exports")

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
FULL = "FULL_EXPORT"
INCREMENTAL = "INCREMENTAL_EXPORT"
MAX_WINDOW_MS = 24 * 3_600_000
MIN_WINDOW_MS = round(float(os.environ.get("GLOBALTABLES_TEST_EXPORT_MIN_WINDOW_S", "900")) * 1000)
#: testing knob: seconds to pause after every 100 items (or an import's batch), so
#: that a test can kill a region in the middle of an export or import
PAUSE_S = float(os.environ.get("GLOBALTABLES_TEST_TRANSFER_PAUSE_S", "0") or 0)

_KIND = jobs.Kind(
    "export",
    "ExportArn",
    "ExportStatus",
    ExportNotFound,
    "Export",
    ExportConflict,
    "There was a conflict when writing to the specified S3 bucket: the "
    "ClientToken {token} was used by another export request",
)


@dataclass(frozen=True)
class ExportRequest:
    """ExportTableToPointInTime, decoded (api/dynamodb/exports.py); times in ms."""

    table_arn: str
    bucket: str
    export_time_ms: int | None = None
    client_token: str | None = None
    bucket_owner: str | None = None
    prefix: str | None = None
    sse_algorithm: str | None = None
    export_format: str = "DYNAMODB_JSON"
    export_type: str = FULL
    from_ms: int | None = None
    to_ms: int | None = None
    view_type: str | None = None

    def fingerprint(self) -> dict[str, Any]:
        """The request's parameters as sent, for ClientToken idempotency."""
        return {k: v for k, v in self.__dict__.items() if k != "client_token"}


class _Failed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------- the requests


async def _table(region: Region, table_arn: str) -> tuple[int, TableSpec]:
    try:
        return await region.control.table_ref(table_arn)
    except ResourceNotFound:
        raise TableNotFound(table_arn.split(":table/", 1)[-1]) from None


def _window_error(what: str) -> InvalidExportTime:
    return InvalidExportTime(
        f"{what} must be within the point in time recovery window of the table "
        "(between EarliestRestorableDateTime and LatestRestorableDateTime)"
    )


async def start_export(region: Region, req: ExportRequest) -> dict[str, Any]:
    """Validate, record IN_PROGRESS, start the job; the export's document."""
    now = wall_ms()
    if req.client_token is not None:
        seen = await jobs.by_token(region, _KIND, req.client_token, req.fingerprint(), now)
        if seen is not None:
            return seen
    refuse_region_bucket(req.bucket, region.objects_bucket)
    tid, spec = await _table(region, req.table_arn)
    table_arn = region.arn(spec.name)
    status = await pitr.describe(region, table_arn)
    if not status.enabled:
        raise pitr._unavailable(spec.name)
    earliest, latest = status.earliest_ms, status.latest_ms
    if earliest is None or latest is None:
        raise _window_error("ExportTime")
    if req.export_type == FULL:
        at = latest if req.export_time_ms is None else req.export_time_ms
        if not earliest <= at <= latest:
            raise _window_error("ExportTime")
        from_ms = to_ms = None
    else:
        at = None
        if req.from_ms is None:
            raise ValidationError(
                "IncrementalExportSpecification.ExportFromTime must be specified for an "
                "INCREMENTAL_EXPORT"
            )
        from_ms = req.from_ms
        to_ms = latest if req.to_ms is None else req.to_ms
        if to_ms <= from_ms:
            raise ValidationError("ExportFromTime must be before ExportToTime")
        if not earliest <= from_ms or to_ms > latest:
            raise _window_error("The export window (ExportFromTime to ExportToTime)")
        if to_ms - from_ms < MIN_WINDOW_MS:
            raise ValidationError(
                "The duration between ExportFromTime and ExportToTime must be at least "
                f"{MIN_WINDOW_MS // 60_000} minutes"
                if MIN_WINDOW_MS >= 60_000
                else f"{MIN_WINDOW_MS} ms"
            )
        if to_ms - from_ms > MAX_WINDOW_MS:
            raise ValidationError(
                "The duration between ExportFromTime and ExportToTime must be at most 24 hours"
            )
    export_id = new_export_id(now)
    layout = ExportLayout(req.prefix or None, export_id)
    try:
        check_key(layout.manifest_summary_md5_key)
        check_key(layout.data_key("x" * 26, req.export_format, incremental=True))
    except BadObjectKey as exc:
        raise ValidationError(f"Invalid S3Prefix: {exc}") from None
    arn = export_arn(table_arn, export_id)
    doc: dict[str, Any] = {
        "ExportArn": arn,
        "ExportStatus": IN_PROGRESS,
        "StartTime": now / 1000,
        "TableArn": table_arn,
        "TableId": spec.table_id,
        "S3Bucket": req.bucket,
        "S3SseAlgorithm": req.sse_algorithm or "AES256",
        "ExportFormat": req.export_format,
        "ExportType": req.export_type,
        # not shown: what the job needs
        "tid": tid,
        "export_ms": at,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "fingerprint": req.fingerprint(),
    }
    if at is not None:
        doc["ExportTime"] = at / 1000
    else:
        assert from_ms is not None and to_ms is not None
        doc["IncrementalExportSpecification"] = {
            "ExportFromTime": from_ms / 1000,
            "ExportToTime": to_ms / 1000,
            "ExportViewType": req.view_type or "NEW_AND_OLD_IMAGES",
        }
    if req.client_token is not None:
        doc["ClientToken"] = req.client_token
    if req.bucket_owner is not None:
        doc["S3BucketOwner"] = req.bucket_owner
    if req.prefix is not None:
        doc["S3Prefix"] = req.prefix
    async with region.store.write() as tx:
        await jobs.insert(tx, _KIND, doc, now)
    _spawn(region, arn)
    return doc


def _spawn(region: Region, arn: str) -> None:
    region.control.background.spawn(_run(region, arn), key=("export", arn))


async def describe_export(region: Region, arn: str) -> dict[str, Any]:
    return await jobs.describe(region, _KIND, arn)


async def list_exports(
    region: Region, table_arn: str | None, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of export documents, oldest first, and the ARN to go on after."""
    return await jobs.page(region, _KIND, table_arn, limit, after)


# ---------------------------------------------------------------- the job


async def _save(region: Region, doc: dict[str, Any]) -> None:
    await jobs.save(region, _KIND, doc)


async def _changes(
    region: Region, table_arn: str, from_ms: int, to_ms: int, view: str
) -> AsyncIterator[ChangeRecord]:
    """One line per item changed in ``[from_ms, to_ms)``: its image before the
    window's first change and after its last (regions/protection/formats/records.py)."""
    firsts: dict[bytes, Any] = {}
    lasts: dict[bytes, Any] = {}
    async for rec in pitr.changes_between(region, table_arn, from_ms, to_ms - 1):
        key = orjson.dumps(rec.keys, option=orjson.OPT_SORT_KEYS)
        firsts.setdefault(key, rec)
        lasts[key] = rec
    for key, last in lasts.items():
        first = firsts[key]
        line = change_record(
            view,  # type: ignore[arg-type]
            last.keys,
            first.old_image,
            last.new_image,
            last.created_ms * 1000,
        )
        if line is not None:
            yield line


async def _run(region: Region, arn: str) -> None:
    doc = await describe_export(region, arn)
    if doc["ExportStatus"] != IN_PROGRESS:
        return
    try:
        await _write(region, doc)
    except asyncio.CancelledError:
        raise  # the process stops: the leader runs it again
    except _Failed as exc:
        await _fail(region, doc, exc.code, exc.message)
    except NoSuchBucket as exc:
        await _fail(region, doc, "S3NoSuchBucket", str(exc))
    except BadObjectKey as exc:
        await _fail(region, doc, "S3InvalidKey", str(exc))
    except ObjectStoreError as exc:
        await _fail(region, doc, "S3Error", str(exc))
    except Exception as exc:
        log.exception("export %s failed", arn)
        await _fail(region, doc, exc.__class__.__name__, getattr(exc, "message", str(exc)))


async def _fail(region: Region, doc: dict[str, Any], code: str, message: str) -> None:
    log.warning("export %s failed: %s: %s", doc["ExportArn"], code, message)
    doc = {
        **doc,
        "ExportStatus": FAILED,
        "EndTime": wall_ms() / 1000,
        "FailureCode": code,
        "FailureMessage": message,
    }
    await _save(region, doc)


async def _write(region: Region, doc: dict[str, Any]) -> None:
    bucket = doc["S3Bucket"]
    objects = region.objects
    try:
        check_bucket(bucket)
    except BadObjectKey as exc:
        raise _Failed("S3NoSuchBucket", str(exc)) from None
    if region.settings.s3 is None:
        await objects.ensure_bucket(bucket)
    elif not await objects.bucket_exists(bucket):
        raise _Failed("S3NoSuchBucket", f"The specified bucket does not exist: {bucket}")
    export_id = doc["ExportArn"].rsplit("/export/", 1)[1]
    layout = ExportLayout(doc.get("S3Prefix") or None, export_id)
    incremental = doc["ExportType"] == INCREMENTAL
    await objects.put(bucket, layout.started_key, b"")
    writer = ExportDataWriter(layout, doc["ExportFormat"], incremental=incremental)
    entries: list[ManifestFileEntry] = []

    async def store(files: list[DataFile]) -> None:
        for f in files:
            await objects.put(bucket, f.key, f.data)
            entries.append(f.manifest_entry())

    by_tid = {tid: spec for tid, spec in region.catalog.tables.values()}
    spec = by_tid.get(int(doc["tid"]))
    if spec is None or spec.table_id != doc["TableId"]:
        raise _Failed("TableNotFound", f"Table not found: {doc['TableArn']}")
    count = 0
    if not incremental:
        async for item in pitr.state_at(region, int(doc["tid"]), spec, int(doc["export_ms"])):
            await store(writer.write_item(item))
            count += 1
            if PAUSE_S and count % 100 == 0:
                await asyncio.sleep(PAUSE_S)
    else:
        view = doc["IncrementalExportSpecification"]["ExportViewType"]
        async for line in _changes(
            region, doc["TableArn"], int(doc["from_ms"]), int(doc["to_ms"]), view
        ):
            await store(writer.write_change(line))
    await store(writer.close())
    files_doc = manifest_files_document(entries)
    await objects.put(bucket, layout.manifest_files_key, files_doc)
    await objects.put(bucket, layout.manifest_files_md5_key, md5_base64(files_doc).encode())
    end = wall_ms()
    spec_inc = doc.get("IncrementalExportSpecification") or {}
    summary = manifest_summary(
        layout=layout,
        table_arn=doc["TableArn"],
        table_id=doc["TableId"],
        start_time=doc["StartTime"],
        end_time=end / 1000,
        s3_bucket=bucket,
        export_format=doc["ExportFormat"],
        item_count=writer.item_count,
        billed_size_bytes=writer.item_bytes,
        exported_at=doc.get("ExportTime"),
        export_from_time=spec_inc.get("ExportFromTime"),
        export_to_time=spec_inc.get("ExportToTime"),
        output_view=spec_inc.get("ExportViewType"),
        s3_sse_algorithm=doc["S3SseAlgorithm"],
    )
    await objects.put(bucket, layout.manifest_summary_key, summary)
    await objects.put(bucket, layout.manifest_summary_md5_key, md5_base64(summary).encode())
    done = {
        **doc,
        "ExportStatus": COMPLETED,
        "EndTime": end / 1000,
        "ExportManifest": layout.manifest_summary_key,
        "ItemCount": writer.item_count,
        "BilledSizeBytes": writer.item_bytes,
    }
    await _save(region, done)
    log.info("export %s: %d items", doc["ExportArn"], writer.item_count)


async def resume(region: Region) -> None:
    """On the leader at start: every export a crash left IN_PROGRESS runs again
    (and ends FAILED if it cannot be written any more)."""
    for row in await jobs.unfinished(region, _KIND):
        log.info("resuming export %s", row["arn"])
        _spawn(region, str(row["arn"]))
