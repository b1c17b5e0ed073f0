"""Consumed capacity: the units DynamoDB charges a request, and the wire object.

Pure functions; nothing here throttles (``regions/throttle.py`` does, with these
figures).  The HTTP layer asks for a figure only when the request set
``ReturnConsumedCapacity`` to TOTAL or INDEXES.

Arithmetic (sources in brackets):

* A read costs ``ceil(size / 4 KB)`` units, at least 1, of the whole stored item
  whatever the projection; half that when eventually consistent; a missing item
  costs the minimum [Alternator test_returnconsumedcapacity.py, run against AWS:
  missing GetItem 1 / 0.5, 4096 B -> 1, 4097 B -> 2].
* Transactional reads and writes cost twice the strongly consistent figure, a missing
  TransactGetItems item included [developer guide, transaction-apis; ExtendDB #76,
  recorded against AWS: one present + one missing item = 4].
* BatchGetItem rounds each item separately [Alternator: 3 small items at 0.5 = 1.5].
* Query and Scan add the stored sizes of every item *read* (before filter and
  projection) and round once [developer guide, CapacityUnitCalculations].  On an
  index the sizes are those of the index entries, and the index pays; a table arm of
  0 remains [developer guide LSI/GSI throughput; ExtendDB #305, against AWS].  An LSI
  read that fetches unprojected attributes also pays a read of each fetched item,
  rounded per item [developer guide, LSI.ThroughputConsiderations].
* A write costs ``ceil(max(old, new) / 1 KB)`` units, at least 1, so deleting a
  missing item costs 1 [Alternator: put over a 2 KB+ item with a short one = 3,
  delete of a missing item = 1].  A failed condition returns no ConsumedCapacity.
* Each secondary index pays for the change to what it stores, sized on its projected
  entry (table keys + index keys + projected attributes, no overhead): entering costs
  ``ceil(new)``, leaving ``ceil(old)``, a key move ``ceil(old) + ceil(new)`` (a
  delete and a put), an in-place change of the entry ``max(ceil(old), ceil(new))``,
  an unchanged entry nothing and no arm at all [developer guide GSI/LSI throughput
  rules; dynoxide src/actions/index_capacity.rs, captured against AWS eu-west-2].
* In a transaction only the table arm doubles; an index arm costs what the same
  write costs outside one; a ConditionCheck is charged as a write of the item it read
  [dynoxide #188, checked against AWS].  A replay of a completed TransactWriteItems
  (same ClientRequestToken) writes nothing and reports transactional *reads* of the
  sizes the first call was charged on [developer guide, transaction-apis
  idempotency; dynoxide #188, ExtendDB #305].

Wire shape (ConsumedCapacity): ``{TableName, CapacityUnits}`` for TOTAL, plus
``Table{CapacityUnits}`` and, only for indexes that were charged,
``GlobalSecondaryIndexes``/``LocalSecondaryIndexes`` maps for INDEXES.  Only the
transactional operations add ``ReadCapacityUnits``/``WriteCapacityUnits`` next to
each ``CapacityUnits`` [paritysuite/dynamodb-conformance #69 and ExtendDB #212, both
characterised against AWS; the AWS CLI's transact-get-items example].  ``TableName``
is the table as the request named it, an ARN included [API reference].  Batches and
transactions answer one entry per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from regions.catalog import DELETING, TableSpec
from regions.data.ops import WriteOutcome
from regions.indexes import GSI, IndexSpec, entry_for
from regions.reads import Page
from regions.types import Item, item_size

__all__ = [
    "INDEXES",
    "READ",
    "TOTAL",
    "WRITE",
    "Consumed",
    "PerTable",
    "batch_read",
    "charged_size",
    "consumed_capacity",
    "index_writes",
    "item_read",
    "item_write",
    "page_read",
    "read_units",
    "replay_read",
    "transact_read",
    "transact_writes",
    "wanted",
    "write_units",
]

TOTAL: Final = "TOTAL"
INDEXES: Final = "INDEXES"
#: the read/write split transactional operations report next to each figure
READ: Final = "ReadCapacityUnits"
WRITE: Final = "WriteCapacityUnits"

READ_UNIT_BYTES: Final = 4096
WRITE_UNIT_BYTES: Final = 1024


def _blocks(size: int, unit: int) -> int:
    # every request pays for at least one unit, an empty or missing item included
    return max(1, -(-size // unit))


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """Units of one read of ``size`` bytes (0 for a missing item)."""
    blocks = _blocks(size, READ_UNIT_BYTES)
    if transactional:
        return 2.0 * blocks
    return float(blocks) if consistent else blocks / 2


def write_units(size: int, *, transactional: bool = False) -> float:
    """Units of one write charged on ``size`` bytes."""
    return float(_blocks(size, WRITE_UNIT_BYTES) * (2 if transactional else 1))


def charged_size(old: Item | None, new: Item | None) -> int:
    """The bytes a write is charged on: the larger of the images before and after."""
    return max(item_size(old) if old is not None else 0, item_size(new) if new is not None else 0)


@dataclass
class Consumed:
    """Units one request consumed on one table, by where they were spent."""

    table: float = 0.0
    gsi: dict[str, float] = field(default_factory=dict)
    lsi: dict[str, float] = field(default_factory=dict)

    def total(self) -> float:
        return self.table + sum(self.gsi.values()) + sum(self.lsi.values())

    def add(self, other: Consumed) -> None:
        self.table += other.table
        for name, units in other.gsi.items():
            self.gsi[name] = self.gsi.get(name, 0.0) + units
        for name, units in other.lsi.items():
            self.lsi[name] = self.lsi.get(name, 0.0) + units


# --------------------------------------------------------------------------- reads


def item_read(item: Item | None, *, consistent: bool) -> Consumed:
    """GetItem: the whole stored item, whatever ProjectionExpression kept."""
    return Consumed(read_units(item_size(item) if item is not None else 0, consistent=consistent))


def transact_read(item: Item | None) -> Consumed:
    """One TransactGetItems Get."""
    size = item_size(item) if item is not None else 0
    return Consumed(read_units(size, consistent=True, transactional=True))


def batch_read(found: Iterable[Item], processed: int, *, consistent: bool) -> Consumed:
    """One BatchGetItem table: every processed key is its own read, rounded on its own;
    a key that found nothing (``processed`` minus the items found) costs the minimum."""
    units = 0.0
    hits = 0
    for item in found:
        units += read_units(item_size(item), consistent=consistent)
        hits += 1
    units += max(0, processed - hits) * read_units(0, consistent=consistent)
    return Consumed(units)


def page_read(spec: TableSpec, index: str | None, page: Page, *, consistent: bool) -> Consumed:
    """One Query or Scan page: the bytes read, rounded once, charged to what was read
    (the table, or the index with a table arm of 0), plus any LSI fetches from the
    table, each rounded on its own."""
    units = read_units(page.read_bytes, consistent=consistent)
    idx = spec.index(index) if index is not None else None
    if idx is None:
        return Consumed(units)
    out = Consumed(sum(read_units(size, consistent=consistent) for size in page.fetched_sizes))
    (out.gsi if idx.kind == GSI else out.lsi)[idx.name] = units
    return out


def replay_read(size: int) -> Consumed:
    """One action of a replayed TransactWriteItems: a transactional read of the size
    the first call was charged on."""
    return Consumed(read_units(size, consistent=True, transactional=True))


# --------------------------------------------------------------------------- writes


#: what one index stores of an item: (index hash key, index range key, data, size)
_Entry = tuple[bytes, bytes, bytes, int]


def _entry(item: Item | None, index: IndexSpec, spec: TableSpec) -> _Entry | None:
    """The index entry of an item, None when the item is not in the index.

    The table key parts only locate the entry in the store; one write never changes
    them, so placeholders do here."""
    entry = entry_for(item, index, spec.key_schema, b"", b"", 0, 1)
    return None if entry is None else (entry.hk, entry.rk, entry.data, entry.size)


def _index_units(before: _Entry | None, after: _Entry | None) -> float:
    if before is None and after is None:
        return 0.0
    if before is None:
        assert after is not None
        return write_units(after[3])
    if after is None:
        return write_units(before[3])
    if before[:2] != after[:2]:
        # a key move is a delete at the old position and a put at the new one
        return write_units(before[3]) + write_units(after[3])
    if before[2] == after[2]:
        return 0.0
    return max(write_units(before[3]), write_units(after[3]))


def index_writes(spec: TableSpec, old: Item | None, new: Item | None) -> Consumed:
    """What a write from ``old`` to ``new`` costs the table's secondary indexes (the
    table arm left at 0).  Indexes being dropped are no longer maintained, so free."""
    out = Consumed()
    for index in spec.indexes:
        if index.status == DELETING:
            continue
        units = _index_units(_entry(old, index, spec), _entry(new, index, spec))
        if units:
            (out.gsi if index.kind == GSI else out.lsi)[index.name] = units
    return out


def item_write(
    spec: TableSpec, old: Item | None, new: Item | None, *, transactional: bool = False
) -> Consumed:
    """One single-item write (PutItem, UpdateItem, DeleteItem, a BatchWriteItem request,
    a TransactWriteItems action): the table write plus each index it changed."""
    out = index_writes(spec, old, new) if spec.indexes else Consumed()
    out.table = write_units(charged_size(old, new), transactional=transactional)
    return out


def transact_writes(
    tables: Sequence[str],
    specs: Sequence[TableSpec],
    outcomes: Sequence[WriteOutcome],
    replayed_sizes: Sequence[int] | None,
) -> tuple[PerTable, str]:
    """A TransactWriteItems call's units per table and its read/write split, from its
    actions' tables (as the request named them), specs and outcomes.

    A replay (``replayed_sizes`` set, no outcomes) wrote nothing and is billed as
    reads of what the first call was charged on; a size missing from an old token
    record counts as the minimum."""
    usage = PerTable()
    if replayed_sizes is None:
        for shown, spec, outcome in zip(tables, specs, outcomes, strict=True):
            usage.add(
                spec.name, shown, item_write(spec, outcome.old, outcome.new, transactional=True)
            )
        return usage, WRITE
    for i, (shown, spec) in enumerate(zip(tables, specs, strict=True)):
        size = replayed_sizes[i] if i < len(replayed_sizes) else 0
        usage.add(spec.name, shown, replay_read(size))
    return usage, READ


# --------------------------------------------------------------------------- wire


def wanted(mode: str | None) -> bool:
    """Whether ReturnConsumedCapacity asked for a figure (NONE and absent do not)."""
    return mode in (TOTAL, INDEXES)


def _arm(units: float, split: str | None) -> dict[str, float]:
    arm = {"CapacityUnits": units}
    if split is not None:
        arm[split] = units
    return arm


def consumed_capacity(
    mode: str | None, table: str, consumed: Consumed, split: str | None = None
) -> dict[str, Any] | None:
    """The wire ConsumedCapacity for one table, or None when not asked for.

    ``table`` is the table as the request named it (an ARN stays an ARN); ``split``
    is READ or WRITE for the transactional operations, None for the others."""
    if not wanted(mode):
        return None
    out: dict[str, Any] = {"TableName": table, **_arm(consumed.total(), split)}
    if mode == INDEXES:
        out["Table"] = _arm(consumed.table, split)
        if consumed.gsi:
            out["GlobalSecondaryIndexes"] = {n: _arm(u, split) for n, u in consumed.gsi.items()}
        if consumed.lsi:
            out["LocalSecondaryIndexes"] = {n: _arm(u, split) for n, u in consumed.lsi.items()}
    return out


class PerTable:
    """One ConsumedCapacity entry per table for batches and transactions, in the order
    the request first named each table."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[str, Consumed]] = {}

    def add(self, key: str, shown: str, consumed: Consumed) -> None:
        """``key`` identifies the table; ``shown`` is how the request first named it."""
        hit = self._tables.get(key)
        if hit is None:
            self._tables[key] = (shown, Consumed())
            hit = self._tables[key]
        hit[1].add(consumed)

    def consumed_capacity(
        self, mode: str | None, split: str | None = None
    ) -> list[dict[str, Any]] | None:
        if not wanted(mode):
            return None
        out: list[dict[str, Any]] = []
        for shown, consumed in self._tables.values():
            entry = consumed_capacity(mode, shown, consumed, split)
            assert entry is not None
            out.append(entry)
        return out
