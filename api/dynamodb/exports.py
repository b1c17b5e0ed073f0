"""Exports and imports: ExportTableToPointInTime, DescribeExport, ListExports,
ImportTable, DescribeImport, ListImports.

Shape checks and encoding only; what an export and an import are is
regions/protection/exports.py's and imports.py's.
"""

from __future__ import annotations

from typing import Any

from api.dynamodb.backups import _timestamp
from api.dynamodb.shapes import Shape
from api.dynamodb.tables import (
    _index_shapes,
    _index_throughput,
    _on_demand_shape,
    attribute_definitions_shape,
    key_schema_shape,
    provisioned_shape,
)
from regions.control.table_changes import NewTable
from regions.errors import ValidationError
from regions.protection import exports, imports
from regions.protection.formats.csv_import import CsvOptions, validate_csv_options
from regions.region import Region

__all__: list[str] = []

_BUCKET_PATTERN = r"^[a-z0-9A-Z]+[\.\-\w]*[a-z0-9A-Z]+$"
_TOKEN_PATTERN = r"^[^\$]+$"
_OWNER_PATTERN = "[0-9]{12}"
_FORMATS = ("DYNAMODB_JSON", "ION")
_INPUT_FORMATS = ("DYNAMODB_JSON", "ION", "CSV")
_EXPORT_DESCRIPTION = (
    "ExportArn",
    "ExportStatus",
    "StartTime",
    "EndTime",
    "ExportManifest",
    "TableArn",
    "TableId",
    "ExportTime",
    "ClientToken",
    "S3Bucket",
    "S3BucketOwner",
    "S3Prefix",
    "S3SseAlgorithm",
    "FailureCode",
    "FailureMessage",
    "ExportFormat",
    "BilledSizeBytes",
    "ItemCount",
    "ExportType",
    "IncrementalExportSpecification",
)
_IMPORT_DESCRIPTION = (
    "ImportArn",
    "ImportStatus",
    "TableArn",
    "TableId",
    "ClientToken",
    "S3BucketSource",
    "ErrorCount",
    "CloudWatchLogGroupArn",
    "InputFormat",
    "InputFormatOptions",
    "InputCompressionType",
    "TableCreationParameters",
    "StartTime",
    "EndTime",
    "ProcessedSizeBytes",
    "ProcessedItemCount",
    "ImportedItemCount",
    "FailureCode",
    "FailureMessage",
)
_IMPORT_SUMMARY = (
    "ImportArn",
    "ImportStatus",
    "TableArn",
    "S3BucketSource",
    "CloudWatchLogGroupArn",
    "InputFormat",
    "StartTime",
    "EndTime",
)


def _only(doc: dict[str, Any], members: tuple[str, ...]) -> dict[str, Any]:
    return {k: doc[k] for k in members if doc.get(k) is not None}


# -- page tokens: ListImports' NextToken must match ([0-9a-f]{16})+, 112..1024 long


def _token(arn: str) -> str:
    text = arn.encode().hex()
    width = max(112, -(-len(text) // 16) * 16)
    return text.ljust(width, "0")


def _untoken(token: str) -> str:
    try:
        raw = bytes.fromhex(token if len(token) % 2 == 0 else token + "0")
        return raw.rstrip(b"\x00").decode()
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("Invalid NextToken") from None


# ---------------------------------------------------------------- exports


async def export_table_to_point_in_time(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    table_arn = shape.string("TableArn", required=True, min_len=1, max_len=1024)
    at = _timestamp(shape, "ExportTime")
    token = shape.string("ClientToken", pattern=_TOKEN_PATTERN)
    bucket = shape.string("S3Bucket", required=True, max_len=255, pattern=_BUCKET_PATTERN)
    owner = shape.string("S3BucketOwner", pattern=_OWNER_PATTERN)
    prefix = shape.string("S3Prefix", max_len=1024)
    sse = shape.string("S3SseAlgorithm", enum=("AES256", "KMS"))
    kms = shape.string("S3SseKmsKeyId", min_len=1, max_len=2048)
    fmt = shape.string("ExportFormat", enum=_FORMATS) or "DYNAMODB_JSON"
    export_type = shape.string("ExportType", enum=(exports.FULL, exports.INCREMENTAL))
    spec = shape.struct("IncrementalExportSpecification")
    from_s = to_s = None
    view = None
    if spec is not None:
        from_s = _timestamp(spec, "ExportFromTime")
        to_s = _timestamp(spec, "ExportToTime")
        view = spec.string("ExportViewType", enum=("NEW_IMAGE", "NEW_AND_OLD_IMAGES"))
    shape.done()
    assert table_arn is not None and bucket is not None
    if "FilterSpecification" in body:
        raise ValidationError(
            "ExportTableToPointInTime does not support FilterSpecification in this version"
        )
    if sse == "KMS" or kms is not None:
        raise ValidationError(
            "ExportTableToPointInTime does not support S3SseAlgorithm KMS (S3SseKmsKeyId) "
            "in this version: objects are written with the store's default encryption"
        )
    export_type = export_type or exports.FULL
    if export_type == exports.FULL and spec is not None:
        raise ValidationError(
            "IncrementalExportSpecification can only be specified when ExportType is "
            "INCREMENTAL_EXPORT"
        )
    if export_type == exports.INCREMENTAL:
        if at is not None:
            raise ValidationError(
                "ExportTime cannot be specified when ExportType is INCREMENTAL_EXPORT"
            )
        if spec is None:
            raise ValidationError(
                "IncrementalExportSpecification must be specified when ExportType is "
                "INCREMENTAL_EXPORT"
            )
    req = exports.ExportRequest(
        table_arn=table_arn,
        bucket=bucket,
        export_time_ms=round(at * 1000) if at is not None else None,
        client_token=token,
        bucket_owner=owner,
        prefix=prefix,
        sse_algorithm=sse,
        export_format=fmt,
        export_type=export_type,
        from_ms=round(from_s * 1000) if from_s is not None else None,
        to_ms=round(to_s * 1000) if to_s is not None else None,
        view_type=view,
    )
    doc = await exports.start_export(region, req)
    return {"ExportDescription": _only(doc, _EXPORT_DESCRIPTION)}


async def describe_export(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    arn = shape.string("ExportArn", required=True, min_len=37, max_len=1024)
    shape.done()
    assert arn is not None
    doc = await exports.describe_export(region, arn)
    return {"ExportDescription": _only(doc, _EXPORT_DESCRIPTION)}


async def list_exports(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    table_arn = shape.string("TableArn", min_len=1, max_len=1024)
    limit = shape.integer("MaxResults", min_value=1, max_value=25)
    token = shape.string("NextToken")
    shape.done()
    if table_arn is not None and ":table/" not in table_arn:
        table_arn = region.arn(table_arn)
    page, last = await exports.list_exports(
        region, table_arn, limit or 25, _untoken(token) if token is not None else None
    )
    out: dict[str, Any] = {
        "ExportSummaries": [_only(d, ("ExportArn", "ExportStatus", "ExportType")) for d in page]
    }
    if last is not None:
        out["NextToken"] = _token(last)
    return out


# ---------------------------------------------------------------- imports


def _creation(shape: Shape) -> tuple[NewTable, dict[str, Any]]:
    sub = shape.struct("TableCreationParameters", required=True)
    if sub is None:
        shape.done()
        raise AssertionError("unreachable")
    name = sub.string("TableName", required=True, min_len=3, max_len=255, pattern="[a-zA-Z0-9_.-]+")
    defs_raw = sub.listing("AttributeDefinitions", required=True) or []
    ks_raw = sub.listing("KeySchema", required=True, min_len=1, max_len=2) or []
    billing = sub.string("BillingMode", enum=("PROVISIONED", "PAY_PER_REQUEST")) or "PROVISIONED"
    rcu, wcu = provisioned_shape(sub, "ProvisionedThroughput")
    defs = attribute_definitions_shape(sub, defs_raw)
    ks = key_schema_shape(sub, ks_raw)
    gsis = _index_shapes(sub, "GlobalSecondaryIndexes")
    on_demand = _on_demand_shape(sub)
    sse = sub.mapping("SSESpecification")
    shape.done()
    if sse is not None and not (sse.get("Enabled") is False and set(sse) <= {"Enabled"}):
        raise ValidationError(
            "ImportTable does not support SSESpecification in this version "
            "(only Enabled false, the default encryption)"
        )
    if "VectorIndexes" in sub.body:
        raise ValidationError("ImportTable does not support VectorIndexes in this version")
    assert name is not None
    table = NewTable(
        name=name,
        key_schema=ks,
        attribute_definitions=defs,
        billing_mode=billing,
        read_capacity=rcu,
        write_capacity=wcu,
        global_indexes=gsis,
        on_demand=on_demand,
        gsi_throughput=[_index_throughput(g) for g in gsis],
    )
    return table, dict(sub.body)


async def import_table(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    token = shape.string("ClientToken", pattern=_TOKEN_PATTERN)
    source = shape.struct("S3BucketSource", required=True)
    bucket = owner = prefix = None
    if source is not None:
        owner = source.string("S3BucketOwner", pattern=_OWNER_PATTERN)
        bucket = source.string("S3Bucket", required=True, max_len=255, pattern=_BUCKET_PATTERN)
        prefix = source.string("S3KeyPrefix", max_len=1024)
    fmt = shape.string("InputFormat", required=True, enum=_INPUT_FORMATS)
    options = shape.struct("InputFormatOptions")
    csv: CsvOptions | None = None
    if options is not None:
        c = options.struct("Csv")
        if c is not None:
            delimiter = c.string("Delimiter", min_len=1, max_len=1, pattern=r"[,;:|\t ]")
            headers = c.listing("HeaderList", min_len=1, max_len=255)
            if headers is not None and not all(isinstance(h, str) for h in headers):
                raise ValidationError("HeaderList members must be strings")
            csv = CsvOptions(delimiter or ",", tuple(headers) if headers is not None else None)
    compression = shape.string("InputCompressionType", enum=("GZIP", "ZSTD", "NONE")) or "NONE"
    table, creation = _creation(shape)
    assert fmt is not None and bucket is not None and source is not None
    if csv is not None:
        validate_csv_options(csv)
        if fmt != "CSV":
            raise ValidationError(
                "InputFormatOptions.Csv can only be specified when InputFormat is CSV"
            )
    req = imports.ImportRequest(
        bucket=bucket,
        table=table,
        input_format=fmt,
        source=dict(source.body),
        creation=creation,
        key_prefix=prefix,
        bucket_owner=owner,
        compression=compression,
        csv=csv if csv is not None else (CsvOptions() if fmt == "CSV" else None),
        format_options=dict(options.body) if options is not None else None,
        client_token=token,
    )
    doc = await imports.start_import(region, req)
    return {"ImportTableDescription": _only(doc, _IMPORT_DESCRIPTION)}


async def describe_import(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    arn = shape.string("ImportArn", required=True, min_len=37, max_len=1024)
    shape.done()
    assert arn is not None
    doc = await imports.describe_import(region, arn)
    return {"ImportTableDescription": _only(doc, _IMPORT_DESCRIPTION)}


async def list_imports(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    shape = Shape(body)
    table_arn = shape.string("TableArn", min_len=1, max_len=1024)
    limit = shape.integer("PageSize", min_value=1, max_value=25)
    token = shape.string("NextToken", min_len=112, max_len=1024, pattern="([0-9a-f]{16})+")
    shape.done()
    if table_arn is not None and ":table/" not in table_arn:
        table_arn = region.arn(table_arn)
    page, last = await imports.list_imports(
        region, table_arn, limit or 25, _untoken(token) if token is not None else None
    )
    out: dict[str, Any] = {"ImportSummaryList": [_only(d, _IMPORT_SUMMARY) for d in page]}
    if last is not None:
        out["NextToken"] = _token(last)
    return out
