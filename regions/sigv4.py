"""AWS Signature Version 4, the algorithm both sides share.

The region checks signatures with it (``api/auth/signature_check.py``), regions
sign their calls to each other with it (``replicator/signing.py``), and the load
generator reuses its key derivation (``bench/sigv4.py``).
``tests/unit/test_sigv4.py`` checks it against botocore's signer byte for byte.

Canonicalisation follows what the SDKs send, not only the letter of the spec:

* the canonical URI is the path *as sent* (already percent-encoded), dot segments
  removed, then percent-encoded once more (``/~`` kept): every SDK except S3's
  double-encodes, so ``/v1/tables/a%20b`` is signed as ``/v1/tables/a%2520b``;
* query names and values are decoded, then encoded strictly (only ``A-Za-z0-9-_.~``
  left as is) and sorted, so an SDK that encodes ``:`` and one that leaves it alone
  agree;
* header values are trimmed and inner whitespace collapsed; repeated headers are
  joined with ``,``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "SERVICE",
    "Credentials",
    "amz_date",
    "authorization",
    "canonical_header_value",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "scope",
    "sign_headers",
    "signature",
    "signing_key",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
#: the signing name of DynamoDB *and* DynamoDB Streams (botocore's ``signingName``)
SERVICE = "dynamodb"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_QUERY_SAFE = "-_.~"


@dataclass(frozen=True)
class Credentials:
    """An access key pair.  The secret stays out of ``repr`` (and so out of logs)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


def amz_date(epoch: float | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` (UTC) for ``epoch`` (default: now)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if epoch is None else epoch))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


@functools.lru_cache(maxsize=256)
def signing_key(secret_key: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """``HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")``.

    Cached: the key changes once a day per secret, and these four HMACs were a
    visible share of a request's CPU.  The cache holds derived keys only, in the
    same process that already holds the secrets."""
    k_date = _hmac(f"AWS4{secret_key}".encode(), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, TERMINATOR)


def scope(date: str, region: str, service: str = SERVICE) -> str:
    """``<yyyymmdd>/<region>/<service>/aws4_request``."""
    return f"{date}/{region}/{service}/{TERMINATOR}"


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4, plus the removal of empty segments AWS services expect
    # (what botocore.utils.remove_dot_segments does)
    out: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


@functools.lru_cache(maxsize=256)
def canonical_uri(raw_path: str) -> str:
    """The canonical URI of a path exactly as it was sent on the wire (cached: the
    DynamoDB protocol always posts to ``/``, and quoting it was per-request work)."""
    return quote(_remove_dot_segments(raw_path) if raw_path else "/", safe="/~")


def canonical_query(raw_query: str) -> str:
    """The canonical query string of a raw (as sent) query string."""
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append(
            (quote(unquote(name), safe=_QUERY_SAFE), quote(unquote(value), safe=_QUERY_SAFE))
        )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_header_value(values: Iterable[str]) -> str:
    """Trimmed, inner whitespace collapsed, repeated headers joined with ``,``."""
    return ",".join(" ".join(v.split()) for v in values)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
) -> str:
    """The six-part canonical request.  ``headers`` maps each lowercase signed name to
    its canonical value; ``uri`` and ``query`` are already canonical."""
    names = sorted(signed_headers)
    lines = "".join(f"{n}:{headers.get(n, '')}\n" for n in names)
    return "\n".join((method.upper(), uri, query, lines, ";".join(names), payload_hash))


def string_to_sign(x_amz_date: str, credential_scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{x_amz_date}\n{credential_scope}\n{digest}"


def signature(key: bytes, to_sign: str) -> str:
    # hmac.digest is OpenSSL's one-shot HMAC, without hmac.new's Python object
    return hmac.digest(key, to_sign.encode(), "sha256").hex()


def authorization(access_key_id: str, credential_scope: str, signed: str, sig: str) -> str:
    """The ``Authorization`` header value, laid out as botocore lays it out."""
    return (
        f"{ALGORITHM} Credential={access_key_id}/{credential_scope}, "
        f"SignedHeaders={signed}, Signature={sig}"
    )


def sign_headers(
    credentials: Credentials,
    region: str,
    *,
    method: str,
    host: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    epoch: float | None = None,
) -> dict[str, str]:
    """The ``X-Amz-Date`` and ``Authorization`` headers of a request.

    ``host`` is the Host header as it will be sent (with its port); every entry of
    ``headers`` is signed too (pass only headers no proxy rewrites: content-type,
    x-amz-target...)."""
    date = amz_date(epoch)
    canon: dict[str, str] = {k.lower(): canonical_header_value([v]) for k, v in headers.items()}
    canon["host"] = canonical_header_value([host])
    canon["x-amz-date"] = date
    credential_scope = scope(date[:8], region)
    canonical = canonical_request(
        method,
        canonical_uri(raw_path),
        canonical_query(raw_query),
        canon,
        canon.keys(),
        hashlib.sha256(body).hexdigest(),
    )
    sig = signature(
        signing_key(credentials.secret_access_key, date[:8], region),
        string_to_sign(date, credential_scope, canonical),
    )
    return {
        "X-Amz-Date": date,
        "Authorization": authorization(
            credentials.access_key_id, credential_scope, ";".join(sorted(canon)), sig
        ),
    }
