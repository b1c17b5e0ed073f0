"""Reading streams: ListStreams, DescribeStream, GetShardIterator, GetRecords.

Everything here reads the change log through the store; nothing writes.

A shard is one partition's changes in one generation of the stream (see
regions/streams.py): the range of the partition's log from the first change created
at or after the generation began (least seq, not least time, so that shards are
contiguous ranges and a child starts after its parent's last record) to just before
the first change created at or after it ended (the next generation began, or the
stream was disabled).  Those bounds are index lookups (``first_change_since``,
``last_change_below``); DescribeStream finds every shard's start in one grouped scan
(``change_generations``).  GetRecords stops at a shard's end instead of reading its
child's records (or those of a newer stream, or of no stream), and a closed shard
read to its end returns no NextShardIterator.

Records older than the stream retention are trimmed by housekeeping, oldest first
in every partition (``WriteTx.trim_changes``); the store keeps each partition's greatest
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
    Generations,
    Iterator,
    StreamSpec,
    TrimmedDataAccess,
    decode_iterator,
    encode_iterator,
    parse_shard_id,
    parse_stream_arn,
    record_for,
    sequence_number,
    shard_id,
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
    parent: str | None = None


#: a change committed before a read was created before it: this far past the read's
#: clock, no committed change can lie yet (so the open shard's end needs no query)
_CLOCK_MARGIN_MS = 1_000


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


def _generations(region: Region, stream: StreamSpec) -> Generations:
    return Generations(stream, region.settings.stream_shard_rollover_ms)


def _locate(
    stream: StreamSpec, gens: Generations, shard: str, partitions: int, now: int
) -> tuple[int, int]:
    """(partition, generation) of a shard of the stream that exists at ``now``."""
    part, gen = parse_shard_id(stream, shard, partitions, gens.length_ms)
    if gen > gens.newest(now):
        raise ResourceNotFound(f"Requested resource not found: Shard does not exist: {shard}")
    return part, gen


async def _window_end(
    tx: ReadTx, tid: int, part: int, gens: Generations, gen: int, now: int
) -> int | None:
    """A shard's exclusive end in the log: the least seq of its partition created at
    or after the end of its generation's window (its child's first record, or the
    first change after the disabling); None while there is none."""
    end_ms = gens.end(gen)
    if end_ms > now + _CLOCK_MARGIN_MS:
        return None  # the window is still open: nothing can lie past it yet
    return await tx.first_change_since(tid, part, end_ms)


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


def _listed(gens: Generations, oldest: int, newest: int, partitions: int) -> list[tuple[int, int]]:
    """The shards DescribeStream lists, in its order: by generation, then partition
    (the order of their ids, so parents come before their children)."""
    return [(gen, part) for gen in range(oldest, newest + 1) for part in range(partitions)]


def _first_after(
    stream: StreamSpec, gens: Generations, shards: list[tuple[int, int]], start: str
) -> int:
    """Index of the first of ``shards`` whose id sorts after ``start`` (ids sort as
    the list does; an unknown id starts after its place)."""
    lo, hi = 0, len(shards)
    while lo < hi:
        mid = (lo + hi) // 2
        gen, part = shards[mid]
        if shard_id(stream, part, gen, gens.length_ms) > start:
            hi = mid
        else:
            lo = mid + 1
    return lo


async def describe_stream(
    region: Region,
    arn: str,
    limit: int,
    start_shard: str | None,
    child_shards_of: str | None = None,
) -> dict[str, Any]:
    tid, spec, stream = await _resolve(region, arn)
    gens = _generations(region, stream)
    now = wall_ms()
    newest = gens.newest(now)
    shards: list[Shard] = []
    more = False
    async with region.store.read() as tx:
        # the least seq of each (partition, generation of creation time), in one scan:
        # a shard's range starts at the least seq created since its window began
        firsts: dict[int, list[tuple[int, int]]] = {}
        for part, gen, seq in await tx.change_generations(tid, stream.created_ms, gens.length_ms):
            firsts.setdefault(part, []).append((gen, seq))

        def since(part: int, gen: int) -> int | None:
            seqs = [seq for g, seq in firsts.get(part, ()) if g >= gen]
            return min(seqs) if seqs else None

        # shards are kept while their records may be (the retention), and while
        # they still hold any (records not yet shipped to Kafka are never trimmed)
        oldest = gens.of(now - region.settings.change_retention_s * 1000)
        oldest = min([oldest, newest, *(g for held in firsts.values() for g, _ in held)])
        listed = _listed(gens, oldest, newest, spec.partitions)
        if child_shards_of is not None:
            # ShardFilter CHILD_SHARDS: a shard's one child is the next generation
            try:
                part, gen = _locate(stream, gens, child_shards_of, spec.partitions, now)
            except ResourceNotFound:
                listed = []
            else:
                listed = [(gen + 1, part)] if gen < newest else []
        first = _first_after(stream, gens, listed, start_shard) if start_shard else 0
        page = listed[first : first + limit]
        more = len(listed) > first + limit
        trims: dict[int, int] = {}
        for gen, part in page:
            if part not in trims:
                trims[part] = await tx.trimmed_through(tid, part)
            lo = since(part, gen)
            if stream.disabled_ms is not None and gens.end(gen) == stream.disabled_ms:
                hi = await tx.first_change_since(tid, part, stream.disabled_ms)
            else:
                hi = since(part, gen + 1)
            closed = gens.closed(gen, now)
            if lo is not None and (hi is None or lo < hi):
                starting = lo
                ending = await tx.last_change_below(tid, part, hi) if closed else None
            else:
                # an empty shard starts past what its partition logged before it, and
                # past what was trimmed from it, so the range moves forward as records
                # age out; a closed one ends where it would have begun
                base = max(await tx.last_change_below(tid, part, hi) or 0, trims[part])
                starting = base + 1 if base else 0
                ending = starting if closed else None
            shards.append(
                Shard(
                    shard_id(stream, part, gen, gens.length_ms),
                    starting,
                    ending,
                    shard_id(stream, part, gen - 1, gens.length_ms) if gen > 0 else None,
                )
            )
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
                **({"ParentShardId": s.parent} if s.parent is not None else {}),
            }
            for s in shards
        ],
    }
    if more and shards:
        desc["LastEvaluatedShardId"] = shards[-1].shard_id
    return desc


async def get_shard_iterator(
    region: Region, arn: str, shard: str, kind: str, sequence: str | None
) -> str:
    tid, spec, stream = await _resolve(region, arn)
    gens = _generations(region, stream)
    now = wall_ms()
    part, gen = _locate(stream, gens, shard, spec.partitions, now)
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if sequence is None:
            raise ValidationError(f"SequenceNumber is required when ShardIteratorType is {kind}")
        if _DIGITS.fullmatch(sequence) is None:
            # sequence numbers are decimal digits; anything else is the caller's error
            raise ValidationError(f"Invalid SequenceNumber: {sequence}")
    elif sequence is not None:
        raise ValidationError(f"SequenceNumber must not be given when ShardIteratorType is {kind}")
    async with region.store.read() as tx:
        end = await _window_end(tx, tid, part, gens, gen, now)
        if kind == "LATEST":
            # after the shard's last record; in an empty shard, after what its
            # partition logged before it (nothing lies between that and the shard)
            last = await tx.last_change_below(tid, part, end)
            if last is not None:
                after = last
            elif end is not None:
                after = end - 1
            else:
                after = await tx.max_seq()
            return encode_iterator(Iterator(arn, shard, after, now))
        first = await tx.first_change_since(tid, part, gens.start(gen))
        if first is not None and end is not None and first >= end:
            first = None  # nothing in the shard's range
        if kind == "TRIM_HORIZON":
            if first is not None:
                after = first - 1
            elif end is not None:
                # an empty closed shard: at its end, so the first read drains it
                after = end - 1
            else:
                # an empty shard: every record it will ever hold comes after
                # everything logged so far
                after = await tx.max_seq()
        else:
            n = int(sequence or 0)
            after = n - 1 if kind == "AT_SEQUENCE_NUMBER" else n
            # a position before the shard (in its parent's records) is its start:
            # the parents' records are not this shard's
            before = await tx.last_change_below(tid, part, first if first is not None else end)
            if before is not None and after < before:
                after = before
            # "a sequence number older than the trim point" is refused up front
            _check_not_trimmed(after, await tx.trimmed_through(tid, part), end)
    return encode_iterator(Iterator(arn, shard, after, now))


async def get_records(region: Region, token: str, limit: int) -> dict[str, Any]:
    now = wall_ms()
    it = decode_iterator(token, now)
    tid, spec, stream = await _resolve(region, it.arn)
    gens = _generations(region, stream)
    part, gen = _locate(stream, gens, it.shard, spec.partitions, now)
    closed = gens.closed(gen, now)
    records: list[dict[str, Any]] = []
    after = it.after_seq
    size = 0
    drained = False
    async with region.store.read() as tx:
        end = await _window_end(tx, tid, part, gens, gen, now)
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
                    # past the shard: the rest is its child's (or no stream's)
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
    # to its end, which is how readers learn they are done with it and go on to
    # its child
    if not closed or not drained:
        out["NextShardIterator"] = encode_iterator(Iterator(it.arn, it.shard, after, now))
    return out
