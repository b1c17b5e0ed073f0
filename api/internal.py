"""Region-to-region control plane (not part of the DynamoDB API).

A region that adds a replica tells the new region, and every other replica, the
table's spec and replica set through ``PUT /v1/internal/tables/{name}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from api.admin import admin_only
from api.errors import error_body, rest_status
from regions.catalog import TableSpec
from regions.changes import ChangeRecord, UnknownSchema
from regions.errors import DynamoError, ReseedUnavailable
from regions.region import Region
from replicator.runner import Replicator

__all__ = ["router"]

# the admin key, which every region signs peer calls with: this API creates tables and
# writes rows past every table policy
router = APIRouter(
    prefix="/v1/internal",
    include_in_schema=False,
    dependencies=[Depends(admin_only("use the region-to-region API"))],
)


@router.put("/tables/{name}")
async def put_replica(name: str, request: Request) -> Response:
    region: Region = request.app.state.region
    try:
        body = await request.body()
        try:
            data: Any = orjson.loads(body)
            spec = TableSpec.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            # a peer's bug or a forged body: refused, never a 500 (nothing was stored)
            return Response(status_code=400, content=b'{"message":"malformed table spec"}')
        if spec.name != name:
            return Response(status_code=400, content=b'{"message":"name mismatch"}')
        result = await region.control.replicas.accept(spec)
    except DynamoError as exc:
        return Response(
            status_code=rest_status(exc),
            content=orjson.dumps(error_body(exc)),
            media_type="application/json",
        )
    return Response(content=orjson.dumps(result.to_json()), media_type="application/json")


@router.post("/tables/{name}/rows")
async def push_rows(name: str, request: Request, repair: bool = False) -> Response:
    """Backfill rows from the region that added this replica, applied with LWW.
    ``?repair=true`` (the convergence verifier) also takes rows whose version
    originated in this region (see ``DataPlane.apply_remote``)."""
    region: Region = request.app.state.region
    try:
        raw: Any = orjson.loads(await request.body())
        records = [ChangeRecord.decode(orjson.dumps(r)) for r in raw]
        if any(r.table != name for r in records):
            return Response(status_code=400, content=b'{"message":"table mismatch"}')
        stats = await region.data.apply_remote(records, repair=repair)
    except DynamoError as exc:
        return _error(exc)
    except (ValueError, KeyError, TypeError, UnknownSchema):
        return Response(status_code=400, content=b'{"message":"bad rows"}')
    return Response(
        content=orjson.dumps(
            {
                "applied": stats.applied,
                "skipped": stats.skipped,
                "duplicates": stats.duplicates,
                "lost": stats.lost,
            }
        ),
        media_type="application/json",
    )


@router.get("/tables/{name}/snapshot")
async def snapshot(
    name: str,
    request: Request,
    table_id: str,
    replica: str,
    after: str | None = None,
    limit: int = Query(500, ge=1, le=5000),
    catch_up: bool = False,
) -> Response:
    """A page of this region's copy of a table (items and tombstones, with versions)
    for a re-seeding replica (``replicator/reseed.py``).  ``catch_up`` (the first
    page) first waits until this region has applied what Kafka holds."""
    replicator: Replicator | None = request.app.state.replicator
    try:
        if replicator is None:
            raise ReseedUnavailable(f"region {request.app.state.region.name} runs without Kafka")
        page = await replicator.snapshot_page(
            name, table_id=table_id, replica=replica, after=after, limit=limit, first=catch_up
        )
    except DynamoError as exc:
        return _error(exc)
    except ValueError:
        return Response(status_code=400, content=b'{"message":"bad cursor"}')
    body = (
        b'{"next":'
        + orjson.dumps(page.next)
        + b',"rows":['
        + b",".join(r.encode() for r in page.records)
        + b"]}"
    )
    return Response(content=body, media_type="application/json")


@router.delete("/tables/{name}")
async def drop_replica(name: str, table_id: str, request: Request) -> Response:
    region: Region = request.app.state.region
    try:
        await region.control.replicas.drop(name, table_id)
    except DynamoError as exc:
        return _error(exc)
    return Response(content=b"{}", media_type="application/json")


def _error(exc: DynamoError) -> Response:
    return Response(
        status_code=rest_status(exc),
        content=orjson.dumps(error_body(exc)),
        media_type="application/json",
    )
