"""Users and access keys replicate through the ordinary path (change log, Kafka,
LWW apply): a key created in one region works in every region, and a revocation
anywhere reaches every region."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import http
from tests.integration.replication.helpers import NAMES, eventually, new_key

pytestmark = pytest.mark.integration


def _client(proc: RegionProcess, key: dict[str, str]) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=proc.url,
        region_name=proc.name,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def _outcome(proc: RegionProcess, key: dict[str, str]) -> str:
    """ "ok", or the error code of a ListTables signed with ``key``."""
    try:
        _client(proc, key).list_tables()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def test_key_created_in_one_region_works_in_all(regions: dict[str, RegionProcess]) -> None:
    east = regions["us-east-1"]
    key = new_key(east, f"repl-{uuid.uuid4().hex[:8]}")
    assert _outcome(east, key) == "ok"
    for name in NAMES[1:]:
        eventually(
            lambda p=regions[name]: _outcome(p, key) == "ok",
            what=f"the key to work in {name}",
        )

    # revoked in us-east-1: refused everywhere once the tombstone has replicated
    assert http().delete(f"{east.url}/v1/admin/keys/{key['AccessKeyId']}").status_code == 200
    assert _outcome(east, key) == "UnrecognizedClientException"
    for name in NAMES[1:]:
        eventually(
            lambda p=regions[name]: _outcome(p, key) == "UnrecognizedClientException",
            what=f"the revocation to reach {name}",
        )


def test_revocation_in_another_region(regions: dict[str, RegionProcess]) -> None:
    west, south = regions["eu-west-1"], regions["ap-southeast-2"]
    user = f"repl-{uuid.uuid4().hex[:8]}"
    key = new_key(west, user)
    eventually(lambda: _outcome(south, key) == "ok", what="the key to reach ap-southeast-2")
    # the user (and with it every key) deleted where the key was not created
    assert http().delete(f"{south.url}/v1/admin/users/{user}").status_code == 200
    for proc in regions.values():
        eventually(
            lambda p=proc: _outcome(p, key) == "UnrecognizedClientException",
            what=f"the deletion to reach {proc.name}",
        )
    # the user's row is a change record of its own, not always in the poll that carried
    # the key's: refused keys do not yet mean the user is gone everywhere
    def unlisted() -> bool:
        listed = http().get(f"{regions['us-east-1'].url}/v1/admin/users").json()["Users"]
        return user not in {u["UserName"] for u in listed}

    eventually(unlisted, what="the user's deletion to reach us-east-1")
