"""Imports: ImportTable, DescribeImport, ListImports.

ImportTable makes a NEW table from the objects under ``S3KeyPrefix`` of a bucket
(CSV, DynamoDB JSON or Ion lines; GZIP, ZSTD or uncompressed), as restores do
(regions/protection/restore.py), in steps each durable before the next:

1. a row of ``gt_imports`` IN_PROGRESS with the new table's spec, in the transaction
   that checks the name is free (ResourceInUseException otherwise);
2. the table in the catalog, status CREATING: it takes no item requests, so nothing
   but the import writes to it;
3. every object read (regions/protection/formats/reader.py) and its items loaded in
   batches through the data plane; a line that makes no item, or an item PutItem
   would refuse, counts in ``ErrorCount`` and goes to the error report;
4. the counts saved, the table ACTIVE, the row COMPLETED.

A process killed part-way leaves the row IN_PROGRESS: the leader (:func:`resume`)
creates the table if step 2 had not happened and loads again from the first object
(a Put of an item already there changes nothing; the counts start again from 0), or
marks the import COMPLETED if the table was ACTIVE already.  An import that cannot
finish (the bucket or the objects gone, nothing to import) drops its table and ends
FAILED: a half-imported table is never ACTIVE.

**The error report.**  DynamoDB logs each bad item to CloudWatch Logs (log group
``/aws-dynamodb/imports``); there is no CloudWatch here, so the same JSON lines
(:func:`~regions.protection.formats.reader.error_log_line`, at most
:data:`MAX_REPORTED` of them) are written to the object
``imports/<import id>/error-report.jsonl`` in the region's own bucket
(``Region.objects_bucket``), never next to the source, where a second import of the
same prefix would read it as data.  ``CloudWatchLogGroupArn`` keeps DynamoDB's shape.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from regions.catalog import ACTIVE, CREATING, TableSpec
from regions.control.table_changes import NewTable
from regions.data.ops import Put
from regions.data.plane import Bound
from regions.errors import (
    DynamoError,
    ImportConflict,
    ImportNotFound,
    ResourceInUse,
    ResourceNotFound,
)
from regions.protection import transfer_jobs as jobs
from regions.protection.exports import PAUSE_S
from regions.protection.formats.csv_import import CsvOptions
from regions.protection.formats.errors import ItemError, ObjectFormatError
from regions.protection.formats.manifest import new_export_id
from regions.protection.formats.reader import error_log_line, read_import_stream
from regions.protection.formats.records import ParsedItem
from regions.protection.object_store_factory import refuse_region_bucket
from regions.protection.objects import (
    BadObjectKey,
    NoSuchBucket,
    ObjectStoreError,
    check_bucket,
    check_prefix,
)
from regions.versions import wall_ms

if TYPE_CHECKING:
    from regions.region import Region

__all__ = [
    "ImportRequest",
    "describe_import",
    "error_report_key",
    "import_spec",
    "list_imports",
    "resume",
    "start_import",
]

log = logging.getLogger("globaltables.imports")

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
_KIND = jobs.Kind(
    "import",
    "ImportArn",
    "ImportStatus",
    ImportNotFound,
    "Import",
    ImportConflict,
    "There was a conflict when importing from the specified S3 source: the "
    "ClientToken {token} was used by another import request",
)
#: items written per store transaction
BATCH = 200
#: error report lines kept per import
MAX_REPORTED = 10_000


@dataclass(frozen=True)
class ImportRequest:
    """ImportTable, decoded (api/dynamodb/exports.py)."""

    bucket: str
    table: NewTable
    input_format: str
    #: the request's members as sent, for describing and ClientToken idempotency
    source: dict[str, Any]
    creation: dict[str, Any]
    key_prefix: str | None = None
    bucket_owner: str | None = None
    compression: str = "NONE"
    csv: CsvOptions | None = None
    format_options: dict[str, Any] | None = None
    client_token: str | None = None

    def fingerprint(self) -> dict[str, Any]:
        return {
            "S3BucketSource": self.source,
            "InputFormat": self.input_format,
            "InputFormatOptions": self.format_options,
            "InputCompressionType": self.compression,
            "TableCreationParameters": self.creation,
        }


def error_report_key(import_arn: str) -> str:
    """Where the import's error report is, in the region's own bucket."""
    return f"imports/{import_arn.rsplit('/import/', 1)[1]}/error-report.jsonl"


def import_spec(region: Region, t: NewTable) -> TableSpec:
    """The new table's spec, checked as CreateTable checks it, status CREATING until
    its items are loaded."""
    return replace(region.control.new_spec(t), status=CREATING)


# ---------------------------------------------------------------- the requests


async def start_import(region: Region, req: ImportRequest) -> dict[str, Any]:
    now = wall_ms()
    if req.client_token is not None:
        seen = await jobs.by_token(region, _KIND, req.client_token, req.fingerprint(), now)
        if seen is not None:
            return seen
    refuse_region_bucket(str(req.source.get("S3Bucket", "")), region.objects_bucket)
    spec = import_spec(region, req.table)
    table_arn = region.arn(spec.name)
    arn = f"{table_arn}/import/{new_export_id(now)}"
    doc: dict[str, Any] = {
        "ImportArn": arn,
        "ImportStatus": IN_PROGRESS,
        "TableArn": table_arn,
        "TableId": spec.table_id,
        "S3BucketSource": req.source,
        "ErrorCount": 0,
        "CloudWatchLogGroupArn": (
            f"arn:aws:logs:{region.name}:{region.settings.account_id}:"
            "log-group:/aws-dynamodb/imports:*"
        ),
        "InputFormat": req.input_format,
        "InputCompressionType": req.compression,
        "TableCreationParameters": req.creation,
        "StartTime": now / 1000,
        "ProcessedSizeBytes": 0,
        "ProcessedItemCount": 0,
        "ImportedItemCount": 0,
        # not shown: what the job needs
        "spec": spec.to_json(),
        "bucket": req.bucket,
        "key_prefix": req.key_prefix or "",
        "csv": (
            {"delimiter": req.csv.delimiter, "header_list": req.csv.header_list}
            if req.csv is not None
            else None
        ),
        "fingerprint": req.fingerprint(),
        "error_report": {"bucket": region.objects_bucket, "key": error_report_key(arn)},
    }
    if req.format_options is not None:
        doc["InputFormatOptions"] = req.format_options
    if req.client_token is not None:
        doc["ClientToken"] = req.client_token
    async with region.store.write() as tx:
        if await tx.table(spec.name) is not None:
            raise ResourceInUse(f"Table already exists: {spec.name}")
        await jobs.insert(tx, _KIND, doc, now, table_name=spec.name)
    try:
        await region.catalog.insert(spec)
    except ResourceInUse:
        await _save(
            region,
            {
                **doc,
                "ImportStatus": FAILED,
                "EndTime": wall_ms() / 1000,
                "FailureCode": "ResourceInUse",
                "FailureMessage": f"Table already exists: {spec.name}",
            },
        )
        raise ResourceInUse(f"Table already exists: {spec.name}") from None
    log.info("importing %s from s3://%s/%s", spec.name, req.bucket, req.key_prefix or "")
    _spawn(region, arn)
    return doc


def _spawn(region: Region, arn: str) -> None:
    region.control.background.spawn(_run(region, arn), key=("import", arn))


async def describe_import(region: Region, arn: str) -> dict[str, Any]:
    return await jobs.describe(region, _KIND, arn)


async def list_imports(
    region: Region, table_arn: str | None, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of import documents, oldest first, and the ARN to go on after."""
    return await jobs.page(region, _KIND, table_arn, limit, after)


# ---------------------------------------------------------------- the job


class _Failed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Counts:
    processed_bytes: int = 0
    processed_items: int = 0
    imported: int = 0
    errors: int = 0


async def _save(region: Region, doc: dict[str, Any]) -> None:
    await jobs.save(region, _KIND, doc)


async def _load(region: Region, tid: int, spec: TableSpec, doc: dict[str, Any]) -> _Counts:
    bucket = doc["bucket"]
    prefix = doc["key_prefix"]
    try:
        check_bucket(bucket)
        check_prefix(prefix)
    except BadObjectKey as exc:
        raise _Failed(
            "S3NoSuchBucket" if "bucket" in str(exc) else "S3InvalidKey", str(exc)
        ) from None
    csv = doc.get("csv")
    options = (
        CsvOptions(
            csv["delimiter"],
            tuple(csv["header_list"]) if csv.get("header_list") is not None else None,
        )
        if csv
        else None
    )
    keys = [o.key async for o in region.objects.list(bucket, prefix) if not o.key.endswith("/")]
    if not keys:
        raise _Failed("S3NoSuchKey", f"No objects to import under s3://{bucket}/{prefix}")
    counts = _Counts()
    report: list[bytes] = []
    arn = doc["ImportArn"]

    def error(key: str, e: ItemError) -> None:
        counts.errors += 1
        if len(report) < MAX_REPORTED:
            report.append(error_log_line(arn, bucket, key, e))

    for key in keys:
        batch: list[tuple[Bound, ParsedItem]] = []

        async def flush(key: str = key, batch: list[tuple[Bound, ParsedItem]] = batch) -> None:
            if not batch:
                return
            outcomes = await region.data.commit([b for b, _ in batch], atomic=False)
            for (_, parsed), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, DynamoError):
                    error(key, ItemError(parsed.index, parsed.line, outcome.message, parsed.size))
                else:
                    counts.imported += 1
            batch.clear()
            if PAUSE_S:
                await asyncio.sleep(PAUSE_S)

        # streamed, never read whole: an object may be far larger than memory
        reader = read_import_stream(
            region.objects.get_chunks(bucket, key),
            input_format=doc["InputFormat"],
            compression=doc["InputCompressionType"],
            key_schema=spec.key_schema,
            attribute_types=spec.attributes,
            csv_options=options,
        )
        try:
            # closed however the loop ends (an error, the region stopping): that stops
            # the reader's thread and the object's stream
            async with aclosing(reader):
                async for entry in reader:
                    counts.processed_items += 1
                    counts.processed_bytes += entry.size
                    if isinstance(entry, ItemError):
                        error(key, entry)
                        continue
                    try:
                        bkey, op = Put(spec.name, item=entry.item).validated(spec.key_schema)
                    except DynamoError as exc:
                        error(key, ItemError(entry.index, entry.line, exc.message, entry.size))
                        continue
                    batch.append((Bound(tid, spec, bkey, op), entry))
                    if len(batch) >= BATCH:
                        await flush()
        except ObjectFormatError as exc:
            # the rest of this object cannot be read: one error, on to the next object
            error(key, ItemError(counts.processed_items, 0, str(exc), 0))
        await flush()
    report_key = doc["error_report"]["key"]
    if report:
        await region.objects.put(region.objects_bucket, report_key, b"".join(report))
    return counts


async def _run(region: Region, arn: str) -> None:
    doc = await describe_import(region, arn)
    if doc["ImportStatus"] != IN_PROGRESS:
        return
    spec = TableSpec.from_json(doc["spec"])
    try:
        tid, current = await region.catalog.table(spec.name)
    except ResourceNotFound:
        current = None
    if current is None or current.table_id != spec.table_id:
        await _fail(region, doc, "TableNotFound", f"The table {spec.name} is gone")
        return
    if current.status == ACTIVE:
        # activated before a crash: the counts were saved before activating
        await _save(region, {**doc, "ImportStatus": COMPLETED, "EndTime": wall_ms() / 1000})
        return
    try:
        counts = await _load(region, tid, current, doc)
    except asyncio.CancelledError:
        raise  # the process stops: the leader runs it again
    except Exception as exc:
        if isinstance(exc, _Failed):
            code, message = exc.code, exc.message
        elif isinstance(exc, NoSuchBucket):
            code, message = "S3NoSuchBucket", str(exc)
        elif isinstance(exc, ObjectStoreError):
            code, message = "S3Error", str(exc)
        else:
            log.exception("import %s failed", arn)
            code, message = exc.__class__.__name__, getattr(exc, "message", str(exc))
        try:
            await region.control.drop_table(tid, current)
        finally:
            await _fail(region, doc, code, message)
        return
    doc = {
        **doc,
        "ErrorCount": counts.errors,
        "ProcessedSizeBytes": counts.processed_bytes,
        "ProcessedItemCount": counts.processed_items,
        "ImportedItemCount": counts.imported,
    }
    await _save(region, doc)
    await region.catalog.save(tid, replace(current, status=ACTIVE))
    await _save(region, {**doc, "ImportStatus": COMPLETED, "EndTime": wall_ms() / 1000})
    log.info("imported %s: %d items, %d errors", spec.name, counts.imported, counts.errors)


async def _fail(region: Region, doc: dict[str, Any], code: str, message: str) -> None:
    log.warning("import %s failed: %s: %s", doc["ImportArn"], code, message)
    await _save(
        region,
        {
            **doc,
            "ImportStatus": FAILED,
            "EndTime": wall_ms() / 1000,
            "FailureCode": code,
            "FailureMessage": message,
        },
    )


async def resume(region: Region) -> None:
    """On the leader at start: every import a crash left IN_PROGRESS runs again, its
    table created first if it was not yet."""
    for row in await jobs.unfinished(region, _KIND):
        doc = orjson.loads(row["doc"])
        spec = TableSpec.from_json(doc["spec"])
        try:
            await region.catalog.table(spec.name)
        except ResourceNotFound:
            try:
                await region.catalog.insert(spec)
            except ResourceInUse:
                await _fail(region, doc, "ResourceInUse", f"Table already exists: {spec.name}")
                continue
        log.info("resuming the import into %s", spec.name)
        _spawn(region, str(row["arn"]))
