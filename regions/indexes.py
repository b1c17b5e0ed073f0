"""Secondary indexes: definitions, entry computation and the checks writes must pass.

An index entry is a row of ``gt_index`` keyed ``(tid, iid, part, hk, rk, tk)``:
``hk``/``rk`` encode the index key (order-preserving, like table keys), ``part`` is
the partition of the index partition key (for an LSI: the table's), and ``tk``
encodes the table key, which makes entries unique because index keys need not be.
``data`` holds the projected item.

Entries are written in the same store transaction as the item (invariant 1 covers
them), by local writes and remote applies alike: every region builds its own
indexes from the item images it holds, so indexes converge with the items.

Indexes are sparse: an item lacking an index key attribute, or holding one of
another type or an empty one has no entry (writes with a wrong type, an empty or an
over-long value are rejected up front, but a replicated image is indexed as is, never
refused).

A GSI may have a multi-attribute key (up to four partition-key and four sort-key
attributes): an item is in the index only if it holds every one of them.  The entry's
``hk`` / ``rk`` are then the concatenated self-delimiting encodings of the values in
KeySchema order (``regions.keys.encode_key_values``), which order attribute by
attribute as DynamoDB orders such keys; a single attribute keeps its plain encoding,
so the entries of single-attribute indexes are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from regions.errors import ValidationError
from regions.keys import (
    MAX_HASH_KEY_BYTES,
    MAX_RANGE_KEY_BYTES,
    MSG_HASH_TOO_BIG,
    MSG_RANGE_TOO_BIG,
    KeyAttr,
    KeySchema,
    encode_key_value,
    encode_key_values,
    partition_of,
)
from regions.types import Item, encode_item, item_size

__all__ = [
    "GSI",
    "LSI",
    "MAX_GSI",
    "MAX_KEY_ATTRIBUTES",
    "MAX_LSI",
    "MAX_NAME_LENGTH",
    "MAX_NON_KEY_NAME_LENGTH",
    "MIN_NAME_LENGTH",
    "NAME_PATTERN",
    "IndexEntry",
    "IndexSpec",
    "check_index_keys",
    "entry_for",
    "project_entry",
    "table_key_bytes",
]

GSI = "GSI"
LSI = "LSI"
MAX_GSI = 20
MAX_LSI = 5
#: partition-key and sort-key attributes of a GSI's multi-attribute key, each
MAX_KEY_ATTRIBUTES = 4
#: INCLUDE non-key attributes across all indexes of a table
MAX_PROJECTED_ATTRIBUTES = 100
#: IndexName, as the API model constrains it (3..255 characters of this pattern)
NAME_PATTERN = "[a-zA-Z0-9_.-]+"
MIN_NAME_LENGTH = 3
MAX_NAME_LENGTH = 255
#: a NonKeyAttributes name (the model's NonKeyAttributeName: 1..255 characters)
MAX_NON_KEY_NAME_LENGTH = 255


@dataclass(frozen=True)
class IndexSpec:
    name: str
    kind: str
    #: local number of the index within its table, stable for the index's life
    iid: int
    key_schema: KeySchema
    projection: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()
    status: str = "ACTIVE"
    #: set while a GSI created by UpdateTable copies existing items in
    backfilling: bool = False
    #: created by UpdateTable (DescribeTable shows Backfilling only for those)
    online: bool = False
    read_capacity: int = 0
    write_capacity: int = 0
    #: a GSI's OnDemandThroughput on a PAY_PER_REQUEST table; -1 = no maximum
    max_read_request_units: int = -1
    max_write_request_units: int = -1

    def to_json(self) -> dict[str, Any]:
        ks: dict[str, Any] = {"hash": [self.key_schema.hash.name, self.key_schema.hash.type]}
        if self.key_schema.range is not None:
            ks["range"] = [self.key_schema.range.name, self.key_schema.range.type]
        # only multi-attribute keys carry these, so other specs serialise as before
        if self.key_schema.more_hash:
            ks["more_hash"] = [[a.name, a.type] for a in self.key_schema.more_hash]
        if self.key_schema.more_range:
            ks["more_range"] = [[a.name, a.type] for a in self.key_schema.more_range]
        return {
            "name": self.name,
            "kind": self.kind,
            "iid": self.iid,
            "key_schema": ks,
            "projection": self.projection,
            "non_key_attributes": list(self.non_key_attributes),
            "status": self.status,
            "backfilling": self.backfilling,
            "online": self.online,
            "read_capacity": self.read_capacity,
            "write_capacity": self.write_capacity,
            "max_read_request_units": self.max_read_request_units,
            "max_write_request_units": self.max_write_request_units,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexSpec:
        ks = data["key_schema"]
        rng = ks.get("range")
        return cls(
            name=data["name"],
            kind=data["kind"],
            iid=int(data["iid"]),
            key_schema=KeySchema(
                hash=KeyAttr(ks["hash"][0], ks["hash"][1]),
                range=KeyAttr(rng[0], rng[1]) if rng else None,
                more_hash=tuple(KeyAttr(n, t) for n, t in ks.get("more_hash", ())),
                more_range=tuple(KeyAttr(n, t) for n, t in ks.get("more_range", ())),
            ),
            projection=data.get("projection", "ALL"),
            non_key_attributes=tuple(data.get("non_key_attributes", ())),
            status=data.get("status", "ACTIVE"),
            backfilling=bool(data.get("backfilling", False)),
            online=bool(data.get("online", False)),
            read_capacity=int(data.get("read_capacity", 0)),
            write_capacity=int(data.get("write_capacity", 0)),
            max_read_request_units=int(data.get("max_read_request_units", -1)),
            max_write_request_units=int(data.get("max_write_request_units", -1)),
        )

    def with_status(self, status: str, backfilling: bool = False) -> IndexSpec:
        return replace(self, status=status, backfilling=backfilling)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    part: int
    hk: bytes
    rk: bytes
    tk: bytes
    data: bytes
    size: int


def table_key_bytes(table_hk: bytes, table_rk: bytes) -> bytes:
    """Unique, order-stable suffix of an index entry: the table key, length-prefixed
    so that different (hk, rk) splits never collide."""
    return len(table_hk).to_bytes(2, "big") + table_hk + table_rk


def project_entry(item: Item, index: IndexSpec, table_schema: KeySchema) -> Item:
    """The attributes an index keeps of an item: table and index keys always."""
    if index.projection == "ALL":
        return item
    keep = set(table_schema.names) | set(index.key_schema.names)
    if index.projection == "INCLUDE":
        keep |= set(index.non_key_attributes)
    return {k: v for k, v in item.items() if k in keep}


def _key_values(item: Item, attrs: tuple[KeyAttr, ...]) -> bytes | None:
    """The stored bytes of one key column of an item's entry, or None when the item
    lacks one of ``attrs``, holds another type or an empty value.  Length is not
    checked here: writes are refused over-long values (:func:`check_index_keys`), and
    an entry must be computed the same way before and after any change of the rules
    so that the entry of an existing item can always be found and replaced."""
    values: list[tuple[Any, str]] = []
    for attr in attrs:
        av = item.get(attr.name)
        if av is None or attr.type not in av:
            return None
        if attr.type != "N" and not encode_key_value(av, attr.type):
            return None
        values.append((av, attr.type))
    return encode_key_values(values)


def entry_for(
    item: Item | None,
    index: IndexSpec,
    table_schema: KeySchema,
    table_hk: bytes,
    table_rk: bytes,
    table_part: int,
    partitions: int,
) -> IndexEntry | None:
    """The index entry of an item, or None when the item is not in the index."""
    if item is None:
        return None
    schema = index.key_schema
    hk = _key_values(item, schema.hash_attrs)
    if hk is None:
        return None
    rk = b""
    if schema.range is not None:
        got = _key_values(item, schema.range_attrs)
        if got is None:
            return None
        rk = got
    projected = project_entry(item, index, table_schema)
    part = table_part if index.kind == LSI else partition_of(hk, partitions)
    return IndexEntry(
        part=part,
        hk=hk,
        rk=rk,
        tk=table_key_bytes(table_hk, table_rk),
        data=encode_item(projected),
        size=item_size(projected),
    )


def check_index_keys(item: Item, indexes: tuple[IndexSpec, ...]) -> None:
    """A write must not give an index key attribute a wrong type, an empty value or
    one longer than a key attribute may be (2,048 bytes for a partition-key attribute,
    1,024 for a sort-key one, each attribute of a multi-attribute key on its own).
    DynamoDB: "all writes to items that violate the new index's key schema will be
    rejected" (Developer Guide, Detecting and correcting index key violations); the
    length texts are those of the table key (dynalite's putItem suite)."""
    for index in indexes:
        hash_names = {a.name for a in index.key_schema.hash_attrs}
        for attr in index.key_schema.attrs:
            av = item.get(attr.name)
            if av is None:
                continue
            actual = next(iter(av))
            if actual != attr.type:
                raise ValidationError(
                    "One or more parameter values were invalid: Type mismatch for Index Key "
                    f"{attr.name} Expected: {attr.type} Actual: {actual} IndexName: {index.name}"
                )
            if attr.type in ("S", "B") and not encode_key_value(av, attr.type):
                raise ValidationError(
                    "One or more parameter values are not valid. A value specified for a "
                    "secondary index key is not supported. The AttributeValue for a key "
                    f"attribute cannot contain an empty {'string' if attr.type == 'S' else 'binary'} "
                    f"value. IndexName: {index.name}, IndexKey: {attr.name}"
                )
            if attr.type in ("S", "B"):
                size = len(encode_key_value(av, attr.type))
                if attr.name in hash_names and size > MAX_HASH_KEY_BYTES:
                    raise ValidationError(MSG_HASH_TOO_BIG)
                if attr.name not in hash_names and size > MAX_RANGE_KEY_BYTES:
                    raise ValidationError(MSG_RANGE_TOO_BIG)
