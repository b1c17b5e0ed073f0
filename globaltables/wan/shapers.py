"""What each link of the WAN delays.

:class:`WanState` is the live configuration every proxy of one
:class:`~globaltables.wan.network.Wan` reads: the profile (round trip per pair) and,
per region, the ports of its Kafka paths.  It is only changed on the Wan's event
loop, so a proxy never sees half an update.

Two kinds of link:

* :class:`LinkShaper`, region ``src`` calling region ``dst``'s HTTP API (its
  ``--peer``): every chunk waits half the pair's round trip, each way.
* :class:`KafkaShaper`, one of a region's Kafka paths.  With one broker for every
  region, the broker stands in for each region's own cluster, and a region reading
  region H's topic should cross the WAN to H while its own produce, group and offset
  traffic stays local.  A region's Kafka traffic shares one client, so the paths
  are told apart by *connection*: each region has a local path (its ``--kafka``,
  advertised by the broker as that region's listener) and one path per remote
  region H, and every Metadata response on any of them is rewritten
  (``kafka_frames.rewrite_metadata``) to list a stand-in broker per remote region H,
  at the address of the path to H, as the leader of H's change topic.  The client
  then fetches H's topic, and only that, over a connection of its own through the
  path to H, which delays everything by half the round trip to H each way, exactly
  as a consumer of a cluster in H would see it (one fetch in flight per broker,
  long polls included).  The group coordinator stays the real broker, reached over
  the local path.  A partition between two regions cuts the two paths between them.
"""

from __future__ import annotations

import random

from globaltables.wan import kafka_frames as kf
from globaltables.wan.topology import WanProfile
from replicator.kafka import source_of_topic

__all__ = ["KafkaShaper", "LinkShaper", "WanState", "stand_in_id", "topic_home"]

_CHANGE_PREFIX, _CHANGE_SUFFIX = "globaltables.", ".changes"
#: node ids of the stand-in brokers: far above any real broker's (KRaft's are small)
_STAND_IN_BASE = 1_000_000


def topic_home(topic: str) -> str | None:
    """The region whose change topic this is (None: not a change topic)."""
    if not (topic.startswith(_CHANGE_PREFIX) and topic.endswith(_CHANGE_SUFFIX)):
        return None
    return source_of_topic(topic) or None


def stand_in_id(regions: tuple[str, ...], home: str) -> int:
    """The node id of the stand-in broker for ``home``'s cluster."""
    return _STAND_IN_BASE + regions.index(home)


class WanState:
    def __init__(
        self, regions: tuple[str, ...], profile: WanProfile, seed: int | None = None
    ) -> None:
        self.regions = regions
        self.profile = profile
        self.rng = random.Random(seed)
        #: region -> remote region -> port of the region's Kafka path to it
        self.kafka_paths: dict[str, dict[str, int]] = {}

    def delay(self, a: str, b: str) -> float:
        return self.profile.sample_s(a, b, self.rng)


class LinkShaper:
    """HTTP from ``src`` to ``dst``: half the round trip each way, on every chunk."""

    framed = False

    def __init__(self, state: WanState, src: str, dst: str) -> None:
        self.state, self.src, self.dst = state, src, dst

    def to_upstream(self, unit: bytes) -> tuple[bytes | None, float]:
        return unit, self.state.delay(self.src, self.dst)

    def to_client(self, unit: bytes) -> tuple[bytes | None, float]:
        return unit, self.state.delay(self.dst, self.src)


class KafkaShaper:
    """One connection of ``region`` through its Kafka path to ``home`` (``home ==
    region``: the local path): Metadata rewritten, every frame delayed by the pair."""

    framed = True
    #: Metadata requests awaiting their response, at most (a broker answers in order)
    _MAX_PENDING = 1024

    def __init__(self, state: WanState, region: str, home: str) -> None:
        self.state, self.region, self.home = state, region, home
        #: correlation id -> version of each Metadata request in flight
        self._pending: dict[int, int] = {}
        #: Metadata responses rewritten on this connection
        self.rewritten = 0

    def to_upstream(self, unit: bytes) -> tuple[bytes | None, float]:
        header = kf.request_header(unit)
        if (
            header is not None
            and header.api_key == kf.METADATA
            and kf.metadata_version_supported(header.api_version)
        ):
            if len(self._pending) >= self._MAX_PENDING:
                self._pending.clear()
            self._pending[header.correlation_id] = header.api_version
        return unit, self.state.delay(self.region, self.home)

    def to_client(self, unit: bytes) -> tuple[bytes | None, float]:
        delay = self.state.delay(self.home, self.region)
        corr = kf.response_correlation_id(unit)
        version = self._pending.pop(corr, None) if corr is not None else None
        if version is None:
            return unit, delay
        return self._rewrite(unit, version), delay

    def _rewrite(self, unit: bytes, version: int) -> bytes:
        regions = self.state.regions
        paths = self.state.kafka_paths.get(self.region, {})
        stand_ins = [
            kf.Node(stand_in_id(regions, h), "127.0.0.1", port) for h, port in paths.items()
        ]

        def leader_of(topic: str) -> int | None:
            home = topic_home(topic)
            if home is None or home not in paths:
                return None
            return stand_in_id(regions, home)

        self.rewritten += 1
        return kf.rewrite_metadata(unit, version, stand_ins, leader_of)
