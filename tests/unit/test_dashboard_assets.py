"""/dashboard says plainly when its charting library was not installed."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from api import dashboard


def _client(assets: Path = dashboard.ASSETS) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(dashboard.make_router(assets))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_missing_library_is_a_clear_503(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html></html>")
    async with _client(tmp_path) as client:
        for path in ("/dashboard", "/dashboard/static/uPlot.iife.min.js"):
            resp = await client.get(path)
            assert resp.status_code == 503
            assert "make setup" in resp.text and "npm ci" in resp.text


async def test_only_known_files_are_served() -> None:
    async with _client() as client:
        assert (await client.get("/dashboard/static/..%2F..%2Fapp.py")).status_code == 404
        assert (await client.get("/dashboard/static/package.json")).status_code == 404


def test_the_library_is_an_installed_dependency_not_a_copy() -> None:
    assets = dashboard.ASSETS
    assert (assets / "package.json").is_file() and (assets / "package-lock.json").is_file()
    for rel in dashboard.LIBRARY_FILES.values():
        assert rel.startswith("node_modules/")
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text()
    assert "node_modules/" in ignored
