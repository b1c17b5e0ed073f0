"""SigV4 signature checks as DynamoDB does them (docs/security.md, "The signature check").

Two steps, so that a request is only buffered once it names a real key:

1. :func:`parse_claim` reads the ``Authorization`` header and the date, and checks
   everything that does not need the body: the parts, the date format and the
   clock-skew window (5 minutes back, 15 ahead), that ``host`` and every ``x-amz-*``
   header the request carries are signed, the algorithm, and the credential scope
   (this region's name, ``dynamodb``, ``aws4_request``, the request's date);
2. :func:`check_signature` recomputes the signature over the body with the key's
   secret and compares in constant time.

The checks run in dynalite's order (which follows the live service), and every
failure carries DynamoDB's text.

A request may carry its signature in the query string instead (a presigned request:
``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-SignedHeaders``,
``X-Amz-Signature`` and optionally ``X-Amz-Expires`` as query parameters), as DynamoDB
accepts; :func:`parse_claim` reads it from there when the query names
``X-Amz-Algorithm``, with the same checks, and the signature then covers the canonical
query string less ``X-Amz-Signature``.  Such a signature is good from its date until
``X-Amz-Expires`` seconds later (at most 604800, seven days); without
``X-Amz-Expires`` it has the header signature's window.  A request whose query has no
``X-Amz-Algorithm`` (every SDK call) never reaches that code.
"""

from __future__ import annotations

import calendar
import email.utils
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from api.auth.errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken
from regions import sigv4

__all__ = [
    "FUTURE_LIMIT_S",
    "MAX_EXPIRES_S",
    "PAST_LIMIT_S",
    "Claim",
    "Request",
    "check_signature",
    "is_presigned",
    "parse_claim",
]

#: a signature dated further back is expired (DynamoDB since 2016; it was 15 min before)
PAST_LIMIT_S = 5 * 60
#: a signature dated further ahead is not yet current
FUTURE_LIMIT_S = 15 * 60

#: the longest X-Amz-Expires of a presigned request: seven days, as the SigV4 signing
#: key is only valid that long (AWS's SigV4 query-string documentation)
MAX_EXPIRES_S = 7 * 24 * 3600

_BASIC = re.compile(r"^\d{8}T\d{6}Z$")
_REQUIRED = ("Credential", "Signature", "SignedHeaders")
#: the query parameters of a presigned request, in the order DynamoDB names the missing
#: ones (dynalite's connection tests, written against DynamoDB)
_QUERY_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)
_QUERY_ALGORITHM = "X-Amz-Algorithm"
_QUERY_SIGNATURE = "X-Amz-Signature"


@dataclass(frozen=True)
class Request:
    """What the signature check reads of an HTTP request: the path and query exactly as
    sent, and every header (lowercase name -> values in arrival order)."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, Sequence[str]]

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Claim:
    """A well-formed, current, correctly scoped ``Authorization`` header."""

    access_key_id: str
    #: the request time, ``YYYYMMDDTHHMMSSZ`` (from X-Amz-Date, or Date)
    amz_date: str
    scope: str
    region: str
    signed_headers: tuple[str, ...]
    signature: str
    #: signed in the query string (presigned): the canonical query leaves out
    #: X-Amz-Signature
    presigned: bool = False


def _query_params(raw_query: str) -> dict[str, str]:
    """The query's parameters, names and values decoded (the first of a repeated one)."""
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            params.setdefault(unquote(name), unquote(value))
    return params


def is_presigned(request: Request) -> bool:
    """Whether the request's query string names ``X-Amz-Algorithm`` (even empty, or
    without a value), which makes it a query-string-signed request for DynamoDB.  Free
    for the requests of every SDK: their query string is empty."""
    raw = request.raw_query
    if not raw or ("Algorithm" not in raw and "%" not in raw):
        return False
    return _QUERY_ALGORITHM in _query_params(raw)


def _basic(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


@functools.lru_cache(maxsize=64)
def _parse_basic(text: str) -> float | None:
    # cached: concurrent clients send the same second's date over and over, and
    # strptime was a visible share of a request's CPU
    if not _BASIC.match(text):
        return None
    try:
        return float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def _request_time(request: Request) -> tuple[str, float]:
    """(ISO basic text, epoch) of the request's X-Amz-Date, or of its Date header."""
    x_amz_date = request.header("x-amz-date")
    text = x_amz_date if x_amz_date is not None else request.header("date") or ""
    epoch = _parse_basic(text)
    if epoch is None and x_amz_date is None:
        # Date is an HTTP date (RFC 7231); X-Amz-Date must be ISO 8601 basic
        try:
            epoch = email.utils.parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError, IndexError):
            epoch = None
    if epoch is None:
        raise IncompleteSignature(
            f"Date must be in ISO-8601 'basic format'. Got '{text}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        )
    # an ISO basic date is its own canonical text
    return (text if text is x_amz_date else _basic(epoch)), epoch


def _check_signed(request: Request, signed: tuple[str, ...]) -> None:
    """Every ``x-amz-*`` header of the request is signed, as AWS requires (an SDK signs
    every one it sends): otherwise a header added after signing, such as an
    ``X-Amz-Target`` naming another operation, would ride on a valid signature.
    Per request: the headers differ between requests that share a cached claim.
    (``x-amzn-*``, e.g. X-Amzn-Trace-Id, and ``amz-sdk-*`` are not ``x-amz-*``.)"""
    for name in request.headers:
        if name.startswith("x-amz-") and name not in signed:
            raise InvalidSignature(f"'{name}' must be a 'SignedHeader' in the AWS Authorization.")


def _check_not_ahead(date: str, when: float, now: float) -> None:
    """A signature dated too far ahead of this clock (header and presigned alike)."""
    if when > now + FUTURE_LIMIT_S:
        raise InvalidSignature(
            f"Signature not yet current: {date} is still later than "
            f"{_basic(now + FUTURE_LIMIT_S)} ({_basic(now)} + {FUTURE_LIMIT_S // 60} min.)"
        )


def _check_time(date: str, when: float, now: float | None) -> None:
    now = time.time() if now is None else now
    if when < now - PAST_LIMIT_S:
        raise InvalidSignature(
            f"Signature expired: {date} is now earlier than {_basic(now - PAST_LIMIT_S)} "
            f"({_basic(now)} - {PAST_LIMIT_S // 60} min.)"
        )
    _check_not_ahead(date, when, now)


#: (Authorization header up to its trailing Signature=, X-Amz-Date, region) ->
#: (the claim it parsed to, the request time).  A client sends the same header
#: but for its signature for a whole second, so only the time check and the
#: signature are per request.  Only claims that parsed cleanly are kept.
_TEMPLATES: dict[tuple[str, str, str], tuple[Claim, float]] = {}
_TEMPLATES_MAX = 1024


def parse_claim(request: Request, region: str, now: float | None = None) -> Claim:
    """Everything but the signature itself; raises the matching DynamoDB error."""
    header = request.header("authorization")
    if request.raw_query and is_presigned(request):
        if header is not None:
            raise InvalidSignature(
                "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' "
                "as HTTP header."
            )
        return _parse_query_claim(request, region, now)
    x_amz_date = request.header("x-amz-date")
    if header is None or x_amz_date is None:
        return _parse_claim(request, region, now)
    head, found, signature = header.rpartition("Signature=")
    if not (found and signature.isalnum() and head[-1:] in (" ", ",")):
        return _parse_claim(request, region, now)
    key = (head, x_amz_date, region)
    cached = _TEMPLATES.get(key)
    if cached is None:
        # the full parse reads this same header: its last parameter is this signature
        claim = _parse_claim(request, region, now)
        when = _parse_basic(x_amz_date)
        assert when is not None  # the parse above raised otherwise
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        _TEMPLATES[key] = (claim, when)
        return claim
    template, when = cached
    # the same checks in the same order as _parse_claim: the others passed for this key
    _check_time(template.amz_date, when, now)
    _check_signed(request, template.signed_headers)
    return Claim(
        template.access_key_id,
        template.amz_date,
        template.scope,
        template.region,
        template.signed_headers,
        signature,
    )


def _parse_claim(request: Request, region: str, now: float | None) -> Claim:
    header = request.header("authorization")
    if header is None or not header.strip().startswith("AWS4-"):
        raise MissingAuthenticationToken()
    algorithm, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    # "Commas and/or spaces separate the parts" (obs.)
    for part in rest.replace(",", " ").split(" "):
        if part:
            name, _, value = part.strip().partition("=")
            params[name] = value
    missing = "".join(
        f"Authorization header requires '{p}' parameter. " for p in _REQUIRED if not params.get(p)
    )
    if request.header("x-amz-date") is None and request.header("date") is None:
        missing += (
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        )
    if missing:
        raise IncompleteSignature(f"{missing}Authorization={header}")

    date, when = _request_time(request)
    _check_time(date, when, now)

    return _claim(
        request,
        region,
        algorithm=algorithm,
        credential=params["Credential"],
        signed_headers=params["SignedHeaders"],
        signature=params["Signature"],
        date=date,
    )


def _parse_query_claim(request: Request, region: str, now: float | None) -> Claim:
    """A presigned request's claim: the same checks as the header's, on the query's
    parameters (the missing-parameter text is dynalite's record of DynamoDB's)."""
    params = _query_params(request.raw_query)
    missing = "".join(
        f"AWS query-string parameters must include '{p}'. "
        for p in _QUERY_REQUIRED
        if not params.get(p)
    )
    if missing:
        raise IncompleteSignature(f"{missing}Re-examine the query-string parameters.")
    text = params["X-Amz-Date"]
    when = _parse_basic(text)
    if when is None:
        raise IncompleteSignature(
            f"Date must be in ISO-8601 'basic format'. Got '{text}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        )
    expires = params.get("X-Amz-Expires")
    if expires is None:
        _check_time(text, when, now)
    else:
        _check_expires(text, when, expires, now)
    return _claim(
        request,
        region,
        algorithm=params["X-Amz-Algorithm"],
        credential=params["X-Amz-Credential"],
        signed_headers=params["X-Amz-SignedHeaders"],
        signature=params["X-Amz-Signature"],
        date=text,
        presigned=True,
    )


def _check_expires(date: str, when: float, expires: str, now: float | None) -> None:
    """A presigned signature is good from ``date`` (less the usual 15 minutes of clock
    skew) to ``date + X-Amz-Expires``.  The texts are modelled on DynamoDB's for a
    header signature (InvalidSignatureException, "Signature expired: ... is now earlier
    than ..."); the bound is AWS's seven days."""
    if not expires.isdigit() or not expires.isascii():
        raise IncompleteSignature(f"X-Amz-Expires should be a number, not '{expires}'.")
    seconds = int(expires)
    if seconds > MAX_EXPIRES_S:
        raise InvalidSignature(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            f"X-Amz-Expires must be less than {MAX_EXPIRES_S} seconds"
        )
    now = time.time() if now is None else now
    if when < now - seconds:
        raise InvalidSignature(
            f"Signature expired: {date} is now earlier than {_basic(now - seconds)} "
            f"({_basic(now)} - {seconds} sec.)"
        )
    _check_not_ahead(date, when, now)


def _claim(
    request: Request,
    region: str,
    *,
    algorithm: str,
    credential: str,
    signed_headers: str,
    signature: str,
    date: str,
    presigned: bool = False,
) -> Claim:
    """The checks a header and a query signature share, after the date's: signed
    headers, algorithm, credential scope."""
    signed = tuple(h.strip().lower() for h in signed_headers.split(";"))
    if "host" not in signed:
        raise InvalidSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    _check_signed(request, signed)
    if algorithm != sigv4.ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported AWS 'algorithm': '{algorithm}' (only {sigv4.ALGORITHM} for now)."
        )
    pieces = credential.rstrip("/").split("/")
    if len(pieces) != 5:
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{credential}'"
        )
    key_id, scope_date, scope_region, service, terminator = pieces
    wrong: list[str] = []
    if scope_region != region:
        wrong.append(f"Credential should be scoped to a valid region, not '{scope_region}'.")
    if service != sigv4.SERVICE:
        wrong.append(f"Credential should be scoped to correct service: '{sigv4.SERVICE}'.")
    if terminator != sigv4.TERMINATOR:
        wrong.append(
            "Credential should be scoped with a valid terminator: "
            f"'{sigv4.TERMINATOR}', not '{terminator}'."
        )
    if scope_date != date[:8]:
        wrong.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{date[:8]}', from '{date}'."
        )
    if wrong:
        raise InvalidSignature(" ".join(wrong))
    return Claim(
        access_key_id=key_id,
        amz_date=date,
        scope=sigv4.scope(scope_date, scope_region, service),
        region=scope_region,
        signed_headers=signed,
        signature=signature,
        presigned=presigned,
    )


def check_signature(claim: Claim, request: Request, body: bytes, secret_access_key: str) -> None:
    """Recompute the signature over ``body``; raise InvalidSignature if it differs."""
    raw_query = request.raw_query
    if claim.presigned:
        # the signature signs every query parameter but itself
        raw_query = "&".join(
            part
            for part in raw_query.split("&")
            if unquote(part.partition("=")[0]) != _QUERY_SIGNATURE
        )
    canonical = sigv4.canonical_request(
        request.method,
        sigv4.canonical_uri(request.raw_path),
        sigv4.canonical_query(raw_query),
        {
            name: sigv4.canonical_header_value(request.headers.get(name, ()))
            for name in claim.signed_headers
        },
        claim.signed_headers,
        hashlib.sha256(body).hexdigest(),
    )
    to_sign = sigv4.string_to_sign(claim.amz_date, claim.scope, canonical)
    key = sigv4.signing_key(secret_access_key, claim.amz_date[:8], claim.region)
    expected = sigv4.signature(key, to_sign)
    if not hmac.compare_digest(expected.encode(), claim.signature.encode()):
        raise InvalidSignature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.\n\nThe Canonical String for this request should have "
            f"been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
        )
