"""The dashboard in a real browser, driven by Playwright for Python with Debian's
Chromium (no browser download): a live three-region deployment, then one region
stopped, then a forged record that the live regions quarantine; then the page's
conflict grouping and plurals on known input.  Screenshots go to ``test-artifacts/`` (or
GLOBALTABLES_SCREENSHOTS)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from replicator.kafka import change_topic
from tests.fixtures.browser import browser_page, require_chromium, screenshots
from tests.fixtures.kafka import kafka_client_kwargs
from tests.fixtures.regions import RegionProcess, mesh, running

# region names of this test's own: topics and consumer groups are named after the
# region, so reusing the shared deployment's names on the same broker would mix them
NAMES = ("eu-south-1", "ap-east-1", "ca-west-1")

pytestmark = pytest.mark.integration


#: dashboard.css: --ok (the healthy green), --bad (the page's error red), --down (grey)
OK_GREEN, ERROR_RED, DOWN_GREY = "rgb(31, 157, 85)", "rgb(208, 52, 44)", "rgb(138, 143, 153)"


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
    require_chromium()

    clients = {n: deployment[n].client() for n in NAMES}
    home = clients[NAMES[0]]
    home.create_table(
        TableName="browser_orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for r in NAMES[1:]:
        home.update_table(
            TableName="browser_orders", ReplicaUpdates=[{"Create": {"RegionName": r}}]
        )
    for n in NAMES:
        for i in range(5):
            clients[n].put_item(TableName="browser_orders", Item={"id": {"S": f"{n}-{i}"}})
    # a local table of one item: "1 item", not "1 items"
    home.create_table(
        TableName="browser_single",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    home.put_item(TableName="browser_single", Item={"id": {"S": "only"}})

    shots = screenshots()
    with browser_page() as page:
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
        # p99 is a value interpolated in the histogram, not a bucket bound ("≤ 500")
        subs = [e.inner_text() for e in page.query_selector_all("#lag-matrix td .sub")]
        assert len(subs) == 6, subs
        for sub in subs:
            assert re.fullmatch(r"p99 \d[\d,.]* · \d+ behind", sub), sub
        assert "≤" not in page.inner_text("#lag-matrix")
        for cell in page.query_selector_all("#lag-matrix td[title]"):
            assert "≤" not in (cell.get_attribute("title") or "")
        # counted nouns agree with their number
        page.wait_for_function(
            "/browser_single\\s+\\S+ · 1 item\\b/.test(document.querySelector('#tables').innerText)"
            " && /15 items/.test(document.querySelector('#tables').innerText)",
            timeout=30_000,
        )
        tables = page.inner_text("#tables")
        assert "browser_orders" in tables and not re.search(r"\b1 items\b", tables), tables
        replicas = {e.get_attribute("title") for e in page.query_selector_all("#tables td[title]")}
        assert replicas == {"3 replicas", "local only"}, replicas
        page.screenshot(path=str(shots / "playwright-three-regions.png"), full_page=True)

        deployment[NAMES[2]].stop()
        page.wait_for_function(
            "[...document.querySelectorAll('#regions .card.down')]"
            f".some(c => c.textContent.includes('{NAMES[2]}'))",
            timeout=30_000,
        )
        assert len(page.query_selector_all("#regions .card.ok")) == 2
        # the DOWN badge is in the page's error colour, not a quiet grey
        badge = _card(page, NAMES[2]).query_selector(".badge")
        assert badge.inner_text().strip().lower() == "down"
        color = badge.evaluate("e => getComputedStyle(e).backgroundColor")
        assert color == ERROR_RED, color
        # what the live regions last applied from the stopped one is stale: greyed,
        # "—", never its last lag in the healthy green
        page.wait_for_function(
            "document.querySelectorAll('#lag-matrix td.stale').length === 2", timeout=30_000
        )
        row = _matrix_row(page, NAMES[2])
        cells = row.query_selector_all("td")
        assert [c.get_attribute("class") for c in cells] == ["stale", "stale", "self"], (
            row.inner_html()
        )
        for cell in cells[:2]:
            lag = cell.query_selector(".lag")
            assert lag.inner_text() == "—"
            assert "source down" in cell.inner_text()
            color = lag.evaluate("e => getComputedStyle(e).color")
            assert color == DOWN_GREY and color != OK_GREEN, color
        # and the stopped region's column: it applies nothing, so no lag at all
        for name in NAMES[:2]:
            assert _matrix_row(page, name).query_selector_all("td")[2].inner_text() == "down"
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
        _check_conflict_grouping_and_plurals(page)
    assert (shots / "playwright-one-region-down.png").stat().st_size > 10_000


def _check_conflict_grouping_and_plurals(page: Any) -> None:
    """The page's own functions, on known input: one row per conflict (however many
    regions logged it), and "1 item" / "2 items"."""

    def conflict(
        winner: int, loser: int, region: str, at_ms: int, table: str = "t"
    ) -> dict[str, Any]:
        # what /v1/deployment gives an unsigned caller (keys hidden)
        return {
            "table": table,
            "keys": None,
            "redacted": True,
            "winner": {"hlc": winner, "origin": "a"},
            "loser": {"hlc": loser, "origin": "b"},
            "at_ms": at_ms,
            "detected_in": region,
        }

    conflicts = [
        conflict(2, 1, "us-east-1", 3_000),
        conflict(2, 1, "eu-west-1", 3_100),  # the same conflict, logged elsewhere
        conflict(2, 1, "ap-east-1", 2_900),
        conflict(4, 3, "us-east-1", 5_000),  # another one: same regions, other versions
        conflict(2, 1, "us-east-1", 4_000, table="u"),  # same versions, other table
    ]
    groups = page.evaluate(
        "cs => groupConflicts(cs).map(g => [g.table, g.winner.hlc, g.loser.hlc, g.seen_in, g.at_ms])",
        conflicts,
    )
    assert groups == [
        ["t", 4, 3, ["us-east-1"], 5_000],
        ["u", 2, 1, ["us-east-1"], 4_000],
        ["t", 2, 1, ["ap-east-1", "eu-west-1", "us-east-1"], 3_100],
    ]
    # rendered and read back in one go: the next poll redraws the real conflicts
    rows = page.evaluate(
        """cs => { renderConflicts(cs);
          return [...document.querySelectorAll('#conflicts tr[data-conflict]')].map(r => {
            const seen = r.querySelector('td.seen-in');
            return [seen.textContent, seen.title, r.querySelector('td.key').textContent];
          }); }""",
        conflicts,
    )
    assert rows == [
        ["us-east-1", "1 region logged it", "(hidden)"],
        ["us-east-1", "1 region logged it", "(hidden)"],
        ["ap-east-1, eu-west-1, us-east-1", "3 regions logged it", "(hidden)"],
    ]
    plurals = page.evaluate(
        "() => [plural(0, 'item'), plural(1, 'item'), plural(2, 'item'), "
        "plural(1500, 'item'), plural(1, 'replica'), plural(3, 'replica')]"
    )
    assert plurals == ["0 items", "1 item", "2 items", "1,500 items", "1 replica", "3 replicas"]


def _matrix_row(page: Any, source: str) -> Any:
    """The lag matrix row of ``source`` (its lag into every destination)."""
    for row in page.query_selector_all("#lag-matrix tr"):
        th = row.query_selector("th")
        if th is not None and th.inner_text() == source and row.query_selector("td"):
            return row
    raise AssertionError(f"no matrix row for {source}")


def _card(page: Any, region: str) -> Any:
    """The region card of ``region`` on the dashboard page."""
    for card in page.query_selector_all("#regions .card"):
        if card.query_selector(".title b").inner_text() == region:
            return card
    raise AssertionError(f"no card for {region}")
