"""Hostile requests beyond test_protocol.py's corpus, over raw HTTP and the REST API.

Each one gets a 4xx in the API's error shape or a correct success (what was sent
is what is stored, byte for byte), never a 5xx; what is stored changes only when
the request was valid; and the server stays up (checked last).  Areas:
content types, SQL metacharacters, 10,000 attribute names, numbers at and beyond
DynamoDB's limits, unicode keys, huge and deeply nested bodies, invalid UTF-8,
then random items and random bytes (Hypothesis) through PutItem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regions.errors import DynamoError
from regions.types import validate_item
from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import (
    DYNAMODB_NS,
    JSON_10,
    SERVICE_NS,
    TARGET_PREFIX,
    VALIDATE_NS,
    create_table,
    error_of,
    http,
    post,
    unique,
)
from tests.unit.test_decoder_fuzz import items as fuzz_items

pytestmark = pytest.mark.integration

SEED = {"p": {"S": "seed"}, "v": {"S": "original"}, "n": {"N": "1"}}
NAMESPACES = (VALIDATE_NS, SERVICE_NS, DYNAMODB_NS)


@pytest.fixture(scope="module")
def tbl(ddb: Any) -> Iterator[str]:
    """A table keyed by ``p`` (S) holding SEED; every test checks SEED is intact."""
    name = unique("hostile2")
    create_table(ddb, name)
    ddb.put_item(TableName=name, Item=SEED)
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture(scope="module")
def ranged(ddb: Any) -> Iterator[str]:
    """A table keyed by ``p`` (S) and ``s`` (S), for key conditions."""
    name = unique("hostile-r")
    create_table(ddb, name, ("p", "S"), ("s", "S"))
    yield name
    ddb.delete_table(TableName=name)


def _get(url: str, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    r = post(url, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
    assert r.status_code == 200, r.text
    item: dict[str, Any] | None = r.json().get("Item")
    return item


def _seed_intact(url: str, table: str) -> None:
    assert _get(url, table, {"p": SEED["p"]}) == SEED


#: DynamoDB's whole answer to a body that is not JSON (api/dynamodb/protocol.py)
NOT_JSON = b'{"__type":"com.amazon.coral.service#SerializationException"}'


def _clean_4xx(r: httpx.Response) -> str:
    """The error type of a DynamoDB-protocol 4xx (checks status, envelope, namespace)."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    kind, message = error_of(r)
    assert kind.rsplit("#", 1)[0] + "#" in NAMESPACES, kind
    # every error has a message but DynamoDB's to a body that is not JSON, which has none
    assert message or r.content == NOT_JSON, r.text[:300]
    return kind.rsplit("#", 1)[1]


def _put(url: str, table: str, item: dict[str, Any]) -> httpx.Response:
    return post(url, "PutItem", {"TableName": table, "Item": item})


# --------------------------------------------------------------------------- content types


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/x-amz-cbor-1.1",
        "application/x-amz-json-1.0; charset=utf-8",
        "application/x-amz-json-1.1",
        "\u00e9/\u00e9".encode(),
    ],
)
def test_content_types(
    region_proc: RegionProcess, tbl: str, content_type: str | bytes | None
) -> None:
    """The body is DynamoDB JSON whatever the header says: either the write happens
    exactly as sent or the request is refused and nothing is written."""
    item = {"p": {"S": unique("ct")}, "v": {"S": "x"}}
    # bytes: httpx refuses a non-ASCII str header value, and one case sends UTF-8
    headers: dict[bytes, bytes] = {b"X-Amz-Target": (TARGET_PREFIX + "PutItem").encode()}
    if content_type is not None:
        ct = content_type if isinstance(content_type, bytes) else content_type.encode()
        headers[b"Content-Type"] = ct
    body = json.dumps({"TableName": tbl, "Item": item}).encode()
    r = http().post(region_proc.url + "/", content=body, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert r.json() == {}
        assert _get(region_proc.url, tbl, {"p": item["p"]}) == item
    else:
        _clean_4xx(r)
        assert _get(region_proc.url, tbl, {"p": item["p"]}) is None
    assert r.headers["content-type"] == JSON_10
    _seed_intact(region_proc.url, tbl)


# --------------------------------------------------------------------------- SQL metacharacters

SQL = [
    "'; DROP TABLE gt_items; --",
    '" OR ""="',
    "x' OR '1'='1",
    "1; DELETE FROM gt_tables",
    "%",
    "_",
    "%_%",
    "\\",
    "\\'",
    "\x00",
    "a\x00b",
    "`gt_items`",
    "[gt_items]",
    "$1",
    ":v",
    "?",
    "/*",
    "*/",
]


@pytest.mark.parametrize("name", ["x'; DROP TABLE gt_items; --", 'a"b', "a;b", "a b", "a%b"])
def test_sql_in_table_names_is_refused(
    region_proc: RegionProcess, tbl: str, ddb: Any, name: str
) -> None:
    before = ddb.list_tables()["TableNames"]
    for op, body in [
        ("DescribeTable", {"TableName": name}),
        ("GetItem", {"TableName": name, "Key": {"p": {"S": "seed"}}}),
        ("PutItem", {"TableName": name, "Item": {"p": {"S": "x"}}}),
        ("DeleteTable", {"TableName": name}),
        (
            "CreateTable",
            {
                "TableName": name,
                "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        ),
    ]:
        assert _clean_4xx(post(region_proc.url, op, body)) == "ValidationException"
    assert ddb.list_tables()["TableNames"] == before
    _seed_intact(region_proc.url, tbl)


@pytest.mark.parametrize("text", SQL)
def test_sql_in_names_values_and_keys_round_trips(
    region_proc: RegionProcess, tbl: str, text: str
) -> None:
    key = {"p": {"S": "sql" + text}}
    item = {
        **key,
        "a" + text: {"S": text},
        "v": {"SS": [text, text + "!"]},
        "m": {"M": {text: {"S": text}}},
    }
    r = _put(region_proc.url, tbl, item)
    assert r.status_code == 200, r.text
    stored = _get(region_proc.url, tbl, key)
    assert stored is not None
    assert validate_item(stored) == validate_item(item)
    # through an expression too: names and values are data, never syntax
    r = post(
        region_proc.url,
        "UpdateItem",
        {
            "TableName": tbl,
            "Key": key,
            "UpdateExpression": "SET #n = :v",
            "ConditionExpression": "#n = :v",
            "ExpressionAttributeNames": {"#n": "a" + text},
            "ExpressionAttributeValues": {":v": {"S": text}},
            "ReturnValues": "ALL_NEW",
        },
    )
    assert r.status_code == 200, r.text
    assert validate_item(r.json()["Attributes"]) == validate_item(item)
    _seed_intact(region_proc.url, tbl)


def test_like_wildcards_in_begins_with_are_literal(region_proc: RegionProcess, ranged: str) -> None:
    """A store that turned begins_with into SQL LIKE would match '%' and '_' as
    wildcards; the key condition must match the literal prefix only."""
    for s in ["%x", "_y", "ab", "a%", "a_", "\\z", "%"]:
        r = _put(region_proc.url, ranged, {"p": {"S": "like"}, "s": {"S": s}})
        assert r.status_code == 200, r.text
    for prefix, expected in [
        ("%", ["%", "%x"]),
        ("_", ["_y"]),
        ("a%", ["a%"]),
        ("a_", ["a_"]),
        ("\\", ["\\z"]),
    ]:
        r = post(
            region_proc.url,
            "Query",
            {
                "TableName": ranged,
                "KeyConditionExpression": "p = :p AND begins_with(s, :s)",
                "ExpressionAttributeValues": {":p": {"S": "like"}, ":s": {"S": prefix}},
            },
        )
        assert r.status_code == 200, r.text
        assert sorted(i["s"]["S"] for i in r.json()["Items"]) == expected, prefix


# --------------------------------------------------------------------------- 10,000 names


def test_ten_thousand_attribute_names(region_proc: RegionProcess, tbl: str) -> None:
    key = {"p": {"S": "wide"}}
    item = {**key, **{f"a{i:05d}": {"N": str(i)} for i in range(10_000)}}
    r = _put(region_proc.url, tbl, item)
    assert r.status_code == 200, r.text[:300]
    assert _get(region_proc.url, tbl, key) == item
    names = {f"#a{i}": f"a{i:05d}" for i in range(10_000)}
    # an expression over 10,000 names is past the 4 KB expression limit
    for op, extra in [
        ("GetItem", {"ProjectionExpression": ", ".join(names)}),
        ("UpdateItem", {"UpdateExpression": "REMOVE " + ", ".join(names)}),
        (
            "DeleteItem",
            {"ConditionExpression": " AND ".join(f"attribute_exists({n})" for n in names)},
        ),
    ]:
        r = post(
            region_proc.url,
            op,
            {"TableName": tbl, "Key": key, "ExpressionAttributeNames": names, **extra},
        )
        assert _clean_4xx(r) == "ValidationException", r.text[:300]
    # 10,000 names no expression uses
    r = post(
        region_proc.url,
        "GetItem",
        {
            "TableName": tbl,
            "Key": key,
            "ProjectionExpression": "#a0",
            "ExpressionAttributeNames": names,
        },
    )
    assert _clean_4xx(r) == "ValidationException"
    assert _get(region_proc.url, tbl, key) == item
    # 10,000 attributes of 41 bytes each: past 400 KB, refused whole
    big = {**key, **{f"b{i:05d}": {"S": "x" * 35} for i in range(10_000)}}
    assert _clean_4xx(_put(region_proc.url, tbl, big)) == "ValidationException"
    assert _get(region_proc.url, tbl, key) == item
    _seed_intact(region_proc.url, tbl)


# --------------------------------------------------------------------------- number limits

AT_LIMITS = [
    ("9.9999999999999999999999999999999999999E+125", "9" * 38 + "0" * 88),
    ("-9.9999999999999999999999999999999999999E+125", "-" + "9" * 38 + "0" * 88),
    ("1E-130", "0." + "0" * 129 + "1"),
    ("-1E-130", "-0." + "0" * 129 + "1"),
    ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
    ("0.00000000000000000000000000000000000001", "0." + "0" * 37 + "1"),
    ("-0", "0"),
    ("0E-500", "0"),
    ("1000000000000000000000000000000000000000000", "1" + "0" * 42),
]
BEYOND_LIMITS = [
    "1E+126",
    "-1E+126",
    "1E-131",
    "-1E-131",
    "123456789012345678901234567890123456789",
    "1.23456789012345678901234567890123456789",
    "9.99999999999999999999999999999999999999E+125",
    "1e",
    "e1",
    ".",
    "+",
    "1.2.3",
    "0x10",
    "1_000",
    "\u0661",  # an Arabic-Indic digit: numeric to Python's int(), not to DynamoDB
    " 1",
    "1 ",
]


@pytest.mark.parametrize(("number", "canonical"), AT_LIMITS)
def test_numbers_at_the_limits_are_stored_exactly(
    region_proc: RegionProcess, tbl: str, number: str, canonical: str
) -> None:
    key = {"p": {"S": "num-" + number}}
    r = _put(region_proc.url, tbl, {**key, "n": {"N": number}, "ns": {"NS": [number, "7"]}})
    assert r.status_code == 200, r.text
    stored = _get(region_proc.url, tbl, key)
    assert stored is not None
    assert stored["n"] == {"N": canonical}
    assert canonical in stored["ns"]["NS"]


@pytest.mark.parametrize("number", BEYOND_LIMITS)
def test_numbers_beyond_the_limits_are_refused(
    region_proc: RegionProcess, tbl: str, number: str
) -> None:
    for body in [
        {"TableName": tbl, "Item": {**SEED, "n": {"N": number}}},
        {"TableName": tbl, "Item": {**SEED, "ns": {"NS": ["1", number]}}},
    ]:
        assert _clean_4xx(post(region_proc.url, "PutItem", body)) == "ValidationException"
    r = post(
        region_proc.url,
        "UpdateItem",
        {
            "TableName": tbl,
            "Key": {"p": SEED["p"]},
            "UpdateExpression": "SET n = n + :d",
            "ExpressionAttributeValues": {":d": {"N": number}},
        },
    )
    assert _clean_4xx(r) == "ValidationException"
    _seed_intact(region_proc.url, tbl)


def test_arithmetic_past_the_limits_is_refused(region_proc: RegionProcess, tbl: str) -> None:
    key = {"p": {"S": "arith"}}
    top = "9.9999999999999999999999999999999999999E+125"
    assert (
        _put(region_proc.url, tbl, {**key, "n": {"N": top}, "m": {"N": "1E-130"}}).status_code
        == 200
    )
    before = _get(region_proc.url, tbl, key)
    for expression, value in [
        ("SET n = n + :d", "1E+125"),  # overflow
        ("ADD n :d", "1E+125"),
        ("SET n = n + :d", "1"),  # exact result needs 39 digits
        ("SET m = m - :d", "1E-131"),  # the operand itself underflows
    ]:
        r = post(
            region_proc.url,
            "UpdateItem",
            {
                "TableName": tbl,
                "Key": key,
                "UpdateExpression": expression,
                "ExpressionAttributeValues": {":d": {"N": value}},
            },
        )
        assert _clean_4xx(r) == "ValidationException", (expression, value)
    assert _get(region_proc.url, tbl, key) == before


@pytest.mark.parametrize("number", [a for a, _ in AT_LIMITS[:6]])
def test_numbers_at_the_limits_as_keys(
    region_proc: RegionProcess, make_table: Any, number: str
) -> None:
    table = make_table(hash_=("k", "N"))
    assert _put(region_proc.url, table, {"k": {"N": number}, "v": {"S": number}}).status_code == 200
    r = post(region_proc.url, "Scan", {"TableName": table})
    assert [i["v"]["S"] for i in r.json()["Items"]] == [number]
    item = r.json()["Items"][0]
    assert _get(region_proc.url, table, {"k": item["k"]}) == item


# --------------------------------------------------------------------------- unicode keys

UNICODE_KEYS = [
    "\U0001f600",
    "e\u0301",  # e + combining acute: not the same key as the precomposed one below
    "\u00e9",
    "\u202eRTL",
    "\u0000",
    "nul\u0000in",
    "\ufeffbom",
    "\uffff",
    "\U0010ffff",
    "\u4e2d\u6587",
    "\U0001f600" * 512,  # 2048 UTF-8 bytes: the hash key limit, exactly
]


def test_unicode_keys_round_trip(region_proc: RegionProcess, ranged: str) -> None:
    for i, k in enumerate(UNICODE_KEYS):
        r = _put(region_proc.url, ranged, {"p": {"S": k}, "s": {"S": k[:256]}, "i": {"N": str(i)}})
        assert r.status_code == 200, (k[:20], r.text)
    for i, k in enumerate(UNICODE_KEYS):
        got = _get(region_proc.url, ranged, {"p": {"S": k}, "s": {"S": k[:256]}})
        assert got is not None and got["i"] == {"N": str(i)}, k[:20]
        r = post(
            region_proc.url,
            "Query",
            {
                "TableName": ranged,
                "KeyConditionExpression": "p = :p",
                "ExpressionAttributeValues": {":p": {"S": k}},
            },
        )
        assert [it["i"]["N"] for it in r.json()["Items"]] == [str(i)], k[:20]
    # one more code point is past 2048 bytes
    too_long = {"p": {"S": "\U0001f600" * 512 + "x"}, "s": {"S": "x"}}
    assert _clean_4xx(_put(region_proc.url, ranged, too_long)) == "ValidationException"


# --------------------------------------------------------------------------- huge, deep, invalid


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    """A region serving unsigned requests: a streamed body cannot be signed up
    front, and these requests must reach the routes, not stop at authentication."""
    d = tmp_path_factory.mktemp("anonymous")
    proc = RegionProcess(
        "us-east-1",
        free_port(),
        f"sqlite:///{d}/r.db",
        log_dir=d,
        extra_args=["--allow-anonymous"],
    ).start()
    yield proc
    proc.stop()


def _chunks(prefix: bytes, mb: int, suffix: bytes) -> Iterator[bytes]:
    yield prefix
    for _ in range(mb):
        yield b"x" * (1024 * 1024)
    yield suffix


def test_chunked_bodies_over_16_mb(anonymous: RegionProcess) -> None:
    # no Content-Length to trust: the size must be counted as the body streams in
    table = unique("chunked")
    create_table(anonymous.client(), table)
    headers = {"Content-Type": JSON_10, "X-Amz-Target": TARGET_PREFIX + "PutItem"}
    body = _chunks(f'{{"TableName":"{table}","Item":{{"p":{{"S":"'.encode(), 17, b'"}}}')
    r = httpx.post(anonymous.url + "/", content=body, headers=headers, timeout=60)
    assert r.status_code == 413, r.text[:200]
    _clean_4xx(r)
    rest = _chunks(b'{"p":"big","v":"', 17, b'"}')
    r = httpx.put(f"{anonymous.url}/v1/tables/{table}/items", content=rest, timeout=60)
    assert r.status_code == 413, r.text[:200]
    _rest_4xx(r)
    assert httpx.get(anonymous.url + "/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("depth", [100, 950, 5000])
def test_deep_nesting_in_the_dynamodb_protocol(
    region_proc: RegionProcess, tbl: str, depth: int
) -> None:
    raw = (
        f'{{"TableName":"{tbl}","Item":{{"p":{{"S":"seed"}},"v":'.encode()
        + b'{"M":{"a":' * depth
        + b'{"S":"x"}'
        + b"}}" * depth
        + b"}}"
    )
    assert _clean_4xx(post(region_proc.url, "PutItem", raw=raw))
    _seed_intact(region_proc.url, tbl)


@pytest.mark.parametrize(
    ("target", "raw"),
    [
        (TARGET_PREFIX + "DescribeTable", b'{"TableName":"ab\xffcd"}'),
        (TARGET_PREFIX + "PutItem", b'{"TableName":"x\xc3","Item":{}}'),
        (TARGET_PREFIX + "GetItem", b'{"TableName":"abc","Key":{"p\xed\xa0\x80":{"S":"k"}}}'),
        (TARGET_PREFIX + "ListTables\xff", b"{}"),
    ],
)
def test_invalid_utf8(region_proc: RegionProcess, target: str, raw: bytes) -> None:
    headers = {b"Content-Type": JSON_10.encode(), b"X-Amz-Target": target.encode("latin-1")}
    r = http().post(region_proc.url + "/", content=raw, headers=headers)
    _clean_4xx(r)


# --------------------------------------------------------------------------- REST API


def _rest_4xx(r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) >= {"error", "message"}, body


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 950 + b"]" * 950,
        b'{"p":"rest","v":' + b"[" * 500 + b"1" + b"]" * 500 + b"}",
        b'{"p":"rest","v":' + b'{"a":' * 950 + b"1" + b"}" * 950 + b"}",
        b'{"p":"rest","v":' + b"[" * 100_000 + b"}",
        b'{"p":"\xff"}',
        b'{"p":"\\ud800"}',
        b'{"p":"rest","n":1e400}',
        b'{"p":"rest","n":NaN}',
        b'{"p":"rest","n":' + b"9" * 5000 + b"}",
        b'{"p":"rest","' + b"a" * 70_000 + b'":1}',
        b'{"p":""}',
        b'{"q":"no key"}',
        b"null",
        b"",
    ],
    ids=lambda c: c[:24].decode("latin-1"),
)
def test_rest_hostile_bodies(region_proc: RegionProcess, tbl: str, content: bytes) -> None:
    post(region_proc.url, "DeleteItem", {"TableName": tbl, "Key": {"p": {"S": "rest"}}})
    r = http().put(
        f"{region_proc.url}/v1/tables/{tbl}/items",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    _rest_4xx(r)
    assert _get(region_proc.url, tbl, {"p": {"S": "rest"}}) is None
    _seed_intact(region_proc.url, tbl)


def test_rest_body_over_16_mb(region_proc: RegionProcess, tbl: str) -> None:
    content = b'{"p":"rest","v":"' + b"x" * (16 * 1024 * 1024) + b'"}'
    r = http().put(f"{region_proc.url}/v1/tables/{tbl}/items", content=content)
    assert r.status_code == 413, r.text[:200]
    _rest_4xx(r)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tables/x'%20OR%201=1--/items?p=a",
        "/v1/tables/%FF%FE/items?p=a",
        "/v1/tables/%00/items?p=a",
        "/v1/tables/{tbl}/items?p=%FF",
        "/v1/tables/{tbl}/items?p=seed&p=other",
        "/v1/tables/{tbl}/items?p=seed'%20OR%20'1'='1",
        "/v1/tables/{tbl}/items?p=seed&x=1",
        "/v1/tables/{tbl}/items",
    ],
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_rest_hostile_paths(region_proc: RegionProcess, tbl: str, path: str, method: str) -> None:
    r = http().request(method, region_proc.url + path.replace("{tbl}", tbl))
    if r.status_code == 200:
        # the only successes: reading the seed item, or deleting nothing
        assert method == "DELETE" and r.json() == {"deleted": False}, r.text
    else:
        _rest_4xx(r)
    _seed_intact(region_proc.url, tbl)


# --------------------------------------------------------------------------- random input

HTTP_RUNS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@HTTP_RUNS
@given(item=fuzz_items)
def test_random_items_through_put_item(region_proc: RegionProcess, tbl: str, item: Any) -> None:
    key = {"p": {"S": "fuzz"}}
    before = _get(region_proc.url, tbl, key)
    r = _put(region_proc.url, tbl, {**item, **key})
    try:
        expected = validate_item({**item, **key})
    except DynamoError:
        expected = None
    if r.status_code == 200:
        # accepted: stored exactly as the validator canonicalises it
        assert _get(region_proc.url, tbl, key) == expected
    else:
        _clean_4xx(r)
        assert _get(region_proc.url, tbl, key) == before


@HTTP_RUNS
@given(
    op=st.sampled_from(
        ["PutItem", "GetItem", "UpdateItem", "Query", "BatchWriteItem", "CreateTable"]
    ),
    raw=st.binary(max_size=300)
    | st.from_regex(r'\{"TableName":"[a-z]{3,8}"[,:\]\[{}"a-zA-Z0-9 ]{0,60}', fullmatch=True).map(
        str.encode
    ),
)
def test_random_bytes_are_4xx(region_proc: RegionProcess, tbl: str, op: str, raw: bytes) -> None:
    r = post(region_proc.url, op, raw=raw)
    if r.status_code != 200:
        _clean_4xx(r)


def test_the_server_is_still_up(region_proc: RegionProcess, tbl: str) -> None:
    assert httpx.get(region_proc.url + "/healthz", timeout=10).status_code == 200
    assert region_proc.proc is not None and region_proc.proc.poll() is None
    _seed_intact(region_proc.url, tbl)
