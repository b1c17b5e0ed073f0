"""Single-item operations: PutItem, GetItem, DeleteItem, UpdateItem.

Each is a ``decode_*`` (shape checks and expression parsing: a request object of
``api.dynamodb.requests``, without touching the region) and a ``run_*`` (table,
throughput, the data plane, the answer); the router authorizes in between.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from api.dynamodb import legacy
from api.dynamodb.requests import (
    DeleteItemRequest,
    GetItemRequest,
    PutItemRequest,
    UpdateItemRequest,
)
from api.dynamodb.shapes import Shape
from regions import capacity, throttle
from regions import expressions as ex
from regions.catalog import TableSpec
from regions.data import Delete, Put, Update, WriteOutcome
from regions.errors import ValidationError
from regions.indexes import LSI
from regions.region import Region
from regions.types import check_item_size, expect_string, validate_item, validate_values

__all__ = [
    "decode_delete_item",
    "decode_get_item",
    "decode_put_item",
    "decode_update_item",
    "refuse_collection_metrics",
    "run_delete_item",
    "run_get_item",
    "run_put_item",
    "run_update_item",
]

_RV_PUT_DELETE = ("NONE", "ALL_OLD")
_RV_ALL = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
_RV_ENUM = ("ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW")
_RVCCF = ("ALL_OLD", "NONE")
_RCC = ("INDEXES", "TOTAL", "NONE")
_RICM = ("SIZE", "NONE")
#: the legacy stand-ins for ConditionExpression, in DynamoDB's order for error messages
_LEGACY_CONDITION = ("Expected", "ConditionalOperator")


def _context(shape: Shape, expressions: tuple[str | None, ...]) -> ex.ExpressionContext | None:
    """The request's placeholders, or None when it uses no expression at all (the
    common plain Put/Get/Delete pays nothing for the expression machinery)."""
    names = shape.mapping("ExpressionAttributeNames")
    values = shape.mapping("ExpressionAttributeValues")
    for name in (names or {}).values():
        # a JSON type error is found while deserialising, before any validation
        expect_string(name)
    if not any(e is not None for e in expressions):
        if names is not None:
            raise ValidationError(
                "ExpressionAttributeNames can only be specified when using expressions"
            )
        if values is not None:
            raise ValidationError(
                "ExpressionAttributeValues can only be specified when using expressions"
            )
        return None
    return ex.ExpressionContext(names, values)


def _condition(ctx: ex.ExpressionContext | None, expr: str | None) -> ex.ParsedCondition | None:
    if expr is None or ctx is None:
        return None
    return ex.ParsedCondition(ex.parse_condition(expr, ctx, "ConditionExpression"))


class _WriteOptions(NamedTuple):
    #: ReturnValues as sent
    return_values: str | None
    #: ReturnValuesOnConditionCheckFailure=ALL_OLD
    old_on_failure: bool
    return_consumed: str | None
    #: ReturnItemCollectionMetrics=SIZE
    collection_metrics: bool


def collection_metrics_wanted(shape: Shape) -> bool:
    """ReturnItemCollectionMetrics, shape-checked: whether it asks for SIZE."""
    return shape.string("ReturnItemCollectionMetrics", enum=_RICM) == "SIZE"


def refuse_collection_metrics(operation: str, spec: TableSpec, wanted: bool) -> None:
    """ReturnItemCollectionMetrics=SIZE on a table with a local secondary index is
    refused by name, before anything is written.

    DynamoDB answers ItemCollectionMetrics only for a table with local secondary
    indexes ("If the table does not have any local secondary indexes, this
    information is not returned in the response": the API Reference's
    ItemCollectionMetrics), so without one the answer here, none, is DynamoDB's.  With
    one it would carry the item collection's size, which is not implemented: the
    request is refused rather than answered without it.  Unverified wording, in the
    words of the other members this version refuses (api/dynamodb/tables.py)."""
    if wanted and any(index.kind == LSI for index in spec.indexes):
        raise ValidationError(
            f"{operation} does not support ReturnItemCollectionMetrics SIZE in this version "
            f"on a table with local secondary indexes: {spec.name}"
        )


def _common_write(shape: Shape, rv_allowed: tuple[str, ...]) -> _WriteOptions:
    """The options every single-item write shares (shape-checked; done() here)."""
    rv = shape.string("ReturnValues", enum=_RV_ENUM)
    rvccf = shape.string("ReturnValuesOnConditionCheckFailure", enum=_RVCCF) or "NONE"
    rcc = shape.string("ReturnConsumedCapacity", enum=_RCC)
    metrics = collection_metrics_wanted(shape)
    shape.done()
    if rv is not None and rv not in rv_allowed:
        raise ValidationError(
            "ReturnValues can only be ALL_OLD or NONE"
            if rv_allowed == _RV_PUT_DELETE
            else f"Unsupported ReturnValues: {rv}"
        )
    return _WriteOptions(rv, rvccf == "ALL_OLD", rcc, metrics)


def _write_capacity(
    spec: TableSpec,
    ticket: throttle.Ticket,
    table: str,
    rcc: str | None,
    outcome: WriteOutcome,
    out: dict[str, Any],
) -> dict[str, Any]:
    """Settle the write's throughput and add its ConsumedCapacity to ``out`` when the
    request asked for it (a failed condition raised before this, and DynamoDB
    reports none then)."""
    if ticket.active or capacity.wanted(rcc):
        consumed = capacity.item_write(spec, outcome.old, outcome.new)
        ticket.settle([(spec, consumed)])
        if capacity.wanted(rcc):
            out["ConsumedCapacity"] = capacity.consumed_capacity(rcc, table, consumed)
    return out


def _put_delete_options(
    shape: Shape, body: dict[str, Any]
) -> tuple[ex.ParsedCondition | None, _WriteOptions]:
    """What PutItem and DeleteItem share: the condition (expression or legacy
    Expected), ReturnValues, ReturnValuesOnConditionCheckFailure, capacity mode and
    ReturnItemCollectionMetrics."""
    cexpr = shape.string("ConditionExpression")
    legacy.check_shapes(shape, _LEGACY_CONDITION)
    options = _common_write(shape, _RV_PUT_DELETE)
    legacy.reject_mixing(body, _LEGACY_CONDITION, ("ConditionExpression",))
    ctx = _context(shape, (cexpr,))
    condition = _condition(ctx, cexpr) or legacy.expected_condition(body)
    if ctx is not None:
        ctx.check_all_used()
    return condition, options


def decode_put_item(body: dict[str, Any]) -> PutItemRequest:
    shape = Shape(body)
    table = shape.table_name()
    item = shape.mapping("Item", required=True)
    condition, o = _put_delete_options(shape, body)
    # the whole request is validated before the table is looked up, as DynamoDB does:
    # a malformed item for a missing table is a ValidationException
    canonical = validate_item(item)
    check_item_size(canonical)
    put = Put(table, condition, o.old_on_failure, item=canonical, canonical=True)
    return PutItemRequest(put, o.return_values, o.return_consumed, o.collection_metrics)


async def run_put_item(region: Region, request: PutItemRequest) -> dict[str, Any]:
    return await _put_or_delete(region, "PutItem", request, request.op.item)


async def _put_or_delete(
    region: Region, operation: str, request: PutItemRequest | DeleteItemRequest, item: object
) -> dict[str, Any]:
    """PutItem and DeleteItem once decoded (``item``: a Put's item, for the estimate
    of a limited table's write capacity, or None)."""
    op = request.op
    table = op.table
    spec = await region.control.table_spec(table)
    refuse_collection_metrics(operation, spec, request.collection_metrics)
    # throughput is taken before the write, so a throttled write writes nothing
    ticket = throttle.admit_writes(region, [(spec, [item])])
    outcome = await region.data.commit_one(op)
    out = (
        {"Attributes": outcome.old}
        if request.return_values == "ALL_OLD" and outcome.old is not None
        else {}
    )
    return _write_capacity(spec, ticket, table, request.return_consumed, outcome, out)


def decode_delete_item(body: dict[str, Any]) -> DeleteItemRequest:
    shape = Shape(body)
    table = shape.table_name()
    key = shape.mapping("Key", required=True)
    condition, o = _put_delete_options(shape, body)
    validate_values(key)  # malformed values before the table is looked up
    return DeleteItemRequest(
        Delete(table, condition, o.old_on_failure, key=key),
        o.return_values,
        o.return_consumed,
        o.collection_metrics,
    )


async def run_delete_item(region: Region, request: DeleteItemRequest) -> dict[str, Any]:
    return await _put_or_delete(region, "DeleteItem", request, None)


def decode_get_item(body: dict[str, Any]) -> GetItemRequest:
    shape = Shape(body)
    table = shape.table_name()
    key = shape.mapping("Key", required=True)
    consistent = shape.boolean("ConsistentRead") or False
    pexpr = shape.string("ProjectionExpression")
    rcc = shape.string("ReturnConsumedCapacity", enum=_RCC)
    legacy.check_shapes(shape, ("AttributesToGet",))
    shape.done()
    legacy.reject_mixing(body, ("AttributesToGet",), ("ProjectionExpression",))
    ctx = _context(shape, (pexpr,))
    paths = (
        ex.parse_projection(pexpr, ctx)
        if pexpr is not None and ctx is not None
        else legacy.attributes_to_get(body)
    )
    if ctx is not None:
        ctx.check_all_used()
    assert key is not None  # shape.done() reported a missing Key
    validate_values(key)  # malformed values before the table is looked up
    return GetItemRequest(table, key, consistent, paths, rcc)


async def run_get_item(region: Region, request: GetItemRequest) -> dict[str, Any]:
    table, consistent, paths = request.table, request.consistent, request.projection
    spec = await region.control.table_spec(table)
    # a read's size is known only after it: the minimum now, the rest after
    ticket = throttle.admit_reads(region, [(spec, None, consistent, 1)])
    item = await region.data.get_item(table, request.key)
    out: dict[str, Any] = (
        {} if item is None else {"Item": ex.project(item, paths) if paths is not None else item}
    )
    rcc = request.return_consumed
    if ticket.active or capacity.wanted(rcc):
        # charged on the whole stored item, whatever the projection kept
        consumed = capacity.item_read(item, consistent=consistent)
        ticket.settle([(spec, consumed)])
        if capacity.wanted(rcc):
            out["ConsumedCapacity"] = capacity.consumed_capacity(rcc, table, consumed)
    return out


def decode_update_item(body: dict[str, Any]) -> UpdateItemRequest:
    shape = Shape(body)
    table = shape.table_name()
    key = shape.mapping("Key", required=True)
    uexpr = shape.string("UpdateExpression")
    cexpr = shape.string("ConditionExpression")
    legacy.check_shapes(shape, ("AttributeUpdates", *_LEGACY_CONDITION))
    o = _common_write(shape, _RV_ALL)
    legacy.reject_mixing(
        body,
        ("AttributeUpdates", *_LEGACY_CONDITION),
        ("UpdateExpression", "ConditionExpression"),
    )
    ctx = _context(shape, (uexpr, cexpr))
    update = ex.parse_update(uexpr, ctx) if uexpr is not None and ctx is not None else None
    updates = body.get("AttributeUpdates")
    legacy_update = ex.attribute_updates_to_update(updates) if updates is not None else None
    condition = _condition(ctx, cexpr) or legacy.expected_condition(body)
    if ctx is not None:
        ctx.check_all_used()
    op = Update(
        table,
        condition,
        o.old_on_failure,
        key=key,
        update=update,
        attribute_updates=legacy_update,
    )
    validate_values(key)  # malformed values before the table is looked up
    return UpdateItemRequest(op, o.return_values, o.return_consumed, o.collection_metrics)


async def run_update_item(region: Region, request: UpdateItemRequest) -> dict[str, Any]:
    op = request.op
    table = op.table
    rv = request.return_values or "NONE"
    spec = await region.control.table_spec(table)
    refuse_collection_metrics("UpdateItem", spec, request.collection_metrics)
    ticket = throttle.admit_writes(region, [(spec, [None])])
    bound = await region.data.bind(op)
    outcome = (await region.data.commit([bound], atomic=True))[0]
    assert isinstance(outcome, WriteOutcome)
    touched = (
        op.updated_paths(outcome.old, bound.key, bound.spec.key_schema)
        if rv in ("UPDATED_OLD", "UPDATED_NEW")
        else []
    )
    return _write_capacity(
        spec, ticket, table, request.return_consumed, outcome, _update_values(rv, outcome, touched)
    )


def _update_values(rv: str, outcome: WriteOutcome, touched: list[ex.Path]) -> dict[str, Any]:
    if rv == "ALL_OLD" and outcome.old is not None:
        return {"Attributes": outcome.old}
    if rv == "ALL_NEW" and outcome.new is not None:
        return {"Attributes": outcome.new}
    if rv == "UPDATED_OLD" and outcome.old is not None:
        attrs = ex.updated_attributes(outcome.old, touched)
        return {"Attributes": attrs} if attrs else {}
    if rv == "UPDATED_NEW" and outcome.new is not None:
        attrs = ex.updated_attributes(outcome.new, touched)
        return {"Attributes": attrs} if attrs else {}
    return {}
