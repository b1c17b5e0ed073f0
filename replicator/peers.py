"""HTTP link to peer regions' control plane (``api/internal.py`` on the other side)."""

from __future__ import annotations

import logging

import httpx
import orjson

from regions.catalog import TableSpec
from regions.errors import DynamoError, ValidationError

__all__ = ["HttpPeers"]

log = logging.getLogger("globaltables.peers")


class _PeerError(DynamoError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class HttpPeers:
    def __init__(self, endpoints: dict[str, str], timeout: float = 10.0) -> None:
        self.endpoints = dict(endpoints)
        self.timeout = timeout

    async def put_replica(self, region: str, spec: TableSpec) -> None:
        base = self.endpoints.get(region)
        if base is None:
            raise ValidationError(f"unknown peer region {region}")
        url = f"{base}/v1/internal/tables/{spec.name}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                resp = await client.put(url, content=orjson.dumps(spec.to_json()))
        except httpx.HTTPError as exc:
            # a region that cannot be reached is reported, not retried blindly: the
            # user decides whether to try again
            raise ValidationError(
                f"Region {region} is unreachable at {base}: {exc.__class__.__name__}"
            ) from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
                code = str(body.get("__type", "ValidationException")).rsplit("#", 1)[-1]
                message = str(body.get("message") or body.get("Message") or resp.text)
            except ValueError:
                code, message = "ValidationException", resp.text
            raise _PeerError(code, f"Region {region} refused the replica: {message}")
        log.info("peer %s accepted replica spec of %s", region, spec.name)
