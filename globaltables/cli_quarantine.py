"""``globaltables quarantine``: remote records a region put aside instead of applying.

A region's applier quarantines every Kafka record that fails its signature, its
format or its table's checks, or whose apply raised (replicator/quarantine.py).
These commands call the region's ``/v1/quarantine`` routes, signed with the usual
AWS credentials: they need the deployment's admin key, since entries hold item
data.  The quarantine is per region: ask the region that refused the records.
"""

from __future__ import annotations

import datetime
import json

import click

from globaltables.cli_users import call_region

__all__ = ["quarantine"]

_endpoint = click.option(
    "--endpoint",
    required=True,
    envvar="GLOBALTABLES_ENDPOINT",
    help="URL of the region whose quarantine to read, e.g. http://127.0.0.1:8001.",
)
_as_json = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")


def _when(at_ms: int) -> str:
    return datetime.datetime.fromtimestamp(at_ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def quarantine() -> None:
    """List, show, replay or drop quarantined remote records (admin key)."""


@quarantine.command("list")
@_endpoint
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--before", type=click.IntRange(min=1), default=None, help="Only ids below this.")
@_as_json
def list_cmd(endpoint: str, limit: int, before: int | None, as_json: bool) -> None:
    """The newest entries: id, time, source, where in Kafka, reason."""
    path = f"/v1/quarantine?limit={limit}" + (f"&before={before}" if before else "")
    body = call_region(endpoint, "GET", path)
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    held = body["held"]
    click.echo(
        f"{body['region']}: {held['held']} quarantined"
        + (
            f" ({', '.join(f'{r}: {n}' for r, n in sorted(held['by_reason'].items()))})"
            if held["held"]
            else ""
        )
    )
    for e in body["entries"]:
        where = f"{e['topic']}[{e['partition']}]@{e['offset']}"
        click.echo(
            f"{e['id']:>6}  {_when(e['at_ms'])}  {e['source']:<16} {where:<44} "
            f"{e['reason']:<16} {e['detail']}"
        )


@quarantine.command()
@_endpoint
@click.argument("entry_id", type=click.IntRange(min=1))
def show(endpoint: str, entry_id: int) -> None:
    """One entry in full: its reason, and the message's key, headers and value."""
    click.echo(json.dumps(call_region(endpoint, "GET", f"/v1/quarantine/{entry_id}"), indent=2))


@quarantine.command()
@_endpoint
@click.argument("entry_ids", nargs=-1, required=True, type=click.IntRange(min=1))
def replay(endpoint: str, entry_ids: tuple[int, ...]) -> None:
    """Check entries again with today's keys, clock and tables, and apply those that
    pass (a forged record stays refused).  Applied entries leave the quarantine."""
    failed = 0
    for qid in entry_ids:
        out = call_region(endpoint, "POST", f"/v1/quarantine/{qid}/replay")
        if out["outcome"] == "rejected":
            failed += 1
            click.echo(f"{qid}: still refused: {out['reason']}: {out['detail']}")
        else:
            click.echo(f"{qid}: {out['outcome']}")
    if failed:
        raise SystemExit(1)


@quarantine.command()
@_endpoint
@click.argument("entry_ids", nargs=-1, required=True, type=click.IntRange(min=1))
def drop(endpoint: str, entry_ids: tuple[int, ...]) -> None:
    """Forget entries (what they held is not applied)."""
    for qid in entry_ids:
        call_region(endpoint, "DELETE", f"/v1/quarantine/{qid}")
        click.echo(f"{qid}: dropped")
