"""The ``globaltables`` command line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from api.edge_limits import EdgeLimits
from globaltables.cli_backup import backup, pitr
from globaltables.cli_bench import bench
from globaltables.cli_exchange import export, import_
from globaltables.cli_kafka import kafka
from globaltables.cli_quarantine import quarantine
from globaltables.cli_replicas import replicas
from globaltables.cli_s3 import s3
from globaltables.cli_users import keys, users
from globaltables.cli_verify import verify
from globaltables.cli_workload import workload
from regions.kafka_security import KafkaSecurity

__all__ = ["main"]


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    # aiokafka logs every reconnect at ERROR/WARNING; our runner reports failures once
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="globaltables", prog_name="globaltables")
def main() -> None:
    """globaltables: self-hosted DynamoDB-compatible global tables.

    Each region serves the DynamoDB API (boto3, AWS CLI) over its own store and
    replicates through Kafka to its peers with last-writer-wins.
    """


def _kafka_security(
    kafka: str | None,
    file: dict[str, str],
    *,
    protocol: str | None,
    mechanism: str | None,
    username: str | None,
    password: str | None,
    ca_file: Path | None,
    insecure: bool,
) -> KafkaSecurity:
    """The replicator's Kafka credentials from the options, variables and --config file;
    a usage error if --kafka is given with neither credentials nor the insecure flag."""
    protocol = protocol or file.get("kafka_security_protocol")
    mechanism = mechanism or file.get("kafka_sasl_mechanism") or "SCRAM-SHA-512"
    username = username or file.get("kafka_username")
    password = password or file.get("kafka_password")
    ca = str(ca_file) if ca_file is not None else file.get("kafka_ca_file")
    log = logging.getLogger("globaltables.kafka")
    if insecure:
        if username or password or protocol not in (None, "PLAINTEXT") or ca:
            raise click.UsageError(
                "--kafka-insecure-plaintext takes no Kafka credentials, TLS or other "
                "security protocol"
            )
        if kafka:
            log.warning(
                "Kafka without authentication or TLS (--kafka-insecure-plaintext): only for a "
                "broker started with `kafka start --insecure-plaintext`"
            )
        return KafkaSecurity.insecure()
    if protocol is None:
        protocol = "SASL_PLAINTEXT" if username or password else None
    if protocol is None or (protocol == "PLAINTEXT"):
        if kafka:
            raise click.UsageError(
                "--kafka needs credentials: --kafka-username and --kafka-password (or "
                "GLOBALTABLES_KAFKA_USERNAME / GLOBALTABLES_KAFKA_PASSWORD, or kafka_username / "
                "kafka_password in --config; `globaltables kafka grant` makes them), or "
                "--kafka-insecure-plaintext for a broker without authentication"
            )
        return KafkaSecurity.insecure()
    if ca is not None and not Path(ca).is_file():
        raise click.BadParameter(f"no such file: {ca}", param_hint="--kafka-ca-file")
    try:
        security = KafkaSecurity(
            protocol=protocol,
            mechanism=mechanism,
            username=username if protocol.startswith("SASL_") else None,
            password=password if protocol.startswith("SASL_") else None,
            ca_file=ca,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if kafka:
        log.info("Kafka: %s", security.describe())
    return security


@main.command()
@click.option(
    "--name",
    required=True,
    envvar="GLOBALTABLES_REGION",
    show_envvar=True,
    help="Region name, e.g. us-east-1.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="GLOBALTABLES_HOST",
    show_envvar=True,
    help="Address to listen on (0.0.0.0 in a container).",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=int,
    envvar="GLOBALTABLES_PORT",
    show_envvar=True,
    help="HTTP port of the API.",
)
@click.option(
    "--store",
    "store_url",
    default=None,
    envvar="GLOBALTABLES_STORE",
    show_envvar=True,
    help="Store URL: sqlite:///PATH (default: sqlite:///.data/<name>.db) or postgresql://USER@HOST:PORT/DB.",
)
@click.option(
    "--kafka",
    default=None,
    envvar="GLOBALTABLES_KAFKA",
    show_envvar=True,
    help="Kafka bootstrap servers (host:port). Without it the region does not replicate.",
)
@click.option(
    "--kafka-security-protocol",
    type=click.Choice(["SASL_PLAINTEXT", "SASL_SSL", "SSL", "PLAINTEXT"]),
    default=None,
    envvar="GLOBALTABLES_KAFKA_SECURITY_PROTOCOL",
    show_envvar=True,
    help="How the replicator talks to Kafka. [default: SASL_PLAINTEXT with a username, "
    "PLAINTEXT with --kafka-insecure-plaintext]",
)
@click.option(
    "--kafka-sasl-mechanism",
    type=click.Choice(["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]),
    default=None,
    envvar="GLOBALTABLES_KAFKA_SASL_MECHANISM",
    show_envvar=True,
    help="SASL mechanism of the SASL_* protocols. [default: SCRAM-SHA-512]",
)
@click.option(
    "--kafka-username",
    default=None,
    envvar="GLOBALTABLES_KAFKA_USERNAME",
    show_envvar=True,
    help="The region's Kafka principal, region-NAME from `globaltables kafka grant`.",
)
@click.option(
    "--kafka-password",
    default=None,
    envvar="GLOBALTABLES_KAFKA_PASSWORD",
    show_envvar=True,
    help="Its password. Prefer the variable or --config: the command line is visible to "
    "every user of the machine.",
)
@click.option(
    "--kafka-ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="GLOBALTABLES_KAFKA_CA_FILE",
    show_envvar=True,
    help="CA bundle (PEM) that signs the brokers' certificates (SSL, SASL_SSL). "
    "[default: the system's trust store]",
)
@click.option(
    "--kafka-insecure-plaintext",
    is_flag=True,
    envvar="GLOBALTABLES_KAFKA_INSECURE_PLAINTEXT",
    show_envvar=True,
    help="Talk to Kafka without credentials or TLS (a broker started with "
    "`kafka start --insecure-plaintext`; local experiments only).",
)
@click.option(
    "--peer",
    "peers",
    multiple=True,
    envvar="GLOBALTABLES_PEERS",
    show_envvar=True,
    help="A peer region as NAME=URL (repeatable), e.g. --peer eu-west-1=http://127.0.0.1:8001; "
    "in the environment, space-separated NAME=URL pairs.",
)
@click.option(
    "--peer-kafka",
    "peer_kafka",
    multiple=True,
    envvar="GLOBALTABLES_PEER_KAFKA",
    show_envvar=True,
    help="The Kafka cluster that holds peer NAME's change topic, as NAME=BOOTSTRAP "
    "(repeatable; in the environment, space-separated pairs). A peer not named is read "
    "from --kafka. The same Kafka credentials on every cluster unless --config's peer_kafka "
    "gives a cluster its own (docs/regions.md).",
)
@click.option(
    "--partitions",
    default=None,
    type=click.IntRange(1, 1024),
    help="Partitions of each new table, fixed for its life [default: 8 on SQLite, 64 on "
    "PostgreSQL, where a partition's writes take turns across a region's nodes].",
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
    "--stream-shard-rollover",
    default=4 * 3600.0,
    show_default=True,
    type=click.FloatRange(1, 7 * 24 * 3600),
    envvar="GLOBALTABLES_STREAM_SHARD_ROLLOVER_S",
    show_envvar=True,
    help="Seconds a DynamoDB Streams shard takes records before it is closed and a child "
    "shard of the same partition opened (DynamoDB: about 4 h). Changing it re-cuts the "
    "shards of existing streams.",
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
    "--pitr-snapshot-interval",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=7 * 24 * 3600),
    help="Seconds between two point-in-time recovery snapshots of a table with PITR "
    "enabled (a restore replays at most this much of the change log).",
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
    show_envvar=True,
    help="TOML (or .json) file with admin_access_key_id, admin_secret_access_key, "
    "secret_key and the kafka_* settings (kafka_username, kafka_password, ...; "
    "docs/security.md); options and variables win over it.",
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
    "--replication-keys",
    default=None,
    envvar="GLOBALTABLES_REPLICATION_KEYS",
    show_envvar=True,
    help="Comma-separated keys (16+ characters each, the same list in every region) that "
    "sign the change records this region publishes (the first) and verify those it reads "
    "(any); default: the secret key. Rotation: docs/security.md.",
)
@click.option(
    "--max-clock-ahead",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 86400),
    envvar="GLOBALTABLES_MAX_CLOCK_AHEAD_S",
    show_envvar=True,
    help="Seconds a remote change's version may be ahead of this region's clock; "
    "further ahead, it is quarantined, not applied (docs/reliability.md).",
)
@click.option(
    "--allow-anonymous",
    is_flag=True,
    envvar="GLOBALTABLES_ALLOW_ANONYMOUS",
    show_envvar=True,
    help="Serve unsigned requests, unrestricted (local development only). "
    "Signed requests are still verified.",
)
@click.option(
    "--public-status/--no-public-status",
    default=True,
    show_default=True,
    envvar="GLOBALTABLES_PUBLIC_STATUS",
    show_envvar=True,
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
    show_envvar=True,
    help="Processes serving the API on the port: this one and WORKERS-1 workers that "
    "answer item operations over the same store (one core each; docs/regions.md).",
)
@click.option(
    "--max-request-line",
    default=EdgeLimits.max_request_line,
    show_default=True,
    type=click.IntRange(min=1024),
    envvar="GLOBALTABLES_MAX_REQUEST_LINE",
    show_envvar=True,
    help="Bytes of a request's target (URL); longer: 400, connection closed (docs/security.md).",
)
@click.option(
    "--max-header-bytes",
    default=EdgeLimits.max_header_bytes,
    show_default=True,
    type=click.IntRange(min=1024),
    envvar="GLOBALTABLES_MAX_HEADER_BYTES",
    show_envvar=True,
    help="Bytes of a request's head (request line and headers); more: 400, connection closed.",
)
@click.option(
    "--header-timeout",
    default=EdgeLimits.header_timeout,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    envvar="GLOBALTABLES_HEADER_TIMEOUT",
    show_envvar=True,
    help="Seconds a request head may take from its first byte (a new connection: from its "
    "start); then 408 and the connection is closed.",
)
@click.option(
    "--body-timeout",
    default=EdgeLimits.body_timeout,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    envvar="GLOBALTABLES_BODY_TIMEOUT",
    show_envvar=True,
    help="Seconds a request body may take after its head, plus a second per "
    "--body-min-rate bytes received; then 408 and the connection is closed.",
)
@click.option(
    "--body-min-rate",
    default=EdgeLimits.body_min_rate,
    show_default=True,
    type=click.IntRange(min=0),
    envvar="GLOBALTABLES_BODY_MIN_RATE",
    show_envvar=True,
    help="Bytes of body that extend --body-timeout by one second (0: a fixed deadline).",
)
@click.option(
    "--idle-timeout",
    default=EdgeLimits.idle_timeout,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="GLOBALTABLES_IDLE_TIMEOUT",
    show_envvar=True,
    help="Seconds an idle keep-alive connection stays open.",
)
@click.option(
    "--max-connections",
    default=EdgeLimits.max_connections,
    show_default=True,
    type=click.IntRange(min=1),
    envvar="GLOBALTABLES_MAX_CONNECTIONS",
    show_envvar=True,
    help="Connections each process of the region serves at once; a request on a "
    "connection over the cap is answered 503 and the connection closed.",
)
@click.option(
    "--node-id",
    default="n1",
    show_default=True,
    envvar="GLOBALTABLES_NODE_ID",
    show_envvar=True,
    help="This node of the region. Several nodes (on several hosts) may serve one region "
    "over one PostgreSQL --store, each with its own id; one of them leads (replication, "
    "TTL, index builds), another takes over when it dies. A SQLite store has one node "
    "(docs/regions.md).",
)
@click.option(
    "--s3-endpoint",
    default=None,
    help="URL of the S3-compatible service that keeps backups, PITR snapshots and exports "
    "(else AWS_ENDPOINT_URL_S3, the --config file's [s3] table; AWS S3 when only a bucket "
    "is given). Without S3 they stay next to the store. Credentials: the AWS_* variables "
    "or [s3] (docs/regions.md).",
)
@click.option(
    "--s3-region",
    default=None,
    help="The S3 region to sign for (else [s3] region, AWS_REGION, AWS_DEFAULT_REGION, "
    "us-east-1).",
)
@click.option(
    "--s3-bucket",
    default=None,
    help="The bucket of this region's backups and snapshots, created if missing "
    "(default: globaltables-NAME); giving it turns S3 on.",
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
    kafka_security_protocol: str | None,
    kafka_sasl_mechanism: str | None,
    kafka_username: str | None,
    kafka_password: str | None,
    kafka_ca_file: Path | None,
    kafka_insecure_plaintext: bool,
    peers: tuple[str, ...],
    peer_kafka: tuple[str, ...],
    partitions: int | None,
    topic_partitions: int,
    sqlite_synchronous: str,
    tombstone_horizon: int,
    stream_retention: int,
    stream_shard_rollover: float,
    housekeeping_interval: float,
    ttl_interval: float,
    pitr_snapshot_interval: float,
    ttl_change_window: int,
    burst_seconds: float,
    identity_sync_interval: float,
    config_file: Path | None,
    admin_access_key_id: str | None,
    admin_secret_access_key: str | None,
    secret_key: str | None,
    replication_keys: str | None,
    max_clock_ahead: float,
    allow_anonymous: bool,
    public_status: bool,
    clock_skew_ms: int,
    workers: int,
    max_request_line: int,
    max_header_bytes: int,
    header_timeout: float,
    body_timeout: float,
    body_min_rate: int,
    idle_timeout: int,
    max_connections: int,
    node_id: str,
    s3_endpoint: str | None,
    s3_region: str | None,
    s3_bucket: str | None,
    log_level: str,
) -> None:
    """Run one region: the DynamoDB API, the REST API and the replicator.

    Every request must be signed (SigV4, as by boto3 or the AWS CLI) unless
    --allow-anonymous; the bootstrap admin key comes from
    GLOBALTABLES_ADMIN_ACCESS_KEY_ID / GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY or --config.
    """
    import uvicorn

    from api.app import create_app
    from api.edge import edge_protocol
    from globaltables.config_file import ConfigError, PeerKafka, peer_kafka_settings, read_config
    from regions.auth_settings import AuthSettings
    from regions.nodes import for_store
    from regions.region import Region, RegionHooks
    from regions.s3_settings import resolve_s3_settings
    from regions.settings import RegionSettings, default_partitions, parse_peer
    from replicator import signing
    from replicator.peers import HttpPeers
    from replicator.record_auth import parse_keys
    from replicator.runner import Replicator

    _setup_logging(log_level)
    edge = EdgeLimits(
        max_request_line=max_request_line,
        max_header_bytes=max_header_bytes,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        body_min_rate=body_min_rate,
        idle_timeout=idle_timeout,
        max_connections=max_connections,
    )
    file: dict[str, str] = {}
    file_peer_kafka: dict[str, PeerKafka] = {}
    file_s3: dict[str, str] = {}
    if config_file is not None:
        try:
            read = read_config(config_file)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--config") from None
        file, file_peer_kafka, warnings = read.values, read.peer_kafka, read.warnings
        file_s3 = read.s3
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
    kafka_security = _kafka_security(
        kafka,
        file,
        protocol=kafka_security_protocol,
        mechanism=kafka_sasl_mechanism,
        username=kafka_username,
        password=kafka_password,
        ca_file=kafka_ca_file,
        insecure=kafka_insecure_plaintext,
    )
    if store_url is None:
        Path(".data").mkdir(exist_ok=True)
        store_url = f"sqlite:///{os.path.abspath(f'.data/{name}.db')}"
    try:
        peer_map = dict(parse_peer(p) for p in peers)
        # each peer's own cluster, and this region's credentials there where they differ
        peer_kafka_map, peer_kafka_security = peer_kafka_settings(
            peer_kafka, file_peer_kafka, kafka_security
        )
        keyring_text = replication_keys or file.get("replication_keys")
        s3 = resolve_s3_settings(
            endpoint_url=s3_endpoint,
            region=s3_region,
            bucket=s3_bucket,
            config=file_s3,
            env=os.environ,
        )
        settings = RegionSettings(
            name=name,
            store_url=store_url,
            partitions=partitions if partitions is not None else default_partitions(store_url),
            kafka=kafka,
            kafka_security=kafka_security,
            peers=peer_map,
            peer_kafka=peer_kafka_map,
            peer_kafka_security=peer_kafka_security,
            topic_partitions=topic_partitions,
            tombstone_horizon_s=tombstone_horizon,
            change_retention_s=stream_retention,
            stream_shard_rollover_s=stream_shard_rollover,
            housekeeping_interval_s=housekeeping_interval,
            sqlite_synchronous=sqlite_synchronous,
            ttl_interval_s=ttl_interval,
            pitr_snapshot_interval_s=pitr_snapshot_interval,
            ttl_change_window_s=ttl_change_window,
            burst_s=burst_seconds,
            identity_sync_interval_s=identity_sync_interval,
            processes=workers,
            auth=auth,
            replication_keys=parse_keys(keyring_text) if keyring_text else (),
            max_clock_ahead_ms=round(max_clock_ahead * 1000),
            node_id=node_id,
            s3=s3,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    nodes = for_store(store_url, name, node_id)
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
    hooks = RegionHooks()
    the_region = Region(
        settings, peers=HttpPeers(peer_map, auth=peer_auth), clock=clock, hooks=hooks
    )
    try:
        replicator = Replicator(the_region, kafka, sorted(peer_map)) if kafka else None
    except ValueError as exc:
        # no key to sign records with, or a malformed tuning variable (replicator/publisher.py)
        raise click.UsageError(str(exc)) from None
    if replicator is not None:
        # a new replica's backfill waits until this region applied what peers published
        hooks.catch_up = replicator.applier.wait_caught_up
    if workers == 1:
        app = create_app(the_region, replicator, nodes=nodes)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            http=edge_protocol(edge),
            **edge.uvicorn_options(),
        )
        return
    from globaltables.workers import WorkerPool, listen

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
        extra_args=[
            *("--clock-skew-ms", str(clock_skew_ms), "--log-level", log_level),
            # the workers serve the same port: the same HTTP limits
            *("--edge-limits", edge.to_json()),
        ],
    )
    the_region.share_processes(pool.signals, worker=False)
    # the region's write counts include the workers' (their reports, via the pool)
    hooks.worker_writes = pool.writes
    app = create_app(the_region, replicator, workers=pool, nodes=nodes)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        # the private port only takes the workers' relays: they do not count against the cap
        http=edge_protocol(edge, uncapped_ports=frozenset({private.getsockname()[1]})),
        **edge.uvicorn_options(),
    )
    uvicorn.Server(config).run(sockets=[public, private])



main.add_command(backup)
main.add_command(bench)
main.add_command(export)
main.add_command(import_)
main.add_command(kafka)
main.add_command(keys)
main.add_command(pitr)
main.add_command(quarantine)
main.add_command(replicas)
main.add_command(s3)
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
        # signed with the usual AWS credentials: keys and losing images are shown only to
        # a key that may read the table (the admin key sees all), and the region may
        # run --no-public-status
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
        keys = c.get("keys")
        key = (
            ",".join(f"{k}={next(iter(v.values()))}" for k, v in keys.items())
            if isinstance(keys, dict)
            else "(hidden)"
        )
        w, lo = c["winner"], c["loser"]
        click.echo(
            f"{when:<24} {c['table']:<20} {key[:30]:<30} {w['origin'] + '@' + str(w['hlc']):<28} {lo['origin']}@{lo['hlc']}"
        )
    if body.get("complete") is False:
        click.echo(
            "(hidden): keys and images are shown only to a key allowed to read the item "
            "(dynamodb:GetItem on the table); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            err=True,
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
