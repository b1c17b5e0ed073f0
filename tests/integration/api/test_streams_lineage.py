"""Stream shard lineage through boto3's ``dynamodbstreams`` client, against a real
region process whose shards roll over every second (``--stream-shard-rollover``).

What DynamoDB does (Developer Guide "Change data capture for DynamoDB Streams", API
reference of DescribeStream, GetRecords, Shard): shards are closed and a child shard
opened periodically; the child names its parent in ``ParentShardId``; a closed shard
has an ``EndingSequenceNumber``; GetRecords on a closed shard returns its records and
then no ``NextShardIterator``; a reader that processes a parent before its child (as
the Kinesis Client Library and Lambda do) sees every record once, in order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import REGION, create_table, unique

pytestmark = pytest.mark.integration

#: seconds a shard takes records in the region under test
ROLLOVER = 1.0
#: the region reports a generation this long after it began (regions/streams.py)
GRACE = ROLLOVER / 4


@pytest.fixture(scope="module")
def rolling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("streams-lineage")
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{d}/lineage.db",
        log_dir=d,
        extra_args=["--stream-shard-rollover", str(ROLLOVER), "--partitions", "2"],
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ddb(rolling: RegionProcess) -> Any:
    return rolling.client()


@pytest.fixture(scope="module")
def streams(rolling: RegionProcess) -> Any:
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=rolling.url,
        region_name=REGION,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def _shards(streams: Any, arn: str, limit: int = 3) -> list[dict[str, Any]]:
    """Every shard, following DescribeStream's pages (small ones: many pages)."""
    desc = streams.describe_stream(StreamArn=arn, Limit=limit)["StreamDescription"]
    shards = list(desc["Shards"])
    while "LastEvaluatedShardId" in desc:
        assert desc["LastEvaluatedShardId"] == shards[-1]["ShardId"]
        desc = streams.describe_stream(
            StreamArn=arn, Limit=limit, ExclusiveStartShardId=desc["LastEvaluatedShardId"]
        )["StreamDescription"]
        shards += desc["Shards"]
    return shards


def _iterator(streams: Any, arn: str, shard: str, kind: str = "TRIM_HORIZON", **kw: Any) -> str:
    return str(
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **kw)[
            "ShardIterator"
        ]
    )


def _read_closed(streams: Any, iterator: str, limit: int = 2) -> list[dict[str, Any]]:
    """A closed shard to its end: pages until one comes without NextShardIterator."""
    out: list[dict[str, Any]] = []
    nxt: str | None = iterator
    for _ in range(1000):
        if nxt is None:
            return out
        page = streams.get_records(ShardIterator=nxt, Limit=limit)
        out += page["Records"]
        nxt = page.get("NextShardIterator")
    raise AssertionError("a closed shard never ended")


def _seq(record: dict[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def _rng(shard: dict[str, Any]) -> tuple[int, int | None]:
    r = shard["SequenceNumberRange"]
    end = r.get("EndingSequenceNumber")
    return int(r["StartingSequenceNumber"]), int(end) if end is not None else None


def test_shards_roll_over_into_children_and_lineage_reads_every_record_once(
    ddb: Any, streams: Any
) -> None:
    name = unique("lin")
    create_table(
        ddb,
        name,
        range_=("s", "N"),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    arn = str(ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"])
    desc = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    created_ms = round(desc["CreationRequestDateTime"].timestamp() * 1000)
    # iterators held on the first shards, from before they roll over
    held = {
        s["ShardId"]: _iterator(streams, arn, s["ShardId"], "LATEST")
        for s in desc["Shards"]
        if "ParentShardId" not in s
    }

    keys = [f"k{i}" for i in range(8)]
    written: dict[str, list[int]] = {k: [] for k in keys}
    n = 0
    deadline = time.monotonic() + 3.2 * ROLLOVER
    while time.monotonic() < deadline:
        for k in keys:
            ddb.put_item(TableName=name, Item={"p": {"S": k}, "s": {"N": str(n)}})
            written[k].append(n)
            n += 1
        time.sleep(0.05)
    # the generation of the last writes closes (and is reported closed)
    time.sleep(ROLLOVER + 2 * GRACE)

    shards = _shards(streams, arn)
    ids = [s["ShardId"] for s in shards]
    assert len(ids) == len(set(ids))
    assert all(28 <= len(i) <= 65 for i in ids)
    # many generations: pages of three give the same as one page of them all
    assert len(shards) >= 8
    assert shards == streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    # generation 0 keeps the id format of the streams from before shards rolled over
    assert ids[:2] == [f"shardId-{created_ms:020d}-{part:08x}" for part in range(2)]
    by_id = {s["ShardId"]: s for s in shards}
    index = {sid: i for i, sid in enumerate(ids)}
    children: dict[str, str] = {}
    for s in shards:
        parent = s.get("ParentShardId")
        if parent is None:
            continue
        # a parent is of the same partition, listed before its child, and closed
        assert parent[-8:] == s["ShardId"][-8:]
        assert index[parent] < index[s["ShardId"]]
        assert _rng(by_id[parent])[1] is not None
        assert parent not in children  # one child each
        children[parent] = s["ShardId"]
    roots = [s["ShardId"] for s in shards if "ParentShardId" not in s]
    assert len(roots) == 2  # one lineage per partition
    # the newest shard of each partition is open, every other one closed
    leaves = [sid for sid in ids if sid not in children]
    assert len(leaves) == 2
    for shard_id in ids:
        assert (_rng(by_id[shard_id])[1] is None) == (shard_id in leaves)
    # CHILD_SHARDS names a shard's child
    for parent, child in children.items():
        filtered = streams.describe_stream(
            StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": parent}
        )["StreamDescription"]["Shards"]
        assert [s["ShardId"] for s in filtered] == [child]

    # each lineage, parent before child, as the KCL and Lambda read it: a shard to
    # its end (no NextShardIterator), then its child; the open shard until caught up.
    # Shards keep rolling over meanwhile, so what is closed is asked again each time
    got: dict[str, list[int]] = {k: [] for k in keys}
    seen: list[str] = []
    read: dict[str, list[str]] = {}
    closed_read = 0
    for root in roots:
        sid: str | None = root
        last_end: int | None = None
        while sid is not None:
            records: list[dict[str, Any]] = []
            nxt: str | None = _iterator(streams, arn, sid)
            while nxt is not None:
                page = streams.get_records(ShardIterator=nxt, Limit=5)
                records += page["Records"]
                nxt = page.get("NextShardIterator")
                if not page["Records"] and nxt is not None:
                    break  # an open shard, read up to now
            now = {s["ShardId"]: s for s in _shards(streams, arn, limit=100)}
            start, end = _rng(now[sid])
            if records:
                if last_end is not None:
                    # the child starts after its parent's last record
                    assert start > last_end and _seq(records[0]) > last_end
                assert start <= _seq(records[0])
            if nxt is None:
                closed_read += 1
                # read to its end: closed, and its last record is its end
                assert end is not None
                if records:
                    assert _seq(records[-1]) == end
                    last_end = end
                # LATEST and AFTER the end of a closed shard: nothing, and no next
                for it in (
                    _iterator(streams, arn, sid, "LATEST"),
                    _iterator(
                        streams, arn, sid, "AFTER_SEQUENCE_NUMBER", SequenceNumber=f"{end:021d}"
                    ),
                ):
                    page = streams.get_records(ShardIterator=it)
                    assert page["Records"] == [] and "NextShardIterator" not in page
                if records:
                    at = streams.get_records(
                        ShardIterator=_iterator(
                            streams, arn, sid, "AT_SEQUENCE_NUMBER", SequenceNumber=f"{end:021d}"
                        )
                    )
                    assert [_seq(r) for r in at["Records"]] == [end]
                    assert "NextShardIterator" not in at
                (child_shard,) = streams.describe_stream(
                    StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": sid}
                )["StreamDescription"]["Shards"]
                assert child_shard["ParentShardId"] == sid
                nxt_sid: str | None = child_shard["ShardId"]
            else:
                nxt_sid = None
            for r in records:
                assert end is None or _seq(r) <= end
                seen.append(r["eventID"])
                read.setdefault(sid, []).append(r["eventID"])
                got[r["dynamodb"]["Keys"]["p"]["S"]].append(int(r["dynamodb"]["Keys"]["s"]["N"]))
            sid = nxt_sid
    assert len(seen) == len(set(seen)) == n
    assert got == written  # every record exactly once, each item's in write order
    # records really were spread over several generations
    assert closed_read >= 6

    # an iterator taken before the rollover reads its shard's records, then ends
    assert set(held) == set(roots)
    for sid, it in held.items():
        assert [r["eventID"] for r in _read_closed(streams, it, limit=1000)] == read.get(sid, [])
