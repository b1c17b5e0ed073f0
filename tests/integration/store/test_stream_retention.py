"""Stream retention and deleted tables' streams, on SQLite and PostgreSQL alike.

Housekeeping trims the change log as a prefix (regions/store/sql.py trim_changes),
never past a record the publisher has yet to ship, and a deleted table's stream is
kept (disabled, readable) until the retention has passed.  The Streams API over a
real region process is tested in tests/integration/api/test_streams_retention.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from regions import stream_reader
from regions.control import NewTable
from regions.errors import ResourceNotFound
from regions.region import Region
from regions.settings import RegionSettings
from regions.streams import TrimmedDataAccess

pytestmark = pytest.mark.integration

SCHEMA: dict[str, Any] = {
    "key_schema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "attribute_definitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "billing_mode": "PAY_PER_REQUEST",
}
#: every item of these tests in one shard: one partition per table
PARTITIONS = 1


async def _region(
    store_url: str, retention_s: int, kafka: str | None = None, rollover_s: float = 4 * 3600
) -> Region:
    r = Region(
        RegionSettings(
            name="us-east-1",
            store_url=store_url,
            partitions=PARTITIONS,
            change_retention_s=retention_s,
            stream_shard_rollover_s=rollover_s,
            # a Kafka address makes the region keep an outbox; nothing here connects
            kafka=kafka,
        )
    )
    await r.open()
    return r


@pytest.fixture
async def quick(store_url: str) -> AsyncIterator[Region]:
    """A region without Kafka whose records are kept one second."""
    r = await _region(store_url, 1)
    yield r
    await r.close()


async def _stream_table(region: Region, name: str) -> str:
    await region.control.create_table(NewTable(name=name, **SCHEMA))
    spec = await region.control.set_stream(name, True, "NEW_AND_OLD_IMAGES")
    assert spec.stream is not None
    return stream_reader.stream_arn(region, name, spec.stream)


async def _put(region: Region, table: str, *keys: str) -> None:
    for k in keys:
        await region.data.put_item(table, {"pk": {"S": k}})


async def _shard(region: Region, arn: str) -> dict[str, Any]:
    desc = await stream_reader.describe_stream(region, arn, 100, None)
    (shard,) = desc["Shards"]
    return dict(shard)


async def _read(region: Region, arn: str, kind: str = "TRIM_HORIZON", seq: str | None = None) -> list[dict[str, Any]]:
    shard = (await _shard(region, arn))["ShardId"]
    it = await stream_reader.get_shard_iterator(region, arn, shard, kind, seq)
    return list((await stream_reader.get_records(region, it, 1000))["Records"])


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]


async def _age_out(seconds: float = 1.1) -> None:
    # records are old once their created_ms is more than the retention ago
    await asyncio.sleep(seconds)


async def test_trimming_is_a_prefix_and_the_shard_start_moves_forward(quick: Region) -> None:
    arn = await _stream_table(quick, "trimmed")
    await _put(quick, "trimmed", "a", "b", "c")
    old = await _read(quick, arn)
    assert _keys(old) == ["a", "b", "c"]
    seqs = [r["dynamodb"]["SequenceNumber"] for r in old]
    shard = await _shard(quick, arn)
    assert shard["SequenceNumberRange"]["StartingSequenceNumber"] == seqs[0]
    held = await stream_reader.get_shard_iterator(quick, arn, shard["ShardId"], "TRIM_HORIZON", None)
    # a reader that read everything holds an iterator past the last record
    drained = (await stream_reader.get_records(quick, held, 1000))["NextShardIterator"]

    await _age_out()
    _, trimmed = await quick.data.housekeeping()
    assert trimmed >= 3
    assert await _read(quick, arn) == []
    await _put(quick, "trimmed", "d")
    assert _keys(await _read(quick, arn)) == ["d"]
    start = (await _shard(quick, arn))["SequenceNumberRange"]["StartingSequenceNumber"]
    assert int(start) > int(seqs[-1])

    # asking for trimmed records is refused, as DynamoDB does
    with pytest.raises(TrimmedDataAccess):
        await _read(quick, arn, "AT_SEQUENCE_NUMBER", seqs[1])
    with pytest.raises(TrimmedDataAccess):
        await _read(quick, arn, "AFTER_SEQUENCE_NUMBER", seqs[0])
    with pytest.raises(TrimmedDataAccess):
        # issued before the trim, it still had a, b and c to return
        await stream_reader.get_records(quick, held, 1000)
    # nothing after the last trimmed record is missing: a reader there goes on
    assert _keys(await _read(quick, arn, "AFTER_SEQUENCE_NUMBER", seqs[-1])) == ["d"]
    assert _keys((await stream_reader.get_records(quick, drained, 1000))["Records"]) == ["d"]


async def test_sequence_numbers_never_repeat_after_the_log_is_emptied(quick: Region) -> None:
    arn = await _stream_table(quick, "emptied")
    await _put(quick, "emptied", "a", "b")
    before = [int(r["dynamodb"]["SequenceNumber"]) for r in await _read(quick, arn)]
    for _ in range(2):
        await _age_out()
        await quick.data.housekeeping()
    assert await _read(quick, arn) == []
    await _put(quick, "emptied", "c")
    (after,) = await _read(quick, arn)
    assert int(after["dynamodb"]["SequenceNumber"]) > max(before)


async def test_trimming_keeps_what_the_publisher_has_not_shipped(store_url: str) -> None:
    r = await _region(store_url, 1, kafka="127.0.0.1:1")
    try:
        arn = await _stream_table(r, "outbox")
        await _put(r, "outbox", "a", "b")
        await _age_out()
        assert (await r.data.housekeeping())[1] == 0
        pending = await r.data.pending_changes()
        assert [c.keys["pk"]["S"] for c in pending] == ["a", "b"]
        # the publisher shipped the first one only: it alone may go
        await r.data.mark_published([pending[0].seq])
        assert (await r.data.housekeeping())[1] == 1
        assert _keys(await _read(r, arn)) == ["b"]
        assert [c.keys["pk"]["S"] for c in await r.data.pending_changes()] == ["b"]
        await r.data.mark_published([pending[1].seq])
        assert (await r.data.housekeeping())[1] == 1
        assert await _read(r, arn) == []
    finally:
        await r.close()


async def test_a_deleted_tables_stream_stays_readable_until_the_retention_passes(
    store_url: str,
) -> None:
    r = await _region(store_url, 2)
    try:
        old = await _stream_table(r, "gone")
        await _put(r, "gone", "a", "b")
        await r.control.delete_table("gone")
        listed = await stream_reader.list_streams(r, None, 100, None)
        assert [s["StreamArn"] for s in listed[0]] == [old]
        assert [s["StreamArn"] for s in (await stream_reader.list_streams(r, "gone", 100, None))[0]] == [old]
        desc = await stream_reader.describe_stream(r, old, 100, None)
        assert desc["StreamStatus"] == "DISABLED"
        assert "EndingSequenceNumber" in desc["Shards"][0]["SequenceNumberRange"]
        # the delete itself logs no REMOVE per item
        assert _keys(await _read(r, old)) == ["a", "b"]

        # re-created: a new table (new number) with a new stream beside the old one
        new = await _stream_table(r, "gone")
        assert new != old
        await _put(r, "gone", "c")
        both = [s["StreamArn"] for s in (await stream_reader.list_streams(r, "gone", 100, None))[0]]
        assert both == [old, new]
        assert _keys(await _read(r, old)) == ["a", "b"]
        assert _keys(await _read(r, new)) == ["c"]
        assert (await stream_reader.describe_stream(r, new, 100, None))["StreamStatus"] == "ENABLED"

        await _age_out(2.1)
        await r.data.housekeeping()
        assert [s["StreamArn"] for s in (await stream_reader.list_streams(r, "gone", 100, None))[0]] == [new]
        with pytest.raises(ResourceNotFound):
            await stream_reader.describe_stream(r, old, 100, None)
        # the live table's stream is only trimmed, never dropped
        assert (await stream_reader.describe_stream(r, new, 100, None))["StreamStatus"] == "ENABLED"
    finally:
        await r.close()


async def test_trimming_across_shard_generations(store_url: str) -> None:
    """Shards roll over every second, records are kept two: the trim point moves
    from a closed parent into its child as DynamoDB's would."""
    r = await _region(store_url, 2, rollover_s=1)
    try:
        arn = await _stream_table(r, "rolling")
        await _put(r, "rolling", "a", "b")
        desc = await stream_reader.describe_stream(r, arn, 100, None)
        parent = desc["Shards"][0]["ShardId"]
        held = await stream_reader.get_shard_iterator(r, arn, parent, "TRIM_HORIZON", None)
        ab = [rec["dynamodb"]["SequenceNumber"] for rec in await _read(r, arn)]
        await asyncio.sleep(1.4)  # generation 1 begins (and its grace passes)
        await _put(r, "rolling", "c")
        shards = (await stream_reader.describe_stream(r, arn, 100, None))["Shards"]
        assert shards[0]["ShardId"] == parent
        child = next(s for s in shards if s.get("ParentShardId") == parent)["ShardId"]
        rng = shards[0]["SequenceNumberRange"]
        assert [rng["StartingSequenceNumber"], rng["EndingSequenceNumber"]] == ab

        await _age_out(0.8)  # a and b are older than the retention, c is not
        await r.data.housekeeping()
        # the parent's records are gone: its iterator, and its sequence numbers, are
        # trimmed; the child still has all of its own
        with pytest.raises(TrimmedDataAccess):
            await stream_reader.get_records(r, held, 1000)
        with pytest.raises(TrimmedDataAccess):
            await stream_reader.get_shard_iterator(r, arn, parent, "AT_SEQUENCE_NUMBER", ab[0])
        horizon = await stream_reader.get_shard_iterator(r, arn, parent, "TRIM_HORIZON", None)
        page = await stream_reader.get_records(r, horizon, 1000)
        assert page["Records"] == [] and "NextShardIterator" not in page
        # a reader checkpointed at the parent's end goes on in the child
        it = await stream_reader.get_shard_iterator(r, arn, child, "AFTER_SEQUENCE_NUMBER", ab[-1])
        assert _keys((await stream_reader.get_records(r, it, 1000))["Records"]) == ["c"]
        it = await stream_reader.get_shard_iterator(r, arn, child, "TRIM_HORIZON", None)
        assert _keys((await stream_reader.get_records(r, it, 1000))["Records"]) == ["c"]

        # once its window is older than the retention the parent is no longer listed,
        # but its id still reads (empty, closed)
        await _age_out(1.0)
        listed = [s["ShardId"] for s in (await stream_reader.describe_stream(r, arn, 100, None))["Shards"]]
        assert parent not in listed and child in listed
        horizon = await stream_reader.get_shard_iterator(r, arn, parent, "TRIM_HORIZON", None)
        assert "NextShardIterator" not in await stream_reader.get_records(r, horizon, 1000)
    finally:
        await r.close()


async def test_a_table_without_a_stream_leaves_nothing_behind(quick: Region) -> None:
    await quick.control.create_table(NewTable(name="plain", **SCHEMA))
    await _put(quick, "plain", "a")
    await quick.control.delete_table("plain")
    assert (await stream_reader.list_streams(quick, None, 100, None))[0] == []
    with pytest.raises(ResourceNotFound):
        await stream_reader.list_streams(quick, "plain", 100, None)
    async with quick.store.read() as tx:
        assert await tx.retired_tables() == []
