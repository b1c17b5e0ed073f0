"""SigV4 in front of every route, and the one place where ``principals.current`` is
set and reset for a request.

A pure ASGI middleware (not ``BaseHTTPMiddleware``): the route runs in the same task,
so it sees the context variable, and the body read here for the signature is handed
on to the route as it arrived.

Which requests go unauthenticated (docs/security.md says why):

* always: ``GET /`` (DynamoDB's health check), ``OPTIONS /`` (CORS preflight: a
  browser sends it without credentials), ``/healthz``, ``/metrics``, the dashboard
  page and its files, ``/docs``, ``/redoc`` and ``/openapi.json``;
* with ``public_status`` (the default): unsigned ``GET`` of ``/v1/deployment``,
  ``/v1/replication``, ``/v1/conflicts`` and ``/v1/protection``, the dashboard's
  read-only data.  A *signed* request to them is verified like any other, so the
  route knows its signer and shows it the item data it may read
  (``api/visibility.py``);
* with ``allow_anonymous``: any request that carries no ``Authorization`` header
  and is not presigned (``X-Amz-Algorithm`` in its query string), as ``current =
  None``.  A signed request is verified all the same.

A request is only buffered once its header names a key that exists, so an
anonymous client cannot make the region hold large bodies in memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.errors import UnrecognizedClient
from api.auth.signature_check import Request, check_signature, is_presigned, parse_claim
from api.dynamodb.protocol import MAX_BODY, WireResponse, encode_error, parse_target
from api.dynamodb.transport import RequestTooLarge, cors_headers
from api.errors import error_body, rest_status
from regions import principals
from regions.auth_settings import AuthSettings
from regions.errors import DynamoError
from regions.identities import Identities

__all__ = [
    "PUBLIC_PATHS",
    "PUBLIC_PREFIXES",
    "STATUS_PATHS",
    "AuthMiddleware",
    "read_body",
    "request_of",
]

log = logging.getLogger("globaltables.auth")

#: health checkers, Prometheus and browsers reach these without AWS keys
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/dashboard",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        # browsers ask for it on their own; a 404 beats a 403 in their console
        "/favicon.ico",
    }
)
PUBLIC_PREFIXES = ("/dashboard/static/",)
#: the dashboard's data: read-only operational state (``--public-status``)
STATUS_PATHS = frozenset({"/v1/deployment", "/v1/replication", "/v1/conflicts", "/v1/protection"})

#: observes an authentication failure of the DynamoDB protocol in the metrics
Observe = Callable[[str, int, float, str | None], None]


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        region: str,
        settings: AuthSettings,
        identities: Identities,
        observe: Observe | None = None,
    ) -> None:
        self.app = app
        self.region = region
        self.settings = settings
        self.identities = identities
        self.observe = observe

    def is_public(self, method: str, path: str) -> bool:
        if path == "/":
            return method in ("GET", "HEAD", "OPTIONS")
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return True
        return self.settings.public_status and method == "GET" and path in STATUS_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.is_public(scope["method"], scope["path"]) and not _signed_status(scope)
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = request_of(scope)
        try:
            admitted = await self.authenticate(scope, request, receive)
        except DynamoError as exc:
            await self.reject(exc, scope, request, started, receive, send)
            return
        if admitted is None:
            return  # the client went away
        principal, body = admitted
        await self._run(principal, scope, receive if body is None else _replay(body, receive), send)

    async def authenticate(
        self, scope: Scope, request: Request, receive: Receive
    ) -> tuple[principals.Principal | None, bytes | None] | None:
        """Who sent this request, and its body as read to check the signature.

        (principal, body) for a verified request; (None, None) for an anonymous one
        (body not read); None when the client went away.  DynamoErrors are the
        authentication failures, for :meth:`reject`."""
        if (
            self.settings.allow_anonymous
            and request.header("authorization") is None
            and not is_presigned(request)
        ):
            return None, None
        claim = parse_claim(request, self.region)
        resolved = await self.identities.resolve(claim.access_key_id)
        if resolved is None:
            raise UnrecognizedClient()
        body = await read_body(receive, MAX_BODY if scope["path"] == "/" else None)
        if body is None:
            return None
        check_signature(claim, request, body, resolved.secret_access_key)
        return resolved.principal, body

    async def _run(
        self, principal: principals.Principal | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        token = principals.current.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            principals.current.reset(token)

    async def reject(
        self,
        exc: DynamoError,
        scope: Scope,
        request: Request,
        started: float,
        receive: Receive,
        send: Send,
    ) -> None:
        response: Response | WireResponse
        if scope["path"] == "/":
            # the DynamoDB protocol: its envelope, and CORS so a browser can read it
            wire = encode_error(exc)
            wire.add_headers(cors_headers(Headers(scope=scope), preflight=False))
            if self.observe is not None:
                elapsed = time.perf_counter() - started
                self.observe(_operation(request), wire.status_code, elapsed, exc.code)
            response = wire
        elif scope["path"].startswith("/v1/internal/"):
            # what replicator/peers.py and the convergence verifier read: __type and message
            response = Response(
                orjson.dumps(error_body(exc)), rest_status(exc), media_type="application/json"
            )
        else:
            response = Response(
                orjson.dumps({"error": exc.code, "message": exc.message}),
                rest_status(exc),
                media_type="application/json",
            )
        log.debug("rejected %s %s: %s", scope["method"], scope["path"], exc.code)
        await response(scope, receive, send)


def _signed_status(scope: Scope) -> bool:
    """A signed request to a status route (in a header, or presigned in the query):
    verified, even where the route is public."""
    return scope["path"] in STATUS_PATHS and (
        any(name.lower() == b"authorization" for name, _ in scope["headers"])
        or b"X-Amz-Algorithm" in scope.get("query_string", b"")
    )


def request_of(scope: Scope) -> Request:
    headers: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    # some servers put the query string in raw_path too
    path = path.partition("?")[0]
    return Request(
        method=scope["method"],
        raw_path=path,
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
    )


def _operation(request: Request) -> str:
    try:
        return parse_target(request.header("x-amz-target"))[1]
    except DynamoError:
        return "unknown"


async def read_body(receive: Receive, limit: int | None) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            # as the DynamoDB route would answer it (413), without holding the rest
            raise RequestTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, as one message; then whatever the server says (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
