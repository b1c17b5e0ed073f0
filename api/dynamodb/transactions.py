"""TransactWriteItems and TransactGetItems: shape checks, expression parsing, translation.

``decode_*`` makes the request object (each action's typed write with its parsed
condition and update, or each Get's projection), ``run_*`` the call.

Each action has its own ExpressionAttributeNames/Values, so its own
ExpressionContext and its own unused-placeholder check; a bad expression rejects the
whole request with a ValidationException (Alternator's test_transact.py, observed on
DynamoDB).  Everything about meaning (item and key validation, the 4 MB payload,
duplicates, cancellation reasons, ClientRequestToken) is regions/transactions.py's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from api.dynamodb.items import (
    _condition,
    _context,
    collection_metrics_wanted,
    refuse_collection_metrics,
)
from api.dynamodb.requests import TransactGet, TransactGetItemsRequest, TransactWriteItemsRequest
from api.dynamodb.shapes import Shape
from regions import capacity, throttle
from regions import expressions as ex
from regions import transactions as tx
from regions.catalog import TableSpec
from regions.data import ConditionCheck, Delete, Put, Update, WriteOp
from regions.errors import DynamoError, ValidationError
from regions.region import Region
from regions.types import value_size

__all__ = [
    "decode_transact_get_items",
    "decode_transact_write_items",
    "run_transact_get_items",
    "run_transact_write_items",
]

MAX_ACTIONS: Final = 100
_RCC: Final = ("INDEXES", "TOTAL", "NONE")
_RVCCF: Final = ("ALL_OLD", "NONE")
#: TransactWriteItem members, in the model's order
_KINDS: Final = (tx.CHECK, tx.PUT, tx.DELETE, tx.UPDATE)
# dynalite's validations/transactWriteItems.js (an entry with no action at all)
_NO_ACTION: Final = (
    "The action or operation requested is invalid. Verify that the action is typed correctly."
)
# Unverified wording for an entry with several actions; DynamoDB's model allows one.
_SEVERAL_ACTIONS: Final = "TransactItems can only contain one of Check, Put, Update or Delete"


def _op(kind: str, table: str, item: Any, key: Any, return_old: bool) -> WriteOp:
    if kind == tx.PUT:
        return Put(table, None, return_old, item=item)
    if kind == tx.DELETE:
        return Delete(table, None, return_old, key=key)
    if kind == tx.UPDATE:
        return Update(table, None, return_old, key=key)
    return ConditionCheck(table, None, return_old, key=key)


def _action(kind: str, a: Shape) -> tuple[tx.WriteAction, Shape, tuple[str | None, ...]]:
    """Read one action's members (constraint failures collect in the shared list)."""
    table = a.table_name()
    item = a.mapping("Item", required=True) if kind == tx.PUT else None
    key = a.mapping("Key", required=True) if kind != tx.PUT else None
    cexpr = a.string("ConditionExpression", required=kind == tx.CHECK)
    uexpr = a.string("UpdateExpression", required=True) if kind == tx.UPDATE else None
    rvccf = a.string("ReturnValuesOnConditionCheckFailure", enum=_RVCCF)
    action = tx.WriteAction(_op(kind, table, item, key, rvccf == "ALL_OLD"))
    return action, a, (cexpr, uexpr)


def _with_expressions(
    action: tx.WriteAction, a: Shape, exprs: tuple[str | None, ...]
) -> tx.WriteAction:
    cexpr, uexpr = exprs
    ctx = _context(a, (cexpr, uexpr))
    if ctx is None:
        return action
    update = ex.parse_update(uexpr, ctx) if uexpr is not None else None
    condition = _condition(ctx, cexpr)
    ctx.check_all_used()
    op = replace(action.op, condition=condition)
    if isinstance(op, Update):
        op = replace(op, update=update)
    return tx.WriteAction(op, values_size=sum(value_size(v) for v in ctx.values.values()))


def decode_transact_write_items(body: dict[str, Any]) -> TransactWriteItemsRequest:
    shape = Shape(body)
    entries = shape.listing("TransactItems", required=True, min_len=1, max_len=MAX_ACTIONS)
    rcc = shape.string("ReturnConsumedCapacity", enum=_RCC)
    metrics = collection_metrics_wanted(shape)
    token = shape.string("ClientRequestToken", min_len=1, max_len=36)
    read: list[tuple[tx.WriteAction, Shape, tuple[str | None, ...]] | None] = []
    kinds_seen: list[int] = []
    for i, el in enumerate(entries or [], 1):
        sub = shape.child(el, f"transactItems.{i}.member")
        kinds = [k for k in _KINDS if sub.body.get(k) is not None]
        kinds_seen.append(len(kinds))
        a = sub.struct(kinds[0]) if len(kinds) == 1 else None
        read.append(_action(kinds[0], a) if a is not None else None)
    shape.done()
    if any(n == 0 for n in kinds_seen):
        raise ValidationError(_NO_ACTION)
    if any(n > 1 for n in kinds_seen):
        raise ValidationError(_SEVERAL_ACTIONS)
    actions = tuple(_with_expressions(*r) for r in read if r is not None)
    digest = tx.request_hash(body.get("TransactItems")) if token is not None else ""
    return TransactWriteItemsRequest(actions, token, digest, rcc, metrics)


async def run_transact_write_items(
    region: Region, request: TransactWriteItemsRequest
) -> dict[str, Any]:
    actions = list(request.actions)
    demands = await _write_demands(region, actions)
    for spec, _ in demands:
        refuse_collection_metrics("TransactWriteItems", spec, request.collection_metrics)
    ticket = throttle.admit_writes(region, demands, transactional=True)
    result = await tx.transact_write(region, actions, token=request.token, digest=request.digest)
    if ticket.active:
        ticket.settle(_transact_spent(result))
    rcc = request.return_consumed
    if not capacity.wanted(rcc):
        return {}
    usage, split = capacity.transact_writes(
        [a.table for a in actions], result.specs, result.outcomes, result.replayed_sizes
    )
    return {"ConsumedCapacity": usage.consumed_capacity(rcc, split)}


async def _write_demands(
    region: Region, actions: list[tx.WriteAction]
) -> list[tuple[TableSpec, list[object | None]]]:
    """Each table's writes for throughput admission (a Put's item, None for the rest);
    tables that do not exist are left to regions/transactions.py to report."""
    by_table: dict[str, tuple[TableSpec, list[object | None]]] = {}
    for action in actions:
        try:
            spec = await region.control.table_spec(action.table)
        except DynamoError:
            continue
        by_table.setdefault(spec.table_id, (spec, []))[1].append(
            action.op.item if isinstance(action.op, Put) else None
        )
    return list(by_table.values())


def _transact_spent(result: tx.TransactWriteResult) -> list[tuple[TableSpec, capacity.Consumed]]:
    """What a TransactWriteItems call's writes actually cost, per action.  A replay
    wrote nothing: its write estimate is refunded (it is billed as reads, which
    ReturnConsumedCapacity reports, but it is not held against read capacity)."""
    if result.replayed_sizes is not None:
        return []
    return [
        (spec, capacity.item_write(spec, o.old, o.new, transactional=True))
        for spec, o in zip(result.specs, result.outcomes, strict=True)
    ]


def decode_transact_get_items(body: dict[str, Any]) -> TransactGetItemsRequest:
    shape = Shape(body)
    entries = shape.listing("TransactItems", required=True, min_len=1, max_len=MAX_ACTIONS)
    rcc = shape.string("ReturnConsumedCapacity", enum=_RCC)
    gets: list[tuple[str, Any, Shape, str | None]] = []
    for i, el in enumerate(entries or [], 1):
        g = shape.child(el, f"transactItems.{i}.member").struct("Get", required=True)
        if g is None:
            continue
        table = g.table_name()
        key = g.mapping("Key", required=True)
        gets.append((table, key, g, g.string("ProjectionExpression")))
    shape.done()
    decoded: list[TransactGet] = []
    for table, key, g, pexpr in gets:
        ctx = _context(g, (pexpr,))
        paths = ex.parse_projection(pexpr, ctx) if pexpr is not None and ctx is not None else None
        if ctx is not None:
            ctx.check_all_used()
        decoded.append(TransactGet(table, key, paths))
    return TransactGetItemsRequest(tuple(decoded), rcc)


async def run_transact_get_items(
    region: Region, request: TransactGetItemsRequest
) -> dict[str, Any]:
    gets = request.gets
    reads: dict[str, tuple[TableSpec, str | None, bool, int]] = {}
    for get in gets:
        try:
            spec = await region.control.table_spec(get.table)
        except DynamoError:
            continue  # region.data.get_many reports it
        n = reads.get(spec.table_id, (spec, None, True, 0))[3]
        reads[spec.table_id] = (spec, None, True, n + 1)
    ticket = throttle.admit_reads(region, list(reads.values()), transactional=True)
    found = await region.data.get_many([(get.table, get.key) for get in gets])
    responses: list[dict[str, Any]] = []
    for item, get in zip(found, gets, strict=True):
        if item is None:
            responses.append({})  # aligned with the request: a missing item is {}
        else:
            paths = get.projection
            responses.append({"Item": ex.project(item, paths) if paths is not None else item})
    out: dict[str, Any] = {"Responses": responses}
    if ticket.active:
        ticket.settle(
            [
                (await region.control.table_spec(get.table), capacity.transact_read(item))
                for get, item in zip(gets, found, strict=True)
            ]
        )
    rcc = request.return_consumed
    if capacity.wanted(rcc):
        usage = capacity.PerTable()
        for get, item in zip(gets, found, strict=True):
            usage.add(get.table, get.table, capacity.transact_read(item))
        out["ConsumedCapacity"] = usage.consumed_capacity(rcc, capacity.READ)
    return out
