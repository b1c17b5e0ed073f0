"""SigV4 for HTTP calls to regions: the one helper every client of a region's HTTP
API uses (peers' control plane, the dashboard's deployment view, the verifier and
the ``globaltables`` commands).

:class:`SigV4` is an ``httpx.Auth``.  It signs each request for the region that
serves it: the credential scope must be that region's own name, which the caller
may know (``regions={"http://host:8001": "eu-west-1"}``) or which is read once from
the endpoint's ``/healthz``.  What signs is pluggable: regions sign with their admin
key through :class:`KeySigner` (``regions/sigv4.py``, no AWS SDK needed at run
time); the CLI plugs in botocore's signer and credential chain
(``globaltables/aws_auth.py``).

The query string is rewritten in SigV4's strict encoding before signing (httpx
writes a space as ``+``, which SigV4 would read as a plus sign), so the signer and
the verifier see the same bytes.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Protocol
from urllib.parse import quote, unquote_plus

import httpx

from regions import sigv4
from regions.auth_settings import AuthSettings
from regions.sigv4 import Credentials

__all__ = ["KeySigner", "RegionUnknown", "RequestSigner", "SigV4", "for_admin"]

_QUERY_SAFE = "-_.~"
#: headers worth signing besides host and x-amz-date: the ones no proxy rewrites
_SIGNED = ("content-type", "x-amz-target")


def _signed(name: str) -> bool:
    """Whether a request header is signed: those of _SIGNED, and every x-amz-* header
    (a region refuses a request with an unsigned one, as AWS does)."""
    name = name.lower()
    return name in _SIGNED or name.startswith("x-amz-")


class RequestSigner(Protocol):
    def __call__(self, request: httpx.Request, region: str) -> None:
        """Add X-Amz-Date and Authorization (and any token) to ``request``."""


class RegionUnknown(httpx.HTTPError):
    """The endpoint did not say which region it is (its /healthz)."""


class KeySigner:
    """Signs with one access key (a region's admin key)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def __call__(self, request: httpx.Request, region: str) -> None:
        request.headers.update(
            sigv4.sign_headers(
                self.credentials,
                region,
                method=request.method,
                host=request.headers["host"],
                raw_path=request.url.raw_path.decode("ascii").partition("?")[0],
                raw_query=request.url.query.decode("ascii"),
                headers={k: v for k, v in request.headers.items() if _signed(k)},
                body=request.content,
            )
        )


def _strict_query(query: bytes) -> bytes:
    if not query:
        return query
    pairs = []
    for part in query.decode("ascii").split("&"):
        if part:
            name, sep, value = part.partition("=")
            pairs.append(
                quote(unquote_plus(name), safe=_QUERY_SAFE)
                + sep
                + quote(unquote_plus(value), safe=_QUERY_SAFE)
            )
    return "&".join(pairs).encode("ascii")


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


class SigV4(httpx.Auth):
    # the body is signed; the /healthz probe's body must be readable inside the flow
    requires_request_body = True
    requires_response_body = True

    def __init__(
        self, signer: RequestSigner | None, regions: Mapping[str, str] | None = None
    ) -> None:
        """``signer`` None sends requests unsigned (regions run with
        ``--allow-anonymous``); ``regions`` maps ``scheme://host:port`` to names."""
        self.signer = signer
        self._regions = {k.rstrip("/"): v for k, v in (regions or {}).items()}
        # origins the caller named: never re-learned, so a misconfigured peer URL is
        # refused by the region behind it instead of being signed for
        self._configured = frozenset(self._regions)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.signer is None:
            yield request
            return
        request.url = request.url.copy_with(query=_strict_query(request.url.query) or None)
        origin = _origin(request.url)
        region = self._regions.get(origin)
        if region is None:
            region = yield from self._learn(origin)
        self.signer(request, region)
        response = yield request
        if origin in self._configured or not _scoped_elsewhere(response):
            return
        # a learned name went stale: another region answers at this address now (a
        # restarted deployment on reused ports); learn it again and sign once more
        fresh = yield from self._learn(origin)
        if fresh != region:
            self.signer(request, fresh)
            yield request

    def _learn(self, origin: str) -> Generator[httpx.Request, httpx.Response, str]:
        probe = yield httpx.Request("GET", f"{origin}/healthz")
        try:
            name = probe.json().get("region")
        except ValueError:
            name = None
        if not isinstance(name, str):
            raise RegionUnknown(f"{origin} does not say which region it is (/healthz)")
        self._regions[origin] = name
        return name


def _scoped_elsewhere(response: httpx.Response) -> bool:
    """The region refused the request's credential scope (it is not that region)."""
    return response.status_code in (400, 403) and (
        b"Credential should be scoped to a valid region" in response.content
    )


def for_admin(auth: AuthSettings, regions: Mapping[str, str] | None = None) -> SigV4:
    """How a region signs its calls to other regions: with the deployment's admin key
    (every region has the same), or not at all if it has none (anonymous mode)."""
    admin = auth.admin
    return SigV4(KeySigner(admin) if admin is not None else None, regions)
