"""The operation registry: every DynamoDB protocol operation a region answers, once.

Each :class:`Operation` names one ``X-Amz-Target`` operation and says

- which service answers it (``dynamodb``: ``DynamoDB_20120810.<name>``, or
  ``streams``: ``DynamoDBStreams_20120810.<name>``),
- how it is served: the item operations, whose authorization reads their parsed
  expressions, as ``decode`` (body -> a request object of ``api.dynamodb.requests``:
  shapes checked, expressions parsed once) and ``run`` (region, request -> answer),
  the router authorizing the request in between; every other operation, whose
  authorization reads only names and ARNs of the body, as one ``handler`` (or
  ``context_handler`` for the few that also need the HTTP request, see
  :class:`api.dynamodb.transport.RequestContext`),
- whether a worker process serves it itself (``worker=True``: the item operations)
  or relays it to the region's primary process (docs/regions.md, "Worker processes"),
- the family it is listed under in docs/compatibility.md's operations table.

Everything that needs the list reads it from here:

- ``api.dynamodb.router`` dispatches from :data:`DECODED`, :data:`HANDLERS` and
  :data:`CONTEXT_HANDLERS`, dicts built once at import, so an item request costs one
  dict lookup and any other at most three;
- ``api.forwarding.served_by_worker`` (a worker process's routing) tests a request's
  target against :data:`WORKER_TARGETS`;
- ``api.app`` takes the metrics' ``operation`` label values from :data:`NAMES`;
- ``tests/unit/test_operations.py`` fails when docs/compatibility.md's table or
  docs/regions.md's list of worker operations differs from :data:`REGISTRY`, either
  way (an operation missing from the docs, or documented but not served).

Adding an operation: one entry below, its authorization mapping in
``api.authorization.BUILDERS`` (and, for a decoded one, in
``api.authorization.REQUEST_BUILDERS``; ``tests/unit/test_authorization.py`` checks
every registered operation has its mappings) and its name in the docs' table.

The handler modules are imported eagerly: none of them imports this module or the
router, so there is no cycle, and mypy checks every handler's signature here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, TypeVar

from api.dynamodb import (
    backups,
    batch,
    endpoints,
    exports,
    global_tables_2017,
    items,
    reads,
    resource_policies,
    streams,
    tables,
    tags,
    transactions,
    ttl,
)
from api.dynamodb.protocol import DYNAMODB_PREFIX, STREAMS_PREFIX
from api.dynamodb.transport import RequestContext
from regions.region import Region

__all__ = [
    "CONTEXT_HANDLERS",
    "DECODED",
    "FAMILIES",
    "HANDLERS",
    "NAMES",
    "REGISTRY",
    "SERVICES",
    "WORKER_TARGETS",
    "ContextHandler",
    "Decoded",
    "Decoder",
    "Handler",
    "Operation",
    "Runner",
    "Service",
]

Service = Literal["dynamodb", "streams"]
#: the services, with the ``X-Amz-Target`` prefix of each (``api.dynamodb.protocol``)
SERVICES: Final[dict[Service, str]] = {"dynamodb": DYNAMODB_PREFIX, "streams": STREAMS_PREFIX}

Handler = Callable[[Region, dict[str, Any]], Awaitable[dict[str, Any] | None]]
#: a handler that also needs the HTTP request (e.g. its Host)
ContextHandler = Callable[
    [Region, dict[str, Any], RequestContext], Awaitable[dict[str, Any] | None]
]

#: body -> the operation's request object (api.dynamodb.requests); raises the
#: request's ValidationException or SerializationException
Decoder = Callable[[dict[str, Any]], Any]
#: (region, the decoded request) -> the answer
Runner = Callable[[Region, Any], Awaitable[dict[str, Any] | None]]
_R = TypeVar("_R")


class Decoded(NamedTuple):
    """A decoded operation's two halves, as the router looks them up."""

    decode: Decoder
    run: Runner


# the families, in the order of docs/compatibility.md's operations table
TABLES: Final = "Tables"
ITEMS: Final = "Items"
READS: Final = "Reads"
BATCHES: Final = "Batches"
TRANSACTIONS: Final = "Transactions"
TTL: Final = "TTL"
TAGS: Final = "Tags"
RESOURCE_POLICIES: Final = "Resource policies"
STREAMS: Final = "Streams"
GLOBAL_TABLES: Final = "Global tables"
BACKUPS: Final = "Backups"
EXPORTS: Final = "Exports and imports"
FAMILIES: Final = (
    TABLES,
    ITEMS,
    READS,
    BATCHES,
    TRANSACTIONS,
    TTL,
    TAGS,
    RESOURCE_POLICIES,
    STREAMS,
    GLOBAL_TABLES,
    BACKUPS,
    EXPORTS,
)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: its name, who serves it, its handler, where the docs list it."""

    name: str
    service: Service
    family: str
    handler: Handler | None = None
    context_handler: ContextHandler | None = None
    #: a worker process serves it itself; otherwise a worker relays it to the primary
    worker: bool = False
    decode: Decoder | None = None
    run: Runner | None = None

    def __post_init__(self) -> None:
        if (self.decode is None) != (self.run is None):
            raise ValueError(f"{self.name}: decode and run go together")
        served = [self.handler, self.context_handler, self.decode]
        if sum(h is not None for h in served) != 1:
            raise ValueError(f"{self.name}: exactly one of handler, context_handler and decode/run")
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}")

    @property
    def target(self) -> str:
        """Its ``X-Amz-Target`` header value."""
        return SERVICES[self.service] + self.name


def _ddb(name: str, family: str, handler: Handler) -> Operation:
    return Operation(name, "dynamodb", family, handler)


def _item(
    name: str,
    family: str,
    decode: Callable[[dict[str, Any]], _R],
    run: Callable[[Region, _R], Awaitable[dict[str, Any]]],
) -> Operation:
    """A decoded operation (mypy checks that ``run`` takes what ``decode`` makes); a
    worker process serves every one of them itself."""
    return Operation(name, "dynamodb", family, worker=True, decode=decode, run=run)


#: every operation, grouped by family as docs/compatibility.md lists them
REGISTRY: Final[tuple[Operation, ...]] = (
    _ddb("CreateTable", TABLES, tables.create_table),
    _ddb("DescribeTable", TABLES, tables.describe_table),
    _ddb("ListTables", TABLES, tables.list_tables),
    _ddb("UpdateTable", TABLES, tables.update_table),
    _ddb("DeleteTable", TABLES, tables.delete_table),
    Operation(
        "DescribeEndpoints", "dynamodb", TABLES, context_handler=endpoints.describe_endpoints
    ),
    _ddb("DescribeLimits", TABLES, tables.describe_limits),
    # the item operations: a worker process serves these itself
    _item("PutItem", ITEMS, items.decode_put_item, items.run_put_item),
    _item("GetItem", ITEMS, items.decode_get_item, items.run_get_item),
    _item("UpdateItem", ITEMS, items.decode_update_item, items.run_update_item),
    _item("DeleteItem", ITEMS, items.decode_delete_item, items.run_delete_item),
    _item("Query", READS, reads.decode_query, reads.run_query),
    _item("Scan", READS, reads.decode_scan, reads.run_scan),
    _item("BatchGetItem", BATCHES, batch.decode_batch_get_item, batch.run_batch_get_item),
    _item("BatchWriteItem", BATCHES, batch.decode_batch_write_item, batch.run_batch_write_item),
    _item(
        "TransactWriteItems",
        TRANSACTIONS,
        transactions.decode_transact_write_items,
        transactions.run_transact_write_items,
    ),
    _item(
        "TransactGetItems",
        TRANSACTIONS,
        transactions.decode_transact_get_items,
        transactions.run_transact_get_items,
    ),
    # the rest goes to the primary
    _ddb("UpdateTimeToLive", TTL, ttl.update_time_to_live),
    _ddb("DescribeTimeToLive", TTL, ttl.describe_time_to_live),
    _ddb("TagResource", TAGS, tags.tag_resource),
    _ddb("UntagResource", TAGS, tags.untag_resource),
    _ddb("ListTagsOfResource", TAGS, tags.list_tags),
    _ddb("PutResourcePolicy", RESOURCE_POLICIES, resource_policies.put_resource_policy),
    _ddb("GetResourcePolicy", RESOURCE_POLICIES, resource_policies.get_resource_policy),
    _ddb("DeleteResourcePolicy", RESOURCE_POLICIES, resource_policies.delete_resource_policy),
    Operation("ListStreams", "streams", STREAMS, streams.list_streams),
    Operation("DescribeStream", "streams", STREAMS, streams.describe_stream),
    Operation("GetShardIterator", "streams", STREAMS, streams.get_shard_iterator),
    Operation("GetRecords", "streams", STREAMS, streams.get_records),
    # version 2017.11.29 (version 2019.11.21 is UpdateTable's ReplicaUpdates)
    _ddb("CreateGlobalTable", GLOBAL_TABLES, global_tables_2017.create_global_table),
    _ddb("DescribeGlobalTable", GLOBAL_TABLES, global_tables_2017.describe_global_table),
    _ddb("UpdateGlobalTable", GLOBAL_TABLES, global_tables_2017.update_global_table),
    _ddb("ListGlobalTables", GLOBAL_TABLES, global_tables_2017.list_global_tables),
    _ddb(
        "DescribeGlobalTableSettings",
        GLOBAL_TABLES,
        global_tables_2017.describe_global_table_settings,
    ),
    _ddb(
        "UpdateGlobalTableSettings", GLOBAL_TABLES, global_tables_2017.update_global_table_settings
    ),
    _ddb(
        "DescribeTableReplicaAutoScaling",
        GLOBAL_TABLES,
        global_tables_2017.describe_table_replica_auto_scaling,
    ),
    # on-demand backups and point-in-time recovery (regions/protection/)
    _ddb("CreateBackup", BACKUPS, backups.create_backup),
    _ddb("DescribeBackup", BACKUPS, backups.describe_backup),
    _ddb("ListBackups", BACKUPS, backups.list_backups),
    _ddb("DeleteBackup", BACKUPS, backups.delete_backup),
    _ddb("RestoreTableFromBackup", BACKUPS, backups.restore_table_from_backup),
    _ddb("UpdateContinuousBackups", BACKUPS, backups.update_continuous_backups),
    _ddb("DescribeContinuousBackups", BACKUPS, backups.describe_continuous_backups),
    _ddb("RestoreTableToPointInTime", BACKUPS, backups.restore_table_to_point_in_time),
    # exports to and imports from S3-compatible storage (regions/protection/)
    _ddb("ExportTableToPointInTime", EXPORTS, exports.export_table_to_point_in_time),
    _ddb("DescribeExport", EXPORTS, exports.describe_export),
    _ddb("ListExports", EXPORTS, exports.list_exports),
    _ddb("ImportTable", EXPORTS, exports.import_table),
    _ddb("DescribeImport", EXPORTS, exports.describe_import),
    _ddb("ListImports", EXPORTS, exports.list_imports),
)


def _dispatch() -> tuple[
    dict[str, dict[str, Decoded]],
    dict[str, dict[str, Handler]],
    dict[str, dict[str, ContextHandler]],
]:
    decoded: dict[str, dict[str, Decoded]] = {service: {} for service in SERVICES}
    plain: dict[str, dict[str, Handler]] = {service: {} for service in SERVICES}
    context: dict[str, dict[str, ContextHandler]] = {service: {} for service in SERVICES}
    for op in REGISTRY:
        service = op.service
        if op.name in decoded[service] or op.name in plain[service] or op.name in context[service]:
            raise ValueError(f"{op.target} is registered twice")
        if op.decode is not None and op.run is not None:
            decoded[service][op.name] = Decoded(op.decode, op.run)
        elif op.handler is not None:
            plain[service][op.name] = op.handler
        elif op.context_handler is not None:
            context[service][op.name] = op.context_handler
    return decoded, plain, context


#: service -> operation name -> handler: what the router looks a request up in.
#: Keyed by ``str``, as ``api.dynamodb.protocol.parse_target`` returns the service.
#: DECODED holds the item operations' (decode, run); CONTEXT_HANDLERS the handlers
#: that take a RequestContext, kept apart so the plain handlers keep their
#: two-argument signature.
DECODED, HANDLERS, CONTEXT_HANDLERS = _dispatch()
#: the ``X-Amz-Target`` values a worker process answers itself (raw header bytes)
WORKER_TARGETS: Final[frozenset[bytes]] = frozenset(
    op.target.encode() for op in REGISTRY if op.worker
)
#: every operation name (of either service)
NAMES: Final[frozenset[str]] = frozenset(op.name for op in REGISTRY)
