"""Replicator lifecycle: publisher and applier tasks with backoff restarts.

Kafka being down never stops the region: its API keeps accepting writes (they
queue in the outbox) and the tasks retry with capped exponential backoff,
logging once per failure.  The publisher and each of the applier's feeds (one per
Kafka cluster the sources' topics live on, replicator/apply_feed.py) retry on their
own, so a cluster that is down stalls only what goes through it.

On a region of several nodes (regions/nodes.py) every node applies (its consumers
share the region's group) and every node publishes: the outbox is shared out by
partition over the live nodes, ``part mod N == k`` for the k-th of N nodes in node-id
order (:meth:`Replicator._share_outbox`).  An item's records are in one partition, so
one node at a time publishes them, in order.  When a node dies its heartbeat ages out
(``ALIVE_S``) and the others' shares cover its partitions again: its records wait in
the shared store meanwhile, none is lost and none is left to nobody.  While the nodes
disagree on who is alive, a partition may be published by two nodes for a moment, or
by none until the next refresh: a duplicate is absorbed by LWW (invariant 3), a delay
is only a delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from regions.kafka_security import KafkaSecurity
from regions.nodes import HEARTBEAT_S, Nodes
from regions.region import Region
from replicator.applier import Applier
from replicator.apply_feed import ClusterFeed
from replicator.health import STALL_S
from replicator.kafka import change_topic, cluster_key, ensure_topics, session_timeout_ms
from replicator.lag import LagTracker
from replicator.publisher import Publisher
from replicator.quarantine import RECENT_S
from replicator.record_auth import ReplicationKeys
from replicator.reseed import CATCH_UP_TIMEOUT_S, Reseeder, SnapshotPage, serve_snapshot

__all__ = ["Replicator"]

log = logging.getLogger("globaltables.replicator")

#: most seconds stop() waits for the replicator's tasks to finish
STOP_TIMEOUT_S = 5.0


class Replicator:
    def __init__(self, region: Region, bootstrap: str, sources: list[str]) -> None:
        self.region = region
        self.bootstrap = bootstrap
        self.lag = LagTracker(region.name)
        #: raises ValueError when the region has no key to sign records with
        keys = ReplicationKeys(region.settings.replication_keyring())
        self.publisher = Publisher(region, bootstrap, keys)
        self.applier = Applier(region, bootstrap, sources, self.lag, keys)
        session_timeout_ms()  # a malformed GLOBALTABLES_KAFKA_SESSION_TIMEOUT_MS fails here
        #: re-seeds this region after an absence longer than the tombstone horizon
        self.reseeder = Reseeder(region)
        self.applier.on_assigned = self.reseeder.check_offsets
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        #: the feeds' tasks and the publisher's (every node), the singletons' (the
        #: leading node only)
        self._apply_tasks: list[asyncio.Task[None]] = []
        self._publish_tasks: list[asyncio.Task[None]] = []
        self._lead_tasks: list[asyncio.Task[None]] = []
        #: Reseeder.observe while this node applies but does not lead
        self._observe: asyncio.Task[None] | None = None
        #: whether this node runs the publisher (every node of a region does)
        self.publishing = False
        #: whether this node runs the region's singletons (the re-seeder's rounds)
        self.leading = False
        #: the clusters (cluster_key) whose change topics exist: set up once per
        #: process, by whichever task reading or writing there gets first
        self._topics_ready: set[str] = set()
        self._topics_locks: dict[str, asyncio.Lock] = {}

    async def _ensure_topics(self, bootstrap: str, security: KafkaSecurity) -> None:
        """The change topics on cluster ``bootstrap``, created if missing: this region's
        own topic on its own cluster, and each source's topic on the cluster it is read
        from (the source creates it too; creating it here lets the consumer subscribe
        before the source's first change).  Once per cluster per process start; one
        lock per cluster, so a cluster that is down holds up no other."""
        key = cluster_key(bootstrap)
        async with self._topics_locks.setdefault(key, asyncio.Lock()):
            if key in self._topics_ready:
                return
            topics = [change_topic(self.region.name)] if key == cluster_key(self.bootstrap) else []
            for feed in self.applier.feeds:
                if feed.cluster.key == key:
                    topics += [change_topic(s) for s in feed.sources]
            await ensure_topics(bootstrap, topics, self.region.settings.topic_partitions, security)
            self._topics_ready.add(key)

    async def _publish(self) -> None:
        await self._ensure_topics(self.bootstrap, self.region.settings.kafka_security)
        await self.publisher.run()

    async def _apply_from(self, feed: ClusterFeed) -> None:
        await self._ensure_topics(feed.bootstrap, feed.cluster.security)
        await feed.run()

    def _feed_task_name(self, feed: ClusterFeed) -> str:
        """``applier``, or ``applier@HOST:PORT`` when the sources are on several clusters
        (no spaces: the public view keeps the words up to the first ``": "``)."""
        if len(self.applier.feeds) == 1:
            return "applier"
        return f"applier@{feed.bootstrap}"

    async def start(self) -> None:
        """Everything, on a region of one node: publishing, applying, re-seeding."""
        self.leading = True  # no observer: this node decides
        await self.start_applying()
        await self.start_publishing(None)
        await self.start_leading()

    @property
    def applying(self) -> bool:
        """This node's feeds are running (every node of a region runs them)."""
        return bool(self._apply_tasks)

    async def start_applying(self) -> None:
        """The applier's feeds: on every node of a region.  The nodes' consumers share
        the region's group on each cluster (``apply_group``), so Kafka spreads the
        source partitions over the nodes and moves them when a node joins, leaves or
        dies; an item's changes stay in one partition, applied in order by whichever
        node holds it (and LWW absorbs a redelivery after a move)."""
        self._apply_tasks = [
            asyncio.create_task(
                self._forever(self._feed_task_name(f), partial(self._apply_from, f), feed=f),
                name=self._feed_task_name(f),
            )
            for f in self.applier.feeds
        ]
        if not self.leading:
            # until this node leads: the stored re-seed marker tells it whether its
            # rows may be served (Reseeder.observe)
            self._observe = asyncio.create_task(self.reseeder.observe(), name="re-seed observer")

    async def start_publishing(self, nodes: Nodes | None) -> None:
        """The publisher: of the whole outbox on a node alone (``nodes`` None or not
        shared), else of this node's share of it (module docstring), refreshed from
        the region's live nodes every heartbeat."""
        self.publishing = True
        shared = nodes if nodes is not None and nodes.shared else None
        if shared is not None:
            await self._refresh_share(shared)  # before the first batch (kept if it fails)
        tasks = [asyncio.create_task(self._forever("publisher", self._publish), name="publisher")]
        if shared is not None:
            tasks.append(asyncio.create_task(self._share_outbox(shared), name="outbox share"))
        self._publish_tasks = tasks

    async def _share_outbox(self, nodes: Nodes) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self._refresh_share(nodes)

    async def _refresh_share(self, nodes: Nodes) -> None:
        """This node's share of the outbox from the live nodes; the previous one while
        they cannot be read, or while this node's own heartbeat is missing from them
        (the others then count it out and cover its partitions: a moment of overlap,
        absorbed by LWW)."""
        try:
            alive = sorted(await nodes.live_ids())
        except Exception as exc:
            log.warning("cannot read the region's live nodes (%s); publishing share kept", exc)
            return
        if nodes.node_id not in alive:
            return
        share = (len(alive), alive.index(nodes.node_id))
        if share != self.publisher.share:
            log.info(
                "publishing partitions p with p mod %d == %d (%d live node(s): %s)",
                share[0], share[1], len(alive), ", ".join(alive),
            )  # fmt: skip
            self.publisher.share = share

    async def start_leading(self) -> None:
        """The region's singletons: the re-seeder's rounds.  (Every node publishes its
        share of the outbox and applies its share of the partitions.)"""
        await self._cancel([self._observe] if self._observe is not None else [])
        self._observe = None
        self.leading = True
        self._lead_tasks = [
            # needs the store and the peers, not Kafka
            asyncio.create_task(self.reseeder.run(), name="re-seeder"),
        ]

    async def stop_leading(self, *, applying: bool = True) -> None:
        """Hand the singletons back (another node takes the lead); the feeds and the
        publisher go on."""
        self.leading = False
        await self._cancel(self._lead_tasks)
        self._lead_tasks = []
        if applying and self._apply_tasks and self._observe is None:
            self._observe = asyncio.create_task(self.reseeder.observe(), name="re-seed observer")

    async def stop(self) -> None:
        """Stop everything this node runs."""
        await self.stop_leading(applying=False)
        tasks = self._apply_tasks + self._publish_tasks
        tasks += [self._observe] if self._observe is not None else []
        self._apply_tasks, self._publish_tasks, self._observe = [], [], None
        self.publishing = False
        await self._cancel(tasks)

    async def _cancel(self, tasks: list[asyncio.Task[None]]) -> None:
        """Cancel the tasks and wait for them at most STOP_TIMEOUT_S: a Kafka client
        saying goodbye to a slow or unreachable cluster (leaving its group) must not
        hold up a region's shutdown.  Nothing is lost by leaving it behind: offsets are
        committed only after their changes were applied, and outbox rows are marked
        only after Kafka acknowledged them."""
        for t in tasks:
            t.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
            if pending:
                log.warning(
                    "%d replicator task(s) still stopping after %.0fs; left behind: %s",
                    len(pending),
                    STOP_TIMEOUT_S,
                    ", ".join(sorted(t.get_name() for t in pending)),
                )

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

    async def _forever(
        self, name: str, body: Callable[[], Awaitable[None]], *, feed: ClusterFeed | None = None
    ) -> None:
        """Run ``body`` until it returns or is cancelled, restarting it with backoff
        when it fails; ``name`` (``publisher``, ``applier…``) says whose errors count."""
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                await body()
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
                elif name.startswith("applier"):
                    self.applier.errors += 1
                if feed is not None:
                    feed.errors += 1
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
        if not self.publishing:
            pass  # not started, or stopping
        elif not pub.connected:
            problems.append(f"publisher not connected to Kafka ({pub.contact.describe()})")
        elif now - pub.last_progress > STALL_S:
            problems.append(
                f"publisher stalled: changes waiting, none published for "
                f"{now - pub.last_progress:.0f}s"
            )
        for feed in app.feeds:
            # which cluster, when there are several: the others are fine
            at = f" at {feed.where()}" if len(app.feeds) > 1 else ""
            if not feed.connected:
                problems.append(f"applier not connected to Kafka{at} ({feed.contact.describe()})")
            elif now - feed.last_progress > STALL_S:
                problems.append(
                    f"applier stuck{at}: {_records(feed.behind)} behind, none applied for "
                    f"{now - feed.last_progress:.0f}s"
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
            # the peers whose topics are read from their own cluster (--peer-kafka)
            "peer_kafka": dict(sorted(self.region.settings.peer_kafka.items())),
            "publisher": {
                "running": self.publishing,
                # this node publishes the partitions p with p mod nodes == slot
                "share": {"nodes": self.publisher.share[0], "slot": self.publisher.share[1]},
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
                # one consumer per Kafka cluster the sources' topics are on
                "clusters": [
                    {
                        "kafka": f.bootstrap,
                        "sources": f.sources,
                        "connected": f.connected,
                        "behind": f.behind,
                        "errors": f.errors,
                        # the partitions this node's consumer holds in the region's group
                        "assigned": f.assigned(),
                    }
                    for f in self.applier.feeds
                ],
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
