"""The dashboard in a real browser, driven by Playwright for Python with Debian's
Chromium (no browser download): a live three-region deployment, then one region
stopped, then a forged record that the live regions quarantine.  Screenshots go to
``test-artifacts/`` (or GLOBALTABLES_SCREENSHOTS)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from replicator.kafka import change_topic
from tests.fixtures.kafka import kafka_client_kwargs
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


async def _produce_unsigned(bootstrap: str, source: str) -> None:
    """One record without a signature into ``source``'s change topic: every region
    reading it puts it aside as "unsigned" (replicator/quarantine.py)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **kafka_client_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(change_topic(source), b'{"v":1}', key=b"forged")
    finally:
        await producer.stop()


@pytest.fixture()
def deployment(kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, RegionProcess]]:
    with running(mesh(NAMES, tmp_path, kafka_bootstrap)) as procs:
        yield procs


def test_dashboard_in_chromium_shows_lag_charts_a_region_going_down_and_quarantine(
    deployment: dict[str, RegionProcess], kafka_bootstrap: str
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
            # an empty quarantine is a plain "0", nothing in the warning colour
            for name in NAMES[:2]:
                assert _card(page, name).query_selector(".quarantine").inner_text() == "0"
            assert not page.query_selector_all(
                "#regions .quarantine.warn, #regions .quarantine-reasons"
            )
            page.screenshot(path=str(shots / "playwright-one-region-down.png"), full_page=True)

            # a forged (unsigned) record in the stopped region's topic: both live
            # regions read that topic, so each puts it aside and its card says so
            # (in a thread of its own: Playwright's sync API runs an event loop in this one)
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, _produce_unsigned(kafka_bootstrap, NAMES[2])).result()
            page.wait_for_function(
                "[...document.querySelectorAll('#regions .card')]"
                f".filter(c => ['{NAMES[0]}', '{NAMES[1]}'].includes(c.querySelector('.title b').textContent))"
                ".every(c => c.querySelector('.quarantine.warn')?.textContent === '1')",
                timeout=30_000,
            )
            for name in NAMES[:2]:
                card = _card(page, name)
                count = card.query_selector(".quarantine.warn")
                assert count.inner_text() == "1"
                assert "unsigned 1" in (count.get_attribute("title") or "")
                assert f"{NAMES[2]} 1" in (count.get_attribute("title") or "")
                reasons = card.query_selector(".quarantine-reasons").inner_text()
                assert reasons.split() == ["unsigned", "1"], reasons
                # the warning colour, not the page's ink
                color = count.evaluate("e => getComputedStyle(e).color")
                assert color == "rgb(201, 138, 0)", color
            # and under the pairs' lag: records from the stopped region put aside
            assert page.inner_text("#lag-matrix").count("1 quarantined") == 2
            assert "forged" not in page.inner_text("#regions")  # counts only, never the record
            page.screenshot(path=str(shots / "playwright-quarantine.png"), full_page=True)
        finally:
            browser.close()
    assert (shots / "playwright-one-region-down.png").stat().st_size > 10_000


def _card(page: Any, region: str) -> Any:
    """The region card of ``region`` on the dashboard page."""
    for card in page.query_selector_all("#regions .card"):
        if card.query_selector(".title b").inner_text() == region:
            return card
    raise AssertionError(f"no card for {region}")
