from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from regions.region import Region
from regions.settings import RegionSettings


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same suite against both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    factory: Callable[[], str] = request.getfixturevalue("postgres_db_factory")
    return factory().replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def region(store_url: str) -> AsyncIterator[Region]:
    r = Region(RegionSettings(name="us-east-1", store_url=store_url, partitions=4))
    await r.open()
    yield r
    await r.close()
