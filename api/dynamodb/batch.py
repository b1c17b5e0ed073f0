"""BatchGetItem and BatchWriteItem: shape checks and translation; regions/batch.py decides.

``decode_*`` makes the request object (per table: keys and projection, or the
WriteRequests), ``run_*`` the call.

Shape errors are worded as DynamoDB's Coral front end words them (dynalite's
test/batchGetItem.js and test/batchWriteItem.js, recorded against the service).
"""

from __future__ import annotations

import re
from typing import Any, Final

from api.dynamodb import legacy
from api.dynamodb.items import _context, collection_metrics_wanted, refuse_collection_metrics
from api.dynamodb.requests import (
    BatchGetItemRequest,
    BatchWriteItemRequest,
    TableGets,
    TableWrites,
)
from api.dynamodb.shapes import Shape
from regions import batch, capacity
from regions import expressions as ex
from regions.errors import DynamoError, ValidationError
from regions.region import Region

__all__ = [
    "decode_batch_get_item",
    "decode_batch_write_item",
    "run_batch_get_item",
    "run_batch_write_item",
]

_RCC: Final = ("INDEXES", "TOTAL", "NONE")
_TABLE_NAME: Final = re.compile(r"[a-zA-Z0-9_.-]+")
_MAP_KEYS: Final = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 255, "
    "Member must have length greater than or equal to 3, "
    "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+]"
)
_WRITE_LIST: Final = (
    "Map value must satisfy constraint: [Member must have length less than or equal to "
    f"{batch.MAX_BATCH_WRITE_REQUESTS}, Member must have length greater than or equal to 1]"
)
# dynalite records this odd text for a WriteRequest with neither (or both) requests set
_NO_REQUEST: Final = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)


def _java(value: object) -> str:
    """A value as Coral prints it in constraint messages (Java's toString)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    return str(value)


def _valid_table_key(name: str) -> bool:
    # RequestItems keys take a table name or, like TableName, a table ARN
    if name.startswith("arn:"):
        return len(name) <= 1024
    return 3 <= len(name) <= 255 and _TABLE_NAME.fullmatch(name) is not None


def _request_items(shape: Shape) -> dict[str, Any] | None:
    items = shape.mapping("RequestItems", required=True)
    if items is None:
        return None
    if not items:
        shape.fail("RequestItems", "{}", "Member must have length greater than or equal to 1")
    elif not all(_valid_table_key(k) for k in items):
        shape.fail("RequestItems", _java(items), _MAP_KEYS)
    return items


# --------------------------------------------------------------------------- BatchGetItem


def decode_batch_get_item(body: dict[str, Any]) -> BatchGetItemRequest:
    shape = Shape(body)
    rcc = shape.string("ReturnConsumedCapacity", enum=_RCC)
    items = _request_items(shape) or {}
    tables: list[tuple[str, Shape, list[Any], str | None, bool]] = []
    for name, value in items.items():
        sub = shape.child(value, f"requestItems.{name}.member")
        keys = sub.listing("Keys", required=True)
        if keys is not None and not 1 <= len(keys) <= batch.MAX_BATCH_GET_KEYS:
            sub.fail(
                "Keys",
                _java(keys),
                "Member must have length greater than or equal to 1"
                if not keys
                else f"Member must have length less than or equal to {batch.MAX_BATCH_GET_KEYS}",
            )
        consistent = sub.boolean("ConsistentRead") or False
        sub.listing("AttributesToGet", min_len=1, max_len=255)
        pexpr = sub.string("ProjectionExpression")
        tables.append((name, sub, keys or [], pexpr, consistent))
    shape.done()
    gets: list[TableGets] = []
    for name, sub, keys, pexpr, consistent in tables:
        legacy.reject_mixing(sub.body, ("AttributesToGet",), ("ProjectionExpression",))
        ctx = _context(sub, (pexpr,))
        paths = (
            ex.parse_projection(pexpr, ctx)
            if pexpr is not None and ctx is not None
            else legacy.attributes_to_get(sub.body)
        )
        if ctx is not None:
            ctx.check_all_used()
        gets.append(TableGets(name, keys, consistent, paths, sub.body))
    return BatchGetItemRequest(tuple(gets), rcc)


async def run_batch_get_item(region: Region, request: BatchGetItemRequest) -> dict[str, Any]:
    # capacity, the 16 MB cap and what was consumed are regions/batch.py's decisions
    result = await batch.batch_get(
        region, [batch.TableGet(t.table, t.keys, t.consistent) for t in request.tables]
    )
    responses: dict[str, list[Any]] = {}
    unprocessed: dict[str, Any] = {}
    usage = capacity.PerTable()
    for t, found, left, read in zip(
        request.tables, result.found, result.unprocessed, result.consumed, strict=True
    ):
        name, paths = t.table, t.projection
        responses[name] = [ex.project(i, paths) for i in found] if paths is not None else found
        if left:
            # the caller resends UnprocessedKeys as is, so it keeps the table's options
            entry = {k: v for k, v in t.entry.items() if k != "Keys"}
            entry["Keys"] = left
            unprocessed[name] = entry
        if read is not None:
            usage.add(name, name, read)
    out: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
    consumed = usage.consumed_capacity(request.return_consumed)
    if consumed is not None:
        out["ConsumedCapacity"] = consumed
    return out


# --------------------------------------------------------------------------- BatchWriteItem


def decode_batch_write_item(body: dict[str, Any]) -> BatchWriteItemRequest:
    shape = Shape(body)
    rcc = shape.string("ReturnConsumedCapacity", enum=_RCC)
    metrics = collection_metrics_wanted(shape)
    items = _request_items(shape) or {}
    lists: list[tuple[str, list[Any]]] = []
    for name, value in items.items():
        # a JSON null is an absent list, which the length constraint below reports; any
        # other non-list raises the getters' SerializationException
        reqs = Shape({"v": value}).listing("v") or []
        lists.append((name, reqs))
    if any(not 1 <= len(reqs) <= batch.MAX_BATCH_WRITE_REQUESTS for _, reqs in lists):
        shape.fail("RequestItems", _java(items), _WRITE_LIST)
    tables: list[tuple[str, list[tuple[Any, Any, bool]]]] = []
    for name, reqs in lists:
        parsed: list[tuple[Any, Any, bool]] = []
        for i, el in enumerate(reqs, 1):
            sub = shape.child(el, f"requestItems.{name}.member.{i}.member")
            delete = sub.struct("DeleteRequest")
            put = sub.struct("PutRequest")
            key = delete.mapping("Key", required=True) if delete is not None else None
            item = put.mapping("Item", required=True) if put is not None else None
            parsed.append((item, key, (put is None) == (delete is None)))
        tables.append((name, parsed))
    shape.done()
    if any(bad for _, parsed in tables for _, _, bad in parsed):
        raise ValidationError(_NO_REQUEST)
    return BatchWriteItemRequest(
        tuple(
            TableWrites(name, tuple(batch.WriteRequest(item=i, key=k) for i, k, _ in parsed), reqs)
            for (name, parsed), (_, reqs) in zip(tables, lists, strict=True)
        ),
        rcc,
        metrics,
    )


async def run_batch_write_item(region: Region, request: BatchWriteItemRequest) -> dict[str, Any]:
    if request.collection_metrics:
        for t in request.tables:
            try:
                spec = await region.control.table_spec(t.table)
            except DynamoError:
                continue  # regions/batch.py reports a missing table in its order
            refuse_collection_metrics("BatchWriteItem", spec, True)
    result = await batch.batch_write(
        region, [batch.TableWrite(t.table, list(t.requests)) for t in request.tables]
    )
    # what capacity did not admit goes back as it was sent, for the caller to resend;
    # DynamoDB always sends the member, empty or not (§12.6)
    out: dict[str, Any] = {
        "UnprocessedItems": {
            t.table: [t.sent[j] for j in left]
            for t, left in zip(request.tables, result.unprocessed, strict=True)
            if left
        }
    }
    rcc = request.return_consumed
    if capacity.wanted(rcc):
        usage = capacity.PerTable()
        for w in result.written:
            usage.add(w.table, w.table, w.consumed)
        out["ConsumedCapacity"] = usage.consumed_capacity(rcc)
    return out
