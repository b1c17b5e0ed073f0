"""Query and Scan: ``decode_*`` (shapes, Select, every expression parsed; no table
needed) and ``run_*`` (the table and index, what needs the key schema, the read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.dynamodb import legacy
from api.dynamodb.items import _context
from api.dynamodb.requests import QueryRequest, ScanRequest
from api.dynamodb.shapes import Shape
from regions import capacity, indexes, reads, throttle
from regions import expressions as ex
from regions.catalog import TableSpec
from regions.errors import ValidationError
from regions.keys import KeySchema
from regions.reads import Page
from regions.region import Region
from regions.types import Item

__all__ = ["decode_query", "decode_scan", "run_query", "run_scan"]

# in DynamoDB's order: the enum error lists them so
_SELECT = ("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES")
_RCC = ("INDEXES", "TOTAL", "NONE")


def _select(shape: Shape, projection: str | None, index: str | None, prefix: str) -> str:
    """The effective Select.  ``prefix`` is what DynamoDB puts before these errors:
    Query wraps them in "1 validation error detected: ", Scan does not (moto's
    AWS-verified tests; dynoxide found the same)."""
    select = shape.string("Select", enum=_SELECT)
    if select is None:
        if projection is not None:
            return "SPECIFIC_ATTRIBUTES"
        return "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES"
    if select not in _SELECT:
        return select  # shape.done() reports the enum violation
    if (
        select == "SPECIFIC_ATTRIBUTES"
        and projection is None
        and "AttributesToGet" not in shape.body
    ):
        raise ValidationError(
            f"{prefix}Must specify the AttributesToGet or ProjectionExpression when choosing "
            "to get SPECIFIC_ATTRIBUTES"
        )
    if select != "SPECIFIC_ATTRIBUTES" and projection is not None:
        what = "only the Count" if select == "COUNT" else select
        raise ValidationError(
            f"{prefix}Cannot specify the ProjectionExpression when choosing to get {what}"
        )
    if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
        # "Querying" in Scan's message too: DynamoDB's own wording
        raise ValidationError(
            f"{prefix}ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
        )
    return select


def _filter(ctx: ex.ExpressionContext | None, expr: str | None) -> ex.ParsedCondition | None:
    if expr is None or ctx is None:
        return None
    return ex.ParsedCondition(ex.parse_condition(expr, ctx, "FilterExpression"))


def _keep(
    request: QueryRequest | ScanRequest,
) -> Callable[[Item], bool] | None:
    """What a read keeps: the legacy filter when there is one, else FilterExpression."""
    return request.legacy_filter or request.filter


def _respond(
    page: Page,
    select: str,
    paths: list[ex.Path] | None,
    consumed: dict[str, Any] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"Count": page.count, "ScannedCount": page.scanned_count}
    if consumed is not None:
        out["ConsumedCapacity"] = consumed
    if select != "COUNT":
        out["Items"] = (
            [ex.project(i, paths) for i in page.items] if paths is not None else page.items
        )
    if page.last_evaluated_key is not None:
        out["LastEvaluatedKey"] = page.last_evaluated_key
    return out


def decode_query(body: dict[str, Any]) -> QueryRequest:
    shape = Shape(body)
    table = shape.table_name()
    index = shape.string("IndexName", min_len=3, max_len=255, pattern=indexes.NAME_PATTERN)
    kexpr = shape.string("KeyConditionExpression")
    fexpr = shape.string("FilterExpression")
    pexpr = shape.string("ProjectionExpression")
    limit = shape.integer("Limit", min_value=1)
    forward = shape.boolean("ScanIndexForward")
    consistent = shape.boolean("ConsistentRead") or False
    start = shape.mapping("ExclusiveStartKey")
    rcc = shape.string("ReturnConsumedCapacity", enum=_RCC)
    select = _select(shape, pexpr, index, "1 validation error detected: ")
    legacy.check_shapes(
        shape, ("KeyConditions", "QueryFilter", "ConditionalOperator", "AttributesToGet")
    )
    shape.done()
    # KeyConditions mixes with FilterExpression/ProjectionExpression; only
    # KeyConditionExpression excludes it (dynalite's validateExpressionParams; ExtendDB)
    legacy.reject_mixing(
        body,
        ("AttributesToGet", "QueryFilter", "ConditionalOperator")
        + (("KeyConditions",) if kexpr is not None else ()),
        ("ProjectionExpression", "FilterExpression", "KeyConditionExpression"),
    )
    select = legacy.select_for_attributes_to_get(body, select, "1 validation error detected: ")
    ctx = _context(shape, (kexpr, fexpr, pexpr))
    query_filter = legacy.filter_condition(body, "QueryFilter")
    attributes = legacy.attributes_to_get(body)
    key_conditions = body.get("KeyConditions")
    if kexpr is None and key_conditions is None:
        raise ValidationError(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
        )
    # the key condition up to its shape: matching it to the key schema needs the table
    # (run_query)
    key_condition: ex.KeyTerms | ex.KeyConditionsTerms
    if kexpr is not None:
        assert ctx is not None  # an expression always gets a context
        key_condition = ex.parse_key_terms(kexpr, ctx)
    else:
        assert key_conditions is not None
        key_condition = ex.key_conditions_terms(key_conditions)
    cond = _filter(ctx, fexpr)
    paths = ex.parse_projection(pexpr, ctx) if pexpr is not None and ctx is not None else attributes
    if ctx is not None:
        ctx.check_all_used()
    return QueryRequest(
        table,
        index,
        key_condition,
        cond,
        query_filter,
        paths,
        select,
        limit,
        forward is not False,
        consistent,
        start,
        rcc,
    )


async def run_query(region: Region, request: QueryRequest) -> dict[str, Any]:
    table, index, consistent = request.table, request.index, request.consistent
    spec = await region.control.table_spec(table)
    idx = spec.index(index) if index is not None else None
    if index is not None and idx is None:
        raise ValidationError(f"The table does not have the specified index: {index}")
    schema: KeySchema = idx.key_schema if idx is not None else spec.key_schema
    kc = request.key_condition.resolve_for(schema)
    cond, paths = request.filter, request.projection
    if request.legacy_filter is not None:
        filtered = {str(p[0]) for p in ex.paths_in(request.legacy_filter.expr)}
        for name in schema.names:
            if name in filtered:
                raise ValidationError(
                    "QueryFilter can only contain non-primary key attributes: "
                    f"Primary key attribute: {name}"
                )
    if cond is not None:
        for path in ex.paths_in(cond.expr):
            if path[0] in schema.names:
                raise ValidationError(
                    "Filter Expression can only contain non-primary key attributes: "
                    f"Primary key attribute: {path[0]}"
                )
    reads.check_gsi_projection(spec, index, paths, cond.expr if cond is not None else None)
    # a page's size is known only after reading it: the minimum now, the rest after
    ticket = throttle.admit_reads(region, [(spec, index, consistent, 1)])
    page = await region.data.query(
        table,
        hash_value=kc.hash_value,
        range_op=kc.range_op,
        range_values=kc.range_values,
        hash_values=kc.hash_values,
        range_prefix=kc.range_prefix,
        index=index,
        forward=request.forward,
        limit=request.limit,
        exclusive_start_key=request.start,
        keep=_keep(request),
        consistent=consistent,
        full_items=reads.full_items(spec, index, request.select, paths),
    )
    consumed = _page_capacity(request.return_consumed, table, spec, index, page, consistent, ticket)
    return _respond(page, request.select, paths, consumed)


def decode_scan(body: dict[str, Any]) -> ScanRequest:
    shape = Shape(body)
    table = shape.table_name()
    index = shape.string("IndexName", min_len=3, max_len=255, pattern=indexes.NAME_PATTERN)
    fexpr = shape.string("FilterExpression")
    pexpr = shape.string("ProjectionExpression")
    limit = shape.integer("Limit", min_value=1)
    segment = shape.integer("Segment", min_value=0, max_value=999999)
    total = shape.integer("TotalSegments", min_value=1, max_value=1000000)
    consistent = shape.boolean("ConsistentRead") or False
    start = shape.mapping("ExclusiveStartKey")
    rcc = shape.string("ReturnConsumedCapacity", enum=_RCC)
    select = _select(shape, pexpr, index, "")
    legacy.check_shapes(shape, ("ScanFilter", "ConditionalOperator", "AttributesToGet"))
    shape.done()
    legacy.reject_mixing(
        body,
        ("AttributesToGet", "ScanFilter", "ConditionalOperator"),
        ("ProjectionExpression", "FilterExpression"),
    )
    select = legacy.select_for_attributes_to_get(body, select, "")
    if (segment is None) != (total is None):
        raise ValidationError(
            "The TotalSegments parameter is required but was not present in the request when "
            "Segment parameter is present"
            if total is None
            else "The Segment parameter is required but was not present in the request when "
            "parameter TotalSegments is present"
        )
    if segment is not None and total is not None and segment >= total:
        raise ValidationError(
            f"The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total}"
        )
    ctx = _context(shape, (fexpr, pexpr))
    # AttributesToGet before ScanFilter: dynalite's scan suite shows a duplicate name
    # reported ahead of an invalid filter value
    attributes = legacy.attributes_to_get(body)
    scan_filter = legacy.filter_condition(body, "ScanFilter")
    cond = _filter(ctx, fexpr)
    paths = (
        ex.parse_projection(pexpr, ctx)
        if pexpr is not None and ctx is not None
        else attributes
    )
    if ctx is not None:
        ctx.check_all_used()
    return ScanRequest(
        table,
        index,
        cond,
        scan_filter,
        paths,
        select,
        limit,
        segment,
        total,
        consistent,
        start,
        rcc,
    )


async def run_scan(region: Region, request: ScanRequest) -> dict[str, Any]:
    table, index, consistent = request.table, request.index, request.consistent
    cond, paths, select = request.filter, request.projection, request.select
    spec = await region.control.table_spec(table)
    reads.check_gsi_projection(spec, index, paths, cond.expr if cond is not None else None)
    ticket = throttle.admit_reads(region, [(spec, index, consistent, 1)])
    page = await region.data.scan(
        table,
        index=index,
        consistent=consistent,
        full_items=reads.full_items(spec, index, select, paths) if index is not None else False,
        limit=request.limit,
        exclusive_start_key=request.start,
        keep=_keep(request),
        segment=request.segment,
        total_segments=request.total_segments,
    )
    consumed = _page_capacity(request.return_consumed, table, spec, index, page, consistent, ticket)
    return _respond(page, select, paths, consumed)


def _page_capacity(
    rcc: str | None,
    table: str,
    spec: TableSpec,
    index: str | None,
    page: Page,
    consistent: bool,
    ticket: throttle.Ticket,
) -> dict[str, Any] | None:
    """Settle the page's throughput; its ConsumedCapacity if the request asked."""
    if not (ticket.active or capacity.wanted(rcc)):
        return None
    consumed = capacity.page_read(spec, index, page, consistent=consistent)
    ticket.settle([(spec, consumed)])
    return capacity.consumed_capacity(rcc, table, consumed)
