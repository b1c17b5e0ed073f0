"""HTTP link to peer regions' control plane (``api/internal.py`` on the other side).

Calls are signed with the deployment's admin key (``replicator/signing.py``): the
internal API is authenticated like every other.
"""

from __future__ import annotations

import logging

import httpx
import orjson

from regions.catalog import TableSpec
from regions.changes import ChangeRecord
from regions.errors import DynamoError, ValidationError
from replicator.signing import SigV4

__all__ = ["HttpPeers"]

log = logging.getLogger("globaltables.peers")


class _PeerError(DynamoError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class HttpPeers:
    def __init__(
        self, endpoints: dict[str, str], timeout: float = 10.0, auth: SigV4 | None = None
    ) -> None:
        self.endpoints = dict(endpoints)
        self.timeout = timeout
        #: None: unsigned (peers run with --allow-anonymous)
        self.auth = auth

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

    async def _call(self, region: str, method: str, path: str, body: bytes | None) -> None:
        base = self.endpoints.get(region)
        if base is None:
            raise ValidationError(f"unknown peer region {region}")
        url = f"{base}{path}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout, auth=self.auth) as client:
                resp = await client.request(method, url, content=body)
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
            raise _PeerError(code, f"Region {region} refused: {message}")
