"""GET /v1/conflicts: the LWW conflict log of this region.

DynamoDB global tables give no way to see which concurrent write lost; here every
remote change that lost last-writer-wins in this region is listed, newest first,
with the winning and losing versions and the losing image.

The keys and the losing image are item data: only a caller who may read the item
(the admin key, or a user whose policies allow a ``GetItem`` of it) sees them.
Everyone else, unsigned callers of the public status route included, gets each
entry's table, versions (hlc and origin region) and time, with ``keys: null`` and
``redacted: true`` (``api/visibility.py``, docs/security.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from api.visibility import viewer
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
    who = viewer(request)
    rows = [await who.conflict(region, row) for row in await region.data.conflicts(limit, table)]
    return {
        "region": region.name,
        # False: some entries were hidden from this caller (see the module docstring)
        "complete": not any(r["redacted"] for r in rows),
        "conflicts": rows,
    }
