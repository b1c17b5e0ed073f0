"""The small DynamoDB differences of issue #17, through boto3 against a running region.

1. list indexes in ProjectionExpression (and the other expressions) that DynamoDB
   refuses: out of range, overlapping or conflicting paths, on every read operation;
2. attribute-name lengths: NonKeyAttributes and index key names (255 characters),
   names in ExpressionAttributeNames / AttributesToGet (65535 bytes);
3. IndexName's pattern and lengths wherever an index is named;
4. DeleteTable's TableDescription, which leaves the table's structure out;
5. one online index created or deleted at a time per table.

Where each expected text comes from is cited next to the code that produces it
(regions/expressions/parser.py, regions/expressions/context.py, api/dynamodb/tables.py,
regions/control/table_changes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.api.support import expect_error, key_schema, unique

pytestmark = pytest.mark.integration

PATTERN = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
TOO_SHORT = "Member must have length greater than or equal to 3"
TOO_LONG = "Member must have length less than or equal to 255"
NAME_TOO_LARGE = (
    "1 validation error detected: Attribute name is too large, must be less than 65536 bytes"
)
ONE_INDEX = "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
NON_KEY_NAME = (
    "Member must satisfy constraint: [Member must have length less than or equal to 255, "
    "Member must have length greater than or equal to 1]"
)


def _errors(*clauses: tuple[str, str, str]) -> str:
    """Coral's ``N validation error(s) detected: ...`` from (value, member, constraint)."""
    n = len(clauses)
    body = "; ".join(
        f"Value '{v}' at '{m}' failed to satisfy constraint: {c}" for v, m, c in clauses
    )
    return f"{n} validation error{'s' if n > 1 else ''} detected: {body}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


# --------------------------------------------------------------------------- 1. list indexes


def _range_error(kind: str, digits: str) -> str:
    return f"Invalid {kind}: List index is not within the allowable range; index: [{digits}]"


def _paths_error(relation: str, one: str, two: str) -> str:
    return (
        f"Invalid ProjectionExpression: Two document paths {relation} with each other; must "
        f"remove or rewrite one of these paths; path one: {one}, path two: {two}"
    )


def _get(ddb: Any, table: str, projection: str) -> dict[str, Any]:
    out: dict[str, Any] = ddb.get_item(
        TableName=table, Key={"p": _s("k")}, ProjectionExpression=projection, ConsistentRead=True
    )
    return out


def test_list_index_up_to_4294967294_reads_nothing_past_the_end(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": _s("k"), "a": {"L": [_n(1), _n(2)]}})
    assert _get(ddb, table, "a[4294967294]")["Item"] == {}
    assert _get(ddb, table, "a[2]")["Item"] == {}
    # an index on an attribute that is not a list (here the key) reads nothing either
    assert _get(ddb, table, "p[0]")["Item"] == {}
    # several indexes: the elements in index order, whatever the order written
    assert _get(ddb, table, "a[1], a[0]")["Item"] == {"a": {"L": [_n(1), _n(2)]}}


@pytest.mark.parametrize("digits", ["4294967295", "99999999999999", "9" * 40])
def test_list_index_past_the_range_is_refused(ddb: Any, table: str, digits: str) -> None:
    expect_error(
        lambda: _get(ddb, table, f"a[{digits}]"),
        "ValidationException",
        _range_error("ProjectionExpression", digits),
    )
    # the rule is the document path's, so every expression kind has it
    expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key={"p": _s("k")},
            UpdateExpression=f"SET a[{digits}] = :v",
            ExpressionAttributeValues={":v": _n(1)},
        ),
        "ValidationException",
        _range_error("UpdateExpression", digits),
    )
    expect_error(
        lambda: ddb.put_item(
            TableName=table,
            Item={"p": _s("k")},
            ConditionExpression=f"attribute_exists(a[1].b[{digits}])",
        ),
        "ValidationException",
        _range_error("ConditionExpression", digits),
    )


def test_list_index_errors_in_source_order_with_reserved_words(ddb: Any, table: str) -> None:
    # DynamoDB checks both while walking the parsed path, so the first one written wins
    expect_error(
        lambda: _get(ddb, table, "a[99999999999999].name"),
        "ValidationException",
        _range_error("ProjectionExpression", "99999999999999"),
    )
    expect_error(
        lambda: _get(ddb, table, "a.name[99999999999999]"),
        "ValidationException",
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name",
    )


def test_large_list_index_in_set_appends(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": _s("k"), "a": {"L": [_n(1), _n(2)]}})
    out = ddb.update_item(
        TableName=table,
        Key={"p": _s("k")},
        UpdateExpression="SET a[2000000000] = :v",
        ExpressionAttributeValues={":v": _n(3)},
        ReturnValues="ALL_NEW",
    )
    assert out["Attributes"]["a"] == {"L": [_n(1), _n(2), _n(3)]}


#: projections DynamoDB refuses, each with its answer
_BAD_PROJECTIONS = [
    ("a[4294967295]", _range_error("ProjectionExpression", "4294967295")),
    ("a[0], a", _paths_error("overlap", "[a, [0]]", "[a]")),
    ("a, a[0]", _paths_error("overlap", "[a]", "[a, [0]]")),
    ("a[0], a[0].b", _paths_error("overlap", "[a, [0]]", "[a, [0], b]")),
    ("a[1], a[1]", _paths_error("overlap", "[a, [1]]", "[a, [1]]")),
    ("a.b, a[1]", _paths_error("conflict", "[a, b]", "[a, [1]]")),
    ("a[0].b, a[0][1]", _paths_error("conflict", "[a, [0], b]", "[a, [0], [1]]")),
    ("a[-1]", 'Invalid ProjectionExpression: Syntax error; token: "-", near: "[-1"'),
]


def _read_with(operation: str, ddb: Any, table: str, projection: str) -> object:
    if operation == "GetItem":
        return _get(ddb, table, projection)
    if operation == "Query":
        return ddb.query(
            TableName=table,
            KeyConditionExpression="p = :p",
            ExpressionAttributeValues={":p": _s("k")},
            ProjectionExpression=projection,
        )
    if operation == "Scan":
        return ddb.scan(TableName=table, ProjectionExpression=projection)
    if operation == "BatchGetItem":
        return ddb.batch_get_item(
            RequestItems={table: {"Keys": [{"p": _s("k")}], "ProjectionExpression": projection}}
        )
    # TransactGetItems: a request-level ValidationException, not a cancellation
    return ddb.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": table, "Key": {"p": _s("k")}, "ProjectionExpression": projection}}
        ]
    )


@pytest.mark.parametrize(
    "operation", ["GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"]
)
def test_bad_list_index_projections_on_every_read(ddb: Any, table: str, operation: str) -> None:
    # refused on the expression alone: the key matches no item
    for projection, message in _BAD_PROJECTIONS:
        expect_error(
            lambda p=projection: _read_with(operation, ddb, table, p),  # type: ignore[misc]
            "ValidationException",
            message,
        )
    # distinct indexes of one list are fine
    _read_with(operation, ddb, table, "a[0], a[1], b")


# --------------------------------------------------------------------------- 2. name lengths


_TABLE_KEYS = [
    {"AttributeName": "a", "KeyType": "HASH"},
    {"AttributeName": "b", "KeyType": "RANGE"},
]
_DEFS = [
    {"AttributeName": "a", "AttributeType": "S"},
    {"AttributeName": "b", "AttributeType": "S"},
    {"AttributeName": "c", "AttributeType": "S"},
]


def _gsi(name: str, key: str = "c", projection: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "Projection": projection or {"ProjectionType": "ALL"},
    }


def _lsi(name: str, projection: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": "a", "KeyType": "HASH"},
            {"AttributeName": "c", "KeyType": "RANGE"},
        ],
        "Projection": projection or {"ProjectionType": "ALL"},
    }


@pytest.fixture
def make_abc(ddb: Any) -> Iterator[Callable[..., str]]:
    """``make_abc(**create_table_kwargs) -> name``: a table keyed (a, b), with c (S)
    defined for its indexes; on demand unless the kwargs say otherwise."""
    created: list[str] = []

    def make(**kw: Any) -> str:
        name = unique("fid")
        kw.setdefault("BillingMode", "PAY_PER_REQUEST")
        ddb.create_table(TableName=name, KeySchema=_TABLE_KEYS, AttributeDefinitions=_DEFS, **kw)
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            ddb.delete_table(TableName=name)
        except ClientError:
            pass


def _create(ddb: Any, **kw: Any) -> Callable[[], object]:
    def call() -> object:
        name = unique("fid")
        out = ddb.create_table(
            TableName=name,
            KeySchema=_TABLE_KEYS,
            AttributeDefinitions=kw.pop("AttributeDefinitions", _DEFS),
            BillingMode="PAY_PER_REQUEST",
            **kw,
        )
        ddb.delete_table(TableName=name)  # only reached if the test is about to fail
        return out

    return call


def test_non_key_attribute_names_are_at_most_255_characters(
    raw_ddb: Any, make_abc: Callable[..., str]
) -> None:
    long_name = "n" * 256
    include = {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["ok", long_name]}
    expect_error(
        _create(raw_ddb, GlobalSecondaryIndexes=[_gsi("gsi", projection=include)]),
        "ValidationException",
        _errors(
            (
                f"[ok, {long_name}]",
                "globalSecondaryIndexes.1.member.projection.nonKeyAttributes",
                NON_KEY_NAME,
            )
        ),
    )
    expect_error(
        _create(raw_ddb, LocalSecondaryIndexes=[_lsi("lsi", projection=include)]),
        "ValidationException",
        _errors(
            (
                f"[ok, {long_name}]",
                "localSecondaryIndexes.1.member.projection.nonKeyAttributes",
                NON_KEY_NAME,
            )
        ),
    )
    empty = {"ProjectionType": "INCLUDE", "NonKeyAttributes": [""]}
    expect_error(
        _create(raw_ddb, GlobalSecondaryIndexes=[_gsi("gsi", projection=empty)]),
        "ValidationException",
        _errors(
            ("[]", "globalSecondaryIndexes.1.member.projection.nonKeyAttributes", NON_KEY_NAME)
        ),
    )
    # 255 characters are fine, at CreateTable and at UpdateTable's GSI Create
    fine = {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["m" * 255]}
    table = make_abc(GlobalSecondaryIndexes=[_gsi("gsi", projection=fine)])
    described = raw_ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"][0]
    assert described["Projection"] == fine
    expect_error(
        lambda: raw_ddb.update_table(
            TableName=table,
            AttributeDefinitions=_DEFS,
            GlobalSecondaryIndexUpdates=[{"Create": _gsi("gsi2", projection=include)}],
        ),
        "ValidationException",
        _errors(
            (
                f"[ok, {long_name}]",
                "globalSecondaryIndexUpdates.1.member.create.projection.nonKeyAttributes",
                NON_KEY_NAME,
            )
        ),
    )


def test_index_key_names_are_at_most_255_characters(
    raw_ddb: Any, make_abc: Callable[..., str]
) -> None:
    long_name = "k" * 256
    defs = [*_DEFS[:2], {"AttributeName": long_name, "AttributeType": "S"}]
    expect_error(
        _create(
            raw_ddb, AttributeDefinitions=defs, GlobalSecondaryIndexes=[_gsi("gsi", key=long_name)]
        ),
        "ValidationException",
        _errors(
            (long_name, "attributeDefinitions.3.member.attributeName", TOO_LONG),
            (
                long_name,
                "globalSecondaryIndexes.1.member.keySchema.1.member.attributeName",
                TOO_LONG,
            ),
        ),
    )
    table = make_abc(GlobalSecondaryIndexes=[_gsi("gsi")])
    expect_error(
        lambda: raw_ddb.update_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": long_name, "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": _gsi("gsi", key=long_name)}],
        ),
        "ValidationException",
        _errors(
            (
                long_name,
                "globalSecondaryIndexUpdates.1.member.create.keySchema.1.member.attributeName",
                TOO_LONG,
            ),
            (long_name, "attributeDefinitions.1.member.attributeName", TOO_LONG),
        ),
    )


def test_names_in_projections_are_at_most_65535_bytes(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"p": _s("k"), "z" * 65535: _n(1)})
    got = ddb.get_item(
        TableName=table,
        Key={"p": _s("k")},
        ProjectionExpression="#n",
        ExpressionAttributeNames={"#n": "z" * 65535},
    )
    assert got["Item"] == {"z" * 65535: _n(1)}
    too_long = "z" * 65536
    expect_error(
        lambda: ddb.get_item(
            TableName=table,
            Key={"p": _s("k")},
            ProjectionExpression="#n",
            ExpressionAttributeNames={"#n": too_long},
        ),
        "ValidationException",
        NAME_TOO_LARGE,
    )
    # counted in UTF-8 bytes: 16384 four-byte characters are 65536 bytes
    expect_error(
        lambda: ddb.scan(
            TableName=table,
            ProjectionExpression="#n",
            ExpressionAttributeNames={"#n": "😀" * 16384},
        ),
        "ValidationException",
        NAME_TOO_LARGE,
    )
    expect_error(
        lambda: ddb.update_item(
            TableName=table,
            Key={"p": _s("k")},
            UpdateExpression="SET #n = :v",
            ExpressionAttributeNames={"#n": too_long},
            ExpressionAttributeValues={":v": _n(1)},
        ),
        "ValidationException",
        NAME_TOO_LARGE,
    )
    expect_error(
        lambda: ddb.get_item(TableName=table, Key={"p": _s("k")}, AttributesToGet=[too_long]),
        "ValidationException",
        NAME_TOO_LARGE,
    )
    # the legacy parameters name attributes directly: the same limit, nothing written
    for call in (
        lambda: ddb.update_item(
            TableName=table,
            Key={"p": _s("k")},
            AttributeUpdates={too_long: {"Value": _n(2), "Action": "PUT"}},
        ),
        lambda: ddb.update_item(
            TableName=table, Key={"p": _s("k")}, AttributeUpdates={too_long: {"Action": "DELETE"}}
        ),
        lambda: ddb.put_item(
            TableName=table, Item={"p": _s("k")}, Expected={too_long: {"Exists": False}}
        ),
        lambda: ddb.scan(
            TableName=table,
            ScanFilter={too_long: {"ComparisonOperator": "NOT_NULL"}},
        ),
        lambda: ddb.query(
            TableName=table,
            KeyConditions={"p": {"ComparisonOperator": "EQ", "AttributeValueList": [_s("k")]}},
            QueryFilter={too_long: {"ComparisonOperator": "NOT_NULL"}},
        ),
    ):
        expect_error(call, "ValidationException", NAME_TOO_LARGE)
    assert ddb.get_item(TableName=table, Key={"p": _s("k")})["Item"] == {
        "p": _s("k"),
        "z" * 65535: _n(1),
    }
    # the placeholder itself is limited to 255 bytes (DynamoDB Local's text)
    placeholder = "#" + "n" * 300
    expect_error(
        lambda: ddb.get_item(
            TableName=table,
            Key={"p": _s("k")},
            ProjectionExpression=placeholder,
            ExpressionAttributeNames={placeholder: "z"},
        ),
        "ValidationException",
        "ExpressionAttributeNames contains invalid key: The expression attribute map contains "
        "a key that is too long; size of key: 301",
    )


# --------------------------------------------------------------------------- 3. index names


def test_index_names_at_create_table(raw_ddb: Any, make_abc: Callable[..., str]) -> None:
    long_name = "i" * 256
    expect_error(
        _create(raw_ddb, LocalSecondaryIndexes=[_lsi("h;"), _lsi(long_name)]),
        "ValidationException",
        _errors(
            ("h;", "localSecondaryIndexes.1.member.indexName", PATTERN),
            ("h;", "localSecondaryIndexes.1.member.indexName", TOO_SHORT),
            (long_name, "localSecondaryIndexes.2.member.indexName", TOO_LONG),
        ),
    )
    expect_error(
        _create(raw_ddb, GlobalSecondaryIndexes=[_gsi("by c")]),
        "ValidationException",
        _errors(("by c", "globalSecondaryIndexes.1.member.indexName", PATTERN)),
    )
    expect_error(
        _create(raw_ddb, GlobalSecondaryIndexes=[_gsi("ab")]),
        "ValidationException",
        _errors(("ab", "globalSecondaryIndexes.1.member.indexName", TOO_SHORT)),
    )
    # every character the pattern allows, at both lengths' limits
    table = make_abc(
        GlobalSecondaryIndexes=[_gsi("a.B-9_"), _gsi("g" * 255)],
        LocalSecondaryIndexes=[_lsi("l_1")],
    )
    names = {
        g["IndexName"]
        for g in raw_ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
    }
    assert names == {"a.B-9_", "g" * 255}


def test_index_names_at_update_table(raw_ddb: Any, make_abc: Callable[..., str]) -> None:
    table = make_abc(GlobalSecondaryIndexes=[_gsi("gsi")])
    expect_error(
        lambda: raw_ddb.update_table(
            TableName=table,
            AttributeDefinitions=_DEFS,
            GlobalSecondaryIndexUpdates=[{"Create": _gsi("x;")}],
        ),
        "ValidationException",
        _errors(
            ("x;", "globalSecondaryIndexUpdates.1.member.create.indexName", PATTERN),
            ("x;", "globalSecondaryIndexUpdates.1.member.create.indexName", TOO_SHORT),
        ),
    )
    expect_error(
        lambda: raw_ddb.update_table(
            TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "gsi!"}}]
        ),
        "ValidationException",
        _errors(("gsi!", "globalSecondaryIndexUpdates.1.member.delete.indexName", PATTERN)),
    )
    expect_error(
        lambda: raw_ddb.update_table(
            TableName=table,
            GlobalSecondaryIndexUpdates=[
                {
                    "Update": {
                        "IndexName": "i" * 256,
                        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                    }
                }
            ],
        ),
        "ValidationException",
        _errors(("i" * 256, "globalSecondaryIndexUpdates.1.member.update.indexName", TOO_LONG)),
    )


def test_index_names_at_query_and_scan(raw_ddb: Any, table: str) -> None:
    expect_error(
        lambda: raw_ddb.query(
            TableName=table,
            IndexName="a;",
            KeyConditionExpression="p = :p",
            ExpressionAttributeValues={":p": _s("k")},
        ),
        "ValidationException",
        _errors(("a;", "indexName", PATTERN), ("a;", "indexName", TOO_SHORT)),
    )
    expect_error(
        lambda: raw_ddb.scan(TableName=table, IndexName="no/such"),
        "ValidationException",
        _errors(("no/such", "indexName", PATTERN)),
    )
    # a well-formed name of no index is the table's business, not the shape's
    expect_error(
        lambda: raw_ddb.scan(TableName=table, IndexName="no.such"),
        "ValidationException",
        "The table does not have the specified index: no.such",
    )


# --------------------------------------------------------------------------- 4. DeleteTable


def test_delete_table_answer_leaves_the_structure_out(ddb: Any) -> None:
    name = unique("fid")
    ddb.create_table(
        TableName=name,
        KeySchema=_TABLE_KEYS,
        AttributeDefinitions=_DEFS,
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[_gsi("by-c")],
        LocalSecondaryIndexes=[_lsi("by-a-c")],
    )
    ddb.put_item(TableName=name, Item={"a": _s("x"), "b": _s("y"), "c": _s("z")})
    described = ddb.describe_table(TableName=name)["Table"]
    deleted = ddb.delete_table(TableName=name)["TableDescription"]
    gone = (
        "KeySchema",
        "AttributeDefinitions",
        "CreationDateTime",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
    )
    for member in gone:
        assert member in described
        assert member not in deleted
    assert deleted["TableStatus"] == "DELETING"
    for member in (
        "TableName",
        "TableArn",
        "TableId",
        "ProvisionedThroughput",
        "BillingModeSummary",
    ):
        assert deleted[member] == described[member]
    assert deleted["ItemCount"] == 1
    assert deleted["TableSizeBytes"] == described["TableSizeBytes"] > 0
    expect_error(lambda: ddb.describe_table(TableName=name), "ResourceNotFoundException")


def test_delete_table_answer_of_a_provisioned_table(ddb: Any) -> None:
    name = unique("fid")
    ddb.create_table(
        TableName=name,
        **key_schema(("p", "S")),
        ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
    )
    deleted = ddb.delete_table(TableName=name)["TableDescription"]
    assert deleted["ProvisionedThroughput"] == {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": 3,
        "WriteCapacityUnits": 4,
    }
    assert "BillingModeSummary" not in deleted
    assert {"KeySchema", "AttributeDefinitions", "CreationDateTime"}.isdisjoint(deleted)


# --------------------------------------------------------------------------- 5. one index change


def test_one_index_created_or_deleted_per_update(
    raw_ddb: Any, make_abc: Callable[..., str]
) -> None:
    # raw_ddb does not retry: boto3 retries LimitExceededException by default
    table = make_abc(GlobalSecondaryIndexes=[_gsi("gsi"), _gsi("gsi2")])
    for updates in (
        [{"Create": _gsi("new1")}, {"Create": _gsi("new2")}],
        [{"Create": _gsi("new1")}, {"Delete": {"IndexName": "gsi"}}],
        [{"Delete": {"IndexName": "gsi"}}, {"Delete": {"IndexName": "gsi2"}}],
    ):
        expect_error(
            lambda u=updates: raw_ddb.update_table(  # type: ignore[misc]
                TableName=table, AttributeDefinitions=_DEFS, GlobalSecondaryIndexUpdates=u
            ),
            "LimitExceededException",
            ONE_INDEX,
        )
    described = raw_ddb.describe_table(TableName=table)["Table"]
    assert sorted(g["IndexName"] for g in described["GlobalSecondaryIndexes"]) == ["gsi", "gsi2"]


def test_index_create_with_a_throughput_update_is_one_change(
    raw_ddb: Any, make_abc: Callable[..., str]
) -> None:
    pt = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    table = make_abc(
        BillingMode="PROVISIONED",
        ProvisionedThroughput=pt,
        GlobalSecondaryIndexes=[{**_gsi("gsi"), "ProvisionedThroughput": pt}],
    )
    out = raw_ddb.update_table(
        TableName=table,
        AttributeDefinitions=_DEFS,
        GlobalSecondaryIndexUpdates=[
            {"Create": {**_gsi("new1"), "ProvisionedThroughput": pt}},
            {
                "Update": {
                    "IndexName": "gsi",
                    "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
                }
            },
        ],
    )["TableDescription"]
    by_name = {g["IndexName"]: g for g in out["GlobalSecondaryIndexes"]}
    assert set(by_name) == {"gsi", "new1"}
    assert by_name["gsi"]["ProvisionedThroughput"]["ReadCapacityUnits"] == 2
