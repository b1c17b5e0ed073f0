"""The HTTP edge of a region: DescribeEndpoints, the GET / health check, CORS and
gzip-compressed request bodies."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import (
    JSON_10,
    REGION,
    SERVICE_NS,
    TARGET_PREFIX,
    error_of,
    http,
)

pytestmark = pytest.mark.integration

CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-max-age",
    "access-control-allow-methods",
    "access-control-allow-headers",
)
ORIGIN = {"Origin": "http://example.com"}


def _post(
    url: str, operation: str, content: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A raw request, SigV4-signed with the admin key as boto3 would sign it."""
    all_headers = {"Content-Type": JSON_10, "X-Amz-Target": TARGET_PREFIX + operation}
    all_headers.update(headers or {})
    return http().post(url + "/", content=content, headers=all_headers)


def _put_body(table: str, p: str, **extra: str) -> bytes:
    item = {"p": {"S": p}, **{k: {"S": v} for k, v in extra.items()}}
    return json.dumps({"TableName": table, "Item": item}).encode()


def _crc_ok(response: httpx.Response) -> bool:
    return response.headers["x-amz-crc32"] == str(zlib.crc32(response.content))


# ------------------------------------------------------------------ DescribeEndpoints


def test_describe_endpoints_names_this_region(region_proc: RegionProcess, ddb: Any) -> None:
    out = ddb.describe_endpoints()
    assert out["Endpoints"] == [
        {"Address": f"127.0.0.1:{region_proc.port}", "CachePeriodInMinutes": 1440}
    ]


def test_describe_endpoints_follows_the_host_used(region_proc: RegionProcess) -> None:
    r = _post(
        region_proc.url, "DescribeEndpoints", b"{}", {"Host": f"localhost:{region_proc.port}"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "Endpoints": [{"Address": f"localhost:{region_proc.port}", "CachePeriodInMinutes": 1440}]
    }
    assert _crc_ok(r)


def test_describe_endpoints_address_works(region_proc: RegionProcess, ddb: Any) -> None:
    # the advertised address is usable as an endpoint in its own right
    address = ddb.describe_endpoints()["Endpoints"][0]["Address"]
    other = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{address}",
        region_name=REGION,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )
    assert "TableNames" in other.list_tables()


# ------------------------------------------------------------------ health check


def test_get_root_is_the_health_check(region_proc: RegionProcess) -> None:
    r = httpx.get(region_proc.url + "/", timeout=10)
    assert r.status_code == 200
    # exactly DynamoDB's body, trailing space included
    assert r.content == f"healthy: dynamodb.{REGION}.amazonaws.com ".encode()
    assert _crc_ok(r)
    assert r.headers["x-amzn-requestid"]
    assert not any(h in r.headers for h in CORS_HEADERS)


def test_health_check_is_root_only(region_proc: RegionProcess) -> None:
    for path in ("/abc", "/health", "/index.htm"):
        # signed: an unsigned request is refused before routing (MissingAuthenticationToken)
        assert http().get(region_proc.url + path).status_code == 404


# ------------------------------------------------------------------ CORS


def test_preflight_echoes_the_request(region_proc: RegionProcess) -> None:
    r = httpx.request(
        "OPTIONS",
        region_proc.url + "/",
        headers={
            **ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-amz-target, authorization",
        },
        timeout=10,
    )
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "POST"
    assert r.headers["access-control-allow-headers"] == "content-type, x-amz-target, authorization"
    assert r.headers["access-control-max-age"] == "172800"
    assert r.headers["access-control-expose-headers"] == (
        "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"
    )


def test_options_without_origin_is_not_a_preflight(region_proc: RegionProcess) -> None:
    r = httpx.request("OPTIONS", region_proc.url + "/", timeout=10)
    assert r.status_code == 404
    assert not any(h in r.headers for h in CORS_HEADERS)


def test_origin_gets_allow_origin_on_every_answer(region_proc: RegionProcess) -> None:
    ok = _post(region_proc.url, "ListTables", b"{}", ORIGIN)
    assert ok.status_code == 200
    failed = _post(region_proc.url, "DescribeTable", b'{"TableName": "no-such-table"}', ORIGIN)
    assert failed.status_code == 400
    health = httpx.get(region_proc.url + "/", headers=ORIGIN, timeout=10)
    for r in (ok, failed, health):
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-expose-headers" in r.headers
        # only a preflight carries these
        assert "access-control-max-age" not in r.headers
        assert "access-control-allow-methods" not in r.headers


def test_no_origin_no_cors_headers(region_proc: RegionProcess) -> None:
    r = _post(region_proc.url, "ListTables", b"{}")
    assert r.status_code == 200
    assert not any(h in r.headers for h in CORS_HEADERS)


# ------------------------------------------------------------------ gzip request bodies


@pytest.fixture
def gz_table(make_table: Any) -> str:
    name: str = make_table()
    return name


def _get(ddb: Any, table: str, p: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=table, Key={"p": {"S": p}}).get("Item")
    return item


def test_gzip_body_is_accepted(region_proc: RegionProcess, ddb: Any, gz_table: str) -> None:
    body = gzip.compress(_put_body(gz_table, "one", v="gzipped"))
    r = _post(region_proc.url, "PutItem", body, {"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert _get(ddb, gz_table, "one") == {"p": {"S": "one"}, "v": {"S": "gzipped"}}


def test_concatenated_gzip_members(region_proc: RegionProcess, ddb: Any, gz_table: str) -> None:
    plain = _put_body(gz_table, "two", v="halves")
    body = gzip.compress(plain[:10]) + gzip.compress(plain[10:])
    r = _post(region_proc.url, "PutItem", body, {"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert _get(ddb, gz_table, "two") == {"p": {"S": "two"}, "v": {"S": "halves"}}


@pytest.mark.parametrize(
    ("label", "mangle"),
    [
        ("not gzip at all", lambda plain: plain),
        ("truncated", lambda plain: gzip.compress(plain)[:-1]),
        ("trailing junk", lambda plain: gzip.compress(plain) + b"junk"),
        ("empty", lambda plain: b""),
    ],
)
def test_corrupt_gzip_is_a_client_error(
    region_proc: RegionProcess, ddb: Any, gz_table: str, label: str, mangle: Any
) -> None:
    body = mangle(_put_body(gz_table, "bad"))
    r = _post(region_proc.url, "PutItem", body, {"Content-Encoding": "gzip"})
    assert r.status_code == 400, (label, r.status_code, r.text)
    kind, _ = error_of(r)
    assert kind == SERVICE_NS + "SerializationException"
    assert _get(ddb, gz_table, "bad") is None


def test_unknown_content_encoding_is_refused(
    region_proc: RegionProcess, ddb: Any, gz_table: str
) -> None:
    r = _post(region_proc.url, "PutItem", _put_body(gz_table, "odd"), {"Content-Encoding": "br"})
    assert r.status_code == 400
    assert error_of(r)[0] == SERVICE_NS + "SerializationException"
    assert _get(ddb, gz_table, "odd") is None


def test_gzip_bomb_is_too_large(region_proc: RegionProcess, ddb: Any, gz_table: str) -> None:
    plain = _put_body(gz_table, "bomb")
    padded = plain[:-1] + b" " * (20 * 1024 * 1024) + plain[-1:]
    body = gzip.compress(padded)
    assert len(body) < 100 * 1024  # tiny on the wire
    r = _post(region_proc.url, "PutItem", body, {"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert _get(ddb, gz_table, "bomb") is None


def test_gzip_just_under_the_limit_is_fine(
    region_proc: RegionProcess, ddb: Any, gz_table: str
) -> None:
    plain = _put_body(gz_table, "big")
    # JSON whitespace padding to exactly 16 MB decompressed
    padded = plain[:-1] + b" " * (16 * 1024 * 1024 - len(plain)) + plain[-1:]
    assert len(padded) == 16 * 1024 * 1024
    r = _post(region_proc.url, "PutItem", gzip.compress(padded), {"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert _get(ddb, gz_table, "big") == {"p": {"S": "big"}}


def test_boto3_request_compression(region_proc: RegionProcess, gz_table: str) -> None:
    """botocore's own request compression, switched on for every operation the way
    ScyllaDB's suite does it (the DynamoDB model does not enable it by default)."""
    session = boto3.session.Session()  # its own loader: the model edit stays here
    client = session.client(
        "dynamodb",
        endpoint_url=region_proc.url,
        region_name=REGION,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(request_min_compression_size_bytes=1),
    )
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        value = request.headers.get("Content-Encoding") or b""
        sent.append(value.decode() if isinstance(value, bytes) else value)

    client.meta.events.register("before-send.dynamodb.*", record)
    for op in client.meta.service_model._service_description["operations"].values():
        op["requestcompression"] = {"encodings": ["gzip"]}
    client.put_item(TableName=gz_table, Item={"p": {"S": "sdk"}, "v": {"S": "x" * 10000}})
    got = client.get_item(TableName=gz_table, Key={"p": {"S": "sdk"}})["Item"]
    assert got == {"p": {"S": "sdk"}, "v": {"S": "x" * 10000}}
    assert sent == ["gzip", "gzip"]
