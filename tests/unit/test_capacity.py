"""regions/capacity.py: DynamoDB's capacity arithmetic and the ConsumedCapacity shape.

Index cases mirror measurements recorded against AWS (dynoxide's
src/actions/index_capacity.rs captures: S1-S7, R1-R3, L1-L2); the rest follow the
developer guide and Alternator's test_returnconsumedcapacity.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from regions import capacity
from regions.capacity import Consumed, PerTable
from regions.catalog import DELETING, TableSpec
from regions.data import WriteOutcome
from regions.indexes import GSI, LSI, IndexSpec
from regions.keys import KeyAttr, KeySchema
from regions.reads import Page
from regions.types import Item, item_size


def s(v: str) -> dict[str, str]:
    return {"S": v}


def sized(size: int, **keys: str) -> Item:
    """An item of exactly ``size`` bytes: the given S attributes plus padding in ``f``."""
    item: Item = {k: s(v) for k, v in keys.items()}
    rest = size - item_size(item) - len("f")
    assert rest >= 0
    item["f"] = s("x" * rest)
    assert item_size(item) == size
    return item


TABLE_KEYS = KeySchema(KeyAttr("pk", "S"), KeyAttr("sk", "S"))
GSI_INCLUDE = IndexSpec("gsi-inc", GSI, 1, KeySchema(KeyAttr("gsiPk", "S")), "INCLUDE", ("proj",))
GSI_ALL = IndexSpec("gsi-all", GSI, 2, KeySchema(KeyAttr("gsiPk", "S")), "ALL")
GSI_KEYS = IndexSpec("gsi-keys", GSI, 3, KeySchema(KeyAttr("gsiPk", "S")), "KEYS_ONLY")
LSI_INCLUDE = IndexSpec(
    "lsi-inc", LSI, 4, KeySchema(KeyAttr("pk", "S"), KeyAttr("lsiSk", "S")), "INCLUDE", ("proj",)
)


def spec(*indexes: IndexSpec) -> TableSpec:
    return TableSpec("t", "id", TABLE_KEYS, {"pk": "S", "sk": "S"}, 0.0, indexes=indexes)


def item(**attrs: str) -> Item:
    return {k: s(v) for k, v in attrs.items()}


def pad(n: int) -> str:
    return "x" * n


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("size", "strong", "eventual", "transactional"),
    [
        (0, 1.0, 0.5, 2.0),  # a missing item costs the minimum
        (1, 1.0, 0.5, 2.0),
        (4095, 1.0, 0.5, 2.0),
        (4096, 1.0, 0.5, 2.0),
        (4097, 2.0, 1.0, 4.0),
        (8192, 2.0, 1.0, 4.0),
        (8193, 3.0, 1.5, 6.0),
        (400 * 1024, 100.0, 50.0, 200.0),
    ],
)
def test_read_units(size: int, strong: float, eventual: float, transactional: float) -> None:
    assert capacity.read_units(size, consistent=True) == strong
    assert capacity.read_units(size, consistent=False) == eventual
    # transactional reads are strongly consistent, doubled, whatever ConsistentRead says
    assert capacity.read_units(size, consistent=False, transactional=True) == transactional
    assert isinstance(capacity.read_units(size, consistent=True), float)


@pytest.mark.parametrize(
    ("size", "units", "transactional"),
    [
        (0, 1.0, 2.0),  # deleting a missing item costs 1
        (1, 1.0, 2.0),
        (1023, 1.0, 2.0),
        (1024, 1.0, 2.0),
        (1025, 2.0, 4.0),
        (2048, 2.0, 4.0),
        (2049, 3.0, 6.0),
        (400 * 1024, 400.0, 800.0),
    ],
)
def test_write_units(size: int, units: float, transactional: float) -> None:
    assert capacity.write_units(size) == units
    assert capacity.write_units(size, transactional=True) == transactional
    assert isinstance(capacity.write_units(size), float)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, None, 0),
        (None, 1500, 1500),
        (3000, None, 3000),
        (2049, 10, 2049),  # a shrinking overwrite is charged on the old image
        (10, 2049, 2049),
    ],
)
def test_charged_size_is_the_larger_image(old: int | None, new: int | None, expected: int) -> None:
    o = sized(old, p="k") if old is not None else None
    n = sized(new, p="k") if new is not None else None
    assert capacity.charged_size(o, n) == expected


# --------------------------------------------------------------------------- reads


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [
        (None, True, 1.0),
        (None, False, 0.5),
        (4096, True, 1.0),
        (4097, True, 2.0),
        (4097, False, 1.0),
    ],
)
def test_item_read(size: int | None, consistent: bool, units: float) -> None:
    got = capacity.item_read(sized(size, p="k") if size else None, consistent=consistent)
    assert got == Consumed(units)


def test_transact_read_doubles_and_charges_a_miss() -> None:
    assert capacity.transact_read(None) == Consumed(2.0)
    assert capacity.transact_read(sized(4097, p="k")) == Consumed(4.0)


def test_batch_read_rounds_each_item_and_charges_misses() -> None:
    found = [sized(100, p="a"), sized(4097, p="b")]
    # three keys read, two found: 1 + 2 + the miss's 1 (summed bytes would round to 2)
    assert capacity.batch_read(found, 3, consistent=True) == Consumed(4.0)
    assert capacity.batch_read(found, 3, consistent=False) == Consumed(2.0)
    # Alternator: three small items eventually consistent = 1.5
    assert capacity.batch_read(
        [item(p="1"), item(p="2"), item(p="3")], 3, consistent=False
    ) == Consumed(1.5)


def _page(read_bytes: int, fetched: tuple[int, ...] = ()) -> Page:
    return Page([], 0, 0, None, read_bytes, fetched)


@pytest.mark.parametrize(
    ("read_bytes", "consistent", "units"),
    [
        (0, True, 1.0),
        (0, False, 0.5),
        (4096, True, 1.0),
        (4097, True, 2.0),
        (3 * 4096 + 1, False, 2.0),
    ],
)
def test_page_read_rounds_the_sum_once(read_bytes: int, consistent: bool, units: float) -> None:
    assert capacity.page_read(spec(), None, _page(read_bytes), consistent=consistent) == Consumed(
        units
    )


def test_page_read_on_an_index_charges_the_index() -> None:
    t = spec(GSI_INCLUDE, LSI_INCLUDE)
    assert capacity.page_read(t, "gsi-inc", _page(5000), consistent=False) == Consumed(
        0.0, {"gsi-inc": 1.0}
    )
    assert capacity.page_read(t, "lsi-inc", _page(5000), consistent=True) == Consumed(
        0.0, {}, {"lsi-inc": 2.0}
    )


def test_lsi_fetches_are_table_reads_rounded_per_item() -> None:
    # the developer guide's example: 4 entries of 200 B (rounded once: 1) plus 4 fetched
    # items of 300 B (each rounded: 4)
    got = capacity.page_read(spec(LSI_INCLUDE), "lsi-inc", _page(800, (300,) * 4), consistent=True)
    assert got == Consumed(4.0, {}, {"lsi-inc": 1.0})
    assert got.total() == 5.0


def test_replay_read() -> None:
    assert capacity.replay_read(1500) == Consumed(2.0)
    assert capacity.replay_read(9 * 1024) == Consumed(6.0)


# --------------------------------------------------------------------------- writes

_WRITE_CASES: list[tuple[str, IndexSpec, Item | None, Item | None, float | None]] = [
    (
        "absent-both",
        GSI_INCLUDE,
        item(pk="a", sk="1", other="o"),
        item(pk="a", sk="1", other="p"),
        None,
    ),
    ("missing-both", GSI_INCLUDE, None, None, None),
    ("join", GSI_INCLUDE, None, item(pk="v1", sk="1", gsiPk="g", proj="p"), 1.0),
    # S7: REMOVE of the key of a 3017 B entry
    (
        "leave",
        GSI_INCLUDE,
        item(pk="s7", sk="1", gsiPk="g", proj=pad(3000)),
        item(pk="s7", sk="1", proj=pad(3000)),
        3.0,
    ),
    # S6: delete of a 3017 B entry
    ("delete", GSI_INCLUDE, item(pk="s6", sk="1", gsiPk="g", proj=pad(3000)), None, 3.0),
    ("delete-non-member", GSI_INCLUDE, item(pk="c", sk="1", other="o"), None, None),
    (
        "identical",
        GSI_INCLUDE,
        item(pk="v", sk="1", gsiPk="g", proj="p"),
        item(pk="v", sk="1", gsiPk="g", proj="p"),
        None,
    ),
    (
        "outside-include",
        GSI_INCLUDE,
        item(pk="b", sk="1", gsiPk="g", other="o"),
        item(pk="b", sk="1", gsiPk="g", other="o2"),
        None,
    ),
    (
        "outside-keys-only",
        GSI_KEYS,
        item(pk="b", sk="1", gsiPk="g", other="o"),
        item(pk="b", sk="1", gsiPk="g", other="o2"),
        None,
    ),
    (
        "outside-but-all",
        GSI_ALL,
        item(pk="b", sk="1", gsiPk="g", other="o"),
        item(pk="b", sk="1", gsiPk="g", other="o2"),
        1.0,
    ),
    # S2/S3: in place, charged on the larger entry
    (
        "shrink",
        GSI_INCLUDE,
        item(pk="s2", sk="1", gsiPk="g", proj=pad(3000)),
        item(pk="s2", sk="1", gsiPk="g", proj="p"),
        3.0,
    ),
    (
        "grow",
        GSI_INCLUDE,
        item(pk="s2", sk="1", gsiPk="g", proj="p"),
        item(pk="s2", sk="1", gsiPk="g", proj=pad(3000)),
        3.0,
    ),
    # R1/R2: equal sizes in place round once per image, not on the sum
    (
        "in-place-617",
        GSI_INCLUDE,
        item(pk="r1", sk="1", gsiPk="g", proj=pad(600)),
        item(pk="r1", sk="1", gsiPk="g", proj="y" * 600),
        1.0,
    ),
    (
        "in-place-1517",
        GSI_INCLUDE,
        item(pk="r2", sk="1", gsiPk="g", proj=pad(1500)),
        item(pk="r2", sk="1", gsiPk="g", proj="y" * 1500),
        2.0,
    ),
    # S4/S5: a key move is a delete plus a put, each rounded on its own entry
    (
        "move-1517",
        GSI_INCLUDE,
        item(pk="s4", sk="1", gsiPk="A", proj=pad(1500)),
        item(pk="s4", sk="1", gsiPk="B", proj=pad(1500)),
        4.0,
    ),
    (
        "move-3017-to-small",
        GSI_INCLUDE,
        item(pk="s5", sk="1", gsiPk="A", proj=pad(3000)),
        item(pk="s5", sk="1", gsiPk="B", proj="p"),
        4.0,
    ),
    (
        "move-small",
        GSI_INCLUDE,
        item(pk="b", sk="1", gsiPk="g"),
        item(pk="b", sk="1", gsiPk="g2"),
        2.0,
    ),
    # S1: sizing ignores what the index does not project
    (
        "unprojected-big",
        GSI_INCLUDE,
        None,
        item(pk="s1", sk="1", gsiPk="g", proj="p", other=pad(3000)),
        1.0,
    ),
    (
        "projected-big",
        GSI_ALL,
        None,
        item(pk="s1", sk="1", gsiPk="g", proj="p", other=pad(3000)),
        3.0,
    ),
    # L1/L2: LSIs follow the same rules
    (
        "lsi-grow",
        LSI_INCLUDE,
        item(pk="l1", sk="1", lsiSk="L", proj="p"),
        item(pk="l1", sk="1", lsiSk="L", proj=pad(3000)),
        3.0,
    ),
    (
        "lsi-move",
        LSI_INCLUDE,
        item(pk="l2", sk="1", lsiSk="A", proj=pad(3000)),
        item(pk="l2", sk="1", lsiSk="B", proj="p"),
        4.0,
    ),
    ("lsi-sparse-join", LSI_INCLUDE, item(pk="sp", sk="1"), item(pk="sp", sk="1", lsiSk="L"), 1.0),
    ("lsi-sparse-leave", LSI_INCLUDE, item(pk="sp", sk="1", lsiSk="L"), item(pk="sp", sk="1"), 1.0),
]


@pytest.mark.parametrize(
    ("index", "old", "new", "units"),
    [c[1:] for c in _WRITE_CASES],
    ids=[c[0] for c in _WRITE_CASES],
)
def test_index_writes(
    index: IndexSpec, old: Item | None, new: Item | None, units: float | None
) -> None:
    got = capacity.index_writes(spec(index), old, new)
    arms = got.gsi if index.kind == GSI else got.lsi
    other = got.lsi if index.kind == GSI else got.gsi
    # an index the write did not change has no arm at all, never a zero
    assert arms == ({} if units is None else {index.name: units})
    assert other == {}
    assert got.table == 0.0


def test_entry_sizes_match_the_capture() -> None:
    # the capture's 3017 B entry: pk(2+2) + sk(2+1) + gsiPk(5+1) + proj(4+3000)
    entry = {"pk": s("s7"), "sk": s("1"), "gsiPk": s("g"), "proj": s(pad(3000))}
    assert item_size(entry) == 3017


def test_deleting_index_costs_nothing() -> None:
    dropping = IndexSpec("old", GSI, 9, KeySchema(KeyAttr("gsiPk", "S")), "ALL", status=DELETING)
    assert (
        capacity.index_writes(spec(dropping), None, item(pk="a", sk="1", gsiPk="g")) == Consumed()
    )


@pytest.mark.parametrize(
    ("old", "new", "table", "tx_table"),
    [
        (None, 1024, 1.0, 2.0),
        (None, 1025, 2.0, 4.0),
        (2049, 10, 3.0, 6.0),  # Alternator: a short put over a 2 KB+ item costs 3
        (3 * 1024, None, 3.0, 6.0),  # dynoxide #188: deleting a 3 KB item in a transaction = 6
        (None, None, 1.0, 2.0),  # delete of a missing item
    ],
)
def test_item_write_table_arm(
    old: int | None, new: int | None, table: float, tx_table: float
) -> None:
    o = sized(old, pk="a", sk="1") if old is not None else None
    n = sized(new, pk="a", sk="1") if new is not None else None
    assert capacity.item_write(spec(), o, n) == Consumed(table)
    assert capacity.item_write(spec(), o, n, transactional=True) == Consumed(tx_table)


def test_transactions_double_the_table_arm_only() -> None:
    t = spec(GSI_INCLUDE, LSI_INCLUDE)
    old = item(pk="a", sk="1", gsiPk="A", lsiSk="L", proj="p")
    new = item(pk="a", sk="1", gsiPk="B", lsiSk="L", proj="q")
    plain = capacity.item_write(t, old, new)
    assert plain == Consumed(1.0, {"gsi-inc": 2.0}, {"lsi-inc": 1.0})
    assert plain.total() == 4.0
    tx = capacity.item_write(t, old, new, transactional=True)
    assert tx == Consumed(2.0, {"gsi-inc": 2.0}, {"lsi-inc": 1.0})
    # an unchanged item (a ConditionCheck) is charged on the image it read
    assert capacity.item_write(t, old, old, transactional=True) == Consumed(2.0)


# --------------------------------------------------------------------------- wire


@pytest.mark.parametrize("mode", [None, "NONE"])
def test_not_asked_gives_nothing(mode: str | None) -> None:
    assert capacity.consumed_capacity(mode, "t", Consumed(1.0)) is None
    per = PerTable()
    per.add("t", "t", Consumed(1.0))
    assert per.consumed_capacity(mode) is None
    assert not capacity.wanted(mode)


_MIXED = Consumed(1.0, {"g1": 2.0}, {"l1": 1.0})

_WIRE_CASES: list[tuple[str, str, Consumed, str | None, dict[str, Any]]] = [
    ("total", "TOTAL", Consumed(0.5), None, {"TableName": "t", "CapacityUnits": 0.5}),
    ("total-indexes-summed", "TOTAL", _MIXED, None, {"TableName": "t", "CapacityUnits": 4.0}),
    (
        "indexes-table-only",
        "INDEXES",
        Consumed(1.0),
        None,
        {"TableName": "t", "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}},
    ),
    (
        "indexes-both-kinds",
        "INDEXES",
        _MIXED,
        None,
        {
            "TableName": "t",
            "CapacityUnits": 4.0,
            "Table": {"CapacityUnits": 1.0},
            "GlobalSecondaryIndexes": {"g1": {"CapacityUnits": 2.0}},
            "LocalSecondaryIndexes": {"l1": {"CapacityUnits": 1.0}},
        },
    ),
    (
        "index-read-keeps-a-zero-table-arm",
        "INDEXES",
        Consumed(0.0, {"g1": 0.5}),
        None,
        {
            "TableName": "t",
            "CapacityUnits": 0.5,
            "Table": {"CapacityUnits": 0.0},
            "GlobalSecondaryIndexes": {"g1": {"CapacityUnits": 0.5}},
        },
    ),
    (
        "transactional-total",
        "TOTAL",
        Consumed(4.0),
        capacity.READ,
        {"TableName": "t", "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0},
    ),
    (
        "transactional-indexes",
        "INDEXES",
        Consumed(2.0, {"g1": 1.0}),
        capacity.WRITE,
        {
            "TableName": "t",
            "CapacityUnits": 3.0,
            "WriteCapacityUnits": 3.0,
            "Table": {"CapacityUnits": 2.0, "WriteCapacityUnits": 2.0},
            "GlobalSecondaryIndexes": {"g1": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}},
        },
    ),
]


@pytest.mark.parametrize(
    ("mode", "consumed", "split", "expected"),
    [c[1:] for c in _WIRE_CASES],
    ids=[c[0] for c in _WIRE_CASES],
)
def test_consumed_capacity_shape(
    mode: str, consumed: Consumed, split: str | None, expected: dict[str, Any]
) -> None:
    got = capacity.consumed_capacity(mode, "t", consumed, split)
    assert got == expected
    assert got is not None and all(isinstance(v, float) for v in _numbers(got))


def _numbers(obj: object) -> list[object]:
    if isinstance(obj, dict):
        return [n for k, v in obj.items() if k != "TableName" for n in _numbers(v)]
    return [obj]


def test_table_name_echoes_an_arn() -> None:
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/t"
    assert capacity.consumed_capacity("TOTAL", arn, Consumed(1.0)) == {
        "TableName": arn,
        "CapacityUnits": 1.0,
    }


def test_per_table_sums_per_table_in_first_seen_order() -> None:
    per = PerTable()
    per.add("b", "b", Consumed(1.0, {"g": 1.0}))
    per.add("a", "arn:aws:dynamodb:r:1:table/a", Consumed(2.0))
    per.add("b", "b", Consumed(0.5, {"g": 2.0}))
    per.add("a", "a", Consumed(2.0))  # the first spelling names the entry
    assert per.consumed_capacity("TOTAL", capacity.WRITE) == [
        {"TableName": "b", "CapacityUnits": 4.5, "WriteCapacityUnits": 4.5},
        {
            "TableName": "arn:aws:dynamodb:r:1:table/a",
            "CapacityUnits": 4.0,
            "WriteCapacityUnits": 4.0,
        },
    ]
    indexes = per.consumed_capacity("INDEXES")
    assert indexes is not None
    assert indexes[0]["GlobalSecondaryIndexes"] == {"g": {"CapacityUnits": 3.0}}
    assert indexes[0]["Table"] == {"CapacityUnits": 1.5}


def test_transact_writes_first_call_and_replay() -> None:
    a = spec(GSI_INCLUDE)
    put = item(pk="a", sk="1", gsiPk="g")
    tables = ["arn:aws:dynamodb:r:1:table/t", "t"]
    usage, split = capacity.transact_writes(
        tables, [a, a], [WriteOutcome(None, put, True), WriteOutcome(put, put, False)], None
    )
    assert split == capacity.WRITE
    # one entry for the table, named as the request first named it; the put joins the
    # index (not doubled), the unchanged item is a ConditionCheck charged as a write
    assert usage.consumed_capacity("INDEXES", split) == [
        {
            "TableName": tables[0],
            "CapacityUnits": 5.0,
            "WriteCapacityUnits": 5.0,
            "Table": {"CapacityUnits": 4.0, "WriteCapacityUnits": 4.0},
            "GlobalSecondaryIndexes": {
                "gsi-inc": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}
            },
        }
    ]
    # a replay reads the recorded sizes: 2 x ceil(9 KB / 4 KB) + 2 x 1 for a size an old
    # token record lacks
    usage, split = capacity.transact_writes(tables, [a, a], [], [9 * 1024])
    assert split == capacity.READ
    assert usage.consumed_capacity("TOTAL", split) == [
        {"TableName": tables[0], "CapacityUnits": 8.0, "ReadCapacityUnits": 8.0}
    ]
