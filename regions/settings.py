"""A region's configuration: who it is, where its data lives, who its peers are."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from regions.auth_settings import AuthSettings
from regions.kafka_security import KafkaSecurity
from regions.s3_settings import S3Settings

__all__ = [
    "DEFAULT_PARTITIONS_POSTGRESQL",
    "DEFAULT_PARTITIONS_SQLITE",
    "RegionSettings",
    "default_partitions",
    "parse_peer",
    "parse_peer_kafka",
]

_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: Kafka bootstrap servers: HOST:PORT, comma-separated (a bracketed IPv6 host too)
_BOOTSTRAP_RE = re.compile(r"^[^\s,=/]+:\d{1,5}(\s*,\s*[^\s,=/]+:\d{1,5})*$")


def parse_peer(spec: str) -> tuple[str, str]:
    """``eu-west-1=http://127.0.0.1:8001`` -> (name, endpoint)."""
    name, sep, url = spec.partition("=")
    if not sep or not name or not url.startswith(("http://", "https://")):
        raise ValueError(f"peer must look like NAME=http://HOST:PORT, got {spec!r}")
    return name.strip(), url.strip().rstrip("/")


def parse_peer_kafka(spec: str) -> tuple[str, str]:
    """``eu-west-1=kafka-eu:9092`` -> (name, bootstrap servers): the Kafka cluster that
    holds that peer's change topic (``--peer-kafka``)."""
    name, sep, bootstrap = spec.partition("=")
    name, bootstrap = name.strip(), bootstrap.strip()
    if not sep or not name or not _BOOTSTRAP_RE.match(bootstrap):
        raise ValueError(f"peer Kafka must look like NAME=HOST:PORT[,HOST:PORT...], got {spec!r}")
    return name, bootstrap


#: partitions of a new table where ``--partitions`` is not given.  Why more on
#: PostgreSQL: a region there may run several nodes, and a partition's writes take
#: turns on its advisory lock whichever node they come through, so the count bounds
#: how many nodes' write groups commit side by side.  With 8, two nodes wrote no faster
#: than one; with 64, 1.4 times as fast (docs/benchmarks.md, "Several nodes per
#: region").  A SQLite store has one node and one writer: 8 is plenty.
DEFAULT_PARTITIONS_SQLITE = 8
DEFAULT_PARTITIONS_POSTGRESQL = 64


def default_partitions(store_url: str) -> int:
    """Partitions of a new table on the store at ``store_url`` (see above)."""
    if store_url.startswith("postgres"):
        return DEFAULT_PARTITIONS_POSTGRESQL
    return DEFAULT_PARTITIONS_SQLITE


@dataclass(frozen=True)
class RegionSettings:
    name: str
    store_url: str
    #: partitions of each table created here (a table keeps its count for life)
    partitions: int = 8
    #: Kafka bootstrap servers; None runs the region without replication
    kafka: str | None = None
    #: how the replicator authenticates to Kafka (its principal, TLS); the password
    #: stays out of repr
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    #: peer region name -> HTTP endpoint
    peers: dict[str, str] = field(default_factory=dict)
    #: peer region name -> bootstrap servers of the Kafka cluster that holds its change
    #: topic (``--peer-kafka``); a peer not listed is read from ``kafka``, the one
    #: shared cluster (docs/regions.md, "Each region its own Kafka")
    peer_kafka: dict[str, str] = field(default_factory=dict)
    #: peer region name -> this region's credentials on that peer's cluster, where they
    #: are not ``kafka_security`` (the ``peer_kafka`` tables of ``--config``)
    peer_kafka_security: dict[str, KafkaSecurity] = field(default_factory=dict)
    #: partitions of this region's change topic
    topic_partitions: int = 4
    account_id: str = "000000000000"
    #: how long a delete's tombstone outlives it (invariant 4)
    tombstone_horizon_s: int = 24 * 3600
    #: how long change records are kept for the Streams API (DynamoDB: 24 h), and a
    #: deleted table's stream with them
    change_retention_s: int = 24 * 3600
    #: seconds a stream shard takes records before it is closed and a child shard of
    #: the same partition opened (DynamoDB: about 4 h); shards are generations of this
    #: length counted from the stream's creation (regions/streams.py)
    stream_shard_rollover_s: float = 4 * 3600.0
    #: most seconds between two housekeeping rounds (trimming, tombstone GC); see
    #: housekeeping_period_s for the period actually used
    housekeeping_interval_s: float = 60.0
    sqlite_synchronous: str = "FULL"
    #: how long LWW conflict-log entries are kept
    conflict_retention_s: int = 7 * 24 * 3600
    #: seconds between two TTL sweeps (expiry is best effort, as in DynamoDB)
    ttl_interval_s: float = 30.0
    #: seconds between two point-in-time recovery snapshots of a table with PITR
    #: enabled (regions/protection/pitr.py); a restore replays at most this much of
    #: the change log on top of its snapshot
    pitr_snapshot_interval_s: float = 3600.0
    #: UpdateTimeToLive allows one change per table per window (DynamoDB: an hour)
    ttl_change_window_s: int = 3600
    #: seconds of unused provisioned capacity a table banks for bursts (DynamoDB: 300)
    burst_s: float = 300.0
    #: seconds between two anti-entropy rounds of the identities table with each peer
    #: (replicator/identity_sync.py); the first round runs shortly after start
    identity_sync_interval_s: float = 30.0
    #: a remote version whose time is further ahead of this region's wall clock is
    #: quarantined, not applied (regions/remote_check.py)
    max_clock_ahead_ms: int = 60_000
    #: processes serving the region's API (--workers): the primary and processes-1
    #: workers that serve item operations over the same store
    processes: int = 1
    #: this node of the region (--node-id): several nodes may serve one region over a
    #: PostgreSQL store (regions/nodes.py)
    node_id: str = "n1"
    #: SigV4 authentication: admin key, secret key, anonymous/public switches
    auth: AuthSettings = field(default_factory=AuthSettings)
    #: the deployment's replication keyring (replicator/record_auth.py), the signing
    #: key first; empty: the secret key is the one key
    replication_keys: tuple[str, ...] = field(default=(), repr=False)
    #: the S3-compatible service of backups, PITR snapshots and exports
    #: (regions/s3_settings.py); None keeps them next to the store
    #: (regions/protection/object_store_factory.py)
    s3: S3Settings | None = None

    def __post_init__(self) -> None:
        if not _REGION_RE.match(self.name):
            raise ValueError(
                f"region name must be lowercase letters, digits and '-': {self.name!r}"
            )
        if not 1 <= self.partitions <= 1024:
            raise ValueError("partitions must be between 1 and 1024")
        if self.name in self.peers:
            raise ValueError("a region cannot be its own peer")
        self._check_peer_kafka()
        if self.ttl_interval_s <= 0:
            raise ValueError("the TTL sweep interval must be positive")
        if self.ttl_change_window_s < 0:
            raise ValueError("the TTL change window cannot be negative")
        if self.burst_s <= 0:
            raise ValueError("the burst capacity window must be positive")
        if not 0 < self.identity_sync_interval_s <= 3600:
            raise ValueError("the identity sync interval must be between 0 and 3600 seconds")
        if not 1 <= self.processes <= 64:
            raise ValueError("the number of processes must be between 1 and 64")
        if self.change_retention_s < 0:
            raise ValueError("the stream retention cannot be negative")
        if not 1_000 <= self.max_clock_ahead_ms <= 24 * 3600 * 1000:
            raise ValueError("the clock-ahead bound must be between 1 s and 24 h")
        from regions.nodes import validate_node_id

        validate_node_id(self.node_id)
        if not 0.1 <= self.pitr_snapshot_interval_s <= 7 * 24 * 3600:
            raise ValueError("the PITR snapshot interval must be between 0.1 s and 7 days")
        if self.housekeeping_interval_s <= 0:
            raise ValueError("the housekeeping interval must be positive")
        if not 1.0 <= self.stream_shard_rollover_s <= 7 * 24 * 3600:
            raise ValueError("the stream shard rollover must be between 1 s and 7 days")

    def _check_peer_kafka(self) -> None:
        if self.peer_kafka and self.kafka is None:
            raise ValueError("a peer's Kafka (--peer-kafka) needs this region's own --kafka")
        for peer, bootstrap in self.peer_kafka.items():
            if peer == self.name:
                raise ValueError(
                    f"--peer-kafka names this region ({peer}): its own cluster is --kafka"
                )
            if peer not in self.peers:
                raise ValueError(f"--peer-kafka names {peer}, which is not a --peer")
            if not _BOOTSTRAP_RE.match(bootstrap):
                raise ValueError(f"the Kafka of {peer} must be HOST:PORT[,...], not {bootstrap!r}")
        extra = sorted(set(self.peer_kafka_security) - set(self.peer_kafka))
        if extra:
            raise ValueError(f"Kafka credentials for {', '.join(extra)} without its --peer-kafka")

    def kafka_of(self, region: str) -> tuple[str, KafkaSecurity]:
        """Where ``region``'s change topic lives and how this region logs in there:
        the peer's own cluster when ``peer_kafka`` names one, else this region's
        (``kafka``, which must be set)."""
        if region in self.peer_kafka:
            security = self.peer_kafka_security.get(region, self.kafka_security)
            return self.peer_kafka[region], security
        if self.kafka is None:
            raise ValueError(f"region {self.name} has no Kafka")
        return self.kafka, self.kafka_security

    def replication_keyring(self) -> tuple[str, ...]:
        """The keys that sign and verify change records on Kafka (invariant 9)."""
        if self.replication_keys:
            return self.replication_keys
        if self.auth.secret_key:
            return (self.auth.secret_key,)
        raise ValueError(
            "replication through Kafka needs a key to sign change records: set "
            "GLOBALTABLES_REPLICATION_KEYS or GLOBALTABLES_SECRET_KEY, the same in every "
            "region (docs/security.md)"
        )

    @property
    def stream_shard_rollover_ms(self) -> int:
        """The shard generation length in whole milliseconds."""
        return round(self.stream_shard_rollover_s * 1000)

    @property
    def housekeeping_period_s(self) -> float:
        """Seconds between two housekeeping rounds: the configured interval, but at
        most a quarter of the stream retention (and not below a second), so that a
        short retention is kept to closely without a second setting."""
        return min(self.housekeeping_interval_s, max(1.0, self.change_retention_s / 4))
