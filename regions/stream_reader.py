"""Reading streams: ListStreams, DescribeStream, GetShardIterator, GetRecords.

Everything here reads the change log through the store; nothing writes.

A shard of an enabled stream is every change of its partition committed since the
stream was enabled.  A shard of a disabled (closed) stream ends just before the
first change its partition logged after the disabling: that bound is one indexed
lookup, DescribeStream's ``EndingSequenceNumber`` is the last change below it, and
GetRecords stops there instead of scanning whatever the table logged later (a
newer stream's changes, or changes made while no stream was enabled).

Records older than the stream retention are trimmed by housekeeping, oldest first
in every shard (``WriteTx.trim_changes``); the store keeps each shard's greatest
trimmed seq.  As in DynamoDB, asking for a trimmed position (an AT/AFTER sequence
number, or an iterator whose next records were trimmed since it was issued) is a
TrimmedDataAccessException; an iterator whose every later record is still there
(a reader that is up to date) stays valid however old its last record is.

A deleted table's streams outlive it (``gt_retired_tables``): disabled, listed and
readable until the retention has passed since the delete.  A table re-created
under the same name gets a new stream beside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from regions.catalog import TableSpec
from regions.changes import ChangeRecord
from regions.errors import ResourceNotFound, ValidationError
from regions.region import Region
from regions.store import ReadTx
from regions.streams import (
    Iterator,
    StreamSpec,
    TrimmedDataAccess,
    decode_iterator,
    encode_iterator,
    parse_stream_arn,
    record_for,
    sequence_number,
    shard_id,
    shard_partition,
)
from regions.versions import wall_ms

__all__ = [
    "Shard",
    "describe_stream",
    "get_records",
    "get_shard_iterator",
    "list_streams",
    "stream_arn",
]

#: GetRecords stops after this many bytes of records, like DynamoDB's 1 MB
_RECORDS_BYTES = 1024 * 1024
#: change-log rows read per store round trip while filling one GetRecords page
_PAGE_ROWS = 500
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Shard:
    shard_id: str
    starting: int | None
    ending: int | None


@dataclass(frozen=True)
class _Bounds:
    """Where one shard's records lie in the change log (seq numbers)."""

    #: the first and last record of the shard, None while it has none
    first: int | None
    last: int | None
    #: closed shards only: the first seq logged in the partition after the
    #: stream was disabled (exclusive end); None if nothing was logged since
    end: int | None


def stream_arn(region: Region, table: str, stream: StreamSpec) -> str:
    return f"{region.arn(table)}/stream/{stream.label}"


async def _retired(region: Region, table: str | None) -> list[tuple[int, TableSpec]]:
    """Deleted tables whose streams are still kept, oldest first."""
    async with region.store.read() as tx:
        rows = await tx.retired_tables(table)
    return [(tid, TableSpec.from_json(orjson.loads(raw))) for tid, raw in rows]


async def _resolve(region: Region, arn: str) -> tuple[int, TableSpec, StreamSpec]:
    table, label = parse_stream_arn(arn)
    found: list[tuple[int, TableSpec]] = []
    try:
        found.append(await region.control.table_ref(table))
    except ResourceNotFound:
        pass
    if not any(stream.label == label for _, spec in found for stream in spec.streams):
        # one of a deleted table of that name (see the module doc)?
        found = await _retired(region, table)
    for tid, spec in found:
        for stream in spec.streams:
            if stream.label == label:
                return tid, spec, stream
    raise ResourceNotFound(f"Requested resource not found: Stream: {arn} not found")


def _trimmed(after: int, trimmed: int, end: int | None) -> bool:
    """Whether a reader positioned after seq ``after`` would miss trimmed records of
    its shard: some record above ``after`` was trimmed (``trimmed`` is the shard's
    greatest trimmed seq) below the shard's end (``end``, exclusive, for a closed
    shard; what was logged past it was never part of the shard)."""
    # seqs start at 1: a shard with nothing trimmed says 0
    return trimmed > max(after, 0) and (end is None or after + 1 < end)


def _check_not_trimmed(after: int, trimmed: int, end: int | None) -> None:
    if _trimmed(after, trimmed, end):
        raise TrimmedDataAccess(
            "The operation attempted to read past the oldest stream record in a shard."
        )


async def _closed_end(tx: ReadTx, tid: int, part: int, stream: StreamSpec) -> int | None:
    """A closed shard's exclusive end (see :class:`_Bounds`): None while the stream is
    open, or while its partition has logged nothing since the stream was disabled."""
    if stream.disabled_ms is None:
        return None
    end, _ = await tx.shard_range(tid, part, stream.disabled_ms)
    return end


async def _bounds(tx: ReadTx, tid: int, part: int, stream: StreamSpec) -> _Bounds:
    first, last = await tx.shard_range(tid, part, stream.created_ms)
    end = await _closed_end(tx, tid, part, stream)
    if end is None:
        return _Bounds(first, last, None)
    if first is None or first >= end:
        return _Bounds(None, None, end)
    return _Bounds(first, await _last_below(tx, tid, part, first, end), end)


async def _last_below(tx: ReadTx, tid: int, part: int, first: int, end: int) -> int:
    """The greatest seq of the partition below ``end``, knowing ``first < end`` is one.

    The store answers "the next seq after x" with one index seek, so a binary
    search finds it in O(log n) seeks, without reading the shard's records."""
    lo, hi = first, end  # a record lies in [lo, end); none lies in [hi, end)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        rows = await tx.changes_after(tid, part, mid - 1, 1)
        if rows and rows[0].seq < end:
            lo = rows[0].seq
        else:
            hi = mid
    return lo


async def list_streams(
    region: Region, table: str | None, limit: int, start_arn: str | None
) -> tuple[list[dict[str, str]], str | None]:
    # a malformed start ARN is refused, as DynamoDB does; a well-formed one that no
    # longer exists (its table was deleted) still says where the page starts
    start = parse_stream_arn(start_arn) if start_arn is not None else None
    # deleted tables' streams are listed until they expire, as in DynamoDB
    retired = [spec for _, spec in await _retired(region, table)]
    if table is None:
        specs = await region.control.tables() + retired
    else:
        try:
            specs = [await region.control.table_spec(table), *retired]
        except ResourceNotFound:
            if not retired:
                raise
            specs = retired
    entries: list[tuple[tuple[str, str], dict[str, str]]] = []
    for spec in specs:
        for stream in spec.streams:
            entries.append(
                (
                    # labels are ISO-8601 times: sorting them sorts by creation
                    (spec.name, stream.label),
                    {
                        "StreamArn": stream_arn(region, spec.name, stream),
                        "TableName": spec.name,
                        "StreamLabel": stream.label,
                    },
                )
            )
    entries.sort(key=lambda e: e[0])
    if start is not None:
        entries = [e for e in entries if e[0] > start]
    page = [e[1] for e in entries[:limit]]
    last = page[-1]["StreamArn"] if len(entries) > limit else None
    return page, last


async def describe_stream(
    region: Region,
    arn: str,
    limit: int,
    start_shard: str | None,
    child_shards_of: str | None = None,
) -> dict[str, Any]:
    tid, spec, stream = await _resolve(region, arn)
    shards: list[Shard] = []
    if child_shards_of is None:
        # shards never split here, so no shard has children (ShardFilter CHILD_SHARDS)
        async with region.store.read() as tx:
            for part in range(spec.partitions):
                b = await _bounds(tx, tid, part, stream)
                trimmed = await tx.trimmed_through(tid, part)
                # an empty shard starts past what was trimmed from it, so the range
                # moves forward as records age out
                starting = b.first if b.first is not None else (trimmed + 1 if trimmed else 0)
                # a closed shard ends at its last record (or where it would have begun)
                ending = (
                    (b.last if b.last is not None else starting) if not stream.enabled else None
                )
                shards.append(Shard(shard_id(stream, part), starting, ending))
    if start_shard is not None:
        # shard ids sort in partition order; an unknown id starts after its place
        shards = [s for s in shards if s.shard_id > start_shard]
    page = shards[:limit]
    desc: dict[str, Any] = {
        "StreamArn": arn,
        "StreamLabel": stream.label,
        "StreamStatus": "ENABLED" if stream.enabled else "DISABLED",
        "StreamViewType": stream.view_type,
        "CreationRequestDateTime": stream.created_ms / 1000,
        "TableName": spec.name,
        "KeySchema": [
            {"AttributeName": a.name, "KeyType": "HASH" if i == 0 else "RANGE"}
            for i, a in enumerate(spec.key_schema.attrs)
        ],
        "Shards": [
            {
                "ShardId": s.shard_id,
                "SequenceNumberRange": {
                    "StartingSequenceNumber": sequence_number(
                        s.starting if s.starting is not None else 0
                    ),
                    **(
                        {"EndingSequenceNumber": sequence_number(s.ending)}
                        if s.ending is not None
                        else {}
                    ),
                },
            }
            for s in page
        ],
    }
    if len(shards) > limit:
        desc["LastEvaluatedShardId"] = page[-1].shard_id
    return desc


async def get_shard_iterator(
    region: Region, arn: str, shard: str, kind: str, sequence: str | None
) -> str:
    tid, spec, stream = await _resolve(region, arn)
    part = shard_partition(stream, shard, spec.partitions)
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if sequence is None:
            raise ValidationError(f"SequenceNumber is required when ShardIteratorType is {kind}")
        if _DIGITS.fullmatch(sequence) is None:
            # sequence numbers are decimal digits; anything else is the caller's error
            raise ValidationError(f"Invalid SequenceNumber: {sequence}")
        n = int(sequence)
        after = n - 1 if kind == "AT_SEQUENCE_NUMBER" else n
        async with region.store.read() as tx:
            # "a sequence number older than the trim point" is refused up front
            trimmed = await tx.trimmed_through(tid, part)
            if _trimmed(after, trimmed, None):
                _check_not_trimmed(after, trimmed, await _closed_end(tx, tid, part, stream))
    else:
        if sequence is not None:
            raise ValidationError(
                f"SequenceNumber must not be given when ShardIteratorType is {kind}"
            )
        async with region.store.read() as tx:
            b = await _bounds(tx, tid, part, stream)
            if kind == "TRIM_HORIZON" and b.first is not None:
                after = b.first - 1
            elif b.last is not None:
                # LATEST: after the shard's last record
                after = b.last
            elif b.end is not None:
                # an empty closed shard: at its end, so the first read drains it
                after = b.end - 1
            else:
                # an empty shard: every record it will ever hold comes after
                # everything logged so far
                after = await tx.max_seq()
    return encode_iterator(Iterator(arn, shard, after, wall_ms()))


async def get_records(region: Region, token: str, limit: int) -> dict[str, Any]:
    now = wall_ms()
    it = decode_iterator(token, now)
    tid, spec, stream = await _resolve(region, it.arn)
    part = shard_partition(stream, it.shard, spec.partitions)
    records: list[dict[str, Any]] = []
    after = it.after_seq
    size = 0
    drained = False
    async with region.store.read() as tx:
        end = await _closed_end(tx, tid, part, stream)
        # records this iterator still had to return were trimmed since it was issued
        _check_not_trimmed(after, await tx.trimmed_through(tid, part), end)
        while len(records) < limit and size < _RECORDS_BYTES and not drained:
            want = min(limit - len(records), _PAGE_ROWS)
            rows = await tx.changes_after(tid, part, after, want)
            if not rows:
                drained = True
                break
            for row in rows:
                if end is not None and row.seq >= end:
                    # past the closed shard: what follows belongs to no part of it
                    drained = True
                    break
                after = row.seq
                if not stream.covers(row.created_ms):
                    continue
                change = ChangeRecord.decode_stored(row.record, row.seq, row.created_ms)
                rec = record_for(change, stream, region.name, spec.table_id)
                records.append(rec)
                size += int(rec["dynamodb"]["SizeBytes"])
                if len(records) >= limit or size >= _RECORDS_BYTES:
                    break
    out: dict[str, Any] = {"Records": records}
    # an open shard always has a next iterator; a closed one loses it once read
    # to its end, which is how readers learn they are done with it
    if stream.enabled or not drained:
        out["NextShardIterator"] = encode_iterator(Iterator(it.arn, it.shard, after, now))
    return out
