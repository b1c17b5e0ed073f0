"""HTTP link to peer regions' control plane (``api/internal.py`` on the other side).

Calls are signed with the deployment's admin key (``replicator/signing.py``): the
internal API is authenticated like every other.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote, urlencode

import httpx
import orjson

from regions.catalog import TableSpec
from regions.changes import ChangeRecord, UnknownSchema
from regions.errors import PeerRefused, ValidationError
from replicator.reseed import CATCH_UP_TIMEOUT_S, SnapshotPage
from replicator.signing import SigV4

__all__ = ["HttpPeers"]

log = logging.getLogger("globaltables.peers")


class HttpPeers:
    def __init__(
        self, endpoints: dict[str, str], timeout: float = 10.0, auth: SigV4 | None = None
    ) -> None:
        self.endpoints = dict(endpoints)
        self.timeout = timeout
        #: None: unsigned (peers run with --allow-anonymous)
        self.auth = auth
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> httpx.AsyncClient:
        """One pooled client per event loop.  A new httpx client builds an SSL
        context (50-70 ms of CPU), which a client per call paid on every backfill
        page and every progress report: seconds of a 50,000-item backfill."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop or self._http.is_closed:
            # idle connections are dropped before uvicorn's 5 s keep-alive closes
            # them, so a request never goes out on a connection the peer is closing
            self._http = httpx.AsyncClient(
                timeout=self.timeout, auth=self.auth, limits=httpx.Limits(keepalive_expiry=2.0)
            )
            self._http_loop = loop
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def put_replica(self, region: str, spec: TableSpec) -> None:
        await self._call(
            region, "PUT", f"/v1/internal/tables/{spec.name}", orjson.dumps(spec.to_json())
        )
        log.info("peer %s accepted replica spec of %s", region, spec.name)

    async def push_rows(self, region: str, table: str, records: list[ChangeRecord]) -> None:
        """Backfill: send rows (as wire change records) for LWW apply at the peer."""
        body = b"[" + b",".join(r.encode() for r in records) + b"]"
        await self._call(region, "POST", f"/v1/internal/tables/{table}/rows", body)

    async def drop_replica(self, region: str, table: str, table_id: str) -> None:
        await self._call(region, "DELETE", f"/v1/internal/tables/{table}?table_id={table_id}", None)

    async def snapshot_page(
        self,
        region: str,
        table: str,
        *,
        table_id: str,
        replica: str,
        after: str | None,
        catch_up: bool,
        limit: int,
    ) -> SnapshotPage:
        """Re-seed (replicator/reseed.py): one page of the peer's copy of a table."""
        params = {"table_id": table_id, "replica": replica, "limit": str(limit)}
        if after is not None:
            params["after"] = after
        if catch_up:
            params["catch_up"] = "true"
        path = f"/v1/internal/tables/{quote(table, safe='')}/snapshot?{urlencode(params)}"
        # the first page waits for the peer's applier to catch up with Kafka
        resp = await self._call(
            region, "GET", path, None, timeout=CATCH_UP_TIMEOUT_S + self.timeout
        )
        try:
            body = orjson.loads(resp.content)
            records = [ChangeRecord.decode(orjson.dumps(r)) for r in body["rows"]]
            nxt = body["next"]
        except (ValueError, KeyError, TypeError, UnknownSchema) as exc:
            raise ValidationError(f"Region {region} sent an unreadable copy: {exc}") from None
        return SnapshotPage(records, str(nxt) if nxt is not None else None)

    async def _call(
        self,
        region: str,
        method: str,
        path: str,
        body: bytes | None,
        *,
        timeout: float | None = None,
    ) -> httpx.Response:
        base = self.endpoints.get(region)
        if base is None:
            raise ValidationError(f"unknown peer region {region}")
        url = f"{base}{path}"
        try:
            resp = await self._client().request(
                method, url, content=body, timeout=timeout or self.timeout
            )
        except httpx.HTTPError as exc:
            # a region that cannot be reached is reported, not retried blindly: the
            # user decides whether to try again
            raise ValidationError(
                f"Region {region} is unreachable at {base}: {exc.__class__.__name__}"
            ) from None
        if resp.status_code >= 400:
            try:
                err = resp.json()
                code = str(err.get("__type", "ValidationException")).rsplit("#", 1)[-1]
                message = str(err.get("message") or err.get("Message") or resp.text)
            except ValueError:
                code, message = "ValidationException", resp.text
            raise PeerRefused(code, f"Region {region} refused: {message}")
        return resp
