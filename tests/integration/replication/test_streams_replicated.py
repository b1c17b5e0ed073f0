"""DynamoDB Streams of a global table: every region keeps its own stream of every
change *applied* there, local and replicated alike, and a change that loses
last-writer-wins in a region leaves no record in that region's stream."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from replicator.record_auth import ReplicationKeys
from tests.fixtures.regions import SECRET_KEY, RegionProcess
from tests.integration.replication.helpers import NAMES, eventually, make_global, row_versions

pytestmark = pytest.mark.integration

STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def _streams(proc: RegionProcess) -> Any:
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=proc.url,
        region_name=proc.name,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


def _records(streams: Any, arn: str) -> list[dict[str, Any]]:
    """Every record of the stream so far (all shards, from TRIM_HORIZON)."""
    out: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            out += page["Records"]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return out


def _of(records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    mine = [r for r in records if r["dynamodb"]["Keys"]["id"]["S"] == key]
    return sorted(mine, key=lambda r: int(r["dynamodb"]["SequenceNumber"]))


def _global_with_stream(regions: dict[str, RegionProcess]) -> tuple[str, dict[str, Any], dict[str, str]]:
    table = f"streamed-{uuid.uuid4().hex[:8]}"
    clients = make_global(regions, table, StreamSpecification=STREAM)
    arns = {n: clients[n].describe_table(TableName=table)["Table"]["LatestStreamArn"] for n in NAMES}
    return table, clients, arns


def test_every_region_has_its_own_stream_with_the_setting(regions: dict[str, RegionProcess]) -> None:
    table, clients, arns = _global_with_stream(regions)
    for n in NAMES:
        desc = clients[n].describe_table(TableName=table)["Table"]
        assert desc["StreamSpecification"] == STREAM
        account = desc["TableArn"].split(":")[4]
        assert arns[n] == f"arn:aws:dynamodb:{n}:{account}:table/{table}/stream/{desc['LatestStreamLabel']}"
        listed = _streams(regions[n]).list_streams(TableName=table)["Streams"]
        assert [s["StreamArn"] for s in listed] == [arns[n]]
        described = _streams(regions[n]).describe_stream(StreamArn=arns[n])["StreamDescription"]
        assert described["StreamStatus"] == "ENABLED"
        assert described["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert len(set(arns.values())) == len(NAMES)


def test_a_write_in_one_region_is_a_record_in_every_stream(regions: dict[str, RegionProcess]) -> None:
    table, clients, arns = _global_with_stream(regions)
    east = clients["us-east-1"]
    first = {"id": {"S": "k"}, "v": {"N": "1"}}
    second = {"id": {"S": "k"}, "v": {"N": "2"}, "note": {"S": "changed"}}
    east.put_item(TableName=table, Item=first)
    east.put_item(TableName=table, Item=second)
    east.put_item(TableName=table, Item={"id": {"S": "gone"}})
    east.delete_item(TableName=table, Key={"id": {"S": "gone"}})
    for n in NAMES:
        eventually(
            lambda n=n: "Item" not in clients[n].get_item(TableName=table, Key={"id": {"S": "gone"}})
            and clients[n].get_item(TableName=table, Key={"id": {"S": "k"}}).get("Item") == second,
            what=f"the writes applied in {n}",
        )

    for n in NAMES:
        records = _records(_streams(regions[n]), arns[n])
        k = _of(records, "k")
        assert [r["eventName"] for r in k] == ["INSERT", "MODIFY"], n
        assert "OldImage" not in k[0]["dynamodb"] and k[0]["dynamodb"]["NewImage"] == first
        assert k[1]["dynamodb"]["OldImage"] == first and k[1]["dynamodb"]["NewImage"] == second
        gone = _of(records, "gone")
        assert [r["eventName"] for r in gone] == ["INSERT", "REMOVE"], n
        assert gone[1]["dynamodb"]["OldImage"] == {"id": {"S": "gone"}}
        assert "NewImage" not in gone[1]["dynamodb"]
        for r in records:
            # the record is the stream's region's, whichever region wrote the item
            assert r["awsRegion"] == n
            assert r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
            assert "userIdentity" not in r
        assert len(records) == 4


def test_a_change_that_loses_last_writer_wins_leaves_no_record(
    regions: dict[str, RegionProcess], kafka_bootstrap: str
) -> None:
    from aiokafka import AIOKafkaProducer

    from regions.changes import ChangeRecord
    from regions.versions import Version
    from replicator.kafka import change_topic
    from tests.fixtures.kafka import kafka_client_kwargs

    table, clients, arns = _global_with_stream(regions)
    key = {"id": {"S": "contested"}}
    winner = {**key, "v": {"S": "winner"}}
    clients["us-east-1"].put_item(TableName=table, Item=winner)
    for n in NAMES:
        eventually(
            lambda n=n: clients[n].get_item(TableName=table, Key=key).get("Item") == winner,
            what=f"winner in {n}",
        )
    hlc, _, _ = row_versions(regions["us-east-1"], table)["contested"]
    table_id = clients["us-east-1"].describe_table(TableName=table)["Table"]["TableId"]
    # a change ap-southeast-2 made *before* the winner, arriving only now: it loses in
    # us-east-1 and eu-west-1, which must show no record of it
    stale = ChangeRecord(
        table=table,
        table_id=table_id,
        event="MODIFY",
        keys=key,
        new_image={**key, "v": {"S": "stale"}},
        old_image=None,
        version=Version(hlc - 1, "ap-southeast-2"),
        hash_key=b"contested",
    )

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all", **kafka_client_kwargs())
        await producer.start()
        try:
            value, key = stale.encode(), stale.message_key()
            # signed with the deployment's key, as ap-southeast-2 itself would
            headers = ReplicationKeys((SECRET_KEY,)).sign("ap-southeast-2", key, value)
            await producer.send_and_wait(change_topic("ap-southeast-2"), value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(produce())

    def lost_in(n: str) -> bool:
        body = httpx.get(f"{regions[n].url}/v1/conflicts", params={"table": table}, timeout=5).json()
        return any(c["loser"]["hlc"] == hlc - 1 and c["loser"]["origin"] == "ap-southeast-2" for c in body["conflicts"])

    for n in ("us-east-1", "eu-west-1"):
        # the conflict log proves the stale change arrived and was discarded there
        eventually(lambda n=n: lost_in(n), what=f"the stale change discarded in {n}")
    # a later write that wins everywhere is a record everywhere
    later = {**key, "v": {"S": "later"}}
    clients["eu-west-1"].put_item(TableName=table, Item=later)
    for n in NAMES:
        eventually(
            lambda n=n: clients[n].get_item(TableName=table, Key=key).get("Item") == later,
            what=f"later in {n}",
        )
    time.sleep(0.2)
    for n in ("us-east-1", "eu-west-1"):
        records = _of(_records(_streams(regions[n]), arns[n]), "contested")
        images = [(r["eventName"], r["dynamodb"]["NewImage"]["v"]["S"]) for r in records]
        assert images == [("INSERT", "winner"), ("MODIFY", "later")], n
        assert records[1]["dynamodb"]["OldImage"] == winner
