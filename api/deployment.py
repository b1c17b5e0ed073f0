"""``GET /v1/replication`` (this region) and ``GET /v1/deployment`` (all regions).

The deployment view is the serving region's own summary plus every peer's
``/v1/replication`` and every region's recent conflicts (``/v1/conflicts``),
fetched concurrently with short timeouts.  A peer that does not answer, or
answers garbage, is reported ``down`` with the reason: the dashboard must keep
working exactly when some region does not.

Both are public by default (``--public-status``).  The regions ask each other with
the admin key, and what comes back is cut down here to what the caller may see
(``api/visibility.py``): conflicts without keys, errors without their texts, unless
the caller signed with a key that may read them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.summary import region_summary
from api.visibility import redact_summary, viewer

__all__ = ["CONFLICTS_SHOWN", "PEER_TIMEOUT", "router"]

#: a peer slower than this is as good as down for a page that refreshes every ~1.5 s
PEER_TIMEOUT = httpx.Timeout(1.5, connect=0.5)
#: conflicts fetched from each region; the page shows the newest of all of them
#: (up to this many per region in all: one conflict is logged by every region that
#: saw the write lose, and the page groups those copies into one row)
CONFLICTS_SHOWN = 20
#: history (seconds of samples) a caller may ask for
MAX_HISTORY_S = 300.0

router = APIRouter(prefix="/v1", tags=["operations"])

HistoryParam = Query(
    0.0,
    ge=0,
    le=MAX_HISTORY_S,
    description="Also return this many seconds of 1 s samples (charts).",
)


@router.get("/replication", summary="This region's replication summary")
async def replication(request: Request, history: float = HistoryParam) -> JSONResponse:
    summary = await _own_summary(request, history)
    return JSONResponse(summary if viewer(request).full else redact_summary(summary))


@router.get("/deployment", summary="Every region's summary and recent conflicts")
async def deployment(request: Request, history: float = HistoryParam) -> JSONResponse:
    region = request.app.state.region
    who = viewer(request)
    peers: dict[str, str] = dict(region.settings.peers)
    # signed with the admin key: peers may run with --no-public-status
    async with httpx.AsyncClient(timeout=PEER_TIMEOUT, auth=request.app.state.peer_auth) as client:
        fetched = await asyncio.gather(
            _own_summary(request, history),
            _own_conflicts(request),
            *(_peer(client, name, url, history) for name, url in sorted(peers.items())),
        )
    summary, conflicts, *peer_views = fetched
    regions = [
        {
            "name": region.name,
            "url": None,
            "status": "up",
            "error": None,
            "summary": summary,
            "conflicts": conflicts,
        },
        *peer_views,
    ]
    merged = sorted(
        (_conflict_row(c, r["name"]) for r in regions for c in r["conflicts"]),
        key=lambda c: int(c["at_ms"]),
        reverse=True,
    )[: CONFLICTS_SHOWN * len(regions)]
    merged = [await who.conflict(region, c, c["detected_in"]) for c in merged]
    if not who.full:
        for r in regions:
            if isinstance(r["summary"], dict):
                r["summary"] = redact_summary(r["summary"])
    return JSONResponse(
        {
            "served_by": region.name,
            "now_ms": int(time.time() * 1000),
            "regions": [{k: v for k, v in r.items() if k != "conflicts"} for r in regions],
            "conflicts": merged,
        }
    )


async def _own_summary(request: Request, history: float) -> dict[str, Any]:
    app = request.app
    return await region_summary(
        app.state.region, app.state.replicator, app.state.region_state, app.state.history, history
    )


async def _peer(client: httpx.AsyncClient, name: str, url: str, history: float) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": name,
        "url": url,
        "status": "down",
        "error": None,
        "summary": None,
        "conflicts": [],
    }
    summary_call = client.get(f"{url}/v1/replication", params={"history": history})
    summary, conflicts = await asyncio.gather(
        summary_call, _conflicts(client, url), return_exceptions=True
    )
    if isinstance(summary, BaseException):
        view["error"] = _reason(summary)
    elif summary.status_code != 200:
        view["error"] = f"HTTP {summary.status_code} from /v1/replication"
    else:
        try:
            body = summary.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("region"), str):
            view.update(status="up", summary=body)
        else:
            view["error"] = "not a globaltables region (unexpected /v1/replication body)"
    if isinstance(conflicts, list):
        view["conflicts"] = conflicts
    return view


async def _own_conflicts(request: Request) -> list[dict[str, Any]]:
    # this region's own conflicts go through its HTTP contract too, in process
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://self",
        timeout=PEER_TIMEOUT,
        auth=request.app.state.peer_auth,
    ) as c:
        return await _conflicts(c, "")


async def _conflicts(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    """A region's newest conflicts; none if it cannot tell (unreachable, or any answer
    but 200, e.g. a 404 from a build without /v1/conflicts)."""
    try:
        resp = await client.get(f"{url}/v1/conflicts", params={"limit": CONFLICTS_SHOWN})
        items = resp.json().get("conflicts", []) if resp.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return []
    return [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []


def _conflict_row(c: dict[str, Any], detected_in: str) -> dict[str, Any]:
    """What the page shows of a conflict: not the losing image, which can be large."""

    def version(v: Any) -> dict[str, Any]:
        return {"hlc": v.get("hlc"), "origin": v.get("origin")} if isinstance(v, dict) else {}

    return {
        "table": c.get("table"),
        "keys": c.get("keys"),
        "winner": version(c.get("winner")),
        "loser": version(c.get("loser")),
        "at_ms": c.get("at_ms") if isinstance(c.get("at_ms"), int) else 0,
        "detected_in": detected_in,
    }


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
