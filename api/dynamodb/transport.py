"""The HTTP around DynamoDB's JSON 1.0 protocol: compressed bodies, CORS, health check.

What DynamoDB's endpoints do, as ScyllaDB Alternator's and dynalite's suites
observed it against the real service:

* ``Content-Encoding: gzip`` bodies are accepted (SDK request compression, one or
  several concatenated gzip members).  The decompressed size is bounded like a
  plain body (16 MB -> 413) so a small "gzip bomb" cannot exhaust memory.  A body
  that is not valid gzip is a client error: DynamoDB answers 500 there, which
  botocore retries, so we answer 400 SerializationException instead (never a 5xx
  for a deterministic failure).
* With an ``Origin`` header every response carries ``Access-Control-Allow-Origin: *``
  and DynamoDB's list of exposed headers; an ``OPTIONS`` preflight echoes the
  requested method and headers as allowed and may be cached for 172800 s.
* ``GET /`` is the health check: 200 ``healthy: dynamodb.<region>.amazonaws.com ``
  (trailing space included).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from regions.errors import DynamoError, SerializationError

__all__ = [
    "PREFLIGHT_MAX_AGE",
    "RequestContext",
    "RequestTooLarge",
    "cors_headers",
    "decode_content",
    "health_body",
]

#: seconds a browser may cache a preflight answer (what dynalite mirrors from DynamoDB)
PREFLIGHT_MAX_AGE = 172800
#: the headers DynamoDB lets a browser script read (per ScyllaDB Alternator)
_EXPOSE_HEADERS = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_CORRUPT = "The request body is not valid gzip data"


class RequestTooLarge(DynamoError):
    """A body (or its decompressed form) over the 16 MB request limit: HTTP 413."""

    code = "RequestEntityTooLarge"

    def __init__(self, message: str = "Request Entity Too Large") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class RequestContext:
    """What a handler may need from the HTTP request beyond its JSON body."""

    #: the Host header as the client sent it, port included (``127.0.0.1:8000``)
    host: str


def _gunzip(data: bytes, limit: int) -> bytes:
    if not data:
        raise SerializationError(_CORRUPT)
    out = bytearray()
    rest = data
    # gzip allows several members back to back; each needs a fresh decompressor
    while rest:
        d = zlib.decompressobj(wbits=_GZIP_WBITS)
        try:
            # max_length keeps a bomb from inflating past the limit (+1 to detect it);
            # it is never 0, which zlib would read as "unbounded"
            out += d.decompress(rest, limit - len(out) + 1)
            while d.unconsumed_tail and len(out) <= limit:
                out += d.decompress(d.unconsumed_tail, limit - len(out) + 1)
        except zlib.error:
            raise SerializationError(_CORRUPT) from None
        if len(out) > limit:
            raise RequestTooLarge()
        if not d.eof:
            raise SerializationError(_CORRUPT)
        rest = d.unused_data
    return bytes(out)


def decode_content(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone (codings apply in listed order,
    so they are undone last first)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    data = raw
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            data = _gunzip(data, limit)
        else:
            # decoding as plain JSON would act on a body the client meant otherwise
            raise SerializationError(f"Unsupported Content-Encoding: {coding}")
    return data


def cors_headers(request_headers: Mapping[str, str], *, preflight: bool) -> dict[str, str]:
    """CORS response headers; none without an Origin (a non-browser client)."""
    if not request_headers.get("origin"):
        return {}
    out = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": _EXPOSE_HEADERS,
    }
    if preflight:
        method = request_headers.get("access-control-request-method")
        headers = request_headers.get("access-control-request-headers")
        if method:
            out["Access-Control-Allow-Methods"] = method
        if headers:
            out["Access-Control-Allow-Headers"] = headers
        out["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return out


def health_body(region: str) -> bytes:
    return f"healthy: dynamodb.{region}.amazonaws.com ".encode()
