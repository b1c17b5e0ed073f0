"""A plain REST API for clients that do not speak DynamoDB's typed JSON.

Items are plain JSON objects (``{"id": "a", "n": 3, "tags": ["x"]}``); the key goes
in the query string (``?id=a&ts=10``), typed by the table's key schema.  Plain
values map to DynamoDB types as ``regions.types.from_plain`` documents.

Numbers travel exactly both ways: request bodies are parsed with ``Decimal`` (not
float, which would round ``0.1000000000000000000001``), and responses write each
stored number's canonical text as the JSON literal.  Binary values (written through
the DynamoDB API) come back as their base64 text, and sets as arrays.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.authorization import authorize_rest
from api.dynamodb.protocol import MAX_BODY
from api.dynamodb.transport import RequestTooLarge
from api.errors import rest_status
from regions import capacity, throttle
from regions.errors import DynamoError, SerializationError, ValidationError
from regions.keys import KeySchema
from regions.region import Region
from regions.types import AttributeValue, Item, from_plain

__all__ = ["router"]

#: the message of a GET of an item that does not exist (404)
MISSING_ITEM = "Requested resource not found: the table holds no item with this key"

router = APIRouter(prefix="/v1", tags=["items"])


def _error(exc: DynamoError) -> JSONResponse:
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=rest_status(exc))


#: the errors the metrics count as throttled requests (api/metrics.py)
_THROTTLED = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException"})


def _failed(request: Request, exc: DynamoError) -> JSONResponse:
    """``_error``, counting a throttled request in the region's metrics (the DynamoDB
    router counts its own through ``RegionMetrics.observe``)."""
    metrics = getattr(request.app.state, "metrics", None)
    if exc.code in _THROTTLED and metrics is not None:
        metrics.throttled.inc()
    return _error(exc)


def _key_from_query(schema: KeySchema, query: dict[str, str]) -> Item:
    key: Item = {}
    for attr in (schema.hash, schema.range):
        if attr is None:
            continue
        if attr.name not in query:
            raise ValidationError(f"missing key attribute {attr.name!r} in the query string")
        key[attr.name] = {attr.type: query[attr.name]}
    extra = sorted(set(query) - set(schema.names))
    if extra:
        raise ValidationError(f"unknown query parameters: {', '.join(extra)}")
    return key


def _str(s: str) -> str:
    return orjson.dumps(s).decode()


def _plain_json(av: AttributeValue) -> str:
    """JSON text of one stored (canonical) value.  Written by hand because no JSON
    encoder emits a Decimal as an exact number literal, and a canonical N string
    (no exponent, no leading zeros) already is one."""
    tag, member = next(iter(av.items()))
    if tag == "N":
        return str(member)
    if tag in ("S", "B"):
        return _str(member)
    if tag == "BOOL":
        return "true" if member else "false"
    if tag == "NULL":
        return "null"
    if tag == "NS":
        return "[" + ",".join(member) + "]"
    if tag in ("SS", "BS"):
        return "[" + ",".join(_str(e) for e in member) + "]"
    if tag == "L":
        return "[" + ",".join(_plain_json(e) for e in member) + "]"
    return "{" + ",".join(f"{_str(k)}:{_plain_json(e)}" for k, e in member.items()) + "}"


def _item_response(item: Item) -> Response:
    body = '{"item":{' + ",".join(f"{_str(k)}:{_plain_json(v)}" for k, v in item.items()) + "}}"
    return Response(content=body.encode(), media_type="application/json")


def _reject_constant(name: str) -> Any:
    raise SerializationError(f"{name} is not a number DynamoDB can store")


async def _bounded_body(request: Request) -> bytes:
    """The body, refused (413) past the DynamoDB protocol's 16 MB request limit
    before more of it is held: an item is at most 400 KB, so nothing valid is lost."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise RequestTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise RequestTooLarge()
    return bytes(body)


def _plain_body(raw: bytes) -> dict[str, Any]:
    """The request body as plain values, numbers as Decimal (ints too: Python's
    int() refuses more than 4300 digits, and such a number is a 400, not a 500)."""
    try:
        value = json.loads(
            raw, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        raise SerializationError("The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise SerializationError("The request body must be a JSON object (the item)")
    return value


_ITEM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "additionalProperties": True},
                "example": {"id": "user-1", "name": "Ada", "visits": 3},
            }
        },
    }
}


@router.get("/tables", summary="List tables")
async def list_tables(request: Request) -> Any:
    region: Region = request.app.state.region
    try:
        await authorize_rest(region, "ListTables")
    except DynamoError as exc:
        return _error(exc)
    names, _ = await region.control.list_tables(limit=1000)
    return {"tables": names}


@router.get(
    "/tables/{table}/items",
    summary="Get one item",
    description="Pass the key attributes as query parameters, e.g. `?id=a` or `?id=a&ts=10`. "
    "Returns 404 when the item does not exist.",
)
async def get_item(table: str, request: Request) -> Any:
    region: Region = request.app.state.region
    try:
        spec = await region.control.table_spec(table)
        key = _key_from_query(spec.key_schema, dict(request.query_params))
        await authorize_rest(region, "GetItem", table, key=key)
        ticket = throttle.admit_reads(region, [(spec, None, False, 1)])
        item = await region.data.get_item(table, key)
        ticket.settle([(spec, capacity.item_read(item, consistent=False))])
    except DynamoError as exc:
        return _failed(request, exc)
    if item is None:
        # DynamoDB has no error for a missing item (GetItem answers without one); the
        # REST route's 404 carries the name DynamoDB gives a missing resource
        return JSONResponse(
            {"error": "ResourceNotFoundException", "message": MISSING_ITEM}, status_code=404
        )
    return _item_response(item)


@router.put(
    "/tables/{table}/items",
    summary="Put (create or replace) one item",
    description="The body is the whole item as a plain JSON object, key attributes included.",
    openapi_extra=_ITEM_BODY,
)
async def put_item(table: str, request: Request) -> Any:
    region: Region = request.app.state.region
    try:
        item = _plain_body(await _bounded_body(request))
        typed = {name: from_plain(value) for name, value in item.items()}
        spec = await region.control.table_spec(table)
        await authorize_rest(region, "PutItem", table, item=typed)
        ticket = throttle.admit_writes(region, [(spec, [typed])])
        outcome = await region.data.put_item(table, typed)
        ticket.settle([(spec, capacity.item_write(spec, outcome.old, outcome.new))])
    except DynamoError as exc:
        return _failed(request, exc)
    assert outcome.new is not None
    return _item_response(outcome.new)


@router.delete(
    "/tables/{table}/items",
    summary="Delete one item",
    description="Pass the key attributes as query parameters. Deleting a missing item succeeds.",
)
async def delete_item(table: str, request: Request) -> Any:
    region: Region = request.app.state.region
    try:
        spec = await region.control.table_spec(table)
        key = _key_from_query(spec.key_schema, dict(request.query_params))
        await authorize_rest(region, "DeleteItem", table, key=key)
        ticket = throttle.admit_writes(region, [(spec, [None])])
        outcome = await region.data.delete_item(table, key)
        ticket.settle([(spec, capacity.item_write(spec, outcome.old, outcome.new))])
    except DynamoError as exc:
        return _failed(request, exc)
    return {"deleted": outcome.old is not None}
