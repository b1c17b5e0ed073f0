"""The ``globaltables`` command line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from globaltables.cli_bench import bench
from globaltables.cli_kafka import kafka
from globaltables.cli_replicas import replicas
from globaltables.cli_users import keys, users
from globaltables.cli_verify import verify
from globaltables.cli_workload import workload

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
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="GLOBALTABLES_HOST",
    help="Address to listen on (0.0.0.0 in a container).",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=int,
    envvar="GLOBALTABLES_PORT",
    help="HTTP port of the API.",
)
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
    envvar="GLOBALTABLES_PEERS",
    help="A peer region as NAME=URL (repeatable), e.g. --peer eu-west-1=http://127.0.0.1:8001; "
    "in the environment, space-separated NAME=URL pairs.",
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
    "--stream-retention",
    default=86400,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds DynamoDB Streams records are kept (DynamoDB: 24 h); a deleted table's "
    "stream stays listed and readable this long. Records not yet published to Kafka are "
    "never trimmed.",
)
@click.option(
    "--housekeeping-interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Most seconds between two housekeeping rounds (stream trimming, tombstone "
    "collection); never more than a quarter of --stream-retention (at least 1 s).",
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
    "--burst-seconds",
    default=300.0,
    show_default=True,
    type=float,
    help="Seconds of unused provisioned capacity a table banks for bursts (DynamoDB: 300).",
)
@click.option(
    "--identity-sync-interval",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, max=3600, min_open=True),
    help="Seconds between two comparisons of the users and access keys with each peer "
    "(a region pulls what it lacks, e.g. users created before it joined).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="GLOBALTABLES_CONFIG",
    help="TOML (or .json) file with admin_access_key_id, admin_secret_access_key and "
    "secret_key (docs/security.md); the options and variables below win over it.",
)
@click.option(
    "--admin-access-key-id",
    default=None,
    envvar="GLOBALTABLES_ADMIN_ACCESS_KEY_ID",
    show_envvar=True,
    help="The bootstrap admin key's id (the same in every region).",
)
@click.option(
    "--admin-secret-access-key",
    default=None,
    envvar="GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY",
    show_envvar=True,
    help="Its secret. Prefer the variable or --config: the command line is visible to "
    "every user of the machine.",
)
@click.option(
    "--secret-key",
    default=None,
    envvar="GLOBALTABLES_SECRET_KEY",
    show_envvar=True,
    help="Encrypts stored access keys (at least 16 characters, the same in every region). "
    "Prefer the variable or --config.",
)
@click.option(
    "--allow-anonymous",
    is_flag=True,
    envvar="GLOBALTABLES_ALLOW_ANONYMOUS",
    help="Serve unsigned requests, unrestricted (local development only). "
    "Signed requests are still verified.",
)
@click.option(
    "--public-status/--no-public-status",
    default=True,
    show_default=True,
    envvar="GLOBALTABLES_PUBLIC_STATUS",
    help="Serve the dashboard's read-only data (/v1/deployment, /v1/replication, "
    "/v1/conflicts) without a signature.",
)
@click.option(
    "--clock-skew-ms",
    default=0,
    type=int,
    hidden=True,
    envvar="GLOBALTABLES_CLOCK_SKEW_MS",
    help="Testing knob (docs/reliability.md): add this many ms to the wall clock the "
    "region's hybrid logical clock reads, to test last-writer-wins under clock skew.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    envvar="GLOBALTABLES_WORKERS",
    help="Processes serving the API on the port: this one and WORKERS-1 workers that "
    "answer item operations over the same store (one core each; docs/regions.md).",
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
    stream_retention: int,
    housekeeping_interval: float,
    ttl_interval: float,
    ttl_change_window: int,
    burst_seconds: float,
    identity_sync_interval: float,
    config_file: Path | None,
    admin_access_key_id: str | None,
    admin_secret_access_key: str | None,
    secret_key: str | None,
    allow_anonymous: bool,
    public_status: bool,
    clock_skew_ms: int,
    workers: int,
    log_level: str,
) -> None:
    """Run one region: the DynamoDB API, the REST API and the replicator.

    Every request must be signed (SigV4, as by boto3 or the AWS CLI) unless
    --allow-anonymous; the bootstrap admin key comes from
    GLOBALTABLES_ADMIN_ACCESS_KEY_ID / GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY or --config.
    """
    import uvicorn

    from api.app import create_app
    from globaltables.config_file import ConfigError, load_config
    from regions.auth_settings import AuthSettings
    from regions.region import Region
    from regions.settings import RegionSettings, parse_peer
    from replicator import signing
    from replicator.peers import HttpPeers
    from replicator.runner import Replicator

    _setup_logging(log_level)
    file: dict[str, str] = {}
    if config_file is not None:
        try:
            file, warnings = load_config(config_file)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--config") from None
        for warning in warnings:
            logging.getLogger("globaltables.config").warning("%s", warning)
    try:
        auth = AuthSettings(
            admin_access_key_id=admin_access_key_id or file.get("admin_access_key_id"),
            admin_secret_access_key=admin_secret_access_key
            or file.get("admin_secret_access_key"),
            secret_key=secret_key or file.get("secret_key"),
            allow_anonymous=allow_anonymous,
            public_status=public_status,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
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
            change_retention_s=stream_retention,
            housekeeping_interval_s=housekeeping_interval,
            sqlite_synchronous=sqlite_synchronous,
            ttl_interval_s=ttl_interval,
            ttl_change_window_s=ttl_change_window,
            burst_s=burst_seconds,
            identity_sync_interval_s=identity_sync_interval,
            processes=workers,
            auth=auth,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if auth.admin is None and not allow_anonymous:
        raise click.UsageError(
            "no admin key: set GLOBALTABLES_ADMIN_ACCESS_KEY_ID and "
            "GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY (or --config FILE), or pass "
            "--allow-anonymous for local development (docs/security.md)"
        )
    logging.getLogger("globaltables.auth").info(
        "SigV4 authentication: admin key %s, %s, status endpoints %s, secret key %s",
        auth.admin_access_key_id or "none",
        "unsigned requests allowed (anonymous)" if allow_anonymous else "every request signed",
        "public" if public_status else "signed",
        "set" if auth.secret_key else "NOT set (access keys cannot be created)",
    )
    peer_auth = signing.for_admin(auth, {url: peer for peer, url in peer_map.items()})
    clock = None
    if clock_skew_ms:
        from regions.versions import HybridClock, wall_ms

        logging.getLogger("globaltables.clock").warning(
            "clock skewed by %+d ms (--clock-skew-ms, a testing knob)", clock_skew_ms
        )
        clock = HybridClock(now_ms=lambda: wall_ms() + clock_skew_ms)
    the_region = Region(settings, peers=HttpPeers(peer_map, auth=peer_auth), clock=clock)
    try:
        replicator = Replicator(the_region, kafka, sorted(peer_map)) if kafka else None
    except ValueError as exc:  # a malformed tuning variable (replicator/publisher.py)
        raise click.UsageError(str(exc)) from None
    if workers == 1:
        app = create_app(the_region, replicator)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    from api.workers import WorkerPool, listen

    # every process of the region listens on the port (SO_REUSEPORT: the kernel spreads
    # connections over them); the workers relay what they do not serve on a private one
    try:
        public = listen(host, port, reuse_port=True)
        private = listen("127.0.0.1", 0)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    pool = WorkerPool(
        workers,
        host=host,
        # the port actually bound (--port 0 picks one: the workers must share it)
        port=public.getsockname()[1],
        primary_url=f"http://127.0.0.1:{private.getsockname()[1]}",
        settings=settings,
        extra_args=["--clock-skew-ms", str(clock_skew_ms), "--log-level", log_level],
    )
    the_region.share_processes(pool.signals, worker=False)
    app = create_app(the_region, replicator, workers=pool)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[public, private])



main.add_command(bench)
main.add_command(kafka)
main.add_command(keys)
main.add_command(replicas)
main.add_command(users)
main.add_command(verify)
main.add_command(workload)


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

    from globaltables.aws_auth import http_auth

    params: dict[str, str | int] = {"limit": limit}
    if table:
        params["table"] = table
    try:
        # signed with the usual AWS credentials: the region may run --no-public-status
        resp = httpx.get(
            f"{endpoint.rstrip('/')}/v1/conflicts", params=params, timeout=10, auth=http_auth()
        )
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
