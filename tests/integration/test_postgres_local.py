"""The throwaway PostgreSQL cluster and the per-test database fixtures really work."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.integration

# Databases seen by earlier tests in this module, to prove they were dropped.
_seen_databases: list[str] = []


async def _scalar(url: str, sql: str, params: dict[str, object] | None = None) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params or {})).scalar_one()
    finally:
        await engine.dispose()


async def test_roundtrip_and_durability_settings(postgres_db_url: str) -> None:
    assert postgres_db_url.startswith("postgresql+asyncpg://")
    engine = create_async_engine(postgres_db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE items (pk text PRIMARY KEY, n integer NOT NULL)"))
            await conn.execute(
                text("INSERT INTO items (pk, n) VALUES (:pk, :n)"),
                [{"pk": "a", "n": 1}, {"pk": "b", "n": 2}],
            )
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT pk, n FROM items ORDER BY pk"))).all()
            assert [tuple(r) for r in rows] == [("a", 1), ("b", 2)]
            # The replication tests rely on committed writes surviving a crash.
            assert (await conn.execute(text("SHOW synchronous_commit"))).scalar_one() == "on"
            assert (await conn.execute(text("SHOW fsync"))).scalar_one() == "on"
            assert (await conn.execute(text("SHOW server_encoding"))).scalar_one() == "UTF8"
    finally:
        await engine.dispose()
    _seen_databases.append(make_url(postgres_db_url).database or "")


@pytest.mark.skipif(
    bool(os.environ.get("GLOBALTABLES_TEST_PG_URL")),
    reason="listen address is only ours to check for the throwaway cluster",
)
async def test_local_cluster_listens_on_loopback_only(postgres_url: str) -> None:
    url = make_url(postgres_url)
    if url.host != "127.0.0.1":
        pytest.skip("server not started by globaltables.postgres_local")
    assert await _scalar(postgres_url, "SHOW listen_addresses") == "127.0.0.1"


async def test_per_test_databases_are_isolated(
    postgres_db_factory: Callable[[], str],
) -> None:
    first, second = postgres_db_factory(), postgres_db_factory()
    assert make_url(first).database != make_url(second).database

    engine = create_async_engine(first)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE only_in_first (x integer)"))
            await conn.execute(text("INSERT INTO only_in_first VALUES (42)"))
    finally:
        await engine.dispose()

    assert await _scalar(first, "SELECT count(*) FROM only_in_first") == 1
    assert await _scalar(second, "SELECT to_regclass('only_in_first') IS NULL") is True
    _seen_databases.extend(make_url(u).database or "" for u in (first, second))


async def test_earlier_test_databases_were_dropped(postgres_db_url: str) -> None:
    if not _seen_databases:
        pytest.skip("run together with the tests above")
    present = await _scalar(
        postgres_db_url,
        "SELECT count(*) FROM pg_database WHERE datname = ANY(:names)",
        {"names": list(_seen_databases)},
    )
    assert present == 0
    # And this test's own database starts empty.
    assert await _scalar(postgres_db_url, "SELECT to_regclass('items') IS NULL") is True
