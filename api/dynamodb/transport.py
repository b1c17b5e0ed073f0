"""The HTTP around DynamoDB's JSON 1.0 protocol: compressed bodies, CORS, health check.

What DynamoDB's endpoints do, as ScyllaDB Alternator's and dynalite's suites
observed it against the real service:

* ``Content-Encoding: gzip`` bodies are accepted (SDK request compression, one or
  several concatenated gzip members), and ``deflate`` ones (one zlib stream, RFC
  1950; DynamoDB refuses concatenated ones).  The decompressed size is bounded like
  a plain body (16 MB -> 413) so a small "gzip bomb" cannot exhaust memory: it is
  inflated at most one byte past the limit.  A body that is not valid gzip/deflate,
  or has an unknown coding, is a client error: DynamoDB answers 500 there, which
  botocore retries, so we answer 400 SerializationException instead (never a 5xx
  for a deterministic failure).
* Responses of at least :data:`COMPRESS_MIN` bytes (4 KiB, DynamoDB's threshold)
  are compressed with gzip or deflate when the request's ``Accept-Encoding`` allows
  it (:func:`response_coding`, which reads the header the way DynamoDB does); the
  ``x-amz-crc32`` of a compressed answer is of the compressed bytes, as DynamoDB's
  (the AWS SDKs check it before decompressing).  botocore sends
  ``Accept-Encoding: identity``, so boto3 always gets plain bodies.
* With an ``Origin`` header every response carries ``Access-Control-Allow-Origin: *``
  and DynamoDB's list of exposed headers; an ``OPTIONS`` preflight echoes the
  requested method and headers as allowed and may be cached for 172800 s.
* ``GET /`` is the health check: 200 ``healthy: dynamodb.<region>.amazonaws.com ``
  (trailing space included).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from regions.errors import DynamoError, SerializationError

__all__ = [
    "COMPRESS_MIN",
    "PREFLIGHT_MAX_AGE",
    "RequestContext",
    "RequestTooLarge",
    "compress",
    "cors_headers",
    "decode_content",
    "health_body",
    "response_coding",
]

#: seconds a browser may cache a preflight answer (what dynalite mirrors from DynamoDB)
PREFLIGHT_MAX_AGE = 172800
#: the headers DynamoDB lets a browser script read (per ScyllaDB Alternator)
_EXPOSE_HEADERS = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
#: gzip members one request body may have (an SDK sends one; each costs a decompressor)
_MAX_MEMBERS = 1000
#: the first slice of compressed input fed to a decompressor, and the largest
_FEED_MIN = 16 * 1024
_FEED_MAX = 1024 * 1024
#: the smallest response body compressed when the client accepts it: DynamoDB's 4 KiB
#: (ScyllaDB Alternator's test_compressed_response.py, run against DynamoDB)
COMPRESS_MIN = 4096
#: zlib level of compressed responses: level 1 costs half of level 6's CPU for a
#: DynamoDB JSON body and yields a few percent more bytes
_LEVEL = 1
#: the response codings, in the order a wildcard (``*``) prefers them
_CODINGS = ("gzip", "deflate")


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


def _inflate(data: bytes, limit: int, coding: str) -> bytes:
    """``data`` decompressed, refused past ``limit`` bytes (413) or when corrupt (400).

    The input is fed in growing slices: zlib copies what follows a stream's end
    (``unused_data``), so feeding the whole rest to each of many tiny gzip members
    would copy the body once per member."""
    corrupt = f"The request body is not valid {coding} data"
    if not data:
        raise SerializationError(corrupt)
    gzip = coding == "gzip"
    wbits = _GZIP_WBITS if gzip else _ZLIB_WBITS
    view = memoryview(data)
    end = len(data)
    pos = 0
    out = bytearray()
    members = 0
    # gzip allows several members back to back, each needing a fresh decompressor;
    # deflate is one zlib stream (DynamoDB refuses a second one)
    while pos < end:
        members += 1
        if members > 1 and not gzip:
            raise SerializationError(corrupt)
        if members > _MAX_MEMBERS:
            raise SerializationError(f"The request body has over {_MAX_MEMBERS} gzip members")
        d = zlib.decompressobj(wbits=wbits)
        size = _FEED_MIN
        try:
            while not d.eof:
                if pos >= end:
                    raise SerializationError(corrupt)  # truncated
                piece = view[pos : pos + size]
                pos += len(piece)
                size = min(size * 2, _FEED_MAX)
                # max_length keeps a bomb from inflating past the limit (+1 to detect
                # it); it is never 0, which zlib would read as "unbounded"
                out += d.decompress(piece, limit - len(out) + 1)
                while d.unconsumed_tail and len(out) <= limit:
                    out += d.decompress(d.unconsumed_tail, limit - len(out) + 1)
                if len(out) > limit:
                    raise RequestTooLarge()
        except zlib.error:
            raise SerializationError(corrupt) from None
        # what the last slice held past this stream's end: the next member's start
        pos -= len(d.unused_data)
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
            data = _inflate(data, limit, "gzip")
        elif coding == "deflate":
            data = _inflate(data, limit, "deflate")
        else:
            # decoding as plain JSON would act on a body the client meant otherwise
            raise SerializationError(f"Unsupported Content-Encoding: {coding}")
    return data


def _quality(value: str) -> float:
    """A ``q`` parameter as DynamoDB reads it: over 1 is 1, under 0 is 0, and a value
    that is not a number counts as 1 (``gzip;q=0.x`` is accepted)."""
    try:
        q = float(value)
    except ValueError:
        return 1.0
    if math.isnan(q):
        return 1.0
    return min(1.0, max(0.0, q))


def response_coding(accept_encoding: str) -> str | None:
    """The coding (``gzip``, ``deflate``) of a response to a request with this
    ``Accept-Encoding``, or None for a plain body.

    As DynamoDB reads the header (the cases of ScyllaDB Alternator's
    test_compressed_response.py, run against DynamoDB): codings are matched without
    case; a coding's ``q`` is its first ``q`` parameter (0 refuses it), the highest
    of its entries if it is listed twice; ``*`` stands for gzip and deflate where
    they are not listed; ``identity`` never beats a compression; of the codings with
    the highest ``q``, one listed by name wins over one through ``*``, then the first
    listed (through ``*``: gzip); anything else (``x-gzip``, ``br``, ``"gzip"``) is
    ignored."""
    listed: dict[str, float] = {}
    star: float | None = None
    for entry in accept_encoding.split(","):
        name, _, params = entry.partition(";")
        name = name.strip().lower()
        if name not in _CODINGS and name != "*":
            continue
        q = 1.0
        if params:
            for param in params.split(";"):
                key, eq, value = param.partition("=")
                if eq and key.strip().lower() == "q":
                    q = _quality(value.strip())
                    break
        if name == "*":
            star = q if star is None else max(star, q)
        else:
            listed[name] = max(q, listed.get(name, q))
    # listed codings first (in their order), then what the wildcard adds
    candidates = list(listed.items())
    if star is not None:
        candidates += [(c, star) for c in _CODINGS if c not in listed]
    best: str | None = None
    best_q = 0.0
    for coding, q in candidates:
        if q > best_q:
            best, best_q = coding, q
    return best


def compress(body: bytes, coding: str) -> bytes:
    """``body`` in ``coding`` (``gzip``: RFC 1952; ``deflate``: a zlib stream, RFC 1950,
    which is what DynamoDB sends and what HTTP means by deflate)."""
    c = zlib.compressobj(_LEVEL, zlib.DEFLATED, _GZIP_WBITS if coding == "gzip" else _ZLIB_WBITS)
    return c.compress(body) + c.flush()


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
