"""The plain REST API (/v1/...), /docs, /openapi.json and /healthz."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, REPO, RegionProcess, cli_env
from tests.integration.api.conftest import TableFactory
from tests.integration.api.support import http, unique

pytestmark = pytest.mark.integration


def _items(url: str, table: str) -> str:
    return f"{url}/v1/tables/{table}/items"


def _exact(r: httpx.Response) -> Any:
    """The JSON body with numbers as Decimal, so no float rounding hides a lost digit."""
    return json.loads(r.content, parse_float=Decimal)


@pytest.fixture
def hash_range(make_table: TableFactory) -> str:
    return make_table(("id", "S"), ("ts", "N"))


# --------------------------------------------------------------------------- serialization


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'"item"',
        b"null",
        b'{"id": "a", "ts": NaN}',
        b'{"id": "a", "ts": Infinity}',
        b"",
    ],
    ids=["text", "array", "string", "null", "nan", "infinity", "empty"],
)
def test_put_body_must_be_a_json_object(
    region_proc: RegionProcess, hash_range: str, raw: bytes
) -> None:
    r = http().put(
        _items(region_proc.url, hash_range),
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "SerializationException"


def test_put_numbers_beyond_float(region_proc: RegionProcess, hash_range: str) -> None:
    raw = b'{"id": "n", "ts": 1, "exact": 0.1000000000000000000001, "big": 12345678901234567890123456789012345678, "e": 1e3, "z": -0.0, "m": 01.50}'
    # 01.50 is not JSON: the body is refused as a whole
    r = http().put(
        _items(region_proc.url, hash_range),
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    raw = raw.replace(b', "m": 01.50', b', "m": 1.50')
    r = http().put(
        _items(region_proc.url, hash_range),
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    expected = {
        "id": "n",
        "ts": 1,
        "exact": Decimal("0.1000000000000000000001"),
        "big": 12345678901234567890123456789012345678,
        "e": 1000,
        "z": 0,
        "m": Decimal("1.5"),
    }
    assert _exact(r) == {"item": expected}
    got = http().get(_items(region_proc.url, hash_range), params={"id": "n", "ts": "1"})
    assert _exact(got) == {"item": expected}
    # canonical text on the wire, never exponent or float noise
    assert b'"exact":0.1000000000000000000001' in got.content
    assert b'"e":1000' in got.content
    assert b'"m":1.5' in got.content


def test_number_out_of_range(region_proc: RegionProcess, hash_range: str) -> None:
    for raw in (
        b'{"id": "o", "ts": 1, "x": 1e126}',
        b'{"id": "o", "ts": 1, "x": 123456789012345678901234567890123456789}',
    ):
        r = http().put(
            _items(region_proc.url, hash_range),
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400
        assert r.json()["error"] == "ValidationException"
    assert (
        http().get(_items(region_proc.url, hash_range), params={"id": "o", "ts": "1"}).status_code
        == 404
    )


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"id": "a"}, "ts"),
        ({"ts": "1"}, "id"),
        ({"id": "a", "ts": "abc"}, "numeric"),
        ({"id": "a", "ts": "1", "extra": "x"}, "extra"),
        ({"id": "", "ts": "1"}, "empty string"),
    ],
    ids=["missing-range", "missing-hash", "bad-number", "extra", "empty"],
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_bad_key(
    region_proc: RegionProcess, hash_range: str, method: str, params: dict[str, str], fragment: str
) -> None:
    r = http().request(method, _items(region_proc.url, hash_range), params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "ValidationException"
    assert fragment in body["message"]


def test_put_bad_item(region_proc: RegionProcess, hash_range: str) -> None:
    for item, fragment in (
        ({"id": "a"}, "Missing the key ts in the item"),
        ({"id": 5, "ts": 1}, "Type mismatch for key id expected: S actual: N"),
        ({"id": "", "ts": 1}, "cannot contain an empty string value"),
        ({"id": "a", "ts": 1, "": 1}, "Empty attribute name"),
    ):
        r = http().put(_items(region_proc.url, hash_range), json=item)
        assert r.status_code == 400, r.text
        assert fragment in r.json()["message"]


def test_missing_table(region_proc: RegionProcess) -> None:
    url = _items(region_proc.url, unique("missing"))
    for r in (
        http().get(url, params={"id": "a"}),
        http().put(url, json={"id": "a"}),
        http().delete(url, params={"id": "a"}),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "ResourceNotFoundException"


def test_missing_item(region_proc: RegionProcess, hash_range: str) -> None:
    r = http().get(_items(region_proc.url, hash_range), params={"id": "none", "ts": "1"})
    assert r.status_code == 404
    # a DynamoDB error name, as every other REST error has (docs/rest-api.md)
    assert r.json() == {
        "error": "ResourceNotFoundException",
        "message": "Requested resource not found: the table holds no item with this key",
    }


# --------------------------------------------------------------------------- functionality


def test_round_trip(region_proc: RegionProcess, hash_range: str) -> None:
    item = {
        "id": "user-1",
        "ts": 10,
        "name": "Ada \u00e9\U0001f600",
        "visits": 3,
        "ratio": 0.25,
        "neg": -7.5,
        "ok": True,
        "off": False,
        "nothing": None,
        "tags": ["a", 1, None, {"deep": [[]]}],
        "profile": {"address": {"city": "Paris", "zip": "75001"}, "scores": [1, 2.5]},
        "empty": {},
        "blank": "",
    }
    url = _items(region_proc.url, hash_range)
    put = http().put(url, json=item)
    assert put.status_code == 200, put.text
    assert put.json() == {"item": item}
    got = http().get(url, params={"id": "user-1", "ts": "10"})
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    assert got.json() == {"item": item}


def test_rest_items_are_dynamodb_items(
    region_proc: RegionProcess, ddb: Any, hash_range: str
) -> None:
    http().put(
        _items(region_proc.url, hash_range),
        json={"id": "x", "ts": 2, "n": 1.5, "l": [True, None], "m": {"s": "v"}},
    )
    got = ddb.get_item(TableName=hash_range, Key={"id": {"S": "x"}, "ts": {"N": "2"}})["Item"]
    assert got == {
        "id": {"S": "x"},
        "ts": {"N": "2"},
        "n": {"N": "1.5"},
        "l": {"L": [{"BOOL": True}, {"NULL": True}]},
        "m": {"M": {"s": {"S": "v"}}},
    }


def test_dynamodb_only_types_read_back(
    region_proc: RegionProcess, ddb: Any, hash_range: str
) -> None:
    """Binary and sets have no plain-JSON spelling: B comes back as base64 text and sets
    as arrays, and precise numbers are not rounded through float."""
    ddb.put_item(
        TableName=hash_range,
        Item={
            "id": {"S": "typed"},
            "ts": {"N": "1"},
            "b": {"B": b"\xff\x00"},
            "bs": {"BS": [b"\x01", b"\xfe"]},
            "ss": {"SS": ["x", "y"]},
            "ns": {"NS": ["1", "0.1000000000000000000001"]},
            "n": {"N": "-123456789012345678901234567890.12345678"},
        },
    )
    r = http().get(_items(region_proc.url, hash_range), params={"id": "typed", "ts": "1"})
    assert r.status_code == 200, r.text
    item = _exact(r)["item"]
    assert item["b"] == "/wA="
    assert sorted(item["bs"]) == ["/g==", "AQ=="]
    assert sorted(item["ss"]) == ["x", "y"]
    assert sorted(item["ns"]) == [Decimal("0.1000000000000000000001"), 1]
    assert item["n"] == Decimal("-123456789012345678901234567890.12345678")


def test_binary_key_in_the_query_string(
    region_proc: RegionProcess, ddb: Any, make_table: TableFactory
) -> None:
    t = make_table(("k", "B"))
    ddb.put_item(TableName=t, Item={"k": {"B": b"\x00\xff"}, "v": {"S": "bin"}})
    r = http().get(_items(region_proc.url, t), params={"k": "AP8="})
    assert r.status_code == 200, r.text
    assert r.json() == {"item": {"k": "AP8=", "v": "bin"}}


def test_put_replaces_and_delete_reports(region_proc: RegionProcess, hash_range: str) -> None:
    url = _items(region_proc.url, hash_range)
    key = {"id": "d", "ts": "3"}
    http().put(url, json={"id": "d", "ts": 3, "a": 1})
    http().put(url, json={"id": "d", "ts": 3, "b": 2})
    assert http().get(url, params=key).json() == {"item": {"b": 2, "id": "d", "ts": 3}}
    first = http().delete(url, params=key)
    assert first.status_code == 200
    assert first.json() == {"deleted": True}
    assert http().get(url, params=key).status_code == 404
    again = http().delete(url, params=key)
    assert again.status_code == 200
    assert again.json() == {"deleted": False}


def test_number_key_in_the_query_string_is_numeric(
    region_proc: RegionProcess, hash_range: str
) -> None:
    url = _items(region_proc.url, hash_range)
    http().put(url, json={"id": "num", "ts": 1000})
    assert http().get(url, params={"id": "num", "ts": "1e3"}).json() == {
        "item": {"id": "num", "ts": 1000}
    }


def test_list_tables(region_proc: RegionProcess, hash_range: str) -> None:
    r = http().get(f"{region_proc.url}/v1/tables")
    assert r.status_code == 200
    names = r.json()["tables"]
    assert hash_range in names
    assert names == sorted(names)


# --------------------------------------------------------------------------- docs and health


def test_openapi_lists_the_routes(region_proc: RegionProcess) -> None:
    spec = http().get(f"{region_proc.url}/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/v1/tables/{table}/items"]) >= {"get", "put", "delete"}
    assert "get" in paths["/v1/tables"]
    assert "get" in paths["/healthz"]
    put = paths["/v1/tables/{table}/items"]["put"]
    assert "application/json" in put["requestBody"]["content"]
    # the DynamoDB endpoint is not a REST route
    assert "/" not in paths


def test_docs_page(region_proc: RegionProcess) -> None:
    r = http().get(f"{region_proc.url}/docs")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert "openapi.json" in r.text


def test_healthz(region_proc: RegionProcess, ddb: Any, table: str) -> None:
    before = http().get(f"{region_proc.url}/healthz")
    assert before.status_code == 200
    body = before.json()
    assert body["region"] == "us-east-1"
    assert body["status"] == "ok"
    assert body["store"]["backend"] == "sqlite"
    assert body["store"]["ok"] is True
    assert body["peers"] == {}
    assert body["replication"] is None
    ddb.put_item(TableName=table, Item={"p": {"S": "health"}})
    after = http().get(f"{region_proc.url}/healthz").json()
    assert after["writes"] == body["writes"] + 1


# --------------------------------------------------------------------------- signing (docs)


def _doc_block(heading: str, language: str) -> str:
    """The first ``language`` code block after ``heading`` in docs/rest-api.md."""
    text = (REPO / "docs" / "rest-api.md").read_text()
    after = text[text.index(heading) :]
    start = after.index(f"```{language}\n") + len(f"```{language}\n")
    return after[start : after.index("```", start)]


def test_the_docs_botocore_signing_example_works(region_proc: RegionProcess, hash_range: str) -> None:
    """docs/rest-api.md's botocore example, run as printed but for the endpoint and the
    table: it must get through SigV4 and read the item."""
    http().put(_items(region_proc.url, hash_range), json={"id": "o-2", "ts": 1, "total": 3})
    code = (
        _doc_block("### Signing a REST request", "python")
        .replace("http://127.0.0.1:8000", region_proc.url)
        .replace("/Orders/", f"/{hash_range}/")
        .replace('params={"id": "o-2"}', 'params={"ts": "1", "id": "o-2"}')
    )
    env = {**cli_env(), "AWS_DEFAULT_REGION": region_proc.name}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.replace("'", '"')) == {"item": {"id": "o-2", "ts": 1, "total": 3}}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_signs_the_query_as_written(region_proc: RegionProcess, hash_range: str) -> None:
    """What docs/rest-api.md tells curl users: parameters in alphabetical order work,
    others are refused as a signature mismatch (never a 5xx)."""
    http().put(_items(region_proc.url, hash_range), json={"id": "c", "ts": 2})
    sign = ["--aws-sigv4", f"aws:amz:{region_proc.name}:dynamodb", "--user", f"{ADMIN_KEY_ID}:{ADMIN_SECRET}"]

    def curl(query: str) -> tuple[int, Any]:
        out = subprocess.run(
            ["curl", "-s", "-w", "\n%{http_code}", *sign, f"{_items(region_proc.url, hash_range)}?{query}"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        body, _, status = out.stdout.rpartition("\n")
        return int(status), json.loads(body)

    status, body = curl("id=c&ts=2")
    assert status == 200 and body == {"item": {"id": "c", "ts": 2}}
    version = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=True).stdout
    if version.startswith("curl 7."):
        status, body = curl("ts=2&id=c")
        assert status == 403 and body["error"] == "InvalidSignatureException", body
