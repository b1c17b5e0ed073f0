"""``GET /v1/durability``: the durability settings in force, read back live.

Invariant 7 (durability; docs/architecture.md) rests on three settings: the store's commit durability
(SQLite WAL with ``synchronous=FULL`` unless ``--sqlite-synchronous`` says
otherwise; PostgreSQL ``synchronous_commit=on``) and the publisher's Kafka producer
(acks=all, idempotent).  This route reports what the running region's connections
and producer actually use, not what its configuration asked for, so an operator or
a test (tests/integration/test_durability.py) can check them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from regions.region import Region
from replicator.kafka import producer_settings
from replicator.runner import Replicator

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get("/durability", summary="Durability settings in force (store and Kafka producer)")
async def durability(request: Request) -> dict[str, Any]:
    region: Region = request.app.state.region
    replicator: Replicator | None = request.app.state.replicator
    kafka: dict[str, Any] | None = None
    if replicator is not None:
        producer = replicator.publisher.producer
        kafka = {
            "bootstrap": replicator.bootstrap,
            # None while the publisher is (re)connecting
            "producer": producer_settings(producer) if producer is not None else None,
        }
    return {"region": region.name, "store": await region.store.durability(), "kafka": kafka}
