"""The JSON 1.0 envelope over raw HTTP: targets, bodies, error shapes, headers.

Every hostile request below must come back a deterministic 4xx (never a 500, which
boto3 would retry, re-sending a write), in DynamoDB's error shape, and must leave the
stored data as it was.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import (
    DYNAMODB_NS,
    JSON_10,
    SERVICE_NS,
    VALIDATE_NS,
    create_table,
    error_of,
    http,
    post,
    unique,
)

pytestmark = pytest.mark.integration

SEED = {"p": {"S": "k"}, "v": {"S": "original"}, "n": {"N": "1"}}


@pytest.fixture(scope="module")
def seeded(ddb: Any) -> Iterator[str]:
    """A table holding SEED, shared by the hostile-input cases (each checks it is intact)."""
    name = unique("hostile")
    create_table(ddb, name)
    ddb.put_item(TableName=name, Item=SEED)
    yield name
    ddb.delete_table(TableName=name)


def _assert_seed_intact(url: str, table: str) -> None:
    r = post(url, "GetItem", {"TableName": table, "Key": {"p": {"S": "k"}}, "ConsistentRead": True})
    assert r.status_code == 200, r.text
    assert r.json() == {"Item": SEED}


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    "target",
    [
        "DynamoDB_20120810.NoSuchOperation",
        "DynamoDB_20120810.listTables",
        "DynamoDB_20120810.",
        "DynamoDB_20111205.ListTables",
        "DynamoDBStreams_20120810.NoSuchOperation",
        "ListTables",
        "whatever",
        "",
    ],
)
def test_unknown_target(region_proc: RegionProcess, target: str) -> None:
    r = post(region_proc.url, None, {}, target=target)
    assert r.status_code == 400
    assert error_of(r)[0] == SERVICE_NS + "UnknownOperationException"


def test_missing_target(region_proc: RegionProcess) -> None:
    r = http().post(region_proc.url + "/", content=b"{}", headers={"Content-Type": JSON_10})
    assert r.status_code == 400
    assert error_of(r)[0] == SERVICE_NS + "UnknownOperationException"


def test_unknown_target_with_a_bad_body(region_proc: RegionProcess) -> None:
    # the operation is resolved before the body is read as JSON
    r = post(region_proc.url, "NoSuchOperation", raw=b"not json")
    assert error_of(r)[0] == SERVICE_NS + "UnknownOperationException"


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"[{}]",
        b"null",
        b"5",
        b'"ListTables"',
        b"not json",
        b"{",
        b'{"Limit": 1,}',
        b"\xff\xfe{}",
        b"{}{}",
    ],
    ids=[
        "empty",
        "array",
        "array-of-object",
        "null",
        "number",
        "string",
        "text",
        "truncated",
        "trailing-comma",
        "bad-utf8",
        "two-objects",
    ],
)
def test_body_must_be_a_json_object(region_proc: RegionProcess, raw: bytes) -> None:
    r = post(region_proc.url, "ListTables", raw=raw)
    assert r.status_code == 400
    assert error_of(r)[0] == SERVICE_NS + "SerializationException"


@pytest.mark.parametrize(
    "raw", [b"", b"hi", b"not json", b"{", b'{"Limit": 1,}', b"\xff\xfe{}", b"{}{}", b"}{"]
)
def test_body_that_is_not_json_gets_no_message(region_proc: RegionProcess, raw: bytes) -> None:
    """DynamoDB's exact answer to a body that is not JSON (or is empty): a
    SerializationException and no message at all (dynalite's connection tests, written
    against DynamoDB, check this body and its CRC32, 3948637019)."""
    r = post(region_proc.url, "ListTables", raw=raw)
    assert r.status_code == 400
    assert r.content == b'{"__type":"com.amazon.coral.service#SerializationException"}'
    assert r.headers["x-amz-crc32"] == "3948637019"


def test_body_that_is_not_json_through_botocore(ddb: Any) -> None:
    """What an SDK user sees: the code, and an empty message."""
    from botocore.exceptions import ClientError

    def bad_json(request: Any, **_: Any) -> None:
        request.data = b"{not json"
        request.headers["Content-Length"] = str(len(request.data))

    events = ddb.meta.events
    # swap the body after serialisation, before the signature (which then covers it)
    events.register_first("before-sign.dynamodb.ListTables", bad_json)
    try:
        with pytest.raises(ClientError) as info:
            ddb.list_tables()
    finally:
        events.unregister("before-sign.dynamodb.ListTables", bad_json)
    err = info.value.response["Error"]
    assert err["Code"] == "SerializationException"
    assert err.get("Message", "") == ""
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_member_of_the_wrong_json_type(region_proc: RegionProcess) -> None:
    r = post(region_proc.url, "DescribeTable", {"TableName": 5})
    assert r.status_code == 400
    kind, message = error_of(r)
    assert kind == SERVICE_NS + "SerializationException"
    assert message == "NUMBER_VALUE cannot be converted to String"
    # Coral words SerializationException with a capital "Message"
    assert "Message" in r.json()


def test_number_inside_an_attribute_value(region_proc: RegionProcess, seeded: str) -> None:
    r = post(
        region_proc.url, "PutItem", {"TableName": seeded, "Item": {"p": {"S": "k"}, "v": {"N": 5}}}
    )
    assert r.status_code == 400
    assert error_of(r) == (
        SERVICE_NS + "SerializationException",
        "NUMBER_VALUE cannot be converted to String",
    )
    _assert_seed_intact(region_proc.url, seeded)


def test_body_over_16_mb(region_proc: RegionProcess) -> None:
    limit = 16 * 1024 * 1024
    r = post(region_proc.url, "ListTables", raw=b"{" + b" " * (limit - 1) + b"}")
    assert r.status_code == 413
    ok = post(region_proc.url, "ListTables", raw=b"{" + b" " * (limit - 2) + b"}")
    assert ok.status_code == 200, ok.text


def test_unknown_members_are_ignored(region_proc: RegionProcess) -> None:
    r = post(region_proc.url, "ListTables", {"Limit": 1, "NoSuchMember": {"x": [1, 2]}})
    assert r.status_code == 200
    assert "TableNames" in r.json()


# --------------------------------------------------------------------------- error shape


def test_validation_error_namespace(region_proc: RegionProcess) -> None:
    r = post(region_proc.url, "ListTables", {"Limit": 0})
    assert r.status_code == 400
    kind, message = error_of(r)
    assert kind == VALIDATE_NS + "ValidationException"
    assert message == (
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )
    assert "message" in r.json()


def test_service_error_namespace(region_proc: RegionProcess) -> None:
    name = unique("missing")
    r = post(region_proc.url, "DescribeTable", {"TableName": name})
    assert r.status_code == 400
    kind, _ = error_of(r)
    assert kind == DYNAMODB_NS + "ResourceNotFoundException"


def test_resource_in_use_namespace(region_proc: RegionProcess, seeded: str) -> None:
    body = {
        "TableName": seeded,
        "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    r = post(region_proc.url, "CreateTable", body)
    assert r.status_code == 400
    assert error_of(r) == (
        DYNAMODB_NS + "ResourceInUseException",
        f"Table already exists: {seeded}",
    )
    _assert_seed_intact(region_proc.url, seeded)


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("ListTables", {}),
        ("ListTables", {"Limit": 0}),
        ("DescribeTable", {"TableName": "no-such-table-anywhere"}),
        ("NoSuchOperation", {}),
    ],
)
def test_response_headers(region_proc: RegionProcess, operation: str, body: dict[str, Any]) -> None:
    r = post(region_proc.url, operation, body)
    assert r.headers["content-type"] == JSON_10
    assert r.headers["x-amz-crc32"] == str(zlib.crc32(r.content))
    # 52 characters of [0-9A-V], as DynamoDB's own request ids (dynalite's connection
    # tests, written against DynamoDB, check [0-9A-Z]{52})
    assert re.fullmatch(r"[0-9A-V]{52}", r.headers["x-amzn-requestid"])
    assert int(r.headers["content-length"]) == len(r.content)


def test_request_ids_are_unique(region_proc: RegionProcess) -> None:
    ids = {post(region_proc.url, "ListTables", {}).headers["x-amzn-requestid"] for _ in range(5)}
    assert len(ids) == 5


def test_request_id_of_every_kind_of_answer(region_proc: RegionProcess) -> None:
    """Answers, errors, the unsigned health check and an authentication failure all carry
    a DynamoDB-shaped request id."""
    unsigned = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": JSON_10}
    answers = [
        post(region_proc.url, "ListTables", {}),
        post(region_proc.url, "NoSuchOperation", {}),
        httpx.get(region_proc.url + "/"),
        httpx.post(region_proc.url + "/", headers=unsigned, content=b"{}"),
    ]
    assert answers[-1].status_code == 400
    for r in answers:
        assert re.fullmatch(r"[0-9A-V]{52}", r.headers["x-amzn-requestid"]), r.headers


def test_crc32_of_a_large_item_response(region_proc: RegionProcess, ddb: Any, seeded: str) -> None:
    # a body with multi-byte characters: the CRC is over the exact bytes sent
    item = {"p": {"S": "big"}, "s": {"S": "\u00e9\U0001f600" * 20000}}
    ddb.put_item(TableName=seeded, Item=item)
    try:
        r = post(region_proc.url, "GetItem", {"TableName": seeded, "Key": {"p": {"S": "big"}}})
        assert r.status_code == 200
        assert r.headers["x-amz-crc32"] == str(zlib.crc32(r.content))
        assert r.json() == {"Item": item}
    finally:
        ddb.delete_item(TableName=seeded, Key={"p": {"S": "big"}})


def test_botocore_sees_the_request_id(ddb: Any) -> None:
    out = ddb.list_tables(Limit=1)
    assert out["ResponseMetadata"]["RequestId"]
    assert (
        out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
        == out["ResponseMetadata"]["RequestId"]
    )


def test_success_body_is_at_least_an_object(region_proc: RegionProcess, seeded: str) -> None:
    r = post(region_proc.url, "GetItem", {"TableName": seeded, "Key": {"p": {"S": "nothing"}}})
    assert r.status_code == 200
    assert r.content == b"{}"
    assert r.headers["x-amz-crc32"] == str(zlib.crc32(b"{}"))


# --------------------------------------------------------------------------- hostile inputs


def _nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    value = leaf
    for _ in range(depth):
        value = {"L": [value]}
    return value


def _raw_nested(depth: int) -> bytes:
    return (
        b'{"TableName":"x","Item":{"p":' + b'{"L":[' * depth + b'{"S":"x"}' + b"]}" * depth + b"}}"
    )


_K = {"p": {"S": "k"}}
#: (operation, body) pairs whose body is a dict with "TableName": None (filled with the
#: seeded table) or raw bytes (sent as is)
HOSTILE: list[tuple[str, Any]] = [
    ("PutItem", {"Item": {**_K, "v": {"N": 5}}}),
    ("PutItem", {"Item": {**_K, "v": "bare"}}),
    ("PutItem", {"Item": {**_K, "v": None}}),
    ("PutItem", {"Item": {**_K, "v": {}}}),
    ("PutItem", {"Item": {**_K, "v": {"X": "unknown type"}}}),
    ("PutItem", {"Item": {**_K, "v": {"S": "x", "N": "1"}}}),
    ("PutItem", {"Item": {**_K, "v": {"S": ["x"]}}}),
    ("PutItem", {"Item": {**_K, "v": {"S": {"x": 1}}}}),
    ("PutItem", {"Item": {**_K, "v": {"B": "!!!!"}}}),
    ("PutItem", {"Item": {**_K, "v": {"B": "YQ="}}}),
    ("PutItem", {"Item": {**_K, "v": {"B": "YR=="}}}),
    ("PutItem", {"Item": {**_K, "v": {"B": 12}}}),
    ("PutItem", {"Item": {**_K, "v": {"N": "1e99999999999999999999999999"}}}),
    ("PutItem", {"Item": {**_K, "v": {"N": "1e-99999999999999999999999999"}}}),
    ("PutItem", {"Item": {**_K, "v": {"N": "9" * 5000}}}),
    ("PutItem", {"Item": {**_K, "v": {"N": "1" + "0" * 5000}}}),
    ("PutItem", {"Item": {**_K, "v": {"N": "NaN"}}}),
    ("PutItem", {"Item": {**_K, "v": {"N": "Infinity"}}}),
    ("PutItem", {"Item": {**_K, "v": {"N": ""}}}),
    ("PutItem", {"Item": {**_K, "v": {"N": "--1"}}}),
    ("PutItem", {"Item": {**_K, "v": {"BOOL": "true"}}}),
    ("PutItem", {"Item": {**_K, "v": {"BOOL": None}}}),
    ("PutItem", {"Item": {**_K, "v": {"NULL": False}}}),
    ("PutItem", {"Item": {**_K, "v": {"NULL": 1}}}),
    ("PutItem", {"Item": {**_K, "v": {"SS": []}}}),
    ("PutItem", {"Item": {**_K, "v": {"SS": [None]}}}),
    ("PutItem", {"Item": {**_K, "v": {"SS": ["a", "a"]}}}),
    ("PutItem", {"Item": {**_K, "v": {"SS": "a"}}}),
    ("PutItem", {"Item": {**_K, "v": {"SS": [1]}}}),
    ("PutItem", {"Item": {**_K, "v": {"NS": ["1", "01"]}}}),
    ("PutItem", {"Item": {**_K, "v": {"NS": ["x"]}}}),
    ("PutItem", {"Item": {**_K, "v": {"BS": ["YQ==", "YQ=="]}}}),
    ("PutItem", {"Item": {**_K, "v": {"BS": ["*"]}}}),
    ("PutItem", {"Item": {**_K, "v": {"L": "x"}}}),
    ("PutItem", {"Item": {**_K, "v": {"L": [None]}}}),
    ("PutItem", {"Item": {**_K, "v": {"L": [{"N": 5}]}}}),
    ("PutItem", {"Item": {**_K, "v": {"M": []}}}),
    ("PutItem", {"Item": {**_K, "v": {"M": {"a": "b"}}}}),
    ("PutItem", {"Item": {**_K, "v": _nested(40, {"S": "x"})}}),
    ("PutItem", {"Item": {**_K, "v": _nested(400, {"S": "x"})}}),
    ("PutItem", {"Item": {**_K, "": {"S": "x"}}}),
    ("PutItem", {"Item": {**_K, "x" * 70000: {"S": "x"}}}),
    ("PutItem", {"Item": {**_K, "v": {"S": "x" * 409_600}}}),
    ("PutItem", {"Item": {"p": {"N": "1"}, "v": {"S": "x"}}}),
    ("PutItem", {"Item": {"p": {"S": ""}, "v": {"S": "x"}}}),
    ("PutItem", {"Item": {"p": {"S": "k" * 2049}}}),
    ("PutItem", {"Item": {"v": {"S": "no key"}}}),
    ("PutItem", {"Item": {}}),
    ("PutItem", {"Item": []}),
    ("PutItem", {"Item": "x"}),
    ("PutItem", {}),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ReturnValues": "ALL_NEW"}),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ReturnValues": 5}),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ReturnValues": "BOGUS"}),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ReturnConsumedCapacity": "ALL"}),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "Expected": {"v": {"Exists": False}}}),
    (
        "PutItem",
        {
            "Item": {**_K, "v": {"S": "new"}},
            "Expected": {"v": {"Value": {"S": "original"}}},
            "ConditionExpression": "attribute_exists(p)",
        },
    ),
    (
        "PutItem",
        {"Item": {**_K, "v": {"S": "new"}}, "ExpressionAttributeValues": {":v": {"S": "x"}}},
    ),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ExpressionAttributeNames": {"#v": "v"}}),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ConditionExpression": 5}),
    (
        "PutItem",
        {"Item": {**_K, "v": {"S": "new"}}, "ConditionExpression": "attribute_not_exists(p)"},
    ),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ConditionExpression": "v = :v"}),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ConditionExpression": "((("}),
    ("PutItem", {"Item": {**_K, "v": {"S": "new"}}, "ConditionExpression": ""}),
    ("PutItem", {"TableName": ["x"], "Item": _K}),
    ("PutItem", {"TableName": "ab", "Item": {**_K, "v": {"S": "new"}}}),
    ("PutItem", {"TableName": "", "Item": {**_K, "v": {"S": "new"}}}),
    ("DeleteItem", {"Key": {**_K, "x": {"S": "extra"}}}),
    ("DeleteItem", {"Key": {"p": {"N": "1"}}}),
    ("DeleteItem", {"Key": {}}),
    ("DeleteItem", {"Key": {"p": "k"}}),
    ("DeleteItem", {"Key": [_K]}),
    ("DeleteItem", {}),
    ("DeleteItem", {"Key": _K, "ReturnValues": "ALL_NEW"}),
    ("DeleteItem", {"Key": _K, "ReturnValues": "UPDATED_OLD"}),
    ("DeleteItem", {"Key": _K, "ConditionExpression": "v = :nope"}),
    (
        "DeleteItem",
        {
            "Key": _K,
            "ConditionExpression": "attribute_exists(p)",
            "ExpressionAttributeValues": {":u": {"S": "unused"}},
        },
    ),
    (
        "DeleteItem",
        {"Key": _K, "ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": {"N": 1}}},
    ),
    ("DeleteItem", {"Key": _K, "ConditionExpression": "v = :v", "ExpressionAttributeValues": {}}),
    ("UpdateItem", {"Key": _K, "UpdateExpression": "SET v = :v"}),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET p = :v",
            "ExpressionAttributeValues": {":v": {"S": "x"}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"N": "x"}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET n = n + :v",
            "ExpressionAttributeValues": {":v": {"S": "x"}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET v = :v, v = :v",
            "ExpressionAttributeValues": {":v": {"S": "x"}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "ADD v :v",
            "ExpressionAttributeValues": {":v": {"N": "1"}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET n = n + :v",
            "ExpressionAttributeValues": {":v": {"N": "1e125"}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"S": "x" * 409_600}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET v.w = :v",
            "ExpressionAttributeValues": {":v": {"S": "x"}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET v = :v",
            "ConditionExpression": "n = :two",
            "ExpressionAttributeValues": {":v": {"S": "x"}, ":two": {"N": "2"}},
        },
    ),
    (
        "UpdateItem",
        {
            "Key": _K,
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"S": "x"}},
            "ReturnValues": "ALL",
        },
    ),
    ("UpdateItem", {"Key": _K, "UpdateExpression": 7}),
    ("GetItem", {"Key": _K, "ProjectionExpression": 5}),
    ("GetItem", {"Key": _K, "ProjectionExpression": "v, v"}),
    ("GetItem", {"Key": _K, "ProjectionExpression": "#undefined"}),
    ("GetItem", {"Key": _K, "ConsistentRead": "yes"}),
    ("GetItem", {"Key": {"p": {"S": "k"}, "q": {"S": "k"}}}),
    ("ListTables", {"Limit": "1"}),
    ("ListTables", {"Limit": -1}),
    ("ListTables", {"Limit": 100000000000000000000000000000}),
    ("ListTables", {"Limit": 1.5e300}),
    ("ListTables", {"ExclusiveStartTableName": ["a"]}),
    ("CreateTable", {"KeySchema": "x"}),
    ("CreateTable", {"KeySchema": [5], "AttributeDefinitions": [5]}),
    (
        "CreateTable",
        {"KeySchema": [{"AttributeName": 5, "KeyType": "HASH"}], "AttributeDefinitions": []},
    ),
    (
        "CreateTable",
        {
            "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 1e300, "WriteCapacityUnits": 1},
        },
    ),
    (
        "CreateTable",
        {
            "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "Tags": "x",
        },
    ),
    (
        "CreateTable",
        {
            "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "Tags": [{"Key": "", "Value": "x"}],
        },
    ),
    (
        "CreateTable",
        {
            "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": 5,
        },
    ),
    (
        "CreateTable",
        {
            "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "DeletionProtectionEnabled": "yes",
        },
    ),
    ("DeleteTable", {"TableName": ["x"]}),
    ("UpdateTable", {"ReplicaUpdates": "x"}),
    ("UpdateTable", {"ReplicaUpdates": [5]}),
    ("UpdateTable", {"ReplicaUpdates": [{"Create": 5}]}),
    ("UpdateTable", {"ReplicaUpdates": [{"Create": {"RegionName": 5}}]}),
    ("UpdateTable", {"ReplicaUpdates": [{"Create": {"RegionName": "us-east-1"}}]}),
    ("UpdateTable", {"ReplicaUpdates": [{"Delete": {"RegionName": "eu-west-1"}}]}),
    ("UpdateTable", {"ReplicaUpdates": []}),
    ("PutItem", b'{"TableName":"%s","Item":{"p":{"S":"k"},"v":{"S":"\\ud800"}}}'),
    ("PutItem", b'{"TableName":"%s","Item":{"p":{"S":"k"},"v":{"S":"\xff"}}}'),
    ("PutItem", b'{"TableName":"%s","Item":{"p":{"S":"k"},"v":{"N":1e400}}}'),
    ("PutItem", _raw_nested(5000)),
    ("ListTables", b'{"Limit": 1e400}'),
    ("ListTables", b'{"Limit": NaN}'),
]


@pytest.mark.parametrize(
    ("operation", "body"), HOSTILE, ids=[f"{i}-{op}" for i, (op, _) in enumerate(HOSTILE)]
)
def test_hostile_input_is_a_clean_4xx(
    region_proc: RegionProcess, seeded: str, operation: str, body: Any
) -> None:
    # reseeded per case, so one accepted write cannot hide behind the next case
    assert post(region_proc.url, "PutItem", {"TableName": seeded, "Item": SEED}).status_code == 200
    if isinstance(body, bytes):
        raw = body.replace(b"%s", seeded.encode()) if b"%s" in body else body
        r = post(region_proc.url, operation, raw=raw)
    else:
        r = post(region_proc.url, operation, {"TableName": seeded, **body})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    kind, message = error_of(r)
    assert kind.rsplit("#", 1)[0] + "#" in (VALIDATE_NS, SERVICE_NS, DYNAMODB_NS)
    # a body that is not JSON gets DynamoDB's message-less SerializationException
    not_json = r.content == b'{"__type":"com.amazon.coral.service#SerializationException"}'
    assert message or not_json, r.text[:500]
    _assert_seed_intact(region_proc.url, seeded)


def test_duplicate_json_keys_do_not_corrupt(region_proc: RegionProcess, seeded: str) -> None:
    """A JSON object with a repeated member: whatever the server keeps, it is one value."""
    raw = b'{"TableName":"%s","Key":{"p":{"S":"k"}},"Key":{"p":{"S":"k"}}}' % seeded.encode()
    r = post(region_proc.url, "GetItem", raw=raw)
    assert r.status_code == 200
    assert r.json() == {"Item": SEED}
