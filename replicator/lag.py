"""Replication lag per source -> destination pair.

Lag is measured at apply time as ``now - physical part of the change's HLC``
(docs/architecture.md), so it includes queueing in the source's outbox, Kafka and the
applier.  Clock skew between regions shows up in it; that is deliberate, it is
what a user comparing timestamps would see.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["BUCKETS_MS", "LagTracker", "PairLag", "histogram_quantile"]

#: histogram bucket upper bounds in ms (the last bucket is +Inf)
BUCKETS_MS: tuple[float, ...] = (
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
)


@dataclass
class PairLag:
    last_ms: float = 0.0
    max_ms: float = 0.0
    count: int = 0
    sum_ms: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))
    records_behind: int = 0
    last_applied_at: float = 0.0
    #: highest lag since the last :meth:`LagTracker.take_window_max` (None: nothing applied)
    window_max_ms: float | None = None

    def quantile(self, q: float) -> float:
        """Quantile ``q`` of the lag, interpolated inside its histogram bucket (a bucket's
        upper bound alone read "≤ 60,000" for a lag of 31 s), never above the maximum."""
        return round(histogram_quantile(q, self.buckets, BUCKETS_MS, self.max_ms), 1)


def histogram_quantile(
    q: float,
    counts: Sequence[int],
    bounds: Sequence[float] = BUCKETS_MS,
    max_value: float | None = None,
) -> float:
    """Quantile ``q`` of a histogram, interpolated linearly inside the bucket that holds
    it, as Prometheus' ``histogram_quantile`` does.

    ``counts`` are per bucket (not cumulative): one per upper bound in ``bounds`` (a
    value equal to a bound is in that bucket: Prometheus' ``le``), then the +Inf
    bucket.  The first bucket starts at 0.  A quantile in the +Inf bucket is its lower
    bound (the highest finite one), as in Prometheus, unless the largest value observed
    is known: ``max_value`` is then the +Inf bucket's upper end, and no quantile exceeds
    it (an interpolation would when a bucket's values all sit near its lower end).
    """
    if len(counts) != len(bounds) + 1:
        raise ValueError(f"{len(counts)} bucket counts for {len(bounds)} bounds (+Inf)")
    total = sum(counts)
    if total <= 0:
        return 0.0
    rank = min(max(q, 0.0), 1.0) * total
    below = 0
    for i, n in enumerate(counts):
        if n and below + n >= rank:
            lower = bounds[i - 1] if i > 0 else 0.0
            if i == len(bounds):
                upper = lower if max_value is None else max(max_value, lower)
            else:
                upper = bounds[i]
            value = lower + (upper - lower) * (rank - below) / n
            return value if max_value is None else min(value, max_value)
        below += n
    raise AssertionError("unreachable: the last non-empty bucket holds every rank <= total")


class LagTracker:
    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.pairs: dict[str, PairLag] = {}

    def pair(self, source: str) -> PairLag:
        p = self.pairs.get(source)
        if p is None:
            p = self.pairs[source] = PairLag()
        return p

    def observe(self, source: str, lag_ms: float, now_s: float) -> None:
        p = self.pair(source)
        lag_ms = max(lag_ms, 0.0)
        p.last_ms = lag_ms
        p.max_ms = max(p.max_ms, lag_ms)
        p.count += 1
        p.sum_ms += lag_ms
        p.buckets[bisect.bisect_left(BUCKETS_MS, lag_ms)] += 1
        p.last_applied_at = now_s
        p.window_max_ms = lag_ms if p.window_max_ms is None else max(p.window_max_ms, lag_ms)

    def take_window_max(self, source: str) -> float | None:
        """Highest lag from ``source`` since the previous call, then start a new window
        (the dashboard's lag charts sample this once a second)."""
        p = self.pairs.get(source)
        if p is None:
            return None
        value, p.window_max_ms = p.window_max_ms, None
        return value

    def set_behind(self, source: str, behind: int) -> None:
        self.pair(source).records_behind = behind

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {
            src: {
                "last_ms": p.last_ms,
                "p50_ms": p.quantile(0.5),
                "p99_ms": p.quantile(0.99),
                "max_ms": p.max_ms,
                "applied": p.count,
                "records_behind": p.records_behind,
                "last_applied_at": p.last_applied_at,
            }
            for src, p in sorted(self.pairs.items())
        }
