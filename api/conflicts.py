"""GET /v1/conflicts: the LWW conflict log of this region.

DynamoDB global tables give no way to see which concurrent write lost; here every
remote change that lost last-writer-wins in this region is listed, newest first,
with the winning and losing versions and the losing image.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from regions.region import Region

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["replication"])


@router.get("/conflicts", summary="Recent last-writer-wins conflicts in this region")
async def conflicts(
    request: Request,
    limit: int = Query(100, ge=1, le=1000, description="How many entries, newest first."),
    table: str | None = Query(None, description="Only this table."),
) -> dict[str, Any]:
    region: Region = request.app.state.region
    return {"region": region.name, "conflicts": await region.conflicts(limit, table)}
