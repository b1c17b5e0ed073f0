"""Stream retention through boto3's ``dynamodbstreams`` client, against a real region
process started with a retention of a few seconds (``--stream-retention``).

What DynamoDB does (API reference of GetShardIterator, TrimmedDataAccessException and
DeleteTable): records older than the retention are trimmed; TRIM_HORIZON starts at
the oldest record left; a shard iterator for a sequence number older than the trim
point, or an iterator whose next records were trimmed before it was used, gets
TrimmedDataAccessException; a deleted table's stream is DISABLED and deleted once
the retention has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import REGION, create_table, expect_error, unique

pytestmark = pytest.mark.integration

#: seconds records are kept by the region under test
RETENTION = 4


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("streams-retention")
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{d}/retention.db",
        log_dir=d,
        extra_args=["--stream-retention", str(RETENTION), "--housekeeping-interval", "0.3"],
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ddb(short: RegionProcess) -> Any:
    return short.client()


@pytest.fixture(scope="module")
def streams(short: RegionProcess) -> Any:
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=short.url,
        region_name=REGION,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def _until(check: Callable[[], bool], what: str, timeout: float = 4 * RETENTION) -> float:
    """Poll until ``check()``; returns when it first held (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _one_shard_table(ddb: Any) -> tuple[str, str]:
    """A table whose items share one partition key (so one shard); (name, stream ARN)."""
    name = unique("ret")
    create_table(
        ddb,
        name,
        range_=("s", "N"),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    return name, str(ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"])


def _put(ddb: Any, name: str, n: int) -> None:
    ddb.put_item(TableName=name, Item={"p": {"S": "one"}, "s": {"N": str(n)}})


def _start(streams: Any, arn: str, shard: str) -> str:
    """DescribeStream's StartingSequenceNumber of one shard."""
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    return str({s["ShardId"]: s for s in shards}[shard]["SequenceNumberRange"]["StartingSequenceNumber"])


def _iterator(streams: Any, arn: str, shard: str, kind: str, **kw: Any) -> str:
    return str(
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **kw)[
            "ShardIterator"
        ]
    )


def _sort_keys(page: dict[str, Any]) -> list[int]:
    return [int(r["dynamodb"]["Keys"]["s"]["N"]) for r in page["Records"]]


def test_records_older_than_the_retention_are_trimmed(ddb: Any, streams: Any) -> None:
    name, arn = _one_shard_table(ddb)
    for i in range(3):
        last_put = time.monotonic()
        _put(ddb, name, i)
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    pages = {
        s["ShardId"]: streams.get_records(ShardIterator=_iterator(streams, arn, s["ShardId"], "TRIM_HORIZON"))
        for s in shards
    }
    (shard,) = [sid for sid, page in pages.items() if page["Records"]]
    assert _sort_keys(pages[shard]) == [0, 1, 2]
    old = [r["dynamodb"]["SequenceNumber"] for r in pages[shard]["Records"]]
    assert _start(streams, arn, shard) == old[0]
    held = _iterator(streams, arn, shard, "TRIM_HORIZON")
    # a reader that has read everything: its next iterator points past the last record
    drained = pages[shard]["NextShardIterator"]

    def trimmed() -> bool:
        iterator = _iterator(streams, arn, shard, "TRIM_HORIZON")
        try:
            page = streams.get_records(ShardIterator=iterator)
        except ClientError as exc:
            # the trim came between the iterator and the read: the iterator's first record
            # is gone, which is DynamoDB's TrimmedDataAccessException (asserted for `held`
            # below); the next poll's iterator starts after the trim
            if exc.response["Error"]["Code"] != "TrimmedDataAccessException":
                raise
            return False
        return not page["Records"]

    gone = _until(trimmed, "the records to age out")
    # never before the retention has passed
    assert gone - last_put >= RETENTION

    _put(ddb, name, 3)
    _put(ddb, name, 4)
    horizon = streams.get_records(ShardIterator=_iterator(streams, arn, shard, "TRIM_HORIZON"))
    assert _sort_keys(horizon) == [3, 4]
    new = [r["dynamodb"]["SequenceNumber"] for r in horizon["Records"]]
    # DescribeStream's range starts at the oldest record left
    assert _start(streams, arn, shard) == new[0]
    assert int(new[0]) > int(old[-1])

    # a sequence number older than the trim point
    for kind, seq in (("AT_SEQUENCE_NUMBER", old[0]), ("AT_SEQUENCE_NUMBER", old[2]), ("AFTER_SEQUENCE_NUMBER", old[1])):
        expect_error(
            lambda kind=kind, seq=seq: _iterator(streams, arn, shard, kind, SequenceNumber=seq),
            "TrimmedDataAccessException",
        )
    # an iterator taken before the trim whose next records are gone
    expect_error(lambda: streams.get_records(ShardIterator=held), "TrimmedDataAccessException")
    # nothing after the last trimmed record is missing: a reader positioned there
    # (an up-to-date consumer, or its checkpoint) reads on
    assert _sort_keys(streams.get_records(ShardIterator=drained)) == [3, 4]
    after_last = _iterator(streams, arn, shard, "AFTER_SEQUENCE_NUMBER", SequenceNumber=old[-1])
    assert _sort_keys(streams.get_records(ShardIterator=after_last)) == [3, 4]
    assert _sort_keys(
        streams.get_records(ShardIterator=_iterator(streams, arn, shard, "AT_SEQUENCE_NUMBER", SequenceNumber=new[1]))
    ) == [4]


def test_a_deleted_tables_stream_lasts_the_retention(ddb: Any, streams: Any) -> None:
    name = unique("ret")
    spec = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    create_table(ddb, name, StreamSpecification=spec)
    old = str(ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"])
    ddb.put_item(TableName=name, Item={"p": {"S": "a"}})
    ddb.delete_table(TableName=name)
    dropped = time.monotonic()

    def listed(table: str | None = None) -> list[str]:
        kw = {"TableName": table} if table else {}
        return [s["StreamArn"] for s in streams.list_streams(**kw)["Streams"]]

    assert old in listed() and listed(name) == [old]
    desc = streams.describe_stream(StreamArn=old)["StreamDescription"]
    assert desc["StreamStatus"] == "DISABLED" and desc["TableName"] == name

    # the same name again: a new table with a new stream, the old one still listed
    create_table(ddb, name, StreamSpecification=spec)
    new = str(ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"])
    assert new != old
    assert listed(name) == [old, new]
    assert streams.describe_stream(StreamArn=new)["StreamDescription"]["StreamStatus"] == "ENABLED"

    gone = _until(lambda: old not in listed(), "the deleted table's stream to expire")
    assert gone - dropped >= RETENTION
    expect_error(lambda: streams.describe_stream(StreamArn=old), "ResourceNotFoundException")
    assert listed(name) == [new]
    ddb.put_item(TableName=name, Item={"p": {"S": "b"}})
    keys = []
    for shard in streams.describe_stream(StreamArn=new)["StreamDescription"]["Shards"]:
        page = streams.get_records(ShardIterator=_iterator(streams, new, shard["ShardId"], "TRIM_HORIZON"))
        keys += [r["dynamodb"]["Keys"]["p"]["S"] for r in page["Records"]]
    assert keys == ["b"]
    ddb.delete_table(TableName=name)
