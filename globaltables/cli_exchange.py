"""``globaltables export`` and ``globaltables import``: move a table's data to and from
an S3-compatible bucket in DynamoDB's export formats (docs/data-protection.md).

``export`` is ExportTableToPointInTime (full or incremental, DYNAMODB_JSON or ION),
``import`` is ImportTable (CSV, DYNAMODB_JSON or ION, optionally GZIP or ZSTD, into a
new table); both wait for the job, polling DescribeExport or DescribeImport, unless
``--no-wait``.
"""

from __future__ import annotations

from typing import Any

import click

from globaltables.cli_protection import (
    JobView,
    as_json_option,
    call,
    client_for,
    echo_json,
    endpoint_option,
    parse_time,
    show_time,
    wait_items,
    wait_options,
)

__all__ = ["export", "import_"]

_EXPORT_DONE = ("COMPLETED", "FAILED")
_IMPORT_DONE = ("COMPLETED", "FAILED", "CANCELLED")


def _failure(desc: dict[str, Any]) -> str:
    code, message = desc.get("FailureCode"), desc.get("FailureMessage")
    if code and message:
        return f"{code}: {message}"
    return str(code or message or "failed (the region's log says why)")


def _table_arn(client: Any, table: str) -> str:
    if table.startswith("arn:"):
        return table
    return str(call(client, "describe_table", TableName=table)["Table"]["TableArn"])


@click.command()
@endpoint_option
@click.option("--table", required=True, help="The table to export (name or ARN); PITR must be on.")
@click.option("--bucket", required=True, help="The S3 bucket to write to.")
@click.option("--prefix", default=None, help="Key prefix in the bucket.")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["DYNAMODB_JSON", "ION"]),
    default="DYNAMODB_JSON",
    show_default=True,
    help="The data files' format.",
)
@click.option(
    "--at",
    default=None,
    help="Full export: the table as of this instant (ISO 8601 or epoch seconds, inside the "
    "PITR window). [default: now]",
)
@click.option(
    "--incremental",
    is_flag=True,
    help="Export the changes between --from and --to instead of the whole table.",
)
@click.option("--from", "from_time", default=None, help="Incremental: the window's start.")
@click.option("--to", "to_time", default=None, help="Incremental: the window's end.")
@click.option(
    "--view",
    type=click.Choice(["NEW_IMAGE", "NEW_AND_OLD_IMAGES"]),
    default="NEW_AND_OLD_IMAGES",
    show_default=True,
    help="Incremental: what each changed item's line carries.",
)
@wait_options("export")
@as_json_option
def export(
    endpoint: str,
    table: str,
    bucket: str,
    prefix: str | None,
    export_format: str,
    at: str | None,
    incremental: bool,
    from_time: str | None,
    to_time: str | None,
    view: str,
    wait: bool,
    timeout: float,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Export a table to S3 (ExportTableToPointInTime), then wait until it is COMPLETED.

    \b
      globaltables export --table orders --bucket exports --prefix daily
      globaltables export --table orders --bucket exports --incremental \\
          --from 2025-06-01T00:00:00Z --to 2025-06-01T06:00:00Z
    """
    if incremental:
        if from_time is None or to_time is None:
            raise click.UsageError("--incremental needs --from and --to")
        if at is not None:
            raise click.UsageError(
                "--at is for a full export; an incremental one takes --from/--to"
            )
    elif from_time is not None or to_time is not None:
        raise click.UsageError("--from and --to need --incremental")
    client = client_for(endpoint)
    params: dict[str, Any] = {
        "TableArn": _table_arn(client, table),
        "S3Bucket": bucket,
        "ExportFormat": export_format,
    }
    if prefix:
        params["S3Prefix"] = prefix
    if incremental:
        params["ExportType"] = "INCREMENTAL_EXPORT"
        params["IncrementalExportSpecification"] = {
            "ExportFromTime": parse_time(str(from_time), "--from"),
            "ExportToTime": parse_time(str(to_time), "--to"),
            "ExportViewType": view,
        }
    else:
        params["ExportType"] = "FULL_EXPORT"
        if at is not None:
            params["ExportTime"] = parse_time(at, "--at")
    answer = call(client, "export_table_to_point_in_time", **params)
    desc = answer["ExportDescription"]
    arn = desc["ExportArn"]
    if wait and desc.get("ExportStatus") not in _EXPORT_DONE:

        def look() -> JobView:
            found = client.describe_export(ExportArn=arn)["ExportDescription"]
            status = found["ExportStatus"]
            count = found.get("ItemCount")
            return JobView(
                status,
                done=status in _EXPORT_DONE,
                failed=_failure(found) if status == "FAILED" else None,
                n=int(count) if count is not None else None,
                answer={"ExportDescription": found},
            )

        done = wait_items(
            look,
            endpoint=endpoint,
            desc=f"export {table}",
            timeout=timeout,
            progress=progress,
            as_json=as_json,
        )
        assert done.answer is not None
        answer, desc = done.answer, done.answer["ExportDescription"]
    if desc.get("ExportStatus") == "FAILED":
        if as_json:
            echo_json(answer)
        raise click.ClickException(f"export of {table}: {_failure(desc)}")
    if as_json:
        echo_json(answer)
        return
    where = f"s3://{bucket}/{prefix.strip('/') + '/' if prefix else ''}AWSDynamoDB/"
    status = desc.get("ExportStatus", "IN_PROGRESS")
    if status == "COMPLETED":
        count = desc.get("ItemCount")
        counted = f", {int(count):,} items" if count is not None else ""
        click.echo(
            f"export of {table}: COMPLETED{counted} ({desc.get('ExportType', 'FULL_EXPORT')}, {export_format})"
        )
        if desc.get("ExportManifest"):
            click.echo(f"manifest: s3://{bucket}/{desc['ExportManifest']}")
        else:
            click.echo(f"under {where}")
    else:
        click.echo(
            f"export of {table} started ({status}), as of {show_time(desc.get('ExportTime'))} UTC"
        )
    click.echo(arn)


def _n(value: Any, word: str) -> str:
    n = int(value or 0)
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _error_report(endpoint: str, arn: str) -> str | None:
    """Where the region put an import's error report (GET /v1/protection), or None."""
    from globaltables.cli_users import call_region

    try:
        data = call_region(endpoint, "GET", "/v1/protection")
    except click.ClickException:
        return None
    for job in (data or {}).get("imports", {}).get("recent", []):
        where = job.get("error_report")
        if job.get("arn") == arn and isinstance(where, dict):
            return f"s3://{where.get('bucket')}/{where.get('key')}"
    return None


def _attribute(text: str, option: str) -> tuple[str, str]:
    name, sep, kind = text.rpartition(":")
    if not sep or not name or kind.upper() not in ("S", "N", "B"):
        raise click.BadParameter(
            f"expected NAME:TYPE with TYPE S, N or B, got {text!r}", param_hint=option
        )
    return name, kind.upper()


@click.command("import")
@endpoint_option
@click.option("--bucket", required=True, help="The S3 bucket to read.")
@click.option("--prefix", default=None, help="Read the objects under this key prefix.")
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["CSV", "DYNAMODB_JSON", "ION"]),
    required=True,
    help="The objects' format.",
)
@click.option(
    "--compression",
    type=click.Choice(["GZIP", "ZSTD", "NONE"]),
    default="NONE",
    show_default=True,
    help="The objects' compression.",
)
@click.option("--table", required=True, help="The NEW table to create and fill.")
@click.option("--key", required=True, help="Its partition key, NAME:TYPE (TYPE S, N or B).")
@click.option("--sort", default=None, help="Its sort key, NAME:TYPE.")
@click.option("--delimiter", default=None, help="CSV: the field delimiter. [default: ,]")
@click.option(
    "--header",
    default=None,
    help="CSV: the column names, comma-separated, when the files have no header line.",
)
@wait_options("import")
@as_json_option
def import_(
    endpoint: str,
    bucket: str,
    prefix: str | None,
    input_format: str,
    compression: str,
    table: str,
    key: str,
    sort: str | None,
    delimiter: str | None,
    header: str | None,
    wait: bool,
    timeout: float,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Import objects from S3 into a new table (ImportTable), then wait until done.

    The table is created on demand (PAY_PER_REQUEST) with the key given.  Lines that
    cannot be imported are counted in ErrorCount; the rest is imported.

    \b
      globaltables import --bucket exports --prefix daily/AWSDynamoDB/01234-abcd/data \\
          --format DYNAMODB_JSON --compression GZIP --table orders_copy --key id:S
      globaltables import --bucket raw --prefix users.csv --format CSV --table users --key id:S
    """
    if input_format != "CSV" and (delimiter is not None or header is not None):
        raise click.UsageError("--delimiter and --header are for --format CSV")
    hash_name, hash_type = _attribute(key, "--key")
    attributes = {hash_name: hash_type}
    schema = [{"AttributeName": hash_name, "KeyType": "HASH"}]
    if sort is not None:
        sort_name, sort_type = _attribute(sort, "--sort")
        if sort_name == hash_name:
            raise click.BadParameter(
                "the sort key must differ from the partition key", param_hint="--sort"
            )
        attributes[sort_name] = sort_type
        schema.append({"AttributeName": sort_name, "KeyType": "RANGE"})
    source: dict[str, Any] = {"S3Bucket": bucket}
    if prefix:
        source["S3KeyPrefix"] = prefix
    params: dict[str, Any] = {
        "S3BucketSource": source,
        "InputFormat": input_format,
        "InputCompressionType": compression,
        "TableCreationParameters": {
            "TableName": table,
            "AttributeDefinitions": [
                {"AttributeName": n, "AttributeType": t} for n, t in attributes.items()
            ],
            "KeySchema": schema,
            "BillingMode": "PAY_PER_REQUEST",
        },
    }
    csv: dict[str, Any] = {}
    if delimiter is not None:
        csv["Delimiter"] = delimiter
    if header is not None:
        csv["HeaderList"] = [h.strip() for h in header.split(",")]
    if csv:
        params["InputFormatOptions"] = {"Csv": csv}
    client = client_for(endpoint)
    answer = call(client, "import_table", **params)
    desc = answer["ImportTableDescription"]
    arn = desc["ImportArn"]
    if wait and desc.get("ImportStatus") not in _IMPORT_DONE:

        def look() -> JobView:
            found = client.describe_import(ImportArn=arn)["ImportTableDescription"]
            status = found["ImportStatus"]
            errors = int(found.get("ErrorCount", 0) or 0)
            imported = int(found.get("ImportedItemCount", 0) or 0)
            return JobView(
                status,
                done=status in _IMPORT_DONE,
                failed=_failure(found) if status in ("FAILED", "CANCELLED") else None,
                n=int(found.get("ProcessedItemCount", 0) or 0),
                extra=f"{imported:,} imported, {_n(errors, 'error')}",
                answer={"ImportTableDescription": found},
            )

        done = wait_items(
            look,
            endpoint=endpoint,
            desc=f"import {table}",
            timeout=timeout,
            progress=progress,
            as_json=as_json,
        )
        assert done.answer is not None
        answer, desc = done.answer, done.answer["ImportTableDescription"]
    status = desc.get("ImportStatus", "IN_PROGRESS")
    if status in ("FAILED", "CANCELLED"):
        if as_json:
            echo_json(answer)
        raise click.ClickException(f"import into {table}: {status}: {_failure(desc)}")
    if as_json:
        echo_json(answer)
        return
    if status == "COMPLETED":
        errors = int(desc.get("ErrorCount", 0) or 0)
        click.echo(
            f"imported {_n(desc.get('ImportedItemCount'), 'item')} into {table} "
            f"({_n(desc.get('ProcessedItemCount'), 'item')} processed, {_n(errors, 'error')}, "
            f"{_n(desc.get('ProcessedSizeBytes'), 'byte')} read)"
        )
        report = _error_report(endpoint, arn) if errors else None
        if report:
            click.echo(f"error report (each line that was not imported, and why): {report}")
    else:
        click.echo(f"import into {table} started ({status})")
    click.echo(arn)
