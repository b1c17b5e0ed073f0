"""A plain REST API for clients that do not speak DynamoDB's typed JSON.

Items are plain JSON objects (``{"id": "a", "n": 3, "tags": ["x"]}``); the key goes
in the query string (``?id=a&ts=10``), typed by the table's key schema.  Plain
values map to DynamoDB types as ``regions.types.from_plain`` documents.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from api.errors import rest_status
from regions.errors import DynamoError, ValidationError
from regions.keys import KeySchema
from regions.region import Region
from regions.types import Item, from_plain, to_plain

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["items"])


def _error(exc: DynamoError) -> JSONResponse:
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=rest_status(exc))


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


def _plain_item(item: Item) -> dict[str, Any]:
    return {name: to_plain(value) for name, value in item.items()}


@router.get("/tables", summary="List tables")
async def list_tables(request: Request) -> dict[str, Any]:
    region: Region = request.app.state.region
    names, _ = await region.list_tables(limit=1000)
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
        spec = await region.table_spec(table)
        key = _key_from_query(spec.key_schema, dict(request.query_params))
        item = await region.get_item(table, key)
    except DynamoError as exc:
        return _error(exc)
    if item is None:
        return JSONResponse({"error": "NotFound", "message": "item not found"}, status_code=404)
    return {"item": _plain_item(item)}


@router.put(
    "/tables/{table}/items",
    summary="Put (create or replace) one item",
    description="The body is the whole item as a plain JSON object, key attributes included.",
)
async def put_item(
    table: str,
    request: Request,
    item: dict[str, Any] = Body(..., examples=[{"id": "user-1", "name": "Ada", "visits": 3}]),
) -> Any:
    region: Region = request.app.state.region
    try:
        typed = {name: from_plain(value) for name, value in item.items()}
        outcome = await region.put_item(table, typed)
    except DynamoError as exc:
        return _error(exc)
    assert outcome.new is not None
    return {"item": _plain_item(outcome.new)}


@router.delete(
    "/tables/{table}/items",
    summary="Delete one item",
    description="Pass the key attributes as query parameters. Deleting a missing item succeeds.",
)
async def delete_item(table: str, request: Request) -> Any:
    region: Region = request.app.state.region
    try:
        spec = await region.table_spec(table)
        key = _key_from_query(spec.key_schema, dict(request.query_params))
        outcome = await region.delete_item(table, key)
    except DynamoError as exc:
        return _error(exc)
    return {"deleted": outcome.old is not None}
