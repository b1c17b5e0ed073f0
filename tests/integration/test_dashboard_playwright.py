"""The dashboard in a real browser, driven by Playwright for Python with Debian's
Chromium (no browser download): a live three-region deployment, then one region
stopped.  Screenshots go to ``test-artifacts/`` (or GLOBALTABLES_SCREENSHOTS)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.regions import REPO, RegionProcess, mesh, running

# region names of this test's own: topics and consumer groups are named after the
# region, so reusing the shared deployment's names on the same broker would mix them
NAMES = ("eu-south-1", "ap-east-1", "ca-west-1")

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"


def _artifacts() -> Path:
    target = Path(os.environ.get("GLOBALTABLES_SCREENSHOTS") or REPO / "test-artifacts")
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture()
def deployment(kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, RegionProcess]]:
    with running(mesh(NAMES, tmp_path, kafka_bootstrap)) as procs:
        yield procs


def test_dashboard_in_chromium_shows_lag_charts_and_a_region_going_down(
    deployment: dict[str, RegionProcess],
) -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")

    clients = {n: deployment[n].client() for n in NAMES}
    home = clients[NAMES[0]]
    home.create_table(
        TableName="browser_orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for r in NAMES[1:]:
        home.update_table(TableName="browser_orders", ReplicaUpdates=[{"Create": {"RegionName": r}}])
    for n in NAMES:
        for i in range(5):
            clients[n].put_item(TableName="browser_orders", Item={"id": {"S": f"{n}-{i}"}})

    shots = _artifacts()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{deployment[NAMES[0]].url}/dashboard")
            # every source -> destination pair shows a number once lag has been measured
            page.wait_for_function(
                "document.querySelectorAll('#lag-matrix .lag').length === 6 && "
                "[...document.querySelectorAll('#lag-matrix .lag')].every(e => /\\d/.test(e.textContent))",
                timeout=60_000,
            )
            # charts render: uPlot draws into canvases of real size
            page.wait_for_function(
                "[...document.querySelectorAll('#lag-charts canvas, #throughput-chart canvas')]"
                ".filter(c => c.width > 100 && c.height > 50).length >= 2",
                timeout=30_000,
            )
            assert "browser_orders" in page.inner_text("#tables")
            page.screenshot(path=str(shots / "playwright-three-regions.png"), full_page=True)

            deployment[NAMES[2]].stop()
            page.wait_for_function(
                "[...document.querySelectorAll('#regions .card.down')]"
                f".some(c => c.textContent.includes('{NAMES[2]}'))",
                timeout=30_000,
            )
            assert len(page.query_selector_all("#regions .card.ok")) == 2
            page.screenshot(path=str(shots / "playwright-one-region-down.png"), full_page=True)
        finally:
            browser.close()
    assert (shots / "playwright-one-region-down.png").stat().st_size > 10_000
