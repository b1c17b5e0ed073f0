"""TagResource, UntagResource and ListTagsOfResource through boto3."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


@pytest.fixture
def table_arn(ddb: Any) -> str:
    name = f"tags-{uuid.uuid4().hex[:8]}"
    desc = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "team", "Value": "core"}],
    )
    return str(desc["TableDescription"]["TableArn"])


def test_tag_list_untag(ddb: Any, table_arn: str) -> None:
    assert ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"] == [{"Key": "team", "Value": "core"}]
    out = ddb.tag_resource(ResourceArn=table_arn, Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "data"}])
    assert set(out) == {"ResponseMetadata"}  # an empty body
    assert ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"] == [
        {"Key": "env", "Value": "test"},
        {"Key": "team", "Value": "data"},
    ]
    ddb.untag_resource(ResourceArn=table_arn, TagKeys=["team", "absent"])
    assert ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"] == [{"Key": "env", "Value": "test"}]


def test_tag_errors(ddb: Any, table_arn: str) -> None:
    with pytest.raises(ClientError) as info:
        ddb.tag_resource(ResourceArn=table_arn, Tags=[{"Key": "aws:reserved", "Value": "x"}])
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as info:
        ddb.tag_resource(ResourceArn=table_arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert info.value.response["Error"]["Code"] == "ValidationException"
    missing = table_arn.rsplit("/", 1)[0] + "/no-such-table"
    with pytest.raises(ClientError) as info:
        ddb.list_tags_of_resource(ResourceArn=missing)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        ddb.list_tags_of_resource(ResourceArn="not-an-arn")
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["Error"]["Message"] == (
        "One or more parameter values were invalid: ARNs must start with 'arn:': not-an-arn"
    )
    # nothing changed by the failed calls
    assert ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"] == [{"Key": "team", "Value": "core"}]


def test_concurrent_tag_changes_do_not_undo_each_other(ddb: Any, table_arn: str) -> None:
    """Two clients tag and untag different keys of one table at once: each sees its
    own tag right after setting it (each change is made on the tags stored then,
    not on those read before it)."""
    lost: list[str] = []

    def churn(key: str) -> None:
        for i in range(40):
            ddb.tag_resource(ResourceArn=table_arn, Tags=[{"Key": key, "Value": str(i)}])
            tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"]}
            if tags.get(key) != str(i):
                lost.append(f"{key}={i}")
            ddb.untag_resource(ResourceArn=table_arn, TagKeys=[key])

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(churn, ["a", "b", "c"]))
    assert lost == []
    assert ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"] == [{"Key": "team", "Value": "core"}]


@pytest.mark.parametrize(("key", "value"), [("ok", "#!%^$&"), ("->>;-)])", "ok"), ("!!!\\|", "<><")])
def test_tag_characters_outside_the_allowed_set_are_refused(
    ddb: Any, table_arn: str, key: str, value: str
) -> None:
    with pytest.raises(ClientError) as info:
        ddb.tag_resource(ResourceArn=table_arn, Tags=[{"Key": key, "Value": value}])
    err = info.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*" in err["Message"]
    assert ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"] == [{"Key": "team", "Value": "core"}]


def test_unicode_letters_spaces_and_the_allowed_punctuation_are_accepted(ddb: Any, table_arn: str) -> None:
    tags = [{"Key": "законные буквы", "Value": "ѮѮ Ѯ"}, {"Key": "a_b.c:d/e=f+g-h@i", "Value": " "}]
    ddb.tag_resource(ResourceArn=table_arn, Tags=tags)
    got = ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"]
    assert all(t in got for t in tags)


def test_an_empty_tag_list_is_refused(ddb: Any, table_arn: str) -> None:
    with pytest.raises(ClientError) as info:
        ddb.tag_resource(ResourceArn=table_arn, Tags=[])
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_create_table_with_a_bad_tag_creates_nothing(ddb: Any) -> None:
    name = f"tags-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as info:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": "bad#key", "Value": "v"}],
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError):
        ddb.describe_table(TableName=name)
