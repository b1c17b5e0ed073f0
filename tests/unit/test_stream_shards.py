"""Stream shard ids and generations (regions/streams.py): ids encode the partition
and the generation, generation 0 keeps the format of the ids from before shards
rolled over, and ids sort parents before children."""

from __future__ import annotations

import pytest

from regions.errors import ResourceNotFound
from regions.streams import Generations, StreamSpec, parse_shard_id, shard_id

CREATED = 1_700_000_000_123
HOUR = 3_600_000
STREAM = StreamSpec(label="2023-11-14T22:13:20.123", view_type="KEYS_ONLY", created_ms=CREATED)


def test_generation_0_keeps_the_old_format() -> None:
    # the format before shards rolled over: the stream's creation ms and the partition
    assert shard_id(STREAM, 5, 0, 4 * HOUR) == f"shardId-{CREATED:020d}-00000005"
    assert parse_shard_id(STREAM, f"shardId-{CREATED:020d}-00000005", 8, 4 * HOUR) == (5, 0)


@pytest.mark.parametrize(("part", "gen"), [(0, 1), (7, 3), (1023, 5000)])
def test_ids_round_trip(part: int, gen: int) -> None:
    sid = shard_id(STREAM, part, gen, 4 * HOUR)
    assert 28 <= len(sid) <= 65
    assert parse_shard_id(STREAM, sid, 1024, 4 * HOUR) == (part, gen)


def test_ids_sort_by_generation_then_partition() -> None:
    pairs = [(g, p) for g in range(12) for p in range(16)]
    ids = [shard_id(STREAM, p, g, 4 * HOUR) for g, p in pairs]
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    "sid",
    [
        f"shardId-{CREATED:020d}-00000008",  # no such partition
        f"shardId-{CREATED - 4 * HOUR:020d}-00000000",  # before the stream
        f"shardId-{CREATED + 1:020d}-00000000",  # not a generation boundary
        f"shardId-{CREATED:020d}-0000000G",
        "shardId-123-00000000",
        "semprinidfaasdasfsdvacsdcfsdsvsdvsdvsdvsdvsdv",
    ],
)
def test_foreign_ids_are_not_found(sid: str) -> None:
    with pytest.raises(ResourceNotFound):
        parse_shard_id(STREAM, sid, 8, 4 * HOUR)


def test_generations_open_and_close_with_a_grace() -> None:
    g = Generations(STREAM, 4 * HOUR)
    assert g.grace_ms == 5_000
    assert g.of(CREATED) == 0 and g.of(CREATED + 4 * HOUR) == 1 and g.of(CREATED - 1) == 0
    boundary = CREATED + 4 * HOUR
    # the child is reported, and its parent closed, only once the grace has passed
    assert g.newest(boundary) == 0 and not g.closed(0, boundary)
    assert g.newest(boundary + 5_000) == 1 and g.closed(0, boundary + 5_000)
    assert not g.closed(1, boundary + 5_000)


def test_a_disabled_stream_closes_every_generation_at_once() -> None:
    disabled = CREATED + 4 * HOUR + 10  # 10 ms into generation 1
    g = Generations(
        StreamSpec(STREAM.label, STREAM.view_type, CREATED, disabled_ms=disabled), 4 * HOUR
    )
    assert g.newest(disabled + 1) == 1  # the young generation is listed, closed
    assert g.closed(1, disabled + 1)
    assert g.end(1) == disabled and g.end(0) == CREATED + 4 * HOUR
    assert g.newest(disabled + 100 * HOUR) == 1
