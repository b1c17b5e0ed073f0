"""The pure parts of point-in-time recovery and restores (regions/protection/):
the last-writer-wins merge of a snapshot with change records, the restorable window,
which snapshots are kept, and the restored table's spec."""

from __future__ import annotations

import itertools
import random

import pytest

from regions.catalog import CREATING, TableSpec
from regions.errors import ValidationError
from regions.indexes import IndexSpec
from regions.keys import KeyAttr, KeySchema
from regions.protection.pitr import (
    DAY_MS,
    LATEST_LAG_MS,
    LatestWins,
    kept_snapshots,
    restorable_window,
)
from regions.protection.restore import Overrides, restored_spec

K1, K2, K3 = (b"a", b""), (b"b", b""), (b"c", b"")


def _item(name: str) -> dict[str, dict[str, str]]:
    return {"p": {"S": name}}


def _merged(changes: list[tuple[tuple[bytes, bytes], tuple[int, str, int], object]]) -> dict:
    m = LatestWins()
    for key, rank, image in changes:
        m.change(key, rank, image)  # type: ignore[arg-type]
    out = {}
    for key, rank, item in [
        (K1, (5, "us", -1), _item("snap1")),
        (K2, (5, "us", -1), _item("snap2")),
    ]:
        got = m.resolve(key, rank, item)
        if got is not None:
            out[key] = got
    # what only the records know (K3 here)
    rest = list(m.rest())
    if rest:
        out[K3] = rest
    return out


def test_newer_record_replaces_and_older_loses() -> None:
    out = _merged(
        [
            (K1, (6, "eu", 10), _item("new1")),  # newer than the snapshot
            (K2, (4, "eu", 11), _item("old2")),  # older: the snapshot stays
            (K3, (7, "us", 12), _item("c")),  # a key only the records know
        ]
    )
    assert out == {K1: _item("new1"), K2: _item("snap2"), K3: [_item("c")]}


def test_remove_deletes_and_ties_go_to_the_record() -> None:
    out = _merged(
        [
            (K1, (6, "eu", 10), None),
            # a re-seed purge: REMOVE with the item's own version
            (K2, (5, "us", 11), None),
        ]
    )
    assert out == {}


def test_origin_breaks_hlc_ties_and_order_does_not_matter() -> None:
    records = [
        (K1, (9, "ap", 1), _item("from-ap")),
        (K1, (9, "eu", 2), _item("from-eu")),
        (K1, (8, "us", 3), None),
        (K3, (3, "us", 4), _item("c1")),
        (K3, (4, "us", 5), None),
        (K3, (5, "us", 6), _item("c2")),
    ]
    expected = {K1: _item("from-eu"), K2: _item("snap2"), K3: [_item("c2")]}
    for perm in itertools.islice(itertools.permutations(records), 200):
        assert _merged(list(perm)) == expected
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    assert _merged(shuffled) == expected


def test_window() -> None:
    now = 100 * DAY_MS
    assert restorable_window(None, 35, now) is None
    base = now - 3600_000
    assert restorable_window(base, 35, now) == (base, now - LATEST_LAG_MS)
    # the period bounds it once PITR has been on longer
    assert restorable_window(now - 40 * DAY_MS, 35, now) == (now - 35 * DAY_MS, now - LATEST_LAG_MS)
    # enabled this very instant: earliest and latest agree
    assert restorable_window(now, 1, now) == (now, now)


def test_kept_snapshots_keep_the_newest_before_the_window() -> None:
    now = 10 * DAY_MS
    taken = [now - 5 * DAY_MS, now - 3 * DAY_MS, now - 2 * DAY_MS, now - DAY_MS // 2]
    kept, dropped = kept_snapshots(taken, 1, now)
    assert kept == [now - 2 * DAY_MS, now - DAY_MS // 2]
    assert dropped == [now - 5 * DAY_MS, now - 3 * DAY_MS]
    assert kept_snapshots([], 1, now) == ([], [])


def _source() -> TableSpec:
    schema = KeySchema(KeyAttr("p", "S"), KeyAttr("s", "N"))
    return TableSpec(
        name="src",
        table_id="id-1",
        key_schema=schema,
        attributes={"p": "S", "s": "N", "g": "S", "l": "S"},
        created_at=1.0,
        billing_mode="PAY_PER_REQUEST",
        indexes=(
            IndexSpec("by-g", "GSI", 1, KeySchema(KeyAttr("g", "S"))),
            IndexSpec("by-l", "LSI", 2, KeySchema(KeyAttr("p", "S"), KeyAttr("l", "S"))),
        ),
        tags={"a": "b"},
    )


def test_restored_spec() -> None:
    summary = {"SourceTableArn": "x", "RestoreDateTime": 1.0, "RestoreInProgress": True}
    spec = restored_spec(_source(), "dst", Overrides(), partitions=4, summary=summary)
    assert spec.status == CREATING and spec.name == "dst" and spec.table_id != "id-1"
    assert [i.name for i in spec.indexes] == ["by-g", "by-l"] and spec.tags == {}
    assert spec.restore == summary and spec.partitions == 4
    only_lsi = restored_spec(_source(), "dst", Overrides(gsis=()), partitions=4, summary=summary)
    assert [i.name for i in only_lsi.indexes] == ["by-l"]
    assert "g" not in only_lsi.attributes
    provisioned = restored_spec(
        _source(),
        "dst",
        Overrides(billing_mode="PROVISIONED", read_capacity=3, write_capacity=4),
        partitions=4,
        summary=summary,
    )
    assert (provisioned.read_capacity, provisioned.write_capacity) == (3, 4)
    assert provisioned.index("by-g").read_capacity == 3  # type: ignore[union-attr]
    for bad in (
        Overrides(billing_mode="PROVISIONED"),
        Overrides(read_capacity=1, write_capacity=1),
        Overrides(gsis=({"IndexName": "nope"},)),
        Overrides(
            gsis=({"IndexName": "by-g", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]},)
        ),
    ):
        with pytest.raises(ValidationError):
            restored_spec(_source(), "dst", bad, partitions=4, summary=summary)
    with pytest.raises(ValidationError):
        restored_spec(_source(), "x", Overrides(), partitions=4, summary=summary)
