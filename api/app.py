"""create_app(): the FastAPI application of one region.

Routes: ``POST /`` (DynamoDB JSON 1.0 protocol), ``/v1/...`` (plain REST API,
documented at ``/docs``), ``/v1/internal/...`` (region-to-region control plane),
``/v1/replication`` and ``/v1/deployment`` (replication state), ``/metrics``
(Prometheus), ``/dashboard``, ``/healthz`` (liveness) and ``/readyz`` (readiness).
The lifespan opens the region's store and starts its replicator, its TTL sweeper
and the dashboard's sampler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Receive, Scope, Send

from api import (
    admin,
    conflicts,
    dashboard,
    deployment,
    internal,
    metrics,
    protection,
    quarantine,
    rest,
    rest_query,
    shutdown_deadline,
    verify,
)
from api import durability as durability_api
from api.auth.middleware import AuthMiddleware, read_body, request_of
from api.dynamodb.operations import NAMES as OPERATION_NAMES
from api.dynamodb.protocol import MAX_BODY, compress_response
from api.dynamodb.router import router as dynamodb_router
from api.dynamodb.router import serve
from api.dynamodb.transport import COMPRESS_MIN
from api.forwarding import Forwarder, served_by_worker
from api.history import History
from api.metrics import RegionMetrics
from api.region_state import RegionState
from api.visibility import redact_summary
from regions import maintenance, principals, ttl
from regions.errors import DynamoError
from regions.identities import Identities
from regions.nodes import Nodes, SingleNode
from regions.protection import jobs as protection_jobs
from regions.region import Region
from replicator import signing
from replicator.identity_sync import IdentitySync
from replicator.runner import Replicator

if TYPE_CHECKING:
    # process management (globaltables/workers.py): create_app only calls into them
    from globaltables.workers import WorkerLink, WorkerPool

__all__ = ["RegionApp", "create_app"]

#: seconds between two looks at the stored catalog epoch on a node of a multi-node
#: region: a catalog change elsewhere reaches this node within about this long
CATALOG_WATCH_S = 0.25

log = logging.getLogger("globaltables.app")


class RegionApp(FastAPI):
    """The region's FastAPI app with a front door for ``POST /``.

    DynamoDB protocol requests are most of the traffic and all go to one handler,
    so they skip FastAPI's middleware stack, routing and dependency solving (a
    profile put those above the cost of a PutItem itself) and go straight to the
    same authentication (:meth:`AuthMiddleware.authenticate`) and the same handler
    (``api.dynamodb.router.serve``).  Every other route is FastAPI's as before.
    """

    front_auth: AuthMiddleware
    #: in a worker process (globaltables/workers.py): where what it does not serve goes
    forward: Forwarder | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.forward is not None and not served_by_worker(scope):
                await self.forward(scope, receive, send)
                return
            if scope["path"] == "/" and scope["method"] == "POST":
                await self._dynamodb(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _dynamodb(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        auth = self.front_auth
        request = request_of(scope)
        # one value per name, as DynamoDB's headers have (cheaper than Starlette's
        # Headers, whose every lookup scans and decodes the raw list)
        headers = {name: values[0] for name, values in request.headers.items()}
        try:
            admitted = await auth.authenticate(scope, request, receive)
            if admitted is None:
                return  # the client went away
            principal, body = admitted
            if body is None:
                # anonymous (--allow-anonymous): the body was not needed to verify
                body = await read_body(receive, MAX_BODY)
                if body is None:
                    return
        except DynamoError as exc:
            # authentication failures and oversized bodies, in the protocol's envelope
            await auth.reject(exc, scope, request, started, receive, send)
            return
        # HTTP/1.1 always has a Host; the server's address is the HTTP/1.0 fallback
        server = scope.get("server") or ("127.0.0.1", 80)
        host = headers.get("host") or f"{server[0]}:{server[1]}"
        token = principals.current.set(principal)
        try:
            response = await serve(
                self.state.region, self.state.metrics, headers, body, started, host
            )
        finally:
            principals.current.reset(token)
        if len(response.body) >= COMPRESS_MIN:
            # only a large body looks at Accept-Encoding; DynamoDB heeds the last one
            accept = request.headers.get("accept-encoding")
            await compress_response(response, accept[-1] if accept else None)
        await response(scope, receive, send)


def create_app(
    region: Region,
    replicator: Replicator | None = None,
    *,
    workers: WorkerPool | None = None,
    link: WorkerLink | None = None,
    nodes: Nodes | None = None,
) -> RegionApp:
    """The app of a region's primary process (with ``workers`` if it starts some), or
    of one of its worker processes (``link``): see globaltables/workers.py."""
    # a worker relays what it does not serve (api.forwarding.served_by_worker) to the primary
    forward = Forwarder(link.primary_url) if link is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if link is not None:
            # a worker: item operations only, no background jobs of its own
            await region.open()
            link.start(region, app.state.metrics)
            try:
                yield
            finally:
                deadline = shutdown_deadline.arm(f"worker of region {region.name}: shutdown")
                await link.stop(region, app.state.metrics)
                if forward is not None:
                    await forward.close()
                await region.close()
                deadline.cancel()
            return
        # this node first: on SQLite it makes sure no other node serves the file
        # (NodeConflict), on PostgreSQL it claims the node id
        node = nodes if nodes is not None else SingleNode(region.name, region.settings.node_id, None)
        await node.join()
        region.nodes = node
        region.catalog.multi_node = node.shared
        # a node that may not lead stores specs only; the leader runs the jobs they ask for
        region.control.leads = not node.shared
        await region.open()
        if workers is not None:
            workers.start(region, app.state.metrics)
        if replicator is not None and node.shared:
            # every node of a shared region applies: its consumers join the region's
            # group, and Kafka spreads the partitions over the nodes; and publishes its
            # share of the outbox (replicator/runner.py)
            await replicator.start_applying()
            await replicator.start_publishing(node)

        @asynccontextmanager
        async def leading() -> AsyncIterator[None]:
            """The region's singletons, on the one node that leads (regions/nodes.py)."""
            region.control.leads = True
            if replicator is not None:
                # the re-seed rounds; a node alone also starts applying and publishing here
                await (replicator.start_leading() if node.shared else replicator.start())
            # expiry is the region's own job, with or without replication
            jobs = [
                asyncio.create_task(ttl.run_sweeper(region, region.settings.ttl_interval_s)),
                asyncio.create_task(maintenance.run_housekeeping(region)),
                # users and keys written before this region joined (or while it was away
                # longer than Kafka keeps them) are pulled from the peers
                asyncio.create_task(IdentitySync(region).run()),
                # backups and restores a crash left unfinished, then PITR snapshots
                asyncio.create_task(protection_jobs.run_protection(region)),
            ]
            try:
                # the system tables, and the index builds and copies to new replicas
                # that a restart or the previous leader left unfinished
                await region.control.open()
                yield
            finally:
                region.control.leads = False
                log.info("stopping the region's jobs (TTL, housekeeping, identity sync)")
                for task in jobs:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                # builds and copies stop here; the next leader resumes them
                log.info("stopping index builds and replica copies")
                await region.control.background.close()
                if replicator is not None:
                    log.info("stopping the replicator's singletons")
                    await (replicator.stop_leading() if node.shared else replicator.stop())
                log.info("jobs stopped")

        background = [asyncio.create_task(history.run()), asyncio.create_task(node.run(leading))]
        if node.shared:
            # another node's catalog changes: reloaded here, this node's workers told,
            # and on the leader the jobs they ask for started (CatalogCache.changed)
            background.append(asyncio.create_task(region.catalog.watch(CATALOG_WATCH_S)))
        log.info(
            "region %s ready (node %s, store %s, kafka %s, peers %s)",
            region.name,
            node.node_id,
            region.store.describe(),
            region.settings.kafka or "off",
            ", ".join(f"{k}={v}" for k, v in region.settings.peers.items()) or "none",
        )
        try:
            yield
        finally:
            deadline = shutdown_deadline.arm(f"region {region.name}: shutdown")
            if workers is not None:
                # first, so that their last changes are committed before the publisher stops
                await workers.stop()
            # leaving the lead (node.run's task) stops the replicator and the jobs
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # a shared node's feeds and publisher (a region with no peers has no feeds)
            if replicator is not None and (replicator.applying or replicator.publishing):
                log.info("stopping the replicator")
                await replicator.stop()
            await node.leave()
            await region.close()
            deadline.cancel()

    app = RegionApp(
        title=f"globaltables region {region.name}",
        description="DynamoDB-compatible region of a self-hosted global table. "
        "The DynamoDB API is `POST /` (point boto3's endpoint_url here); "
        "the plain REST API is below.",
        version="0.1.0",
        lifespan=lifespan,
    )
    state = RegionState(region)
    history = History(region, replicator)
    app.state.region = region
    app.state.replicator = replicator
    app.state.region_state = state
    app.state.history = history
    # the operation label only takes known names (see api.metrics.UNKNOWN_OPERATION)
    app.state.metrics = RegionMetrics(region, replicator, state, OPERATION_NAMES)
    auth = region.settings.auth
    app.state.identities = identities = Identities(region, auth)
    # the dashboard's deployment view asks the peers (and this region) with the admin key
    app.state.peer_auth = signing.for_admin(
        auth, {"http://self": region.name} | {u: n for n, u in region.settings.peers.items()}
    )
    # SigV4 on every route; sets regions.principals.current for the request
    auth_options: dict[str, Any] = {
        "region": region.name,
        "settings": auth,
        "identities": identities,
        "observe": app.state.metrics.observe,
    }
    app.add_middleware(AuthMiddleware, **auth_options)
    # the other routes' large answers gzip-compressed for a client that accepts it
    # (POST / compresses in RegionApp: api.dynamodb.protocol.compress_response)
    app.add_middleware(GZipMiddleware, minimum_size=COMPRESS_MIN, compresslevel=1)
    # the same checks for POST /, which bypasses the middleware stack (RegionApp)
    app.front_auth = AuthMiddleware(app, **auth_options)
    app.forward = forward
    app.include_router(dynamodb_router)
    app.include_router(rest.router)
    app.include_router(rest_query.router)
    app.include_router(internal.router)
    app.include_router(deployment.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.make_router())
    app.include_router(conflicts.router)
    app.include_router(quarantine.router)
    app.include_router(verify.router)
    app.include_router(admin.router)
    app.include_router(durability_api.router)
    app.include_router(protection.router)

    async def readiness() -> tuple[bool, list[str]]:
        """(store answers, problems): what /healthz and /readyz report."""
        store_ok = await region.store.ping()
        problems = [] if store_ok else ["store unreachable"]
        if replicator is not None and (
            region.leads or replicator.applying or replicator.publishing
        ):
            # every node applies and publishes its share; the leader runs the re-seeds
            problems += await replicator.problems()
        return store_ok, problems

    @app.get("/healthz", tags=["operations"], summary="Store, Kafka and replication state")
    async def healthz(request: Request) -> JSONResponse:
        # liveness: 200 unless the store is gone; "degraded" with its problems otherwise
        store_ok, problems = await readiness()
        body: dict[str, Any] = {
            "region": region.name,
            "status": "ok" if not problems else "degraded",
            "problems": problems,
            "store": {
                "backend": region.store.backend,
                "url": region.store.describe(),
                "ok": store_ok,
            },
            "peers": region.settings.peers,
            "writes": region.write_counts()[0],
            # where backups and exports go (never a credential)
            "objects": {"store": region.objects.description, "bucket": region.objects_bucket},
        }
        if workers is not None:
            body["workers"] = workers.status()
        if region.nodes is not None:
            body["node"] = {
                "id": region.nodes.node_id,
                "leader": region.nodes.leading,
                "nodes": [n.to_json() for n in await region.nodes.alive()],
            }
        if replicator is not None:
            # public to everyone: error texts reduced to their class (api/visibility.py)
            body["replication"] = redact_summary({"replication": await replicator.status()})[
                "replication"
            ]
        else:
            body["replication"] = None
        return JSONResponse(body, status_code=200 if store_ok else 503)

    @app.get("/readyz", tags=["operations"], summary="503 while /healthz says degraded")
    async def readyz() -> JSONResponse:
        _, problems = await readiness()
        body = {
            "region": region.name,
            "status": "ok" if not problems else "degraded",
            "problems": problems,
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    return app
