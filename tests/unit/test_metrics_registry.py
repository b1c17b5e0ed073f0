"""Each app has its own metrics registry: two regions in one process do not clash."""

from __future__ import annotations

from pathlib import Path

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.metrics import NO_ERROR, UNKNOWN_OPERATION
from regions.region import Region
from regions.settings import RegionSettings


def _app(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    return create_app(
        Region(RegionSettings(name=name, store_url=f"sqlite:///{tmp_path}/{name}.db"))
    )


def test_two_apps_in_one_process_keep_separate_counts(tmp_path: Path) -> None:
    east, west = _app(tmp_path, "us-east-1"), _app(tmp_path, "eu-west-1")
    east.state.metrics.observe("PutItem", 200, 0.01)
    east.state.metrics.observe("PutItem", 200, 0.02)
    west.state.metrics.observe("PutItem", 400, 0.01, "ValidationException")
    west.state.metrics.observe("NotAnOperation", 400, 0.01, "UnknownOperationException")

    def requests(app) -> dict[tuple[str, str, str], float]:  # type: ignore[no-untyped-def]
        text = prometheus_client.generate_latest(app.state.metrics.registry).decode()
        fam = {f.name: f for f in text_string_to_metric_families(text)}["globaltables_requests"]
        return {
            (s.labels["operation"], s.labels["status"], s.labels["error"]): s.value
            for s in fam.samples
            if s.name.endswith("_total")
        }

    assert requests(east) == {("PutItem", "200", NO_ERROR): 2}
    assert requests(west) == {
        ("PutItem", "400", "ValidationException"): 1,
        (UNKNOWN_OPERATION, "400", "UnknownOperationException"): 1,
    }
    # nothing of ours in the process-global default registry
    default = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "globaltables_" not in default


def test_throttling_errors_count_as_throttled(tmp_path: Path) -> None:
    app = _app(tmp_path, "us-east-1")
    app.state.metrics.observe("PutItem", 400, 0.01, "ProvisionedThroughputExceededException")
    app.state.metrics.observe("PutItem", 400, 0.01, "ValidationException")
    text = prometheus_client.generate_latest(app.state.metrics.registry).decode()
    assert "globaltables_throttled_requests_total 1.0" in text
