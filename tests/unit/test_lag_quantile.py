"""The dashboard's lag p50/p99 (api/summary.py): interpolated inside the histogram
bucket like Prometheus' histogram_quantile, not the bucket's upper bound."""

from __future__ import annotations

import pytest

from bench import replication as bench_replication
from replicator.lag import BUCKETS_MS, LagTracker, histogram_quantile

BOUNDS = (10.0, 20.0, 40.0)


def test_interpolates_linearly_inside_the_bucket() -> None:
    # 10 values <= 10, 10 in (10, 20], 20 in (20, 40], none above
    counts = [10, 10, 20, 0]
    # rank 10: the end of the first bucket
    assert histogram_quantile(0.25, counts, BOUNDS) == pytest.approx(10.0)
    assert histogram_quantile(0.5, counts, BOUNDS) == pytest.approx(20.0)
    # rank 30: half-way in (20, 40]
    assert histogram_quantile(0.75, counts, BOUNDS) == pytest.approx(30.0)
    assert histogram_quantile(0.99, counts, BOUNDS) == pytest.approx(20 + 20 * 19.6 / 20)
    assert histogram_quantile(0.1, counts, BOUNDS) == pytest.approx(4.0)  # first bucket starts at 0


def test_matches_prometheus_on_its_own_example() -> None:
    # Prometheus' histogram_quantile over cumulative {le: count}: the same answer
    cumulative = {10.0: 10, 20.0: 20, 40.0: 40, float("inf"): 40}
    prometheus = bench_replication.histogram_quantile(0.9, cumulative)
    assert histogram_quantile(0.9, [10, 10, 20, 0], BOUNDS) == pytest.approx(prometheus)


def test_empty_buckets_are_skipped_and_an_empty_histogram_is_zero() -> None:
    assert histogram_quantile(0.99, [0, 0, 0, 0], BOUNDS) == 0.0
    # everything in (20, 40]: p50 is its middle, not 40 and not in an empty bucket
    assert histogram_quantile(0.5, [0, 0, 4, 0], BOUNDS) == pytest.approx(30.0)
    assert histogram_quantile(0.0, [0, 0, 4, 0], BOUNDS) == pytest.approx(20.0)


def test_the_inf_bucket_and_the_known_maximum() -> None:
    # above the last bound: Prometheus says the last bound; knowing the max we reach it
    assert histogram_quantile(0.99, [0, 0, 0, 5], BOUNDS) == pytest.approx(40.0)
    assert histogram_quantile(0.5, [0, 0, 0, 4], BOUNDS, max_value=80.0) == pytest.approx(60.0)
    # never above the largest value seen: all of (20, 40] is really 21
    assert histogram_quantile(0.99, [0, 0, 3, 0], BOUNDS, max_value=21.0) == pytest.approx(21.0)
    assert histogram_quantile(0.99, [3, 0, 0, 0], BOUNDS, max_value=0.0) == 0.0


def test_counts_must_match_the_bounds() -> None:
    with pytest.raises(ValueError):
        histogram_quantile(0.5, [1, 2, 3], BOUNDS)


def test_the_trackers_quantiles_are_interpolated_not_bucket_bounds() -> None:
    tracker = LagTracker("us-east-1")
    # a 31 s lag: the tracker's bucket bound is 60,000; the dashboard says 31,000
    tracker.observe("eu-west-1", 31_000.0, now_s=1.0)
    for lag in (110.0, 120.0, 130.0, 240.0):
        tracker.observe("ap-south-1", lag, now_s=1.0)
    # /healthz, /v1/replication and /v1/deployment all read this snapshot
    pairs = tracker.snapshot()
    assert pairs["eu-west-1"]["p99_ms"] == 31_000.0
    assert pairs["eu-west-1"]["p50_ms"] == 31_000.0
    assert pairs["eu-west-1"]["last_ms"] == 31_000.0 and pairs["eu-west-1"]["applied"] == 1
    # four values in (100, 250]: p50 half-way, p99 capped by the max seen
    assert pairs["ap-south-1"]["p50_ms"] == pytest.approx(175.0)
    assert pairs["ap-south-1"]["p99_ms"] == 240.0  # 248.5 interpolated
    assert len(BUCKETS_MS) + 1 == len(tracker.pairs["ap-south-1"].buckets)
