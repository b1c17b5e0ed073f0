"""``globaltables replicas``: add, list and remove replicas of a global table.

These commands speak the DynamoDB API (UpdateTable ReplicaUpdates, DescribeTable)
like any SDK would, with credentials from the usual AWS environment variables or
profile.
"""

from __future__ import annotations

import time
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["replicas"]

_endpoint = click.option(
    "--endpoint",
    required=True,
    envvar="GLOBALTABLES_ENDPOINT",
    help="URL of any region of the table.",
)


def _client(endpoint: str) -> Any:
    from globaltables.aws_auth import dynamodb_client

    # signed with the usual AWS credentials; unsigned without any (--allow-anonymous)
    return dynamodb_client(endpoint)


def _replica_rows(client: Any, table: str) -> list[dict[str, Any]]:
    desc = client.describe_table(TableName=table)["Table"]
    return list(desc.get("Replicas", []))


#: percent done, elapsed and estimated time left; no rate (tqdm's default "{rate}%/s")
BACKFILL_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, {remaining} left"


def backfill_bar(table: str, region: str, file: IO[str] | None = None) -> tqdm[NoReturn]:
    """The progress bar of ``replicas add``: the backfill's percent done (0..100)."""
    from tqdm import tqdm

    return tqdm(
        total=100, desc=f"backfill {table} -> {region}", bar_format=BACKFILL_BAR_FORMAT, file=file
    )


@click.group()
def replicas() -> None:
    """Add, list and remove the replicas of a global table."""


@replicas.command("list")
@_endpoint
@click.argument("table")
def list_replicas(endpoint: str, table: str) -> None:
    """List the replicas of TABLE with their status."""
    client = _client(endpoint)
    try:
        rows = _replica_rows(client, table)
    except client.exceptions.ResourceNotFoundException:
        raise click.ClickException(f"table {table} not found at {endpoint}") from None
    if not rows:
        click.echo(f"{table} is not a global table (a single-region table at {endpoint})")
        return
    for r in rows:
        progress = r.get("ReplicaStatusPercentProgress")
        extra = f" ({progress}%)" if progress is not None else ""
        click.echo(f"{r['RegionName']:<20} {r['ReplicaStatus']}{extra}")


@replicas.command("add")
@_endpoint
@click.argument("table")
@click.argument("region")
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Wait for the backfill to finish."
)
@click.option(
    "--timeout", default=3600, show_default=True, type=int, help="Seconds to wait at most."
)
def add_replica(endpoint: str, table: str, region: str, wait: bool, timeout: int) -> None:
    """Add a replica of TABLE in REGION (copies the existing items)."""
    client = _client(endpoint)
    try:
        client.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": region}}])
    except client.exceptions.ClientError as exc:
        raise click.ClickException(str(exc)) from None
    if not wait:
        click.echo(f"replica of {table} in {region} requested")
        return
    deadline = time.monotonic() + timeout
    with backfill_bar(table, region) as bar:
        while time.monotonic() < deadline:
            row = next((r for r in _replica_rows(client, table) if r["RegionName"] == region), None)
            if row is None:
                raise click.ClickException(f"the replica in {region} disappeared")
            status = row["ReplicaStatus"]
            pct = 100 if status == "ACTIVE" else int(row.get("ReplicaStatusPercentProgress", 0))
            bar.update(pct - bar.n)
            if status == "ACTIVE":
                break
            if status == "CREATION_FAILED":
                raise click.ClickException(f"backfill to {region} failed; see the region's log")
            time.sleep(0.5)
        else:
            raise click.ClickException(f"backfill to {region} not finished after {timeout}s")
    click.echo(f"{table} is ACTIVE in {region}")


@replicas.command("remove")
@_endpoint
@click.argument("table")
@click.argument("region")
def remove_replica(endpoint: str, table: str, region: str) -> None:
    """Remove the replica of TABLE in REGION (deletes that region's copy)."""
    client = _client(endpoint)
    try:
        client.update_table(TableName=table, ReplicaUpdates=[{"Delete": {"RegionName": region}}])
    except client.exceptions.ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"replica of {table} in {region} removed")
