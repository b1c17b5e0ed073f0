"""What a request needs to be allowed: request -> (action, resource, condition keys).

The one place that maps every DynamoDB, DynamoDB Streams and REST operation to IAM
authorizations; ``regions/policy.py`` evaluates them against the caller's policies.
A denied request has run nothing and changed nothing:

* the item operations (GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, the
  batches and the transactions) are decoded first (``api.dynamodb.requests``: shapes
  checked, every expression parsed once); the router then calls
  :func:`authorize_request`, which reads the condition keys off the request object
  (:data:`REQUEST_BUILDERS`: attribute names from the parsed trees with
  ``regions.expressions.paths_in``, keys, Select...), and only then the operation's
  ``run``;
* every other operation is authorized from its body (:func:`authorize`,
  :data:`BUILDERS`: only TableName, ARNs and such), right before its handler;
* the REST routes call :func:`authorize_rest`.

Who: ``regions.principals.current`` (set by ``api/auth``).  ``None`` (anonymous
access allowed) and the admin (``policies=None``) are allowed everything, for free.

Whose policies: the user's identity-based policies, and, for a check on a table of
this region (or one of its indexes, or a stream), the resource-based policy attached
there (``regions/resource_policy.py``; :func:`enforce`, :func:`attached_policy`).
Every check of a request is decided on both - each item of a batch, each part of a
transaction - so a Deny on one table in a transaction denies the whole call.  The
admin and anonymous callers are not restricted by resource-based policies either.

Actions and resources (AWS Service Authorization Reference):

* item and table operations: ``dynamodb:<Operation>`` on the table ARN (a TableName
  given as an ARN is the same table of this region);
* Query and Scan with IndexName: the index ARN ``.../table/T/index/I``;
* BatchGetItem / BatchWriteItem: the batch action, once per item, on its table;
* TransactWriteItems / TransactGetItems: each part as its item action (PutItem,
  UpdateItem, DeleteItem, ``ConditionCheckItem``, GetItem) with
  ``dynamodb:EnclosingOperation``;
* UpdateTable with ReplicaUpdates: also ``CreateTableReplica``/``DeleteTableReplica``;
  CreateTable with a ResourcePolicy: also ``PutResourcePolicy`` on the new table;
* Put/Get/DeleteResourcePolicy: their action on the ResourceArn (table or stream);
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

A key that cannot be worked out (an unknown table, a Query's key condition that does
not match the key schema) is left out; the request then fails in its ``run`` before
doing anything.  Where an operation has no such member (ReturnValues on a GetItem,
Query or Scan, or on a transaction's part), its condition key is absent.

Precedence, for a request that is both wrong and denied (item operations):

1. an unknown operation, a body too large or not JSON: that error, as for anyone;
2. a body that does not decode (SerializationException, or a ValidationException of
   its shape or of an expression): for a caller policies apply to, the checks of
   what the body gives *without parsing anything* (:data:`BUILDERS`: resources, key
   and item attribute names and leading keys - not a Query's, which is in its key
   condition -, the legacy parameters' names, Select, ReturnValues,
   ReturnConsumedCapacity, EnclosingOperation) are enforced first, so
   the answer is AccessDeniedException when that part alone is denied, the decoding
   error otherwise.  As before decoding was split out, a malformed request does not
   tell a denied caller that it is malformed when its denial does not depend on the
   broken part; unlike before, no expression of a request that did not decode is
   parsed for its authorization, so a denial that needs the names in its expressions
   (even the well-formed ones) gives way to the ValidationException;
3. a decoded request: AccessDeniedException, from every condition key;
4. then what needs the table (ResourceNotFoundException, the key schema, the index,
   a Query's key condition against the schema, conditions...), in ``run``: a denied
   caller learns nothing about the tables.

The admin and anonymous callers are never authorized: for them a malformed request's
error is the decoding's, and nothing is built for their authorization.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from api.dynamodb import requests as rq
from regions import expressions as ex
from regions import policy as pol
from regions import principals, resource_policy
from regions.data import Delete, Put, Update, WriteOp
from regions.errors import AccessDenied, DynamoError
from regions.keys import KeySchema
from regions.region import Region
from regions.streams import parse_stream_arn
from regions.types import AttributeValue, normalize_number

__all__ = [
    "BUILDERS",
    "REQUEST_BUILDERS",
    "Check",
    "attached_policy",
    "authorize",
    "authorize_request",
    "authorize_rest",
    "checks_for",
    "enforce",
    "request_checks",
    "subject",
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


def subject() -> principals.Principal | None:
    """The current principal if policies apply to it; None for anonymous access and
    the admin, who are allowed everything (so the router builds no checks for them)."""
    principal = principals.current.get()
    if principal is None or principal.is_admin:
        return None
    return principal


async def authorize(region: Region, service: str, op: str, body: dict[str, Any]) -> None:
    """Raise AccessDeniedException unless the current principal may run this request
    (an operation served by a handler, or a decoded one whose body did not decode)."""
    principal = principals.current.get()
    if principal is None or principal.is_admin:
        return
    enforce(principal, await checks_for(region, service, op, body), region)


async def authorize_request(
    region: Region, principal: principals.Principal, service: str, op: str, request: object
) -> None:
    """Raise AccessDeniedException unless ``principal`` (from :func:`subject`) may run
    this decoded request."""
    enforce(principal, await request_checks(region, service, op, request), region)


def enforce(
    principal: principals.Principal, checks: Iterable[Check], region: Region | None = None
) -> None:
    """Every check must be allowed; the first that is not is the one reported.

    With ``region``, a check on one of its tables (or an index of it, or a stream)
    also consults the resource-based policy attached there (:func:`attached_policy`),
    as IAM evaluates a request within one account: an explicit Deny in either the
    user's policies or the resource's denies, else an Allow in either allows, else
    it is denied (IAM User Guide, "Policy evaluation for requests within a single
    account")."""
    if principal.is_admin:
        return
    policies = _compiled(principal)
    variables = pol.principal_variables(principal.name, principal.account_id, principal.arn)
    prefix = region.arn("") if region is not None else None
    for check in checks:
        action = f"{SERVICE}:{check.action}"
        request = pol.Request(action, check.resource, check.context)
        decision = pol.evaluate(policies, request, variables)
        by_resource = False
        if (
            region is not None
            and prefix is not None
            and decision is not pol.Decision.EXPLICIT_DENY
            and check.resource.startswith(prefix)
        ):
            attached = attached_policy(region, check.resource[len(prefix) :])
            if attached is not None:
                verdict = pol.evaluate((attached,), request, variables)
                if verdict is pol.Decision.EXPLICIT_DENY:
                    decision, by_resource = verdict, True
                elif verdict is pol.Decision.ALLOW:
                    decision = verdict
        if decision is not pol.Decision.ALLOW:
            raise AccessDenied(
                pol.denial_message(
                    principal.arn,
                    action,
                    check.resource,
                    explicit=decision is pol.Decision.EXPLICIT_DENY,
                    resource_based=by_resource,
                )
            )


def attached_policy(region: Region, relative: str) -> pol.Policy | None:
    """The resource-based policy governing ``table/<relative>`` of this region: the
    table's for the table and its indexes, a stream's own for the stream
    (regions/resource_policy.py).  Read from the catalog cache the request's checks
    were built from (an item request's builder has just looked its tables up there,
    so a worker process has reloaded it if it was stale); a table without a policy
    costs a dict lookup and a None check."""
    table, _, sub = relative.partition("/")
    hit = region.control.catalog.tables.get(table)
    if hit is None:
        return None
    spec = hit[1]
    if not sub or sub.startswith("index/"):
        attached = spec.resource_policy
    elif sub.startswith("stream/") and spec.stream_policies:
        attached = spec.stream_policies.get(sub[len("stream/") :])
    else:
        return None
    return None if attached is None else resource_policy.compiled(attached)


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


def _sent(body: dict[str, Any], member: str) -> str | None:
    value = body.get(member)
    return value if isinstance(value, str) else None


def _legacy_names(body: dict[str, Any]) -> set[str]:
    """Names in the legacy parameters (AttributesToGet, Expected, AttributeUpdates,
    KeyConditions, QueryFilter, ScanFilter), read off the body without translating
    them (the checks of a request that did not decode)."""
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
    return_values: str | None = None,
    return_consumed: str | None = None,
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
    if return_values is not None:
        ctx[RETURN_VALUES] = [return_values]
    if return_consumed is not None:
        ctx[RETURN_CONSUMED] = [return_consumed]
    if enclosing is not None:
        ctx[ENCLOSING] = [enclosing]
    return ctx


def _leading(schema: KeySchema | None, values: dict[str, Any]) -> str | None:
    return _key_text(values.get(schema.hash.name)) if schema is not None else None


def _top(paths: Iterable[ex.Path] | None) -> set[str]:
    """The top-level attribute names of some paths (a projection's)."""
    return {str(p[0]) for p in paths} if paths is not None else set()


def _tree_names(*trees: object) -> set[str]:
    """The top-level attribute names a parsed expression refers to (None: none)."""
    names: set[str] = set()
    for tree in trees:
        if tree is not None:
            names.update(str(p[0]) for p in ex.paths_in(tree))
    return names


def _condition_tree(condition: object) -> ex.Condition | None:
    # a request's condition is a ParsedCondition (ConditionExpression or Expected),
    # which keeps its tree; an operation without one has None
    return condition.expr if isinstance(condition, ex.ParsedCondition) else None


# --------------------------------------------------------------------------- item operations
#
# Two mappings each.  A decoded request (api.dynamodb.requests) is mapped from its
# parsed trees: REQUEST_BUILDERS.  A body that did not decode is mapped from what it
# gives without parsing anything (keys, items, legacy parameters' names, Select,
# ReturnValues...): BUILDERS, so that a denial that does not depend on its broken part
# is still reported as one (see the module docstring for the precedence).


async def _write_check(
    region: Region,
    action: str,
    op: WriteOp,
    *,
    return_values: str | None = None,
    return_consumed: str | None = None,
    enclosing: str | None = None,
) -> Check:
    """One typed write (a request's, or a transaction's part): its key or item, the
    names its condition and update trees refer to."""
    table = _table_name(op.table)
    values = _mapping(op.item if isinstance(op, Put) else getattr(op, "key", None))
    names = set(values) | _tree_names(_condition_tree(op.condition))
    if isinstance(op, Update):
        names |= _tree_names(op.update, op.attribute_updates)
    schema = await _schema(region, table)
    return Check(
        action,
        region.arn(table),
        _context(
            leading=_leading(schema, values),
            names=names,
            return_values=return_values,
            return_consumed=return_consumed,
            enclosing=enclosing,
        ),
    )


async def _get_check(
    region: Region,
    table_value: str,
    key: object,
    projection: list[ex.Path] | None,
    *,
    return_consumed: str | None = None,
    enclosing: str | None = None,
) -> Check:
    table = _table_name(table_value)
    values = _mapping(key)
    schema = await _schema(region, table)
    return Check(
        "GetItem",
        region.arn(table),
        _context(
            leading=_leading(schema, values),
            names=set(values) | _top(projection),
            select="SPECIFIC_ATTRIBUTES" if projection is not None else "ALL_ATTRIBUTES",
            return_consumed=return_consumed,
            enclosing=enclosing,
        ),
    )


async def _get_item_request(region: Region, req: rq.GetItemRequest) -> list[Check]:
    return [
        await _get_check(
            region, req.table, req.key, req.projection, return_consumed=req.return_consumed
        )
    ]


_SingleWrite = rq.PutItemRequest | rq.UpdateItemRequest | rq.DeleteItemRequest


def _single_write(action: str) -> Callable[[Region, _SingleWrite], Awaitable[list[Check]]]:
    """PutItem, UpdateItem and DeleteItem: one check on the operation they build."""

    async def build(region: Region, req: _SingleWrite) -> list[Check]:
        return [
            await _write_check(
                region,
                action,
                req.op,
                return_values=req.return_values,
                return_consumed=req.return_consumed,
            )
        ]

    return build


def _index_resource(region: Region, table: str, index: str | None) -> str:
    return region.arn(table) + (f"/index/{index}" if index is not None else "")


async def _query_request(region: Region, req: rq.QueryRequest) -> list[Check]:
    table = _table_name(req.table)
    names = (
        _top(req.projection)
        | _tree_names(_condition_tree(req.filter), _condition_tree(req.legacy_filter))
        | set(req.key_condition.names)
    )
    leading: str | None = None
    schema = await _schema(region, table, req.index)
    if schema is not None:
        rng = schema.range
        try:
            # single- or multi-attribute (a GSI's); the leading key is the value of
            # the first partition-key attribute
            kc = req.key_condition.resolve_for(schema)
        except DynamoError:
            pass  # the Query fails on it once authorized
        else:
            leading = _key_text(kc.hash_value)
            if kc.range_op is not None and rng is not None:
                names.add(rng.name)
        names.add(schema.hash.name)
    return [
        Check(
            "Query",
            _index_resource(region, table, req.index),
            _context(
                leading=leading,
                names=names,
                select=req.select,
                return_consumed=req.return_consumed,
            ),
        )
    ]


async def _scan_request(region: Region, req: rq.ScanRequest) -> list[Check]:
    table = _table_name(req.table)
    # no key is read, but the lookup refreshes a worker's stale catalog cache, whose
    # resource-based policies enforce() reads (attached_policy)
    await _schema(region, table)
    names = _top(req.projection) | _tree_names(
        _condition_tree(req.filter), _condition_tree(req.legacy_filter)
    )
    return [
        Check(
            "Scan",
            _index_resource(region, table, req.index),
            _context(names=names, select=req.select, return_consumed=req.return_consumed),
        )
    ]


async def _batch_get_request(region: Region, req: rq.BatchGetItemRequest) -> list[Check]:
    checks: list[Check] = []
    for entry in req.tables:
        table = _table_name(entry.table)
        select = "SPECIFIC_ATTRIBUTES" if entry.projection is not None else "ALL_ATTRIBUTES"
        checks += await _batch_get_table(
            region, table, entry.keys, _top(entry.projection), select
        )
    return checks or [Check("BatchGetItem", ANY)]


async def _batch_get_table(
    region: Region, table: str, keys: Iterable[object], names: set[str], select: str
) -> list[Check]:
    """One BatchGetItem table's checks: one per key (its leading key and attribute
    names), or one for the table when it lists none."""
    schema = await _schema(region, table)
    checks: list[Check] = []
    for key in keys:
        values = _mapping(key)
        checks.append(
            Check(
                "BatchGetItem",
                region.arn(table),
                _context(leading=_leading(schema, values), names=names | set(values), select=select),
            )
        )
    return checks or [Check("BatchGetItem", region.arn(table), _context(select=select))]


async def _batch_write_request(region: Region, req: rq.BatchWriteItemRequest) -> list[Check]:
    checks: list[Check] = []
    for entry in req.tables:
        checks += await _batch_write_table(
            region,
            _table_name(entry.table),
            [_mapping(r.item if r.is_put else r.key) for r in entry.requests],
        )
    return checks or [Check("BatchWriteItem", ANY)]


async def _batch_write_table(
    region: Region, table: str, writes: list[dict[str, Any]]
) -> list[Check]:
    """One BatchWriteItem table's checks: one per put item or delete key (its leading
    key and attribute names), or one for the table when it lists none."""
    schema = await _schema(region, table)
    checks = [
        Check(
            "BatchWriteItem",
            region.arn(table),
            _context(leading=_leading(schema, values), names=values),
        )
        for values in writes
    ]
    return checks or [Check("BatchWriteItem", region.arn(table))]


def _write_action(op: WriteOp) -> str:
    if isinstance(op, Put):
        return "PutItem"
    if isinstance(op, Update):
        return "UpdateItem"
    if isinstance(op, Delete):
        return "DeleteItem"
    return "ConditionCheckItem"


async def _transact_write_request(region: Region, req: rq.TransactWriteItemsRequest) -> list[Check]:
    return [
        await _write_check(
            region, _write_action(action.op), action.op, enclosing="TransactWriteItems"
        )
        for action in req.actions
    ]


async def _transact_get_request(region: Region, req: rq.TransactGetItemsRequest) -> list[Check]:
    return [
        await _get_check(region, get.table, get.key, get.projection, enclosing="TransactGetItems")
        for get in req.gets
    ]


# ---- the same operations, from a body that did not decode: nothing is parsed


async def _item_check(
    region: Region,
    action: str,
    body: dict[str, Any],
    *,
    enclosing: str | None = None,
    returns: bool = False,
) -> Check:
    """One single-item access described by ``body`` (a request, or one part of a
    transaction): Key or Item, legacy parameters' names."""
    table = _table_name(body.get("TableName"))
    schema = await _schema(region, table)
    item = _mapping(body.get("Item"))
    values = item or _mapping(body.get("Key"))
    names = set(values) | _legacy_names(body)
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
            return_values=_sent(body, "ReturnValues"),
            return_consumed=_sent(body, "ReturnConsumedCapacity"),
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
    select = body.get("Select")
    if not isinstance(select, str):
        if _projects(body):
            select = "SPECIFIC_ATTRIBUTES"
        else:
            select = "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES"
    names = _legacy_names(body)
    if action == "Query":
        # the partition-key value is in the key condition, which is not parsed here
        schema = await _schema(region, table, index)
        if schema is not None:
            names.add(schema.hash.name)
    return [
        Check(
            action,
            _index_resource(region, table, index),
            _context(
                names=names,
                select=select,
                return_values=_sent(body, "ReturnValues"),
                return_consumed=_sent(body, "ReturnConsumedCapacity"),
            ),
        )
    ]


async def _query(region: Region, body: dict[str, Any]) -> list[Check]:
    return await _read_many(region, body, "Query")


async def _scan(region: Region, body: dict[str, Any]) -> list[Check]:
    return await _read_many(region, body, "Scan")


async def _batch_get(region: Region, body: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for table_key, raw in _mapping(body.get("RequestItems")).items():
        table = _table_name(table_key)
        entry = _mapping(raw)
        select = "SPECIFIC_ATTRIBUTES" if _projects(entry) else "ALL_ATTRIBUTES"
        keys = entry.get("Keys")
        checks += await _batch_get_table(
            region, table, keys if isinstance(keys, list) else (), _legacy_names(entry), select
        )
    return checks or [Check("BatchGetItem", ANY)]


async def _batch_write(region: Region, body: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for table_key, raw in _mapping(body.get("RequestItems")).items():
        writes = []
        for request in raw if isinstance(raw, list) else ():
            request = _mapping(request)
            writes.append(
                _mapping(_mapping(request.get("PutRequest")).get("Item"))
                or _mapping(_mapping(request.get("DeleteRequest")).get("Key"))
            )
        checks += await _batch_write_table(region, _table_name(table_key), writes)
    return checks or [Check("BatchWriteItem", ANY)]


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
    # no part to authorize: the request is malformed, and its decoding says so
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
    """The tagging and resource-policy operations name their table (or index, stream)
    by ResourceArn."""

    async def build(region: Region, body: dict[str, Any]) -> list[Check]:
        arn = body.get("ResourceArn")
        return [Check(action, arn if isinstance(arn, str) else "")]

    return build


async def _create_table(region: Region, body: dict[str, Any]) -> list[Check]:
    """CreateTable; with a ResourcePolicy also PutResourcePolicy on the new table (the
    CreateTable API Reference: both actions are needed)."""
    arn = _table_arn(region, body.get("TableName"))
    checks = [Check("CreateTable", arn)]
    if "ResourcePolicy" in body:
        checks.append(Check("PutResourcePolicy", arn))
    return checks


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


# --------------------------------------------------------------------------- backups


def _on_backup(action: str) -> Callable[[Region, dict[str, Any]], Awaitable[list[Check]]]:
    """DescribeBackup, DeleteBackup: the action on the backup's ARN."""

    async def build(region: Region, body: dict[str, Any]) -> list[Check]:
        arn = body.get("BackupArn")
        return [Check(action, arn if isinstance(arn, str) else "")]

    return build


async def _restore_from_backup(region: Region, body: dict[str, Any]) -> list[Check]:
    """RestoreTableFromBackup on the backup and on the new table (DynamoDB's
    documented resources of the action)."""
    arn = body.get("BackupArn")
    return [
        Check("RestoreTableFromBackup", arn if isinstance(arn, str) else ""),
        Check("RestoreTableFromBackup", _table_arn(region, body.get("TargetTableName"))),
    ]


async def _restore_to_point_in_time(region: Region, body: dict[str, Any]) -> list[Check]:
    """RestoreTableToPointInTime on the source table and on the new one."""
    source = body.get("SourceTableArn")
    if not isinstance(source, str):
        source = body.get("SourceTableName")
    return [
        Check("RestoreTableToPointInTime", _table_arn(region, source)),
        Check("RestoreTableToPointInTime", _table_arn(region, body.get("TargetTableName"))),
    ]


# --------------------------------------------------------------------------- exports, imports


def _on_member_arn(
    action: str, member: str
) -> Callable[[Region, dict[str, Any]], Awaitable[list[Check]]]:
    """DescribeExport, DescribeImport: the action on the export's (import's) ARN;
    ExportTableToPointInTime on its TableArn."""

    async def build(region: Region, body: dict[str, Any]) -> list[Check]:
        arn = body.get(member)
        if member == "TableArn":
            return [Check(action, _table_arn(region, arn))]
        return [Check(action, arn if isinstance(arn, str) else "")]

    return build


async def _import_table(region: Region, body: dict[str, Any]) -> list[Check]:
    """ImportTable on the table it creates."""
    params = _mapping(body.get("TableCreationParameters"))
    return [Check("ImportTable", _table_arn(region, params.get("TableName")))]


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
        "CreateTable": _create_table,
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
        "PutResourcePolicy": _on_resource("PutResourcePolicy"),
        "GetResourcePolicy": _on_resource("GetResourcePolicy"),
        "DeleteResourcePolicy": _on_resource("DeleteResourcePolicy"),
        "CreateGlobalTable": _on_global_table("CreateGlobalTable"),
        "DescribeGlobalTable": _on_global_table("DescribeGlobalTable"),
        "UpdateGlobalTable": _on_global_table("UpdateGlobalTable"),
        "DescribeGlobalTableSettings": _on_global_table("DescribeGlobalTableSettings"),
        "UpdateGlobalTableSettings": _on_global_table("UpdateGlobalTableSettings"),
        "DescribeTableReplicaAutoScaling": _on_table("DescribeTableReplicaAutoScaling"),
        # backups and point-in-time recovery
        "CreateBackup": _on_table("CreateBackup"),
        "DescribeBackup": _on_backup("DescribeBackup"),
        "DeleteBackup": _on_backup("DeleteBackup"),
        "ListBackups": _on_everything("ListBackups"),
        "RestoreTableFromBackup": _restore_from_backup,
        "UpdateContinuousBackups": _on_table("UpdateContinuousBackups"),
        "DescribeContinuousBackups": _on_table("DescribeContinuousBackups"),
        "RestoreTableToPointInTime": _restore_to_point_in_time,
        # exports and imports
        "ExportTableToPointInTime": _on_member_arn("ExportTableToPointInTime", "TableArn"),
        "DescribeExport": _on_member_arn("DescribeExport", "ExportArn"),
        "ListExports": _on_everything("ListExports"),
        "ImportTable": _import_table,
        "DescribeImport": _on_member_arn("DescribeImport", "ImportArn"),
        "ListImports": _on_everything("ListImports"),
    },
    "streams": {
        "ListStreams": _on_everything("ListStreams"),
        "DescribeStream": _on_stream("DescribeStream"),
        "GetShardIterator": _on_stream("GetShardIterator"),
        "GetRecords": _get_records,
    },
}


async def checks_for(region: Region, service: str, op: str, body: dict[str, Any]) -> list[Check]:
    """The checks one request needs, from its body (for a decoded operation: what
    the body gives without parsing, the checks of a body that did not decode).  An
    operation without a mapping needs ``dynamodb:<op>`` on everything: a new
    operation is closed until mapped here."""
    build = BUILDERS.get(service, {}).get(op)
    if build is None:
        return [Check(op, ANY)]
    return await build(region, body)


RequestBuilder = Callable[[Region, Any], Awaitable[list[Check]]]

#: service -> decoded operation -> the checks of its request object
#: (api.dynamodb.requests); tests prove every decoded operation has an entry
REQUEST_BUILDERS: dict[str, dict[str, RequestBuilder]] = {
    "dynamodb": {
        "GetItem": _get_item_request,
        "PutItem": _single_write("PutItem"),
        "UpdateItem": _single_write("UpdateItem"),
        "DeleteItem": _single_write("DeleteItem"),
        "Query": _query_request,
        "Scan": _scan_request,
        "BatchGetItem": _batch_get_request,
        "BatchWriteItem": _batch_write_request,
        "TransactWriteItems": _transact_write_request,
        "TransactGetItems": _transact_get_request,
    },
    "streams": {},
}


async def request_checks(region: Region, service: str, op: str, request: object) -> list[Check]:
    """The checks one decoded request needs, read from its parsed trees."""
    build = REQUEST_BUILDERS.get(service, {}).get(op)
    if build is None:
        return [Check(op, ANY)]
    return await build(region, request)


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
        enforce(principal, [Check(action, ANY)], region)
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
        region,
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
        # a check on another region's replica: its policy is that region's, unknown
        # here, so only this region's resources consult one
        enforce(principal, [check], region)
    except AccessDenied:
        return False
    return True
