"""POST /: X-Amz-Target -> operation handler -> JSON 1.0 response.

Handlers decode and shape-check a request, call the Region and encode the result;
they decide nothing about data.  Every DynamoError becomes a DynamoDB-shaped error
here and only here; anything else is logged and answered as InternalServerError.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from api.dynamodb import items, reads, tables
from api.dynamodb.protocol import MAX_BODY, decode_body, encode_error, encode_response, parse_target
from regions.errors import DynamoError, InternalError, UnknownOperation
from regions.region import Region

__all__ = ["OPERATIONS", "router"]

log = logging.getLogger("globaltables.api")

Handler = Callable[[Region, dict[str, Any]], Awaitable[dict[str, Any] | None]]

#: the operation registry; tests iterate it to prove every operation is covered
OPERATIONS: dict[str, dict[str, Handler]] = {
    "dynamodb": {**tables.OPERATIONS, **items.OPERATIONS, **reads.OPERATIONS},
    "streams": {},
}

router = APIRouter()


class _TooLarge(DynamoError):
    code = "RequestEntityTooLarge"


@router.post("/", include_in_schema=False)
async def dynamodb_endpoint(request: Request) -> Response:
    region: Region = request.app.state.region
    started = time.perf_counter()
    op = "unknown"
    try:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            raise _TooLarge("Request Entity Too Large")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise _TooLarge("Request Entity Too Large")
        service, op = parse_target(request.headers.get("x-amz-target"))
        handler = OPERATIONS[service].get(op)
        if handler is None:
            raise UnknownOperation("An unknown operation was requested.")
        body = decode_body(raw)
        result = await handler(region, body)
        response = encode_response(result)
    except DynamoError as exc:
        response = encode_error(exc)
    except Exception:
        log.exception("internal error in %s", op)
        response = encode_error(InternalError("Internal server error"))
    request.app.state.metrics.observe(op, response.status_code, time.perf_counter() - started)
    return response
