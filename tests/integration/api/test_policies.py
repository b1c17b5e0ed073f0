"""IAM-style policies enforced on every operation, through boto3 and the REST API
(docs/policies-and-capacity.md; regions/policy.py decides, api/authorization.py maps
requests).

Users are made with the ``globaltables users`` / ``keys`` CLI, signed with the admin
key; each test then calls the region as that user.  Every denial is checked for
AWS's message and for having changed nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from click.testing import CliRunner

from globaltables.aws_auth import BotocoreSigner
from globaltables.cli import main
from replicator.signing import SigV4
from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, RegionProcess
from tests.integration.api.support import REGION, SERVICE_NS, unique

pytestmark = pytest.mark.integration

ACCOUNT = "000000000000"
NO_POLICY = "because no identity-based policy allows the {action} action"
EXPLICIT = "with an explicit deny in an identity-based policy"


def _cli(*args: str) -> Any:
    env = {
        "AWS_ACCESS_KEY_ID": ADMIN_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    out = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return out


class User:
    def __init__(self, url: str, name: str, key: dict[str, str]) -> None:
        self.url = url
        self.name = name
        self.arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
        self.key_id = key["AccessKeyId"]
        self.secret = key["SecretAccessKey"]

    def client(self, service: str = "dynamodb") -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def http(self) -> httpx.Client:
        signer = BotocoreSigner(Credentials(self.key_id, self.secret))
        return httpx.Client(auth=SigV4(signer, {self.url: REGION}), timeout=30)


UserFactory = Callable[..., User]


@pytest.fixture(scope="module")
def make_user(
    region_proc: RegionProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UserFactory]:
    """``make_user(*policy_documents, name=None) -> User`` with one access key."""
    names: list[str] = []
    folder = tmp_path_factory.mktemp("policies")

    def make(*docs: dict[str, Any], name: str | None = None) -> User:
        user = name or unique("user")
        args = ["users", "create", user, "--endpoint", region_proc.url]
        for i, d in enumerate(docs):
            path = Path(folder) / f"{user}-{i}.json"
            path.write_text(json.dumps(d))
            args += ["--policy", str(path)]
        _cli(*args)
        names.append(user)
        out = _cli("keys", "create", user, "--endpoint", region_proc.url, "--json")
        return User(region_proc.url, user, json.loads(out.output)["AccessKey"])

    yield make
    for user in names:
        _cli("users", "delete", user, "--endpoint", region_proc.url)


@pytest.fixture(scope="module")
def tables(ddb: Any) -> Iterator[dict[str, str]]:
    """Table ``t`` (user S, n N; GSI by-g; a stream) and table ``o``, with their ARNs."""
    t, o = unique("pol"), unique("polo")
    ddb.create_table(
        TableName=t,
        KeySchema=[
            {"AttributeName": "user", "KeyType": "HASH"},
            {"AttributeName": "n", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "user", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName=o,
        KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    desc = ddb.describe_table(TableName=t)["Table"]
    yield {
        "t": t,
        "o": o,
        "t_arn": desc["TableArn"],
        "o_arn": ddb.describe_table(TableName=o)["Table"]["TableArn"],
        "stream_arn": desc["LatestStreamArn"],
    }
    ddb.delete_table(TableName=t)
    ddb.delete_table(TableName=o)


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def denied(
    user: User, call: Callable[[], object], action: str, resource: str, explicit: bool = False
) -> None:
    """``call`` fails with AWS's AccessDeniedException for ``action`` on ``resource``."""
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response["Error"]
    reason = EXPLICIT if explicit else NO_POLICY.format(action=f"dynamodb:{action}")
    assert err["Code"] == "AccessDeniedException", err
    assert err["Message"] == (
        f"User: {user.arn} is not authorized to perform: dynamodb:{action} on resource: "
        f"{resource} {reason}"
    )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def item(user: str, n: int, **attrs: str) -> dict[str, Any]:
    return {"user": {"S": user}, "n": {"N": str(n)}, **{k: {"S": v} for k, v in attrs.items()}}


def key(user: str, n: int) -> dict[str, Any]:
    return {"user": {"S": user}, "n": {"N": str(n)}}


# --------------------------------------------------------------------------- actions and resources


def test_permission_matrix_of_a_reader(
    ddb: Any, tables: dict[str, str], make_user: UserFactory
) -> None:
    t, t_arn = tables["t"], tables["t_arn"]
    ddb.put_item(TableName=t, Item=item("seed", 1, g="x"))
    reader = make_user(
        policy(
            allow(
                ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable"],
                t_arn,
            )
        )
    )
    c = reader.client()
    # allowed
    assert c.get_item(TableName=t, Key=key("seed", 1))["Item"]["g"] == {"S": "x"}
    assert c.get_item(TableName=t_arn, Key=key("seed", 1))["Item"]  # TableName as an ARN
    got = c.query(
        TableName=t, KeyConditionExpression="#u = :u", ExpressionAttributeNames={"#u": "user"},
        ExpressionAttributeValues={":u": {"S": "seed"}},
    )  # fmt: skip
    assert got["Count"] == 1
    assert c.scan(TableName=t)["Count"] >= 1
    assert c.describe_table(TableName=t)["Table"]["TableName"] == t
    # denied: other actions, other tables, the index, account-wide listings
    index_arn = f"{t_arn}/index/by-g"
    denied(reader, lambda: c.put_item(TableName=t, Item=item("seed", 2)), "PutItem", t_arn)
    denied(
        reader,
        lambda: c.get_item(TableName=tables["o"], Key={"user": {"S": "x"}}),
        "GetItem",
        tables["o_arn"],
    )
    denied(
        reader,
        lambda: c.query(
            TableName=t, IndexName="by-g", KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "x"}},
        ),
        "Query",
        index_arn,
    )  # fmt: skip
    denied(reader, lambda: c.scan(TableName=t, IndexName="by-g"), "Scan", index_arn)
    denied(reader, c.list_tables, "ListTables", "*")
    denied(reader, lambda: c.delete_table(TableName=t), "DeleteTable", t_arn)
    denied(
        reader,
        lambda: c.batch_get_item(RequestItems={t: {"Keys": [key("seed", 1)]}}),
        "BatchGetItem",
        t_arn,
    )
    denied(reader, lambda: c.describe_time_to_live(TableName=t), "DescribeTimeToLive", t_arn)
    denied(
        reader,
        lambda: c.update_table(TableName=t, BillingMode="PROVISIONED",
                               ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}),
        "UpdateTable",
        t_arn,
    )  # fmt: skip
    # nothing the denied calls asked for happened
    assert "Item" not in ddb.get_item(TableName=t, Key=key("seed", 2))
    assert (
        ddb.describe_table(TableName=t)["Table"]["BillingModeSummary"]["BillingMode"]
        == "PAY_PER_REQUEST"
    )


def test_the_error_envelope_is_coral_access_denied(
    region_proc: RegionProcess, tables: dict[str, str], make_user: UserFactory
) -> None:
    nobody = make_user()
    with nobody.http() as client:
        r = client.post(
            region_proc.url + "/",
            content=json.dumps({"TableName": tables["t"]}),
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
            },
        )
    assert r.status_code == 400
    body = r.json()
    assert body["__type"] == SERVICE_NS + "AccessDeniedException"
    # AccessDenied carries its text under a capital M, as the service sends it
    assert body["Message"].startswith(f"User: {nobody.arn} is not authorized")
    assert "message" not in body


def test_explicit_deny_wins_and_attribute_conditions(
    ddb: Any, tables: dict[str, str], make_user: UserFactory
) -> None:
    t, t_arn = tables["t"], tables["t_arn"]
    ddb.put_item(TableName=t, Item=item("deny", 1, name="kept"))
    user = make_user(
        policy(allow("dynamodb:*", "*")),
        policy(
            {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": t_arn},
            {
                "Effect": "Deny",
                "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
                "Resource": f"{t_arn}*",
                "Condition": {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["secret"]}},
            },
        ),
    )
    c = user.client()
    denied(
        user,
        lambda: c.delete_item(TableName=t, Key=key("deny", 1)),
        "DeleteItem",
        t_arn,
        explicit=True,
    )
    denied(
        user, lambda: c.put_item(TableName=t, Item=item("deny", 2, secret="s")), "PutItem", t_arn,
        explicit=True,
    )  # fmt: skip
    # the attribute is found behind a placeholder, in an update expression...
    denied(
        user,
        lambda: c.update_item(
            TableName=t, Key=key("deny", 1), UpdateExpression="SET #a = :v",
            ExpressionAttributeNames={"#a": "secret"}, ExpressionAttributeValues={":v": {"S": "x"}},
        ),
        "UpdateItem",
        t_arn,
        explicit=True,
    )  # fmt: skip
    # ...and in a filter, which would otherwise reveal it
    denied(
        user,
        lambda: c.query(
            TableName=t, KeyConditionExpression="#u = :u", FilterExpression="secret = :s",
            ExpressionAttributeNames={"#u": "user"},
            ExpressionAttributeValues={":u": {"S": "deny"}, ":s": {"S": "x"}},
        ),
        "Query",
        t_arn,
        explicit=True,
    )  # fmt: skip
    got = ddb.get_item(TableName=t, Key=key("deny", 1))["Item"]
    assert got == item("deny", 1, name="kept")  # not deleted, not updated
    assert "Item" not in ddb.get_item(TableName=t, Key=key("deny", 2))
    # what the deny does not cover still works
    c.put_item(TableName=t, Item=item("deny", 3, name="n"))
    c.update_item(
        TableName=t, Key=key("deny", 3), UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": "name"}, ExpressionAttributeValues={":v": {"S": "m"}},
    )  # fmt: skip
    assert c.list_tables()["TableNames"]


def test_attribute_and_select_conditions_on_reads(
    ddb: Any, tables: dict[str, str], make_user: UserFactory
) -> None:
    t, t_arn = tables["t"], tables["t_arn"]
    ddb.put_item(TableName=t, Item=item("attrs", 1, name="Ada", secret="s3"))
    # the AWS documentation's column-level policy
    user = make_user(
        policy(
            allow(
                ["dynamodb:GetItem", "dynamodb:Query"],
                t_arn,
                Condition={
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": ["user", "n", "name"]},
                    "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
                },
            )
        )
    )
    c = user.client()
    got = c.get_item(
        TableName=t, Key=key("attrs", 1), ProjectionExpression="#n",
        ExpressionAttributeNames={"#n": "name"},
    )  # fmt: skip
    assert got["Item"] == {"name": {"S": "Ada"}}
    # no projection would return the secret too
    denied(user, lambda: c.get_item(TableName=t, Key=key("attrs", 1)), "GetItem", t_arn)
    denied(
        user,
        lambda: c.get_item(TableName=t, Key=key("attrs", 1), ProjectionExpression="secret"),
        "GetItem",
        t_arn,
    )
    q = {"TableName": t, "KeyConditionExpression": "#u = :u",
         "ExpressionAttributeNames": {"#u": "user"}, "ExpressionAttributeValues": {":u": {"S": "attrs"}}}  # fmt: skip
    assert c.query(**q, ProjectionExpression="n")["Items"] == [{"n": {"N": "1"}}]
    denied(user, lambda: c.query(**q), "Query", t_arn)  # Select ALL_ATTRIBUTES by default
    denied(user, lambda: c.query(**q, Select="COUNT"), "Query", t_arn)


# --------------------------------------------------------------------------- leading keys


@pytest.fixture(scope="module")
def tenant(tables: dict[str, str], make_user: UserFactory) -> User:
    """A user whose items are the ones with ``user`` = its name (${aws:username})."""
    return make_user(
        policy(
            allow(
                [
                    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
                ],
                tables["t_arn"],
                Condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}},
            )
        )
    )  # fmt: skip


def test_leading_keys_on_items_and_query(ddb: Any, tables: dict[str, str], tenant: User) -> None:
    t, t_arn, me = tables["t"], tables["t_arn"], tenant.name
    ddb.put_item(TableName=t, Item=item("other", 1, v="theirs"))
    c = tenant.client()
    c.put_item(TableName=t, Item=item(me, 1, v="mine"))
    assert c.get_item(TableName=t, Key=key(me, 1))["Item"]["v"] == {"S": "mine"}
    c.update_item(
        TableName=t, Key=key(me, 1), UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "mine2"}},
    )  # fmt: skip
    mine = c.query(
        TableName=t, KeyConditionExpression="#u = :u AND n >= :n",
        ExpressionAttributeNames={"#u": "user"},
        ExpressionAttributeValues={":u": {"S": me}, ":n": {"N": "0"}},
    )  # fmt: skip
    assert [i["v"]["S"] for i in mine["Items"]] == ["mine2"]
    # the legacy KeyConditions name the partition too
    legacy = c.query(
        TableName=t,
        KeyConditions={"user": {"AttributeValueList": [{"S": me}], "ComparisonOperator": "EQ"}},
    )
    assert legacy["Count"] == 1
    denied(tenant, lambda: c.get_item(TableName=t, Key=key("other", 1)), "GetItem", t_arn)
    denied(
        tenant, lambda: c.put_item(TableName=t, Item=item("other", 1, v="mine")), "PutItem", t_arn
    )
    denied(tenant, lambda: c.delete_item(TableName=t, Key=key("other", 1)), "DeleteItem", t_arn)
    denied(
        tenant,
        lambda: c.query(
            TableName=t, KeyConditionExpression="#u = :u", ExpressionAttributeNames={"#u": "user"},
            ExpressionAttributeValues={":u": {"S": "other"}},
        ),
        "Query",
        t_arn,
    )  # fmt: skip
    denied(
        tenant,
        lambda: c.query(
            TableName=t,
            KeyConditions={
                "user": {"AttributeValueList": [{"S": "other"}], "ComparisonOperator": "EQ"}
            },
        ),
        "Query",
        t_arn,
    )
    # Scan is not granted (it has no leading key to scope it by)
    denied(tenant, lambda: c.scan(TableName=t), "Scan", t_arn)
    assert ddb.get_item(TableName=t, Key=key("other", 1))["Item"]["v"] == {"S": "theirs"}


def test_a_batch_with_one_forbidden_item_is_denied_whole(
    ddb: Any, tables: dict[str, str], tenant: User
) -> None:
    t, t_arn, me = tables["t"], tables["t_arn"], tenant.name
    c = tenant.client()
    denied(
        tenant,
        lambda: c.batch_write_item(
            RequestItems={
                t: [
                    {"PutRequest": {"Item": item(me, 10)}},
                    {"PutRequest": {"Item": item("other", 10)}},
                ]
            }
        ),
        "BatchWriteItem",
        t_arn,
    )
    denied(
        tenant,
        lambda: c.batch_write_item(
            RequestItems={
                t: [
                    {"PutRequest": {"Item": item(me, 11)}},
                    {"DeleteRequest": {"Key": key("other", 1)}},
                ]
            }
        ),
        "BatchWriteItem",
        t_arn,
    )
    # nothing of either batch was written, the allowed items included
    for k in (key(me, 10), key("other", 10), key(me, 11)):
        assert "Item" not in ddb.get_item(TableName=t, Key=k, ConsistentRead=True)
    denied(
        tenant,
        lambda: c.batch_get_item(RequestItems={t: {"Keys": [key(me, 1), key("other", 1)]}}),
        "BatchGetItem",
        t_arn,
    )
    # a batch of its own items goes through
    c.batch_write_item(
        RequestItems={
            t: [{"PutRequest": {"Item": item(me, 12)}}, {"PutRequest": {"Item": item(me, 13)}}]
        }
    )
    got = c.batch_get_item(RequestItems={t: {"Keys": [key(me, 12), key(me, 13)]}})
    assert len(got["Responses"][t]) == 2


def test_a_transaction_with_one_forbidden_part_is_denied_whole(
    ddb: Any, tables: dict[str, str], tenant: User
) -> None:
    t, t_arn, me = tables["t"], tables["t_arn"], tenant.name
    ddb.put_item(TableName=t, Item=item("other", 20, v="before"))
    c = tenant.client()
    denied(
        tenant,
        lambda: c.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": t, "Item": item(me, 20)}},
                {"Update": {"TableName": t, "Key": key("other", 20), "UpdateExpression": "SET v = :v",
                            "ExpressionAttributeValues": {":v": {"S": "after"}}}},
            ]
        ),
        "UpdateItem",  # each part is authorized as its own item action
        t_arn,
    )  # fmt: skip
    denied(
        tenant,
        lambda: c.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": t, "Item": item(me, 21)}},
                {"ConditionCheck": {"TableName": t, "Key": key("other", 20),
                                    "ConditionExpression": "attribute_exists(v)"}},
            ]
        ),
        "ConditionCheckItem",
        t_arn,
    )  # fmt: skip
    assert "Item" not in ddb.get_item(TableName=t, Key=key(me, 20), ConsistentRead=True)
    assert "Item" not in ddb.get_item(TableName=t, Key=key(me, 21), ConsistentRead=True)
    assert ddb.get_item(TableName=t, Key=key("other", 20))["Item"]["v"] == {"S": "before"}
    denied(
        tenant,
        lambda: c.transact_get_items(
            TransactItems=[{"Get": {"TableName": t, "Key": key(me, 1)}},
                           {"Get": {"TableName": t, "Key": key("other", 20)}}]
        ),
        "GetItem",
        t_arn,
    )  # fmt: skip
    c.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": t, "Item": item(me, 22)}},
            {"Delete": {"TableName": t, "Key": key(me, 12)}},
        ]
    )
    got = c.transact_get_items(TransactItems=[{"Get": {"TableName": t, "Key": key(me, 22)}}])
    assert got["Responses"][0]["Item"]["n"] == {"N": "22"}


def test_enclosing_operation_scopes_an_action_to_transactions(
    tables: dict[str, str], make_user: UserFactory
) -> None:
    t, t_arn = tables["t"], tables["t_arn"]
    user = make_user(
        policy(
            allow(
                "dynamodb:PutItem",
                t_arn,
                Condition={"StringEquals": {"dynamodb:EnclosingOperation": "TransactWriteItems"}},
            )
        )
    )
    c = user.client()
    denied(user, lambda: c.put_item(TableName=t, Item=item("tx", 1)), "PutItem", t_arn)
    c.transact_write_items(TransactItems=[{"Put": {"TableName": t, "Item": item("tx", 1)}}])


# --------------------------------------------------------------------------- streams, control plane


def test_streams_are_authorized_on_the_stream_arn(
    ddb: Any, tables: dict[str, str], make_user: UserFactory
) -> None:
    t_arn, stream_arn = tables["t_arn"], tables["stream_arn"]
    ddb.put_item(TableName=tables["t"], Item=item("stream", 1))
    user = make_user(
        policy(
            allow(["dynamodb:DescribeStream", "dynamodb:GetShardIterator"], f"{t_arn}/stream/*"),
            allow("dynamodb:ListStreams", "*"),
        )
    )
    s = user.client("dynamodbstreams")
    assert stream_arn in {x["StreamArn"] for x in s.list_streams()["Streams"]}
    shard = s.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = s.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    # GetRecords is authorized on the stream its iterator names
    denied(user, lambda: s.get_records(ShardIterator=it["ShardIterator"]), "GetRecords", stream_arn)
    other = make_user(policy(allow("dynamodb:GetRecords", f"{t_arn}/stream/*")))
    assert "Records" in other.client("dynamodbstreams").get_records(
        ShardIterator=it["ShardIterator"]
    )
    denied(other, lambda: other.client("dynamodbstreams").list_streams(), "ListStreams", "*")


def test_control_plane_actions(ddb: Any, tables: dict[str, str], make_user: UserFactory) -> None:
    name = unique("polnew")
    arn = tables["t_arn"].rsplit("/", 1)[0] + "/" + name
    admin_of_one = make_user(
        policy(
            allow(["dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeTable"], arn)
        )
    )
    c = admin_of_one.client()
    spec = {
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    other = unique("polnope")
    denied(
        admin_of_one,
        lambda: c.create_table(TableName=other, **spec),
        "CreateTable",
        arn.rsplit("/", 1)[0] + "/" + other,
    )
    with pytest.raises(ClientError):
        ddb.describe_table(TableName=other)  # not created
    c.create_table(TableName=name, **spec)
    assert c.describe_table(TableName=name)["Table"]["TableName"] == name
    denied(admin_of_one, lambda: c.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    ), "UpdateTimeToLive", arn)  # fmt: skip
    c.delete_table(TableName=name)


# --------------------------------------------------------------------------- REST API


def test_rest_routes_are_authorized_as_their_dynamodb_actions(
    ddb: Any, region_proc: RegionProcess, tables: dict[str, str], tenant: User
) -> None:
    t, me = tables["t"], tenant.name
    base = f"{region_proc.url}/v1/tables/{t}"
    ddb.put_item(TableName=t, Item=item("other", 30, v="theirs"))
    with tenant.http() as client:
        r = client.put(f"{base}/items", content=json.dumps({"user": me, "n": 30, "v": "rest"}))
        assert r.status_code == 200, r.text
        r = client.get(f"{base}/items", params={"user": me, "n": "30"})
        assert r.status_code == 200 and r.json()["item"]["v"] == "rest"
        r = client.get(f"{base}/query", params={"user": me})
        assert r.status_code == 200 and r.json()["count"] >= 1
        for method, url, params, body, action in [
            ("GET", f"{base}/items", {"user": "other", "n": "30"}, None, "GetItem"),
            ("PUT", f"{base}/items", None, {"user": "other", "n": 30, "v": "x"}, "PutItem"),
            ("DELETE", f"{base}/items", {"user": "other", "n": "30"}, None, "DeleteItem"),
            ("GET", f"{base}/query", {"user": "other"}, None, "Query"),
            ("GET", f"{base}/scan", None, None, "Scan"),
            ("GET", f"{region_proc.url}/v1/tables", None, None, "ListTables"),
        ]:
            r = client.request(
                method, url, params=params, content=json.dumps(body) if body is not None else None
            )
            assert r.status_code == 403, (action, r.text)
            assert r.json()["error"] == "AccessDeniedException"
            assert (
                f"is not authorized to perform: dynamodb:{action} on resource: "
                in r.json()["message"]
            )
    assert ddb.get_item(TableName=t, Key=key("other", 30))["Item"]["v"] == {"S": "theirs"}
