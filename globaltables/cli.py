"""The ``globaltables`` command line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from globaltables.cli_kafka import kafka

__all__ = ["main"]


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    # aiokafka logs every reconnect at ERROR/WARNING; our runner reports failures once
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """globaltables: self-hosted DynamoDB-compatible global tables.

    Each region serves the DynamoDB API (boto3, AWS CLI) over its own store and
    replicates through Kafka to its peers with last-writer-wins.
    """


@main.command()
@click.option(
    "--name", required=True, envvar="GLOBALTABLES_REGION", help="Region name, e.g. us-east-1."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="HTTP port of the API.")
@click.option(
    "--store",
    "store_url",
    default=None,
    envvar="GLOBALTABLES_STORE",
    help="Store URL: sqlite:///PATH (default: sqlite:///.data/<name>.db) or postgresql://USER@HOST:PORT/DB.",
)
@click.option(
    "--kafka",
    default=None,
    envvar="GLOBALTABLES_KAFKA",
    help="Kafka bootstrap servers (host:port). Without it the region does not replicate.",
)
@click.option(
    "--peer",
    "peers",
    multiple=True,
    help="A peer region as NAME=URL (repeatable), e.g. --peer eu-west-1=http://127.0.0.1:8001.",
)
@click.option(
    "--partitions", default=8, show_default=True, type=int, help="Partitions of each new table."
)
@click.option(
    "--topic-partitions",
    default=4,
    show_default=True,
    type=int,
    help="Partitions of this region's change topic.",
)
@click.option(
    "--sqlite-synchronous",
    default="FULL",
    show_default=True,
    type=click.Choice(["FULL", "NORMAL", "EXTRA"], case_sensitive=False),
    help="SQLite durability: FULL loses nothing acknowledged; NORMAL may lose the last commits on power loss.",
)
@click.option(
    "--tombstone-horizon",
    default=86400,
    show_default=True,
    type=int,
    help="Seconds a delete's tombstone is kept.",
)
@click.option(
    "--ttl-interval",
    default=30.0,
    show_default=True,
    type=float,
    help="Seconds between two sweeps for expired (TTL) items.",
)
@click.option(
    "--ttl-change-window",
    default=3600,
    show_default=True,
    type=int,
    help="Seconds UpdateTimeToLive waits between two changes of one table.",
)
@click.option(
    "--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR."
)
def region(
    name: str,
    host: str,
    port: int,
    store_url: str | None,
    kafka: str | None,
    peers: tuple[str, ...],
    partitions: int,
    topic_partitions: int,
    sqlite_synchronous: str,
    tombstone_horizon: int,
    ttl_interval: float,
    ttl_change_window: int,
    log_level: str,
) -> None:
    """Run one region: the DynamoDB API, the REST API and the replicator."""
    import uvicorn

    from api.app import create_app
    from regions.region import Region
    from regions.settings import RegionSettings, parse_peer
    from replicator.peers import HttpPeers
    from replicator.runner import Replicator

    _setup_logging(log_level)
    if store_url is None:
        Path(".data").mkdir(exist_ok=True)
        store_url = f"sqlite:///{os.path.abspath(f'.data/{name}.db')}"
    try:
        peer_map = dict(parse_peer(p) for p in peers)
        settings = RegionSettings(
            name=name,
            store_url=store_url,
            partitions=partitions,
            kafka=kafka,
            peers=peer_map,
            topic_partitions=topic_partitions,
            tombstone_horizon_s=tombstone_horizon,
            sqlite_synchronous=sqlite_synchronous,
            ttl_interval_s=ttl_interval,
            ttl_change_window_s=ttl_change_window,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    the_region = Region(settings, peers=HttpPeers(peer_map))
    replicator = Replicator(the_region, kafka, sorted(peer_map)) if kafka else None
    app = create_app(the_region, replicator)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


main.add_command(kafka)


@main.command()
@click.option(
    "--endpoint",
    required=True,
    envvar="GLOBALTABLES_ENDPOINT",
    help="Region URL, e.g. http://127.0.0.1:8000.",
)
@click.option("--table", default=None, help="Only conflicts of this table.")
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
def conflicts(endpoint: str, table: str | None, limit: int, as_json: bool) -> None:
    """Show the region's conflict log: remote writes that lost last-writer-wins."""
    import datetime
    import json

    import httpx

    params: dict[str, str | int] = {"limit": limit}
    if table:
        params["table"] = table
    try:
        resp = httpx.get(f"{endpoint.rstrip('/')}/v1/conflicts", params=params, timeout=10)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot read conflicts from {endpoint}: {exc}") from None
    body = resp.json()
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    rows = body.get("conflicts", [])
    if not rows:
        click.echo(f"no conflicts recorded in {body.get('region', endpoint)}")
        return
    click.echo(f"{'when (UTC)':<24} {'table':<20} {'key':<30} {'winner':<28} loser")
    for c in rows:
        when = datetime.datetime.fromtimestamp(c["at_ms"] / 1000, datetime.UTC).strftime(
            "%Y-%m-%d %H:%M:%S.%f"
        )[:-3]
        key = ",".join(f"{k}={next(iter(v.values()))}" for k, v in c["keys"].items())
        w, lo = c["winner"], c["loser"]
        click.echo(
            f"{when:<24} {c['table']:<20} {key[:30]:<30} {w['origin'] + '@' + str(w['hlc']):<28} {lo['origin']}@{lo['hlc']}"
        )


@main.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=Path(".data/demo"),
    show_default=True,
    help="Where the demo keeps Kafka and the region stores.",
)
@click.option(
    "--kafka-port",
    default=9092,
    show_default=True,
    type=int,
    help="Port of the demo's Kafka broker.",
)
@click.option(
    "--base-port",
    default=8000,
    show_default=True,
    type=int,
    help="First region's port; the others follow.",
)
@click.option(
    "--duration", default=0, type=int, help="Stop after this many seconds (0 = until Ctrl-C)."
)
@click.option(
    "--rate", default=5.0, show_default=True, type=float, help="Writes per second per region."
)
def demo(data: Path, kafka_port: int, base_port: int, duration: int, rate: float) -> None:
    """Start Kafka and three replicating regions with a small workload."""
    from globaltables.demo import run_demo

    _setup_logging("WARNING")
    raise SystemExit(run_demo(data, kafka_port, base_port, duration, rate))


if __name__ == "__main__":
    main()
