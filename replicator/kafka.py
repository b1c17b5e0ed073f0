"""Kafka naming and client construction, in one place.

Topic ``globaltables.<region>.changes`` per source region; the applier of region D
reads every other region's topic in consumer group ``globaltables.apply.<D>``.

Where each topic lives: a region publishes to its own cluster (``--kafka``); a
source's topic is on that source's cluster when ``--peer-kafka`` names one, else on
this region's (one shared cluster).  :func:`source_clusters` groups the sources by
cluster, so the applier runs one consumer per cluster (docs/regions.md, "Each region
its own Kafka").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from regions.kafka_security import KafkaSecurity
from regions.settings import RegionSettings
from replicator.tuning import env_number

__all__ = [
    "SESSION_TIMEOUT_ENV",
    "Cluster",
    "apply_group",
    "change_topic",
    "cluster_key",
    "ensure_topics",
    "make_consumer",
    "make_producer",
    "producer_settings",
    "session_timeout_ms",
    "source_clusters",
    "source_of_topic",
    "start_or_close",
    "stop_consumer",
]

log = logging.getLogger("globaltables.kafka")

_PREFIX = "globaltables."
_SUFFIX = ".changes"


def change_topic(region: str) -> str:
    return f"{_PREFIX}{region}{_SUFFIX}"


def source_of_topic(topic: str) -> str:
    return topic[len(_PREFIX) : -len(_SUFFIX)]


def apply_group(region: str) -> str:
    return f"globaltables.apply.{region}"


def cluster_key(bootstrap: str) -> str:
    """One spelling per bootstrap list (order and spaces do not matter), to tell whether
    two settings name the same cluster.  Two different lists for one cluster (a host
    name and its address, say) count as two clusters."""
    return ",".join(sorted({p.strip() for p in bootstrap.split(",") if p.strip()}))


@dataclass(frozen=True)
class Cluster:
    """A Kafka cluster the applier reads, with the sources whose topics it holds."""

    bootstrap: str
    security: KafkaSecurity
    sources: tuple[str, ...]

    @property
    def key(self) -> str:
        return cluster_key(self.bootstrap)


def source_clusters(
    settings: RegionSettings, sources: Sequence[str], bootstrap: str | None = None
) -> list[Cluster]:
    """``sources`` grouped by the cluster that holds their change topics: the one
    ``--peer-kafka`` names (``settings.kafka_of``), else this region's own,
    ``bootstrap`` (default ``settings.kafka``), which comes first.  Raises ValueError
    when one cluster is given two sets of credentials (one consumer per cluster logs
    in once) or a source has no cluster."""
    own_bootstrap = bootstrap or settings.kafka
    by_key: dict[str, tuple[str, KafkaSecurity, list[str]]] = {}
    for source in sorted(sources):
        if source in settings.peer_kafka or own_bootstrap is None:
            where, security = settings.kafka_of(source)
        else:
            where, security = own_bootstrap, settings.kafka_security
        key = cluster_key(where)
        known = by_key.setdefault(key, (where, security, []))
        if known[1] != security:
            raise ValueError(
                f"Kafka {where} is given two sets of credentials ({known[1].describe()} "
                f"for {', '.join(known[2])}, {security.describe()} for {source}): one "
                f"consumer reads each cluster"
            )
        known[2].append(source)
    own = cluster_key(own_bootstrap) if own_bootstrap else None
    order = sorted(by_key, key=lambda k: (k != own, k))
    return [
        Cluster(bootstrap=by_key[k][0], security=by_key[k][1], sources=tuple(by_key[k][2]))
        for k in order
    ]


def _auth(security: KafkaSecurity | None) -> dict[str, Any]:
    # None: plaintext without credentials (a broker started with --insecure-plaintext)
    return (security or KafkaSecurity.insecure()).client_kwargs()


def make_producer(
    bootstrap: str, client_id: str, security: KafkaSecurity | None = None
) -> AIOKafkaProducer:
    # idempotence + acks=all: a retried send never duplicates or reorders within a
    # partition, and an acknowledged send survives a broker restart. The region's
    # principal may write only to its own topic (docs/security.md).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **_auth(security),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        max_batch_size=1 << 20,
        request_timeout_ms=30_000,
    )


def producer_settings(producer: AIOKafkaProducer) -> dict[str, object]:
    """The durability settings a live producer runs with (GET /v1/durability).

    aiokafka has no public getter for its configuration, so this reads the objects
    that act on it: the sender's acks (-1 is "all") and the idempotence manager,
    whose producer id is assigned by the broker once the producer has started.
    """
    sender = getattr(producer, "_sender", None)
    acks = getattr(sender, "_acks", None)
    txn = getattr(producer, "_txn_manager", None)
    producer_id = txn.producer_id if txn is not None and txn.has_pid() else None
    return {
        "acks": "all" if acks in (-1, "all") else acks,
        "enable_idempotence": txn is not None,
        "producer_id": producer_id,
    }


#: how long the group waits for a silent consumer before it hands its partitions to
#: the region's other consumers: a killed node's partitions move after this.  Kafka
#: clients' default is 10 s; brokers accept 6 s to 30 min (group.min/max.session.timeout.ms)
SESSION_TIMEOUT_ENV = "GLOBALTABLES_KAFKA_SESSION_TIMEOUT_MS"
SESSION_TIMEOUT_MS = 10_000


def session_timeout_ms() -> int:
    """The applier's consumer session timeout (``GLOBALTABLES_KAFKA_SESSION_TIMEOUT_MS``);
    ValueError for a value the broker would refuse."""
    return env_number(
        SESSION_TIMEOUT_ENV,
        SESSION_TIMEOUT_MS,
        int,
        lambda ms: 6_000 <= ms <= 1_800_000,
        "milliseconds from 6000 to 1800000 (what Kafka brokers accept by default)",
    )


def make_consumer(
    bootstrap: str, region: str, topics: list[str], security: KafkaSecurity | None = None
) -> AIOKafkaConsumer:
    session = session_timeout_ms()
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        **_auth(security),
        group_id=apply_group(region),
        client_id=f"globaltables-{region}-applier",
        # offsets are committed only after the applied batch is durable (invariant 7)
        enable_auto_commit=False,
        # a new replica group starts at the beginning of what Kafka still holds
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
        fetch_max_wait_ms=50,
        metadata_max_age_ms=10_000,
        session_timeout_ms=session,
        # three heartbeats per session, as Kafka's defaults (3 s of 10 s) have it
        heartbeat_interval_ms=session // 3,
    )


async def start_or_close(
    start: Callable[[], Awaitable[object]], close: Callable[[], Awaitable[object]]
) -> None:
    """Start a Kafka client; if the start fails, close what it opened before the error
    goes on (a client left open keeps its connections and warns "Unclosed
    AIOKafkaProducer" when collected, once per retry)."""
    try:
        await start()
    except BaseException:
        with contextlib.suppress(Exception):
            await close()
        raise


async def stop_consumer(consumer: AIOKafkaConsumer, grace_s: float = 1.0) -> None:
    """``consumer.stop()``, held up by the consumer group for at most ``grace_s``.

    aiokafka's stop() first lets the group coordinator finish the round it is in, and
    a JoinGroup waits at the broker until every member the group knows has rejoined:
    after a predecessor of this process was killed (or left behind its consumer), until
    that member's session times out (:func:`session_timeout_ms`, 10 s by default).  A start() cancelled while it waits for
    its first assignment is in exactly that round, and the region's shutdown would
    wait it out (the runner's STOP_TIMEOUT_S).  Past ``grace_s`` the connections are
    closed: the request in flight fails, the coordinator (closing) gives up, and
    stop() finishes without it.  Nothing is lost: offsets are committed only after
    their changes were applied."""
    stop = asyncio.ensure_future(consumer.stop())
    # its first step marks the coordinator closing: it starts no new round after this
    await asyncio.sleep(0)
    await asyncio.wait([stop], timeout=grace_s)
    if not stop.done():
        # aiokafka has no public abort; its client owns the connections
        with contextlib.suppress(Exception):
            await consumer._client.close()
    await stop


#: the most copies of a change topic ensure_topics asks for
MAX_REPLICATION_FACTOR = 3


async def ensure_topics(
    bootstrap: str, topics: list[str], partitions: int, security: KafkaSecurity | None = None
) -> list[str]:
    """Create the change topics if missing, so consumers can subscribe before the
    first change of a peer is produced (a region's principal may CREATE topics named
    ``globaltables.*``).  Returns the topics it created, and logs only those: the
    broker answers a topic that exists with an error code, not an exception."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="globaltables-admin", **_auth(security)
    )
    await start_or_close(admin.start, admin.close)
    created: list[str] = []
    try:
        # as many copies as the cluster can hold, up to three: a three-broker cluster
        # (min.insync.replicas=2) keeps every change on two brokers before acks=all
        # acknowledges it, a single broker holds the one copy.  (aiokafka sends
        # CreateTopics v3 at most, which cannot ask for the broker's default.)
        brokers = len((await admin.describe_cluster()).get("brokers") or []) or 1
        factor = min(MAX_REPLICATION_FACTOR, brokers)
        response = await admin.create_topics(
            [
                NewTopic(name=t, num_partitions=partitions, replication_factor=factor)
                for t in topics
            ]
        )
        for topic, code, *_message in response.topic_errors:
            if code == 0:
                created.append(topic)
                log.info(
                    "created topic %s (%d partitions, %d replicas)", topic, partitions, factor
                )
            elif code != TopicAlreadyExistsError.errno:
                # not fatal here: subscribing to a topic that is really missing fails
                # later with its own error, which the runner reports and retries
                log.warning("could not create topic %s: %s", topic, for_code(code).__name__)
    finally:
        await admin.close()
    return created
