"""HTTP compression of the DynamoDB protocol: compressed responses (``Accept-Encoding``)
and deflate request bodies (gzip ones: test_endpoints.py).

What DynamoDB does, as ScyllaDB Alternator's suite observed it against the real
service: a response of at least 4 KiB is compressed with gzip or deflate when the
request accepts it, smaller ones never; the ``x-amz-crc32`` of a compressed answer is
of the compressed bytes; ``Content-Encoding: deflate`` request bodies (one zlib
stream) are accepted like gzip ones.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import (
    JSON_10,
    REGION,
    SERVICE_NS,
    TARGET_PREFIX,
    error_of,
    http,
    signed,
)

pytestmark = pytest.mark.integration

BIG = "x" * 10000  # an item that makes a GetItem answer well over 4 KiB


@pytest.fixture
def ctable(make_table: Any) -> str:
    name: str = make_table()
    return name


@pytest.fixture
def big_item(ddb: Any, ctable: str) -> dict[str, Any]:
    item = {"p": {"S": "big"}, "v": {"S": BIG}, "n": {"N": "12.5"}}
    ddb.put_item(TableName=ctable, Item=item)
    return item


def _headers(operation: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"Content-Type": JSON_10, "X-Amz-Target": TARGET_PREFIX + operation}
    headers.update(extra or {})
    return headers


_PLAIN = httpx.Client(timeout=60, headers={"Accept-Encoding": "identity"})


def _raw(
    proc: RegionProcess, operation: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, bytes]:
    """A signed request; the answer and its body exactly as sent (not decompressed).

    Signed here, not by the shared client's auth flow, which reads the answer."""
    request = _PLAIN.build_request(
        "POST", proc.url + "/", content=body, headers=_headers(operation, headers)
    )
    signer = signed().signer
    assert signer is not None
    signer(request, proc.name)
    response = _PLAIN.send(request, stream=True)
    try:
        raw = b"".join(response.iter_raw())
    finally:
        response.close()
    return response, raw


def _post(url: str, operation: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return http().post(url + "/", content=body, headers=_headers(operation, headers))


def _get_body(table: str, p: str) -> bytes:
    return json.dumps({"TableName": table, "Key": {"p": {"S": p}}}).encode()


def _put_body(table: str, p: str, **extra: str) -> bytes:
    item = {"p": {"S": p}, **{k: {"S": v} for k, v in extra.items()}}
    return json.dumps({"TableName": table, "Item": item}).encode()


def _decompress(raw: bytes, coding: str) -> bytes:
    return gzip.decompress(raw) if coding == "gzip" else zlib.decompress(raw)


def _get(ddb: Any, table: str, p: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=table, Key={"p": {"S": p}}).get("Item")
    return item


# ------------------------------------------------------------------ compressed responses


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_large_response_is_compressed(
    region_proc: RegionProcess, ctable: str, big_item: dict[str, Any], coding: str
) -> None:
    plain, plain_raw = _raw(region_proc, "GetItem", _get_body(ctable, "big"))
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    r, raw = _raw(region_proc, "GetItem", _get_body(ctable, "big"), {"Accept-Encoding": coding})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == coding
    assert r.headers["content-type"] == JSON_10
    assert int(r.headers["content-length"]) == len(raw)
    # the CRC32 is of the bytes sent, compressed (what the SDKs check)
    assert r.headers["x-amz-crc32"] == str(zlib.crc32(raw))
    assert len(raw) * 10 < len(plain_raw)
    decoded = _decompress(raw, coding)
    assert json.loads(decoded) == json.loads(plain_raw) == {"Item": big_item}


def test_httpx_decodes_a_compressed_answer(
    region_proc: RegionProcess, ctable: str, big_item: dict[str, Any]
) -> None:
    r = _post(region_proc.url, "GetItem", _get_body(ctable, "big"), {"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.json() == {"Item": big_item}


@pytest.mark.parametrize("coding", ["gzip", "deflate", "gzip, deflate", "*"])
def test_small_response_stays_plain(
    region_proc: RegionProcess, ddb: Any, ctable: str, coding: str
) -> None:
    ddb.put_item(TableName=ctable, Item={"p": {"S": "small"}, "v": {"S": "y" * 100}})
    r, raw = _raw(region_proc, "GetItem", _get_body(ctable, "small"), {"Accept-Encoding": coding})
    assert r.status_code == 200
    assert "content-encoding" not in r.headers
    assert json.loads(raw) == {"Item": {"p": {"S": "small"}, "v": {"S": "y" * 100}}}
    assert r.headers["x-amz-crc32"] == str(zlib.crc32(raw))


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("identity", None),
        ("br, zstd", None),
        ("x-gzip", None),
        ("gzip;q=0", None),
        ("*;q=0", None),
        ("GZIP, identity", "gzip"),
        ("br, identity, deflate, gzip", "deflate"),
        ("gzip;q=0.5, deflate", "deflate"),
        ("*", "gzip"),
        ("*, gzip;q=0.5", "deflate"),
    ],
)
def test_accept_encoding_is_read_as_dynamodb_reads_it(
    region_proc: RegionProcess,
    ctable: str,
    big_item: dict[str, Any],
    accept: str,
    expected: str | None,
) -> None:
    r, raw = _raw(region_proc, "GetItem", _get_body(ctable, "big"), {"Accept-Encoding": accept})
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == expected
    body = raw if expected is None else _decompress(raw, expected)
    assert json.loads(body) == {"Item": big_item}


def test_large_error_stays_plain(
    region_proc: RegionProcess, ctable: str, big_item: dict[str, Any]
) -> None:
    # ConditionalCheckFailed carrying the old item: an error answer over 4 KiB
    body = json.dumps(
        {
            "TableName": ctable,
            "Item": {"p": {"S": "big"}},
            "ConditionExpression": "attribute_not_exists(p)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    ).encode()
    r, raw = _raw(region_proc, "PutItem", body, {"Accept-Encoding": "gzip, deflate"})
    assert r.status_code == 400
    assert len(raw) > 4096
    assert "content-encoding" not in r.headers
    assert r.headers["x-amz-crc32"] == str(zlib.crc32(raw))
    answer = json.loads(raw)
    assert answer["__type"].endswith("ConditionalCheckFailedException")
    assert answer["Item"] == big_item


def test_compressed_request_and_response(region_proc: RegionProcess, ddb: Any, ctable: str) -> None:
    put = gzip.compress(_put_body(ctable, "both", v=BIG))
    r = _post(region_proc.url, "PutItem", put, {"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    get = zlib.compress(_get_body(ctable, "both"))
    r, raw = _raw(
        region_proc,
        "GetItem",
        get,
        {"Content-Encoding": "deflate", "Accept-Encoding": "deflate"},
    )
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "deflate"
    assert json.loads(zlib.decompress(raw)) == {"Item": {"p": {"S": "both"}, "v": {"S": BIG}}}


@pytest.fixture
def boto3_client(region_proc: RegionProcess) -> Iterator[Any]:
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=region_proc.url,
        region_name=REGION,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )
    yield client
    client.close()


def test_boto3_gets_plain_bodies(boto3_client: Any, ctable: str, big_item: dict[str, Any]) -> None:
    """botocore sends ``Accept-Encoding: identity`` and cannot decode a compressed body."""
    out = boto3_client.get_item(TableName=ctable, Key={"p": {"S": "big"}})
    assert out["Item"] == big_item
    assert "content-encoding" not in out["ResponseMetadata"]["HTTPHeaders"]


def test_boto3_with_compressed_responses(
    boto3_client: Any, ctable: str, big_item: dict[str, Any]
) -> None:
    """An SDK that asks for gzip and decompresses itself, as ScyllaDB's suite makes
    boto3 do: botocore's CRC32 check (on the bytes received) passes first."""
    seen: list[str | None] = []

    def accept_gzip(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["Accept-Encoding"] = "gzip"

    def decompress(response_dict: dict[str, Any], **_: Any) -> None:
        coding = response_dict["headers"].get("content-encoding")
        seen.append(coding)
        if coding == "gzip":
            response_dict["body"] = gzip.decompress(response_dict["body"])

    boto3_client.meta.events.register("before-call.dynamodb.*", accept_gzip)
    boto3_client.meta.events.register("before-parse.dynamodb.*", decompress)
    out = boto3_client.get_item(TableName=ctable, Key={"p": {"S": "big"}})
    assert out["Item"] == big_item
    small = boto3_client.get_item(TableName=ctable, Key={"p": {"S": "none"}})
    assert "Item" not in small
    assert seen == ["gzip", None]


# ------------------------------------------------------------------ deflate request bodies


def test_deflate_body_is_accepted(region_proc: RegionProcess, ddb: Any, ctable: str) -> None:
    body = zlib.compress(_put_body(ctable, "one", v="deflated"))
    r = _post(region_proc.url, "PutItem", body, {"Content-Encoding": "deflate"})
    assert r.status_code == 200, r.text
    assert _get(ddb, ctable, "one") == {"p": {"S": "one"}, "v": {"S": "deflated"}}


@pytest.mark.parametrize(
    ("coding", "mangle"),
    [
        ("deflate", lambda plain: plain),
        ("deflate", lambda plain: b""),
        ("deflate", lambda plain: zlib.compress(plain)[:-1]),
        ("deflate", lambda plain: zlib.compress(plain) + b"junk"),
        # DynamoDB refuses a second zlib stream (unlike a second gzip member)
        ("deflate", lambda plain: zlib.compress(plain[:10]) + zlib.compress(plain[10:])),
        # mismatched: the body is in the other coding
        ("deflate", lambda plain: gzip.compress(plain)),
        ("gzip", lambda plain: zlib.compress(plain)),
    ],
)
def test_corrupt_or_mismatched_body_is_a_client_error(
    region_proc: RegionProcess, ddb: Any, ctable: str, coding: str, mangle: Any
) -> None:
    body = mangle(_put_body(ctable, "bad"))
    r = _post(region_proc.url, "PutItem", body, {"Content-Encoding": coding})
    assert r.status_code == 400, (r.status_code, r.text)
    kind, message = error_of(r)
    assert kind == SERVICE_NS + "SerializationException"
    assert message == f"The request body is not valid {coding} data"
    assert _get(ddb, ctable, "bad") is None


def test_deflate_bomb_is_too_large(region_proc: RegionProcess, ddb: Any, ctable: str) -> None:
    plain = _put_body(ctable, "bomb")
    padded = plain[:-1] + b" " * (64 * 1024 * 1024) + plain[-1:]
    body = zlib.compress(padded, 9)
    assert len(body) < 100 * 1024  # tiny on the wire, 64 MB inflated
    r = _post(region_proc.url, "PutItem", body, {"Content-Encoding": "deflate"})
    assert r.status_code == 413
    kind, _ = error_of(r)
    assert kind == SERVICE_NS + "RequestEntityTooLarge"
    assert _get(ddb, ctable, "bomb") is None


# ------------------------------------------------------------------ the other routes


def test_rest_routes_gzip_large_answers(region_proc: RegionProcess) -> None:
    plain = http().get(region_proc.url + "/openapi.json")
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 4096
    r = http().get(region_proc.url + "/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.json() == plain.json()
