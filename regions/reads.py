"""Query and Scan: key-range reads with DynamoDB's paging rules.

Paging, as DynamoDB does it:

* ``Limit`` counts items *evaluated* (read from the store), before any filter;
* a page also ends once 1 MB of items has been read, measured before filtering;
* a page that ended on either limit returns ``LastEvaluatedKey``, even when no
  item follows; a page that ran out of items does not;
* ``Count`` is the number of items after the filter, ``ScannedCount`` before it.

Key conditions become bounds on the order-preserving sort-key encoding, so a
Query is a primary-key range scan in the store, never a filter in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from regions.errors import ValidationError
from regions.keys import EncodedKey, KeySchema, encode_key, encode_key_value, validate_key
from regions.store import KeyRange, StoredRow
from regions.types import Item, decode_item

__all__ = ["PAGE_BYTES", "Page", "key_range", "segment_filter"]

#: the 1 MB page limit, measured on stored item sizes before filtering
PAGE_BYTES = 1024 * 1024
_CHUNK = 256


@dataclass(frozen=True)
class Page:
    items: list[Item]
    count: int
    scanned_count: int
    last_evaluated_key: Item | None
    #: bytes of items read (before filter/projection), for capacity accounting
    read_bytes: int


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    b = bytearray(prefix)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return None


def key_range(op: str | None, values: tuple[dict[str, object], ...], type_: str) -> KeyRange:
    """Sort-key condition -> bounds on the encoded sort key."""
    if op is None:
        return KeyRange()
    enc = [encode_key_value(v, type_) for v in values]
    if op == "=":
        return KeyRange(low=enc[0], high=enc[0])
    if op == "<":
        return KeyRange(high=enc[0], high_inclusive=False)
    if op == "<=":
        return KeyRange(high=enc[0])
    if op == ">":
        return KeyRange(low=enc[0], low_inclusive=False)
    if op == ">=":
        return KeyRange(low=enc[0])
    if op == "BETWEEN":
        return KeyRange(low=enc[0], high=enc[1])
    if op == "BEGINS_WITH":
        # S and B encode as their bytes, so a string prefix is a byte prefix
        return KeyRange(low=enc[0], high=_successor(enc[0]), high_inclusive=False)
    raise ValidationError(f"Unsupported key condition operator: {op}")


def _segment_hash(hk: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(hk, digest_size=8).digest(), "big")


def segment_filter(
    segment: int, total: int, partitions: int
) -> tuple[list[int], Callable[[StoredRow], bool] | None]:
    """Which partitions a parallel-scan segment reads, and a row filter when several
    segments share one partition.  Every item belongs to exactly one segment."""
    if total <= partitions:
        parts = [p for p in range(partitions) if p * total // partitions == segment]
        return parts, None
    part = segment * partitions // total
    sharing = [s for s in range(total) if s * partitions // total == part]
    slot = sharing.index(segment)
    width = len(sharing)
    return [part], lambda row: (_segment_hash(row.hk) >> 8) % width == slot


def start_key(
    exclusive_start_key: object, schema: KeySchema, partitions: int
) -> tuple[Item, EncodedKey]:
    try:
        key = validate_key(exclusive_start_key, schema)
    except ValidationError as exc:
        raise ValidationError(f"The provided starting key is invalid: {exc.message}") from None
    return key, encode_key(key, schema, partitions)


def key_of(item: Item, schema: KeySchema) -> Item:
    return {n: item[n] for n in schema.names}


async def page_from_rows(
    rows_iter: Callable[[int], Awaitable[list[StoredRow]]],
    schema: KeySchema,
    *,
    limit: int | None,
    keep: Callable[[Item], bool] | None,
    row_ok: Callable[[StoredRow], bool] | None = None,
) -> Page:
    """Drive a chunked row source until Limit, 1 MB or exhaustion.

    ``rows_iter(n)`` returns the next up-to-``n`` rows (empty when exhausted)."""
    items: list[Item] = []
    scanned = 0
    read_bytes = 0
    last: Item | None = None
    while True:
        want = _CHUNK if limit is None else min(_CHUNK, limit - scanned)
        rows = await rows_iter(want)
        if not rows:
            return Page(items, len(items), scanned, None, read_bytes)
        for row in rows:
            if row_ok is not None and not row_ok(row):
                continue
            assert row.data is not None
            item = decode_item(row.data)
            scanned += 1
            read_bytes += row.size
            last = item
            if keep is None or keep(item):
                items.append(item)
            if (limit is not None and scanned >= limit) or read_bytes >= PAGE_BYTES:
                return Page(items, len(items), scanned, key_of(last, schema), read_bytes)
