"""Pass a request a worker process does not serve on to the region's primary process.

With ``globaltables region --workers N`` every process accepts connections on the
region's port, but only the primary runs the catalog, the replicator, the admin and
REST APIs, metrics and the dashboard (docs/regions.md, "Worker processes").  A worker
serves the item operations itself (:func:`served_by_worker`: those the operation
registry, ``api.dynamodb.operations``, marks ``worker=True``) and relays everything
else, unchanged, to the primary's private listener: method, path, query, headers
(``Host`` included, so SigV4 verifies there exactly as it would have here) and body;
the answer comes back byte for byte, status and headers included.

The worker processes themselves (starting, watching, reporting) are
``globaltables.workers``'s; this module is only the HTTP side of the division.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import httpx
from starlette.types import Message, Receive, Scope, Send

from api.auth.middleware import read_body
from api.dynamodb.operations import WORKER_TARGETS
from api.dynamodb.protocol import MAX_BODY, encode_error
from api.dynamodb.transport import RequestTooLarge
from regions.errors import InternalError

__all__ = ["Forwarder", "served_by_worker"]

log = logging.getLogger("globaltables.workers")

#: hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the message
_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def served_by_worker(scope: MutableMapping[str, Any]) -> bool:
    """True for ``POST /`` requests a worker serves (the rest goes to the primary)."""
    if scope["method"] != "POST" or scope["path"] != "/":
        return False
    for name, value in scope["headers"]:
        if name == b"x-amz-target":
            return value in WORKER_TARGETS
    return False


class Forwarder:
    """An ASGI handler that relays HTTP requests to ``primary_url``."""

    def __init__(self, primary_url: str) -> None:
        self.primary_url = primary_url.rstrip("/")
        # no timeout: the primary answers every request it accepts (a long backfill
        # or verify call included), and a dead primary takes this process with it
        self.client = httpx.AsyncClient(
            timeout=None, limits=httpx.Limits(max_keepalive_connections=32)
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            # the primary would refuse more than this too; do not hold it to find out
            body = await read_body(receive, MAX_BODY)
        except RequestTooLarge as exc:
            await encode_error(exc)(scope, receive, send)
            return
        if body is None:
            return  # the client went away
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP]
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        # a bare Request: the client's default headers (its User-Agent, an
        # Accept-Encoding the caller never sent) must not be added on the way
        request = httpx.Request(
            scope["method"],
            self.primary_url + target.decode("latin-1"),
            headers=headers,
            content=body,
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.error("could not reach the primary process at %s: %s", self.primary_url, exc)
            error = encode_error(InternalError("The region's primary process is unavailable."))
            await error(scope, receive, send)
            return
        try:
            start: Message = {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (k, v) for k, v in response.headers.raw if k.lower() not in _HOP
                ],
            }
            await send(start)
            # raw: the bytes as the primary sent them (no decompression)
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()
