"""Replicator lifecycle: publisher and applier tasks with backoff restarts.

Kafka being down never stops the region: its API keeps accepting writes (they
queue in the outbox) and the tasks retry with capped exponential backoff,
logging once per failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from regions.region import Region
from replicator.applier import Applier
from replicator.health import STALL_S
from replicator.kafka import change_topic, ensure_topics
from replicator.lag import LagTracker
from replicator.publisher import Publisher
from replicator.quarantine import RECENT_S
from replicator.record_auth import ReplicationKeys
from replicator.reseed import CATCH_UP_TIMEOUT_S, Reseeder, SnapshotPage, serve_snapshot

__all__ = ["Replicator"]

log = logging.getLogger("globaltables.replicator")


class Replicator:
    def __init__(self, region: Region, bootstrap: str, sources: list[str]) -> None:
        self.region = region
        self.bootstrap = bootstrap
        self.lag = LagTracker(region.name)
        #: raises ValueError when the region has no key to sign records with
        keys = ReplicationKeys(region.settings.replication_keyring())
        self.publisher = Publisher(region, bootstrap, keys)
        self.applier = Applier(region, bootstrap, sources, self.lag, keys)
        #: re-seeds this region after an absence longer than the tombstone horizon
        self.reseeder = Reseeder(region)
        self.applier.on_assigned = self.reseeder.check_offsets
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: the change topics exist: set up once per process, for both tasks
        self._topics_ready = False
        self._topics_lock = asyncio.Lock()

    async def _ensure_topics(self) -> None:
        """This region's change topic and its sources', created if missing: once per
        process start, whichever task gets here first (the other one waits for it)."""
        async with self._topics_lock:
            if self._topics_ready:
                return
            topics = [change_topic(self.region.name)] + [
                change_topic(s) for s in self.applier.sources
            ]
            await ensure_topics(
                self.bootstrap,
                topics,
                self.region.settings.topic_partitions,
                self.region.settings.kafka_security,
            )
            self._topics_ready = True

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._forever("publisher", self.publisher.run)),
            asyncio.create_task(self._forever("applier", self.applier.run)),
            # needs the store and the peers, not Kafka: not under _forever's topic set-up
            asyncio.create_task(self.reseeder.run()),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []

    async def snapshot_page(
        self, name: str, *, table_id: str, replica: str, after: str | None, limit: int, first: bool
    ) -> SnapshotPage:
        """A page of this region's copy of a table for a re-seeding peer
        (``replicator/reseed.py``); the first one only after a strict catch-up."""

        async def catch_up() -> None:
            await self.applier.wait_caught_up(CATCH_UP_TIMEOUT_S, strict=True)

        return await serve_snapshot(
            self.region,
            name=name,
            table_id=table_id,
            replica=replica,
            after=after,
            limit=limit,
            catch_up=catch_up if first else None,
            reseeding=not self.reseeder.trusted,
        )

    async def _forever(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                await self._ensure_topics()
                await body()
                if name == "applier" and not self.applier.sources:
                    return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # a cancel that surfaced as another error (SQLAlchemy's cleanup of a
                    # transaction it interrupted raises PendingRollbackError) is still a
                    # cancel: retrying would make stop(), and so SIGTERM, wait forever
                    raise asyncio.CancelledError from exc
                if name == "publisher":
                    self.publisher.errors += 1
                elif name == "applier":
                    self.applier.errors += 1
                self.last_error = f"{name}: {exc.__class__.__name__}: {exc}"
                self.last_error_at = time.time()
                if time.monotonic() - started > 30:
                    # it ran fine for a while: this is a new failure, not the same one
                    delay = 0.5
                log.warning("%s failed (%s); retrying in %.1fs", name, self.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def problems(self) -> list[str]:
        """Why this region's replication is not ready now; empty when it is.

        ``/healthz`` (``"degraded"``), ``/readyz`` (503) and the dashboard's health
        report these (docs/regions.md#health).  The hook for every other part of
        the replicator that can go wrong: add its problem here.  The strings are
        public: counts and durations, never keys or item data."""
        problems: list[str] = []
        now = time.monotonic()
        pub, app = self.publisher, self.applier
        if not pub.connected:
            problems.append(f"publisher not connected to Kafka ({pub.contact.describe()})")
        elif now - pub.last_progress > STALL_S:
            problems.append(
                f"publisher stalled: changes waiting, none published for "
                f"{now - pub.last_progress:.0f}s"
            )
        if app.sources:
            if not app.connected:
                problems.append(f"applier not connected to Kafka ({app.contact.describe()})")
            elif now - app.last_progress > STALL_S:
                problems.append(
                    f"applier stuck: {_records(app.behind)} behind, none applied for "
                    f"{now - app.last_progress:.0f}s"
                )
        grown = app.quarantine.recent()
        if grown:
            problems.append(
                f"quarantine growing: {_records(grown, 'remote record')} put aside in the last "
                f"{RECENT_S:.0f}s (globaltables quarantine list)"
            )
        return problems

    async def status(self) -> dict[str, Any]:
        try:
            backlog: int | None = await self.publisher.backlog()
        except Exception:
            backlog = None
        try:
            quarantine: dict[str, Any] | None = await self.applier.quarantine.held()
        except Exception:
            quarantine = None
        return {
            "kafka": self.bootstrap,
            "publisher": {
                "connected": self.publisher.connected,
                "published": self.publisher.published,
                "errors": self.publisher.errors,
                "backlog": backlog,
            },
            "applier": {
                "connected": self.applier.connected,
                "sources": self.applier.sources,
                "applied": self.applier.totals.applied,
                # LWW losers (each in the conflict log) and redeliveries: neither is data loss
                "conflicts_lost": self.applier.totals.lost,
                "duplicates": self.applier.totals.duplicates,
                "skipped": self.applier.totals.skipped,
                "quarantined": self.applier.totals.quarantined,
                "errors": self.applier.errors,
            },
            "quarantine": quarantine,
            "lag": self.lag.snapshot(),
            "reseed": self.reseeder.status(),
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


def _records(n: int, noun: str = "record") -> str:
    """``1 record``, ``2 records``: these texts are shown as they are (dashboard)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
