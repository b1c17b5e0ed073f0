"""Helpers shared by the API fidelity tests (plain functions; fixtures live in conftest)."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from regions.sigv4 import Credentials
from replicator.signing import KeySigner, SigV4
from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET

REGION = "us-east-1"
TARGET_PREFIX = "DynamoDB_20120810."
JSON_10 = "application/x-amz-json-1.0"

VALIDATE_NS = "com.amazon.coral.validate#"
SERVICE_NS = "com.amazon.coral.service#"
DYNAMODB_NS = "com.amazonaws.dynamodb.v20120810#"


def unique(prefix: str = "gt") -> str:
    """A table name no other test of the session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def key_schema(hash_: tuple[str, str], range_: tuple[str, str] | None = None) -> dict[str, Any]:
    """KeySchema + AttributeDefinitions for CreateTable, from (name, type) pairs."""
    ks = [{"AttributeName": hash_[0], "KeyType": "HASH"}]
    defs = [{"AttributeName": hash_[0], "AttributeType": hash_[1]}]
    if range_ is not None:
        ks.append({"AttributeName": range_[0], "KeyType": "RANGE"})
        defs.append({"AttributeName": range_[0], "AttributeType": range_[1]})
    return {"KeySchema": ks, "AttributeDefinitions": defs}


def create_table(
    ddb: Any,
    name: str,
    hash_: tuple[str, str] = ("p", "S"),
    range_: tuple[str, str] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    kw.setdefault("BillingMode", "PAY_PER_REQUEST")
    out: dict[str, Any] = ddb.create_table(TableName=name, **key_schema(hash_, range_), **kw)
    return out


def expect_error(call: Callable[[], object], code: str, message: str | None = None) -> ClientError:
    """Run a boto3 call that must fail with ``code`` (and exactly ``message`` if given),
    as a deterministic 400 that botocore does not retry."""
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response["Error"]
    assert err["Code"] == code, err
    if message is not None:
        assert err["Message"] == message, err
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value


def post(
    url: str,
    operation: str | None,
    body: object = None,
    *,
    raw: bytes | None = None,
    target: str | None = None,
) -> httpx.Response:
    """One raw DynamoDB JSON 1.0 request: ``body`` is JSON-encoded unless ``raw`` is given."""
    headers = {"Content-Type": JSON_10}
    if target is not None:
        headers["X-Amz-Target"] = target
    elif operation is not None:
        headers["X-Amz-Target"] = TARGET_PREFIX + operation
    content = raw if raw is not None else json.dumps(body).encode()
    return http().post(url + "/", content=content, headers=headers)


_CLIENT: list[httpx.Client] = []


def signed() -> SigV4:
    """SigV4 with the test regions' admin key, as boto3 signs (every route is
    authenticated); the region name comes from the endpoint's /healthz."""
    return SigV4(KeySigner(Credentials(ADMIN_KEY_ID, ADMIN_SECRET)))


def http() -> httpx.Client:
    """One pooled, signed client for the session: a fresh ``httpx.post`` costs ~40 ms
    of setup.  It asks for plain bodies (``Accept-Encoding: identity``, as botocore
    does), so ``content`` is the bytes sent and their ``x-amz-crc32`` can be checked;
    a request that wants compression sets the header itself."""
    if not _CLIENT:
        _CLIENT.append(
            httpx.Client(timeout=60, auth=signed(), headers={"Accept-Encoding": "identity"})
        )
    return _CLIENT[0]


def error_of(response: httpx.Response) -> tuple[str, str | None]:
    """(``__type``, message) of a DynamoDB error response, checking its envelope."""
    assert response.status_code != 500, response.text
    assert response.headers["content-type"] == JSON_10
    assert response.headers["x-amz-crc32"] == str(zlib.crc32(response.content))
    body = response.json()
    assert isinstance(body, dict) and "__type" in body, body
    message = body.get("message", body.get("Message"))
    return body["__type"], message
