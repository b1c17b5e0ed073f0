"""The DynamoDB protocol: X-Amz-Target -> operation handler -> JSON 1.0 response.

Which operations exist, and their handlers, is the operation registry's
(``api.dynamodb.operations``); this module only dispatches from it.

An item operation is decode -> authorize -> run: its ``decode`` checks the body's
shape and parses every expression once into a request object
(``api.dynamodb.requests``), authorization reads the condition keys off that object
(``api.authorization.authorize_request``), and its ``run`` calls the Region and
encodes the result.  Any other operation is authorized from its body
(``api.authorization.authorize``) and then served by its handler.  Which error a
request that is both malformed and denied gets is the "Precedence" of
``api.authorization``'s docstring.  Handlers decide nothing about data.  Every
DynamoError becomes a DynamoDB-shaped error here and only here; anything else is
logged and answered as InternalServerError.

``GET /`` is DynamoDB's health check and ``OPTIONS /`` its CORS preflight
(``api.dynamodb.transport``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Protocol

from fastapi import APIRouter, Request, Response

from api.authorization import authorize, authorize_request, subject
from api.dynamodb.operations import CONTEXT_HANDLERS, DECODED, HANDLERS
from api.dynamodb.protocol import (
    MAX_BODY,
    WireResponse,
    decode_body,
    encode_error,
    encode_response,
    parse_target,
    plain_response,
)
from api.dynamodb.transport import (
    RequestContext,
    RequestTooLarge,
    cors_headers,
    decode_content,
    health_body,
)
from regions.errors import DynamoError, InternalError, UnknownOperation
from regions.region import Region

__all__ = ["Observer", "router", "serve"]

log = logging.getLogger("globaltables.api")


class Observer(Protocol):
    """Where a request's outcome is counted (``api.metrics.RegionMetrics``)."""

    def observe(self, op: str, status: int, seconds: float, error: str | None = None) -> None: ...


router = APIRouter()


async def serve(
    region: Region,
    metrics: Observer,
    headers: Mapping[str, str],
    raw: bytes,
    started: float,
    host: str,
) -> WireResponse:
    """One DynamoDB protocol request, its body already read (and authenticated by
    the caller): decode, authorize, run the operation, encode.  ``POST /`` reaches
    it straight from the ASGI entry point (``api.app.RegionApp``), not through the
    FastAPI router, whose per-request work cost more than most operations do."""
    op = "unknown"
    error: str | None = None
    try:
        if len(raw) > MAX_BODY:
            raise RequestTooLarge()
        service, op = parse_target(headers.get("x-amz-target"))
        decoded = DECODED[service].get(op)
        if decoded is not None:
            body = decode_body(decode_content(raw, headers.get("content-encoding"), MAX_BODY))
            try:
                request = decoded.decode(body)
            except Exception:
                # malformed: denied first if the body shows it without being parsed
                await authorize(region, service, op, body)
                raise
            # authorized from the decoded request, before anything has run
            principal = subject()
            if principal is not None:
                await authorize_request(region, principal, service, op, request)
            result = await decoded.run(region, request)
        else:
            handler = HANDLERS[service].get(op)
            context_handler = CONTEXT_HANDLERS[service].get(op)
            if handler is None and context_handler is None:
                raise UnknownOperation("An unknown operation was requested.")
            body = decode_body(decode_content(raw, headers.get("content-encoding"), MAX_BODY))
            # authorized here, before its handler has done anything
            await authorize(region, service, op, body)
            if handler is not None:
                result = await handler(region, body)
            else:
                assert context_handler is not None
                result = await context_handler(region, body, RequestContext(host=host))
        response = encode_response(result)
    except DynamoError as exc:
        response = encode_error(exc)
        error = exc.code
    except Exception:
        log.exception("internal error in %s", op)
        internal = InternalError("Internal server error")
        response = encode_error(internal)
        error = internal.code
    cors = cors_headers(headers, preflight=False)
    if cors:
        response.add_headers(cors)
    metrics.observe(op, response.status_code, time.perf_counter() - started, error)
    return response


@router.get("/", include_in_schema=False)
async def health_check(request: Request) -> Response:
    region: Region = request.app.state.region
    response = plain_response(health_body(region.name))
    response.headers.update(cors_headers(request.headers, preflight=False))
    return response


@router.options("/", include_in_schema=False)
async def cors_preflight(request: Request) -> Response:
    if not request.headers.get("origin"):
        # not a preflight: DynamoDB answers an OPTIONS without Origin with 404
        return plain_response(b"<UnknownOperationException/>\n", status=404)
    response = plain_response(b"")
    response.headers.update(cors_headers(request.headers, preflight=True))
    return response
