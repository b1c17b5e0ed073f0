"""Table spec changes (TagResource, UpdateTimeToLive, resource policies) read, change
and store the spec in one transaction under the table's spec lock
(``CatalogCache.update``): concurrent ones build on each other, on SQLite and on
PostgreSQL, whose write groups run them side by side."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from regions import tags
from regions.catalog import TableSpec
from regions.control.table_changes import TableUpdate
from regions.errors import ValidationError
from regions.region import Region
from tests.integration.store.test_region_store import _table

pytestmark = pytest.mark.integration


async def test_concurrent_tag_changes_all_land(region: Region) -> None:
    await _table(region)
    arn = region.arn("items")
    await asyncio.gather(*(tags.tag(region, arn, {f"k{i}": str(i)}) for i in range(24)))
    assert await tags.list_tags(region, arn) == {f"k{i}": str(i) for i in range(24)}
    await asyncio.gather(*(tags.untag(region, arn, [f"k{i}"]) for i in range(0, 24, 2)))
    assert await tags.list_tags(region, arn) == {f"k{i}": str(i) for i in range(1, 24, 2)}


async def test_a_change_that_raises_stores_nothing(region: Region) -> None:
    await _table(region)
    arn = region.arn("items")
    await tags.tag(region, arn, {"keep": "1"})

    def refuse(spec: TableSpec) -> TableSpec:
        raise ValidationError("no")

    with pytest.raises(ValidationError):
        await region.control.update_spec("items", refuse, replicate=False)
    # the limit is checked against the tags stored when the change is made
    await tags.tag(region, arn, {f"t{i}": "v" for i in range(49)})
    with pytest.raises(ValidationError, match="exceeds the limit of 50"):
        await tags.tag(region, arn, {"one-more": "v"})
    spec = await region.control.table_spec("items")
    assert len(spec.tags) == 50 and "one-more" not in spec.tags
    changed = await region.control.update_spec(
        "items", lambda s: replace(s, tags={"only": "x"}), replicate=False
    )
    assert changed.tags == {"only": "x"} == (await region.control.table_spec("items")).tags


async def test_update_table_and_tag_changes_at_once_keep_both(region: Region) -> None:
    """UpdateTable computes its change on the stored spec too: deletion protection
    switched on while tags are being set keeps every tag, and the tags keep it."""
    await _table(region)
    arn = region.arn("items")
    await asyncio.gather(
        *(tags.tag(region, arn, {f"k{i}": "v"}) for i in range(10)),
        # reads the spec while the tag changes wait for their transactions
        region.control.update_table("items", TableUpdate(deletion_protection=True)),
    )
    spec = await region.control.table_spec("items")
    assert spec.deletion_protection is True
    assert set(spec.tags) == {f"k{i}" for i in range(10)}
