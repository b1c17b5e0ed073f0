"""Invariant 7's settings, read back from running regions (not from the source code).

``GET /v1/durability`` answers what the region's writer connection and its live
Kafka producer use: ``PRAGMA journal_mode`` / ``PRAGMA synchronous`` on SQLite's
writer connection (``synchronous`` is per connection, so opening the file from here
would show SQLite's default, not the region's), ``SHOW synchronous_commit`` on a
PostgreSQL store connection, and the publisher producer's acks and idempotence.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.regions import RegionProcess, free_port
from tests.integration.api.support import signed

pytestmark = pytest.mark.integration


def _durability(proc: RegionProcess) -> dict[str, Any]:
    r = httpx.get(f"{proc.url}/v1/durability", auth=signed(), timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _started(tmp_path: Path, name: str, store: str, **kw: Any) -> RegionProcess:
    return RegionProcess(name, free_port(), store, log_dir=tmp_path, **kw).start()


@pytest.fixture
def replicating(kafka_bootstrap: str, tmp_path: Path) -> Iterator[RegionProcess]:
    """A SQLite region with default settings and a peer, so its publisher runs."""
    proc = _started(
        tmp_path,
        "us-east-1",
        f"sqlite:///{tmp_path}/us-east-1.db",
        kafka=kafka_bootstrap,
        peers={"eu-west-1": f"http://127.0.0.1:{free_port()}"},
    )
    yield proc
    proc.stop()


def test_sqlite_defaults_and_kafka_producer(replicating: RegionProcess) -> None:
    deadline = time.monotonic() + 60
    body = _durability(replicating)
    # the publisher connects in the background; its producer appears once it has
    while body["kafka"]["producer"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
        body = _durability(replicating)
    assert body["region"] == "us-east-1"
    assert body["store"] == {"backend": "sqlite", "journal_mode": "WAL", "synchronous": "FULL"}
    producer = body["kafka"]["producer"]
    assert producer["acks"] == "all"
    assert producer["enable_idempotence"] is True
    # a producer id is what the broker hands an idempotent producer: proof that the
    # idempotence handshake took place, not just that a flag was set
    assert isinstance(producer["producer_id"], int) and producer["producer_id"] >= 0


def test_wal_is_recorded_in_the_file(replicating: RegionProcess) -> None:
    # journal_mode=WAL is persistent (unlike synchronous): any connection sees it
    path = replicating.store.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert Path(f"{path}-wal").exists()


@pytest.mark.parametrize("mode", ["NORMAL", "EXTRA"])
def test_sqlite_synchronous_knob_reaches_the_connection(tmp_path: Path, mode: str) -> None:
    proc = _started(
        tmp_path,
        "eu-west-1",
        f"sqlite:///{tmp_path}/eu-west-1.db",
        extra_args=["--sqlite-synchronous", mode.lower()],
    )
    try:
        body = _durability(proc)
    finally:
        proc.stop()
    assert body["store"] == {"backend": "sqlite", "journal_mode": "WAL", "synchronous": mode}
    assert body["kafka"] is None  # no --kafka: nothing is published


async def _set_database_default(url: str, value: str) -> str:
    """ALTER DATABASE ... SET synchronous_commit; returns what a fresh plain
    connection then shows (the weakened default the store must override)."""
    database = make_url(url).database
    assert database
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            quoted = '"' + database.replace('"', '""') + '"'
            await conn.execute(text(f"ALTER DATABASE {quoted} SET synchronous_commit = {value}"))
        # the setting applies to new sessions only
        await engine.dispose()
        async with engine.connect() as conn:
            shown = (await conn.execute(text("SHOW synchronous_commit"))).scalar_one()
    finally:
        await engine.dispose()
    return str(shown)


def test_postgres_synchronous_commit_is_set_per_connection(
    postgres_db_url: str, tmp_path: Path
) -> None:
    # a database whose default is "off" (acknowledged commits could be lost on a
    # crash): the store's own connections must still commit synchronously
    assert asyncio.run(_set_database_default(postgres_db_url, "off")) == "off"
    proc = _started(tmp_path, "ap-southeast-2", postgres_db_url)
    try:
        store = _durability(proc)["store"]
    finally:
        proc.stop()
    assert store["backend"] == "postgresql"
    assert store["synchronous_commit"] == "on"
    assert store["fsync"] == "on"
