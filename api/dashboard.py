"""``GET /dashboard``: a live page of the whole deployment (docs/dashboard.md).

The page (``api/dashboard_assets/``: HTML, JS, CSS) polls ``/v1/deployment`` and
draws its charts with uPlot, which is an npm dependency installed by ``make setup``
(``npm ci`` in ``api/dashboard_assets``) and served from its ``node_modules``: it is
never copied into the repository.  If it was not installed the page answers 503
saying so, instead of a page whose charts silently do not work.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

__all__ = ["ASSETS", "LIBRARY_FILES", "make_router", "missing_library"]

log = logging.getLogger("globaltables.dashboard")

ASSETS = Path(__file__).resolve().parent / "dashboard_assets"
#: served name -> path below the assets directory; nothing else is served, so no
#: request path can reach another file
OWN_FILES = {
    "dashboard.js": "dashboard.js",
    "dashboard.css": "dashboard.css",
}
LIBRARY_FILES = {
    "uPlot.iife.min.js": "node_modules/uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "node_modules/uplot/dist/uPlot.min.css",
}
_MEDIA = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
NOT_BUILT = (
    "The dashboard's charting library (uPlot) is not installed in {dir}/node_modules. "
    "Run `make setup` (or `npm ci` in {dir}) and restart the region."
)


def missing_library(assets: Path = ASSETS) -> list[str]:
    """Library files the page needs that are not installed."""
    return [rel for rel in LIBRARY_FILES.values() if not (assets / rel).is_file()]


def make_router(assets: Path = ASSETS) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    if missing_library(assets):
        log.warning(NOT_BUILT.format(dir=assets))

    def not_built() -> Response:
        return HTMLResponse(
            f"<!doctype html><title>dashboard not built</title><p>{NOT_BUILT.format(dir=assets)}</p>",
            status_code=503,
        )

    @router.get("/dashboard")
    async def page() -> Response:
        if missing_library(assets):
            return not_built()
        return FileResponse(assets / "index.html", media_type="text/html", headers=_NO_CACHE)

    @router.get("/dashboard/static/{name}")
    async def static(name: str) -> Response:
        rel = OWN_FILES.get(name) or LIBRARY_FILES.get(name)
        if rel is None:
            return Response(status_code=404)
        path = assets / rel
        if not path.is_file():
            return not_built()
        return FileResponse(path, media_type=_MEDIA[path.suffix], headers=_NO_CACHE)

    return router


#: the page and its files change with the installed version; keep browsers honest
_NO_CACHE = {"Cache-Control": "no-cache"}
