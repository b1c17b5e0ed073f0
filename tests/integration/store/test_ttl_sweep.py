"""The TTL sweeper against a real store (SQLite and PostgreSQL): what it deletes,
how it marks those deletes, and that it re-checks expiry inside the delete."""

from __future__ import annotations

from typing import Any

import pytest

from regions import ttl
from regions.changes import REMOVE, ChangeRecord
from regions.control import NewTable
from regions.data import WriteOutcome
from regions.region import Region

pytestmark = pytest.mark.integration

NOW = 1_700_000_000.0
PAST = str(int(NOW) - 60)
FUTURE = str(int(NOW) + 3600)

SCHEMA: dict[str, Any] = {
    "key_schema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "attribute_definitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
    ],
    "billing_mode": "PAY_PER_REQUEST",
}


def _key(pk: str, sk: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


async def _put(region: Region, table: str, pk: str, sk: int, exp: dict[str, Any] | None) -> None:
    item = _key(pk, sk)
    if exp is not None:
        item["exp"] = exp
    await region.data.put_item(table, item)


async def _changes(region: Region, table: str) -> list[ChangeRecord]:
    tid, spec = await region.catalog.table(table)
    rows = []
    async with region.store.read() as tx:
        for part in range(spec.partitions):
            rows += await tx.changes_after(tid, part, 0, 10_000)
    return sorted(
        (ChangeRecord.decode_stored(r.record, r.seq, r.created_ms) for r in rows),
        key=lambda c: c.seq,
    )


async def test_sweep_deletes_exactly_the_expired_items_over_many_pages(region: Region) -> None:
    await region.control.create_table(NewTable(name="expiring", **SCHEMA))
    await region.control.create_table(NewTable(name="no-ttl", **SCHEMA))
    expected_gone: set[tuple[str, int]] = set()
    # more items than one sweep page (256), expired ones spread over all partitions
    for i in range(300):
        pk = f"p{i % 37}"
        kind = i % 5
        exp = [
            {"N": PAST},
            {"N": FUTURE},
            {"S": PAST},
            None,
            {"N": "162777600"},  # 1975: more than five years old, ignored
        ][kind]
        await _put(region, "expiring", pk, i, exp)
        if kind == 0:
            expected_gone.add((pk, i))
    await _put(region, "no-ttl", "x", 1, {"N": PAST})
    await ttl.update_ttl(region, "expiring", enabled=True, attribute="exp")

    assert await ttl.sweep_once(region, now=NOW) == len(expected_gone) == 60
    remaining: set[tuple[str, int]] = set()
    start = None
    while True:
        page = await region.data.scan("expiring", exclusive_start_key=start)
        remaining |= {(it["pk"]["S"], int(it["sk"]["N"])) for it in page.items}
        if page.last_evaluated_key is None:
            break
        start = page.last_evaluated_key
    assert len(remaining) == 240
    assert remaining.isdisjoint(expected_gone)
    # a table without TTL keeps its "expired" item
    assert await region.data.get_item("no-ttl", _key("x", 1)) is not None
    # nothing left to do
    assert await ttl.sweep_once(region, now=NOW) == 0


async def test_ttl_deletes_carry_the_service_mark(region: Region) -> None:
    await region.control.create_table(NewTable(name="marked", **SCHEMA))
    await _put(region, "marked", "a", 1, {"N": PAST})
    await _put(region, "marked", "b", 2, {"N": PAST})
    await ttl.update_ttl(region, "marked", enabled=True, attribute="exp")
    # a user delete of an expired item is still a user delete
    await region.data.delete_item("marked", _key("b", 2))
    assert await ttl.sweep_once(region, now=NOW) == 1

    removes = [c for c in await _changes(region, "marked") if c.event == REMOVE]
    assert [(c.keys["pk"]["S"], c.service) for c in removes] == [("b", False), ("a", True)]
    ttl_delete = removes[1]
    assert ttl_delete.old_image is not None and ttl_delete.old_image["exp"] == {"N": PAST}
    assert ttl_delete.new_image is None
    # the replication message never carries the mark: other regions see a plain delete
    assert b"svc" not in ttl_delete.encode()


async def test_item_rewritten_after_the_scan_survives(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    await region.control.create_table(NewTable(name="race", **SCHEMA))
    await _put(region, "race", "a", 1, {"N": PAST})
    await _put(region, "race", "b", 2, {"N": PAST})
    await ttl.update_ttl(region, "race", enabled=True, attribute="exp")
    original = region.data.delete_item

    async def rewrite_first(table: str, key: Any, **kw: Any) -> WriteOutcome:
        # a client renews "a" between the sweeper's scan and its delete
        if key == _key("a", 1):
            await _put(region, "race", "a", 1, {"N": FUTURE})
        return await original(table, key, **kw)

    monkeypatch.setattr(region.data, "delete_item", rewrite_first)
    assert await ttl.sweep_once(region, now=NOW) == 1
    assert await region.data.get_item("race", _key("a", 1)) == {**_key("a", 1), "exp": {"N": FUTURE}}
    assert await region.data.get_item("race", _key("b", 2)) is None


async def test_disabled_ttl_deletes_nothing(region: Region) -> None:
    await region.control.create_table(NewTable(name="off", **SCHEMA))
    await _put(region, "off", "a", 1, {"N": PAST})
    await ttl.update_ttl(region, "off", enabled=True, attribute="exp", now=NOW - 7200)
    await ttl.update_ttl(region, "off", enabled=False, attribute="exp", now=NOW - 3600)
    assert await ttl.sweep_once(region, now=NOW) == 0
    assert await region.data.get_item("off", _key("a", 1)) is not None


async def test_ttl_setting_is_stored(region: Region) -> None:
    await region.control.create_table(NewTable(name="kept", **SCHEMA))
    await ttl.update_ttl(region, "kept", enabled=True, attribute="exp", now=NOW)
    # a fresh Region over the same store (a restart) reads the setting back
    again = Region(region.settings)
    await again.open()
    try:
        assert await ttl.ttl_attribute(again, "kept") == "exp"
        assert (await again.control.table_spec("kept")).ttl_changed_at == NOW
    finally:
        await again.close()
