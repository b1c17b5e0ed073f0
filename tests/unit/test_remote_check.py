"""What a remote change record must satisfy (regions/changes.py decode and
regions/remote_check.py, invariant 9)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from regions.catalog import TableSpec
from regions.changes import HLC_LIMIT, ChangeRecord, InvalidRecord
from regions.keys import KeyAttr, KeySchema
from regions.remote_check import check
from regions.versions import LOGICAL_BITS, Version

NOW_MS = 1_800_000_000_000
SPEC = TableSpec(
    name="orders",
    table_id="tid-1",
    key_schema=KeySchema(KeyAttr("pk", "S"), KeyAttr("sk", "N")),
    attributes={"pk": "S", "sk": "N"},
    created_at=0.0,
)


def _body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "table": "orders",
        "table_id": "tid-1",
        "event": "INSERT",
        "keys": {"pk": {"S": "a"}, "sk": {"N": "1"}},
        "new": {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y"}},
        "hlc": NOW_MS << LOGICAL_BITS,
        "origin": "us-east-1",
    }
    body.update(over)
    return body


def _decode_reason(body: object) -> str:
    with pytest.raises(InvalidRecord) as err:
        ChangeRecord.decode(json.dumps(body).encode() if not isinstance(body, bytes) else body)
    return err.value.reason


def _check_reason(body: dict[str, Any], max_ahead_ms: int = 60_000) -> str:
    rec = ChangeRecord.decode(orjson.dumps(body))
    with pytest.raises(InvalidRecord) as err:
        check(rec, SPEC, now_ms=NOW_MS, max_ahead_ms=max_ahead_ms)
    return err.value.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "undecodable"),
        ([1, 2], "undecodable"),
        (_body(v=2), "unknown-schema"),
        (_body(hlc=2**70), "bad-hlc"),
        (_body(hlc=-5), "bad-hlc"),
        (_body(hlc=0), "bad-hlc"),
        (_body(hlc=HLC_LIMIT), "bad-hlc"),
        (_body(hlc=1.5), "bad-hlc"),
        (_body(hlc="123"), "malformed"),
        (_body(hlc=True), "malformed"),
        (_body(table=None), "malformed"),
        (_body(keys=[1]), "malformed"),
        (_body(origin=7), "malformed"),
        (_body(event="UPSERT"), "malformed"),
        (_body(event="REMOVE"), "malformed"),  # a REMOVE with an item
        (_body(new=None), "malformed"),  # an INSERT without one
        (_body(new="item"), "malformed"),
    ],
)
def test_decode_refuses(body: object, reason: str) -> None:
    assert _decode_reason(body) == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_body(keys={"pk": {"S": "a"}}), "bad-key"),  # sort key missing
        (_body(keys={"pk": {"N": "1"}, "sk": {"N": "1"}}), "bad-key"),  # wrong type
        (_body(keys={"pk": {"S": "a"}, "sk": {"N": "1"}, "extra": {"S": "x"}}), "bad-key"),
        (_body(keys={"pk": {"S": ""}, "sk": {"N": "1"}}), "bad-key"),  # empty key value
        (_body(keys={"pk": {"S": "a" * 2049}, "sk": {"N": "1"}}), "bad-key"),
        (_body(keys={"pk": {"S": "a"}, "sk": {"N": "not-a-number"}}), "bad-key"),
        # the item's own key differs from the record's keys
        (_body(new={"pk": {"S": "b"}, "sk": {"N": "1"}}), "key-mismatch"),
        (_body(new={"x": {"S": "no key at all"}}), "key-mismatch"),
        (_body(new={"pk": {"S": "a"}, "sk": {"S": "1"}}), "key-mismatch"),
        (_body(new={"pk": {"S": "a"}, "sk": {"N": "1"}, "": {"S": "x"}}), "bad-item"),
        (_body(new={"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"Q": "?"}}), "bad-item"),
        (_body(new={"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"SS": ["d", "d"]}}), "bad-item"),
        (
            _body(new={"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "z" * 409_600}}),
            "item-too-large",
        ),
        (_body(hlc=(NOW_MS + 61_000) << LOGICAL_BITS), "clock-ahead"),
    ],
)
def test_check_refuses(body: dict[str, Any], reason: str) -> None:
    assert _check_reason(body) == reason


def test_clock_ahead_bound_is_configurable_and_never_clamped() -> None:
    body = _body(hlc=(NOW_MS + 30_000) << LOGICAL_BITS)
    assert _check_reason(body, max_ahead_ms=10_000) == "clock-ahead"
    rec = ChangeRecord.decode(orjson.dumps(body))
    check(rec, SPEC, now_ms=NOW_MS, max_ahead_ms=60_000)
    # accepted records keep their version as sent
    assert rec.version == Version((NOW_MS + 30_000) << LOGICAL_BITS, "us-east-1")


def test_valid_records_come_back_canonical() -> None:
    body = _body(
        keys={"pk": {"S": "a"}, "sk": {"N": "1.0"}},
        new={"pk": {"S": "a"}, "sk": {"N": "01"}, "s": {"NS": ["2", "1"]}},
    )
    keys, new = check(
        ChangeRecord.decode(orjson.dumps(body)), SPEC, now_ms=NOW_MS, max_ahead_ms=60_000
    )
    assert keys == {"pk": {"S": "a"}, "sk": {"N": "1"}}
    assert new is not None and new["sk"] == {"N": "1"} and new["s"] == {"NS": ["1", "2"]}
    removed = _body(event="REMOVE", new=None)
    assert check(
        ChangeRecord.decode(orjson.dumps(removed)), SPEC, now_ms=NOW_MS, max_ahead_ms=60_000
    ) == ({"pk": {"S": "a"}, "sk": {"N": "1"}}, None)
