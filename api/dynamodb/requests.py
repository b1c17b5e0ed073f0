"""The decoded item requests: what a handler's ``decode`` makes of a request body.

Each is frozen and typed, built once per request by the operation's ``decode``
(every shape check and every expression parsed, before the region is touched) and
read twice: by authorization (``api.authorization.request_checks``: the attribute
names come from the parsed trees, ``regions.expressions.paths_in``) and by the
operation's ``run`` (the planes, then the encoding).  Nothing in here is parsed
again: expressions are held as trees (``ParsedCondition``, ``ex.Update``, projection
paths, ``KeyTerms``), writes as the typed operations of ``regions/data/ops.py``.

Members that only echo the request are kept as sent: ``return_values`` is None when
ReturnValues was not sent (the operation then acts on ``NONE``), which is also what
the ``dynamodb:ReturnValues`` condition key needs.  ``collection_metrics`` is whether
ReturnItemCollectionMetrics asked for ``SIZE``: the run refuses it on a table with
local secondary indexes (``api.dynamodb.items.refuse_collection_metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from regions import expressions as ex
from regions import transactions as tx
from regions.batch import WriteRequest
from regions.data import Delete, Put, Update
from regions.types import Item

__all__ = [
    "BatchGetItemRequest",
    "BatchWriteItemRequest",
    "DeleteItemRequest",
    "GetItemRequest",
    "PutItemRequest",
    "QueryRequest",
    "ScanRequest",
    "TableGets",
    "TableWrites",
    "TransactGet",
    "TransactGetItemsRequest",
    "TransactWriteItemsRequest",
    "UpdateItemRequest",
]

#: a projection: ProjectionExpression's paths, or AttributesToGet's names as paths
Projection = list[ex.Path]
#: a Query's key condition before it meets the key schema (expression or KeyConditions)
KeySource = ex.KeyTerms | ex.KeyConditionsTerms


# --------------------------------------------------------------------------- single items


@dataclass(frozen=True, slots=True)
class GetItemRequest:
    table: str
    key: Item
    consistent: bool
    #: None: the whole item
    projection: Projection | None
    return_consumed: str | None


@dataclass(frozen=True, slots=True)
class PutItemRequest:
    #: the write, its condition a ParsedCondition (ConditionExpression or Expected)
    op: Put
    return_values: str | None
    return_consumed: str | None
    #: ReturnItemCollectionMetrics=SIZE
    collection_metrics: bool = False


@dataclass(frozen=True, slots=True)
class DeleteItemRequest:
    op: Delete
    return_values: str | None
    return_consumed: str | None
    #: ReturnItemCollectionMetrics=SIZE
    collection_metrics: bool = False


@dataclass(frozen=True, slots=True)
class UpdateItemRequest:
    #: the write: UpdateExpression (``op.update``) or AttributeUpdates
    #: (``op.attribute_updates``), both ``ex.Update`` trees
    op: Update
    return_values: str | None
    return_consumed: str | None
    #: ReturnItemCollectionMetrics=SIZE
    collection_metrics: bool = False


# --------------------------------------------------------------------------- Query, Scan


@dataclass(frozen=True, slots=True)
class QueryRequest:
    table: str
    index: str | None
    key_condition: KeySource
    #: FilterExpression
    filter: ex.ParsedCondition | None
    #: the legacy QueryFilter
    legacy_filter: ex.ParsedCondition | None
    projection: Projection | None
    #: the effective Select (the default included)
    select: str
    limit: int | None
    forward: bool
    consistent: bool
    start: Item | None
    return_consumed: str | None


@dataclass(frozen=True, slots=True)
class ScanRequest:
    table: str
    index: str | None
    filter: ex.ParsedCondition | None
    #: the legacy ScanFilter
    legacy_filter: ex.ParsedCondition | None
    projection: Projection | None
    select: str
    limit: int | None
    segment: int | None
    total_segments: int | None
    consistent: bool
    start: Item | None
    return_consumed: str | None


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True, slots=True)
class TableGets:
    """One RequestItems entry of BatchGetItem."""

    #: as given: a table name or a table ARN
    table: str
    keys: list[Any]
    consistent: bool
    projection: Projection | None
    #: the entry as sent: UnprocessedKeys gives it back with the keys left
    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchGetItemRequest:
    tables: tuple[TableGets, ...]
    return_consumed: str | None


@dataclass(frozen=True, slots=True)
class TableWrites:
    """One RequestItems entry of BatchWriteItem."""

    table: str
    requests: tuple[WriteRequest, ...]
    #: the WriteRequests as sent: UnprocessedItems gives back the ones left
    sent: list[Any]


@dataclass(frozen=True, slots=True)
class BatchWriteItemRequest:
    tables: tuple[TableWrites, ...]
    return_consumed: str | None
    #: ReturnItemCollectionMetrics=SIZE
    collection_metrics: bool = False


# --------------------------------------------------------------------------- transactions


@dataclass(frozen=True, slots=True)
class TransactWriteItemsRequest:
    #: each action's typed write (Put, Update, Delete, ConditionCheck), expressions parsed
    actions: tuple[tx.WriteAction, ...]
    token: str | None
    #: the request's identity for ClientRequestToken ("" without a token)
    digest: str
    return_consumed: str | None
    #: ReturnItemCollectionMetrics=SIZE
    collection_metrics: bool = False


@dataclass(frozen=True, slots=True)
class TransactGet:
    table: str
    key: Any
    projection: Projection | None


@dataclass(frozen=True, slots=True)
class TransactGetItemsRequest:
    gets: tuple[TransactGet, ...]
    return_consumed: str | None
