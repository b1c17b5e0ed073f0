"""/metrics of real region processes, read with Prometheus' own parser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.fixtures.regions import REPO, RegionProcess, free_port
from tests.integration.api.support import signed
from tests.integration.replication.helpers import NAMES, eventually, make_global

pytestmark = pytest.mark.integration

DOCS = REPO / "docs" / "metrics.md"


def scrape(url: str) -> dict[str, Any]:
    """family name -> Metric, as Prometheus would parse it."""
    resp = httpx.get(f"{url}/metrics", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=")
    return {f.name: f for f in text_string_to_metric_families(resp.text)}


def samples(families: dict[str, Any], name: str, **labels: str) -> list[Sample]:
    return [
        s for s in families[name].samples if all(s.labels.get(k) == v for k, v in labels.items())
    ]


def value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    found = [s for s in samples(families, family, **labels) if s.name == sample]
    assert len(found) == 1, (sample, labels, families[family].samples)
    return float(found[0].value)


def documented_names() -> set[str]:
    return set(re.findall(r"^\| `(globaltables_[a-z_]+)`", DOCS.read_text(), re.MULTILINE))


@pytest.fixture(scope="module")
def lone_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    """A region of its own, so request counts are exactly this module's."""
    d = tmp_path_factory.mktemp("metrics")
    proc = RegionProcess("us-east-1", free_port(), f"sqlite:///{d}/m.db", log_dir=d).start()
    yield proc
    proc.stop()


def test_requests_latency_and_tables_after_boto3_traffic(lone_region: RegionProcess) -> None:
    ddb: Any = lone_region.client()
    ddb.create_table(
        TableName="metered",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(7):
        ddb.put_item(TableName="metered", Item={"id": {"S": f"k{i}"}, "pad": {"S": "x" * 100}})
    ddb.get_item(TableName="metered", Key={"id": {"S": "k1"}})
    with pytest.raises(ClientError):
        ddb.get_item(TableName="no-such-table", Key={"id": {"S": "k1"}})
    # a made-up operation must not become a label value of its own
    httpx.post(
        f"{lone_region.url}/",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.MadeUpOperation",
            "Content-Type": "application/x-amz-json-1.0",
        },
        content=b"{}",
        auth=signed(),
    )

    m = scrape(lone_region.url)
    req = "globaltables_requests"
    assert m[req].type == "counter"
    assert (
        value(
            m, req, "globaltables_requests_total", operation="PutItem", status="200", error="none"
        )
        == 7
    )
    assert (
        value(
            m,
            req,
            "globaltables_requests_total",
            operation="CreateTable",
            status="200",
            error="none",
        )
        == 1
    )
    assert (
        value(
            m,
            req,
            "globaltables_requests_total",
            operation="GetItem",
            status="400",
            error="ResourceNotFoundException",
        )
        == 1
    )
    assert (
        value(
            m,
            req,
            "globaltables_requests_total",
            operation="unknown",
            status="400",
            error="UnknownOperationException",
        )
        == 1
    )
    assert not samples(m, req, operation="MadeUpOperation")

    lat = "globaltables_request_duration_seconds"
    assert m[lat].type == "histogram"
    put = {"operation": "PutItem", "status": "200", "error": "none"}
    assert value(m, lat, f"{lat}_count", **put) == 7
    assert value(m, lat, f"{lat}_bucket", le="+Inf", **put) == 7
    assert 0 < value(m, lat, f"{lat}_sum", **put) < 7 * 10
    buckets = [s for s in samples(m, lat, **put) if s.name.endswith("_bucket")]
    assert len(buckets) > 5 and all("le" in s.labels for s in buckets)

    # scrape-time state; the table sizes are cached for a few seconds
    eventually(
        lambda: (
            value(
                scrape(lone_region.url),
                "globaltables_table_items",
                "globaltables_table_items",
                table="metered",
            )
            == 7
        ),
        timeout=15,
    )
    m = scrape(lone_region.url)
    assert (
        value(m, "globaltables_table_size_bytes", "globaltables_table_size_bytes", table="metered")
        > 700
    )
    assert value(m, "globaltables_writes", "globaltables_writes_total") == 7
    assert value(m, "globaltables_throttled_requests", "globaltables_throttled_requests_total") == 0
    assert value(m, "globaltables_store_up", "globaltables_store_up") == 1
    assert value(m, "globaltables_region_info", "globaltables_region_info", region="us-east-1") == 1
    # a region without Kafka has no replication families
    assert "globaltables_replication_lag_seconds" not in m


def test_names_follow_prometheus_conventions(lone_region: RegionProcess) -> None:
    for name, family in scrape(lone_region.url).items():
        if name.startswith(("process_", "python_")):
            continue  # prometheus_client's own, per registry
        assert name.startswith("globaltables_"), name
        if family.type == "counter":
            assert all(s.name in (f"{name}_total", f"{name}_created") for s in family.samples), name
        assert not re.search(r"_(ms|milliseconds|kb|mb)(_|$)", name), f"{name}: use base units"


def test_lag_and_apply_counters_per_source(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "metrics_pairs")
    for n in NAMES:
        for i in range(5):
            clients[n].put_item(TableName="metrics_pairs", Item={"id": {"S": f"{n}-{i}"}})

    def applied_everywhere() -> bool:
        for dest in NAMES:
            m = scrape(regions[dest].url)
            for src in NAMES:
                if src == dest:
                    continue
                labels = {"source": src, "destination": dest}
                applied = value(
                    m,
                    "globaltables_replication_applied",
                    "globaltables_replication_applied_total",
                    **labels,
                )
                if applied < 5:
                    return False
        return True

    eventually(
        applied_everywhere, timeout=60, what="5 applied changes from every source in every region"
    )
    for dest in NAMES:
        m = scrape(regions[dest].url)
        lag = "globaltables_replication_lag_seconds"
        assert m[lag].type == "histogram"
        sources = {s.labels["source"] for s in m[lag].samples}
        assert sources == set(NAMES) - {dest}
        for src in sources:
            pair = {"source": src, "destination": dest}
            assert value(m, lag, f"{lag}_count", **pair) >= 5
            assert value(m, lag, f"{lag}_bucket", le="+Inf", **pair) == value(
                m, lag, f"{lag}_count", **pair
            )
            assert (
                value(
                    m,
                    "globaltables_replication_last_lag_seconds",
                    "globaltables_replication_last_lag_seconds",
                    **pair,
                )
                >= 0
            )
            assert (
                value(
                    m,
                    "globaltables_replication_records_behind",
                    "globaltables_replication_records_behind",
                    **pair,
                )
                >= 0
            )
            # quarantined (per reason) is checked in replication/test_quarantine.py
            for counter in ("skipped", "conflicts_lost", "duplicates"):
                family = f"globaltables_replication_{counter}"
                assert value(m, family, f"{family}_total", **pair) >= 0
        assert (
            value(
                m, "globaltables_replication_published", "globaltables_replication_published_total"
            )
            >= 5
        )
        assert value(m, "globaltables_changelog_backlog", "globaltables_changelog_backlog") >= 0
        assert (
            value(
                m, "globaltables_kafka_producer_errors", "globaltables_kafka_producer_errors_total"
            )
            >= 0
        )
        assert (
            value(
                m, "globaltables_kafka_consumer_errors", "globaltables_kafka_consumer_errors_total"
            )
            >= 0
        )
        assert (
            value(
                m, "globaltables_kafka_connected", "globaltables_kafka_connected", client="consumer"
            )
            == 1
        )


def test_docs_list_exactly_the_metrics_a_region_exports(regions: dict[str, RegionProcess]) -> None:
    # as a query names them: counters with their _total
    exported = {
        f"{name}_total" if family.type == "counter" else name
        for name, family in scrape(regions["us-east-1"].url).items()
        if name.startswith("globaltables_")
    }
    assert documented_names() == exported, Path(DOCS).name
