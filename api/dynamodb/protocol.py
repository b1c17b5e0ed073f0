"""DynamoDB's JSON 1.0 envelope: target header, body decoding, response encoding.

Responses carry ``x-amz-crc32`` (the unsigned decimal CRC32 of the exact body
bytes): botocore verifies it when present and retries on mismatch, so it is
computed on the bytes actually sent, never on a re-serialisation.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import orjson
from fastapi import Response

from regions.errors import DynamoError, SerializationError, UnknownOperation

__all__ = [
    "CONTENT_TYPE",
    "MAX_BODY",
    "decode_body",
    "encode_error",
    "encode_response",
    "parse_target",
    "plain_response",
]

CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_BODY = 16 * 1024 * 1024
DYNAMODB_PREFIX = "DynamoDB_20120810."
STREAMS_PREFIX = "DynamoDBStreams_20120810."


def parse_target(target: str | None) -> tuple[str, str]:
    """``DynamoDB_20120810.PutItem`` -> ("dynamodb", "PutItem")."""
    if target:
        for service, prefix in (("dynamodb", DYNAMODB_PREFIX), ("streams", STREAMS_PREFIX)):
            if target.startswith(prefix):
                return service, target[len(prefix) :]
    raise UnknownOperation("An unknown operation was requested.")


def decode_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise SerializationError("Start of structure or map found where not expected.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SerializationError("Start of structure or map found where not expected.") from None
    if not isinstance(body, dict):
        raise SerializationError("Start of structure or map found where not expected.")
    return body


def _headers(body: bytes) -> dict[str, str]:
    return {
        "x-amzn-RequestId": uuid.uuid4().hex.upper(),
        "x-amz-crc32": str(zlib.crc32(body) & 0xFFFFFFFF),
    }


def encode_response(payload: dict[str, Any] | None) -> Response:
    body = b"" if payload is None else orjson.dumps(payload)
    return Response(content=body, status_code=200, media_type=CONTENT_TYPE, headers=_headers(body))


def plain_response(body: bytes, status: int = 200, media_type: str | None = None) -> Response:
    """A non-JSON answer (health check, CORS preflight) with the same envelope headers."""
    return Response(content=body, status_code=status, media_type=media_type, headers=_headers(body))


def encode_error(exc: DynamoError) -> Response:
    from api.errors import error_body, error_status

    body = orjson.dumps(error_body(exc))
    return Response(
        content=body, status_code=error_status(exc), media_type=CONTENT_TYPE, headers=_headers(body)
    )
