"""Query and Scan for the plain REST API, with an opaque pagination cursor.

``GET /v1/tables/{table}/query?id=a&sk_ge=10&sk_le=20&limit=50`` reads one partition
key (of the table, or of ``index``) in sort-key order; ``GET /v1/tables/{table}/scan``
reads everything.  Both answer ``{"items": [...], "count": n, "cursor": "..."|null}``
with items in the same plain JSON as ``api.rest``.

The partition key goes in the query string under its attribute name, as for the
item routes; the sort-key bounds are DynamoDB's key conditions spelled as
parameters (one of ``sk_eq``/``sk_lt``/``sk_le``/``sk_gt``/``sk_ge``/
``sk_begins_with``, or ``sk_ge`` with ``sk_le`` for an inclusive range, DynamoDB's
BETWEEN).  All values are typed by the key schema, so ``?ts=10`` is the number 10
when ``ts`` is an N key.

The cursor is the page's LastEvaluatedKey in DynamoDB's *typed* JSON, base64url
encoded without padding.  Typed rather than plain so that it round-trips exactly
(a B key and an S key look alike in plain JSON).  Clients must treat it as opaque;
anything that does not decode to a valid key of the table (or index) is a 400.

Parameters are parsed here rather than declared as typed FastAPI parameters: the
partition key's name depends on the table, and FastAPI would answer malformed
input with its own 422 body instead of this API's ``{"error", "message"}`` 400.
The OpenAPI description is therefore written out by hand below.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request, Response

from api.authorization import authorize_rest
from api.rest import _failed, _plain_json, _str
from regions import capacity, throttle
from regions.catalog import TableSpec
from regions.errors import DynamoError, ValidationError
from regions.keys import KeyAttr, KeySchema, encode_key_value
from regions.reads import Page
from regions.region import Region
from regions.types import AttributeValue, Item, validate_value, validate_values

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["queries"])

#: sort-key parameter -> DynamoDB key-condition operator
_SORT_OPS: Final = {
    "sk_eq": "=",
    "sk_lt": "<",
    "sk_le": "<=",
    "sk_gt": ">",
    "sk_ge": ">=",
    "sk_begins_with": "BEGINS_WITH",
}
_COMMON: Final = ("limit", "index", "cursor")
_QUERY_PARAMS: Final = frozenset((*_COMMON, "forward", *_SORT_OPS))
_SCAN_PARAMS: Final = frozenset(_COMMON)

# a bound keeps Python's int() (and a 4300-digit limit error) out of the picture
_LIMIT_RE: Final = re.compile(r"[0-9]{1,9}", re.ASCII)
_CURSOR_RE: Final = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


# --------------------------------------------------------------------------- parameters


def _params(request: Request) -> dict[str, str]:
    """The query string as a dict; a repeated parameter is ambiguous, so a 400."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in params:
            raise ValidationError(f"query parameter {name!r} is given more than once")
        params[name] = value
    return params


def _limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _LIMIT_RE.fullmatch(raw) or int(raw) < 1:
        raise ValidationError(f"limit must be an integer from 1 to 999999999, not {raw!r}")
    return int(raw)


def _forward(raw: str | None) -> bool:
    if raw is None:
        return True
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValidationError(f"forward must be true or false, not {raw!r}")


def encode_cursor(key: Item) -> str:
    """The opaque cursor of a LastEvaluatedKey (typed JSON, base64url, unpadded)."""
    return base64.urlsafe_b64encode(orjson.dumps(key)).rstrip(b"=").decode("ascii")


def decode_cursor(raw: str | None) -> Item | None:
    """Inverse of :func:`encode_cursor`.  Every value is validated as an attribute
    value here, so whatever a client makes up reaches the key checks of
    ``regions.reads`` (which give the 400 for a key of the wrong shape) well formed."""
    if raw is None:
        return None
    bad = ValidationError("cursor is not a cursor returned by this query or scan")
    if not _CURSOR_RE.fullmatch(raw):
        raise bad
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        key = orjson.loads(data)
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(key, dict) or not key:
        raise bad
    try:
        return validate_values(key)
    except DynamoError:
        raise bad from None


def _key_value(attr: KeyAttr, text: str, param: str) -> AttributeValue:
    """A query-string value typed by a key attribute (S, N or B as base64)."""
    if text == "":
        raise ValidationError(f"{param} must not be empty (key values cannot be empty)")
    try:
        return validate_value({attr.type: text})
    except DynamoError as exc:
        raise ValidationError(f"{param}: {exc.message}") from None


def _schema(spec: TableSpec, index: str | None) -> KeySchema:
    if index is None:
        return spec.key_schema
    idx = spec.index(index)
    if idx is None:
        raise ValidationError(f"The table does not have the specified index: {index}")
    return idx.key_schema


def _unknown(params: dict[str, str], allowed: frozenset[str], key_names: tuple[str, ...]) -> None:
    extra = sorted(set(params) - allowed - set(key_names))
    if extra:
        raise ValidationError(f"unknown query parameters: {', '.join(extra)}")


def _sort_condition(
    schema: KeySchema, params: dict[str, str]
) -> tuple[str | None, tuple[AttributeValue, ...]]:
    given = [p for p in _SORT_OPS if p in params]
    if not given:
        return None, ()
    if schema.range is None:
        raise ValidationError(f"{', '.join(given)}: the table (or index) has no sort key to bound")
    rng = schema.range
    if sorted(given) == ["sk_ge", "sk_le"]:
        low = _key_value(rng, params["sk_ge"], "sk_ge")
        high = _key_value(rng, params["sk_le"], "sk_le")
        # DynamoDB refuses a BETWEEN whose bounds are reversed rather than return nothing
        if encode_key_value(low, rng.type) > encode_key_value(high, rng.type):
            raise ValidationError("sk_ge must not be greater than sk_le")
        return "BETWEEN", (low, high)
    if len(given) > 1:
        raise ValidationError(
            "give one sort-key condition, or sk_ge with sk_le for an inclusive range; "
            f"got {', '.join(given)}"
        )
    param = given[0]
    if param == "sk_begins_with" and rng.type == "N":
        raise ValidationError("sk_begins_with needs a string or binary sort key, not a number")
    return _SORT_OPS[param], (_key_value(rng, params[param], param),)


def _reserved_key(schema: KeySchema, reserved: frozenset[str]) -> None:
    """A key attribute named like a control parameter cannot be addressed here."""
    clash = [n for n in schema.names if n in reserved]
    if clash:
        raise ValidationError(
            f"key attribute {clash[0]!r} has the name of a query parameter of this route; "
            "use the DynamoDB API (POST /) to read this table"
        )


# --------------------------------------------------------------------------- responses


def _page_response(page: Page) -> Response:
    """JSON written by hand, as in ``api.rest``: numbers keep their exact text."""
    items = ",".join(
        "{" + ",".join(f"{_str(k)}:{_plain_json(v)}" for k, v in item.items()) + "}"
        for item in page.items
    )
    cursor = (
        _str(encode_cursor(page.last_evaluated_key))
        if page.last_evaluated_key is not None
        else "null"
    )
    body = f'{{"items":[{items}],"count":{page.count},"cursor":{cursor}}}'
    return Response(content=body.encode(), media_type="application/json")


# --------------------------------------------------------------------------- OpenAPI


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_LIMIT_DOC: Final = _param(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": 999999999},
    "Items to read for this page at most. A page also ends at 1 MB. A page that "
    "stopped early carries a `cursor`, even when nothing follows.",
)
_INDEX_DOC: Final = _param(
    "index",
    {"type": "string"},
    "Read a global or local secondary index instead of the table. Its key schema "
    "then names (and types) the key parameters and the cursor.",
)
_CURSOR_DOC: Final = _param(
    "cursor",
    {"type": "string"},
    "Opaque `cursor` of the previous page; repeat the same request with it to get "
    "the next page. Omit for the first page. A cursor not from this request is a 400.",
)
_BOUND = "Typed by the sort key's type (numbers as decimal text, binary as base64)."
_QUERY_DOCS: Final = [
    {
        "name": "key",
        "in": "query",
        "required": True,
        "style": "form",
        "explode": True,
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        "example": {"id": "user-1"},
        "description": "The partition key value under its attribute name, e.g. `id=user-1` "
        "(the index's partition key with `index`). Typed by the key schema.",
    },
    _param("sk_eq", {"type": "string"}, f"Sort key equals this value. {_BOUND}"),
    _param("sk_lt", {"type": "string"}, f"Sort key is less than this value. {_BOUND}"),
    _param("sk_le", {"type": "string"}, f"Sort key is at most this value. {_BOUND}"),
    _param("sk_gt", {"type": "string"}, f"Sort key is greater than this value. {_BOUND}"),
    _param(
        "sk_ge",
        {"type": "string"},
        f"Sort key is at least this value; with `sk_le`, an inclusive range. {_BOUND}",
    ),
    _param(
        "sk_begins_with",
        {"type": "string"},
        "Sort key starts with this prefix (string or binary sort keys only).",
    ),
    _param(
        "forward",
        {"type": "boolean", "default": True},
        "Ascending sort-key order (`true`, the default) or descending (`false`).",
    ),
    _LIMIT_DOC,
    _INDEX_DOC,
    _CURSOR_DOC,
]
_PAGE_SCHEMA: Final = {
    "type": "object",
    "required": ["items", "count", "cursor"],
    "properties": {
        "items": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "count": {"type": "integer", "description": "Number of items in this page"},
        "cursor": {
            "type": ["string", "null"],
            "description": "Pass as `cursor` for the next page; null on the last page",
        },
    },
}
_ERROR_SCHEMA: Final = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "One page of items",
        "content": {"application/json": {"schema": _PAGE_SCHEMA}},
    },
    400: {
        "description": "Invalid parameters or cursor",
        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
    },
    404: {
        "description": "No such table",
        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
    },
}


# --------------------------------------------------------------------------- routes


@router.get(
    "/tables/{table}/query",
    summary="Query items of one partition key",
    description="Items with the given partition key, in sort-key order, optionally "
    "bounded by one sort-key condition (or `sk_ge` with `sk_le`). Example: "
    "`?id=user-1&sk_begins_with=2024-&limit=25`. Page with `cursor`.",
    responses=_RESPONSES,
    openapi_extra={"parameters": _QUERY_DOCS},
)
async def query_items(table: str, request: Request) -> Response:
    region: Region = request.app.state.region
    try:
        params = _params(request)
        limit = _limit(params.get("limit"))
        forward = _forward(params.get("forward"))
        start = decode_cursor(params.get("cursor"))
        index = params.get("index")
        spec = await region.control.table_spec(table)
        schema = _schema(spec, index)
        _reserved_key(schema, _QUERY_PARAMS)
        _unknown(params, _QUERY_PARAMS, schema.names)
        if schema.hash.name not in params:
            raise ValidationError(
                f"missing the partition key {schema.hash.name!r} in the query string"
            )
        hash_value = _key_value(schema.hash, params[schema.hash.name], schema.hash.name)
        if schema.range is not None and schema.range.name in params:
            raise ValidationError(
                f"bound the sort key {schema.range.name!r} with sk_eq, sk_lt, sk_le, "
                "sk_gt, sk_ge or sk_begins_with"
            )
        range_op, range_values = _sort_condition(schema, params)
        await authorize_rest(region, "Query", table, index=index, hash_value=hash_value)
        ticket = throttle.admit_reads(region, [(spec, index, False, 1)])
        page = await region.data.query(
            table,
            hash_value=hash_value,
            range_op=range_op,
            range_values=range_values,
            index=index,
            forward=forward,
            limit=limit,
            exclusive_start_key=start,
        )
        ticket.settle([(spec, capacity.page_read(spec, index, page, consistent=False))])
    except DynamoError as exc:
        return _failed(request, exc)
    return _page_response(page)


@router.get(
    "/tables/{table}/scan",
    summary="Scan all items",
    description="Every item of the table (or of `index`), partition by partition. "
    "The order is stable but not meaningful. Page with `cursor`.",
    responses=_RESPONSES,
    openapi_extra={"parameters": [_LIMIT_DOC, _INDEX_DOC, _CURSOR_DOC]},
)
async def scan_items(table: str, request: Request) -> Response:
    region: Region = request.app.state.region
    try:
        params = _params(request)
        _unknown(params, _SCAN_PARAMS, ())
        limit = _limit(params.get("limit"))
        start = decode_cursor(params.get("cursor"))
        index = params.get("index")
        spec = await region.control.table_spec(table)
        await authorize_rest(region, "Scan", table, index=index)
        ticket = throttle.admit_reads(region, [(spec, index, False, 1)])
        page = await region.data.scan(table, index=index, limit=limit, exclusive_start_key=start)
        ticket.settle([(spec, capacity.page_read(spec, index, page, consistent=False))])
    except DynamoError as exc:
        return _failed(request, exc)
    return _page_response(page)
