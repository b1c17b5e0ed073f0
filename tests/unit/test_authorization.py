"""api/authorization.py: what each request needs to be allowed (action, resource,
condition keys), without a server."""

from __future__ import annotations

from typing import Any

import pytest

from api import authorization as authz
from api.authorization import Check
from api.dynamodb.operations import CONTEXT_HANDLERS as CONTEXT_OPERATIONS
from api.dynamodb.operations import DECODED as DECODED_OPERATIONS
from api.dynamodb.operations import HANDLERS as OPERATIONS
from regions import principals
from regions.catalog import TableSpec
from regions.errors import AccessDenied, DynamoError, ResourceNotFound
from regions.indexes import GSI, IndexSpec
from regions.keys import KeyAttr, KeySchema
from regions.streams import Iterator, encode_iterator

ACCT = "000000000000"
ARN = f"arn:aws:dynamodb:us-east-1:{ACCT}:table/"


class FakeRegion:
    """What the mapping reads of a region: ARNs, the account and key schemas."""

    class settings:
        account_id = ACCT

    def __init__(self) -> None:
        gsi = IndexSpec("by-g", GSI, 1, KeySchema(KeyAttr("g", "N")))
        self.specs = {
            "T": TableSpec(
                "T",
                "id",
                KeySchema(KeyAttr("pk", "S"), KeyAttr("sk", "N")),
                {},
                0.0,
                indexes=(gsi,),
            ),
            "N": TableSpec("N", "id2", KeySchema(KeyAttr("num", "N")), {}, 0.0),
        }

    def arn(self, table: str) -> str:
        return ARN + table

    @property
    def control(self) -> FakeRegion:
        # the mapping reads specs through the control plane: this fake is both
        return self

    async def table_spec(self, table: str) -> TableSpec:
        if table not in self.specs:
            raise ResourceNotFound()
        return self.specs[table]

    @property
    def catalog(self) -> FakeRegion:
        # ... and the catalog cache, whose tables the resource-policy lookup reads
        return self

    @property
    def tables(self) -> dict[str, tuple[int, TableSpec]]:
        return {name: (i, spec) for i, (name, spec) in enumerate(self.specs.items())}


def _by_arn(value: Any, member: str = "") -> Any:
    """``value`` with the fake's one-letter table names given as their ARNs, which name
    the same tables: shorter than DynamoDB's 3 characters, a plain name would not
    decode (a name in a TableName member or a RequestItems key)."""
    if isinstance(value, list):
        return [_by_arn(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for k, v in value.items():
        if member == "RequestItems" and len(k) < 3:
            k = ARN + k
        if k == "TableName" and isinstance(v, str) and len(v) < 3:
            v = ARN + v
        out[k] = _by_arn(v, k)
    return out


async def checks(op: str, body: dict[str, Any], service: str = "dynamodb") -> list[Check]:
    """The checks of one request as the router computes them: a decoded operation's
    from its request object, or, when the body does not decode, from what the body
    gives without parsing; any other operation's from its body."""
    region: Any = FakeRegion()
    decoded = DECODED_OPERATIONS.get(service, {}).get(op)
    if decoded is not None:
        body = _by_arn(body)
        try:
            request = decoded.decode(body)
        except DynamoError:
            return await authz.checks_for(region, service, op, body)
        return await authz.request_checks(region, service, op, request)
    return await authz.checks_for(region, service, op, body)


def test_every_registered_operation_has_a_mapping() -> None:
    for table in (OPERATIONS, CONTEXT_OPERATIONS, DECODED_OPERATIONS):
        for service, ops in table.items():
            assert set(ops) <= set(authz.BUILDERS[service]), service
    for service, ops in DECODED_OPERATIONS.items():
        assert set(ops) == set(authz.REQUEST_BUILDERS[service]), service


async def test_an_unmapped_operation_needs_its_action_on_everything() -> None:
    assert await checks("ExecuteStatement", {}) == [Check("ExecuteStatement", "*")]


async def test_backup_operations_name_their_backups_and_tables() -> None:
    table = "arn:aws:dynamodb:us-east-1:000000000000:table/"
    backup = table + "src/backup/01700000000000-0123abcd"
    assert await checks("DescribeBackup", {"BackupArn": backup}) == [
        Check("DescribeBackup", backup)
    ]
    assert await checks("CreateBackup", {"TableName": "src", "BackupName": "b"}) == [
        Check("CreateBackup", table + "src")
    ]
    assert await checks("ListBackups", {}) == [Check("ListBackups", "*")]
    assert await checks(
        "RestoreTableFromBackup", {"BackupArn": backup, "TargetTableName": "new"}
    ) == [
        Check("RestoreTableFromBackup", backup),
        Check("RestoreTableFromBackup", table + "new"),
    ]
    assert await checks(
        "RestoreTableToPointInTime", {"SourceTableName": "src", "TargetTableName": "new"}
    ) == [
        Check("RestoreTableToPointInTime", table + "src"),
        Check("RestoreTableToPointInTime", table + "new"),
    ]


async def test_get_item_context() -> None:
    (c,) = await checks(
        "GetItem",
        {"TableName": ARN + "T", "Key": {"pk": {"S": "u1"}, "sk": {"N": "1"}},
         "ProjectionExpression": "#a, b.c[0]", "ExpressionAttributeNames": {"#a": "name"},
         "ReturnConsumedCapacity": "TOTAL"},
    )  # fmt: skip
    assert c.action == "GetItem" and c.resource == ARN + "T"
    assert c.context == {
        "dynamodb:LeadingKeys": ["u1"],
        "dynamodb:Attributes": ["b", "name", "pk", "sk"],
        "dynamodb:Select": ["SPECIFIC_ATTRIBUTES"],
        "dynamodb:ReturnConsumedCapacity": ["TOTAL"],
    }
    (whole,) = await checks(
        "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u1"}, "sk": {"N": "1"}}}
    )
    assert whole.context["dynamodb:Select"] == ["ALL_ATTRIBUTES"]


async def test_numbers_are_canonical_leading_keys() -> None:
    (c,) = await checks(
        "PutItem", {"TableName": "N", "Item": {"num": {"N": "1E+3"}, "x": {"S": "y"}}}
    )
    assert c.context["dynamodb:LeadingKeys"] == ["1000"]
    assert c.context["dynamodb:Attributes"] == ["num", "x"]


async def test_update_item_names_every_attribute_it_touches() -> None:
    (c,) = await checks(
        "UpdateItem",
        {"TableName": "T", "Key": {"pk": {"S": "u"}, "sk": {"N": "1"}},
         "UpdateExpression": "SET a = if_not_exists(b, :v), #c = list_append(d, :l) REMOVE e ADD f :v",
         "ConditionExpression": "attribute_exists(g) AND size(#h) > :v",
         "ExpressionAttributeNames": {"#c": "cc", "#h": "hh"},
         "ExpressionAttributeValues": {":v": {"N": "1"}, ":l": {"L": []}},
         "ReturnValues": "ALL_NEW"},
    )  # fmt: skip
    assert c.context["dynamodb:Attributes"] == [
        "a",
        "b",
        "cc",
        "d",
        "e",
        "f",
        "g",
        "hh",
        "pk",
        "sk",
    ]
    assert c.context["dynamodb:ReturnValues"] == ["ALL_NEW"]


async def test_legacy_parameters_name_attributes_too() -> None:
    (c,) = await checks(
        "UpdateItem",
        {"TableName": "T", "Key": {"pk": {"S": "u"}, "sk": {"N": "1"}},
         "AttributeUpdates": {"x": {"Action": "DELETE"}}, "Expected": {"y": {"Exists": False}}},
    )  # fmt: skip
    assert c.context["dynamodb:Attributes"] == ["pk", "sk", "x", "y"]


async def test_query_on_an_index_uses_the_index_arn_and_its_partition_value() -> None:
    (c,) = await checks(
        "Query",
        {"TableName": "T", "IndexName": "by-g", "KeyConditionExpression": "g = :g",
         "ExpressionAttributeValues": {":g": {"N": "007"}}},
    )  # fmt: skip
    assert c.resource == ARN + "T/index/by-g"
    assert c.context["dynamodb:LeadingKeys"] == ["7"]
    assert c.context["dynamodb:Select"] == ["ALL_PROJECTED_ATTRIBUTES"]
    assert c.context["dynamodb:Attributes"] == ["g"]


async def test_scan_has_no_leading_keys_and_a_broken_expression_adds_nothing() -> None:
    (c,) = await checks("Scan", {"TableName": "T", "Select": "COUNT", "FilterExpression": "a = "})
    assert c.context == {"dynamodb:Select": ["COUNT"]}


async def test_a_missing_table_is_still_authorized_by_name() -> None:
    (c,) = await checks("GetItem", {"TableName": "Missing", "Key": {"k": {"S": "v"}}})
    assert c.resource == ARN + "Missing"
    assert "dynamodb:LeadingKeys" not in c.context


async def test_batches_need_the_batch_action_per_item() -> None:
    got = await checks(
        "BatchWriteItem",
        {"RequestItems": {
            "T": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x"}}}},
                  {"DeleteRequest": {"Key": {"pk": {"S": "b"}, "sk": {"N": "1"}}}}],
            "N": "not a list",
        }},
    )  # fmt: skip
    assert [(c.action, c.resource, c.context.get("dynamodb:LeadingKeys")) for c in got] == [
        ("BatchWriteItem", ARN + "T", ["a"]),
        ("BatchWriteItem", ARN + "T", ["b"]),
        ("BatchWriteItem", ARN + "N", None),  # a malformed entry still needs the table
    ]
    gets = await checks(
        "BatchGetItem",
        {
            "RequestItems": {
                "T": {"Keys": [{"pk": {"S": "a"}, "sk": {"N": "1"}}], "ProjectionExpression": "v"}
            }
        },
    )
    assert gets[0].context == {
        "dynamodb:LeadingKeys": ["a"],
        "dynamodb:Attributes": ["pk", "sk", "v"],
        "dynamodb:Select": ["SPECIFIC_ATTRIBUTES"],
    }
    assert await checks("BatchGetItem", {}) == [Check("BatchGetItem", "*")]


async def test_transaction_parts_are_their_item_actions() -> None:
    k = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    got = await checks(
        "TransactWriteItems",
        {"TransactItems": [
            {"Put": {"TableName": "T", "Item": k}},
            {"Update": {"TableName": "T", "Key": k, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "x"}}}},
            {"Delete": {"TableName": "N", "Key": {"num": {"N": "2"}}}},
            {"ConditionCheck": {"TableName": "T", "Key": k, "ConditionExpression": "attribute_exists(w)"}},
        ]},
    )  # fmt: skip
    assert [c.action for c in got] == ["PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"]
    assert all(c.context["dynamodb:EnclosingOperation"] == ["TransactWriteItems"] for c in got)
    (get,) = await checks(
        "TransactGetItems", {"TransactItems": [{"Get": {"TableName": "T", "Key": k}}]}
    )
    assert get.action == "GetItem"
    assert get.context["dynamodb:EnclosingOperation"] == ["TransactGetItems"]


async def test_control_plane_and_global_resources() -> None:
    assert await checks("ListTables", {}) == [Check("ListTables", "*")]
    assert await checks("DescribeLimits", {}) == [Check("DescribeLimits", "*")]
    assert await checks("CreateTable", {"TableName": "X"}) == [Check("CreateTable", ARN + "X")]
    assert await checks(
        "UpdateTable", {"TableName": "T", "ReplicaUpdates": [{"Create": {"RegionName": "r"}}]}
    ) == [
        Check("UpdateTable", ARN + "T"),
        Check("CreateTableReplica", ARN + "T"),
    ]
    assert await checks("DescribeGlobalTable", {"GlobalTableName": "G"}) == [
        Check("DescribeGlobalTable", f"arn:aws:dynamodb::{ACCT}:global-table/G")
    ]
    assert await checks("TagResource", {"ResourceArn": ARN + "T"}) == [
        Check("TagResource", ARN + "T")
    ]


async def test_streams_resources() -> None:
    stream = "arn:aws:dynamodb:somewhere:1:table/T/stream/2024-01-01T00:00:00.000"
    mine = ARN + "T/stream/2024-01-01T00:00:00.000"
    assert await checks("DescribeStream", {"StreamArn": stream}, "streams") == [
        Check("DescribeStream", mine)
    ]
    token = encode_iterator(Iterator(stream, "shardId-1", 0, 0))
    assert await checks("GetRecords", {"ShardIterator": token}, "streams") == [
        Check("GetRecords", mine)
    ]
    assert await checks("ListStreams", {"TableName": "T"}, "streams") == [Check("ListStreams", "*")]


def _allow(action: str, resource: str = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    }


def test_enforce_reports_the_first_denied_check() -> None:
    bob = principals.Principal("bob", "AK", (_allow("dynamodb:GetItem"),))
    authz.enforce(bob, [Check("GetItem", ARN + "T")])
    with pytest.raises(AccessDenied) as info:
        authz.enforce(
            bob, [Check("GetItem", ARN + "T"), Check("PutItem", ARN + "T"), Check("Scan", "*")]
        )
    assert info.value.message == (
        f"User: arn:aws:iam::{ACCT}:user/bob is not authorized to perform: dynamodb:PutItem on "
        f"resource: {ARN}T because no identity-based policy allows the dynamodb:PutItem action"
    )


def test_admins_and_anonymous_requests_are_not_checked_and_bad_stored_policies_grant_nothing() -> (
    None
):
    authz.enforce(principals.Principal("admin", "AK", None), [Check("Anything", "*")])
    broken = principals.Principal("eve", "AK", ({"Statement": "nonsense"}, _allow("dynamodb:Scan")))
    authz.enforce(broken, [Check("Scan", "*")])
    with pytest.raises(AccessDenied):
        authz.enforce(broken, [Check("GetItem", "*")])


# --------------------------------------------------------------------------- decoded requests


async def test_a_decoded_request_is_authorized_without_parsing_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The condition keys come from the request object's trees: once decoded, no
    expression is parsed again (issue #16)."""
    from regions.expressions import parser

    body = _by_arn(
        {"TableName": "T", "Key": {"pk": {"S": "u"}, "sk": {"N": "1"}},
         "UpdateExpression": "SET #a = :v", "ConditionExpression": "attribute_exists(c)",
         "ExpressionAttributeNames": {"#a": "secret"}, "ExpressionAttributeValues": {":v": {"S": "x"}}}
    )  # fmt: skip
    query = _by_arn(
        {"TableName": "T", "KeyConditionExpression": "pk = :p AND sk > :s",
         "FilterExpression": "f = :p", "ProjectionExpression": "g",
         "ExpressionAttributeValues": {":p": {"S": "u"}, ":s": {"N": "0"}}}
    )  # fmt: skip
    update = DECODED_OPERATIONS["dynamodb"]["UpdateItem"].decode(body)
    read = DECODED_OPERATIONS["dynamodb"]["Query"].decode(query)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("an expression was parsed again")

    monkeypatch.setattr(parser.Parser, "__init__", no_parsing)
    region: Any = FakeRegion()
    (u,) = await authz.request_checks(region, "dynamodb", "UpdateItem", update)
    assert u.context == {
        "dynamodb:LeadingKeys": ["u"],
        "dynamodb:Attributes": ["c", "pk", "secret", "sk"],
    }
    (q,) = await authz.request_checks(region, "dynamodb", "Query", read)
    assert q.context == {
        "dynamodb:LeadingKeys": ["u"],
        "dynamodb:Attributes": ["f", "g", "pk", "sk"],
        "dynamodb:Select": ["SPECIFIC_ATTRIBUTES"],
    }


async def test_legacy_key_conditions_give_the_leading_key() -> None:
    (c,) = await checks(
        "Query",
        {"TableName": "T", "KeyConditions": {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "me"}]}},
         "QueryFilter": {"q": {"ComparisonOperator": "NOT_NULL"}}},
    )  # fmt: skip
    assert c.context == {
        "dynamodb:LeadingKeys": ["me"],
        "dynamodb:Attributes": ["pk", "q"],
        "dynamodb:Select": ["ALL_ATTRIBUTES"],
    }


class _Observed:
    def observe(self, op: str, status: int, seconds: float, error: str | None = None) -> None:
        pass


async def _serve_as(
    principal: principals.Principal | None, op: str, body: dict[str, Any], region: Any
) -> tuple[int, dict[str, Any]]:
    import orjson

    from api.dynamodb.router import serve

    token = principals.current.set(principal)
    try:
        response = await serve(
            region,
            _Observed(),
            {"x-amz-target": f"DynamoDB_20120810.{op}"},
            orjson.dumps(body),
            0.0,
            "h",
        )
    finally:
        principals.current.reset(token)
    out: dict[str, Any] = orjson.loads(response.body)
    return response.status_code, out


def _error(answer: tuple[int, dict[str, Any]]) -> str:
    return str(answer[1]["__type"]).rsplit("#", 1)[1]


async def test_precedence_of_a_malformed_request() -> None:
    """The documented order (api/authorization.py, "Precedence")."""
    region: Any = FakeRegion()
    reader = principals.Principal("bob", "AK", (_allow("dynamodb:GetItem"),))
    key = {"pk": {"S": "u"}, "sk": {"N": "1"}}
    # malformed, and denied by what the body shows unparsed: AccessDeniedException
    assert _error(await _serve_as(reader, "PutItem", {"TableName": ARN + "T"}, region)) == (
        "AccessDeniedException"
    )
    # malformed, allowed on what the body shows unparsed: its ValidationException
    broken = {"TableName": ARN + "T", "Key": key, "ProjectionExpression": "a,"}
    assert _error(await _serve_as(reader, "GetItem", broken, region)) == "ValidationException"
    # a denial that needs the broken request's expressions is not worked out: the
    # ValidationException (nothing runs either way)
    no_secret = principals.Principal(
        "eve",
        "AK",
        (
            _allow("dynamodb:*"),
            {"Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Action": "dynamodb:UpdateItem", "Resource": "*",
                "Condition": {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["secret"]}}}]},
        ),
    )  # fmt: skip
    update = {"TableName": ARN + "T", "Key": key, "UpdateExpression": "SET secret = :v",
              "ConditionExpression": "a = ", "ExpressionAttributeValues": {":v": {"S": "x"}}}  # fmt: skip
    assert _error(await _serve_as(no_secret, "UpdateItem", update, region)) == (
        "ValidationException"
    )
    del update["ConditionExpression"]
    assert _error(await _serve_as(no_secret, "UpdateItem", update, region)) == (
        "AccessDeniedException"
    )
    # the admin and anonymous callers are not authorized at all: no region is needed
    # to answer them a malformed request's ValidationException
    admin = principals.Principal("admin", "AK", None)
    for caller in (admin, None):
        assert _error(await _serve_as(caller, "PutItem", {"TableName": "T"}, None)) == (
            "ValidationException"
        )
