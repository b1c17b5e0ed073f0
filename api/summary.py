"""One region's replication summary: the body of ``GET /v1/replication``.

It is what the dashboard knows about a region, so it says everything the page
shows: who the region is and who its peers are, whether its store and both halves
of its replicator work, the lag from every source, its write counters, its tables
with their replicas, and (on request) the last minutes of samples for the charts.

``health`` is decided here, from facts in the same body, so every region judges
itself by the same rules and the page only displays the verdict.
"""

from __future__ import annotations

import time
from typing import Any

from api.history import History
from api.region_state import BACKLOG_CAP, RegionState
from regions.region import Region
from replicator.runner import Replicator

__all__ = ["ERROR_FRESH_S", "region_summary"]

#: a replicator error this recent makes the region "degraded"; older ones were
#: followed by a successful restart (or the task would still be failing)
ERROR_FRESH_S = 15.0


async def region_summary(
    region: Region,
    replicator: Replicator | None,
    state: RegionState,
    history: History,
    history_s: float = 0.0,
) -> dict[str, Any]:
    now = time.time()
    store_ok = await state.store_ok()
    problems: list[str] = []
    if not store_ok:
        problems.append("store unreachable")

    replication: dict[str, Any] | None = None
    lag: dict[str, dict[str, float]] = {}
    if replicator is not None:
        pub, app = replicator.publisher, replicator.applier
        backlog = await state.backlog()
        lag = replicator.lag.snapshot()
        fresh_error = (
            replicator.last_error is not None
            and replicator.last_error_at is not None
            and now - replicator.last_error_at < ERROR_FRESH_S
        )
        # Kafka contact, stuck publisher or applier (the same as /healthz and /readyz)
        problems += await replicator.problems()
        if fresh_error:
            problems.append(f"replicator error: {replicator.last_error}")
        replication = {
            "kafka": replicator.bootstrap,
            "publisher": {
                "connected": pub.connected,
                "published": pub.published,
                "errors": pub.errors,
                "backlog": backlog,
                "backlog_capped": backlog >= BACKLOG_CAP,
                # this node publishes the outbox partitions p with p mod nodes == slot
                "share": {"nodes": pub.share[0], "slot": pub.share[1]},
            },
            "applier": {
                "connected": app.connected,
                "sources": app.sources,
                "applied": app.totals.applied,
                "skipped": app.totals.skipped,
                # remote records put aside (replicator/quarantine.py): counts only here
                "quarantined": app.totals.quarantined,
                "errors": app.errors,
                "per_source": {
                    src: {
                        "applied": c.applied,
                        "conflicts_lost": c.lost,
                        "duplicates": c.duplicates,
                        "skipped": c.skipped,
                        "quarantined": c.quarantined,
                    }
                    for src, c in sorted(app.per_source.items())
                },
            },
            # what the quarantine holds, by reason and source (counts only: public)
            "quarantine": await app.quarantine.held(),
            # re-seed after an absence longer than the tombstone horizon (replicator/reseed.py)
            "reseed": replicator.reseeder.status(),
            "last_error": replicator.last_error,
            "last_error_at": replicator.last_error_at,
        }
        if replicator.reseeder.pending:
            problems.append(f"re-seeding from peers: {replicator.reseeder.reason}")

    reseeding: dict[str, Any] = (
        replicator.reseeder.status()["tables"] if replicator is not None else {}
    )
    tables = [
        {
            "name": t.name,
            "status": t.status,
            "replicas": [{"region": r, "status": s} for r, s in t.replicas],
            "items": t.items,
            "bytes": t.size_bytes,
            "reseed": reseeding.get(t.name),
        }
        for t in await state.tables()
    ]
    counters = region.counters
    writes, noop = region.write_counts()
    # a region of several nodes (regions/nodes.py): which ones live, and which answered
    nodes: dict[str, Any] | None = None
    if region.nodes is not None and region.nodes.shared:
        try:
            live: list[str] | None = await region.nodes.live_ids()
        except Exception:  # this node's database session is down: it says so above
            live = None
        nodes = {"this": region.nodes.node_id, "leader": region.nodes.leading, "live": live}
    return {
        "region": region.name,
        "now_ms": int(now * 1000),
        "health": "ok" if not problems else "degraded",
        "problems": problems,
        "peers": dict(sorted(region.settings.peers.items())),
        "store": {"backend": region.store.backend, "ok": store_ok},
        "nodes": nodes,
        "replication": replication,
        "lag": lag,
        "writes": {
            "total": writes,
            "noop": noop,
            "applied_remote": counters.remote.applied,
            "conflicts_lost": counters.remote.lost,
        },
        "tables": tables,
        "history": [
            {"t_ms": s.t_ms, "writes_per_s": s.writes_per_s, "lag_ms": s.lag_ms}
            for s in history.last(history_s)
        ],
    }
