"""DynamoDB Streams through boto3's ``dynamodbstreams`` client, against a real region.

Expected behaviour and texts are DynamoDB's own: the Developer Guide's Streams pages,
the botocore DynamoDB Streams model, ScyllaDB Alternator's ``test_streams.py`` (run against the real service) and
the ValidationException catalogue observed on AWS.  Stream records are committed
with the write that makes them, so a record is readable as soon as the write returns.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from regions.streams import Iterator as ShardIterator
from regions.streams import encode_iterator
from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import REGION, create_table, expect_error, unique

pytestmark = pytest.mark.integration

TableFactory = Callable[..., str]

VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
LABEL_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}")
SEQ_RE = re.compile(r"[0-9]{21,40}")
SERVICE = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}


def _streams_client(url: str, **config: Any) -> Any:
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )


@pytest.fixture(scope="module")
def streams(region_proc: RegionProcess) -> Any:
    return _streams_client(region_proc.url)


@pytest.fixture(scope="module")
def raw_streams(region_proc: RegionProcess) -> Any:
    """Without botocore's own parameter checks, so the server's are the ones tested."""
    return _streams_client(region_proc.url, parameter_validation=False)


def _spec(view: str) -> dict[str, Any]:
    return {"StreamEnabled": True, "StreamViewType": view}


def _stream_table(make_table: TableFactory, view: str = "NEW_AND_OLD_IMAGES", **kw: Any) -> str:
    return make_table(StreamSpecification=_spec(view), **kw)


def _arn(ddb: Any, table: str) -> str:
    return str(ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"])


def _shards(streams: Any, arn: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Every shard of a stream, following DescribeStream's pages."""
    kw: dict[str, Any] = {"Limit": limit} if limit is not None else {}
    desc = streams.describe_stream(StreamArn=arn, **kw)["StreamDescription"]
    shards = list(desc["Shards"])
    while "LastEvaluatedShardId" in desc:
        assert desc["LastEvaluatedShardId"] == shards[-1]["ShardId"]
        desc = streams.describe_stream(
            StreamArn=arn, ExclusiveStartShardId=desc["LastEvaluatedShardId"], **kw
        )["StreamDescription"]
        shards += desc["Shards"]
    return shards


def _iterator(streams: Any, arn: str, shard: str, kind: str = "TRIM_HORIZON", **kw: Any) -> str:
    return str(
        streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **kw
        )["ShardIterator"]
    )


def _drain(streams: Any, iterator: str | None, limit: int = 1000) -> tuple[list[dict[str, Any]], str | None]:
    """Records from an iterator until a page comes back empty (open shard) or without
    a NextShardIterator (closed shard); returns them and the iterator to go on with."""
    out: list[dict[str, Any]] = []
    while iterator is not None:
        page = streams.get_records(ShardIterator=iterator, Limit=limit)
        out += page["Records"]
        iterator = page.get("NextShardIterator")
        if not page["Records"]:
            break
    return out, iterator


def _read(streams: Any, arn: str, kind: str = "TRIM_HORIZON") -> dict[str, list[dict[str, Any]]]:
    """Every record of every shard of a stream, by shard id."""
    return {
        s["ShardId"]: _drain(streams, _iterator(streams, arn, s["ShardId"], kind))[0]
        for s in _shards(streams, arn)
    }


def _all(streams: Any, arn: str) -> list[dict[str, Any]]:
    """Every record of a stream, in sequence-number order (the order of the writes)."""
    records = [r for rs in _read(streams, arn).values() for r in rs]
    return sorted(records, key=lambda r: int(r["dynamodb"]["SequenceNumber"]))


def _events(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["eventName"], r["dynamodb"]["Keys"]["p"]["S"]) for r in records]


def _item(p: str, **attrs: str) -> dict[str, Any]:
    return {"p": {"S": p}, **{k: {"S": v} for k, v in attrs.items()}}


# --------------------------------------------------------------------------- enabling


@pytest.mark.parametrize("view", VIEW_TYPES)
def test_create_table_with_a_stream_of_each_view_type(ddb: Any, streams: Any, view: str) -> None:
    name = unique("st")
    created = create_table(ddb, name, StreamSpecification=_spec(view))["TableDescription"]
    try:
        assert created["StreamSpecification"] == _spec(view)
        label = created["LatestStreamLabel"]
        assert LABEL_RE.fullmatch(label), label
        account = created["TableArn"].split(":")[4]
        arn = f"arn:aws:dynamodb:{REGION}:{account}:table/{name}/stream/{label}"
        assert created["LatestStreamArn"] == arn
        desc = ddb.describe_table(TableName=name)["Table"]
        assert desc["StreamSpecification"] == _spec(view)
        assert (desc["LatestStreamArn"], desc["LatestStreamLabel"]) == (arn, label)
        listed = streams.list_streams(TableName=name)["Streams"]
        assert listed == [{"StreamArn": arn, "TableName": name, "StreamLabel": label}]
        _check_images(ddb, streams, name, arn, view)
    finally:
        ddb.delete_table(TableName=name)


@pytest.mark.parametrize("view", VIEW_TYPES)
def test_update_table_enables_a_stream_of_each_view_type(
    ddb: Any, streams: Any, make_table: TableFactory, view: str
) -> None:
    name = make_table()
    desc = ddb.describe_table(TableName=name)["Table"]
    assert not {"StreamSpecification", "LatestStreamArn", "LatestStreamLabel"} & set(desc)
    assert streams.list_streams(TableName=name)["Streams"] == []
    # written before the stream existed: never in it
    ddb.put_item(TableName=name, Item=_item("before", v="0"))
    updated = ddb.update_table(TableName=name, StreamSpecification=_spec(view))["TableDescription"]
    assert updated["StreamSpecification"] == _spec(view)
    arn = updated["LatestStreamArn"]
    assert arn == f"{updated['TableArn']}/stream/{updated['LatestStreamLabel']}"
    assert _arn(ddb, name) == arn
    ddb.delete_item(TableName=name, Key=_item("before"))
    _check_images(ddb, streams, name, arn, view, removed_first=_item("before", v="0"))


def _check_images(
    ddb: Any,
    streams: Any,
    name: str,
    arn: str,
    view: str,
    removed_first: dict[str, Any] | None = None,
) -> None:
    """Writes an INSERT, a MODIFY by Put, a MODIFY by Update and a REMOVE of one item
    and checks each record carries exactly the images its view type allows
    (``removed_first``: an item whose REMOVE precedes them in the stream)."""
    ddb.put_item(TableName=name, Item=_item("k", v="1"))
    ddb.put_item(TableName=name, Item=_item("k", v="2", w="x"))
    ddb.update_item(
        TableName=name,
        Key=_item("k"),
        UpdateExpression="SET v = :v REMOVE w",
        ExpressionAttributeValues={":v": {"S": "3"}},
    )
    ddb.delete_item(TableName=name, Key=_item("k"))
    # (event, old, new) of every change, in order
    expected: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = []
    if removed_first is not None:
        expected.append(("REMOVE", removed_first["p"]["S"], removed_first, None))
    expected += [
        ("INSERT", "k", None, _item("k", v="1")),
        ("MODIFY", "k", _item("k", v="1"), _item("k", v="2", w="x")),
        ("MODIFY", "k", _item("k", v="2", w="x"), _item("k", v="3")),
        ("REMOVE", "k", _item("k", v="3"), None),
    ]
    records = _all(streams, arn)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["p"]["S"]) for r in records] == [
        (e, k) for e, k, _, _ in expected
    ]
    for record, (_, key, old, new) in zip(records, expected, strict=True):
        data = record["dynamodb"]
        assert data["StreamViewType"] == view
        assert data["Keys"] == _item(key)
        want: dict[str, Any] = {}
        if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and new is not None:
            want["NewImage"] = new
        if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and old is not None:
            want["OldImage"] = old
        assert {k: v for k, v in data.items() if k in ("NewImage", "OldImage")} == want


def test_enabling_an_enabled_stream_is_refused_even_to_change_its_view_type(
    ddb: Any, streams: Any, make_table: TableFactory
) -> None:
    name = _stream_table(make_table, "KEYS_ONLY")
    arn = _arn(ddb, name)
    message = f"Table already has an enabled stream: TableName: {name}"
    for view in VIEW_TYPES:
        expect_error(
            lambda view=view: ddb.update_table(TableName=name, StreamSpecification=_spec(view)),
            "ValidationException",
            message,
        )
    desc = ddb.describe_table(TableName=name)["Table"]
    assert desc["StreamSpecification"] == _spec("KEYS_ONLY")
    assert desc["LatestStreamArn"] == arn
    assert [s["StreamArn"] for s in streams.list_streams(TableName=name)["Streams"]] == [arn]


def test_disabling_a_table_without_a_stream_is_refused(ddb: Any, make_table: TableFactory) -> None:
    name = make_table()
    expect_error(
        lambda: ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False}),
        "ValidationException",
    )


def test_disabling_a_table_without_a_stream_says_so_in_dynamodb_words(
    ddb: Any, make_table: TableFactory
) -> None:
    name = make_table()
    expect_error(
        lambda: ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False}),
        "ValidationException",
        f"Table has no stream to disable: TableName: {name}",
    )


def test_create_table_refusing_a_stream_without_view_type_creates_nothing(ddb: Any) -> None:
    name = unique("st")
    try:
        expect_error(
            lambda: create_table(ddb, name, StreamSpecification={"StreamEnabled": True}),
            "ValidationException",
            "One or more parameter values were invalid: Table is being created with a stream "
            "enabled, UpdateViewType is required",
        )
        expect_error(lambda: ddb.describe_table(TableName=name), "ResourceNotFoundException")
    finally:
        try:
            ddb.delete_table(TableName=name)
        except Exception:
            pass


def test_a_view_type_with_a_disabled_stream_is_refused(
    ddb: Any, make_table: TableFactory
) -> None:
    name = unique("st")
    try:
        expect_error(
            lambda: create_table(
                ddb, name, StreamSpecification={"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"}
            ),
            "ValidationException",
            "One or more parameter values were invalid: Table is being created with a stream "
            "disabled, UpdateViewType should not be specified",
        )
    finally:
        try:
            ddb.delete_table(TableName=name)
        except Exception:
            pass
    enabled = _stream_table(make_table, "KEYS_ONLY")
    expect_error(
        lambda: ddb.update_table(
            TableName=enabled,
            StreamSpecification={"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"},
        ),
        "ValidationException",
        "One or more parameter values were invalid: If stream is being disabled, then "
        "UpdateViewType must not be specified",
    )


# --------------------------------------------------------------------------- ListStreams


def test_list_streams_filters_by_table_and_pages(
    ddb: Any, streams: Any, raw_streams: Any, make_table: TableFactory
) -> None:
    names = sorted(_stream_table(make_table, v) for v in ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"))
    plain = make_table()
    arns = {n: _arn(ddb, n) for n in names}
    assert streams.list_streams(TableName=plain)["Streams"] == []
    for n in names:
        assert [s["StreamArn"] for s in streams.list_streams(TableName=n)["Streams"]] == [arns[n]]

    # one page at a time: every stream of the region exactly once, ours in name order
    seen: list[str] = []
    page = streams.list_streams(Limit=1)
    while True:
        assert len(page["Streams"]) <= 1
        seen += [s["StreamArn"] for s in page["Streams"]]
        if "LastEvaluatedStreamArn" not in page:
            break
        assert page["LastEvaluatedStreamArn"] == seen[-1]
        page = streams.list_streams(Limit=1, ExclusiveStartStreamArn=page["LastEvaluatedStreamArn"])
    assert len(seen) == len(set(seen))
    assert [a for a in seen if a in arns.values()] == [arns[n] for n in names]
    assert seen == [s["StreamArn"] for s in streams.list_streams()["Streams"]]

    two = streams.list_streams(Limit=2, ExclusiveStartStreamArn=arns[names[0]])
    assert [s["StreamArn"] for s in two["Streams"]][:1] == [seen[seen.index(arns[names[0]]) + 1]]

    expect_error(lambda: raw_streams.list_streams(Limit=0), "ValidationException")
    expect_error(lambda: raw_streams.list_streams(Limit=101), "ValidationException")
    expect_error(
        lambda: streams.list_streams(ExclusiveStartStreamArn="kossaapaaasdafsdaasdasdasdasasdasfadfadfasdasdas"),
        "ValidationException",
    )
    expect_error(
        lambda: streams.list_streams(TableName=unique("missing")), "ResourceNotFoundException"
    )


# --------------------------------------------------------------------------- DescribeStream


def test_describe_stream(ddb: Any, streams: Any, make_table: TableFactory) -> None:
    name = _stream_table(make_table, "NEW_IMAGE", range_=("s", "N"))
    desc = ddb.describe_table(TableName=name)["Table"]
    arn = desc["LatestStreamArn"]
    before = time.time()
    out = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert out["StreamArn"] == arn
    assert out["StreamLabel"] == desc["LatestStreamLabel"]
    assert out["StreamStatus"] == "ENABLED"
    assert out["StreamViewType"] == "NEW_IMAGE"
    assert out["TableName"] == name
    assert out["KeySchema"] == [
        {"AttributeName": "p", "KeyType": "HASH"},
        {"AttributeName": "s", "KeyType": "RANGE"},
    ]
    assert abs(out["CreationRequestDateTime"].timestamp() - before) < 60
    shards = out["Shards"]
    assert shards and "LastEvaluatedShardId" not in out
    ids = [s["ShardId"] for s in shards]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    for s in shards:
        assert 28 <= len(s["ShardId"]) <= 65
        assert "ParentShardId" not in s
        rng = s["SequenceNumberRange"]
        assert SEQ_RE.fullmatch(rng["StartingSequenceNumber"])
        assert "EndingSequenceNumber" not in rng  # open

    for i in range(30):
        ddb.put_item(TableName=name, Item={"p": {"S": f"k{i}"}, "s": {"N": str(i)}})
    shards = _shards(streams, arn)
    assert [s["ShardId"] for s in shards] == ids
    # one shard per page gives the same shards, in the same order
    assert _shards(streams, arn, limit=1) == shards
    assert streams.describe_stream(StreamArn=arn, ExclusiveStartShardId=ids[-1])[
        "StreamDescription"
    ]["Shards"] == []
    # a shard's range starts at or before its first record
    for s in shards:
        records, _ = _drain(streams, _iterator(streams, arn, s["ShardId"]))
        for r in records:
            assert int(r["dynamodb"]["SequenceNumber"]) >= int(
                s["SequenceNumberRange"]["StartingSequenceNumber"]
            )
    # shards never split here, so no shard has children
    child = streams.describe_stream(
        StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": ids[0]}
    )["StreamDescription"]
    assert child["Shards"] == [] and child["StreamArn"] == arn


def test_describe_stream_errors(
    ddb: Any, streams: Any, raw_streams: Any, make_table: TableFactory
) -> None:
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    expect_error(
        lambda: streams.describe_stream(StreamArn="sdfadfsdfnlfkajakfgjalksfgklasjklasdjfklasdfasdfgasf"),
        "ValidationException",
    )
    unknown = arn.rsplit("/", 1)[0] + "/2000-01-01T00:00:00.000"
    expect_error(lambda: streams.describe_stream(StreamArn=unknown), "ResourceNotFoundException")
    gone = arn.replace(f"table/{name}/", f"table/{unique('missing')}/")
    expect_error(lambda: streams.describe_stream(StreamArn=gone), "ResourceNotFoundException")
    expect_error(lambda: raw_streams.describe_stream(StreamArn=arn, Limit=0), "ValidationException")
    expect_error(lambda: raw_streams.describe_stream(StreamArn=arn, Limit=101), "ValidationException")


# --------------------------------------------------------------------------- GetShardIterator


def test_shard_iterator_types(ddb: Any, streams: Any, make_table: TableFactory) -> None:
    # one partition key, so every change lands in one shard
    name = _stream_table(make_table, "KEYS_ONLY", range_=("s", "N"))
    arn = _arn(ddb, name)

    def put(i: int) -> None:
        ddb.put_item(TableName=name, Item={"p": {"S": "one"}, "s": {"N": str(i)}})

    for i in range(5):
        put(i)
    (shard,) = [
        sid for sid, rs in _read(streams, arn).items() if rs
    ]  # the only shard with records
    latest = _iterator(streams, arn, shard, "LATEST")
    horizon, _ = _drain(streams, _iterator(streams, arn, shard, "TRIM_HORIZON"))
    sort_keys = [int(r["dynamodb"]["Keys"]["s"]["N"]) for r in horizon]
    assert sort_keys == [0, 1, 2, 3, 4]
    seqs = [r["dynamodb"]["SequenceNumber"] for r in horizon]
    assert [int(s) for s in seqs] == sorted({int(s) for s in seqs})  # strictly increasing

    at, _ = _drain(streams, _iterator(streams, arn, shard, "AT_SEQUENCE_NUMBER", SequenceNumber=seqs[2]))
    assert [r["dynamodb"]["SequenceNumber"] for r in at] == seqs[2:]
    after, _ = _drain(
        streams, _iterator(streams, arn, shard, "AFTER_SEQUENCE_NUMBER", SequenceNumber=seqs[2])
    )
    assert [r["dynamodb"]["SequenceNumber"] for r in after] == seqs[3:]
    # LATEST was taken after the five writes: it sees only what comes next
    put(5)
    fresh, _ = _drain(streams, latest)
    assert [int(r["dynamodb"]["Keys"]["s"]["N"]) for r in fresh] == [5]
    assert _drain(streams, _iterator(streams, arn, shard, "LATEST"))[0] == []


def test_shard_iterator_errors(
    ddb: Any, streams: Any, raw_streams: Any, make_table: TableFactory
) -> None:
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    shard = _shards(streams, arn)[0]
    sid = shard["ShardId"]
    seq = shard["SequenceNumberRange"]["StartingSequenceNumber"]
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        expect_error(lambda kind=kind: _iterator(streams, arn, sid, kind), "ValidationException")
        assert _iterator(streams, arn, sid, kind, SequenceNumber=seq)
        # sequence numbers are digits: anything else is the caller's error, not a 500
        expect_error(
            lambda kind=kind: _iterator(streams, arn, sid, kind, SequenceNumber="x" * 25),
            "ValidationException",
        )
    for kind in ("TRIM_HORIZON", "LATEST"):
        expect_error(
            lambda kind=kind: _iterator(streams, arn, sid, kind, SequenceNumber=seq),
            "ValidationException",
        )
    expect_error(
        lambda: _iterator(streams, arn, "semprinidfaasdasfsdvacsdcfsdsvsdvsdvsdvsdvsdv", "LATEST"),
        "ResourceNotFoundException",
    )
    # a shard id of the right form for a partition the stream does not have
    expect_error(
        lambda: _iterator(streams, arn, sid[:-8] + "0000ffff", "LATEST"),
        "ResourceNotFoundException",
    )
    expect_error(
        lambda: _iterator(
            streams, "sdfadfsddafgdafsgjnadflkgnalngalsdfnlkasnlkasdfasdfasf", sid, "LATEST"
        ),
        "ValidationException",
    )
    expect_error(lambda: _iterator(raw_streams, arn, sid, "bulle"), "ValidationException")


# --------------------------------------------------------------------------- GetRecords


def test_get_records_limit_and_next_iterators(
    ddb: Any, streams: Any, raw_streams: Any, make_table: TableFactory
) -> None:
    name = _stream_table(make_table, "KEYS_ONLY", range_=("s", "N"))
    arn = _arn(ddb, name)
    for i in range(10):
        ddb.put_item(TableName=name, Item={"p": {"S": "one"}, "s": {"N": str(i)}})
    (sid,) = [sid for sid, rs in _read(streams, arn).items() if rs]
    iterator: str | None = _iterator(streams, arn, sid)
    pages: list[int] = []
    got: list[str] = []
    for _ in range(5):
        assert iterator is not None
        page = streams.get_records(ShardIterator=iterator, Limit=3)
        pages.append(len(page["Records"]))
        got += [r["dynamodb"]["Keys"]["s"]["N"] for r in page["Records"]]
        # an open shard always hands out the next iterator, even after an empty page
        iterator = page["NextShardIterator"]
    assert pages == [3, 3, 3, 1, 0]
    assert got == [str(i) for i in range(10)]
    # an iterator stays usable: the next write shows up on the one we hold
    ddb.put_item(TableName=name, Item={"p": {"S": "one"}, "s": {"N": "10"}})
    assert [r["dynamodb"]["Keys"]["s"]["N"] for r in streams.get_records(ShardIterator=iterator)["Records"]] == ["10"]

    start = _iterator(streams, arn, sid)
    assert len(streams.get_records(ShardIterator=start, Limit=1)["Records"]) == 1
    assert len(streams.get_records(ShardIterator=start, Limit=1000)["Records"]) == 11
    expect_error(lambda: raw_streams.get_records(ShardIterator=start, Limit=0), "ValidationException")
    expect_error(lambda: raw_streams.get_records(ShardIterator=start, Limit=1001), "ValidationException")
    expect_error(
        lambda: streams.get_records(ShardIterator="sdfsdfsgagaddafgagasgasgasdfasdfasdfasdfasdgasdasdgasdg"),
        "ValidationException",
    )


def test_record_shape(ddb: Any, streams: Any, make_table: TableFactory) -> None:
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    started = dt.datetime.now(dt.UTC)
    for i in range(6):
        ddb.put_item(TableName=name, Item=_item(f"k{i}", v="x" * i))
    ddb.delete_item(TableName=name, Key=_item("k0"))
    records = _all(streams, arn)
    assert _events(records) == [("INSERT", f"k{i}") for i in range(6)] + [("REMOVE", "k0")]
    ids = [r["eventID"] for r in records]
    assert len(set(ids)) == len(ids)
    for r in records:
        assert re.fullmatch(r"[0-9a-f]{32}", r["eventID"])
        assert r["eventVersion"] == "1.1"
        assert r["eventSource"] == "aws:dynamodb"
        assert r["awsRegion"] == REGION
        assert "userIdentity" not in r  # a user's write, not the service's
        data = r["dynamodb"]
        assert set(data) >= {
            "ApproximateCreationDateTime",
            "Keys",
            "SequenceNumber",
            "SizeBytes",
            "StreamViewType",
        }
        created = data["ApproximateCreationDateTime"]
        assert abs((created - started).total_seconds()) < 60
        assert SEQ_RE.fullmatch(data["SequenceNumber"])
        assert isinstance(data["SizeBytes"], int) and data["SizeBytes"] > 0
        assert data["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    # a bigger item makes a bigger record
    sizes = [r["dynamodb"]["SizeBytes"] for r in records[:6]]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    remove = records[-1]["dynamodb"]
    assert remove["OldImage"] == _item("k0", v="") and "NewImage" not in remove


def test_no_op_writes_emit_no_record(ddb: Any, streams: Any, make_table: TableFactory) -> None:
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    ddb.put_item(TableName=name, Item=_item("a", v="1"))
    # none of these changes anything
    ddb.put_item(TableName=name, Item=_item("a", v="1"))
    ddb.update_item(
        TableName=name,
        Key=_item("a"),
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "1"}},
    )
    ddb.update_item(TableName=name, Key=_item("a"), UpdateExpression="REMOVE absent_attr")
    ddb.update_item(TableName=name, Key=_item("nobody"), UpdateExpression="REMOVE absent_attr")
    ddb.delete_item(TableName=name, Key=_item("nobody"))
    expect_error(
        lambda: ddb.put_item(
            TableName=name, Item=_item("a", v="2"), ConditionExpression="attribute_not_exists(p)"
        ),
        "ConditionalCheckFailedException",
    )
    # these do: an overwriting Put is a MODIFY, never a REMOVE and an INSERT
    ddb.put_item(TableName=name, Item=_item("a", v="2"))
    ddb.delete_item(TableName=name, Key=_item("a"))
    records = _all(streams, arn)
    assert _events(records) == [("INSERT", "a"), ("MODIFY", "a"), ("REMOVE", "a")]
    assert records[1]["dynamodb"]["OldImage"] == _item("a", v="1")
    assert records[1]["dynamodb"]["NewImage"] == _item("a", v="2")


def test_every_change_appears_exactly_once_in_key_order(
    ddb: Any, streams: Any, make_table: TableFactory
) -> None:
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    expected: dict[str, list[tuple[str, str | None]]] = {}
    for round_ in range(3):
        for i in range(15):
            key = f"k{i:02d}"
            if round_ == 2 and i % 3 == 0:
                ddb.delete_item(TableName=name, Key=_item(key))
                expected[key].append(("REMOVE", None))
            else:
                ddb.put_item(TableName=name, Item=_item(key, r=str(round_)))
                expected.setdefault(key, []).append(
                    ("INSERT" if round_ == 0 else "MODIFY", str(round_))
                )
    ddb.batch_write_item(
        RequestItems={name: [{"PutRequest": {"Item": _item(f"b{i}")}} for i in range(5)]}
    )
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": name, "Item": _item("t1")}},
            {"Delete": {"TableName": name, "Key": _item("b0")}},
        ]
    )
    for i in range(5):
        expected[f"b{i}"] = [("INSERT", "")]
    expected["b0"].append(("REMOVE", None))
    expected["t1"] = [("INSERT", "")]

    by_shard = _read(streams, arn)
    shard_of: dict[str, str] = {}
    got: dict[str, list[tuple[str, str | None]]] = {}
    for sid, records in by_shard.items():
        seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        assert seqs == sorted(set(seqs)), f"sequence numbers of {sid} do not increase"
        for r in records:
            key = r["dynamodb"]["Keys"]["p"]["S"]
            # an item's changes all live in one shard
            assert shard_of.setdefault(key, sid) == sid
            new = r["dynamodb"].get("NewImage")
            got.setdefault(key, []).append(
                (r["eventName"], new.get("r", {"S": ""})["S"] if new else None)
            )
    assert got == expected
    every = [r["eventID"] for rs in by_shard.values() for r in rs]
    assert len(every) == len(set(every)) == sum(len(v) for v in expected.values())


def test_expired_iterator(ddb: Any, streams: Any, make_table: TableFactory) -> None:
    name = _stream_table(make_table, "KEYS_ONLY")
    arn = _arn(ddb, name)
    ddb.put_item(TableName=name, Item=_item("a"))
    sid = next(sid for sid, rs in _read(streams, arn).items() if rs)
    now_ms = int(time.time() * 1000)
    # the server's own token format, issued 14 and 16 minutes ago (iterators live 15)
    fresh = encode_iterator(ShardIterator(arn, sid, 0, now_ms - 14 * 60_000))
    stale = encode_iterator(ShardIterator(arn, sid, 0, now_ms - 16 * 60_000))
    assert _events(streams.get_records(ShardIterator=fresh)["Records"]) == [("INSERT", "a")]
    expect_error(lambda: streams.get_records(ShardIterator=stale), "ExpiredIteratorException")


# --------------------------------------------------------------------------- disabling


def test_disabling_closes_the_stream_and_keeps_it_readable(
    ddb: Any, streams: Any, make_table: TableFactory
) -> None:
    name = _stream_table(make_table, "NEW_IMAGE")
    arn = _arn(ddb, name)
    label = arn.rsplit("/", 1)[1]
    for i in range(12):
        ddb.put_item(TableName=name, Item=_item(f"k{i}"))
    held = {s["ShardId"]: _iterator(streams, arn, s["ShardId"], "LATEST") for s in _shards(streams, arn)}
    ddb.put_item(TableName=name, Item=_item("last"))

    updated = ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    assert "StreamSpecification" not in updated["TableDescription"]
    desc = ddb.describe_table(TableName=name)["Table"]
    assert "StreamSpecification" not in desc
    assert (desc["LatestStreamArn"], desc["LatestStreamLabel"]) == (arn, label)
    # written after the stream closed: in no stream
    ddb.put_item(TableName=name, Item=_item("after"))
    ddb.delete_item(TableName=name, Key=_item("k0"))

    out = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert out["StreamStatus"] == "DISABLED"
    assert out["StreamViewType"] == "NEW_IMAGE"
    assert [s["StreamArn"] for s in streams.list_streams(TableName=name)["Streams"]] == [arn]
    keys: list[str] = []
    for shard in out["Shards"]:
        rng = shard["SequenceNumberRange"]
        assert SEQ_RE.fullmatch(rng["EndingSequenceNumber"])
        assert int(rng["StartingSequenceNumber"]) <= int(rng["EndingSequenceNumber"])
        page = streams.get_records(ShardIterator=_iterator(streams, arn, shard["ShardId"]))
        # a closed shard read to its end has no next iterator
        assert "NextShardIterator" not in page
        seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in page["Records"]]
        if seqs:
            assert seqs[0] >= int(rng["StartingSequenceNumber"])
            assert seqs[-1] == int(rng["EndingSequenceNumber"])
        keys += [r["dynamodb"]["Keys"]["p"]["S"] for r in page["Records"]]
        # LATEST of a closed shard is its end
        latest = streams.get_records(ShardIterator=_iterator(streams, arn, shard["ShardId"], "LATEST"))
        assert latest["Records"] == [] and "NextShardIterator" not in latest
    assert sorted(keys) == sorted([f"k{i}" for i in range(12)] + ["last"])
    # an iterator taken while the stream was open reads on to the shard's end
    tail: list[str] = []
    for iterator in held.values():
        records, nxt = _drain(streams, iterator)
        assert nxt is None
        tail += [r["dynamodb"]["Keys"]["p"]["S"] for r in records]
    assert tail == ["last"]


def test_reenabling_creates_a_new_stream_and_the_old_one_stays_readable(
    ddb: Any, streams: Any, make_table: TableFactory
) -> None:
    name = _stream_table(make_table, "KEYS_ONLY")
    old = _arn(ddb, name)
    ddb.put_item(TableName=name, Item=_item("during-old"))
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    ddb.put_item(TableName=name, Item=_item("while-off"))
    updated = ddb.update_table(TableName=name, StreamSpecification=_spec("NEW_IMAGE"))["TableDescription"]
    new = updated["LatestStreamArn"]
    assert new != old and updated["LatestStreamLabel"] != old.rsplit("/", 1)[1]
    assert updated["StreamSpecification"] == _spec("NEW_IMAGE")
    ddb.put_item(TableName=name, Item=_item("during-new"))

    listed = streams.list_streams(TableName=name)["Streams"]
    assert [s["StreamArn"] for s in listed] == [old, new]
    statuses = {a: streams.describe_stream(StreamArn=a)["StreamDescription"] for a in (old, new)}
    assert statuses[old]["StreamStatus"] == "DISABLED"
    assert statuses[old]["StreamViewType"] == "KEYS_ONLY"
    assert statuses[new]["StreamStatus"] == "ENABLED"
    assert statuses[new]["StreamViewType"] == "NEW_IMAGE"
    # each stream has only its own window's changes; the new one's shards are its own
    assert _events(_all(streams, old)) == [("INSERT", "during-old")]
    assert _events(_all(streams, new)) == [("INSERT", "during-new")]
    assert not {s["ShardId"] for s in _shards(streams, old)} & {
        s["ShardId"] for s in _shards(streams, new)
    }
    for shard in _shards(streams, old):
        # the old stream's shards are closed and end before the new stream's writes
        assert "EndingSequenceNumber" in shard["SequenceNumberRange"]
    # a shard of one stream is unknown to the other
    expect_error(
        lambda: _iterator(streams, new, _shards(streams, old)[0]["ShardId"]),
        "ResourceNotFoundException",
    )


def test_delete_table_disables_the_stream_but_keeps_it_readable(
    ddb: Any, streams: Any
) -> None:
    name = unique("st")
    create_table(ddb, name, StreamSpecification=_spec("KEYS_ONLY"))
    arn = _arn(ddb, name)
    ddb.put_item(TableName=name, Item=_item("a"))
    ddb.delete_table(TableName=name)
    assert arn in [s["StreamArn"] for s in streams.list_streams()["Streams"]]
    assert streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"] == "DISABLED"
    assert _events(_all(streams, arn)) == [("INSERT", "a")]


# --------------------------------------------------------------------------- TTL


@pytest.fixture(scope="module")
def sweeping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    """A region whose TTL sweeper runs every half second."""
    d = tmp_path_factory.mktemp("streams-ttl")
    proc = RegionProcess(
        REGION, free_port(), f"sqlite:///{d}/ttl.db", log_dir=d, extra_args=["--ttl-interval", "0.5"]
    ).start()
    yield proc
    proc.stop()


def test_ttl_deletes_carry_the_service_identity(sweeping: RegionProcess) -> None:
    ddb: Any = sweeping.client()
    streams = _streams_client(sweeping.url)
    name = unique("ttl")
    create_table(ddb, name, StreamSpecification=_spec("NEW_AND_OLD_IMAGES"))
    arn = _arn(ddb, name)
    past = str(int(time.time()) - 60)
    ddb.put_item(TableName=name, Item={**_item("expired"), "exp": {"N": past}})
    ddb.put_item(TableName=name, Item={**_item("kept"), "exp": {"N": str(int(time.time()) + 3600)}})
    ddb.put_item(TableName=name, Item=_item("by-user"))
    ddb.delete_item(TableName=name, Key=_item("by-user"))
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": "exp", "Enabled": True})
    deadline = time.monotonic() + 20
    while "Item" in ddb.get_item(TableName=name, Key=_item("expired")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Item" not in ddb.get_item(TableName=name, Key=_item("expired"))

    removes = {
        r["dynamodb"]["Keys"]["p"]["S"]: r for r in _all(streams, arn) if r["eventName"] == "REMOVE"
    }
    assert set(removes) == {"expired", "by-user"}
    ttl = removes["expired"]
    assert ttl["userIdentity"] == SERVICE
    assert ttl["dynamodb"]["OldImage"] == {**_item("expired"), "exp": {"N": past}}
    assert "NewImage" not in ttl["dynamodb"]
    assert "userIdentity" not in removes["by-user"]
    assert "Item" in ddb.get_item(TableName=name, Key=_item("kept"))
