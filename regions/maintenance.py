"""Periodic housekeeping of a region, with or without replication.

Drops tombstones past the horizon (invariant 4), change records past the streams
retention (never one the publisher has yet to ship), deleted tables' streams past
that same retention, conflict-log entries past theirs, and expired transaction
tokens.
"""

from __future__ import annotations

import asyncio
import logging

from regions import transactions
from regions.region import Region

__all__ = ["housekeeping_once", "run_housekeeping"]

log = logging.getLogger("globaltables.housekeeping")


async def housekeeping_once(region: Region) -> tuple[int, int, int]:
    tombs, trimmed = await region.data.housekeeping()
    tokens = await transactions.purge_expired_tokens(region)
    return tombs, trimmed, tokens


async def run_housekeeping(region: Region, interval: float | None = None) -> None:
    """Housekeeping every ``interval`` seconds (default: the region's
    ``housekeeping_period_s``) until cancelled; failures are logged once per run."""
    period = interval if interval is not None else region.settings.housekeeping_period_s
    failing = False
    while True:
        await asyncio.sleep(period)
        try:
            tombs, trimmed, tokens = await housekeeping_once(region)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not failing:
                log.warning("housekeeping failed: %s: %s", exc.__class__.__name__, exc)
            failing = True
            continue
        failing = False
        if tombs or trimmed or tokens:
            log.info(
                "housekeeping: dropped %d tombstones, %d change records, %d transaction tokens",
                tombs,
                trimmed,
                tokens,
            )
