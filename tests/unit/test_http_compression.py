"""HTTP compression of the DynamoDB protocol (api/dynamodb/transport.py, protocol.py):
Accept-Encoding as DynamoDB reads it, request bodies inflated within the size limit,
compressed answers with the CRC32 of the bytes sent."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import orjson
import pytest

from api.dynamodb.protocol import WireResponse, compress_response, encode_error
from api.dynamodb.transport import (
    COMPRESS_MIN,
    RequestTooLarge,
    compress,
    decode_content,
    response_coding,
)
from regions.errors import ConditionalCheckFailed, SerializationError

# What DynamoDB answered for each Accept-Encoding (ScyllaDB Alternator's
# test_compressed_response.py, run against DynamoDB); None: a plain body.
DYNAMODB_CASES = [
    ("identity", None),
    ("", None),
    ("br", None),
    ("zstd", None),
    ("compress", None),
    ("x-gzip", None),
    ("gzip, deflate", "gzip"),
    ("br, identity, deflate, gzip", "deflate"),
    ("GZIP, identity", "gzip"),
    ("dog, gzip ,, cat", "gzip"),
    ("gzip;q=0.8, deflate;q=0.5", "gzip"),
    ("br, gzip;q=0, deflate; q = 0.5 , identity;q=0", "deflate"),
    ("*", "gzip"),
    ("*, deflate;q=0.5", "gzip"),
    ("*, deflate", "deflate"),
    ("*, identity", "gzip"),
    ("*, gzip;q=0.5", "deflate"),
    ("gzip ;q=0", None),
    ("identity;q=0", None),
    ("*;q=0", None),
    ("*;q=0.5,identity", "gzip"),
    ("gzip;q=0.5,identity;q=0.8", "gzip"),
    ("br;q=0.8,identity;q=0.5,*;q=0", None),
    ('"gzip"', None),
    ("gzip br", None),
    ("gzip:q=1", None),
    ("deflate;q=0.5, gzip;q=31", "gzip"),
    ("gzip;q=31,deflate;q=51", "gzip"),
    ("deflate;q=0.5, gzip;q=0.2", "deflate"),
    ("deflate;q=0.5, gzip;q=1;q=0.2", "gzip"),
    ("deflate;q=0.5,gzip;q=0.", "deflate"),
    ("deflate;q=0.5,gzip;q=0.x", "gzip"),
    ("deflate;q=-0.5,gzip;q=0.2", "gzip"),
    ("gzip;nq=1;q=0 ", None),
    ("gzip;q=0, gzip;q=1, gzip;q=0", "gzip"),
    ("br,identity;q=0.5,gzip;q=0.0001", "gzip"),
]


@pytest.mark.parametrize(("accept", "expected"), DYNAMODB_CASES)
def test_accept_encoding_as_dynamodb_reads_it(accept: str, expected: str | None) -> None:
    assert response_coding(accept) == expected


@pytest.mark.parametrize("accept", ["gzip;q=nan", "gzip;q=inf", "gzip;q=", "gzip;q", ";;,;"])
def test_odd_quality_values_do_not_fail(accept: str) -> None:
    assert response_coding(accept) in (None, "gzip")


# ------------------------------------------------------------------ request bodies

PLAIN = b'{"TableName": "t", "Item": {"p": {"S": "x"}}}'


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        (None, PLAIN),
        ("identity", PLAIN),
        ("gzip", gzip.compress(PLAIN)),
        ("x-gzip", gzip.compress(PLAIN)),
        ("GZIP", gzip.compress(PLAIN)),
        ("gzip", gzip.compress(PLAIN[:7]) + gzip.compress(PLAIN[7:])),
        ("deflate", zlib.compress(PLAIN)),
        ("Deflate", zlib.compress(PLAIN, 9)),
        ("deflate, gzip", gzip.compress(zlib.compress(PLAIN))),
    ],
)
def test_decoded_bodies(coding: str | None, body: bytes) -> None:
    assert decode_content(body, coding, 1024) == PLAIN


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", PLAIN),
        ("gzip", b""),
        ("gzip", gzip.compress(PLAIN)[:-1]),
        ("gzip", gzip.compress(PLAIN) + b"junk"),
        ("gzip", zlib.compress(PLAIN)),
        ("deflate", PLAIN),
        ("deflate", b""),
        ("deflate", zlib.compress(PLAIN)[:-1]),
        ("deflate", zlib.compress(PLAIN) + b"junk"),
        ("deflate", zlib.compress(PLAIN) + zlib.compress(PLAIN)),
        ("deflate", gzip.compress(PLAIN)),
    ],
)
def test_corrupt_bodies_are_serialization_errors(coding: str, body: bytes) -> None:
    with pytest.raises(SerializationError, match=f"not valid {coding} data"):
        decode_content(body, coding, 1024)


@pytest.mark.parametrize("coding", ["br", "compress", "zstd", "garbage"])
def test_unknown_codings_are_refused(coding: str) -> None:
    with pytest.raises(SerializationError, match="Unsupported Content-Encoding"):
        decode_content(PLAIN, coding, 1024)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_the_limit_is_on_the_inflated_size(coding: str) -> None:
    exact = b" " * 1000
    body = compress(exact, coding)
    assert decode_content(body, coding, 1000) == exact
    with pytest.raises(RequestTooLarge):
        decode_content(body, coding, 999)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_bomb_is_not_inflated_past_the_limit(coding: str) -> None:
    # 64 MiB of zeros in ~64 KB: refused after inflating the limit (+1 byte)
    bomb = compress(bytes(64 * 1024 * 1024), coding)
    assert len(bomb) < 512 * 1024
    with pytest.raises(RequestTooLarge):
        decode_content(bomb, coding, 1024 * 1024)


def test_concatenated_gzip_members_count_together() -> None:
    body = gzip.compress(b" " * 600) + gzip.compress(b" " * 600)
    with pytest.raises(RequestTooLarge):
        decode_content(body, "gzip", 1000)


# ------------------------------------------------------------------ responses


def _compressed(response: WireResponse, accept: str | None) -> WireResponse:
    asyncio.run(compress_response(response, accept))
    return response


def _headers(response: WireResponse) -> dict[bytes, bytes]:
    return dict(response.raw_headers)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_large_answer_is_compressed_with_the_crc_of_the_bytes_sent(coding: str) -> None:
    payload = {"Item": {"p": {"S": "x" * COMPRESS_MIN}}}
    plain = orjson.dumps(payload)
    response = _compressed(WireResponse(plain), coding)
    headers = _headers(response)
    assert headers[b"content-encoding"] == coding.encode()
    assert headers[b"content-length"] == str(len(response.body)).encode()
    assert headers[b"x-amz-crc32"] == str(zlib.crc32(response.body)).encode()
    assert headers[b"content-type"] == b"application/x-amz-json-1.0"
    assert len([n for n, _ in response.raw_headers if n == b"content-length"]) == 1
    inflated = (
        gzip.decompress(response.body) if coding == "gzip" else zlib.decompress(response.body)
    )
    assert inflated == plain


def test_threshold_is_4_kib() -> None:
    at = WireResponse(b"{" + b" " * (COMPRESS_MIN - 2) + b"}")
    below = WireResponse(b"{" + b" " * (COMPRESS_MIN - 3) + b"}")
    assert b"content-encoding" in _headers(_compressed(at, "gzip"))
    assert b"content-encoding" not in _headers(_compressed(below, "gzip"))


@pytest.mark.parametrize("accept", [None, "", "identity", "br", "gzip;q=0"])
def test_not_compressed_unless_asked(accept: str | None) -> None:
    body = orjson.dumps({"Item": {"p": {"S": "x" * 10000}}})
    response = _compressed(WireResponse(body), accept)
    assert response.body == body
    assert b"content-encoding" not in _headers(response)


def test_errors_stay_plain() -> None:
    response = encode_error(ConditionalCheckFailed("The conditional request failed"))
    response.body = b"{" + b" " * 10000 + b"}"
    assert _compressed(response, "gzip").body == b"{" + b" " * 10000 + b"}"


def test_a_body_over_the_thread_size_is_compressed_too() -> None:
    body = orjson.dumps({"Items": [{"p": {"S": str(i) * 20}} for i in range(40000)]})
    assert len(body) > 512 * 1024
    response = _compressed(WireResponse(body), "gzip")
    assert gzip.decompress(response.body) == body


def test_many_gzip_members_are_cheap_and_capped() -> None:
    empty = gzip.compress(b"")
    assert decode_content(empty * 1000, "gzip", 1024) == b""
    # 800 K members in 16 MB: refused at the cap, not inflated one by one
    with pytest.raises(SerializationError, match="over 1000 gzip members"):
        decode_content(empty * (16 * 1024 * 1024 // len(empty)), "gzip", 16 * 1024 * 1024)


def test_members_split_across_feed_slices() -> None:
    # members of every size around the 16 KiB first slice, back to back
    parts = [bytes([65 + i % 26]) * (i * 997) for i in range(40)]
    body = b"".join(gzip.compress(p, 0) for p in parts)
    assert decode_content(body, "gzip", 10 * 1024 * 1024) == b"".join(parts)
