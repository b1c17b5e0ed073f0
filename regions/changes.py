"""Change records: the outbox rows and the replication wire format.

Every committed write a reader can see appends one :class:`ChangeRecord` to the
change log in the same store transaction as the item (invariant 1; a remote delete
of an item this region never had stores only a tombstone, see
``regions/store/base.py``).  Local-origin records are what
the publisher ships to Kafka; records applied from other regions are logged too,
with their original version and origin (invariant 5), for the Streams API.

Wire contract (``encode``/``decode``): a JSON object whose FIRST field is the
schema version ``"v"``.  Fields are never renamed or reused; a reader that sees a
``v`` it does not know refuses the record instead of guessing.  The golden test
in ``tests/unit/test_changes.py`` pins the exact bytes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Any

import orjson

from regions.types import Item
from regions.versions import Version

__all__ = [
    "HLC_LIMIT",
    "INSERT",
    "MODIFY",
    "REMOVE",
    "SCHEMA_VERSION",
    "ChangeRecord",
    "InvalidRecord",
    "UnknownSchema",
]

SCHEMA_VERSION = 1
INSERT = "INSERT"
MODIFY = "MODIFY"
REMOVE = "REMOVE"
_EVENTS = frozenset((INSERT, MODIFY, REMOVE))
#: HLCs are stored in signed 64-bit columns (and hashed as 8 bytes by the verifier):
#: a version must stay below this, with room for the clock to tick past it
HLC_LIMIT = 1 << 62


class InvalidRecord(ValueError):
    """A change record that must not be applied (invariant 9).

    ``reason`` is a short stable code (metrics, the quarantine, the docs' table in
    docs/reliability.md); ``detail`` says what exactly was wrong, for a person."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class UnknownSchema(InvalidRecord):
    """A record written by a newer (or corrupt) producer; never applied blindly."""

    def __init__(self, detail: str) -> None:
        super().__init__("unknown-schema", detail)


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    # bool is an int to isinstance: an HLC of `true` is not a number
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidRecord("malformed", f"field {name!r} missing or of the wrong JSON type")
    return value


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    table: str
    table_id: str
    event: str
    keys: Item
    #: the image after the write; None for REMOVE
    new_image: Item | None
    #: the image before the write in the region that logged it; not shipped
    old_image: Item | None
    version: Version
    #: local change-log sequence (0 until stored); per region, never shipped
    seq: int = 0
    #: wall time the record was logged, ms since the epoch
    created_ms: int = 0
    #: encoded partition key (regions.keys), for the Kafka message key; local only
    hash_key: bytes = b""
    #: a delete made by the service itself (TTL), not by a user; local only, since
    #: in DynamoDB only the region that expired the item shows the service identity
    service: bool = False

    def encode(self) -> bytes:
        """The replication message value.  Old images stay home: LWW ships whole
        new images (invariant 6), and each region logs its own old image."""
        body: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "table": self.table,
            "table_id": self.table_id,
            "event": self.event,
            "keys": self.keys,
            "new": self.new_image,
            "hlc": self.version.hlc,
            "origin": self.version.origin,
        }
        return orjson.dumps(body)

    @classmethod
    def decode(cls, data: bytes) -> ChangeRecord:
        """Parse a record, checking every field's JSON type and range: whatever
        comes off Kafka or a peer is untrusted until the region validated it
        against the table (regions/remote_check.py).  Raises :class:`InvalidRecord`."""
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InvalidRecord("undecodable", f"not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise InvalidRecord("undecodable", "not a JSON object")
        if body.get("v") != SCHEMA_VERSION:
            raise UnknownSchema(f"unknown change record schema {str(body.get('v'))[:20]!r}")
        event = _field(body, "event", str)
        if event not in _EVENTS:
            raise InvalidRecord("malformed", f"unknown event {event[:20]!r}")
        new = body.get("new")
        if new is not None and not isinstance(new, dict):
            raise InvalidRecord("malformed", "field 'new' is neither an item nor null")
        if (event == REMOVE) != (new is None):
            raise InvalidRecord("malformed", f"a {event} record with{'' if new else 'out'} an item")
        hlc = body.get("hlc")
        if isinstance(hlc, float):
            # orjson reads an integer beyond 64 bits as a float
            raise InvalidRecord("bad-hlc", f"hlc {hlc!r} is not an integer of 64 bits")
        hlc = _field(body, "hlc", int)
        if not 0 < hlc < HLC_LIMIT:
            raise InvalidRecord("bad-hlc", f"hlc {str(hlc)[:40]} is outside 1..2**62-1")
        return cls(
            table=_field(body, "table", str),
            table_id=_field(body, "table_id", str),
            event=event,
            keys=_field(body, "keys", dict),
            new_image=new,
            old_image=None,
            version=Version(hlc, _field(body, "origin", str)),
        )

    def message_key(self) -> bytes:
        """Kafka key = table + encoded partition key, so every change of one item
        lands in one Kafka partition and keeps its order."""
        return self.table.encode() + b"\x00" + self.hash_key

    def encode_stored(self) -> bytes:
        """The change-log row: the wire fields plus what stays local (old image,
        partition key).  Not a cross-region contract, but still versioned."""
        body: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "table": self.table,
            "table_id": self.table_id,
            "event": self.event,
            "keys": self.keys,
            "new": self.new_image,
            "old": self.old_image,
            "hlc": self.version.hlc,
            "origin": self.version.origin,
            "hk": base64.b64encode(self.hash_key).decode(),
        }
        if self.service:
            body["svc"] = True
        return orjson.dumps(body)

    @classmethod
    def decode_stored(cls, data: bytes, seq: int, created_ms: int) -> ChangeRecord:
        body = orjson.loads(data)
        rec = cls.decode(data)
        return replace(
            rec,
            old_image=body.get("old"),
            seq=seq,
            created_ms=created_ms,
            hash_key=base64.b64decode(body.get("hk", "")),
            service=bool(body.get("svc", False)),
        )
