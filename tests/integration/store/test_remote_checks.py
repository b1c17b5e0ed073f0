"""Invariant 9 at the store: remote records are checked before they touch it, and the
applier puts aside what it must not apply without holding up the rest (SQLite and
PostgreSQL alike)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from regions.catalog import Replica
from regions.changes import ChangeRecord, InvalidRecord
from regions.control import NewTable
from regions.errors import ValidationError
from regions.region import Region
from regions.settings import RegionSettings
from regions.versions import LOGICAL_BITS, Version, wall_ms
from replicator.applier import Applier
from replicator.kafka import change_topic
from replicator.lag import LagTracker
from replicator.record_auth import ReplicationKeys

pytestmark = pytest.mark.integration

KEYS = ReplicationKeys(("store-test-replication-key",))
SCHEMA = {
    "key_schema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "attribute_definitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "billing_mode": "PAY_PER_REQUEST",
}


async def _table(region: Region) -> str:
    await region.control.create_table(NewTable(name="items", **SCHEMA))  # type: ignore[arg-type]
    tid, spec = await region.catalog.table("items")
    await region.catalog.save(
        tid, spec.with_replicas(tuple(Replica(r) for r in ("eu-west-1", "us-east-1")))
    )
    return spec.table_id


def _record(table_id: str, pk: str, *, hlc: int | None = None, **item: Any) -> ChangeRecord:
    return ChangeRecord(
        table="items",
        table_id=table_id,
        event="INSERT",
        keys={"pk": {"S": pk}},
        new_image={"pk": {"S": pk}, **item},
        old_image=None,
        version=Version(hlc or (wall_ms() << LOGICAL_BITS), "eu-west-1"),
    )


async def test_invalid_records_are_refused_and_valid_ones_applied(region: Region) -> None:
    table_id = await _table(region)
    clock_before = region.clock.peek()
    future = (wall_ms() + 3_600_000) << LOGICAL_BITS
    batch = [
        _record(table_id, "good", v={"S": "1"}),
        _record(table_id, "future", hlc=future),
        _record("another-id", "stranger"),
        ChangeRecord(
            table="items",
            table_id=table_id,
            event="INSERT",
            keys={"pk": {"S": "here"}},
            new_image={"pk": {"S": "there"}},
            old_image=None,
            version=Version(wall_ms() << LOGICAL_BITS, "eu-west-1"),
        ),
        _record(table_id, "good2", n={"N": "001.50"}),
    ]
    # a peer's push (no ``rejected``): one bad record refuses the batch, nothing written
    with pytest.raises(ValidationError, match="clock-ahead"):
        await region.data.apply_remote(batch)
    assert await region.data.get_item("items", {"pk": {"S": "good"}}) is None
    # the applier's way: the valid ones apply, each invalid one is named with its reason
    outcomes: list[str] = []
    rejected: dict[int, InvalidRecord] = {}
    stats = await region.data.apply_remote(batch, outcomes=outcomes, rejected=rejected)
    assert outcomes == ["applied", "rejected", "rejected", "rejected", "applied"]
    assert {i: e.reason for i, e in rejected.items()} == {
        1: "clock-ahead",
        2: "unknown-table-id",
        3: "key-mismatch",
    }
    assert (stats.applied, stats.rejected) == (2, 3)
    for pk in ("future", "stranger", "here", "there"):
        assert await region.data.get_item("items", {"pk": {"S": pk}}) is None
    # stored canonical, like a local write
    assert await region.data.get_item("items", {"pk": {"S": "good2"}}) == {
        "pk": {"S": "good2"},
        "n": {"N": "1.5"},
    }
    # the far-future version did not move the clock; the valid ones did
    assert clock_before < region.clock.peek() < future


def _PoisonedRegion(settings: RegionSettings) -> Region:
    """A region whose apply raises for one key, as a bug or a corrupt row would."""
    region = Region(settings)
    apply = region.data.apply_remote

    async def poisoned(records: list[ChangeRecord], **kw: Any) -> Any:
        if any(r.keys == {"pk": {"S": "poison"}} for r in records):
            raise RuntimeError("boom")
        return await apply(records, **kw)

    region.data.apply_remote = poisoned  # type: ignore[method-assign]
    return region


def _message(
    offset: int, rec: ChangeRecord, owner: str = "eu-west-1"
) -> ConsumerRecord[bytes, bytes]:
    value = rec.encode()
    key = rec.message_key()
    return ConsumerRecord(
        change_topic(owner),
        0,
        offset,
        0,
        0,
        key,
        value,
        None,
        len(key),
        len(value),
        tuple(KEYS.sign(owner, key, value)),
    )


async def test_a_record_whose_apply_raises_is_quarantined_alone(store_url: str) -> None:
    region = _PoisonedRegion(RegionSettings(name="us-east-1", store_url=store_url, partitions=4))
    await region.open()
    try:
        table_id = await _table(region)
        applier = Applier(region, "127.0.0.1:9", ["eu-west-1"], LagTracker("us-east-1"), KEYS)
        recs = [_record(table_id, pk) for pk in ("a", "poison", "b")]
        tp = TopicPartition(change_topic("eu-west-1"), 0)
        messages = [(tp, _message(10 + i, r)) for i, r in enumerate(recs)]
        await applier._apply(["eu-west-1"] * 3, recs, messages, [])
        assert await region.data.get_item("items", {"pk": {"S": "a"}}) is not None
        assert await region.data.get_item("items", {"pk": {"S": "b"}}) is not None
        entries = await applier.quarantine.entries()
        assert [(e["offset"], e["reason"], e["table"]) for e in entries] == [
            (11, "apply-error", "items")
        ]
        assert "RuntimeError: boom" in entries[0]["detail"]
        assert applier.per_source["eu-west-1"].quarantined == 1
        assert applier.per_source["eu-west-1"].applied == 2
        # a store that does not answer is the store's failure, not the record's:
        # the poll is retried later, nothing is put aside
        await region.store.close()
        with pytest.raises(Exception):  # noqa: B017 - whatever the backend raises
            await applier._apply(["eu-west-1"], [recs[1]], [messages[1]], [])
        assert applier.totals.quarantined == 1
    finally:
        await region.close()


async def test_the_applier_counts_conflicts_lost_and_duplicates_apart(region: Region) -> None:
    """/healthz's applier counts: a last-writer-wins loser (in the conflict log) is not a
    redelivery, and neither is data loss."""
    table_id = await _table(region)
    applier = Applier(region, "127.0.0.1:9", ["eu-west-1"], LagTracker("us-east-1"), KEYS)
    tp = TopicPartition(change_topic("eu-west-1"), 0)
    now = wall_ms() << LOGICAL_BITS
    newer = _record(table_id, "k", hlc=now + 10, v={"S": "new"})
    older = _record(table_id, "k", hlc=now, v={"S": "old"})
    batch = [newer, newer, older]  # applied, redelivered, loses to the newer version
    messages = [(tp, _message(i, r)) for i, r in enumerate(batch)]
    for rec, msg in zip(batch, messages, strict=True):
        await applier._apply(["eu-west-1"], [rec], [msg], [])
    assert (applier.totals.applied, applier.totals.duplicates, applier.totals.lost) == (1, 1, 1)
    counts = applier.per_source["eu-west-1"]
    assert (counts.applied, counts.duplicates, counts.lost) == (1, 1, 1)
    assert not hasattr(applier, "lost")
