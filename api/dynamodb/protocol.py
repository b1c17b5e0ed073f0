"""DynamoDB's JSON 1.0 envelope: target header, body decoding, response encoding.

Responses carry ``x-amz-crc32`` (the unsigned decimal CRC32 of the exact body
bytes): botocore verifies it when present and retries on mismatch, so it is
computed on the bytes actually sent, never on a re-serialisation: for a compressed
answer (:func:`compress_response`), on the compressed bytes, as DynamoDB does.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Response
from starlette.types import Receive, Scope, Send

from api.dynamodb.transport import COMPRESS_MIN, compress, response_coding
from regions.errors import DynamoError, SerializationError, UnknownOperation

__all__ = [
    "CONTENT_TYPE",
    "MAX_BODY",
    "WireResponse",
    "compress_response",
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
    """The request body as a JSON object.

    An empty body, or one that is not JSON at all, is a SerializationException with no
    message: DynamoDB answers exactly ``{"__type":"com.amazon.coral.service#Serializ
    ationException"}`` (dynalite's connection tests, written against DynamoDB, check the
    body and its CRC32).  JSON that is not an object keeps Coral's wrong-type text, and
    so does JSON nested deeper than the parser goes (1024 levels): it is JSON, which
    DynamoDB would refuse for its nesting, not for its syntax."""
    if not raw:
        raise SerializationError("")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise SerializationError(
                "Start of structure or map found where not expected."
            ) from None
        raise SerializationError("") from None
    if not isinstance(body, dict):
        raise SerializationError("Start of structure or map found where not expected.")
    return body


#: byte -> one of DynamoDB's 32 request-id characters (0-9, A-V: base32hex's alphabet);
#: 256 is a multiple of 32, so every character is equally likely
_ID_CHARS = bytes(b"0123456789ABCDEFGHIJKLMNOPQRSTUV"[i % 32] for i in range(256))


def _request_id() -> str:
    """52 characters of ``[0-9A-V]`` (260 random bits), the form of DynamoDB's
    ``x-amzn-RequestId`` as SDK logs show it (``SUH7SV6P7TMI2JCTO09BPOUK0FVV4KQNSO5A``
    ``EMVJF66Q9ASUAAJG``); dynalite's connection tests, written against DynamoDB,
    check ``^[0-9A-Z]{52}$``.  One ``os.urandom`` and one ``bytes.translate``: as
    cheap as the 32 hex digits it replaces, and no UUID object per request."""
    return os.urandom(52).translate(_ID_CHARS).decode()


def _headers(body: bytes) -> dict[str, str]:
    return {
        "x-amzn-RequestId": _request_id(),
        "x-amz-crc32": str(zlib.crc32(body) & 0xFFFFFFFF),
    }


_JSON_TYPE = CONTENT_TYPE.encode()


class WireResponse:
    """A DynamoDB protocol answer, sent as two ASGI messages.

    Every request gets one, so it skips what a Starlette ``Response`` does per
    instance (header list building and lowering, a ``MutableHeaders`` view for
    each update, the background-task check); the header names are already
    lower-case bytes, as Starlette would send them."""

    __slots__ = ("body", "raw_headers", "status_code")

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.body = body
        self.status_code = status_code
        self.raw_headers: list[tuple[bytes, bytes]] = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", _JSON_TYPE),
            (b"x-amzn-requestid", _request_id().encode()),
            (b"x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF).encode()),
        ]

    def encode_body(self, body: bytes, coding: str) -> None:
        """Send ``body``, the present body in ``coding``, instead: its length and CRC32
        are of the bytes sent, and ``content-encoding`` says what they are."""
        self.body = body
        self.raw_headers = [
            (name, value)
            for name, value in self.raw_headers
            if name not in (b"content-length", b"x-amz-crc32")
        ]
        self.raw_headers[:0] = [
            (b"content-length", str(len(body)).encode()),
            (b"x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF).encode()),
            (b"content-encoding", coding.encode()),
        ]

    def add_headers(self, headers: Mapping[str, str]) -> None:
        for name, value in headers.items():
            self.raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})


#: bodies from this size are compressed in a worker thread (zlib releases the GIL),
#: so that the event loop serves other requests meanwhile (~2 ms of CPU at level 1)
_COMPRESS_IN_THREAD = 512 * 1024


async def compress_response(response: WireResponse, accept_encoding: str | None) -> None:
    """Compress a successful answer of at least ``COMPRESS_MIN`` bytes if the request's
    ``Accept-Encoding`` allows it (``api.dynamodb.transport.response_coding``).

    Errors stay plain: DynamoDB has labelled large error bodies gzip without
    compressing them, which SDKs that decompress by themselves choke on."""
    body = response.body
    if accept_encoding is None or response.status_code != 200 or len(body) < COMPRESS_MIN:
        return
    coding = response_coding(accept_encoding)
    if coding is None:
        return
    if len(body) >= _COMPRESS_IN_THREAD:
        encoded = await asyncio.to_thread(compress, body, coding)
    else:
        encoded = compress(body, coding)
    response.encode_body(encoded, coding)


def encode_response(payload: dict[str, Any] | None) -> WireResponse:
    return WireResponse(b"" if payload is None else orjson.dumps(payload))


def plain_response(body: bytes, status: int = 200, media_type: str | None = None) -> Response:
    """A non-JSON answer (health check, CORS preflight) with the same envelope headers."""
    return Response(content=body, status_code=status, media_type=media_type, headers=_headers(body))


def encode_error(exc: DynamoError) -> WireResponse:
    from api.errors import error_body, error_status

    return WireResponse(orjson.dumps(error_body(exc)), error_status(exc))
