"""Reading streams: ListStreams, DescribeStream, GetShardIterator, GetRecords.

Everything here reads the change log through the store; nothing writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from regions.catalog import TableSpec
from regions.changes import ChangeRecord
from regions.errors import ResourceNotFound, ValidationError
from regions.region import Region
from regions.streams import (
    Iterator,
    StreamSpec,
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


@dataclass(frozen=True)
class Shard:
    shard_id: str
    starting: int | None
    ending: int | None


def stream_arn(region: Region, table: str, stream: StreamSpec) -> str:
    return f"{region.arn(table)}/stream/{stream.label}"


async def _resolve(region: Region, arn: str) -> tuple[int, TableSpec, StreamSpec]:
    table, label = parse_stream_arn(arn)
    try:
        tid, spec = await region.table_ref(table)
    except ResourceNotFound:
        raise ResourceNotFound(f"Requested resource not found: Stream: {arn} not found") from None
    for stream in spec.streams:
        if stream.label == label:
            return tid, spec, stream
    raise ResourceNotFound(f"Requested resource not found: Stream: {arn} not found")


async def list_streams(
    region: Region, table: str | None, limit: int, start_arn: str | None
) -> tuple[list[dict[str, str]], str | None]:
    specs = [await region.table_spec(table)] if table is not None else await region.tables()
    entries: list[dict[str, str]] = []
    for spec in sorted(specs, key=lambda s: s.name):
        for stream in spec.streams:
            entries.append(
                {
                    "StreamArn": stream_arn(region, spec.name, stream),
                    "TableName": spec.name,
                    "StreamLabel": stream.label,
                }
            )
    if start_arn is not None:
        arns = [e["StreamArn"] for e in entries]
        entries = entries[arns.index(start_arn) + 1 :] if start_arn in arns else []
    page = entries[:limit]
    last = page[-1]["StreamArn"] if len(entries) > limit else None
    return page, last


async def describe_stream(
    region: Region, arn: str, limit: int, start_shard: str | None
) -> dict[str, Any]:
    tid, spec, stream = await _resolve(region, arn)
    shards: list[Shard] = []
    async with region.store.read() as tx:
        for part in range(spec.partitions):
            first, last = await tx.shard_range(tid, part, stream.created_ms)
            ending = None
            if not stream.enabled:
                # a closed shard ends at its last record (or where it would have begun)
                ending = last if last is not None else 0
            shards.append(Shard(shard_id(stream, part), first, ending))
    ids = [s.shard_id for s in shards]
    if start_shard is not None:
        shards = shards[ids.index(start_shard) + 1 :] if start_shard in ids else []
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
        n = int(sequence)
        after = n - 1 if kind == "AT_SEQUENCE_NUMBER" else n
    else:
        if sequence is not None:
            raise ValidationError(
                f"SequenceNumber must not be given when ShardIteratorType is {kind}"
            )
        async with region.store.read() as tx:
            first, last = await tx.shard_range(tid, part, stream.created_ms)
        if kind == "TRIM_HORIZON":
            after = (first - 1) if first is not None else 0
        else:  # LATEST
            after = last if last is not None else 0
            if last is None:
                # nothing yet in this shard: start after everything logged so far
                async with region.store.read() as tx:
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
    exhausted = False
    async with region.store.read() as tx:
        while len(records) < limit and size < _RECORDS_BYTES:
            rows = await tx.changes_after(tid, part, after, min(limit - len(records), 500) or 1)
            if not rows:
                exhausted = True
                break
            for row in rows:
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
    closed_and_drained = not stream.enabled and exhausted
    if not closed_and_drained:
        out["NextShardIterator"] = encode_iterator(Iterator(it.arn, it.shard, after, now))
    return out
