"""Provisioned capacity and on-demand maxima, enforced (docs/policies-and-capacity.md;
botocore's retry configuration for the SDK's retries), through boto3 against a real region process.

The region runs with ``--burst-seconds 2``: a 1-unit table banks 2 units, so a burst
of a few requests exhausts it (DynamoDB banks 300 s, which a test cannot wait for).
Every throttled request is checked to have changed nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, RegionProcess, free_port
from tests.integration.api.support import REGION, unique

pytestmark = pytest.mark.integration

BURST_S = 2
MSG_TABLE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
MSG_INDEX = (
    "The level of configured provisioned throughput for one or more global secondary "
    "indexes of the table was exceeded. Consider increasing your provisioning level for "
    "the under-provisioned global secondary indexes with the UpdateTable API"
)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("throttle")
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{d}/throttle.db",
        log_dir=d,
        extra_args=["--burst-seconds", str(BURST_S)],
    ).start()
    yield proc
    proc.stop()


def client(region: RegionProcess, attempts: int = 1) -> Any:
    """boto3 with the standard retry mode; one attempt in all (botocore's
    ``max_attempts`` would count retries only) shows every throttle."""
    return boto3.client(
        "dynamodb",
        endpoint_url=region.url,
        region_name=REGION,
        aws_access_key_id=ADMIN_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET,
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


@pytest.fixture(scope="module")
def ddb(region: RegionProcess) -> Any:
    return client(region)


TableFactory = Callable[..., str]


@pytest.fixture
def make_table(ddb: Any) -> Iterator[TableFactory]:
    names: list[str] = []

    def make(**kw: Any) -> str:
        name = unique("thr")
        defs = [{"AttributeName": "p", "AttributeType": "S"}]
        defs += kw.pop("extra_defs", [])
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=defs,
            **kw,
        )
        names.append(name)
        return name

    yield make
    for name in names:
        ddb.delete_table(TableName=name)


def provisioned(rcu: int = 1, wcu: int = 1) -> dict[str, Any]:
    return {"ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}}


def throttled(
    call: Callable[[], object], code: str = "ProvisionedThroughputExceededException"
) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    assert info.value.response["Error"]["Code"] == code, info.value.response
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value


def burst(call: Callable[[int], object], limit: int = 20) -> tuple[int, ClientError]:
    """Call ``call(i)`` until it is throttled: (successes before, the error)."""
    for i in range(limit):
        try:
            call(i)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in (
                "ProvisionedThroughputExceededException",
                "ThrottlingException",
            ):
                return i, exc
            raise
    raise AssertionError(f"{limit} requests were never throttled")


def item(p: str, **attrs: str) -> dict[str, Any]:
    return {"p": {"S": p}, **{k: {"S": v} for k, v in attrs.items()}}


def test_a_provisioned_table_throttles_a_burst_beyond_its_bank(
    ddb: Any, make_table: TableFactory
) -> None:
    t = make_table(**provisioned(rcu=1, wcu=1))
    started = time.monotonic()
    ok, exc = burst(lambda i: ddb.put_item(TableName=t, Item=item(f"k{i}")))
    elapsed = time.monotonic() - started
    # the 2 banked units, plus whatever refilled (1 unit/s) while the burst ran
    assert BURST_S <= ok <= BURST_S + elapsed + 1
    assert exc.response["Error"]["Message"] == MSG_TABLE
    arn = ddb.describe_table(TableName=t)["Table"]["TableArn"]
    assert exc.response["ThrottlingReasons"] == [
        {"reason": "TableWriteProvisionedThroughputExceeded", "resource": arn}
    ]
    # the throttled write changed nothing (reads have their own bucket)
    assert "Item" not in ddb.get_item(TableName=t, Key=item(f"k{ok}"))
    # SDK retries (standard mode backs off and retries this error) get through
    patient = client_for(ddb, attempts=10)
    for i in range(3):
        patient.put_item(TableName=t, Item=item(f"retried{i}"))
    assert all("Item" in ddb.get_item(TableName=t, Key=item(f"retried{i}")) for i in range(2))


def client_for(ddb: Any, attempts: int) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=ddb.meta.endpoint_url,
        region_name=REGION,
        aws_access_key_id=ADMIN_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET,
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


def test_unused_capacity_refills_at_the_provisioned_rate(
    ddb: Any, make_table: TableFactory
) -> None:
    t = make_table(**provisioned(rcu=1, wcu=1))
    burst(lambda i: ddb.put_item(TableName=t, Item=item(f"k{i}")))
    throttled(lambda: ddb.put_item(TableName=t, Item=item("now")))
    time.sleep(1.2)
    ddb.put_item(TableName=t, Item=item("a second later"))


def test_reads_are_throttled_by_read_capacity(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(**provisioned(rcu=1, wcu=5))
    ddb.put_item(TableName=t, Item=item("x"))
    # a strongly consistent read of a small item costs 1 unit
    ok, exc = burst(lambda i: ddb.get_item(TableName=t, Key=item("x"), ConsistentRead=True))
    assert BURST_S <= ok <= BURST_S + 2
    assert (
        exc.response["ThrottlingReasons"][0]["reason"] == "TableReadProvisionedThroughputExceeded"
    )
    throttled(lambda: ddb.query(TableName=t, KeyConditionExpression="p = :p",
                                ExpressionAttributeValues={":p": {"S": "x"}}))  # fmt: skip
    ddb.put_item(TableName=t, Item=item("y"))  # writes still have their own capacity


def test_item_size_counts(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(**provisioned(rcu=1, wcu=4))
    big = item("big", f="x" * 3000)  # 3 write units
    ddb.put_item(TableName=t, Item=big)  # 8 banked -> 5
    ddb.put_item(TableName=t, Item=item("big2", f="x" * 3000))  # -> 2
    throttled(lambda: ddb.put_item(TableName=t, Item=item("big3", f="x" * 3000)))
    assert "Item" not in ddb.get_item(TableName=t, Key=item("big3"))


def test_a_read_is_charged_its_size_after_it_ran(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(**provisioned(rcu=1, wcu=20))
    ddb.put_item(TableName=t, Item=item("big", f="x" * 10000))  # 3 read units (4 KB each)
    # admitted at the 1-unit minimum with 2 banked; charged 3 once read: a debt of 1
    got = ddb.get_item(
        TableName=t, Key=item("big"), ConsistentRead=True, ReturnConsumedCapacity="TOTAL"
    )
    assert got["ConsumedCapacity"]["CapacityUnits"] == 3.0
    throttled(lambda: ddb.get_item(TableName=t, Key=item("big"), ConsistentRead=True))


def test_a_gsi_has_its_own_capacity(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(
        **provisioned(rcu=50, wcu=50),
        extra_defs=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                **provisioned(rcu=1, wcu=1),
            }
        ],
    )
    desc = ddb.describe_table(TableName=t)["Table"]
    gsi = desc["GlobalSecondaryIndexes"][0]
    assert gsi["ProvisionedThroughput"]["ReadCapacityUnits"] == 1
    assert gsi["ProvisionedThroughput"]["WriteCapacityUnits"] == 1
    ok, exc = burst(lambda i: ddb.put_item(TableName=t, Item=item(f"k{i}", g="v")))
    assert BURST_S <= ok <= BURST_S + 2
    assert exc.response["Error"]["Message"] == MSG_INDEX
    assert exc.response["ThrottlingReasons"] == [
        {"reason": "IndexWriteProvisionedThroughputExceeded", "resource": gsi["IndexArn"]}
    ]
    assert "Item" not in ddb.get_item(TableName=t, Key=item(f"k{ok}"))
    # an item outside the index does not need the index's capacity
    ddb.put_item(TableName=t, Item=item("no-g"))
    # reads of the index use the index's read capacity, not the table's
    ok, exc = burst(lambda i: ddb.query(TableName=t, IndexName="by-g", KeyConditionExpression="g = :g",
                                        ExpressionAttributeValues={":g": {"S": "v"}}))  # fmt: skip
    assert (
        exc.response["ThrottlingReasons"][0]["reason"] == "IndexReadProvisionedThroughputExceeded"
    )
    ddb.get_item(TableName=t, Key=item("no-g"), ConsistentRead=True)


def test_transactions_are_throttled_whole(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(**provisioned(rcu=5, wcu=1))
    ddb.put_item(TableName=t, Item=item("first"))  # 1 of the 2 banked units left
    # a transactional write costs 2 units each
    throttled(lambda: ddb.transact_write_items(
        TransactItems=[{"Put": {"TableName": t, "Item": item("t1")}},
                       {"Put": {"TableName": t, "Item": item("t2")}}]
    ))  # fmt: skip
    for p in ("t1", "t2"):
        assert "Item" not in ddb.get_item(TableName=t, Key=item(p))
    time.sleep(1.1)
    # a request larger than the whole bank goes through once the bank is full, leaving
    # a debt (it would never fit otherwise)
    ddb.transact_write_items(
        TransactItems=[{"Put": {"TableName": t, "Item": item(f"t{i}")}} for i in range(3)]
    )
    throttled(lambda: ddb.put_item(TableName=t, Item=item("in debt")))
    assert len(ddb.scan(TableName=t)["Items"]) == 4


def test_a_batch_write_beyond_capacity_returns_unprocessed_items(
    ddb: Any, make_table: TableFactory
) -> None:
    t = make_table(**provisioned(rcu=50, wcu=1))  # 2 banked write units
    free = make_table(BillingMode="PAY_PER_REQUEST")
    writes = [{"PutRequest": {"Item": item(f"b{i:02}", n=str(i))}} for i in range(10)]
    others = [{"PutRequest": {"Item": item(f"o{i}")}} for i in range(3)]
    started = time.monotonic()
    first = ddb.batch_write_item(
        RequestItems={t: writes, free: others}, ReturnConsumedCapacity="TOTAL"
    )
    elapsed = time.monotonic() - started
    left = first["UnprocessedItems"]
    # the unlimited table's items all went through; the limited one's as far as its
    # bank (plus what refilled meanwhile) allowed, in request order
    assert set(left) == {t}
    done = len(writes) - len(left[t])
    assert BURST_S <= done <= BURST_S + elapsed + 1
    assert left[t] == writes[done:]  # exactly as sent, ready to be resent
    assert first["ConsumedCapacity"] == [
        {"TableName": t, "CapacityUnits": float(done)},
        {"TableName": free, "CapacityUnits": 3.0},
    ]
    for i in range(len(writes)):
        got = ddb.get_item(TableName=t, Key=item(f"b{i:02}"), ConsistentRead=True)
        # unprocessed items changed nothing
        assert ("Item" in got) == (i < done), i
    # the pattern the SDK documents: resend UnprocessedItems until none is left (the
    # client backs off and retries a batch of which nothing fits)
    patient = client_for(ddb, attempts=10)
    charged = float(done)
    pending = left
    deadline = time.monotonic() + 90
    while pending:
        assert time.monotonic() < deadline, "unprocessed items never drained"
        resp = patient.batch_write_item(RequestItems=pending, ReturnConsumedCapacity="TOTAL")
        charged += sum(c["CapacityUnits"] for c in resp["ConsumedCapacity"])
        pending = resp["UnprocessedItems"]
    # each item written exactly once: ten 1-unit puts were charged, no more
    assert charged == 10.0
    items = ddb.scan(TableName=t, ConsistentRead=True)["Items"]
    assert sorted(i["p"]["S"] for i in items) == [f"b{i:02}" for i in range(10)]


def test_a_batch_of_which_nothing_fits_is_throttled_and_changes_nothing(
    ddb: Any, make_table: TableFactory
) -> None:
    t = make_table(**provisioned(rcu=5, wcu=1))
    burst(lambda i: ddb.put_item(TableName=t, Item=item(f"k{i}")))
    before = len(ddb.scan(TableName=t, ConsistentRead=True)["Items"])
    exc = throttled(
        lambda: ddb.batch_write_item(
            RequestItems={t: [{"PutRequest": {"Item": item(f"b{i}")}} for i in range(3)]}
        )
    )
    assert exc.response["Error"]["Message"] == MSG_TABLE
    assert len(ddb.scan(TableName=t, ConsistentRead=True)["Items"]) == before


def test_a_batch_get_beyond_capacity_returns_unprocessed_keys(
    ddb: Any, make_table: TableFactory
) -> None:
    t = make_table(**provisioned(rcu=1, wcu=50))  # 2 banked read units
    keys = [item(f"g{i:02}") for i in range(8)]
    for i, k in enumerate(keys):
        ddb.put_item(TableName=t, Item={**k, "n": {"N": str(i)}})
    # strongly consistent: 1 unit per small item, so about 2 keys fit
    request = {t: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "p, n"}}
    started = time.monotonic()
    first = ddb.batch_get_item(RequestItems=request, ReturnConsumedCapacity="TOTAL")
    elapsed = time.monotonic() - started
    left = first["UnprocessedKeys"][t]
    done = len(keys) - len(left["Keys"])
    assert BURST_S <= done <= BURST_S + elapsed + 1
    # the same shape as the request, options kept, keys in request order
    assert left == {"Keys": keys[done:], "ConsistentRead": True, "ProjectionExpression": "p, n"}
    assert sorted(i["p"]["S"] for i in first["Responses"][t]) == [f"g{i:02}" for i in range(done)]
    assert first["ConsumedCapacity"] == [{"TableName": t, "CapacityUnits": float(done)}]
    # with the bank empty, a batch of which no key fits is refused whole
    _, exc = burst(lambda i: ddb.batch_get_item(RequestItems={t: {"Keys": keys[:2]}}))
    assert exc.response["ThrottlingReasons"][0]["reason"] == (
        "TableReadProvisionedThroughputExceeded"
    )
    # resending UnprocessedKeys until none is left reads every key exactly once
    patient = client_for(ddb, attempts=10)
    seen = [i["p"]["S"] for i in first["Responses"][t]]
    pending = first["UnprocessedKeys"]
    deadline = time.monotonic() + 90
    while pending:
        assert time.monotonic() < deadline, "unprocessed keys never drained"
        resp = patient.batch_get_item(RequestItems=pending)
        seen += [i["p"]["S"] for i in resp["Responses"].get(t, [])]
        pending = resp["UnprocessedKeys"]
    assert sorted(seen) == [f"g{i:02}" for i in range(8)]


def test_switching_billing_modes(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(
        **provisioned(rcu=1, wcu=1),
        extra_defs=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                **provisioned(rcu=1, wcu=1),
            }
        ],
    )
    burst(lambda i: ddb.put_item(TableName=t, Item=item(f"k{i}")))
    before = time.time()
    out = ddb.update_table(TableName=t, BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert out["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    desc = ddb.describe_table(TableName=t)["Table"]
    summary = desc["BillingModeSummary"]
    assert summary["BillingMode"] == "PAY_PER_REQUEST"
    assert summary["LastUpdateToPayPerRequestDateTime"].timestamp() >= before - 1
    assert desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 0
    assert desc["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["WriteCapacityUnits"] == 0
    for i in range(10):  # on-demand: no throttling
        ddb.put_item(TableName=t, Item=item(f"od{i}", g="v"))
    # back to PROVISIONED: the GSIs need their capacity in the same call
    with pytest.raises(ClientError) as info:
        ddb.update_table(TableName=t, BillingMode="PROVISIONED", **provisioned(rcu=3, wcu=2))
    assert info.value.response["Error"]["Message"] == (
        "One or more parameter values were invalid: ProvisionedThroughput is not specified "
        "for index: by-g"
    )
    assert (
        ddb.describe_table(TableName=t)["Table"]["BillingModeSummary"]["BillingMode"]
        == "PAY_PER_REQUEST"
    )
    ddb.update_table(
        TableName=t,
        BillingMode="PROVISIONED",
        **provisioned(rcu=3, wcu=2),
        GlobalSecondaryIndexUpdates=[
            {"Update": {"IndexName": "by-g", **provisioned(rcu=4, wcu=5)}}
        ],
    )
    desc = ddb.describe_table(TableName=t)["Table"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert (
        desc["ProvisionedThroughput"]["ReadCapacityUnits"],
        desc["ProvisionedThroughput"]["WriteCapacityUnits"],
    ) == (3, 2)
    g = desc["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]
    assert (g["ReadCapacityUnits"], g["WriteCapacityUnits"]) == (4, 5)
    # the table refills at its new rate: 2 units a second
    burst(lambda i: ddb.put_item(TableName=t, Item=item(f"p{i}")))
    time.sleep(1.0)
    ok, _ = burst(lambda i: ddb.put_item(TableName=t, Item=item(f"q{i}")))
    assert 2 <= ok <= 3


def test_on_demand_maximum_throughput(ddb: Any, make_table: TableFactory) -> None:
    t = make_table(
        BillingMode="PAY_PER_REQUEST",
        OnDemandThroughput={"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 1},
    )
    desc = ddb.describe_table(TableName=t)["Table"]
    assert desc["OnDemandThroughput"] == {"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 1}
    ddb.put_item(TableName=t, Item=item("a"))
    exc = throttled(lambda: ddb.put_item(TableName=t, Item=item("b")), "ThrottlingException")
    assert exc.response["Error"]["Message"] == "Rate of requests exceeds the allowed throughput."
    assert exc.response["throttlingReasons"] == [
        {"reason": "TableWriteMaxOnDemandThroughputExceeded", "resource": desc["TableArn"]}
    ]
    assert "Item" not in ddb.get_item(TableName=t, Key=item("b"))
    ddb.update_table(TableName=t, OnDemandThroughput={"MaxWriteRequestUnits": -1})
    assert "OnDemandThroughput" in ddb.describe_table(TableName=t)["Table"]  # reads keep theirs
    for i in range(5):
        ddb.put_item(TableName=t, Item=item(f"n{i}"))
    ddb.update_table(TableName=t, OnDemandThroughput={"MaxReadRequestUnits": -1})
    assert "OnDemandThroughput" not in ddb.describe_table(TableName=t)["Table"]
    with pytest.raises(ClientError) as info:
        ddb.update_table(TableName=t, OnDemandThroughput={"MaxWriteRequestUnits": 0})
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_describe_limits(ddb: Any) -> None:
    got = ddb.describe_limits()
    got.pop("ResponseMetadata")
    assert got == {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }


def test_provisioned_gsis_need_throughput_at_creation(ddb: Any) -> None:
    with pytest.raises(ClientError) as info:
        ddb.create_table(
            TableName=unique("thr"),
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "p", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "GameTitleIndex",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            **provisioned(),
        )
    # the text DynamoDB answers (awsdocs/amazon-dynamodb-developer-guide#246)
    assert info.value.response["Error"]["Message"] == (
        "One or more parameter values were invalid: ProvisionedThroughput is not specified "
        "for index: GameTitleIndex"
    )


def _throttled_count(region: RegionProcess) -> float:
    text = httpx.get(f"{region.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("globaltables_throttled_requests_total "):
            return float(line.split()[1])
    raise AssertionError("no throttled-requests counter in /metrics")


def test_throttled_requests_are_counted_and_the_rest_api_is_throttled_too(
    region: RegionProcess, ddb: Any, make_table: TableFactory
) -> None:
    from botocore.credentials import Credentials

    from globaltables.aws_auth import BotocoreSigner
    from replicator.signing import SigV4

    t = make_table(**provisioned(rcu=1, wcu=1))
    before = _throttled_count(region)
    burst(lambda i: ddb.put_item(TableName=t, Item=item(f"k{i}")))
    assert _throttled_count(region) == before + 1
    auth = SigV4(BotocoreSigner(Credentials(ADMIN_KEY_ID, ADMIN_SECRET)), {region.url: REGION})
    r = httpx.put(f"{region.url}/v1/tables/{t}/items", json={"p": "rest"}, auth=auth, timeout=10)
    assert r.status_code == 429, r.text
    assert r.json() == {"error": "ProvisionedThroughputExceededException", "message": MSG_TABLE}
    assert _throttled_count(region) == before + 2
    assert "Item" not in ddb.get_item(TableName=t, Key=item("rest"))
