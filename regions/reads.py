"""Query and Scan: key-range reads with DynamoDB's paging rules.

Paging, as DynamoDB does it:

* ``Limit`` counts items *evaluated* (read from the store), before any filter;
* a page also ends once 1 MB of items has been read, measured before filtering;
* a page that ended on either limit returns ``LastEvaluatedKey``, even when no
  item follows; a page that ran out of items does not;
* ``Count`` is the number of items after the filter, ``ScannedCount`` before it.

Key conditions become bounds on the order-preserving sort-key encoding, so a
Query is a primary-key range scan in the store (of ``gt_items``, or of
``gt_index`` for an index), never a filter in Python.  On a multi-attribute sort key
(``regions.keys.encode_key_values``) the leading attributes held equal are a byte
prefix of the entries, and the condition on the next one bounds what follows it
(:func:`composite_key_range`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from regions import expressions as ex
from regions.catalog import TableSpec
from regions.errors import ValidationError
from regions.indexes import GSI, IndexSpec, table_key_bytes
from regions.keys import (
    EncodedKey,
    KeyAttr,
    KeySchema,
    encode_key,
    encode_key_component,
    encode_key_value,
    encode_key_values,
    partition_of,
    validate_key,
)
from regions.store import IndexRow, KeyRange, ReadTx, StoredRow
from regions.types import Item, decode_item, item_size

__all__ = [
    "PAGE_BYTES",
    "Page",
    "check_gsi_projection",
    "composite_key_range",
    "full_items",
    "key_range",
    "query",
    "readable_index",
    "scan",
    "segment_filter",
]

#: the 1 MB page limit, measured on stored item sizes before filtering
PAGE_BYTES = 1024 * 1024
_CHUNK = 256

Row = StoredRow | IndexRow



def full_items(spec: TableSpec, index: str | None, select: str, paths: list[ex.Path] | None) -> bool:
    """Whether an index read must return attributes beyond the index projection."""
    idx = spec.index(index) if index is not None else None
    if idx is None or idx.projection == "ALL":
        return False
    if select == "ALL_ATTRIBUTES":
        if idx.kind == "GSI":
            raise ValidationError(
                "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not "
                f"supported for global secondary index {idx.name} because its projection type is not ALL"
            )
        return True
    # an LSI fetches unprojected attributes from the table; a GSI simply lacks them
    return paths is not None and idx.kind == "LSI"


def check_gsi_projection(
    spec: TableSpec, index: str | None, paths: list[ex.Path] | None, cond: object
) -> None:
    """A GSI cannot fetch what it does not project: naming such an attribute in the
    projection or the filter is an error (an LSI reads it from the table instead).
    Texts: DynamoDB's, as quoted in localstack/localstack#478 and
    sensedeep/dynamodb-onetable#377."""
    idx = spec.index(index) if index is not None else None
    if idx is None or idx.kind != "GSI" or idx.projection == "ALL":
        return
    projected = {*spec.key_schema.names, *idx.key_schema.names, *idx.non_key_attributes}
    missing = list(dict.fromkeys(str(p[0]) for p in paths or () if p[0] not in projected))
    if missing:
        raise ValidationError(
            "One or more parameter values were invalid: Global secondary index "
            f"{idx.name} does not project [{', '.join(missing)}]"
        )
    missing = list(dict.fromkeys(str(p[0]) for p in ex.paths_in(cond) if p[0] not in projected))
    if missing:
        raise ValidationError(
            f"One or more parameter values were invalid: Secondary index {idx.name} does not "
            f"project one or more filter attributes: [{', '.join(missing)}]"
        )

@dataclass(frozen=True)
class Page:
    items: list[Item]
    count: int
    scanned_count: int
    last_evaluated_key: Item | None
    #: bytes of items read (before filter/projection), for capacity accounting
    read_bytes: int
    #: sizes of the table items an LSI read fetched for unprojected attributes (0 for
    #: one that vanished meanwhile): each is a read of its own (regions/capacity.py)
    fetched_sizes: tuple[int, ...] = ()


def readable_index(spec: TableSpec, name: str | None, consistent: bool) -> IndexSpec | None:
    if name is None:
        return None
    idx = spec.index(name)
    if idx is None:
        raise ValidationError(f"The table does not have the specified index: {name}")
    if idx.status != "ACTIVE":
        raise ValidationError(f"Cannot read from backfilling global secondary index: {name}")
    if consistent and idx.kind == GSI:
        raise ValidationError("Consistent reads are not supported on global secondary indexes")
    return idx


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    b = bytearray(prefix)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return None


def key_range(op: str | None, values: tuple[dict[str, Any], ...], type_: str) -> KeyRange:
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


def composite_key_range(
    prefix: tuple[dict[str, Any], ...],
    op: str | None,
    values: tuple[dict[str, Any], ...],
    attrs: tuple[KeyAttr, ...],
) -> KeyRange:
    """Bounds on a multi-attribute sort key: ``prefix`` holds the values of the leading
    attributes held equal, ``op`` / ``values`` the condition on the next one.

    ``P`` (the prefix's components) starts every entry in range, and a component ``c``
    of the next attribute splits them: ``r < v`` is ``[P, P+c)``, ``r <= v`` is
    ``[P, succ(P+c))``, ``r > v`` is ``[succ(P+c), succ(P))``, ``r >= v`` is
    ``[P+c, succ(P))``, ``=`` is ``[P+c, succ(P+c))`` and BETWEEN ``[P+c1,
    succ(P+c2))``: no component is a prefix of another, so every entry whose attribute
    equals ``v`` lies in ``[P+c, succ(P+c))`` and every greater one at or above
    ``succ(P+c)``.  ``begins_with`` bounds on the escaped prefix without its
    terminator: a value starts with ``s`` exactly when its escaped bytes start with
    ``s``'s.
    """
    base = b"".join(encode_key_component(v, a.type) for v, a in zip(prefix, attrs, strict=False))
    if op is None:
        return (
            KeyRange(low=base, high=_successor(base), high_inclusive=False) if base else KeyRange()
        )
    attr = attrs[len(prefix)]
    if op == "BEGINS_WITH":
        start = base + encode_key_component(values[0], attr.type)[:-2]
        return KeyRange(low=start, high=_successor(start), high_inclusive=False)
    comps = [base + encode_key_component(v, attr.type) for v in values]
    after_base = _successor(base)
    if op == "=":
        return KeyRange(low=comps[0], high=_successor(comps[0]), high_inclusive=False)
    if op == "<":
        return KeyRange(low=base, high=comps[0], high_inclusive=False)
    if op == "<=":
        return KeyRange(low=base, high=_successor(comps[0]), high_inclusive=False)
    if op == ">":
        return KeyRange(low=_successor(comps[0]), high=after_base, high_inclusive=False)
    if op == ">=":
        return KeyRange(low=comps[0], high=after_base, high_inclusive=False)
    if op == "BETWEEN":
        return KeyRange(low=comps[0], high=_successor(comps[1]), high_inclusive=False)
    raise ValidationError(f"Unsupported key condition operator: {op}")


def _segment_hash(hk: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(hk, digest_size=8).digest(), "big")


def segment_filter(
    segment: int, total: int, partitions: int
) -> tuple[list[int], Callable[[bytes], bool] | None]:
    """Which partitions a parallel-scan segment reads, and a test of the encoded
    partition key when several segments share one partition.  Every item belongs to
    exactly one segment, and all items of a partition key to the same one."""
    if total <= partitions:
        parts = [p for p in range(partitions) if p * total // partitions == segment]
        return parts, None
    part = segment * partitions // total
    sharing = [s for s in range(total) if s * partitions // total == part]
    slot = sharing.index(segment)
    width = len(sharing)
    return [part], lambda hk: (_segment_hash(hk) >> 8) % width == slot


def _by_partition_key(hk_ok: Callable[[bytes], bool]) -> Callable[[Row], bool]:
    return lambda row: hk_ok(row.hk)


def _check_segment(
    part: int,
    hk: bytes,
    parts: list[int] | None,
    hk_ok: Callable[[bytes], bool] | None,
    segment: int | None,
    total: int | None,
) -> None:
    """An ExclusiveStartKey of a parallel scan must lie in the requested segment (it
    can only come from another segment's page, and resuming there would skip or
    repeat items).  Text: DynamoDB's, as quoted in scylladb/scylladb#9270."""
    if parts is None or (part in parts and (hk_ok is None or hk_ok(hk))):
        return
    raise ValidationError(
        "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use "
        f"ExclusiveStartKey with correct Segment. TotalSegments: {total} Segment: {segment}"
    )


#: a start key that does not name the key attributes of what is read
_INVALID_START = "The provided starting key is invalid"


def _start_key(
    exclusive_start_key: object, schema: KeySchema, partitions: int
) -> tuple[Item, EncodedKey]:
    try:
        key = validate_key(exclusive_start_key, schema)
    except ValidationError as exc:
        raise ValidationError(f"The provided starting key is invalid: {exc.message}") from None
    return key, encode_key(key, schema, partitions)


def _index_start(
    exclusive_start_key: Any, spec: TableSpec, idx: IndexSpec
) -> tuple[int, bytes, bytes, bytes]:
    """ExclusiveStartKey of an index read -> (part, hk, rk, tk) of the entry."""
    if not isinstance(exclusive_start_key, dict):
        raise ValidationError("The provided starting key is invalid")
    names = set(spec.key_schema.names) | set(idx.key_schema.names)
    if set(exclusive_start_key) != names:
        # the bare text on an index, for Query and Scan alike (dynalite's query tests)
        raise ValidationError(_INVALID_START)
    table_key = {n: exclusive_start_key[n] for n in spec.key_schema.names}
    _, tenc = _start_key(table_key, spec.key_schema, spec.partitions)
    schema = idx.key_schema
    try:
        hk = encode_key_values([(exclusive_start_key[a.name], a.type) for a in schema.hash_attrs])
        rk = (
            encode_key_values([(exclusive_start_key[a.name], a.type) for a in schema.range_attrs])
            if schema.range
            else b""
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        raise ValidationError("The provided starting key is invalid") from None
    part = tenc.part if idx.kind != GSI else partition_of(hk, spec.partitions)
    return part, hk, rk, table_key_bytes(tenc.hk, tenc.rk)


async def _page(
    rows_iter: Callable[[int], Awaitable[list[Row]]],
    key_names: tuple[str, ...],
    *,
    limit: int | None,
    keep: Callable[[Item], bool] | None,
    row_ok: Callable[[Row], bool] | None = None,
    expand: Callable[[Item], Awaitable[Item | None]] | None = None,
) -> Page:
    """Drive a chunked row source until Limit, 1 MB or exhaustion."""
    items: list[Item] = []
    scanned = 0
    read_bytes = 0
    fetched: list[int] = []
    while True:
        want = _CHUNK if limit is None else min(_CHUNK, limit - scanned)
        rows = await rows_iter(want)
        if not rows:
            return Page(items, len(items), scanned, None, read_bytes, tuple(fetched))
        for row in rows:
            if row_ok is not None and not row_ok(row):
                continue
            assert row.data is not None
            item = decode_item(row.data)
            scanned += 1
            read_bytes += row.size
            last = {n: item[n] for n in key_names if n in item}
            if expand is not None:
                full = await expand(item)
                fetched.append(item_size(full) if full is not None else 0)
                item = full if full is not None else item
            if keep is None or keep(item):
                items.append(item)
            if (limit is not None and scanned >= limit) or read_bytes >= PAGE_BYTES:
                return Page(items, len(items), scanned, last, read_bytes, tuple(fetched))


def _expander(
    tx: ReadTx, tid: int, spec: TableSpec, idx: IndexSpec | None, full_items: bool
) -> Callable[[Item], Awaitable[Item | None]] | None:
    """For an LSI whose projection lacks attributes the read needs: fetch the item."""
    if idx is None or not full_items or idx.projection == "ALL":
        return None

    async def fetch(entry: Item) -> Item | None:
        key = {n: entry[n] for n in spec.key_schema.names}
        enc = encode_key(key, spec.key_schema, spec.partitions)
        row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
        return decode_item(row.data) if row is not None and row.data is not None else None

    return fetch


async def query(
    tx: ReadTx,
    tid: int,
    spec: TableSpec,
    idx: IndexSpec | None,
    *,
    hash_value: dict[str, Any],
    range_op: str | None,
    range_values: tuple[dict[str, Any], ...],
    forward: bool,
    limit: int | None,
    exclusive_start_key: Any,
    keep: Callable[[Item], bool] | None,
    full_items: bool = False,
    hash_values: tuple[dict[str, Any], ...] = (),
    range_prefix: tuple[dict[str, Any], ...] = (),
) -> Page:
    """One Query page.  On a multi-attribute index key ``hash_values`` holds every
    partition-key value and ``range_prefix`` the values of the leading sort-key
    attributes held equal (``range_op`` then applies to the next one);
    ``hash_value`` alone stands for ``hash_values=(hash_value,)``."""
    schema = idx.key_schema if idx is not None else spec.key_schema
    values = hash_values or (hash_value,)
    if len(values) != len(schema.hash_attrs):
        missed = schema.hash_attrs[len(values) if len(values) < len(schema.hash_attrs) else 0]
        raise ValidationError(f"Query condition missed key schema element: {missed.name}")
    hk = encode_key_values(list(zip(values, (a.type for a in schema.hash_attrs), strict=True)))
    part = partition_of(hk, spec.partitions)
    if schema.more_range:
        rng = composite_key_range(range_prefix, range_op, range_values, schema.range_attrs)
    else:
        rng = reads_range(range_op, range_values, schema)
    if idx is None:
        after: bytes | None = None
        if exclusive_start_key is not None:
            if not isinstance(exclusive_start_key, dict) or set(exclusive_start_key) != set(
                schema.names
            ):
                # a Query's start key missing a key attribute (or with another one):
                # DynamoDB's bare text, unlike Scan's (dynalite's query tests, recorded
                # against DynamoDB)
                raise ValidationError(_INVALID_START)
            _, start = _start_key(exclusive_start_key, schema, spec.partitions)
            if start.hk != hk:
                raise ValidationError(
                    "The provided starting key is outside query boundaries based on provided conditions"
                )
            after = start.rk
        done = False

        async def table_rows(n: int) -> list[Row]:
            nonlocal after, done
            if done:
                return []
            got = await tx.query(tid, part, hk, rng, forward=forward, after_rk=after, limit=n)
            if got:
                after = got[-1].rk
            if schema.range is None or len(got) < n:
                done = True
            return list(got)

        return await _page(table_rows, spec.key_schema.names, limit=limit, keep=keep)

    cursor: tuple[bytes, bytes] | None = None
    if exclusive_start_key is not None:
        spart, shk, srk, stk = _index_start(exclusive_start_key, spec, idx)
        if shk != hk or spart != part:
            raise ValidationError(
                "The provided starting key is outside query boundaries based on provided conditions"
            )
        cursor = (srk, stk)
    iid = idx.iid

    async def index_rows(n: int) -> list[Row]:
        nonlocal cursor
        got = await tx.index_query(tid, iid, part, hk, rng, forward=forward, after=cursor, limit=n)
        if got:
            cursor = (got[-1].rk, got[-1].tk)
        return list(got)

    names = spec.key_schema.names + tuple(
        n for n in idx.key_schema.names if n not in spec.key_schema.names
    )
    return await _page(
        index_rows, names, limit=limit, keep=keep, expand=_expander(tx, tid, spec, idx, full_items)
    )


def reads_range(op: str | None, values: tuple[dict[str, Any], ...], schema: KeySchema) -> KeyRange:
    return key_range(op, values, schema.range.type) if schema.range is not None else KeyRange()


async def scan(
    tx: ReadTx,
    tid: int,
    spec: TableSpec,
    idx: IndexSpec | None,
    *,
    limit: int | None,
    exclusive_start_key: Any,
    keep: Callable[[Item], bool] | None,
    segment: int | None,
    total_segments: int | None,
    full_items: bool = False,
) -> Page:
    parts: list[int] | None = None
    hk_ok: Callable[[bytes], bool] | None = None
    row_ok: Callable[[Row], bool] | None = None
    if segment is not None and total_segments is not None:
        parts, hk_ok = segment_filter(segment, total_segments, spec.partitions)
        if hk_ok is not None:
            row_ok = _by_partition_key(hk_ok)
    if idx is None:
        cursor: tuple[int, bytes, bytes] | None = None
        if exclusive_start_key is not None:
            _, start = _start_key(exclusive_start_key, spec.key_schema, spec.partitions)
            _check_segment(start.part, start.hk, parts, hk_ok, segment, total_segments)
            cursor = (start.part, start.hk, start.rk)

        async def table_rows(n: int) -> list[Row]:
            nonlocal cursor
            got = await tx.scan(tid, parts=parts, after=cursor, limit=n)
            if got:
                cursor = (got[-1].part, got[-1].hk, got[-1].rk)
            return list(got)

        return await _page(table_rows, spec.key_schema.names, limit=limit, keep=keep, row_ok=row_ok)

    icursor: tuple[int, bytes, bytes, bytes] | None = None
    if exclusive_start_key is not None:
        icursor = _index_start(exclusive_start_key, spec, idx)
        _check_segment(icursor[0], icursor[1], parts, hk_ok, segment, total_segments)
    iid = idx.iid

    async def index_rows(n: int) -> list[Row]:
        nonlocal icursor
        got = await tx.index_scan(tid, iid, parts=parts, after=icursor, limit=n)
        if got:
            last = got[-1]
            icursor = (last.part, last.hk, last.rk, last.tk)
        return list(got)

    names = spec.key_schema.names + tuple(
        n for n in idx.key_schema.names if n not in spec.key_schema.names
    )
    return await _page(
        index_rows,
        names,
        limit=limit,
        keep=keep,
        row_ok=row_ok,
        expand=_expander(tx, tid, spec, idx, full_items),
    )
