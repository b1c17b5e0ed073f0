"""Cached reads of a region's state, shared by ``/metrics`` and ``/v1/replication``.

Counting a table's items and bytes is a query over the whole table, and counting
the outbox reads pending change records, so a scrape or a dashboard poll must not
trigger them each time: the results are cached for a few seconds, and concurrent
callers share one refresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from regions.errors import DynamoError
from regions.region import Region

__all__ = ["BACKLOG_CAP", "RegionState", "TableRow"]

log = logging.getLogger("globaltables.state")

#: the backlog is counted up to this many records (reading more would make a
#: scrape expensive exactly when Kafka is down and the outbox grows)
BACKLOG_CAP = 10_000


@dataclass(frozen=True)
class TableRow:
    name: str
    status: str
    #: (region, status) of every replica; empty for a table that is not global
    replicas: tuple[tuple[str, str], ...]
    items: int
    size_bytes: int


class RegionState:
    def __init__(
        self, region: Region, tables_max_age_s: float = 5.0, backlog_max_age_s: float = 1.0
    ) -> None:
        self.region = region
        self.tables_max_age_s = tables_max_age_s
        self.backlog_max_age_s = backlog_max_age_s
        self._tables: list[TableRow] = []
        self._tables_at = float("-inf")
        self._backlog = 0
        self._backlog_at = float("-inf")
        self._store_ok = True
        self._store_at = float("-inf")
        self._lock = asyncio.Lock()

    async def tables(self) -> list[TableRow]:
        async with self._lock:
            if time.monotonic() - self._tables_at >= self.tables_max_age_s:
                self._tables = await self._read_tables()
                self._tables_at = time.monotonic()
            return self._tables

    async def backlog(self) -> int:
        """Local changes not yet published to Kafka (at most :data:`BACKLOG_CAP`)."""
        async with self._lock:
            if time.monotonic() - self._backlog_at >= self.backlog_max_age_s:
                self._backlog = len(await self.region.data.pending_changes(BACKLOG_CAP))
                self._backlog_at = time.monotonic()
            return self._backlog

    async def store_ok(self) -> bool:
        async with self._lock:
            if time.monotonic() - self._store_at >= self.backlog_max_age_s:
                self._store_ok = await self.region.store.ping()
                self._store_at = time.monotonic()
            return self._store_ok

    async def _read_tables(self) -> list[TableRow]:
        rows: list[TableRow] = []
        for spec in await self.region.control.tables():
            try:
                _, items, size = await self.region.control.describe_table(spec.name)
            except DynamoError:
                # dropped between the two reads: it simply is not listed this time
                continue
            rows.append(
                TableRow(
                    name=spec.name,
                    status=spec.status,
                    replicas=tuple((r.region, r.status) for r in spec.replicas),
                    items=items,
                    size_bytes=size,
                )
            )
        return rows
