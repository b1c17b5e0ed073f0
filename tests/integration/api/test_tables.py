"""Control plane through boto3: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable.

Expected texts are DynamoDB's own (the botocore model, the Developer Guide's naming rules
and quotas, and dynalite's and Alternator's suites, which run against the real service).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import (
    REGION,
    SERVICE_NS,
    VALIDATE_NS,
    create_table,
    error_of,
    expect_error,
    key_schema,
    post,
    unique,
)

pytestmark = pytest.mark.integration

HASH_P = key_schema(("p", "S"))
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _invalid(value: str, member: str, constraint: str) -> str:
    return f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"


def _absent(ddb: Any, name: str) -> None:
    expect_error(lambda: ddb.describe_table(TableName=name), "ResourceNotFoundException")


# --------------------------------------------------------------------------- serialization


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("CreateTable", {"TableName": 5, **HASH_P, "BillingMode": "PAY_PER_REQUEST"}),
        ("CreateTable", {"TableName": "abc", "KeySchema": "p", "AttributeDefinitions": []}),
        ("CreateTable", {"TableName": "abc", "KeySchema": [5], "AttributeDefinitions": []}),
        (
            "CreateTable",
            {
                "TableName": "abc",
                **HASH_P,
                "ProvisionedThroughput": {"ReadCapacityUnits": "1", "WriteCapacityUnits": 1},
            },
        ),
        ("CreateTable", {"TableName": "abc", **HASH_P, "ProvisionedThroughput": [1, 1]}),
        ("CreateTable", {"TableName": "abc", **HASH_P, "BillingMode": True}),
        ("DescribeTable", {"TableName": ["abc"]}),
        ("DeleteTable", {"TableName": {"a": 1}}),
        ("ListTables", {"Limit": "10"}),
        ("ListTables", {"ExclusiveStartTableName": 7}),
        ("UpdateTable", {"TableName": "abc", "ReplicaUpdates": "eu-west-1"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_wrong_json_types_are_serialization_exceptions(
    region_proc: RegionProcess, operation: str, body: dict[str, Any]
) -> None:
    r = post(region_proc.url, operation, body)
    assert r.status_code == 400
    assert error_of(r)[0] == SERVICE_NS + "SerializationException"


def test_table_name_number_message(region_proc: RegionProcess) -> None:
    r = post(region_proc.url, "DescribeTable", {"TableName": 5})
    assert error_of(r) == (
        SERVICE_NS + "SerializationException",
        "NUMBER_VALUE cannot be converted to String",
    )


# --------------------------------------------------------------------------- validation


def test_create_name_too_short(ddb: Any) -> None:
    # botocore accepts 2 characters (TableName also takes ARNs), so the server must refuse
    expect_error(
        lambda: ddb.create_table(TableName="ab", **HASH_P, BillingMode="PAY_PER_REQUEST"),
        "ValidationException",
        _invalid("ab", "tableName", "Member must have length greater than or equal to 3"),
    )
    assert "ab" not in ddb.list_tables()["TableNames"]


def test_create_name_too_long(ddb: Any) -> None:
    name = "a" * 256
    expect_error(
        lambda: ddb.create_table(TableName=name, **HASH_P, BillingMode="PAY_PER_REQUEST"),
        "ValidationException",
        _invalid(name, "tableName", "Member must have length less than or equal to 255"),
    )


@pytest.mark.parametrize("name", ["abc;", "with space", "tab\u00e9le", "a/b/c", "a:b:c"])
def test_create_name_bad_characters(ddb: Any, name: str) -> None:
    expect_error(
        lambda: ddb.create_table(TableName=name, **HASH_P, BillingMode="PAY_PER_REQUEST"),
        "ValidationException",
        _invalid(
            name, "tableName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        ),
    )


def test_create_name_short_and_bad_reports_both(raw_ddb: Any) -> None:
    err = expect_error(
        lambda: raw_ddb.create_table(TableName="a;", **HASH_P, BillingMode="PAY_PER_REQUEST"),
        "ValidationException",
    )
    message = err.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected: ")
    assert "Member must have length greater than or equal to 3" in message
    assert "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+" in message


@pytest.mark.parametrize("operation", ["describe_table", "delete_table"])
def test_other_operations_validate_the_name_too(ddb: Any, operation: str) -> None:
    # without the server-side rule a 2-character name would be a ResourceNotFound
    expect_error(
        lambda: getattr(ddb, operation)(TableName="ab"),
        "ValidationException",
        _invalid("ab", "tableName", "Member must have length greater than or equal to 3"),
    )
    expect_error(
        lambda: getattr(ddb, operation)(TableName="no;such"),
        "ValidationException",
        _invalid(
            "no;such",
            "tableName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ),
    )


def test_create_missing_required_members(raw_ddb: Any) -> None:
    err = expect_error(lambda: raw_ddb.create_table(TableName="abc"), "ValidationException")
    message = err.response["Error"]["Message"]
    assert re.match(r"\d+ validation errors detected: ", message)
    assert (
        "Value null at 'keySchema' failed to satisfy constraint: Member must not be null" in message
    )
    assert (
        "Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null"
        in message
    )


def test_attribute_definitions_missing_a_key_attribute(ddb: Any) -> None:
    name = unique()
    expect_error(
        lambda: ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "One or more parameter values were invalid: Some index key attributes are not defined in "
        "AttributeDefinitions. Keys: [p], AttributeDefinitions: [x]",
    )
    _absent(ddb, name)


def test_attribute_definitions_with_an_extra_attribute(ddb: Any) -> None:
    name = unique()
    expect_error(
        lambda: ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "p", "AttributeType": "S"},
                {"AttributeName": "x", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "One or more parameter values were invalid: Number of attributes in KeySchema does not "
        "exactly match number of attributes defined in AttributeDefinitions",
    )
    _absent(ddb, name)


def test_attribute_definitions_with_a_duplicate_name(ddb: Any) -> None:
    err = expect_error(
        lambda: ddb.create_table(
            TableName=unique(),
            KeySchema=[{"AttributeName": "xyz", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "xyz", "AttributeType": "S"},
                {"AttributeName": "xyz", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
    )
    assert re.search(r"uplicate.*xyz", err.response["Error"]["Message"])


@pytest.mark.parametrize("bad_type", ["BOOL", "SS", "s", "M"])
def test_key_attribute_type_must_be_scalar(ddb: Any, bad_type: str) -> None:
    expect_error(
        lambda: ddb.create_table(
            TableName=unique(),
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": bad_type}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        _invalid(
            bad_type,
            "attributeDefinitions.1.member.attributeType",
            "Member must satisfy enum value set: [B, N, S]",
        ),
    )


def test_key_type_must_be_hash_or_range(ddb: Any) -> None:
    expect_error(
        lambda: ddb.create_table(
            TableName=unique(),
            KeySchema=[{"AttributeName": "p", "KeyType": "PARTITION"}],
            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        _invalid(
            "PARTITION",
            "keySchema.1.member.keyType",
            "Member must satisfy enum value set: [HASH, RANGE]",
        ),
    )


def _two_keys(
    first: tuple[str, str], second: tuple[str, str], defs: tuple[str, ...] = ("a", "b")
) -> dict[str, Any]:
    return {
        "KeySchema": [
            {"AttributeName": first[0], "KeyType": first[1]},
            {"AttributeName": second[0], "KeyType": second[1]},
        ],
        "AttributeDefinitions": [{"AttributeName": d, "AttributeType": "S"} for d in defs],
    }


def test_key_schema_with_two_hash_keys(ddb: Any) -> None:
    expect_error(
        lambda: ddb.create_table(
            TableName=unique(),
            **_two_keys(("a", "HASH"), ("b", "HASH")),
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
    )


@pytest.mark.parametrize("second", ["HASH", "RANGE"])
def test_key_schema_starting_with_range(ddb: Any, second: str) -> None:
    expect_error(
        lambda: ddb.create_table(
            TableName=unique(),
            **_two_keys(("a", "RANGE"), ("b", second)),
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
    )


def test_key_schema_range_only(ddb: Any) -> None:
    expect_error(
        lambda: ddb.create_table(
            TableName=unique(),
            KeySchema=[{"AttributeName": "a", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
    )


def test_key_schema_hash_and_range_with_the_same_name(ddb: Any) -> None:
    expect_error(
        lambda: ddb.create_table(
            TableName=unique(),
            **_two_keys(("a", "HASH"), ("a", "RANGE")),
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Both the Hash Key and the Range Key element in the KeySchema have the same name",
    )


def test_key_schema_two_hash_keys_with_the_same_name(ddb: Any) -> None:
    expect_error(
        lambda: ddb.create_table(
            TableName=unique(),
            **_two_keys(("a", "HASH"), ("a", "HASH")),
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Both the Hash Key and the Range Key element in the KeySchema have the same name",
    )


def test_key_schema_with_three_elements(raw_ddb: Any) -> None:
    err = expect_error(
        lambda: raw_ddb.create_table(
            TableName=unique(),
            KeySchema=[
                {"AttributeName": "a", "KeyType": "HASH"},
                {"AttributeName": "b", "KeyType": "RANGE"},
                {"AttributeName": "c", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in "abc"],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
    )
    assert (
        "at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2"
        in err.response["Error"]["Message"]
    )


def test_key_schema_empty(raw_ddb: Any) -> None:
    expect_error(
        lambda: raw_ddb.create_table(
            TableName=unique(), KeySchema=[], AttributeDefinitions=[], BillingMode="PAY_PER_REQUEST"
        ),
        "ValidationException",
        _invalid("[]", "keySchema", "Member must have length greater than or equal to 1"),
    )


@pytest.mark.parametrize("billing", [None, "PROVISIONED"])
def test_provisioned_needs_throughput(ddb: Any, billing: str | None) -> None:
    name = unique()
    extra = {} if billing is None else {"BillingMode": billing}
    expect_error(
        lambda: ddb.create_table(TableName=name, **HASH_P, **extra),
        "ValidationException",
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits "
        "must both be specified when BillingMode is PROVISIONED",
    )
    _absent(ddb, name)


def test_pay_per_request_refuses_throughput(ddb: Any) -> None:
    name = unique()
    expect_error(
        lambda: ddb.create_table(
            TableName=name,
            **HASH_P,
            BillingMode="PAY_PER_REQUEST",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        ),
        "ValidationException",
        "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits "
        "can be specified when BillingMode is PAY_PER_REQUEST",
    )
    _absent(ddb, name)


def test_throughput_below_one(raw_ddb: Any, ddb: Any) -> None:
    name = unique()
    expect_error(
        lambda: raw_ddb.create_table(
            TableName=name,
            **HASH_P,
            ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 5},
        ),
        "ValidationException",
        _invalid(
            "0",
            "provisionedThroughput.readCapacityUnits",
            "Member must have value greater than or equal to 1",
        ),
    )
    _absent(ddb, name)


def test_throughput_members_are_required(region_proc: RegionProcess) -> None:
    name = unique()
    r = post(
        region_proc.url, "CreateTable", {"TableName": name, **HASH_P, "ProvisionedThroughput": {}}
    )
    assert r.status_code == 400
    kind, message = error_of(r)
    assert kind == VALIDATE_NS + "ValidationException"
    assert message is not None and message.startswith("2 validation errors detected: ")
    for member in ("readCapacityUnits", "writeCapacityUnits"):
        assert (
            f"Value null at 'provisionedThroughput.{member}' failed to satisfy constraint: Member must not be null"
            in message
        )


@pytest.mark.parametrize("mode", ["pay_per_request", "ON_DEMAND"])
def test_billing_mode_enum(ddb: Any, mode: str) -> None:
    err = expect_error(
        lambda: ddb.create_table(TableName=unique(), **HASH_P, BillingMode=mode),
        "ValidationException",
    )
    message = err.response["Error"]["Message"]
    assert message.startswith(
        f"1 validation error detected: Value '{mode}' at 'billingMode' failed to satisfy constraint: "
    )
    assert "Member must satisfy enum value set" in message


def test_create_existing_table(ddb: Any, table: str) -> None:
    expect_error(
        lambda: create_table(ddb, table),
        "ResourceInUseException",
        f"Table already exists: {table}",
    )


# --------------------------------------------------------------------------- CreateTable


def _check_description(desc: dict[str, Any], name: str, key: dict[str, Any], status: str) -> None:
    assert desc["TableName"] == name
    assert desc["TableStatus"] == status
    assert desc["KeySchema"] == key["KeySchema"]
    assert sorted(desc["AttributeDefinitions"], key=lambda d: d["AttributeName"]) == sorted(
        key["AttributeDefinitions"], key=lambda d: d["AttributeName"]
    )
    assert re.fullmatch(
        rf"arn:aws:dynamodb:{REGION}:\d{{12}}:table/{re.escape(name)}", desc["TableArn"]
    )
    assert UUID_RE.fullmatch(desc["TableId"])
    created = desc["CreationDateTime"].timestamp()
    assert abs(created - time.time()) < 60


@pytest.mark.parametrize("key_type", ["S", "N", "B"])
def test_create_hash_table(ddb: Any, key_type: str) -> None:
    name = unique()
    out = create_table(ddb, name, ("pk", key_type))
    try:
        desc = out["TableDescription"]
        _check_description(desc, name, key_schema(("pk", key_type)), "CREATING")
        assert desc["ItemCount"] == 0
        assert desc["TableSizeBytes"] == 0
    finally:
        ddb.delete_table(TableName=name)


@pytest.mark.parametrize(
    ("hash_type", "range_type"), [("S", "N"), ("N", "B"), ("B", "S"), ("S", "S")]
)
def test_create_hash_range_table(ddb: Any, hash_type: str, range_type: str) -> None:
    name = unique()
    key = key_schema(("pk", hash_type), ("sk", range_type))
    out = ddb.create_table(TableName=name, **key, BillingMode="PAY_PER_REQUEST")
    try:
        _check_description(out["TableDescription"], name, key, "CREATING")
        ddb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10}
        )
        _check_description(ddb.describe_table(TableName=name)["Table"], name, key, "ACTIVE")
    finally:
        ddb.delete_table(TableName=name)


def test_create_provisioned(ddb: Any) -> None:
    name = unique()
    out = ddb.create_table(
        TableName=name,
        **HASH_P,
        ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
    )
    try:
        for desc in (out["TableDescription"], ddb.describe_table(TableName=name)["Table"]):
            assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
            assert desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
            assert desc["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 0
            assert (
                desc.get("BillingModeSummary", {"BillingMode": "PROVISIONED"})["BillingMode"]
                == "PROVISIONED"
            )
    finally:
        ddb.delete_table(TableName=name)


def test_create_pay_per_request(ddb: Any, table: str) -> None:
    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
    assert desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 0


def test_name_of_255_characters_and_of_3(ddb: Any) -> None:
    for name in ("x" * 223 + uuid.uuid4().hex, f"_{uuid.uuid4().hex[:1]}."):
        assert len(name) in (255, 3)
        try:
            assert create_table(ddb, name)["TableDescription"]["TableName"] == name
            assert ddb.describe_table(TableName=name)["Table"]["TableName"] == name
        finally:
            ddb.delete_table(TableName=name)


def test_names_are_case_sensitive(ddb: Any) -> None:
    lower = unique("case")
    create_table(ddb, lower)
    upper = lower.upper()
    try:
        create_table(ddb, upper)
        assert ddb.describe_table(TableName=upper)["Table"]["TableName"] == upper
    finally:
        for n in (lower, upper):
            ddb.delete_table(TableName=n)


def test_waiter_table_exists(ddb: Any) -> None:
    name = unique()
    create_table(ddb, name)
    try:
        ddb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
        )
        assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    finally:
        ddb.delete_table(TableName=name)


def test_resource_create_table_and_wait(ddb_resource: Any) -> None:
    name = unique()
    t = ddb_resource.create_table(TableName=name, **HASH_P, BillingMode="PAY_PER_REQUEST")
    try:
        t.wait_until_exists()
        t.reload()
        assert t.table_status == "ACTIVE"
        assert t.key_schema == HASH_P["KeySchema"]
    finally:
        t.delete()
        t.wait_until_not_exists()


# --------------------------------------------------------------------------- DescribeTable


def test_describe_counts_items(ddb: Any, table: str) -> None:
    for k in ("k1", "k2", "k3"):
        ddb.put_item(TableName=table, Item={"p": {"S": k}})
    ddb.put_item(TableName=table, Item={"p": {"S": "k1"}})  # an overwrite is not a new item
    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["ItemCount"] == 3
    # each item is name "p" (1 byte) + a 2-byte string
    assert desc["TableSizeBytes"] == 9
    ddb.delete_item(TableName=table, Key={"p": {"S": "k2"}})
    assert ddb.describe_table(TableName=table)["Table"]["ItemCount"] == 2


def test_describe_by_arn(ddb: Any) -> None:
    name = unique()
    arn = create_table(ddb, name)["TableDescription"]["TableArn"]
    try:
        desc = ddb.describe_table(TableName=arn)["Table"]
        assert desc["TableName"] == name
        assert desc["TableArn"] == arn
        ddb.put_item(TableName=arn, Item={"p": {"S": "via-arn"}})
        assert ddb.get_item(TableName=name, Key={"p": {"S": "via-arn"}})["Item"] == {
            "p": {"S": "via-arn"}
        }
    finally:
        ddb.delete_table(TableName=arn)
    _absent(ddb, name)


def test_describe_missing_table(ddb: Any) -> None:
    name = unique("missing")
    err = expect_error(lambda: ddb.describe_table(TableName=name), "ResourceNotFoundException")
    assert err.response["Error"]["Message"] in (
        "Requested resource not found",
        f"Requested resource not found: Table: {name} not found",
    )


def test_describe_omits_absent_features(ddb: Any, table: str) -> None:
    desc = ddb.describe_table(TableName=table)["Table"]
    for absent in (
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "StreamSpecification",
        "Replicas",
        "LatestStreamArn",
    ):
        assert absent not in desc


# --------------------------------------------------------------------------- ListTables


@pytest.fixture
def listed(ddb: Any) -> Iterator[list[str]]:
    """Three tables named to sort after every other table of the session."""
    stem = f"zzzz{uuid.uuid4().hex[:8]}"
    names = [f"{stem}-a", f"{stem}-b", f"{stem}-c"]
    for n in reversed(names):
        create_table(ddb, n)
    yield names
    for n in names:
        ddb.delete_table(TableName=n)


def _all_names(ddb: Any, **kw: Any) -> list[str]:
    pages = ddb.get_paginator("list_tables").paginate(**kw)
    return [n for page in pages for n in page["TableNames"]]


def test_list_is_sorted_and_complete(ddb: Any, listed: list[str]) -> None:
    names = _all_names(ddb)
    assert names == sorted(set(names))
    assert names[-3:] == listed


def test_list_limit(ddb: Any, listed: list[str]) -> None:
    out = ddb.list_tables(ExclusiveStartTableName=listed[0], Limit=1)
    assert out["TableNames"] == [listed[1]]
    assert out["LastEvaluatedTableName"] == listed[1]
    out = ddb.list_tables(ExclusiveStartTableName=out["LastEvaluatedTableName"], Limit=1)
    assert out["TableNames"] == [listed[2]]


def test_list_no_last_evaluated_when_nothing_remains(ddb: Any, listed: list[str]) -> None:
    out = ddb.list_tables(ExclusiveStartTableName=listed[0], Limit=2)
    assert out["TableNames"] == listed[1:]
    assert "LastEvaluatedTableName" not in out
    out = ddb.list_tables(ExclusiveStartTableName=listed[2])
    assert out["TableNames"] == []
    assert "LastEvaluatedTableName" not in out


def test_list_exclusive_start_need_not_exist(ddb: Any, listed: list[str]) -> None:
    between = listed[0] + "0"  # sorts between -a and -b
    assert ddb.list_tables(ExclusiveStartTableName=between)["TableNames"] == listed[1:]


def test_list_paginator_gives_everything(ddb: Any, listed: list[str]) -> None:
    by_hand: list[str] = []
    start: dict[str, str] = {}
    while True:
        out = ddb.list_tables(Limit=1, **start)
        by_hand += out["TableNames"]
        if "LastEvaluatedTableName" not in out:
            break
        assert out["LastEvaluatedTableName"] == out["TableNames"][-1]
        start = {"ExclusiveStartTableName": out["LastEvaluatedTableName"]}
    paged = _all_names(ddb, PaginationConfig={"PageSize": 2})
    assert paged == by_hand == sorted(set(paged))
    assert paged[-3:] == listed


@pytest.mark.parametrize(
    ("limit", "constraint"),
    [
        (0, "Member must have value greater than or equal to 1"),
        (101, "Member must have value less than or equal to 100"),
    ],
)
def test_list_limit_range(raw_ddb: Any, limit: int, constraint: str) -> None:
    expect_error(
        lambda: raw_ddb.list_tables(Limit=limit),
        "ValidationException",
        _invalid(str(limit), "limit", constraint),
    )


def test_list_exclusive_start_too_short(raw_ddb: Any) -> None:
    expect_error(
        lambda: raw_ddb.list_tables(ExclusiveStartTableName="ab"),
        "ValidationException",
        _invalid(
            "ab", "exclusiveStartTableName", "Member must have length greater than or equal to 3"
        ),
    )


# --------------------------------------------------------------------------- DeleteTable


def test_delete_table(ddb: Any) -> None:
    name = unique()
    create_table(ddb, name)
    ddb.put_item(TableName=name, Item={"p": {"S": "a"}})
    desc = ddb.delete_table(TableName=name)["TableDescription"]
    assert desc["TableName"] == name
    assert desc["TableStatus"] == "DELETING"
    ddb.get_waiter("table_not_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    _absent(ddb, name)
    expect_error(lambda: ddb.delete_table(TableName=name), "ResourceNotFoundException")
    expect_error(
        lambda: ddb.get_item(TableName=name, Key={"p": {"S": "a"}}), "ResourceNotFoundException"
    )
    assert name not in ddb.list_tables()["TableNames"]


def test_recreated_table_starts_empty(ddb: Any) -> None:
    name = unique()
    create_table(ddb, name)
    ddb.put_item(TableName=name, Item={"p": {"S": "a"}, "v": {"N": "1"}})
    first_id = ddb.describe_table(TableName=name)["Table"]["TableId"]
    ddb.delete_table(TableName=name)
    create_table(ddb, name, ("p", "N"))
    try:
        desc = ddb.describe_table(TableName=name)["Table"]
        assert desc["TableId"] != first_id
        assert desc["ItemCount"] == 0
        assert desc["AttributeDefinitions"] == [{"AttributeName": "p", "AttributeType": "N"}]
        assert "Item" not in ddb.get_item(TableName=name, Key={"p": {"N": "1"}})
    finally:
        ddb.delete_table(TableName=name)


def test_delete_missing_table(ddb: Any) -> None:
    expect_error(lambda: ddb.delete_table(TableName=unique("missing")), "ResourceNotFoundException")


# --------------------------------------------------------------------------- UpdateTable


def test_update_without_changes(ddb: Any, table: str) -> None:
    err = expect_error(lambda: ddb.update_table(TableName=table), "ValidationException")
    assert err.response["Error"]["Message"].startswith(
        "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification"
    )


def test_update_replica_to_unknown_region(ddb: Any, table: str) -> None:
    err = expect_error(
        lambda: ddb.update_table(
            TableName=table, ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}]
        ),
        "ValidationException",
    )
    assert "eu-west-1" in err.response["Error"]["Message"]
    desc = ddb.describe_table(TableName=table)["Table"]
    assert "Replicas" not in desc
    assert "GlobalTableVersion" not in desc


def test_replica_updates_cannot_add_or_delete_the_local_region(ddb: Any, table: str) -> None:
    local = ddb.meta.region_name
    for update in ({"Create": {"RegionName": local}}, {"Delete": {"RegionName": local}}):
        expect_error(
            lambda u=update: ddb.update_table(TableName=table, ReplicaUpdates=[u]),
            "ValidationException",
            "Cannot add or delete the local region through ReplicaUpdates. Use CreateTable, "
            "DeleteTable, or UpdateTable as required.",
        )
    assert "Replicas" not in ddb.describe_table(TableName=table)["Table"]


def test_an_unknown_table_class_gets_dynamodbs_own_text(ddb: Any, table: str) -> None:
    message = (
        "Invalid table-class parameter provided. Please try again with a valid table-class "
        "value: [STANDARD, STANDARD_INFREQUENT_ACCESS]."
    )
    expect_error(
        lambda: ddb.create_table(
            TableName=unique("cls"),
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            TableClass="junk",
        ),
        "ValidationException",
        message,
    )
    expect_error(
        lambda: ddb.update_table(TableName=table, TableClass="junk"), "ValidationException", message
    )


def test_update_replica_region_name_required(raw_ddb: Any, ddb: Any, table: str) -> None:
    expect_error(
        lambda: raw_ddb.update_table(TableName=table, ReplicaUpdates=[{"Create": {}}]),
        "ValidationException",
        "1 validation error detected: Value null at 'replicaUpdates.1.member.create.regionName' "
        "failed to satisfy constraint: Member must not be null",
    )
    assert "Replicas" not in ddb.describe_table(TableName=table)["Table"]


def test_update_missing_table(ddb: Any) -> None:
    expect_error(
        lambda: ddb.update_table(
            TableName=unique("missing"), ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}]
        ),
        "ResourceNotFoundException",
    )


def test_update_attribute_type_enum(raw_ddb: Any, table: str) -> None:
    err = expect_error(
        lambda: raw_ddb.update_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "BOOL"}],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": "by-g",
                        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                }
            ],
        ),
        "ValidationException",
    )
    assert (
        "Value 'BOOL' at 'attributeDefinitions.1.member.attributeType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [B, N, S]"
    ) in err.response["Error"]["Message"]


# --------------------------------------------------------------------------- refused, never ignored

#: CreateTable members a region cannot honour, each with a value botocore accepts
_CREATE_REFUSED: list[tuple[str, Any]] = [
    ("SSESpecification", {"Enabled": True, "SSEType": "KMS"}),
    ("WarmThroughput", {"ReadUnitsPerSecond": 15000}),
    ("GlobalTableSourceArn", "arn:aws:dynamodb:us-west-2:123456789012:table/src"),
    ("GlobalTableSettingsReplicationMode", "ENABLED"),
]


@pytest.mark.parametrize(("member", "value"), _CREATE_REFUSED, ids=[m for m, _ in _CREATE_REFUSED])
def test_create_table_refuses_what_it_cannot_honour(ddb: Any, member: str, value: Any) -> None:
    name = f"refused-{uuid.uuid4().hex[:8]}"
    expect_error(
        lambda: create_table(ddb, name, **{member: value}),
        "ValidationException",
        f"CreateTable does not support {member} in this version",
    )
    # refused means not created
    expect_error(lambda: ddb.describe_table(TableName=name), "ResourceNotFoundException")


def test_default_sse_specification_is_accepted(ddb: Any) -> None:
    name = f"sse-default-{uuid.uuid4().hex[:8]}"
    create_table(ddb, name, SSESpecification={"Enabled": False})
    # as DynamoDB shows a table with the default key: no SSEDescription
    assert "SSEDescription" not in ddb.describe_table(TableName=name)["Table"]


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("SSESpecification", {"Enabled": True}),
        ("WarmThroughput", {"WriteUnitsPerSecond": 5000}),
        ("DisassociationProtectionEnabled", True),
        ("GlobalTableSettingsReplicationMode", "ENABLED"),
    ],
)
def test_update_table_refuses_what_it_cannot_honour(ddb: Any, table: str, member: str, value: Any) -> None:
    expect_error(
        lambda: ddb.update_table(TableName=table, **{member: value}),
        "ValidationException",
        f"UpdateTable does not support {member} in this version",
    )


def test_replica_create_refuses_a_customer_managed_key(ddb: Any, table: str) -> None:
    # SSE with KMS is refused (SSESpecification), so is a replica's own key
    expect_error(
        lambda: ddb.update_table(
            TableName=table,
            ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1", "KMSMasterKeyId": "alias/mine"}}],
        ),
        "ValidationException",
        "ReplicaUpdates Create does not support KMSMasterKeyId in this version",
    )
    assert "Replicas" not in ddb.describe_table(TableName=table)["Table"]


def test_replica_create_checks_its_overrides_against_the_table(ddb: Any, table: str) -> None:
    # the table is PAY_PER_REQUEST: a provisioned read override has nothing to override;
    # checked before anything else (here: before the region learns it has no peers)
    expect_error(
        lambda: ddb.update_table(
            TableName=table,
            ReplicaUpdates=[
                {
                    "Create": {
                        "RegionName": "eu-west-1",
                        "ProvisionedThroughputOverride": {"ReadCapacityUnits": 5},
                    }
                }
            ],
        ),
        "ValidationException",
        "One or more parameter values were invalid: ProvisionedThroughputOverride cannot be "
        "specified for the replica in eu-west-1 when BillingMode is PAY_PER_REQUEST",
    )
    assert "Replicas" not in ddb.describe_table(TableName=table)["Table"]


def test_index_projection_rules(ddb: Any) -> None:
    def gsi(projection: dict[str, Any]) -> Any:
        return lambda: ddb.create_table(
            TableName=unique("proj"),
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": projection}],
        )

    expect_error(
        gsi({"ProjectionType": "INCLUDE"}),
        "ValidationException",
        "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
    )
    expect_error(
        gsi({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "b", "a"]}),
        "ValidationException",
        "Cannot have two attributes with the same name: Duplicate attribute a in NonKeyAttributes",
    )
