"""A region: the composition root that builds the store, the clock, the catalog
cache, the counters and the two planes, and starts and stops them.

- :attr:`Region.data` (regions/data/): item writes as typed operations with one
  ``commit``, remote changes applied with last-writer-wins, the outbox, the reads.
  The invariants (docs/architecture.md, "Invariants") that it enforces are listed at the top of
  regions/data/plane.py.
- :attr:`Region.control` (regions/control/): CreateTable, UpdateTable and DeleteTable,
  index builds, streams settings and the replica protocol.

``api/`` and ``replicator/`` call the planes; what they give the region (the
replicator's catch-up, a worker pool's write counts) comes in as :class:`RegionHooks`
at construction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from regions.catalog_cache import CatalogCache
from regions.control.plane import ControlPlane
from regions.control.replicas import PeerLink
from regions.counters import RegionCounters
from regions.data.plane import DataPlane
from regions.nodes import Nodes
from regions.process_signals import ProcessSignals
from regions.protection.object_store_factory import (
    ensure_region_bucket,
    open_object_store,
    region_bucket,
)
from regions.protection.objects import ObjectStore
from regions.settings import RegionSettings
from regions.store import SqlStore, open_store_url
from regions.throttle import Throttle
from regions.verification_cache import VerificationCache
from regions.versions import HybridClock

__all__ = ["Region", "RegionHooks"]

log = logging.getLogger("globaltables.region")


@dataclass
class RegionHooks:
    """What other parts of a region process provide, wired by whoever composes the
    process (globaltables/cli.py) before the region serves a request."""

    #: waits until every change published by other regions so far has been applied
    #: here (the replicator's applier); a new replica's backfill waits on it
    catch_up: Callable[[], Awaitable[None]] | None = None
    #: in the primary of a region with workers: their (writes, no-op writes)
    worker_writes: Callable[[], tuple[int, int]] | None = None
    #: table id -> percent done, for tables this region is re-seeding
    #: (replicator/reseed.py keeps it); DescribeTable shows the replica UPDATING
    reseeding: dict[str, int] = field(default_factory=dict)


class Region:
    def __init__(
        self,
        settings: RegionSettings,
        *,
        store: SqlStore | None = None,
        clock: HybridClock | None = None,
        peers: PeerLink | None = None,
        hooks: RegionHooks | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.store = store or open_store_url(
            settings.store_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        #: where backups, PITR snapshots and exports go: S3 when configured, else next
        #: to the store (regions/protection/object_store_factory.py)
        self.objects: ObjectStore = open_object_store(settings, self.store)
        #: the bucket of this region's own backups and snapshots
        self.objects_bucket = region_bucket(settings)
        self.clock = clock or HybridClock()
        self.hooks = hooks or RegionHooks()
        self.counters = RegionCounters()
        self.catalog = CatalogCache(self.store)
        self.data = DataPlane(
            self.name, settings, self.store, self.clock, self.catalog, self.counters
        )
        self.control = ControlPlane(
            self.name,
            settings,
            self.catalog,
            self.data,
            peers=peers,
            catch_up=self._catch_up,
            reseeding=self.hooks.reseeding,
        )
        #: the provisioned-throughput buckets of this process: a region served by N
        #: processes (--workers) gives each 1/N of every rate
        self.throttle = Throttle(settings.burst_s, arn=self.arn, share=1 / settings.processes)
        #: the convergence verifier's locks and recent trees (regions/verification.py)
        self.verification = VerificationCache()
        #: set by share_processes(): the counters of a region served by several processes
        self.signals: ProcessSignals | None = None
        #: the region's nodes, as this process sees them (set by the process's
        #: composition, api/app.py); None in a worker and in embedded uses
        self.nodes: Nodes | None = None

    async def _catch_up(self) -> None:
        # read when needed: the replicator fills the hook after the region is built
        if self.hooks.catch_up is not None:
            await self.hooks.catch_up()

    @property
    def worker(self) -> bool:
        """A worker process (--workers): it serves item operations and leaves the
        catalog, the replicator and every background job to the primary process."""
        return self.catalog.worker

    @property
    def leads(self) -> bool:
        """Does this process run the region's singletons (replicator, TTL, jobs)?"""
        return self.nodes.leading if self.nodes is not None else not self.worker

    @property
    def changes_available(self) -> asyncio.Event:
        """Set after every commit of a local-origin change; the publisher waits on it."""
        return self.data.changes_available

    def arn(self, table: str) -> str:
        return f"arn:aws:dynamodb:{self.name}:{self.settings.account_id}:table/{table}"

    def write_counts(self) -> tuple[int, int]:
        """Local writes that changed an item and no-op writes, of every process
        serving this region."""
        writes, noop = self.counters.writes, self.counters.noop_writes
        if self.hooks.worker_writes is not None:
            more = self.hooks.worker_writes()
            writes, noop = writes + more[0], noop + more[1]
        return writes, noop

    def share_processes(self, signals: ProcessSignals, *, worker: bool) -> None:
        """Serve this region from several processes over one store (before open()).

        The primary bumps ``signals`` after it changes the catalog; a worker reloads its
        cached catalog when it sees that, and re-checks the stored epoch inside every
        write transaction, so no item is written under a stale table spec."""
        self.signals = signals
        self.catalog.signals = signals
        self.catalog.worker = worker
        if worker:
            # a worker serves items; the jobs run in its node's primary process
            self.control.leads = False
        self.store.share_with_processes()

    async def open(self) -> None:
        await self.store.open()
        async with self.store.read() as tx:
            # a restart must never issue versions below ones already stored
            self.clock.observe(await tx.max_hlc())
        await self.catalog.load()
        if self.worker:
            # the primary owns the system tables and resumes index builds
            return
        async with self.store.write() as wtx:
            await wtx.set_meta("region", self.name)
        # logged, not fatal, when the object store cannot be reached
        await ensure_region_bucket(self.objects, self.objects_bucket)
        if self.control.leads:
            # a node that does not lead leaves the jobs to the leader (api/app.py)
            await self.control.open()

    async def close(self) -> None:
        await self.control.background.close()
        await self.store.close()
