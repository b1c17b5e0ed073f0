"""``globaltables backup`` and ``globaltables pitr``: on-demand backups, restores and
point-in-time recovery of a region's tables (docs/data-protection.md).

Each command is one or a few DynamoDB calls (CreateBackup, ListBackups, DescribeBackup,
DeleteBackup, RestoreTableFromBackup, RestoreTableToPointInTime,
UpdateContinuousBackups, DescribeContinuousBackups), as ``aws dynamodb`` would make
them; ``create`` and ``restore`` then wait for the backup or the new table, polling
DescribeBackup or DescribeTable (``--no-wait`` returns at once).
"""

from __future__ import annotations

import datetime
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
    unless_gone,
    wait_items,
    wait_options,
)

__all__ = ["backup", "pitr"]


def _size(n: Any) -> str:
    size = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _items(n: Any) -> str:
    n = int(n or 0)
    return f"{n:,} item" + ("" if n == 1 else "s")


@click.group()
def backup() -> None:
    """Create, list, describe, delete and restore on-demand backups.

    A backup is a consistent snapshot of one table, kept in the region's object store
    (S3, or next to the store): it survives deleting the table.  A restore makes a new
    table, from a backup or (with --table and --at/--latest) from the point-in-time
    recovery of a table.
    """


@backup.command("create")
@endpoint_option
@click.option("--table", required=True, help="The table to back up (name or ARN).")
@click.option(
    "--name",
    default=None,
    help="The backup's name (3-255 of a-z A-Z 0-9 _ . -). [default: TABLE-YYYYMMDD-HHMMSS]",
)
@wait_options("backup")
@as_json_option
def create_backup(
    endpoint: str,
    table: str,
    name: str | None,
    wait: bool,
    timeout: float,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Back up a table (CreateBackup), then wait until the backup is AVAILABLE."""
    client = client_for(endpoint)
    if name is None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        name = f"{table.rsplit('/', 1)[-1]}-{stamp}"
    details = call(client, "create_backup", TableName=table, BackupName=name)["BackupDetails"]
    arn = details["BackupArn"]
    answer: dict[str, Any] = {"BackupDetails": details}
    if wait:
        expected = call(client, "describe_table", TableName=table)["Table"].get("ItemCount")

        @unless_gone(
            "BackupNotFoundException",
            "the backup failed and was dropped (the region's log says why)",
        )
        def look() -> JobView:
            desc = client.describe_backup(BackupArn=arn)["BackupDescription"]
            status = desc["BackupDetails"]["BackupStatus"]
            count = desc["SourceTableDetails"].get("ItemCount", 0)
            done = status != "CREATING"
            return JobView(
                status,
                done=done,
                n=count if done else 0,
                total=count if done else expected,
                answer={"BackupDescription": desc},
            )

        view = wait_items(
            look,
            endpoint=endpoint,
            desc=f"backup {name}",
            timeout=timeout,
            progress=progress,
            as_json=as_json,
        )
        if view.failed:
            raise click.ClickException(f"backup {name} of {table}: {view.failed}")
        assert view.answer is not None
        answer = view.answer
        details = answer["BackupDescription"]["BackupDetails"]
    if as_json:
        echo_json(answer)
        return
    items = answer.get("BackupDescription", {}).get("SourceTableDetails", {}).get("ItemCount")
    counted = f", {_items(items)}" if items is not None else ""
    click.echo(
        f"backup {details['BackupName']} of {table}: {details['BackupStatus']}{counted}, "
        f"{_size(details.get('BackupSizeBytes'))}"
    )
    click.echo(arn)


@backup.command("list")
@endpoint_option
@click.option("--table", default=None, help="Only the backups of this table.")
@as_json_option
def list_backups(endpoint: str, table: str | None, as_json: bool) -> None:
    """List the region's backups, oldest first (ListBackups, every page)."""
    client = client_for(endpoint)
    params: dict[str, Any] = {"TableName": table} if table else {}
    rows: list[dict[str, Any]] = []
    while True:
        page = call(client, "list_backups", **params)
        rows += page.get("BackupSummaries", [])
        if "LastEvaluatedBackupArn" not in page:
            break
        params["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    if as_json:
        echo_json({"BackupSummaries": rows})
        return
    if not rows:
        click.echo(f"no backups{' of ' + table if table else ''}")
        return
    click.echo(f"{'created (UTC)':<20} {'table':<24} {'name':<32} {'status':<10} {'size':>10}  arn")
    for b in rows:
        click.echo(
            f"{show_time(b.get('BackupCreationDateTime')):<20} {b['TableName']:<24} "
            f"{b['BackupName']:<32} {b['BackupStatus']:<10} "
            f"{_size(b.get('BackupSizeBytes')):>10}  {b['BackupArn']}"
        )


def _print_backup(desc: dict[str, Any]) -> None:
    d, src = desc["BackupDetails"], desc.get("SourceTableDetails", {})
    rows = [
        ("name", d["BackupName"]),
        ("arn", d["BackupArn"]),
        ("status", d["BackupStatus"]),
        ("type", d.get("BackupType", "USER")),
        ("created (UTC)", show_time(d.get("BackupCreationDateTime"))),
        ("size", _size(d.get("BackupSizeBytes"))),
        ("table", src.get("TableName", "-")),
        ("items", _items(src.get("ItemCount"))),
        ("billing mode", src.get("BillingMode", "-")),
    ]
    key = " ".join(f"{k['AttributeName']}({k['KeyType']})" for k in src.get("KeySchema", []))
    rows.append(("key", key or "-"))
    features = desc.get("SourceTableFeatureDetails", {})
    for member, label in (
        ("GlobalSecondaryIndexes", "global indexes"),
        ("LocalSecondaryIndexes", "local indexes"),
    ):
        if features.get(member):
            rows.append((label, ", ".join(i["IndexName"] for i in features[member])))
    for label, value in rows:
        click.echo(f"{label:<14} {value}")


@backup.command("describe")
@click.argument("arn")
@endpoint_option
@as_json_option
def describe_backup(arn: str, endpoint: str, as_json: bool) -> None:
    """Show backup ARN (DescribeBackup)."""
    answer = call(client_for(endpoint), "describe_backup", BackupArn=arn)
    if as_json:
        echo_json(answer)
        return
    _print_backup(answer["BackupDescription"])


@backup.command("delete")
@click.argument("arn")
@endpoint_option
@as_json_option
def delete_backup(arn: str, endpoint: str, as_json: bool) -> None:
    """Delete backup ARN (DeleteBackup); its objects are removed."""
    answer = call(client_for(endpoint), "delete_backup", BackupArn=arn)
    if as_json:
        echo_json(answer)
        return
    details = answer["BackupDescription"]["BackupDetails"]
    click.echo(f"deleted backup {details['BackupName']} ({arn})")


@backup.command("restore")
@click.argument("arn", required=False)
@click.option("--to", "target", required=True, help="The new table's name (it must not exist yet).")
@click.option(
    "--table",
    "source",
    default=None,
    help="Point in time: restore this table's state (PITR enabled) instead of a backup ARN.",
)
@click.option(
    "--at",
    "at",
    default=None,
    help="Point in time: the instant, ISO 8601 (2025-06-01T12:30:00Z; no zone = UTC) or "
    "epoch seconds; inside the table's restorable window.",
)
@click.option(
    "--latest", is_flag=True, help="Point in time: the latest restorable time (about 1 s ago)."
)
@click.option(
    "--billing-mode",
    type=click.Choice(["PAY_PER_REQUEST", "PROVISIONED"]),
    default=None,
    help="The new table's billing mode. [default: the source's]",
)
@endpoint_option
@wait_options("restore")
@as_json_option
def restore(
    arn: str | None,
    target: str,
    source: str | None,
    at: str | None,
    latest: bool,
    billing_mode: str | None,
    endpoint: str,
    wait: bool,
    timeout: float,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Restore backup ARN, or (--table with --at or --latest) a table's point in time,
    into the new table --to, then wait until it is ACTIVE.

    \b
      globaltables backup restore ARN --to orders_restored
      globaltables backup restore --table orders --at 2025-06-01T12:30:00Z --to orders_1230
      globaltables backup restore --table orders --latest --to orders_now
    """
    if (arn is None) == (source is None):
        raise click.UsageError("give a backup ARN, or --table with --at or --latest (not both)")
    if arn is not None and (at is not None or latest):
        raise click.UsageError("--at and --latest restore a --table's point in time, not a backup")
    if source is not None and (at is None) == (not latest):
        raise click.UsageError("--table takes exactly one of --at TIME and --latest")
    client = client_for(endpoint)
    overrides: dict[str, Any] = {"BillingModeOverride": billing_mode} if billing_mode else {}
    expected: int | None = None
    if arn is not None:
        backup_desc = call(client, "describe_backup", BackupArn=arn)["BackupDescription"]
        expected = backup_desc.get("SourceTableDetails", {}).get("ItemCount")
        origin = f"backup {backup_desc['BackupDetails']['BackupName']}"
        answer = call(
            client, "restore_table_from_backup", TargetTableName=target, BackupArn=arn, **overrides
        )
    else:
        assert source is not None
        when: dict[str, Any] = (
            {"UseLatestRestorableTime": True}
            if latest
            else {"RestoreDateTime": parse_time(str(at), "--at")}
        )
        answer = call(
            client,
            "restore_table_to_point_in_time",
            SourceTableName=source,
            TargetTableName=target,
            **when,
            **overrides,
        )
        summary = answer["TableDescription"].get("RestoreSummary", {})
        origin = f"{source} at {show_time(summary.get('RestoreDateTime'))} UTC"
    if wait:

        @unless_gone(
            "ResourceNotFoundException",
            "the restore failed and the region dropped the table (its log says why)",
        )
        def look() -> JobView:
            table = client.describe_table(TableName=target)["Table"]
            status = table["TableStatus"]
            return JobView(
                status,
                done=status != "CREATING",
                n=int(table.get("ItemCount", 0)),
                total=expected,
                answer={"Table": table},
            )

        view = wait_items(
            look,
            endpoint=endpoint,
            desc=f"restore {target}",
            timeout=timeout,
            progress=progress,
            as_json=as_json,
        )
        if view.failed:
            raise click.ClickException(f"restore of {target} from {origin}: {view.failed}")
        assert view.answer is not None
        answer = view.answer
    if as_json:
        echo_json(answer)
        return
    table = answer.get("Table") or answer["TableDescription"]
    if wait:
        click.echo(
            f"restored {target} from {origin}: {table['TableStatus']}, {_items(table.get('ItemCount'))}"
        )
    else:
        click.echo(f"restore of {target} from {origin} started ({table['TableStatus']})")


# ---------------------------------------------------------------- pitr


def _print_pitr(table: str, answer: dict[str, Any]) -> None:
    desc = answer["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    status = desc.get("PointInTimeRecoveryStatus", "DISABLED")
    if status != "ENABLED":
        click.echo(f"point-in-time recovery of {table}: {status}")
        return
    days = desc.get("RecoveryPeriodInDays")
    line = f"point-in-time recovery of {table}: ENABLED, {days} days"
    earliest, latest = desc.get("EarliestRestorableDateTime"), desc.get("LatestRestorableDateTime")
    if earliest is not None and latest is not None:
        line += f"; restorable from {show_time(earliest)} to {show_time(latest)} UTC"
    else:
        line += "; the first snapshot is being taken (nothing restorable yet)"
    click.echo(line)


@click.group()
def pitr() -> None:
    """Enable, disable and describe point-in-time recovery of a table.

    With PITR on, the region keeps periodic snapshots of the table plus its change
    log, and `globaltables backup restore --table T --at TIME --to NEW` restores any
    second of the window (RecoveryPeriodInDays, 1-35) into a new table.
    """


@pitr.command("enable")
@endpoint_option
@click.option("--table", required=True, help="The table (name or ARN).")
@click.option(
    "--days",
    type=click.IntRange(1, 35),
    default=None,
    help="RecoveryPeriodInDays, 1-35. [default: 35, or the current period]",
)
@as_json_option
def enable(endpoint: str, table: str, days: int | None, as_json: bool) -> None:
    """Turn PITR on (UpdateContinuousBackups), or change its period."""
    spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
    if days is not None:
        spec["RecoveryPeriodInDays"] = days
    answer = call(
        client_for(endpoint),
        "update_continuous_backups",
        TableName=table,
        PointInTimeRecoverySpecification=spec,
    )
    if as_json:
        echo_json(answer)
        return
    _print_pitr(table, answer)


@pitr.command("disable")
@endpoint_option
@click.option("--table", required=True, help="The table (name or ARN).")
@as_json_option
def disable(endpoint: str, table: str, as_json: bool) -> None:
    """Turn PITR off: the table's snapshots and logged changes are deleted."""
    answer = call(
        client_for(endpoint),
        "update_continuous_backups",
        TableName=table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )
    if as_json:
        echo_json(answer)
        return
    _print_pitr(table, answer)


@pitr.command("describe")
@endpoint_option
@click.option("--table", required=True, help="The table (name or ARN).")
@as_json_option
def describe(endpoint: str, table: str, as_json: bool) -> None:
    """Show whether PITR is on and its restorable window (DescribeContinuousBackups)."""
    answer = call(client_for(endpoint), "describe_continuous_backups", TableName=table)
    if as_json:
        echo_json(answer)
        return
    _print_pitr(table, answer)
