"""The nodes of a region over one PostgreSQL database (regions/nodes.py), without
region processes: who is alive, as the publishers' shares of the outbox read it."""

from __future__ import annotations

import pytest

from regions.nodes import SharedNodes

pytestmark = pytest.mark.integration


async def test_live_ids_follow_the_nodes_that_join_and_leave(postgres_db_url: str) -> None:
    dsn = postgres_db_url.replace("postgresql+asyncpg://", "postgresql://")
    a, b = SharedNodes("r-1", "b-node", dsn), SharedNodes("r-1", "a-node", dsn)
    other = SharedNodes("r-2", "c-node", dsn)  # another region in the same database
    await a.join()
    try:
        assert await a.live_ids() == ["b-node"]
        await b.join()
        await other.join()
        # in node-id order, the same on every node, this region's only
        assert await a.live_ids() == await b.live_ids() == ["a-node", "b-node"]
        assert await other.live_ids() == ["c-node"]
        await b.leave()
        assert await a.live_ids() == ["b-node"]
    finally:
        for node in (a, b, other):
            await node.leave()
    # its session closed: a refusal the publisher keeps its previous share on
    with pytest.raises(ConnectionError):
        await a.live_ids()
