"""The REST API's query and scan routes (/v1/tables/{table}/query and /scan)."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fixtures.regions import RegionProcess
from tests.integration.api.support import create_table, http, unique

pytestmark = pytest.mark.integration

#: partition key -> how many items it holds (ts = 1..n); sizes chosen so that the
#: page sizes below divide some of them exactly and others not
PARTITIONS = {"a": 25, "b": 12, "c": 1}
KINDS = ("red", "blue", "green")


def _exact(r: httpx.Response) -> Any:
    return json.loads(r.content, parse_float=Decimal)


def _cursor(obj: object) -> str:
    """A hand-made cursor in the format the server uses (typed JSON, base64url)."""
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _wait_active(ddb: Any, table: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        desc = ddb.describe_table(TableName=table)["Table"]
        statuses = [g["IndexStatus"] for g in desc.get("GlobalSecondaryIndexes", [])]
        if desc["TableStatus"] == "ACTIVE" and all(s == "ACTIVE" for s in statuses):
            return
        time.sleep(0.1)
    raise AssertionError(f"{table} did not become ACTIVE")


def _put(url: str, table: str, item: dict[str, Any]) -> None:
    r = http().put(f"{url}/v1/tables/{table}/items", json=item)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def events(region_proc: RegionProcess, ddb: Any) -> Iterator[str]:
    """id (S) + ts (N), a GSI by-kind on kind (S) + ts (N), and a sparse KEYS_ONLY
    GSI by-flag on flag (S): only every fifth item has a flag."""
    name = unique("rq")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "id", "KeyType": "HASH"},
            {"AttributeName": "ts", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "flag", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-kind",
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "ts", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "by-flag",
                "KeySchema": [{"AttributeName": "flag", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    )
    _wait_active(ddb, name)
    for pk, n in PARTITIONS.items():
        for ts in range(1, n + 1):
            item: dict[str, Any] = {"id": pk, "ts": ts, "kind": KINDS[ts % 3], "v": f"{pk}{ts}"}
            if ts % 5 == 0:
                item["flag"] = "on"
            _put(region_proc.url, name, item)
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture(scope="module")
def paths(region_proc: RegionProcess, ddb: Any) -> Iterator[str]:
    """user (S) + path (S), for string bounds and begins_with."""
    name = unique("rq")
    create_table(ddb, name, ("user", "S"), ("path", "S"))
    _wait_active(ddb, name)
    for p in ("a", "a/1", "a/2", "a/10", "ab", "b/1", "é/x"):
        _put(region_proc.url, name, {"user": "u", "path": p})
    _put(region_proc.url, name, {"user": "other", "path": "a/1"})
    yield name
    ddb.delete_table(TableName=name)


def _get(url: str, table: str, route: str, params: dict[str, str]) -> httpx.Response:
    return http().get(f"{url}/v1/tables/{table}/{route}", params=params)


def _walk(
    url: str, table: str, route: str, params: dict[str, str]
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page of a read: (all items in order, the size of each page)."""
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(500):
        page_params = dict(params) | ({"cursor": cursor} if cursor is not None else {})
        r = _get(url, table, route, page_params)
        assert r.status_code == 200, r.text
        body = _exact(r)
        assert set(body) == {"items", "count", "cursor"}
        assert body["count"] == len(body["items"])
        items += body["items"]
        sizes.append(body["count"])
        cursor = body["cursor"]
        if cursor is None:
            return items, sizes
        assert isinstance(cursor, str) and cursor
    raise AssertionError("pagination did not end")


# --------------------------------------------------------------------------- query


@pytest.mark.parametrize("limit", [1, 5, 7, 25, 26, None])
@pytest.mark.parametrize("forward", ["true", "false"])
def test_query_pages_walk_the_partition_once(
    region_proc: RegionProcess, events: str, limit: int | None, forward: str
) -> None:
    params = {"id": "a", "forward": forward} | ({"limit": str(limit)} if limit else {})
    items, sizes = _walk(region_proc.url, events, "query", params)
    expected = list(range(1, PARTITIONS["a"] + 1))
    if forward == "false":
        expected.reverse()
    # exactly once and in sort-key order: no item lost or repeated at a page boundary
    assert [i["ts"] for i in items] == expected
    assert all(i["id"] == "a" for i in items)
    if limit is not None:
        assert all(s <= limit for s in sizes)
        # every page but the last is full (no filter here)
        assert all(s == limit for s in sizes[:-1])
    else:
        assert sizes == [PARTITIONS["a"]]


def test_query_items_are_plain_json(region_proc: RegionProcess, events: str) -> None:
    r = _get(region_proc.url, events, "query", {"id": "b", "sk_eq": "10"})
    assert r.status_code == 200, r.text
    assert _exact(r) == {
        "items": [{"id": "b", "ts": 10, "kind": "blue", "v": "b10", "flag": "on"}],
        "count": 1,
        "cursor": None,
    }


def test_query_missing_partition_is_empty(region_proc: RegionProcess, events: str) -> None:
    r = _get(region_proc.url, events, "query", {"id": "nobody"})
    assert r.status_code == 200
    assert r.json() == {"items": [], "count": 0, "cursor": None}


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        # numeric, not textual, order: "10" < "9" as strings
        ({"sk_eq": "9"}, [9]),
        ({"sk_lt": "10"}, list(range(1, 10))),
        ({"sk_le": "10"}, list(range(1, 11))),
        ({"sk_gt": "9"}, list(range(10, 26))),
        ({"sk_ge": "20"}, list(range(20, 26))),
        ({"sk_ge": "9", "sk_le": "11"}, [9, 10, 11]),
        ({"sk_ge": "7", "sk_le": "7"}, [7]),
        # numbers are typed: 9.5 and 1e1 are numbers, not strings
        ({"sk_gt": "9.5"}, list(range(10, 26))),
        ({"sk_le": "1e1"}, list(range(1, 11))),
        ({"sk_lt": "-1"}, []),
        ({"sk_gt": "25"}, []),
    ],
)
def test_query_numeric_sort_key_bounds(
    region_proc: RegionProcess, events: str, bounds: dict[str, str], expected: list[int]
) -> None:
    items, _ = _walk(region_proc.url, events, "query", {"id": "a", "limit": "4"} | bounds)
    assert [i["ts"] for i in items] == expected
    back, _ = _walk(
        region_proc.url, events, "query", {"id": "a", "forward": "false", "limit": "4"} | bounds
    )
    assert [i["ts"] for i in back] == expected[::-1]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"sk_begins_with": "a/"}, ["a/1", "a/10", "a/2"]),
        ({"sk_begins_with": "a"}, ["a", "a/1", "a/10", "a/2", "ab"]),
        ({"sk_begins_with": "é"}, ["é/x"]),
        ({"sk_begins_with": "z"}, []),
        ({"sk_lt": "a/2"}, ["a", "a/1", "a/10"]),
        ({"sk_gt": "ab"}, ["b/1", "é/x"]),
        ({"sk_ge": "a/1", "sk_le": "a/2"}, ["a/1", "a/10", "a/2"]),
        ({"sk_eq": "ab"}, ["ab"]),
    ],
)
def test_query_string_sort_key_bounds(
    region_proc: RegionProcess, paths: str, bounds: dict[str, str], expected: list[str]
) -> None:
    items, _ = _walk(region_proc.url, paths, "query", {"user": "u", "limit": "2"} | bounds)
    assert [i["path"] for i in items] == expected
    assert all(i["user"] == "u" for i in items)


@pytest.mark.parametrize("limit", [1, 4, None])
def test_query_index_pages(region_proc: RegionProcess, events: str, limit: int | None) -> None:
    for kind_no, kind in enumerate(KINDS):
        params = {"index": "by-kind", "kind": kind} | ({"limit": str(limit)} if limit else {})
        items, _ = _walk(region_proc.url, events, "query", params)
        expected = sorted(
            (
                (ts, pk)
                for pk, n in PARTITIONS.items()
                for ts in range(1, n + 1)
                if ts % 3 == kind_no
            ),
        )
        # ts ascending; among equal ts the order is the table key's, so compare as sets
        assert [i["ts"] for i in items] == [ts for ts, _ in expected]
        assert sorted((i["ts"], i["id"]) for i in items) == expected
        assert len({(i["id"], i["ts"]) for i in items}) == len(items)
        assert all(i["kind"] == kind and "v" in i for i in items)


def test_query_index_sort_key_bounds(region_proc: RegionProcess, events: str) -> None:
    params = {"index": "by-kind", "kind": "red", "sk_ge": "3", "sk_le": "9", "forward": "false"}
    items, _ = _walk(region_proc.url, events, "query", params)
    # red = ts % 3 == 0
    assert sorted(((i["ts"], i["id"]) for i in items), reverse=True) == [
        (9, "b"), (9, "a"), (6, "b"), (6, "a"), (3, "b"), (3, "a"),
    ]  # fmt: skip
    assert [i["ts"] for i in items] == [9, 9, 6, 6, 3, 3]


def test_query_sparse_keys_only_index(region_proc: RegionProcess, events: str) -> None:
    items, _ = _walk(
        region_proc.url, events, "query", {"index": "by-flag", "flag": "on", "limit": "2"}
    )
    expected = {(pk, ts) for pk, n in PARTITIONS.items() for ts in range(1, n + 1) if ts % 5 == 0}
    assert sorted((i["id"], i["ts"]) for i in items) == sorted(expected)
    # KEYS_ONLY: the table key and the index key, nothing else
    assert all(set(i) == {"id", "ts", "flag"} for i in items)


# --------------------------------------------------------------------------- scan


def _all_events() -> list[tuple[str, int]]:
    return sorted((pk, ts) for pk, n in PARTITIONS.items() for ts in range(1, n + 1))


@pytest.mark.parametrize("limit", [1, 6, 38, 1000, None])
def test_scan_pages_walk_the_table_once(
    region_proc: RegionProcess, events: str, limit: int | None
) -> None:
    params = {"limit": str(limit)} if limit else {}
    items, sizes = _walk(region_proc.url, events, "scan", params)
    got = [(i["id"], i["ts"]) for i in items]
    assert len(got) == len(set(got)), "an item came back twice"
    assert sorted(got) == _all_events()
    if limit is not None:
        assert all(s == limit for s in sizes[:-1])


def test_scan_index_pages(region_proc: RegionProcess, events: str) -> None:
    items, _ = _walk(region_proc.url, events, "scan", {"index": "by-kind", "limit": "5"})
    got = [(i["id"], i["ts"]) for i in items]
    assert len(got) == len(set(got))
    assert sorted(got) == _all_events()
    sparse, _ = _walk(region_proc.url, events, "scan", {"index": "by-flag", "limit": "1"})
    assert sorted((i["id"], i["ts"]) for i in sparse) == [e for e in _all_events() if e[1] % 5 == 0]


def test_cursor_is_opaque_base64url(region_proc: RegionProcess, events: str) -> None:
    r = _get(region_proc.url, events, "query", {"id": "a", "limit": "3"})
    cursor = r.json()["cursor"]
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # it is the typed LastEvaluatedKey: the server resumes after ts 3
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded == {"id": {"S": "a"}, "ts": {"N": "3"}}
    nxt = _get(region_proc.url, events, "query", {"id": "a", "limit": "1", "cursor": cursor})
    assert [i["ts"] for i in nxt.json()["items"]] == [4]


# --------------------------------------------------------------------------- bad input


def _assert_400(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 400, (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == "ValidationException" and body["message"]
    return body


@pytest.mark.parametrize(
    "params",
    [
        {},  # no partition key
        {"ts": "1"},
        {"id": ""},
        {"id": "a", "ts": "1"},  # the sort key goes in sk_*, not by name
        {"id": "a", "other": "1"},
        {"id": "a", "limit": "0"},
        {"id": "a", "limit": "-1"},
        {"id": "a", "limit": "ten"},
        {"id": "a", "limit": "1.5"},
        {"id": "a", "limit": "9" * 5000},
        {"id": "a", "forward": "sideways"},
        {"id": "a", "sk_lt": "abc"},
        {"id": "a", "sk_eq": "1e999"},
        {"id": "a", "sk_eq": ""},
        {"id": "a", "sk_begins_with": "1"},  # N sort key
        {"id": "a", "sk_gt": "1", "sk_lt": "5"},
        {"id": "a", "sk_eq": "1", "sk_ge": "1"},
        {"id": "a", "sk_ge": "9", "sk_le": "3"},
        {"id": "a", "index": "no-such-index"},
        {"id": "a", "index": "by-kind"},  # the index's partition key is kind
        {"kind": "red", "index": "by-flag"},
        {"flag": "on", "index": "by-flag", "sk_eq": "1"},  # by-flag has no sort key
    ],
)
def test_query_bad_parameters(
    region_proc: RegionProcess, events: str, params: dict[str, str]
) -> None:
    _assert_400(_get(region_proc.url, events, "query", params))


def test_repeated_parameter(region_proc: RegionProcess, events: str) -> None:
    r = http().get(f"{region_proc.url}/v1/tables/{events}/query?id=a&limit=1&limit=2")
    _assert_400(r)


@pytest.mark.parametrize(
    "params",
    [
        {"id": "a"},
        {"forward": "true"},
        {"sk_eq": "1"},
        {"limit": "0"},
        {"index": "no-such-index"},
    ],
)
def test_scan_bad_parameters(
    region_proc: RegionProcess, events: str, params: dict[str, str]
) -> None:
    _assert_400(_get(region_proc.url, events, "scan", params))


def test_missing_table_is_404(region_proc: RegionProcess) -> None:
    for route, params in (("query", {"id": "a"}), ("scan", {})):
        r = _get(region_proc.url, unique("missing"), route, params)
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "ResourceNotFoundException"


BAD_CURSORS = [
    "!!!",
    "a",  # one base64 character cannot encode a byte
    "bm90IGpzb24",  # "not json"
    _cursor([1, 2]),
    _cursor({}),
    _cursor("id"),
    _cursor({"id": "a", "ts": 3}),  # plain, not typed
    _cursor({"id": {"S": "a"}}),  # the sort key is missing
    _cursor({"id": {"S": "a"}, "ts": {"S": "3"}}),  # wrong type
    _cursor({"id": {"S": "a"}, "ts": {"N": "abc"}}),
    _cursor({"id": {"S": "a"}, "ts": {"N": "1e999"}}),
    _cursor({"id": {"S": ""}, "ts": {"N": "1"}}),
    _cursor({"id": {"S": "a"}, "ts": {"N": "1"}, "x": {"S": "y"}}),
    _cursor({"id": {"S": "b"}, "ts": {"N": "1"}}),  # another partition than id=a
    _cursor({"id": {"S": "a", "N": "1"}, "ts": {"N": "1"}}),
    _cursor({"id": {"SS": ["a"]}, "ts": {"N": "1"}}),
    _cursor({"id": {"S": "a"}, "ts": {"N": "1"}, "kind": {"S": "red"}}),
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_bad_cursor_is_400(region_proc: RegionProcess, events: str, cursor: str) -> None:
    _assert_400(_get(region_proc.url, events, "query", {"id": "a", "cursor": cursor}))


BAD_INDEX_CURSORS = [
    *BAD_CURSORS[:8],
    # a table cursor lacks the index key; index keys of the wrong type
    _cursor({"id": {"S": "a"}, "ts": {"N": "1"}}),
    _cursor({"id": {"S": "a"}, "ts": {"N": "1"}, "kind": {"N": "1"}}),
    _cursor({"id": {"S": "a"}, "ts": {"N": "1"}, "kind": {"B": "AAAA"}}),
]


@pytest.mark.parametrize("cursor", BAD_INDEX_CURSORS)
def test_bad_index_cursor_is_400(region_proc: RegionProcess, events: str, cursor: str) -> None:
    params = {"index": "by-kind", "cursor": cursor}
    _assert_400(_get(region_proc.url, events, "query", params | {"kind": "red"}))
    _assert_400(_get(region_proc.url, events, "scan", params))


def test_index_cursor_of_another_partition(region_proc: RegionProcess, events: str) -> None:
    cursor = _cursor({"id": {"S": "a"}, "ts": {"N": "1"}, "kind": {"S": "blue"}})
    params = {"index": "by-kind", "cursor": cursor}
    _assert_400(_get(region_proc.url, events, "query", params | {"kind": "red"}))
    # a scan has no partition to stay in: there the same cursor is a valid position
    assert _get(region_proc.url, events, "scan", params).status_code == 200


def test_cursor_of_another_read_is_400(region_proc: RegionProcess, events: str) -> None:
    table_cursor = _get(region_proc.url, events, "scan", {"limit": "2"}).json()["cursor"]
    index_cursor = _get(
        region_proc.url, events, "query", {"index": "by-kind", "kind": "red", "limit": "2"}
    ).json()["cursor"]
    assert table_cursor and index_cursor
    _assert_400(
        _get(
            region_proc.url,
            events,
            "query",
            {"index": "by-flag", "flag": "on", "cursor": table_cursor},
        )
    )
    _assert_400(_get(region_proc.url, events, "query", {"id": "a", "cursor": index_cursor}))


def test_random_cursors_never_500(region_proc: RegionProcess, events: str) -> None:
    """Whatever a client makes of the cursor, the answer is a page or a 400."""
    rng = random.Random(20240613)
    pieces: list[object] = [
        None, True, 1, -1.5, "", "a", "1", "AAAA", [], {}, ["a"], {"S": "a"}, {"N": "x"},
        {"N": "3"}, {"B": "!!"}, {"B": "AAAA"}, {"SS": []}, {"NULL": True}, {"L": [{"S": "a"}]},
        {"M": {}}, {"S": "a", "N": "1"}, {"BOOL": False},
    ]  # fmt: skip
    names = ["id", "ts", "kind", "flag", "", "x"]
    for _ in range(150):
        shape = rng.random()
        if shape < 0.3:
            raw = "".join(rng.choice("AZaz09-_=+/!.~ ") for _ in range(rng.randint(1, 40)))
        elif shape < 0.5:
            raw = base64.urlsafe_b64encode(rng.randbytes(rng.randint(1, 30))).decode().rstrip("=")
        else:
            obj = {rng.choice(names): rng.choice(pieces) for _ in range(rng.randint(0, 4))}
            raw = _cursor(obj)
        for route, params in (
            ("query", {"id": "a"}),
            ("query", {"index": "by-kind", "kind": "red"}),
            ("scan", {}),
            ("scan", {"index": "by-flag"}),
        ):
            r = _get(region_proc.url, events, route, params | {"cursor": raw})
            assert r.status_code in (200, 400), (raw, route, params, r.status_code, r.text)


# --------------------------------------------------------------------------- docs


def test_openapi_describes_query_and_scan(region_proc: RegionProcess) -> None:
    spec = http().get(f"{region_proc.url}/openapi.json").json()
    query = spec["paths"]["/v1/tables/{table}/query"]["get"]
    scan = spec["paths"]["/v1/tables/{table}/scan"]["get"]
    qparams = {p["name"]: p for p in query["parameters"]}
    sparams = {p["name"]: p for p in scan["parameters"]}
    assert set(qparams) == {
        "table", "key", "sk_eq", "sk_lt", "sk_le", "sk_gt", "sk_ge", "sk_begins_with",
        "forward", "limit", "index", "cursor",
    }  # fmt: skip
    assert set(sparams) == {"table", "limit", "index", "cursor"}
    for name, p in (qparams | sparams).items():
        if name != "table":
            assert p["in"] == "query" and p["description"], name
    assert qparams["limit"]["schema"]["type"] == "integer"
    assert qparams["forward"]["schema"]["type"] == "boolean"
    page = query["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(page["properties"]) == {"items", "count", "cursor"}
    assert "400" in query["responses"] and "400" in scan["responses"]
