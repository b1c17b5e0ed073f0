"""``GET /metrics``: the region's Prometheus metrics (names in docs/metrics.md).

Two kinds of metric live in one per-app :class:`CollectorRegistry` (never the
process-global default one, so several apps in one process, as in tests, do not
clash):

* request metrics, updated as requests are served (``observe``, called by the
  DynamoDB router);
* state read at scrape time by :class:`_StateCollector`: table sizes, the outbox
  backlog, and the replicator's own counters and lag histograms, which the
  replicator keeps without knowing about Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.samples import Sample

from api.region_state import RegionState, TableRow
from regions.region import Region
from replicator.lag import BUCKETS_MS
from replicator.runner import Replicator

#: one sample of a worker process's request metrics: (family, sample name, labels, value)
WorkerSample = tuple[str, str, dict[str, str], float]

__all__ = ["NO_ERROR", "THROTTLE_CODES", "UNKNOWN_OPERATION", "RegionMetrics", "router"]

#: the ``error`` label of a request that succeeded
NO_ERROR = "none"
#: the ``operation`` label of requests naming no known operation (client-chosen
#: strings must not become label values: each one would be a new time series)
UNKNOWN_OPERATION = "unknown"
#: DynamoDB's throttling errors (regions/throttle.py raises the first two); the REST
#: routes count theirs on ``RegionMetrics.throttled`` directly (api/rest.py)
THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
#: request latency buckets, seconds (a local store answers in well under 10 ms)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The text format would carry every counter's creation time as a series of its
# own (`..._created`), doubling the series for nothing a dashboard uses.  This is a
# process-wide switch of the library; it changes no registry's contents otherwise.
disable_created_metrics()  # type: ignore[no-untyped-call]

router = APIRouter(tags=["operations"])


class RegionMetrics:
    def __init__(
        self,
        region: Region,
        replicator: Replicator | None,
        state: RegionState,
        operations: Iterable[str],
    ) -> None:
        self.operations = frozenset(operations)
        self.registry = CollectorRegistry()
        labels = ["operation", "status", "error"]
        # registered through _WithWorkers, which adds the worker processes' counts
        self.requests = Counter(
            "globaltables_requests",
            "DynamoDB API requests by operation, HTTP status and error code (none on success).",
            labels,
            registry=None,
        )
        self.latency = Histogram(
            "globaltables_request_duration_seconds",
            "Time from receiving a DynamoDB API request to its response.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.throttled = Counter(
            "globaltables_throttled_requests",
            "Requests refused by throttling (ProvisionedThroughputExceeded and the like).",
            registry=None,
        )
        #: in the primary of a region with workers: their request_samples()
        self.worker_samples: Callable[[], list[WorkerSample]] | None = None
        self.registry.register(_WithWorkers(self))
        self.state_collector = _StateCollector(region, replicator)
        self.registry.register(self.state_collector)
        # per-registry process metrics (CPU, memory, fds): the defaults would register
        # themselves in the global registry.  No GCCollector: it hooks every garbage
        # collection of the process, a cost on the request path for little insight.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._state = state
        self._replicator = replicator
        self._children: dict[tuple[str, int, str | None], tuple[Any, Any]] = {}

    def observe(self, op: str, status: int, seconds: float, error: str | None = None) -> None:
        operation = op if op in self.operations else UNKNOWN_OPERATION
        key = (operation, status, error)
        children = self._children.get(key)
        if children is None:
            # labels() costs a lock and a tuple per call: once per label set instead
            # (bounded: known operation names, and statuses and codes of a short list)
            labels = (operation, str(status), error or NO_ERROR)
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if error in THROTTLE_CODES:
            self.throttled.inc()

    def request_samples(self) -> list[WorkerSample]:
        """This process's request metrics as plain values: what a worker process
        reports to the primary, which adds them to its own (globaltables/workers.py)."""
        return [
            (family.name, sample.name, dict(sample.labels), sample.value)
            for metric in (self.requests, self.latency, self.throttled)
            for family in metric.collect()
            for sample in family.samples
        ]

    async def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The scrape body and its content type (OpenMetrics if the scraper asks)."""
        # the async reads happen here; collect() then only formats what it was given
        self.state_collector.tables = await self._state.tables()
        self.state_collector.store_ok = await self._state.store_ok()
        if self._replicator is not None:
            # without a replicator nothing publishes, so there is no backlog to speak of
            self.state_collector.backlog = await self._state.backlog()
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class _WithWorkers:
    """The request metrics of every process serving the region: this one's, plus the
    latest counts each worker process reported (same families, label sets summed)."""

    def __init__(self, owner: RegionMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        owner = self.owner
        extra: dict[str, list[WorkerSample]] = {}
        if owner.worker_samples is not None:
            for entry in owner.worker_samples():
                extra.setdefault(entry[0], []).append(entry)
        for metric in (owner.requests, owner.latency, owner.throttled):
            for family in metric.collect():
                more = extra.get(family.name)
                if more:
                    family.samples = _summed(family.samples, more)
                yield family


def _summed(samples: list[Sample], more: list[WorkerSample]) -> list[Sample]:
    index: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    out = list(samples)
    for i, sample in enumerate(out):
        index[(sample.name, tuple(sorted(sample.labels.items())))] = i
    for _, name, labels, value in more:
        key = (name, tuple(sorted(labels.items())))
        at = index.get(key)
        if at is None:
            index[key] = len(out)
            out.append(Sample(name, labels, value))
        else:
            out[at] = out[at]._replace(value=out[at].value + value)
    return out


class _StateCollector:
    """Everything read at scrape time.  Prometheus' collect() is synchronous, so
    the async values are refreshed by :meth:`RegionMetrics.exposition` first."""

    def __init__(self, region: Region, replicator: Replicator | None) -> None:
        self.region = region
        self.replicator = replicator
        self.tables: list[TableRow] = []
        self.store_ok = True
        self.backlog = 0

    def collect(self) -> Iterator[Metric]:
        region = self.region
        info = GaugeMetricFamily(
            "globaltables_region_info",
            "This region's name and store backend.",
            labels=["region", "backend"],
        )
        info.add_metric([region.name, region.store.backend], 1)
        yield info
        up = GaugeMetricFamily("globaltables_store_up", "1 if the region's store answers, else 0.")
        up.add_metric([], 1 if self.store_ok else 0)
        yield up

        writes, noop = region.write_counts()
        yield _counter(
            "globaltables_writes",
            "Local writes that changed an item (the write throughput).",
            writes,
        )
        yield _counter(
            "globaltables_noop_writes",
            "Local writes that changed nothing (e.g. deleting a missing item).",
            noop,
        )

        items = GaugeMetricFamily(
            "globaltables_table_items",
            "Items in a table (refreshed every few seconds).",
            labels=["table"],
        )
        size = GaugeMetricFamily(
            "globaltables_table_size_bytes",
            "Size of a table's items in bytes (refreshed every few seconds).",
            labels=["table"],
        )
        replica = GaugeMetricFamily(
            "globaltables_table_replica_info",
            "1 per replica of a global table, with its status.",
            labels=["table", "replica", "status"],
        )
        for t in self.tables:
            items.add_metric([t.name], t.items)
            size.add_metric([t.name], t.size_bytes)
            for r, status in t.replicas:
                replica.add_metric([t.name, r, status], 1)
        yield items
        yield size
        yield replica

        if self.replicator is not None:
            yield from self._replication(self.replicator)

    def _replication(self, rep: Replicator) -> Iterator[Metric]:
        dest = self.region.name
        pub, app = rep.publisher, rep.applier
        backlog = GaugeMetricFamily(
            "globaltables_changelog_backlog",
            "Local change records not yet published to Kafka (counted up to 10000).",
        )
        backlog.add_metric([], self.backlog)
        yield backlog
        yield _counter(
            "globaltables_replication_published", "Local changes published to Kafka.", pub.published
        )
        yield _counter(
            "globaltables_kafka_producer_errors",
            "Failures of the publisher's Kafka producer (each followed by a retry).",
            pub.errors,
        )
        yield _counter(
            "globaltables_kafka_consumer_errors",
            "Failures of the applier's Kafka consumer (each followed by a retry).",
            app.errors,
        )
        connected = GaugeMetricFamily(
            "globaltables_kafka_connected",
            "1 if the Kafka client is connected, else 0.",
            labels=["client"],
        )
        connected.add_metric(["producer"], 1 if pub.connected else 0)
        connected.add_metric(["consumer"], 1 if app.connected else 0)
        yield connected

        pair = ["source", "destination"]
        hist = HistogramMetricFamily(
            "globaltables_replication_lag_seconds",
            "Replication lag measured at apply time: now minus the change's HLC time.",
            labels=pair,
        )
        last = GaugeMetricFamily(
            "globaltables_replication_last_lag_seconds",
            "Lag of the last change applied from the source.",
            labels=pair,
        )
        behind = GaugeMetricFamily(
            "globaltables_replication_records_behind",
            "Kafka records of the source not yet consumed (end offset minus position).",
            labels=pair,
        )
        last_at = GaugeMetricFamily(
            "globaltables_replication_last_applied_timestamp_seconds",
            "Unix time of the last change applied from the source (0 if none).",
            labels=pair,
        )
        for src, p in sorted(rep.lag.pairs.items()):
            cumulative, buckets = 0, []
            for bound, n in zip((*BUCKETS_MS, float("inf")), p.buckets, strict=True):
                cumulative += n
                buckets.append(
                    ("+Inf" if bound == float("inf") else repr(bound / 1000), cumulative)
                )
            hist.add_metric([src, dest], buckets, p.sum_ms / 1000)
            last.add_metric([src, dest], p.last_ms / 1000)
            behind.add_metric([src, dest], p.records_behind)
            last_at.add_metric([src, dest], p.last_applied_at)
        yield hist
        yield last
        yield behind
        yield last_at

        applied = CounterMetricFamily(
            "globaltables_replication_applied",
            "Changes from the source applied here (they won LWW).",
            labels=pair,
        )
        lost = CounterMetricFamily(
            "globaltables_replication_conflicts_lost",
            "Changes from the source that lost LWW to a newer local version (see GET /v1/conflicts).",
            labels=pair,
        )
        dup = CounterMetricFamily(
            "globaltables_replication_duplicates",
            "Redelivered changes from the source (equal version: no effect).",
            labels=pair,
        )
        skipped = CounterMetricFamily(
            "globaltables_replication_skipped",
            "Changes from the source for tables this region does not replicate.",
            labels=pair,
        )
        bad = CounterMetricFamily(
            "globaltables_replication_quarantined",
            "Records from the source put aside instead of applied (bad signature, format or "
            "content, or an apply that raised), per reason; see GET /v1/quarantine.",
            labels=[*pair, "reason"],
        )
        for src, counts in sorted(app.per_source.items()):
            applied.add_metric([src, dest], counts.applied)
            lost.add_metric([src, dest], counts.lost)
            dup.add_metric([src, dest], counts.duplicates)
            skipped.add_metric([src, dest], counts.skipped)
        for (src, reason), n in sorted(app.quarantine.counts.items()):
            bad.add_metric([src, dest, reason], n)
        yield applied
        yield lost
        yield dup
        yield skipped
        yield bad


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


@router.get("/metrics", summary="Prometheus metrics of this region", response_class=Response)
async def metrics(request: Request) -> Response:
    body, content_type = await request.app.state.metrics.exposition(
        request.headers.get("accept", "")
    )
    return Response(content=body, headers={"Content-Type": content_type})
