"""Resource-based policies through boto3 (issue #17): CreateTable's ResourcePolicy,
Put/Get/DeleteResourcePolicy, and their evaluation with the users' identity policies
on single items, batches and transactions (regions/resource_policy.py,
api/authorization.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.api.support import REGION, unique
from tests.integration.api.test_policies import ACCOUNT, User, UserFactory, make_user

pytestmark = pytest.mark.integration

__all__ = ["make_user"]  # the users fixture, shared with test_policies.py

ALL: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
}


def _arn(table: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture
def new_table(ddb: Any) -> Iterator[Any]:
    """``new_table(**extra) -> name``: a PAY_PER_REQUEST table keyed by ``user`` (S)."""
    names: list[str] = []

    def make(**extra: Any) -> str:
        name = unique("rbp")
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )
        names.append(name)
        return name

    yield make
    for name in names:
        ddb.delete_table(TableName=name)


def _item(user: str) -> dict[str, Any]:
    return {"user": {"S": user}, "v": {"N": "1"}}


def test_a_deny_in_create_tables_policy_beats_the_users_allow(
    ddb: Any, new_table: Any, make_user: UserFactory
) -> None:
    bob, alice = make_user(ALL), make_user(ALL)
    other = new_table()
    policy = _doc(
        {
            "Effect": "Deny",
            "Principal": {"AWS": [bob.arn]},
            "Action": "dynamodb:*",
            "Resource": ["*"],
        }
    )
    table = new_table(ResourcePolicy=policy)
    arn = _arn(table)
    denied = (
        f"User: {bob.arn} is not authorized to perform: dynamodb:{{}} on resource: {arn} "
        "with an explicit deny in a resource-based policy"
    )
    b = bob.client()
    with pytest.raises(ClientError) as exc:
        b.get_item(TableName=table, Key={"user": {"S": "x"}})
    assert _code(exc) == "AccessDeniedException"
    assert exc.value.response["Error"]["Message"] == denied.format("GetItem")
    with pytest.raises(ClientError) as exc:
        b.put_item(TableName=table, Item=_item("x"))
    assert exc.value.response["Error"]["Message"] == denied.format("PutItem")
    # one item on the table denies the whole batch, and nothing of it is written
    with pytest.raises(ClientError) as exc:
        b.batch_write_item(
            RequestItems={
                other: [{"PutRequest": {"Item": _item("b1")}}],
                table: [{"PutRequest": {"Item": _item("b2")}}],
            }
        )
    assert exc.value.response["Error"]["Message"] == denied.format("BatchWriteItem")
    with pytest.raises(ClientError) as exc:
        b.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": other, "Item": _item("t1")}},
                {"Put": {"TableName": table, "Item": _item("t2")}},
            ]
        )
    assert exc.value.response["Error"]["Message"] == denied.format("PutItem")
    assert "Item" not in ddb.get_item(TableName=other, Key={"user": {"S": "b1"}})
    assert "Item" not in ddb.get_item(TableName=other, Key={"user": {"S": "t1"}})
    # bob may still use the other table; alice, not named, uses both
    b.put_item(TableName=other, Item=_item("b"))
    a = alice.client()
    a.put_item(TableName=table, Item=_item("a"))
    assert a.get_item(TableName=table, Key={"user": {"S": "a"}})["Item"] == _item("a")
    a.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": other, "Item": _item("a1")}},
            {"Put": {"TableName": table, "Item": _item("a2")}},
        ]
    )
    # DescribeTable is a dynamodb:* action too
    with pytest.raises(ClientError):
        b.describe_table(TableName=table)


def test_a_resource_allow_grants_a_user_without_identity_grants(
    ddb: Any, new_table: Any, make_user: UserFactory
) -> None:
    carol = make_user()
    table = new_table()
    arn = _arn(table)
    c = carol.client()
    with pytest.raises(ClientError) as exc:
        c.get_item(TableName=table, Key={"user": {"S": "x"}})
    assert "because no identity-based policy allows" in exc.value.response["Error"]["Message"]
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": carol.arn},
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchGetItem"],
        "Resource": arn,
    }
    # the admin attaches it (a user without rights could not)
    ddb.put_resource_policy(ResourceArn=arn, Policy=_doc(grant))
    c.put_item(TableName=table, Item=_item("c"))
    assert c.get_item(TableName=table, Key={"user": {"S": "c"}})["Item"] == _item("c")
    got = c.batch_get_item(RequestItems={table: {"Keys": [{"user": {"S": "c"}}]}})
    assert got["Responses"][table] == [_item("c")]
    with pytest.raises(ClientError) as exc:
        c.delete_item(TableName=table, Key={"user": {"S": "c"}})
    assert _code(exc) == "AccessDeniedException"


def test_put_get_delete_round_trip(ddb: Any, new_table: Any) -> None:
    table = new_table()
    arn = _arn(table)
    with pytest.raises(ClientError) as exc:
        ddb.get_resource_policy(ResourceArn=arn)
    assert _code(exc) == "PolicyNotFoundException"
    assert exc.value.response["Error"]["Message"] == (
        f"Resource-based policy not found for the provided ResourceArn: {arn}"
    )
    first = _doc(
        {"Effect": "Allow", "Principal": "*", "Action": "dynamodb:GetItem", "Resource": arn}
    )
    rev1 = ddb.put_resource_policy(ResourceArn=arn, Policy=first, ExpectedRevisionId="NO_POLICY")[
        "RevisionId"
    ]
    got = ddb.get_resource_policy(ResourceArn=arn)
    assert got["Policy"] == first and got["RevisionId"] == rev1
    # the same document: the same revision
    assert ddb.put_resource_policy(ResourceArn=arn, Policy=first)["RevisionId"] == rev1
    second = first.replace("GetItem", "Query")
    rev2 = ddb.put_resource_policy(ResourceArn=arn, Policy=second, ExpectedRevisionId=rev1)[
        "RevisionId"
    ]
    assert rev2 != rev1 and int(rev2) > int(rev1)
    with pytest.raises(ClientError) as exc:
        ddb.put_resource_policy(ResourceArn=arn, Policy=first, ExpectedRevisionId=rev1)
    assert _code(exc) == "PolicyNotFoundException"
    assert exc.value.response["Error"]["Message"] == (
        "Resource-based policy not found for the provided ResourceArn: Requested update for "
        f"policy with revision id {rev1}, but the policy associated to target table {table} "
        f"has revision id {rev2}."
    )
    with pytest.raises(ClientError) as exc:
        ddb.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=rev1)
    assert _code(exc) == "PolicyNotFoundException"
    assert (
        ddb.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=rev2)["RevisionId"] == rev2
    )
    with pytest.raises(ClientError) as exc:
        ddb.get_resource_policy(ResourceArn=arn)
    assert _code(exc) == "PolicyNotFoundException"
    # deleting nothing is idempotent
    ddb.delete_resource_policy(ResourceArn=arn)
    # the policy is kept with the table's spec, not shown by DescribeTable (as DynamoDB)
    assert "ResourcePolicy" not in ddb.describe_table(TableName=table)["Table"]


def test_errors(ddb: Any, new_table: Any) -> None:
    table = new_table(StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    arn = _arn(table)
    for bad in (
        "{not json",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
            }
        ),
        _doc({"Effect": "Maybe", "Principal": "*", "Action": "dynamodb:*", "Resource": "*"}),
    ):
        with pytest.raises(ClientError) as exc:
            ddb.put_resource_policy(ResourceArn=arn, Policy=bad)
        assert _code(exc) == "ValidationException", bad
        assert "Invalid policy document" in exc.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as exc:
            ddb.create_table(
                TableName=unique("rbpbad"),
                KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                ResourcePolicy=bad,
            )
        assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        ddb.get_resource_policy(ResourceArn=arn + "nope")
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        ddb.get_resource_policy(ResourceArn=arn + "/index/x")
    assert _code(exc) == "ValidationException"
    # a stream has a policy of its own
    stream = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    doc = _doc(
        {"Effect": "Allow", "Principal": "*", "Action": "dynamodb:GetRecords", "Resource": stream}
    )
    rev = ddb.put_resource_policy(ResourceArn=stream, Policy=doc)["RevisionId"]
    assert ddb.get_resource_policy(ResourceArn=stream)["RevisionId"] == rev
    with pytest.raises(ClientError) as exc:
        ddb.get_resource_policy(ResourceArn=arn)
    assert _code(exc) == "PolicyNotFoundException"


def test_conditions_are_honoured(new_table: Any, make_user: UserFactory) -> None:
    dave = make_user(ALL)
    policy = _doc(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "dynamodb:*",
            "Resource": "*",
            "Condition": {
                "ForAnyValue:StringNotEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}
            },
        }
    )
    table = new_table(ResourcePolicy=policy)
    d = dave.client()
    d.put_item(TableName=table, Item=_item(dave.name))
    with pytest.raises(ClientError) as exc:
        d.put_item(TableName=table, Item=_item("someone-else"))
    assert _code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError):
        d.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": _item(dave.name)}},
                    {"PutRequest": {"Item": _item("someone-else")}},
                ]
            }
        )
    got = d.batch_get_item(RequestItems={table: {"Keys": [{"user": {"S": dave.name}}]}})
    assert got["Responses"][table] == [_item(dave.name)]


def test_create_table_with_a_policy_needs_put_resource_policy_too(
    make_user: UserFactory, ddb: Any
) -> None:
    only_create: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:CreateTable", "Resource": "*"}],
    }
    erin: User = make_user(only_create)
    name = unique("rbpc")
    with pytest.raises(ClientError) as exc:
        erin.client().create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            ResourcePolicy=_doc(
                {"Effect": "Allow", "Principal": "*", "Action": "dynamodb:*", "Resource": "*"}
            ),
        )
    assert "dynamodb:PutResourcePolicy" in exc.value.response["Error"]["Message"]
    assert name not in ddb.list_tables()["TableNames"]
