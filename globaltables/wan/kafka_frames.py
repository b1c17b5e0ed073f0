"""Just enough of the Kafka wire protocol for the WAN injector's Kafka paths.

Every Kafka request and response is one frame: a 4-byte big-endian size, then the
payload.  A request payload starts with the request header (api_key int16,
api_version int16, correlation_id int32, client_id nullable string) and a response
payload with the correlation id (Kafka protocol guide, kafka.apache.org/protocol,
"Common Request and Response Structure").

The one message the injector changes is the Metadata response (api key 3), in the
versions aiokafka speaks (0 to 5, all non-flexible): it adds one *stand-in broker*
per remote region and makes it the leader of that region's change topic, so the
client opens a connection per remote region and fetches each region's topic over
it (``shapers.py`` says why).  The response is decoded and encoded with aiokafka's
own schemas of those versions (``aiokafka/protocol/metadata.py``), the layouts the
client itself reads.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.protocol import metadata as _md

__all__ = [
    "METADATA",
    "Node",
    "RequestHeader",
    "metadata_version_supported",
    "request_header",
    "response_correlation_id",
    "rewrite_metadata",
]

METADATA = 3
_RESPONSES: dict[int, Any] = {
    0: _md.MetadataResponse_v0,
    1: _md.MetadataResponse_v1,
    2: _md.MetadataResponse_v2,
    3: _md.MetadataResponse_v3,
    4: _md.MetadataResponse_v4,
    5: _md.MetadataResponse_v5,
}


@dataclass(frozen=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int


@dataclass(frozen=True)
class Node:
    """A broker entry of a Metadata response."""

    node_id: int
    host: str
    port: int


def request_header(payload: bytes) -> RequestHeader | None:
    """The header of a request payload; None if it is too short to hold one (a raw
    SASL token of SaslHandshake v0 parses as nonsense: callers check the api key and
    version before believing it)."""
    if len(payload) < 8:
        return None
    api_key, version, corr = struct.unpack_from(">hhi", payload, 0)
    return RequestHeader(int(api_key), int(version), int(corr))


def response_correlation_id(payload: bytes) -> int | None:
    if len(payload) < 4:
        return None
    return int(struct.unpack_from(">i", payload, 0)[0])


def metadata_version_supported(version: int) -> bool:
    return version in _RESPONSES


def rewrite_metadata(
    payload: bytes,
    version: int,
    extra_brokers: Sequence[Node],
    leader_of: Callable[[str], int | None],
) -> bytes:
    """The Metadata response ``payload`` with ``extra_brokers`` appended to its broker
    list and, for each topic ``leader_of`` names a node for, that node as the leader of
    every partition (replicas and ISR are left alone: clients route by leader)."""
    cls = _RESPONSES[version]
    resp = cls.decode(payload[4:])
    fields = {name: resp.get_item(name) for name in cls.SCHEMA.names}
    # v0 brokers are (node_id, host, port); from v1 a nullable rack follows
    fields["brokers"] = list(fields["brokers"]) + [
        (n.node_id, n.host, n.port) if version == 0 else (n.node_id, n.host, n.port, None)
        for n in extra_brokers
    ]
    topics = []
    for topic in fields["topics"]:
        # (error_code, name, [is_internal,] partitions); a partition is (error_code,
        # partition, leader, replicas, isr[, offline_replicas])
        leader = leader_of(topic[1])
        if leader is None:
            topics.append(topic)
            continue
        # a partition without a leader (-1) stays without one
        parts = [(p[0], p[1], leader if p[2] >= 0 else p[2], *p[3:]) for p in topic[-1]]
        topics.append((*topic[:-1], parts))
    fields["topics"] = topics
    encoded: bytes = cls(**fields).encode()
    return payload[:4] + encoded
