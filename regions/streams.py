"""DynamoDB Streams over the change log.

A stream is a window of a table's change log: the changes committed while the
stream was enabled.  Sequence numbers are the change log's ``seq`` (increasing
within a partition), so reading a shard is a primary-key range read of
``gt_changes``.

Shards roll over, as DynamoDB's do (about every four hours), deterministically
from time and without a background job: a stream's life is cut into generations
of ``RegionSettings.stream_shard_rollover_s`` counted from its creation, and each
(partition, generation) is a shard, whose parent is the same partition's previous
generation.  A shard's id says both (:func:`shard_id`); a change belongs to the
generation of its creation time (see regions/stream_reader.py for how that is made
a range of the log).

Each change appears once (the outbox writes one record per committed write, and
no-op writes write none), in per-item order.  Applied remote changes are in the
stream too, with their original version (invariant 5), as in DynamoDB global
tables.  Iterators are opaque, carry their issue time and expire after 15 min.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

from regions.changes import ChangeRecord
from regions.errors import DynamoError, ResourceNotFound, ValidationError
from regions.types import item_size

__all__ = [
    "ITERATOR_TTL_S",
    "VIEW_TYPES",
    "ExpiredIterator",
    "Generations",
    "Iterator",
    "StreamSpec",
    "TrimmedDataAccess",
    "check_specification",
    "decode_iterator",
    "encode_iterator",
    "parse_shard_id",
    "parse_stream_arn",
    "record_for",
    "sequence_number",
    "shard_id",
    "stream_label",
]

VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
ITERATOR_TTL_S = 15 * 60
#: the identity DynamoDB puts on TTL deletes
SERVICE_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


class ExpiredIterator(DynamoError):
    code = "ExpiredIteratorException"


class TrimmedDataAccess(DynamoError):
    code = "TrimmedDataAccessException"


@dataclass(frozen=True)
class StreamSpec:
    """One enabling of a table's stream.  Re-enabling creates a new one (new label
    and ARN); a disabled one stays readable until its records age out."""

    label: str
    view_type: str
    created_ms: int
    disabled_ms: int | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_ms is None

    def covers(self, created_ms: int) -> bool:
        return created_ms >= self.created_ms and (
            self.disabled_ms is None or created_ms < self.disabled_ms
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "view_type": self.view_type,
            "created_ms": self.created_ms,
            "disabled_ms": self.disabled_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamSpec:
        return cls(
            label=data["label"],
            view_type=data["view_type"],
            created_ms=int(data["created_ms"]),
            disabled_ms=int(data["disabled_ms"]) if data.get("disabled_ms") is not None else None,
        )


def check_specification(enabled: bool, view_type: str | None, *, creating: bool) -> None:
    """DynamoDB's refusals of a StreamSpecification, in its words: a view type is
    required to enable a stream and forbidden to disable one.  ``creating`` selects
    CreateTable's wording over UpdateTable's.  Meant to run before anything is
    changed, so that a refused CreateTable creates no table."""
    invalid = "One or more parameter values were invalid: "
    if enabled and view_type is None:
        raise ValidationError(
            invalid
            + (
                "Table is being created with a stream enabled, UpdateViewType is required"
                if creating
                else "If stream is being enabled then UpdateViewType is required"
            )
        )
    if not enabled and view_type is not None:
        raise ValidationError(
            invalid
            + (
                "Table is being created with a stream disabled, UpdateViewType should not "
                "be specified"
                if creating
                else "If stream is being disabled, then UpdateViewType must not be specified"
            )
        )


def stream_label(ms: int) -> str:
    """ISO-8601 creation time with milliseconds, like ``2015-05-11T21:21:33.291``."""
    t = time.gmtime(ms / 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms % 1000:03d}"


@dataclass(frozen=True)
class Generations:
    """A stream's shard generations: generation ``g`` takes the changes created in
    ``[start(g), start(g + 1))`` (cut short by the stream's disabling).

    A generation is reported (listed, open) only ``grace_ms`` after it began, and
    its parent closed then: a write takes its time before it commits, so a change
    created just before a boundary may still be committing when the boundary passes.
    """

    stream: StreamSpec
    length_ms: int

    @property
    def grace_ms(self) -> int:
        return min(5_000, self.length_ms // 4)

    def start(self, gen: int) -> int:
        return self.stream.created_ms + gen * self.length_ms

    def end(self, gen: int) -> int:
        """Exclusive end of the window of ``gen`` (the disabling, for the last)."""
        end = self.start(gen + 1)
        disabled = self.stream.disabled_ms
        return min(end, disabled) if disabled is not None else end

    def of(self, ms: int) -> int:
        """The generation whose window holds ``ms`` (0 before the stream began)."""
        return max(0, (ms - self.stream.created_ms) // self.length_ms)

    def newest(self, now_ms: int) -> int:
        """The newest generation that exists at ``now_ms``."""
        disabled = self.stream.disabled_ms
        if disabled is not None:
            # every generation is closed: the last one too, however young
            return self.of(disabled - 1)
        return self.of(now_ms - self.grace_ms)

    def closed(self, gen: int, now_ms: int) -> bool:
        return not self.stream.enabled or now_ms - self.grace_ms >= self.start(gen + 1)


def shard_id(stream: StreamSpec, part: int, gen: int = 0, length_ms: int = 1) -> str:
    """``shardId-<20 digits>-<8 hex digits>``: the time the shard's generation began
    (ms; for generation 0 the stream's creation, the format of the ids from before
    shards rolled over) and the partition.  Ids sort parents before children."""
    start = stream.created_ms + gen * length_ms
    return f"shardId-{start:020d}-{part:08x}"


_SHARD_RE = re.compile(r"shardId-([0-9]{20})-([0-9a-f]{8})")


def parse_shard_id(
    stream: StreamSpec, shard: str, partitions: int, length_ms: int
) -> tuple[int, int]:
    """(partition, generation) of one of a stream's shard ids, refused with
    ResourceNotFound unless the stream has (or had) that shard."""
    m = _SHARD_RE.fullmatch(shard)
    if m is not None:
        gen, rest = divmod(int(m.group(1)) - stream.created_ms, length_ms)
        part = int(m.group(2), 16)
        if rest == 0 and gen >= 0 and 0 <= part < partitions:
            return part, gen
    raise ResourceNotFound(f"Requested resource not found: Shard does not exist: {shard}")


def sequence_number(seq: int) -> str:
    return f"{seq:021d}"


def parse_stream_arn(arn: str) -> tuple[str, str]:
    """``arn:aws:dynamodb:<r>:<a>:table/<t>/stream/<label>`` -> (table, label)."""
    try:
        head, label = arn.split("/stream/", 1)
        table = head.split(":table/", 1)[1]
    except (ValueError, IndexError):
        raise ValidationError(f"Invalid StreamArn: {arn}") from None
    if not table or not label or not head.startswith("arn:aws:dynamodb:"):
        raise ValidationError(f"Invalid StreamArn: {arn}")
    return table, label


@dataclass(frozen=True)
class Iterator:
    arn: str
    shard: str
    #: the next record to return has a seq greater than this
    after_seq: int
    issued_ms: int


def encode_iterator(it: Iterator) -> str:
    body = orjson.dumps({"s": it.shard, "a": it.after_seq, "t": it.issued_ms})
    return f"{it.arn}|1|{base64.urlsafe_b64encode(body).decode()}"


def decode_iterator(token: str, now_ms: int) -> Iterator:
    try:
        arn, version, payload = token.rsplit("|", 2)
        if version != "1":
            raise ValueError(version)
        body = orjson.loads(base64.urlsafe_b64decode(payload.encode()))
        it = Iterator(
            arn=arn, shard=str(body["s"]), after_seq=int(body["a"]), issued_ms=int(body["t"])
        )
    except (ValueError, KeyError, TypeError):
        raise ValidationError("Invalid ShardIterator") from None
    if now_ms - it.issued_ms > ITERATOR_TTL_S * 1000:
        raise ExpiredIterator("Iterator expired. The iterator was created over 15 minutes ago.")
    return it


def record_for(
    change: ChangeRecord, stream: StreamSpec, region: str, table_id: str
) -> dict[str, Any]:
    """A change as a stream record, with the images its view type allows."""
    dyn: dict[str, Any] = {
        "ApproximateCreationDateTime": change.created_ms // 1000,
        "Keys": change.keys,
        "SequenceNumber": sequence_number(change.seq),
        "StreamViewType": stream.view_type,
    }
    size = item_size(change.keys)
    if stream.view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and change.new_image is not None:
        dyn["NewImage"] = change.new_image
        size += item_size(change.new_image)
    if stream.view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and change.old_image is not None:
        dyn["OldImage"] = change.old_image
        size += item_size(change.old_image)
    dyn["SizeBytes"] = size
    record: dict[str, Any] = {
        "eventID": hashlib.md5(
            f"{table_id}:{change.seq}".encode(), usedforsecurity=False
        ).hexdigest(),
        "eventName": change.event,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dyn,
    }
    if change.service:
        record["userIdentity"] = dict(SERVICE_IDENTITY)
    return record
