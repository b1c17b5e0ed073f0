"""``/v1/quarantine``: remote records put aside instead of applied (invariant 9).

The operator's view of replicator/quarantine.py: list, show (with the message's
bytes), replay (every check again, then apply) and drop.  Entries hold item data
and forged records, so only the deployment's admin key may call these (an
unsigned request is refused by the auth middleware before it gets here); public
status (``/v1/replication``) shows counts only.  ``globaltables quarantine`` is
the command line over these routes.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from api.admin import admin_only
from replicator.quarantine import Quarantine
from replicator.runner import Replicator

__all__ = ["router"]


router = APIRouter(
    prefix="/v1/quarantine", tags=["replication"], dependencies=[Depends(admin_only("read or change the quarantine"))]
)


def _quarantine(request: Request) -> Quarantine:
    replicator: Replicator | None = request.app.state.replicator
    if replicator is None:
        raise HTTPException(
            status_code=404, detail="this region does not replicate: it has no quarantine"
        )
    return replicator.applier.quarantine


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("", summary="Quarantined remote records, newest first (no message bytes)")
async def list_entries(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, ge=1, description="Only entries with a smaller id."),
) -> Response:
    q = _quarantine(request)
    return _json(
        {
            "region": request.app.state.region.name,
            "held": await q.held(),
            "entries": await q.entries(limit, before),
        }
    )


@router.get("/{qid}", summary="One quarantined record with its bytes")
async def show(request: Request, qid: int) -> Response:
    entry = await _quarantine(request).entry(qid)
    if entry is None:
        raise HTTPException(status_code=404, detail=f"no quarantine entry {qid}")
    return _json(entry)


@router.post("/{qid}/replay", summary="Check a quarantined record again and apply it")
async def replay(request: Request, qid: int) -> Response:
    outcome = await _quarantine(request).replay(qid)
    if outcome is None:
        raise HTTPException(status_code=404, detail=f"no quarantine entry {qid}")
    return _json(outcome)


@router.delete("/{qid}", summary="Forget a quarantined record")
async def drop(request: Request, qid: int) -> Response:
    if not await _quarantine(request).drop(qid):
        raise HTTPException(status_code=404, detail=f"no quarantine entry {qid}")
    return _json({"id": qid, "dropped": True})
