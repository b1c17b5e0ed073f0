"""create_app(): the FastAPI application of one region.

Routes: ``POST /`` (DynamoDB JSON 1.0 protocol), ``/v1/...`` (plain REST API,
documented at ``/docs``), ``/v1/internal/...`` (region-to-region control plane),
``/v1/replication`` and ``/v1/deployment`` (replication state), ``/metrics``
(Prometheus), ``/dashboard`` and ``/healthz``.  The lifespan opens the region's
store and starts its replicator, its TTL sweeper and the dashboard's sampler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api import admin, conflicts, dashboard, deployment, internal, metrics, rest, rest_query, verify
from api import durability as durability_api
from api.auth.middleware import AuthMiddleware
from api.dynamodb.router import CONTEXT_OPERATIONS, OPERATIONS
from api.dynamodb.router import router as dynamodb_router
from api.history import History
from api.metrics import RegionMetrics
from api.region_state import RegionState
from regions import maintenance, ttl
from regions.identities import Identities
from regions.region import Region
from replicator import signing
from replicator.runner import Replicator

__all__ = ["create_app"]

log = logging.getLogger("globaltables.app")


def create_app(region: Region, replicator: Replicator | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await region.open()
        if replicator is not None:
            await replicator.start()
        # expiry is the region's own job, with or without replication
        sweeper = asyncio.create_task(ttl.run_sweeper(region, region.settings.ttl_interval_s))
        sampler = asyncio.create_task(history.run())
        keeper = asyncio.create_task(maintenance.run_housekeeping(region))
        log.info(
            "region %s ready (store %s, kafka %s, peers %s)",
            region.name,
            region.store.describe(),
            region.settings.kafka or "off",
            ", ".join(f"{k}={v}" for k, v in region.settings.peers.items()) or "none",
        )
        try:
            yield
        finally:
            for task in (sweeper, keeper, sampler):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if replicator is not None:
                await replicator.stop()
            await region.close()

    app = FastAPI(
        title=f"globaltables region {region.name}",
        description="DynamoDB-compatible region of a self-hosted global table. "
        "The DynamoDB API is `POST /` (point boto3's endpoint_url here); "
        "the plain REST API is below.",
        version="0.1.0",
        lifespan=lifespan,
    )
    state = RegionState(region)
    history = History(region, replicator)
    # the operation label only takes known names (see api.metrics.UNKNOWN_OPERATION)
    operations = {op for ops in OPERATIONS.values() for op in ops}
    operations |= {op for ops in CONTEXT_OPERATIONS.values() for op in ops}
    app.state.region = region
    app.state.replicator = replicator
    app.state.region_state = state
    app.state.history = history
    app.state.metrics = RegionMetrics(region, replicator, state, operations)
    auth = region.settings.auth
    app.state.identities = identities = Identities(region, auth)
    # the dashboard's deployment view asks the peers (and this region) with the admin key
    app.state.peer_auth = signing.for_admin(
        auth, {"http://self": region.name} | {u: n for n, u in region.settings.peers.items()}
    )
    # SigV4 on every route; sets regions.principals.current for the request
    app.add_middleware(
        AuthMiddleware,
        region=region.name,
        settings=auth,
        identities=identities,
        observe=app.state.metrics.observe,
    )
    app.include_router(dynamodb_router)
    app.include_router(rest.router)
    app.include_router(rest_query.router)
    app.include_router(internal.router)
    app.include_router(deployment.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.make_router())
    app.include_router(conflicts.router)
    app.include_router(verify.router)
    app.include_router(admin.router)
    app.include_router(durability_api.router)

    @app.get("/healthz", tags=["operations"], summary="Store, Kafka and replication state")
    async def healthz(request: Request) -> JSONResponse:
        store_ok = await region.store.ping()
        body: dict[str, Any] = {
            "region": region.name,
            "status": "ok" if store_ok else "degraded",
            "store": {
                "backend": region.store.backend,
                "url": region.store.describe(),
                "ok": store_ok,
            },
            "peers": region.settings.peers,
            "writes": region.counters.writes,
        }
        if replicator is not None:
            body["replication"] = await replicator.status()
        else:
            body["replication"] = None
        return JSONResponse(body, status_code=200 if store_ok else 503)

    return app
