"""BatchGetItem and BatchWriteItem semantics: limits, duplicate keys, the 16 MB cap.

The HTTP layer checks the request's shape and hands over plain per-table lists; this
module decides everything about meaning, in DynamoDB's order as far as dynalite's
``validations/batch*.js`` (recorded against the real service) shows it: attribute
values and item sizes first, then the total count, then tables (ResourceNotFound) and
key schemas.  BatchGetItem finds duplicate keys with the values alone, before the
tables; BatchWriteItem needs the key schema to tell a put's key from its other
attributes, so it finds them last.  Nothing is read or written before every request
of the call passed.

Throughput is decided here too, after validation and before the first read or write:
items are admitted one by one (regions/throttle.py ``admit_items``), in request
order, and the ones capacity does not allow come back unprocessed, as DynamoDB's
UnprocessedItems / UnprocessedKeys; nothing is done for them.  Only a batch of which
no item is admitted raises ProvisionedThroughputExceededException (or
ThrottlingException).  The admitted items' actual cost is settled here as well.

Wording sources: dynalite's test/batchGetItem.js and test/batchWriteItem.js (run
against DynamoDB), Alternator's test_batch.py, and the botocore model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from regions import capacity, throttle
from regions.capacity import Consumed
from regions.catalog import TableSpec
from regions.data import Bound, Delete, Put, WriteOutcome
from regions.errors import DynamoError, ValidationError
from regions.indexes import check_index_keys
from regions.keys import validate_key
from regions.region import Region
from regions.types import Item, check_item_size, item_size, validate_item, validate_values

__all__ = [
    "MAX_BATCH_GET_BYTES",
    "MAX_BATCH_GET_KEYS",
    "MAX_BATCH_WRITE_REQUESTS",
    "MSG_DUPLICATE_KEYS",
    "MSG_TOO_MANY_GETS",
    "MSG_TOO_MANY_WRITES",
    "BatchGetResult",
    "BatchWriteResult",
    "TableGet",
    "TableWrite",
    "WriteRequest",
    "Written",
    "batch_get",
    "batch_write",
]

MAX_BATCH_GET_KEYS: Final = 100
MAX_BATCH_WRITE_REQUESTS: Final = 25
#: a BatchGetItem answer holds at most this much item data; the rest is UnprocessedKeys
MAX_BATCH_GET_BYTES: Final = 16 * 1024 * 1024

MSG_DUPLICATE_KEYS: Final = "Provided list of item keys contains duplicates"
MSG_TOO_MANY_GETS: Final = "Too many items requested for the BatchGetItem call"
# Unverified against the service: dynamodb-local's wording, by analogy with the
# BatchGetItem message (the per-table limit of 25 is a shape error recorded by dynalite).
MSG_TOO_MANY_WRITES: Final = "Too many items requested for the BatchWriteItem call"


@dataclass(frozen=True)
class TableGet:
    """The keys one RequestItems entry of BatchGetItem asks for (``table`` as given)."""

    table: str
    keys: list[Any]
    consistent: bool = False


@dataclass
class BatchGetResult:
    """Per request entry (same order as the request): the items found, the keys left
    for the caller to ask again (UnprocessedKeys: throttled, or past the 16 MB cap),
    and what the keys read consumed (None when no key of the entry was read)."""

    found: list[list[Item]] = field(default_factory=list)
    unprocessed: list[list[Item]] = field(default_factory=list)
    consumed: list[Consumed | None] = field(default_factory=list)


@dataclass(frozen=True)
class WriteRequest:
    """One PutRequest (``item`` set) or DeleteRequest (``key`` set)."""

    item: Any = None
    key: Any = None

    @property
    def is_put(self) -> bool:
        return self.item is not None


@dataclass(frozen=True)
class TableWrite:
    table: str
    requests: list[WriteRequest]


@dataclass(frozen=True)
class Written:
    """One request's write, for its ConsumedCapacity: ``table`` as the request named it."""

    table: str
    spec: TableSpec
    outcome: WriteOutcome
    consumed: Consumed


@dataclass
class BatchWriteResult:
    """The writes done (request order) and, per request entry, the positions (in that
    entry's list) of the requests left unprocessed for want of capacity."""

    written: list[Written] = field(default_factory=list)
    unprocessed: list[list[int]] = field(default_factory=list)


def _identity(key: Item) -> bytes:
    """A canonical key's identity: canonical values make "1e3" and "1000" one key."""
    return orjson.dumps(key, option=orjson.OPT_SORT_KEYS)


async def batch_get(
    region: Region, tables: list[TableGet], *, max_bytes: int = MAX_BATCH_GET_BYTES
) -> BatchGetResult:
    """Read the requested keys that capacity admits in one store connection, capped
    at ``max_bytes`` of item data: keys throttled or past the cap (found or not) come
    back unprocessed, in request order."""
    total = 0
    canonical: list[list[Item]] = []
    for entry in tables:
        seen: set[bytes] = set()
        keys: list[Item] = []
        for raw in entry.keys:
            key = validate_values(raw)
            ident = _identity(key)
            if ident in seen:
                raise ValidationError(MSG_DUPLICATE_KEYS)
            seen.add(ident)
            total += 1
            if total > MAX_BATCH_GET_KEYS:
                raise ValidationError(MSG_TOO_MANY_GETS)
            keys.append(key)
        canonical.append(keys)
    # every table (ResourceNotFound) and every key against its schema before the
    # first read, and before admission: an invalid batch is never answered throttled
    specs: list[TableSpec] = []
    for entry, keys in zip(tables, canonical, strict=True):
        spec = await region.control.table_spec(entry.table)
        for key in keys:
            validate_key(key, spec.key_schema)
        specs.append(spec)
    # every key at the minimum a read costs; the actual sizes are settled once read
    demands: list[throttle.Demand | None] = [
        throttle.read_demand(spec, consistent=entry.consistent)
        if throttle.limits_kind(spec, throttle.READ)
        else None
        for entry, spec, keys in zip(tables, specs, canonical, strict=True)
        for _ in keys
    ]
    ticket, admitted = throttle.admit_items(region, demands)
    flat = [
        (entry.table, key) for entry, keys in zip(tables, canonical, strict=True) for key in keys
    ]
    items = iter(await region.data.get_many([k for k, ok in zip(flat, admitted, strict=True) if ok]))
    allowed = iter(admitted)
    result = BatchGetResult()
    used = 0
    full = False
    spent: list[tuple[TableSpec, Consumed]] = []
    for entry, spec, keys in zip(tables, specs, canonical, strict=True):
        found: list[Item] = []
        left: list[Item] = []
        for key in keys:
            if not next(allowed):
                left.append(key)
                continue
            item = next(items)
            if not full and item is not None:
                size = item_size(item)
                # the cap is on the answer: stop before the item that would cross it
                full = used + size > max_bytes
                if not full:
                    used += size
            if full:
                left.append(key)
            elif item is not None:
                found.append(item)
        result.found.append(found)
        result.unprocessed.append(left)
        if len(left) < len(keys):
            # only keys actually read are charged; unprocessed ones are paid when resent
            read = capacity.batch_read(found, len(keys) - len(left), consistent=entry.consistent)
            result.consumed.append(read)
            spent.append((spec, read))
        else:
            result.consumed.append(None)
    ticket.settle(spent)
    return result


async def batch_write(region: Region, tables: list[TableWrite]) -> BatchWriteResult:
    """Validate every put and delete, admit what capacity allows, then write the
    admitted ones in one store transaction (each write atomic, the batch not:
    DynamoDB's own guarantee).  Returns the writes' outcomes, in request order, and
    the requests left unprocessed."""
    staged: list[tuple[str, list[tuple[Item | None, dict[str, Any]]]]] = []
    count = 0
    for entry in tables:
        prepared: list[tuple[Item | None, dict[str, Any]]] = []
        for req in entry.requests:
            if req.is_put:
                item = validate_item(req.item)
                check_item_size(item)
                prepared.append((item, item))
            else:
                prepared.append((None, validate_values(req.key)))
            count += 1
        staged.append((entry.table, prepared))
    if count > MAX_BATCH_WRITE_REQUESTS:
        raise ValidationError(MSG_TOO_MANY_WRITES)
    plan: list[Bound] = []
    specs: list[TableSpec] = []
    puts: list[Item | None] = []
    seen: set[tuple[str, bytes]] = set()
    for table, prepared in staged:
        tid, spec = await region.catalog.table(table)
        schema = spec.key_schema
        for put, values in prepared:
            # a PutRequest's key is checked like a Key parameter: DynamoDB answers
            # "The provided key element does not match the schema" for both (dynalite)
            if put is not None:
                values = {n: values[n] for n in schema.names if n in values}
            key = validate_key(values, schema)
            if put is not None and spec.indexes:
                check_index_keys(put, spec.indexes)
            ident = (spec.name, _identity(key))
            if ident in seen:
                raise ValidationError(MSG_DUPLICATE_KEYS)
            seen.add(ident)
            op = Put(table, item=put) if put is not None else Delete(table, key=key)
            plan.append(Bound(tid, spec, key, op))
            specs.append(spec)
            puts.append(put)
    # validated whole; now capacity decides which requests run, in request order
    demands: list[throttle.Demand | None] = [
        throttle.write_demand(spec, [put]) if throttle.limits_kind(spec, throttle.WRITE) else None
        for spec, put in zip(specs, puts, strict=True)
    ]
    ticket, admitted = throttle.admit_items(region, demands)
    run = [i for i, ok in enumerate(admitted) if ok]
    results = await region.data.commit([plan[i] for i in run], atomic=False)
    out = BatchWriteResult()
    spent: list[tuple[TableSpec, Consumed]] = []
    for i, outcome in zip(run, results, strict=True):
        # the operations cannot fail (no conditions, everything validated above); a
        # failure here is a bug, and surfacing it beats answering success for a lost write
        if isinstance(outcome, DynamoError):
            raise outcome
        consumed = capacity.item_write(specs[i], outcome.old, outcome.new)
        spent.append((specs[i], consumed))
        out.written.append(Written(plan[i].op.table, specs[i], outcome, consumed))
    ticket.settle(spent)
    # positions within each request entry of what was not admitted
    position = 0
    for _, prepared in staged:
        out.unprocessed.append([j for j in range(len(prepared)) if not admitted[position + j]])
        position += len(prepared)
    return out

