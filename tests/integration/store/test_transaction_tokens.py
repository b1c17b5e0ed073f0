"""ClientRequestToken records in the store's gt_meta table, on SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
import pytest

from regions.control import NewTable
from regions.data import Put
from regions.region import Region
from regions.transactions import (
    TOKEN_WINDOW_MS,
    TransactionInProgress,
    WriteAction,
    purge_expired_tokens,
    transact_write,
)
from regions.versions import wall_ms

pytestmark = pytest.mark.integration

SCHEMA = {
    "key_schema": [{"AttributeName": "p", "KeyType": "HASH"}],
    "attribute_definitions": [{"AttributeName": "p", "AttributeType": "S"}],
    "billing_mode": "PAY_PER_REQUEST",
}


async def _meta(region: Region, key: str) -> dict[str, object] | None:
    async with region.store.read() as tx:
        raw = await tx.get_meta(key)
    return None if raw is None else dict(orjson.loads(raw))


async def _set(region: Region, key: str, record: dict[str, object]) -> None:
    async with region.store.write() as tx:
        await tx.set_meta(key, orjson.dumps(record).decode())


def _put(value: str) -> list[WriteAction]:
    return [WriteAction(Put("tokens", item={"p": {"S": "k"}, "v": {"S": value}}))]


async def test_token_is_recorded_and_replayed(region: Region) -> None:
    await region.control.create_table(NewTable(name="tokens", **SCHEMA))  # type: ignore[arg-type]
    await transact_write(region, _put("first"), token="tok", digest="d1")
    record = await _meta(region, "txtoken:tok")
    assert record is not None and record["hash"] == "d1" and record["state"] == "done"
    await region.data.put_item("tokens", {"p": {"S": "k"}, "v": {"S": "changed"}})
    await transact_write(region, _put("first"), token="tok", digest="d1")
    assert await region.data.get_item("tokens", {"p": {"S": "k"}}) == {"p": {"S": "k"}, "v": {"S": "changed"}}


async def test_pending_token_blocks_and_writes_nothing(region: Region) -> None:
    await region.control.create_table(NewTable(name="tokens", **SCHEMA))  # type: ignore[arg-type]
    await _set(region, "txtoken:busy", {"hash": "d", "state": "pending", "at": wall_ms()})
    with pytest.raises(TransactionInProgress):
        await transact_write(region, _put("x"), token="busy", digest="d")
    assert await region.data.get_item("tokens", {"p": {"S": "k"}}) is None
    assert (await _meta(region, "txtoken:busy")) == {"hash": "d", "state": "pending", "at": pytest.approx(wall_ms(), abs=60_000)}


async def test_purge_drops_expired_and_void_records_only(region: Region) -> None:
    now = wall_ms()
    await _set(region, "txtoken:old", {"hash": "d", "state": "done", "at": now - TOKEN_WINDOW_MS - 1})
    await _set(region, "txtoken:void", {"hash": "d", "state": "void", "at": now})
    await _set(region, "txtoken:fresh", {"hash": "d", "state": "done", "at": now})
    await _set(region, "other", {"not": "a token"})
    assert await purge_expired_tokens(region, now) == 2
    assert await _meta(region, "txtoken:old") is None
    assert await _meta(region, "txtoken:void") is None
    assert await _meta(region, "txtoken:fresh") is not None
    assert await _meta(region, "other") is not None
