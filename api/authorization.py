"""What a request needs to be allowed: request -> (action, resource, condition keys).

The one place that maps every DynamoDB, DynamoDB Streams and REST operation to IAM
authorizations; ``regions/policy.py`` evaluates them against the caller's policies.
The router calls :func:`authorize` right before dispatch, the REST routes
:func:`authorize_rest`, so a denied request has run nothing and changed nothing.

Who: ``regions.principals.current`` (set by ``api/auth``).  ``None`` (anonymous
access allowed) and the admin (``policies=None``) are allowed everything, for free.

Actions and resources (AWS Service Authorization Reference):

* item and table operations: ``dynamodb:<Operation>`` on the table ARN (a TableName
  given as an ARN is the same table of this region);
* Query and Scan with IndexName: the index ARN ``.../table/T/index/I``;
* BatchGetItem / BatchWriteItem: the batch action, once per item, on its table;
* TransactWriteItems / TransactGetItems: each part as its item action (PutItem,
  UpdateItem, DeleteItem, ``ConditionCheckItem``, GetItem) with
  ``dynamodb:EnclosingOperation``;
* UpdateTable with ReplicaUpdates: also ``CreateTableReplica``/``DeleteTableReplica``;
* Streams: DescribeStream, GetShardIterator and GetRecords on the stream ARN (for
  GetRecords, the one its iterator names); ListStreams on ``*``;
* ListTables, DescribeLimits, DescribeEndpoints, ListGlobalTables: ``*``; the version 2017.11.29
  global-table operations: ``arn:aws:dynamodb::<acct>:global-table/<name>``.

Condition keys (AWS "Using IAM policy conditions for fine-grained access control"):

* ``dynamodb:LeadingKeys``: the partition-key value of each item accessed (a
  Query's key-condition value, of the index when it queries one); Scan has none.
  Numbers are canonical (``1E+3`` is ``1000``), binaries their base64 text;
* ``dynamodb:Attributes``: the top-level attribute names the request names: key
  attributes, a Put's item attributes, projected attributes, and every attribute an
  expression or legacy parameter refers to (a filter on a forbidden attribute would
  otherwise leak it).  Absent when the request names none;
* ``dynamodb:Select``: Query and Scan's effective Select (the default included).
  Our choice, fail-closed: GetItem, BatchGetItem and TransactGetItems report
  ``SPECIFIC_ATTRIBUTES`` with a projection and ``ALL_ATTRIBUTES`` without, so the
  documented ``StringEqualsIfExists: {dynamodb:Select: SPECIFIC_ATTRIBUTES}`` guard
  also keeps a projection-less GetItem from returning unlisted attributes;
* ``dynamodb:ReturnValues``, ``dynamodb:ReturnConsumedCapacity``: as sent (absent
  when not sent, so policies use the ``IfExists`` forms);
* ``dynamodb:EnclosingOperation``: on transaction parts;
* ``aws:username``, ``aws:userid``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``
  (see regions/policy.py's variables).

A key that cannot be worked out (an unknown table, a malformed expression) is left
out; the request then fails its own validation before doing anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from regions import expressions as ex
from regions import policy as pol
from regions import principals
from regions.errors import AccessDenied, DynamoError
from regions.keys import KeySchema
from regions.region import Region
from regions.streams import parse_stream_arn
from regions.types import AttributeValue, normalize_number

__all__ = [
    "BUILDERS",
    "Check",
    "authorize",
    "authorize_rest",
    "checks_for",
    "enforce",
]

log = logging.getLogger("globaltables.authorization")

SERVICE: Final = "dynamodb"
ANY: Final = "*"
LEADING_KEYS: Final = "dynamodb:LeadingKeys"
ATTRIBUTES: Final = "dynamodb:Attributes"
SELECT: Final = "dynamodb:Select"
RETURN_VALUES: Final = "dynamodb:ReturnValues"
RETURN_CONSUMED: Final = "dynamodb:ReturnConsumedCapacity"
ENCLOSING: Final = "dynamodb:EnclosingOperation"

_ARN_PREFIX: Final = "arn:aws:dynamodb:"
_WRITE_PARTS: Final = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Check:
    """One authorization a request needs: ``dynamodb:<action>`` on ``resource``."""

    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)


# --------------------------------------------------------------------------- enforcement


async def authorize(region: Region, service: str, op: str, body: dict[str, Any]) -> None:
    """Raise AccessDeniedException unless the current principal may run this request."""
    principal = principals.current.get()
    if principal is None or principal.is_admin:
        return
    enforce(principal, await checks_for(region, service, op, body))


def enforce(principal: principals.Principal, checks: Iterable[Check]) -> None:
    """Every check must be allowed; the first that is not is the one reported."""
    if principal.is_admin:
        return
    policies = _compiled(principal)
    variables = pol.principal_variables(principal.name, principal.account_id, principal.arn)
    for check in checks:
        action = f"{SERVICE}:{check.action}"
        decision = pol.evaluate(
            policies, pol.Request(action, check.resource, check.context), variables
        )
        if decision is not pol.Decision.ALLOW:
            raise AccessDenied(
                pol.denial_message(
                    principal.arn,
                    action,
                    check.resource,
                    explicit=decision is pol.Decision.EXPLICIT_DENY,
                )
            )


#: compiled documents by identity: a principal's documents are the same objects for
#: as long as its identity is cached, so each is compiled once, not per request
_CACHE: dict[int, tuple[object, pol.Policy | None]] = {}
_CACHE_MAX: Final = 1024


def _compiled(principal: principals.Principal) -> list[pol.Policy]:
    out: list[pol.Policy] = []
    for doc in principal.policies or ():
        hit = _CACHE.get(id(doc))
        if hit is None or hit[0] is not doc:
            try:
                compiled: pol.Policy | None = pol.compile_policy(doc)
            except pol.PolicyError as exc:
                # stored before validation existed: it grants nothing, and says so once
                log.warning("ignoring an invalid policy of user %s: %s", principal.name, exc)
                compiled = None
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            hit = _CACHE[id(doc)] = (doc, compiled)
        if hit[1] is not None:
            out.append(hit[1])
    return out


# --------------------------------------------------------------------------- helpers


def _table_name(value: object) -> str:
    """TableName as given (a name or a table ARN) -> the table's name."""
    name = value if isinstance(value, str) else ""
    if name.startswith(_ARN_PREFIX) and ":table/" in name:
        return name.split(":table/", 1)[1].split("/", 1)[0]
    return name


def _table_arn(region: Region, value: object) -> str:
    return region.arn(_table_name(value))


async def _schema(region: Region, table: str, index: str | None = None) -> KeySchema | None:
    """The key schema of the table (or of its index), None if there is none."""
    try:
        spec = await region.control.table_spec(table)
    except DynamoError:
        return None
    if index is None:
        return spec.key_schema
    idx = spec.index(index)
    return idx.key_schema if idx is not None else None


def _key_text(av: object) -> str | None:
    """A key value as LeadingKeys carries it (S as is, N canonical, B its base64)."""
    if not isinstance(av, dict) or len(av) != 1:
        return None
    tag, value = next(iter(av.items()))
    if not isinstance(value, str):
        return None
    if tag == "N":
        try:
            return normalize_number(value)
        except DynamoError:
            return value
    return value if tag in ("S", "B") else None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ctx(body: dict[str, Any]) -> ex.ExpressionContext | None:
    try:
        return ex.ExpressionContext(
            body.get("ExpressionAttributeNames"), body.get("ExpressionAttributeValues")
        )
    except (DynamoError, AttributeError, TypeError):
        return None


_paths = ex.paths_in


def _expression_names(body: dict[str, Any]) -> set[str]:
    """Top-level names of every expression in ``body`` (unparseable ones add nothing:
    the request fails on them anyway)."""
    names: set[str] = set()
    ctx = _ctx(body)
    if ctx is None:
        return names
    parsers: list[tuple[str, Callable[[str, ex.ExpressionContext], Any]]] = [
        ("ProjectionExpression", ex.parse_projection),
        ("UpdateExpression", ex.parse_update),
        ("ConditionExpression", lambda e, c: ex.parse_condition(e, c, "ConditionExpression")),
        ("FilterExpression", lambda e, c: ex.parse_condition(e, c, "FilterExpression")),
    ]
    for member, parse in parsers:
        text = body.get(member)
        if not isinstance(text, str):
            continue
        try:
            tree = parse(text, ctx)
        except (DynamoError, TypeError, AttributeError):
            continue
        # a projection is a list of paths; the other expressions are trees
        paths = tree if member == "ProjectionExpression" else _paths(tree)
        names.update(str(p[0]) for p in paths)
    return names


def _legacy_names(body: dict[str, Any]) -> set[str]:
    """Names in the legacy parameters (AttributesToGet, Expected, AttributeUpdates,
    KeyConditions, QueryFilter, ScanFilter)."""
    names: set[str] = set()
    attrs = body.get("AttributesToGet")
    if isinstance(attrs, list):
        names.update(a for a in attrs if isinstance(a, str))
    for member in ("Expected", "AttributeUpdates", "KeyConditions", "QueryFilter", "ScanFilter"):
        names.update(str(k) for k in _mapping(body.get(member)))
    return names


def _projects(body: dict[str, Any]) -> bool:
    return "ProjectionExpression" in body or "AttributesToGet" in body


def _context(
    *,
    leading: str | None = None,
    names: Iterable[str] = (),
    select: str | None = None,
    body: dict[str, Any] | None = None,
    enclosing: str | None = None,
) -> dict[str, list[str]]:
    ctx: dict[str, list[str]] = {}
    if leading is not None:
        ctx[LEADING_KEYS] = [leading]
    attrs = sorted(set(names))
    if attrs:
        ctx[ATTRIBUTES] = attrs
    if select is not None:
        ctx[SELECT] = [select]
    if body is not None:
        for member, key in (
            ("ReturnValues", RETURN_VALUES),
            ("ReturnConsumedCapacity", RETURN_CONSUMED),
        ):
            value = body.get(member)
            if isinstance(value, str):
                ctx[key] = [value]
    if enclosing is not None:
        ctx[ENCLOSING] = [enclosing]
    return ctx


def _leading(schema: KeySchema | None, values: dict[str, Any]) -> str | None:
    return _key_text(values.get(schema.hash.name)) if schema is not None else None


# --------------------------------------------------------------------------- item operations


async def _item_check(
    region: Region,
    action: str,
    body: dict[str, Any],
    *,
    enclosing: str | None = None,
    returns: bool = False,
) -> Check:
    """One single-item access described by ``body`` (a request, or one part of a
    transaction): Key or Item, expressions, legacy parameters."""
    table = _table_name(body.get("TableName"))
    schema = await _schema(region, table)
    item = _mapping(body.get("Item"))
    values = item or _mapping(body.get("Key"))
    names = set(values) | _expression_names(body) | _legacy_names(body)
    select = None
    if returns:
        select = "SPECIFIC_ATTRIBUTES" if _projects(body) else "ALL_ATTRIBUTES"
    return Check(
        action,
        region.arn(table),
        _context(
            leading=_leading(schema, values),
            names=names,
            select=select,
            body=body,
            enclosing=enclosing,
        ),
    )


async def _get_item(region: Region, body: dict[str, Any]) -> list[Check]:
    return [await _item_check(region, "GetItem", body, returns=True)]


async def _put_item(region: Region, body: dict[str, Any]) -> list[Check]:
    return [await _item_check(region, "PutItem", body)]


async def _update_item(region: Region, body: dict[str, Any]) -> list[Check]:
    return [await _item_check(region, "UpdateItem", body)]


async def _delete_item(region: Region, body: dict[str, Any]) -> list[Check]:
    return [await _item_check(region, "DeleteItem", body)]


async def _read_many(region: Region, body: dict[str, Any], action: str) -> list[Check]:
    """Query or Scan: the index ARN when IndexName is given."""
    table = _table_name(body.get("TableName"))
    index = body.get("IndexName")
    index = index if isinstance(index, str) else None
    resource = region.arn(table) + (f"/index/{index}" if index is not None else "")
    select = body.get("Select")
    if not isinstance(select, str):
        if _projects(body):
            select = "SPECIFIC_ATTRIBUTES"
        else:
            select = "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES"
    names = _expression_names(body) | _legacy_names(body)
    leading: str | None = None
    if action == "Query":
        schema = await _schema(region, table, index)
        if schema is not None:
            hash_value, range_used = _key_condition(body, schema)
            leading = _key_text(hash_value)
            names.add(schema.hash.name)
            if range_used and schema.range is not None:
                names.add(schema.range.name)
    return [
        Check(action, resource, _context(leading=leading, names=names, select=select, body=body))
    ]


def _key_condition(body: dict[str, Any], schema: KeySchema) -> tuple[AttributeValue | None, bool]:
    """(partition-key value, whether the sort key is constrained) of a Query."""
    rng = schema.range
    args = (
        schema.hash.name,
        schema.hash.type,
        rng.name if rng else None,
        rng.type if rng else None,
    )
    try:
        text = body.get("KeyConditionExpression")
        if isinstance(text, str):
            ctx = _ctx(body)
            if ctx is None:
                return None, False
            kc = ex.parse_key_condition(text, ctx, *args)
        elif isinstance(body.get("KeyConditions"), dict):
            kc = ex.key_conditions_to_key_condition(body["KeyConditions"], *args)
        else:
            return None, False
    except (DynamoError, TypeError, AttributeError):
        return None, False
    return kc.hash_value, kc.range_op is not None


async def _query(region: Region, body: dict[str, Any]) -> list[Check]:
    return await _read_many(region, body, "Query")


async def _scan(region: Region, body: dict[str, Any]) -> list[Check]:
    return await _read_many(region, body, "Scan")


# --------------------------------------------------------------------------- batches


async def _batch_get(region: Region, body: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for table_key, raw in _mapping(body.get("RequestItems")).items():
        table = _table_name(table_key)
        entry = _mapping(raw)
        schema = await _schema(region, table)
        select = "SPECIFIC_ATTRIBUTES" if _projects(entry) else "ALL_ATTRIBUTES"
        names = _expression_names(entry) | _legacy_names(entry)
        keys = entry.get("Keys")
        before = len(checks)
        for key in keys if isinstance(keys, list) else ():
            values = _mapping(key)
            checks.append(
                Check(
                    "BatchGetItem",
                    region.arn(table),
                    _context(
                        leading=_leading(schema, values), names=names | set(values), select=select
                    ),
                )
            )
        if len(checks) == before:
            checks.append(Check("BatchGetItem", region.arn(table), _context(select=select)))
    return checks or [Check("BatchGetItem", ANY)]


async def _batch_write(region: Region, body: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for table_key, raw in _mapping(body.get("RequestItems")).items():
        table = _table_name(table_key)
        schema = await _schema(region, table)
        before = len(checks)
        for request in raw if isinstance(raw, list) else ():
            request = _mapping(request)
            values = _mapping(_mapping(request.get("PutRequest")).get("Item")) or _mapping(
                _mapping(request.get("DeleteRequest")).get("Key")
            )
            checks.append(
                Check(
                    "BatchWriteItem",
                    region.arn(table),
                    _context(leading=_leading(schema, values), names=values),
                )
            )
        if len(checks) == before:
            checks.append(Check("BatchWriteItem", region.arn(table)))
    return checks or [Check("BatchWriteItem", ANY)]


# --------------------------------------------------------------------------- transactions


async def _transact_write(region: Region, body: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    entries = body.get("TransactItems")
    for entry in entries if isinstance(entries, list) else ():
        for kind, action in _WRITE_PARTS.items():
            part = _mapping(entry).get(kind)
            if part is not None:
                checks.append(
                    await _item_check(
                        region, action, _mapping(part), enclosing="TransactWriteItems"
                    )
                )
    # no part to authorize: the request is malformed, and the handler says so
    return checks


async def _transact_get(region: Region, body: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    entries = body.get("TransactItems")
    for entry in entries if isinstance(entries, list) else ():
        part = _mapping(entry).get("Get")
        if part is not None:
            checks.append(
                await _item_check(
                    region, "GetItem", _mapping(part), enclosing="TransactGetItems", returns=True
                )
            )
    return checks


# --------------------------------------------------------------------------- control plane


def _on_table(action: str) -> Callable[[Region, dict[str, Any]], Awaitable[list[Check]]]:
    async def build(region: Region, body: dict[str, Any]) -> list[Check]:
        return [Check(action, _table_arn(region, body.get("TableName")))]

    return build


def _on_everything(action: str) -> Callable[[Region, dict[str, Any]], Awaitable[list[Check]]]:
    async def build(region: Region, body: dict[str, Any]) -> list[Check]:
        return [Check(action, ANY)]

    return build


def _on_global_table(action: str) -> Callable[[Region, dict[str, Any]], Awaitable[list[Check]]]:
    async def build(region: Region, body: dict[str, Any]) -> list[Check]:
        name = body.get("GlobalTableName")
        arn = (
            f"arn:aws:dynamodb::{region.settings.account_id}:global-table/"
            f"{name if isinstance(name, str) else ''}"
        )
        return [Check(action, arn)]

    return build


def _on_resource(action: str) -> Callable[[Region, dict[str, Any]], Awaitable[list[Check]]]:
    """The tagging operations name their table (or index, stream) by ResourceArn."""

    async def build(region: Region, body: dict[str, Any]) -> list[Check]:
        arn = body.get("ResourceArn")
        return [Check(action, arn if isinstance(arn, str) else "")]

    return build


async def _update_table(region: Region, body: dict[str, Any]) -> list[Check]:
    arn = _table_arn(region, body.get("TableName"))
    checks = [Check("UpdateTable", arn)]
    updates = body.get("ReplicaUpdates")
    for update in updates if isinstance(updates, list) else ():
        if _mapping(update).get("Create") is not None:
            checks.append(Check("CreateTableReplica", arn))
        if _mapping(update).get("Delete") is not None:
            checks.append(Check("DeleteTableReplica", arn))
    return checks


# --------------------------------------------------------------------------- streams


def _stream_arn(region: Region, arn: object) -> str:
    """A StreamArn as this region names it (the resource a policy must match)."""
    text = arn if isinstance(arn, str) else ""
    try:
        table, label = parse_stream_arn(text)
    except DynamoError:
        return text
    return f"{region.arn(table)}/stream/{label}"


def _on_stream(action: str) -> Callable[[Region, dict[str, Any]], Awaitable[list[Check]]]:
    async def build(region: Region, body: dict[str, Any]) -> list[Check]:
        return [Check(action, _stream_arn(region, body.get("StreamArn")))]

    return build


async def _get_records(region: Region, body: dict[str, Any]) -> list[Check]:
    # the iterator carries the stream's ARN in front (regions/streams.encode_iterator)
    token = body.get("ShardIterator")
    arn = token.rsplit("|", 2)[0] if isinstance(token, str) and token.count("|") >= 2 else ""
    return [Check("GetRecords", _stream_arn(region, arn))]


Builder = Callable[[Region, dict[str, Any]], Awaitable[list[Check]]]

#: service -> operation -> the checks of one request; tests prove every registered
#: operation has an entry
BUILDERS: dict[str, dict[str, Builder]] = {
    "dynamodb": {
        "GetItem": _get_item,
        "PutItem": _put_item,
        "UpdateItem": _update_item,
        "DeleteItem": _delete_item,
        "Query": _query,
        "Scan": _scan,
        "BatchGetItem": _batch_get,
        "BatchWriteItem": _batch_write,
        "TransactWriteItems": _transact_write,
        "TransactGetItems": _transact_get,
        "CreateTable": _on_table("CreateTable"),
        "DescribeTable": _on_table("DescribeTable"),
        "DeleteTable": _on_table("DeleteTable"),
        "UpdateTable": _update_table,
        "UpdateTimeToLive": _on_table("UpdateTimeToLive"),
        "DescribeTimeToLive": _on_table("DescribeTimeToLive"),
        "ListTables": _on_everything("ListTables"),
        "DescribeLimits": _on_everything("DescribeLimits"),
        "DescribeEndpoints": _on_everything("DescribeEndpoints"),
        "ListGlobalTables": _on_everything("ListGlobalTables"),
        "TagResource": _on_resource("TagResource"),
        "UntagResource": _on_resource("UntagResource"),
        "ListTagsOfResource": _on_resource("ListTagsOfResource"),
        "CreateGlobalTable": _on_global_table("CreateGlobalTable"),
        "DescribeGlobalTable": _on_global_table("DescribeGlobalTable"),
        "UpdateGlobalTable": _on_global_table("UpdateGlobalTable"),
    },
    "streams": {
        "ListStreams": _on_everything("ListStreams"),
        "DescribeStream": _on_stream("DescribeStream"),
        "GetShardIterator": _on_stream("GetShardIterator"),
        "GetRecords": _get_records,
    },
}


async def checks_for(region: Region, service: str, op: str, body: dict[str, Any]) -> list[Check]:
    """The checks one request needs.  An operation without a mapping needs
    ``dynamodb:<op>`` on everything: a new operation is closed until mapped here."""
    build = BUILDERS.get(service, {}).get(op)
    if build is None:
        return [Check(op, ANY)]
    return await build(region, body)


# --------------------------------------------------------------------------- REST API


async def authorize_rest(
    region: Region,
    action: str,
    table: str | None = None,
    *,
    key: dict[str, Any] | None = None,
    item: dict[str, Any] | None = None,
    index: str | None = None,
    hash_value: AttributeValue | None = None,
) -> None:
    """The REST routes' equivalents: ``GET /v1/tables`` is ListTables on ``*``; the
    item routes GetItem/PutItem/DeleteItem (a GET returns the whole item: Select
    ALL_ATTRIBUTES); ``/query`` and ``/scan`` Query and Scan (on the index ARN with
    ``index``)."""
    principal = principals.current.get()
    if principal is None or principal.is_admin:
        return
    if table is None:
        enforce(principal, [Check(action, ANY)])
        return
    resource = region.arn(table) + (f"/index/{index}" if index is not None else "")
    values = item or key or {}
    schema = await _schema(region, table, index)
    leading = _key_text(hash_value) if hash_value is not None else _leading(schema, values)
    names = set(values)
    select: str | None = None
    if action in ("GetItem", "Query", "Scan"):
        select = "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES"
        if action == "GetItem":
            select = "ALL_ATTRIBUTES"
    if action == "Query" and schema is not None:
        names.add(schema.hash.name)
    enforce(
        principal,
        [Check(action, resource, _context(leading=leading, names=names, select=select))],
    )


# --------------------------------------------------------------------------- item data on status routes


async def may_read_item(
    region: Region,
    principal: principals.Principal,
    table: str,
    keys: dict[str, Any],
    region_name: str | None = None,
) -> bool:
    """Whether ``principal`` may see this item's keys and image outside the item API
    (the conflict log, ``api/visibility.py``): exactly when a ``GetItem`` of ``keys``
    without a projection (the whole item, ``dynamodb:Select`` ``ALL_ATTRIBUTES``)
    would be allowed, on the table's ARN in ``region_name`` (the region that logged
    it; this one by default).  A table this region does not know is never shown:
    without its key schema the ``dynamodb:LeadingKeys`` condition cannot be checked."""
    if principal.is_admin:
        return True
    schema = await _schema(region, table)
    if schema is None:
        return False
    where = region_name or region.name
    arn = f"arn:aws:dynamodb:{where}:{region.settings.account_id}:table/{table}"
    check = Check(
        "GetItem",
        arn,
        _context(leading=_leading(schema, keys), names=set(keys), select="ALL_ATTRIBUTES"),
    )
    try:
        enforce(principal, [check])
    except AccessDenied:
        return False
    return True
