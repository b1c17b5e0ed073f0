"""The model walk: docs/compatibility.md's parameters table, row by row, sent to the
session's running region (issue #17).

Each request is built from botocore's service model: the operation's required members
(this module's one table, its ARN, its stream, where they name a resource) plus the
member of the row, with a value generated from the member's shape.  A ``refused`` row
must come back 400 ``ValidationException`` naming the member, a ``*`` row (an operation
not served) 400 ``UnknownOperationException``; a ``works`` row gets a success or a 4xx,
never a 5xx or a dropped connection (a cheap fuzz of every accepted member).  The
clients skip botocore's own parameter checks (``parameter_validation=False``, as
``raw_ddb``) and never retry, so every answer is the region's own.

tests/unit/test_compatibility_model.py keeps the table true to the models; the tests at
the end exercise the members this walk found accepted and dropped, and the ones no
other test exercised.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, Shape, StructureShape

from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, RegionProcess
from tests.integration.api.conftest import TableFactory
from tests.integration.api.support import REGION, create_table, expect_error, unique
from tests.unit.test_compatibility_model import (
    NO_MEMBERS,
    WHOLE_OPERATION,
    Row,
    parameter_rows,
    service_of,
)

ROWS = parameter_rows()
KEY = {"p": {"S": "walk"}}
ITEM = {**KEY, "v": {"S": "x"}}
#: operations that change the walk's table: walked last, so the rest see it as created
_CHANGES_THE_TABLE = frozenset(
    {
        "UpdateTable",
        "UpdateTimeToLive",
        "TagResource",
        "UntagResource",
        "PutResourcePolicy",
        "DeleteResourcePolicy",
    }
)
#: candidates for a string with a pattern, tried in order ("where easy")
_PATTERNED = ("0", ",", "00000000-0000-0000-0000-000000000000")


# --------------------------------------------------------------------------- the generator


@dataclass(frozen=True)
class _Model:
    session: Any

    def input(self, operation: str) -> Shape | None:
        model = self.session.get_service_model(service_of(operation))
        shape: Shape | None = model.operation_model(operation).input_shape
        return shape


MODEL = _Model(botocore.session.get_session())


def _string(shape: Shape) -> str:
    """The first enum value, else a string of the minimum length (at least 1) that
    matches the pattern when Python's ``re`` reads the pattern and one of a few
    candidates fits it."""
    enum: list[str] = list(getattr(shape, "enum", []) or [])
    if enum:
        return enum[0]
    low = max(int(shape.metadata.get("min", 1)), 1)
    pattern = shape.metadata.get("pattern")
    plain = "a" * low
    if pattern is None:
        return plain
    try:
        compiled = re.compile(pattern)
    except re.error:
        return plain  # \p{...} and the like: not easy
    high = int(shape.metadata.get("max", 1 << 20))
    for candidate in (plain, *(c * max(1, low // len(c)) for c in _PATTERNED), "0" * 16, "0" * 12):
        if low <= len(candidate) <= high and compiled.fullmatch(candidate):
            return candidate
    return plain


def generate(shape: Shape, depth: int = 0) -> Any:
    """A value of ``shape``: strings as :func:`_string`, numbers their minimum (1
    without one), structures their required members (an AttributeValue, a union in
    all but name, its S), lists one element, maps one entry."""
    kind = shape.type_name
    if shape.name == "AttributeValue":
        return {"S": "a"}
    if kind == "structure":
        if depth > 8:
            return {}
        assert isinstance(shape, StructureShape)
        members = shape.members
        return {name: generate(members[name], depth + 1) for name in shape.required_members}
    if kind == "list":
        assert isinstance(shape, ListShape)
        return [generate(shape.member, depth + 1)]
    if kind == "map":
        assert isinstance(shape, MapShape)
        return {_string(shape.key): generate(shape.value, depth + 1)}
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return float(shape.metadata.get("min", 1))
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"a"
    if kind == "timestamp":
        return dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    raise AssertionError(f"no generator for {kind} ({shape.name})")


def test_the_generator_honours_the_shapes() -> None:
    create = MODEL.input("CreateTable")
    assert create is not None
    assert generate(create.members["TableName"]) == "a"  # a name or an ARN: min 1
    global_table = MODEL.input("CreateGlobalTable")
    assert global_table is not None
    assert generate(global_table.members["GlobalTableName"]) == "aaa"  # min 3, a pattern
    assert generate(create.members["BillingMode"]) == "PROVISIONED"  # the first enum value
    # structures: their required members only
    assert generate(create.members["StreamSpecification"]) == {"StreamEnabled": True}
    scan = MODEL.input("Scan")
    assert scan is not None
    assert generate(scan.members["Segment"]) == 0 and generate(scan.members["Limit"]) == 1
    assert generate(scan.members["ExclusiveStartKey"]) == {"a": {"S": "a"}}
    streams = MODEL.input("GetShardIterator")
    assert streams is not None
    assert generate(streams.members["StreamArn"]) == "a" * 37
    assert generate(streams.members["Timestamp"]).year == 2024
    imports = MODEL.input("ImportTable")
    assert imports is not None
    assert generate(imports.members["InputFormatOptions"]) == {}


# --------------------------------------------------------------------------- the walk's table


@dataclass
class Walk:
    ddb: Any
    streams: Any
    table: str
    arn: str
    stream_arn: str
    shard: str

    def client(self, operation: str) -> Any:
        return self.streams if service_of(operation) == "dynamodbstreams" else self.ddb

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = getattr(self.client(operation), xform_name(operation))(**params)
        return out

    def known(self, operation: str, members: dict[str, Shape]) -> dict[str, Any]:
        """Values that name this module's resources, for the members that take them."""
        known: dict[str, Any] = {
            "TableName": self.table,
            "ResourceArn": self.arn,
            "StreamArn": self.stream_arn,
            "ShardId": self.shard,
            "Key": KEY,
            "Item": ITEM,
        }
        if "ShardIterator" in members:
            known["ShardIterator"] = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=self.shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        if operation == "BatchGetItem":
            known["RequestItems"] = {self.table: {"Keys": [KEY]}}
        elif operation == "BatchWriteItem":
            known["RequestItems"] = {self.table: [{"PutRequest": {"Item": ITEM}}]}
        elif operation == "TransactWriteItems":
            known["TransactItems"] = [{"Put": {"TableName": self.table, "Item": ITEM}}]
        elif operation == "TransactGetItems":
            known["TransactItems"] = [{"Get": {"TableName": self.table, "Key": KEY}}]
        return known


def _raw(service: str, region: RegionProcess) -> Any:
    return boto3.client(
        service,
        endpoint_url=region.url,
        region_name=REGION,
        aws_access_key_id=ADMIN_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET,
        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}),
    )


def _drop(ddb: Any, table: str) -> None:
    """Delete a table whatever the walk did to it (deletion protection included)."""
    try:
        ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    except ClientError:
        pass  # not there, or nothing to change
    try:
        ddb.delete_table(TableName=table)
    except ClientError:
        pass  # not there


@pytest.fixture(scope="module")
def walk(region_proc: RegionProcess, raw_ddb: Any) -> Iterator[Walk]:
    """One table for the whole walk, with a stream and one item."""
    streams = _raw("dynamodbstreams", region_proc)
    name = unique("walk")
    desc = create_table(
        raw_ddb,
        name,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    raw_ddb.put_item(TableName=name, Item=ITEM)
    stream_arn = desc["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    yield Walk(raw_ddb, streams, name, desc["TableArn"], stream_arn, shard["ShardId"])
    _drop(raw_ddb, name)


def _request(walk: Walk, row: Row) -> tuple[dict[str, Any], Callable[[], None]]:
    """The row's request, and what to clean up after it."""
    shape = MODEL.input(row.operation)
    members: dict[str, Shape] = dict(shape.members) if shape is not None else {}
    known = walk.known(row.operation, members)
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if row.operation == "CreateTable":
        fresh = unique("walk-create")
        known["TableName"] = fresh
        cleanup = lambda: _drop(walk.ddb, fresh)  # noqa: E731
    elif row.operation == "DeleteTable":
        doomed = unique("walk-delete")
        create_table(walk.ddb, doomed)
        known["TableName"] = doomed
        cleanup = lambda: _drop(walk.ddb, doomed)  # noqa: E731
    required = shape.required_members if shape is not None else []
    params = {name: known[name] if name in known else generate(members[name]) for name in required}
    # what a request of the operation needs in practice beyond the model's required members
    if row.operation == "CreateTable":
        params.update(
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    elif row.operation == "Query":
        params["KeyConditions"] = {
            "p": {"ComparisonOperator": "EQ", "AttributeValueList": [KEY["p"]]}
        }
    if row.parameter in members:
        name = row.parameter
        params[name] = known[name] if name in known else generate(members[name])
    return params, cleanup


def _ordered(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: r.operation in _CHANGES_THE_TABLE)


def _ids(row: Row) -> str:
    return f"{row.operation}.{row.parameter}"


UNKNOWN = [r for r in ROWS if r.parameter == WHOLE_OPERATION]
REFUSED = [r for r in ROWS if r.status == "refused" and r.parameter != WHOLE_OPERATION]
WORKS = _ordered([r for r in ROWS if r.status == "works"])


def _failure(walk: Walk, row: Row) -> ClientError:
    params, cleanup = _request(walk, row)
    try:
        with pytest.raises(ClientError) as info:
            walk.call(row.operation, params)
    finally:
        cleanup()
    return info.value


@pytest.mark.parametrize("row", UNKNOWN, ids=_ids)
def test_an_unimplemented_operation_is_unknown(walk: Walk, row: Row) -> None:
    exc = _failure(walk, row)
    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert exc.response["Error"] == {
        "Code": "UnknownOperationException",
        "Message": "An unknown operation was requested.",
    }


@pytest.mark.parametrize("row", REFUSED, ids=_ids)
def test_a_refused_member_is_refused_by_name(walk: Walk, row: Row) -> None:
    exc = _failure(walk, row)
    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error = exc.response["Error"]
    assert error["Code"] == "ValidationException", error
    assert re.search(rf"\b{row.parameter}\b", error["Message"]), error


@pytest.mark.parametrize("row", WORKS, ids=_ids)
def test_an_accepted_member_gets_a_success_or_a_4xx(walk: Walk, row: Row) -> None:
    params, cleanup = _request(walk, row)
    try:
        walk.call(row.operation, params)
    except ClientError as exc:
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        assert 400 <= status < 500, (params, exc.response["Error"])
    finally:
        cleanup()
    if row.parameter == NO_MEMBERS:
        assert params == {}


# --------------------------------------------------------------------------- members found dropped


def _write(
    ddb: Any, operation: str, table: str, key: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """One write of ``operation`` on ``key`` (an item of just its key)."""
    bodies: dict[str, dict[str, Any]] = {
        "PutItem": {"TableName": table, "Item": key},
        "UpdateItem": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"S": "y"}},
        },
        "DeleteItem": {"TableName": table, "Key": key},
        "BatchWriteItem": {"RequestItems": {table: [{"PutRequest": {"Item": key}}]}},
        "TransactWriteItems": {"TransactItems": [{"Put": {"TableName": table, "Item": key}}]},
    }
    out: dict[str, Any] = getattr(ddb, xform_name(operation))(**bodies[operation], **extra)
    return out


_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def test_item_collection_metrics_are_refused_only_where_there_are_item_collections(
    ddb: Any, make_table: TableFactory
) -> None:
    """ReturnItemCollectionMetrics=SIZE: DynamoDB answers item collection metrics only
    for a table with local secondary indexes.  A table without one answers none here
    either; on a table with one the request is refused by name before anything is
    written (it used to be accepted and the member dropped)."""
    plain = make_table()
    for operation in _WRITES:
        out = _write(ddb, operation, plain, KEY, ReturnItemCollectionMetrics="SIZE")
        assert "ItemCollectionMetrics" not in out, operation
    assert ddb.get_item(TableName=plain, Key=KEY, ConsistentRead=True)["Item"] == KEY
    local = unique("walk-lsi")
    ddb.create_table(
        TableName=local,
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("p", "s", "l")
        ],
        BillingMode="PAY_PER_REQUEST",
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-l",
                "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )  # fmt: skip
    key = {"p": {"S": "walk"}, "s": {"S": "1"}}
    try:
        for operation in _WRITES:
            expect_error(
                partial(_write, ddb, operation, local, key, ReturnItemCollectionMetrics="SIZE"),
                "ValidationException",
                f"{operation} does not support ReturnItemCollectionMetrics SIZE in this "
                f"version on a table with local secondary indexes: {local}",
            )
        assert ddb.scan(TableName=local, ConsistentRead=True)["Count"] == 0
        for operation in _WRITES:
            _write(ddb, operation, local, key, ReturnItemCollectionMetrics="NONE")
        assert ddb.scan(TableName=local, ConsistentRead=True)["Count"] == 1
    finally:
        _drop(ddb, local)


def test_table_class_deletion_protection_and_on_demand_throughput(ddb: Any) -> None:
    name = unique("walk-class")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        TableClass="STANDARD_INFREQUENT_ACCESS",
        DeletionProtectionEnabled=True,
        OnDemandThroughput={"MaxReadRequestUnits": 10, "MaxWriteRequestUnits": 5},
    )
    try:
        desc = ddb.describe_table(TableName=name)["Table"]
        assert desc["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}
        assert desc["DeletionProtectionEnabled"] is True
        assert desc["OnDemandThroughput"] == {"MaxReadRequestUnits": 10, "MaxWriteRequestUnits": 5}
        expect_error(
            lambda: ddb.delete_table(TableName=name),
            "ValidationException",
            "Resource cannot be deleted as it is currently protected against deletion. "
            "Disable deletion protection first.",
        )
        before = time.time()
        ddb.update_table(TableName=name, TableClass="STANDARD")
        summary = ddb.describe_table(TableName=name)["Table"]["TableClassSummary"]
        # a class changed by UpdateTable carries when (DynamoDB's LastUpdateDateTime)
        assert summary["TableClass"] == "STANDARD"
        assert before - 1 <= summary["LastUpdateDateTime"].timestamp() <= time.time() + 1
        ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
        assert ddb.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is False
        ddb.delete_table(TableName=name)
    finally:
        _drop(ddb, name)


def test_a_table_class_given_at_creation_is_summarised_even_when_standard(ddb: Any) -> None:
    """DynamoDB shows TableClassSummary once TableClass was given, STANDARD too, and
    not for a table created without it (Alternator's test_tableclass.py, run against
    DynamoDB)."""
    given, plain = unique("walk-std"), unique("walk-none")
    for name, extra in ((given, {"TableClass": "STANDARD"}), (plain, {})):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )
    try:
        assert ddb.describe_table(TableName=given)["Table"]["TableClassSummary"] == {
            "TableClass": "STANDARD"
        }
        assert "TableClassSummary" not in ddb.describe_table(TableName=plain)["Table"]
    finally:
        _drop(ddb, given)
        _drop(ddb, plain)


def _arn(ddb: Any, table: str) -> str:
    return str(ddb.describe_table(TableName=table)["Table"]["TableArn"])


def test_every_tag_comes_in_one_page_whatever_the_next_token(
    ddb: Any, make_table: TableFactory
) -> None:
    """DynamoDB does not page ListTagsOfResource either (a table has at most 50 tags;
    its service team in aws/aws-sdk#583): every tag comes in one page, and no
    NextToken is ever given out, so one sent asks for nothing more."""
    arn = _arn(ddb, make_table())
    tags = [{"Key": f"k{i}", "Value": str(i)} for i in range(5)]
    ddb.tag_resource(ResourceArn=arn, Tags=tags)
    for extra in ({}, {"NextToken": "anything"}):
        out = ddb.list_tags_of_resource(ResourceArn=arn, **extra)
        assert out["Tags"] == tags and "NextToken" not in out


def test_confirm_remove_self_resource_access_is_accepted(
    ddb: Any, make_table: TableFactory
) -> None:
    """A policy that denies every principal PutResourcePolicy is put with or without
    ConfirmRemoveSelfResourceAccess: the admin key, which no resource-based policy
    restricts, can always change or remove it (docs/policies-and-capacity.md)."""
    arn = _arn(ddb, make_table())
    doc = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "dynamodb:PutResourcePolicy",
                    "Resource": arn,
                }
            ],
        }
    )
    revision = ddb.put_resource_policy(
        ResourceArn=arn, Policy=doc, ConfirmRemoveSelfResourceAccess=True
    )["RevisionId"]
    got = ddb.get_resource_policy(ResourceArn=arn)
    assert (got["Policy"], got["RevisionId"]) == (doc, revision)
    ddb.delete_resource_policy(ResourceArn=arn)
    expect_error(lambda: ddb.get_resource_policy(ResourceArn=arn), "PolicyNotFoundException")


def test_conditional_operator_joins_the_expectations_of_puts_and_deletes(
    ddb: Any, make_table: TableFactory
) -> None:
    """Expected with two conditions: ConditionalOperator AND needs both, OR either, on
    PutItem and DeleteItem as on UpdateItem (test_legacy.py covers UpdateItem's)."""
    table = make_table()
    item = {**KEY, "a": {"N": "1"}, "b": {"N": "2"}}
    ddb.put_item(TableName=table, Item=item)
    # a holds, b does not
    expected = {"a": {"Value": {"N": "1"}}, "b": {"Value": {"N": "3"}}}
    for operation, params in (
        ("put_item", {"Item": {**item, "c": {"S": "put"}}}),
        ("delete_item", {"Key": KEY}),
    ):
        call = getattr(ddb, operation)
        expect_error(
            partial(call, TableName=table, Expected=expected, ConditionalOperator="AND", **params),
            "ConditionalCheckFailedException",
        )
        call(TableName=table, Expected=expected, ConditionalOperator="OR", **params)
    assert "Item" not in ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True)
