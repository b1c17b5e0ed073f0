"""SigV4: the region's signature check accepts exactly what botocore signs, and words every
failure as DynamoDB does (docs/security.md, "The signature check")."""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import hashlib
from collections.abc import Mapping
from unittest import mock

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from api.auth import signature_check
from api.auth.errors import IncompleteSignature, InvalidSignature, MissingAuthenticationToken
from api.auth.signature_check import Request, check_signature, parse_claim
from regions import sigv4
from regions.sigv4 import Credentials
from replicator.signing import KeySigner, SigV4

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WHEN = datetime.datetime(2024, 3, 9, 23, 59, 58, tzinfo=datetime.UTC)
NOW = float(calendar.timegm(WHEN.timetuple()))
TARGET = "DynamoDB_20120810.PutItem"
BODY = b'{"TableName":"Music","Item":{"Artist":{"S":"No One You Know"}}}'

#: what boto3 1.43 sends for a DynamoDB call (captured with a ``before-send`` hook); it signs only
#: content-type, host, x-amz-date and x-amz-target of these
BOTO3_HEADERS = {
    "X-Amz-Target": TARGET,
    "Content-Type": "application/x-amz-json-1.0",
    "User-Agent": "Boto3/1.43.0 md/Botocore#1.43.0 ua/2.1 os/linux#6.1 lang/python#3.11.7",
}


def _botocore_sign(
    url: str,
    method: str = "POST",
    headers: Mapping[str, str] = BOTO3_HEADERS,
    body: bytes = BODY,
    region: str = "us-east-1",
    when: datetime.datetime = WHEN,
) -> tuple[AWSRequest, SigV4Auth]:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    auth = SigV4Auth(BotoCredentials(AKID, SECRET), "dynamodb", region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        auth.add_auth(request)
    return request, auth


def _as_received(request: AWSRequest, host: str, **replace: str) -> Request:
    """The request as the region's ASGI server hands it over (lowercase names)."""
    split = httpx.URL(request.url)
    headers: dict[str, list[str]] = {"host": [host]}
    for name, value in request.headers.items():
        headers[name.lower()] = [value]
    for name, value in replace.items():
        headers[name] = [value]
    return Request(
        method=request.method,
        raw_path=split.raw_path.decode().partition("?")[0],
        raw_query=split.query.decode(),
        headers=headers,
    )


def _verify(received: Request, body: bytes = BODY, region: str = "us-east-1") -> None:
    claim = parse_claim(received, region, now=NOW)
    check_signature(claim, received, body, SECRET)


def test_boto3_dynamodb_call_verifies_with_port_in_host() -> None:
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target,"
        in request.headers["Authorization"]
    )
    # headers botocore adds after signing (and the HTTP layer's) are not signed
    received = _as_received(
        request,
        "127.0.0.1:8000",
        **{
            "amz-sdk-invocation-id": "5d2a6c5e-3f0e-4b8e-9d1c-6a1f0f5b2c3d",
            "amz-sdk-request": "attempt=1; max=3",
            "content-length": str(len(BODY)),
            "accept-encoding": "identity",
        },
    )
    _verify(received)


def test_canonical_request_and_string_to_sign_match_botocore() -> None:
    request, auth = _botocore_sign("http://127.0.0.1:8000/")
    # botocore's own canonical form of the same request, before it is signed
    fresh = AWSRequest(
        method="POST", url="http://127.0.0.1:8000/", data=BODY, headers=dict(BOTO3_HEADERS)
    )
    fresh.headers["X-Amz-Date"] = fresh.context["timestamp"] = "20240309T235958Z"
    expected_canonical = auth.canonical_request(fresh)
    expected_sts = auth.string_to_sign(fresh, expected_canonical)
    canonical = sigv4.canonical_request(
        "POST",
        sigv4.canonical_uri("/"),
        sigv4.canonical_query(""),
        {
            "content-type": "application/x-amz-json-1.0",
            "host": "127.0.0.1:8000",
            "x-amz-date": "20240309T235958Z",
            "x-amz-target": TARGET,
        },
        ["x-amz-target", "host", "content-type", "x-amz-date"],
        hashlib.sha256(BODY).hexdigest(),
    )
    assert canonical == expected_canonical
    scope = sigv4.scope("20240309", "us-east-1")
    to_sign = sigv4.string_to_sign("20240309T235958Z", scope, canonical)
    assert to_sign == expected_sts
    key = sigv4.signing_key(SECRET, "20240309", "us-east-1")
    assert request.headers["Authorization"].endswith("Signature=" + sigv4.signature(key, to_sign))


def test_our_signer_writes_what_botocore_writes() -> None:
    request, _ = _botocore_sign("http://localhost:4567/")
    ours = sigv4.sign_headers(
        Credentials(AKID, SECRET),
        "us-east-1",
        method="POST",
        host="localhost:4567",
        raw_path="/",
        raw_query="",
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET},
        body=BODY,
        epoch=NOW,
    )
    assert ours == {
        "X-Amz-Date": request.headers["X-Amz-Date"],
        "Authorization": request.headers["Authorization"],
    }


@pytest.mark.parametrize(
    "layout",
    [
        "{alg} Credential={cred}, SignedHeaders={signed}, Signature={sig}",  # botocore
        "{alg} Credential={cred},SignedHeaders={signed},Signature={sig}",  # commas only
        "{alg} Credential={cred} SignedHeaders={signed} Signature={sig}",  # spaces only
        "{alg}  Credential={cred} ,  SignedHeaders={signed},Signature={sig} ",
    ],
)
def test_comma_and_space_separators(layout: str) -> None:
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    header = request.headers["Authorization"]
    parts = dict(p.split("=", 1) for p in header.split(" ", 1)[1].split(", "))
    rewritten = layout.format(
        alg=sigv4.ALGORITHM,
        cred=parts["Credential"],
        signed=parts["SignedHeaders"],
        sig=parts["Signature"],
    )
    _verify(_as_received(request, "127.0.0.1:8000", authorization=rewritten))


def test_header_values_are_trimmed_and_inner_whitespace_collapsed() -> None:
    headers = {**BOTO3_HEADERS, "X-Amz-Meta-Note": "  a   b \t c  "}
    request, auth = _botocore_sign("http://127.0.0.1:8000/", headers=headers)
    assert "x-amz-meta-note:a b c\n" in auth.canonical_request(request)
    # the proxy-free wire keeps the header as written; the signature check canonicalises it
    _verify(_as_received(request, "127.0.0.1:8000", **{"x-amz-meta-note": "  a   b \t c  "}))


def test_repeated_headers_are_joined_with_commas() -> None:
    received = Request("GET", "/", "", {"x-a": ["1", " 2  3 "], "host": ["h"]})
    assert sigv4.canonical_header_value(received.headers["x-a"]) == "1,2 3"


def test_rest_path_and_query_are_canonicalised_like_botocore() -> None:
    url = "http://127.0.0.1:8000/v1/tables/My%20Table/items?id=a%3Ab&limit=5&b=x~y"
    request, _ = _botocore_sign(url, method="GET", headers={}, body=b"")
    _verify(_as_received(request, "127.0.0.1:8000"), body=b"")
    assert sigv4.canonical_uri("/v1/tables/My%20Table") == "/v1/tables/My%2520Table"
    assert sigv4.canonical_query("limit=5&id=a:b&b=x~y") == "b=x~y&id=a%3Ab&limit=5"


def test_tampered_body_or_signature_is_rejected() -> None:
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    received = _as_received(request, "127.0.0.1:8000")
    with pytest.raises(InvalidSignature, match=r"^The request signature we calculated"):
        _verify(received, body=BODY.replace(b"Music", b"Films"))
    forged = request.headers["Authorization"][:-4] + "0000"
    with pytest.raises(InvalidSignature):
        _verify(_as_received(request, "127.0.0.1:8000", authorization=forged))
    # a different Host than the one signed
    with pytest.raises(InvalidSignature):
        _verify(_as_received(request, "127.0.0.1:8001"))


def test_missing_or_foreign_authorization_is_a_missing_token() -> None:
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    received = _as_received(request, "127.0.0.1:8000")
    no_auth = Request(
        received.method,
        "/",
        "",
        {k: v for k, v in received.headers.items() if k != "authorization"},
    )
    for req in (no_auth, _as_received(request, "h", authorization="Basic dXNlcjpwYXNz")):
        with pytest.raises(
            MissingAuthenticationToken, match=r"^Request is missing Authentication Token$"
        ):
            parse_claim(req, "us-east-1", now=NOW)


def test_missing_parts_are_an_incomplete_signature() -> None:
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    header = f"{sigv4.ALGORITHM} Credential={AKID}/20240309/us-east-1/dynamodb/aws4_request"
    received = _as_received(request, "127.0.0.1:8000", authorization=header)
    with pytest.raises(IncompleteSignature) as err:
        parse_claim(received, "us-east-1", now=NOW)
    assert err.value.message == (
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        f"Authorization={header}"
    )


def test_clock_skew_window() -> None:
    old = WHEN - datetime.timedelta(minutes=6)
    request, _ = _botocore_sign("http://127.0.0.1:8000/", when=old)
    with pytest.raises(InvalidSignature) as err:
        _verify(_as_received(request, "127.0.0.1:8000"))
    assert err.value.message == (
        "Signature expired: 20240309T235358Z is now earlier than 20240309T235458Z "
        "(20240309T235958Z - 5 min.)"
    )
    ahead = WHEN + datetime.timedelta(minutes=16)
    request, _ = _botocore_sign("http://127.0.0.1:8000/", when=ahead)
    with pytest.raises(InvalidSignature) as err:
        _verify(_as_received(request, "127.0.0.1:8000"))
    assert err.value.message == (
        "Signature not yet current: 20240310T001558Z is still later than 20240310T001458Z "
        "(20240309T235958Z + 15 min.)"
    )
    # inside the window both ways
    for minutes in (-4, 14):
        request, _ = _botocore_sign(
            "http://127.0.0.1:8000/", when=WHEN + datetime.timedelta(minutes=minutes)
        )
        _verify(_as_received(request, "127.0.0.1:8000"))


def test_bad_date_format() -> None:
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    received = _as_received(request, "127.0.0.1:8000", **{"x-amz-date": "2024-03-09"})
    with pytest.raises(
        IncompleteSignature, match=r"^Date must be in ISO-8601 'basic format'\. Got '2024-03-09'"
    ):
        parse_claim(received, "us-east-1", now=NOW)


def test_scope_must_name_this_region_and_dynamodb() -> None:
    request, _ = _botocore_sign("http://127.0.0.1:8000/", region="us-west-2")
    with pytest.raises(InvalidSignature) as err:
        _verify(_as_received(request, "127.0.0.1:8000"))
    assert err.value.message == "Credential should be scoped to a valid region, not 'us-west-2'."
    header = (
        request.headers["Authorization"]
        .replace("/us-west-2/dynamodb/aws4_request", "/us-east-1/s3/aws4_req")
        .replace("/20240309/", "/20240308/")
    )
    with pytest.raises(InvalidSignature) as err:
        parse_claim(_as_received(request, "h", authorization=header), "us-east-1", now=NOW)
    assert err.value.message == (
        "Credential should be scoped to correct service: 'dynamodb'. "
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_req'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20240308' != '20240309', from '20240309T235958Z'."
    )


def test_credential_shape_host_and_algorithm() -> None:
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    header = request.headers["Authorization"]
    short = header.replace("/aws4_request", "")
    with pytest.raises(
        IncompleteSignature, match=r"^Credential must have exactly 5 slash-delimited"
    ):
        parse_claim(_as_received(request, "h", authorization=short), "us-east-1", now=NOW)
    unsigned_host = header.replace("content-type;host;", "content-type;")
    with pytest.raises(InvalidSignature, match=r"^'Host' must be a 'SignedHeader'"):
        parse_claim(_as_received(request, "h", authorization=unsigned_host), "us-east-1", now=NOW)
    other = header.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")
    with pytest.raises(
        IncompleteSignature, match=r"^Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'"
    ):
        parse_claim(_as_received(request, "h", authorization=other), "us-east-1", now=NOW)


def test_every_x_amz_header_must_be_signed() -> None:
    """As AWS: an x-amz-* header outside SignedHeaders is refused, whatever its value,
    so nothing can be added to a signed request after the fact (X-Amz-Target naming
    another operation, say)."""
    unsigned_target = {k: v for k, v in BOTO3_HEADERS.items() if k != "X-Amz-Target"}
    request, _ = _botocore_sign("http://127.0.0.1:8000/", headers=unsigned_target)
    assert "x-amz-target" not in request.headers["Authorization"]
    _verify(_as_received(request, "127.0.0.1:8000"))  # without the header: fine
    for added in ("x-amz-target", "x-amz-foo", "x-amz-security-token"):
        received = _as_received(request, "127.0.0.1:8000", **{added: TARGET})
        with pytest.raises(InvalidSignature) as err:
            _verify(received)
        assert err.value.message == (
            f"'{added}' must be a 'SignedHeader' in the AWS Authorization."
        )
    # neither x-amzn-* (X-Amzn-Trace-Id, which no SDK signs) nor amz-sdk-* is x-amz-*
    _verify(
        _as_received(
            request,
            "127.0.0.1:8000",
            **{"x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793"},
            **{"amz-sdk-invocation-id": "1", "x-amz": "1", "xx-amz-foo": "1"},
        )
    )
    # checked after the Host check, as DynamoDB orders them
    unsigned_host = request.headers["Authorization"].replace("content-type;host;", "content-type;")
    received = _as_received(request, "h", authorization=unsigned_host, **{"x-amz-foo": "1"})
    with pytest.raises(InvalidSignature, match=r"^'Host' must be a 'SignedHeader'"):
        parse_claim(received, "us-east-1", now=NOW)


def test_unsigned_x_amz_header_is_refused_on_a_cached_claim() -> None:
    """The parsed-claim cache is per Authorization header, but the headers a request
    carries are its own: a request that reuses a cached claim is still checked."""
    signature_check._TEMPLATES.clear()
    unsigned_target = {k: v for k, v in BOTO3_HEADERS.items() if k != "X-Amz-Target"}
    request, _ = _botocore_sign("http://127.0.0.1:8000/", headers=unsigned_target)
    _verify(_as_received(request, "127.0.0.1:8000"))
    assert len(signature_check._TEMPLATES) == 1
    added = _as_received(request, "127.0.0.1:8000", **{"x-amz-target": TARGET})
    with pytest.raises(InvalidSignature, match=r"^'x-amz-target' must be a 'SignedHeader'"):
        parse_claim(added, "us-east-1", now=NOW)
    assert len(signature_check._TEMPLATES) == 1  # it was the cached path
    # and the other way round: a claim cached from a request with the header
    signature_check._TEMPLATES.clear()
    with pytest.raises(InvalidSignature):
        parse_claim(added, "us-east-1", now=NOW)
    assert not signature_check._TEMPLATES  # refused claims are not kept
    _verify(_as_received(request, "127.0.0.1:8000"))


def test_our_signers_sign_every_x_amz_header() -> None:
    """replicator/signing.py and globaltables/aws_auth.py sign whatever x-amz-*
    header a request carries, so the region accepts what they send."""
    from globaltables.aws_auth import BotocoreSigner

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"region": "eu-west-1"})
        received = Request(
            request.method,
            request.url.raw_path.decode().partition("?")[0],
            request.url.query.decode(),
            {k: [v] for k, v in request.headers.items()},
        )
        claim = parse_claim(received, "eu-west-1")
        check_signature(claim, received, request.content, SECRET)
        return httpx.Response(200, json={"ok": True})

    headers = {"X-Amz-Target": TARGET, "X-Amz-Foo": "bar", "Content-Type": "application/json"}
    for signer in (
        KeySigner(Credentials(AKID, SECRET)),
        BotocoreSigner(BotoCredentials(AKID, SECRET)),
    ):
        transport = httpx.MockTransport(handler)
        with httpx.Client(transport=transport, auth=SigV4(signer)) as client:
            resp = client.post("http://r.example:8001/", content=b"{}", headers=headers)
            assert resp.json() == {"ok": True}, resp.text


def test_date_header_is_the_fallback() -> None:
    # a client that signs Date instead of X-Amz-Date (allowed by SigV4)
    received = Request(
        "POST", "/", "", {"host": ["h:1"], "date": ["Sat, 09 Mar 2024 23:59:58 GMT"]}
    )
    canonical = sigv4.canonical_request(
        "POST",
        "/",
        "",
        {"date": "Sat, 09 Mar 2024 23:59:58 GMT", "host": "h:1"},
        ["date", "host"],
        hashlib.sha256(b"{}").hexdigest(),
    )
    scope = sigv4.scope("20240309", "us-east-1")
    sig = sigv4.signature(
        sigv4.signing_key(SECRET, "20240309", "us-east-1"),
        sigv4.string_to_sign("20240309T235958Z", scope, canonical),
    )
    headers: dict[str, list[str]] = {
        **received.headers,  # type: ignore[dict-item]
        "authorization": [sigv4.authorization(AKID, scope, "date;host", sig)],
    }
    _verify(Request("POST", "/", "", headers), body=b"{}")


def test_client_auth_probes_the_region_name_and_signs_verifiably() -> None:
    """replicator/signing.py: the region name comes from /healthz (once per origin),
    and the server side accepts what it signs, query strings included."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"region": "eu-west-1"})
        received = Request(
            request.method,
            request.url.raw_path.decode().partition("?")[0],
            request.url.query.decode(),
            {k: [v] for k, v in request.headers.items()},
        )
        claim = parse_claim(received, "eu-west-1")
        check_signature(claim, received, request.content, SECRET)
        return httpx.Response(200, json={"ok": True})

    auth = SigV4(KeySigner(Credentials(AKID, SECRET)))
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        for params in ({"limit": 5, "table": "a b+c:d"}, {}):
            resp = client.get("http://r.example:8001/v1/conflicts", params=params)
            assert resp.json() == {"ok": True}
        resp = client.post("http://r.example:8001/v1/internal/tables/x%20y/rows", content=b"[]")
        assert resp.json() == {"ok": True}
    assert [r.url.path for r in seen].count("/healthz") == 1


def test_unsigned_client_auth_sends_requests_as_they_are() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler), auth=SigV4(None)) as client:
        assert client.get("http://h/v1/x").status_code == 200


def test_a_repeated_header_is_parsed_once_and_still_checked_each_time() -> None:
    """parse_claim keeps a parsed claim per header-without-signature: a request that
    hits it gets its own signature, and the time check still runs on every call."""
    signature_check._TEMPLATES.clear()
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    received = _as_received(request, "127.0.0.1:8000")
    first = parse_claim(received, "us-east-1", now=NOW)
    assert len(signature_check._TEMPLATES) == 1
    # same header but for the signature (another body, same second): a cache hit
    other, _ = _botocore_sign("http://127.0.0.1:8000/", body=BODY.replace(b"Music", b"Films"))
    assert other.headers["Authorization"] != request.headers["Authorization"]
    hit = parse_claim(_as_received(other, "127.0.0.1:8000"), "us-east-1", now=NOW)
    assert len(signature_check._TEMPLATES) == 1
    assert hit.signature == other.headers["Authorization"].rpartition("Signature=")[2]
    assert hit == dataclasses.replace(first, signature=hit.signature)
    check_signature(
        hit, _as_received(other, "127.0.0.1:8000"), BODY.replace(b"Music", b"Films"), SECRET
    )
    # the cached claim does not outlive the clock-skew window
    with pytest.raises(InvalidSignature, match=r"^Signature expired: 20240309T235958Z"):
        parse_claim(received, "us-east-1", now=NOW + 6 * 60)
    # nor does it answer for another region, whose scope check must fail
    with pytest.raises(InvalidSignature, match=r"^Credential should be scoped to a valid region"):
        parse_claim(received, "eu-west-1", now=NOW)


def test_a_signature_not_last_is_parsed_in_full() -> None:
    signature_check._TEMPLATES.clear()
    request, _ = _botocore_sign("http://127.0.0.1:8000/")
    header = request.headers["Authorization"]
    head, _, signature = header.rpartition(", Signature=")
    algorithm, _, params = head.partition(" ")
    moved = f"{algorithm} Signature={signature}, {params}"
    received = _as_received(request, "127.0.0.1:8000", authorization=moved)
    check_signature(parse_claim(received, "us-east-1", now=NOW), received, BODY, SECRET)
    assert not signature_check._TEMPLATES
    # a parameter whose name merely ends in "Signature" is not the signature
    odd = f"{head}, XSignature={signature}"
    with pytest.raises(IncompleteSignature, match=r"requires 'Signature' parameter"):
        parse_claim(_as_received(request, "h", authorization=odd), "us-east-1", now=NOW)


def test_only_an_x_amz_algorithm_parameter_makes_a_request_presigned() -> None:
    from api.auth.signature_check import Request, is_presigned

    def req(query: str) -> Request:
        return Request("POST", "/", query, {})

    assert is_presigned(req("X-Amz-Algorithm"))
    assert is_presigned(req("a=1&X-Amz-Algorithm=AWS4-HMAC-SHA256"))
    assert is_presigned(req("X%2DAmz%2DAlgorithm="))
    assert not is_presigned(req(""))
    assert not is_presigned(req("id=X-Amz-Algorithm"))
    assert not is_presigned(req("X-Amz-Algorith=1&X-Amz-Credential=a"))
