"""/dashboard, /v1/deployment and /v1/replication of real regions, and the page
rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.browser import CHROMIUM, QUIET_FLAGS, require_chromium
from tests.fixtures.regions import REPO, RegionProcess, cli_env, mesh, running
from tests.integration.replication.helpers import NAMES, eventually, make_global

pytestmark = pytest.mark.integration

LIBRARY = "/dashboard/static/uPlot.iife.min.js"


def browse(url: str, tmp: Path, *extra: str) -> str:
    """Load ``url`` in headless Chromium, let its scripts run ~8 s, return stdout."""
    profile = tmp / f"profile-{time.monotonic_ns()}"
    require_chromium()
    cmd = [
        CHROMIUM,
        "--headless",
        *QUIET_FLAGS,
        f"--user-data-dir={profile}",
        "--virtual-time-budget=8000",
        *extra,
        url,
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def rendered_dom(url: str, tmp: Path) -> str:
    return browse(url, tmp, "--dump-dom")


def screenshot(url: str, tmp: Path, name: str) -> Path:
    """A screenshot for a person to look at (kept in GLOBALTABLES_SCREENSHOTS if set)."""
    target = Path(os.environ.get("GLOBALTABLES_SCREENSHOTS") or tmp) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    browse(url, tmp, f"--screenshot={target}", "--window-size=1400,1000")
    assert target.stat().st_size > 10_000
    return target


def section(dom: str, element_id: str) -> str:
    start = dom.index(f'id="{element_id}"')
    return dom[start : start + 20_000]


def deployment(url: str) -> dict[str, Any]:
    resp = httpx.get(f"{url}/v1/deployment", params={"history": 60}, timeout=10)
    assert resp.status_code == 200
    return dict(resp.json())


@pytest.fixture(scope="module")
def busy(regions: dict[str, RegionProcess]) -> dict[str, RegionProcess]:
    """The shared three regions, with a global table written in every region."""
    clients = make_global(regions, "dashboard_orders")
    for n in NAMES:
        for i in range(5):
            clients[n].put_item(TableName="dashboard_orders", Item={"id": {"S": f"{n}-{i}"}})

    def lag_everywhere() -> bool:
        dep = deployment(regions["us-east-1"].url)
        return all(
            r["status"] == "up"
            and all(
                r["summary"]["lag"].get(s, {}).get("applied", 0) > 0
                for s in NAMES
                if s != r["name"]
            )
            # table sizes are cached for a few seconds (api/region_state.py)
            and any(t["name"] == "dashboard_orders" for t in r["summary"]["tables"])
            for r in dep["regions"]
        )

    eventually(
        lag_everywhere, timeout=60, what="lag from every source and the table in every region"
    )
    return regions


def test_page_references_the_charting_library_and_it_is_served(
    busy: dict[str, RegionProcess],
) -> None:
    url = busy["eu-west-1"].url
    page = httpx.get(f"{url}/dashboard", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'src="{LIBRARY}"' in page.text
    lib = httpx.get(f"{url}{LIBRARY}", timeout=10)
    assert lib.status_code == 200 and "javascript" in lib.headers["content-type"]
    assert "uPlot" in lib.text and len(lib.text) > 20_000
    for own in (
        "/dashboard/static/dashboard.js",
        "/dashboard/static/dashboard.css",
        "/dashboard/static/uPlot.min.css",
    ):
        assert httpx.get(f"{url}{own}", timeout=10).status_code == 200, own


def test_deployment_lists_every_region_with_its_lag(busy: dict[str, RegionProcess]) -> None:
    dep = deployment(busy["ap-southeast-2"].url)
    assert dep["served_by"] == "ap-southeast-2"
    assert dep["regions"][0]["name"] == "ap-southeast-2"
    assert sorted(r["name"] for r in dep["regions"]) == sorted(NAMES)
    for r in dep["regions"]:
        s = r["summary"]
        assert r["status"] == "up" and s["region"] == r["name"] and s["health"] == "ok", r
        assert set(s["lag"]) == set(NAMES) - {r["name"]}
        for pair in s["lag"].values():
            assert pair["applied"] >= 5 and pair["last_ms"] >= 0 and pair["records_behind"] >= 0
        assert (
            s["replication"]["publisher"]["connected"] and s["replication"]["applier"]["connected"]
        )
        assert s["writes"]["total"] >= 5
        table = next(t for t in s["tables"] if t["name"] == "dashboard_orders")
        assert sorted(x["region"] for x in table["replicas"]) == sorted(NAMES)
        assert table["items"] >= 0
        # the charts' samples: one a second (the first may still be on its way)
        if s["history"]:
            assert {"t_ms", "writes_per_s", "lag_ms"} <= set(s["history"][-1])

    def sampled() -> bool:
        again = deployment(busy["ap-southeast-2"].url)
        return all(r["summary"] and r["summary"]["history"] for r in again["regions"])

    eventually(sampled, timeout=20, what="a history sample from every region")
    assert isinstance(dep["conflicts"], list)


def test_replication_summary_of_one_region(busy: dict[str, RegionProcess]) -> None:
    body = httpx.get(f"{busy['us-east-1'].url}/v1/replication", timeout=10).json()
    assert body["region"] == "us-east-1"
    assert set(body["peers"]) == {"eu-west-1", "ap-southeast-2"}
    assert body["history"] == []  # only on request
    assert set(body["replication"]["applier"]["per_source"]) == {"eu-west-1", "ap-southeast-2"}


def test_browser_renders_the_lag_matrix_and_charts(
    busy: dict[str, RegionProcess], tmp_path: Path
) -> None:
    url = f"{busy['us-east-1'].url}/dashboard"
    dom = rendered_dom(url, tmp_path)
    matrix = section(dom, "lag-matrix")
    numbers = re.findall(r'<div class="lag">(\d[\d,.]*)</div>', matrix)
    assert len(numbers) == 6, matrix[:3000]  # every source -> destination pair
    charts = section(dom, "lag-charts")
    assert "<canvas" in charts and "from eu-west-1" in charts
    assert "<canvas" in section(dom, "throughput-chart")
    assert "dashboard_orders" in section(dom, "tables")
    shot = screenshot(url, tmp_path, "dashboard-three-regions.png")
    assert shot.exists()


def test_the_workload_makes_conflicts_the_page_shows(
    busy: dict[str, RegionProcess], tmp_path: Path
) -> None:
    endpoints = [a for n in NAMES for a in ("--endpoint", f"{n}={busy[n].url}")]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "globaltables.cli",
            "workload",
            *endpoints,
            "--table",
            "workload_orders",
            "--rate",
            "5",
            "--duration",
            "6",
            "--conflict-every",
            "0.5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "created table workload_orders" in out.stdout
    pairs = int(re.search(r"(\d+) same-key writes in two regions", out.stdout).group(1))  # type: ignore[union-attr]
    assert pairs >= 5, out.stdout

    def conflicts() -> list[dict[str, Any]]:
        return [
            c
            for c in deployment(busy["us-east-1"].url)["conflicts"]
            if c["table"] == "workload_orders"
        ]

    # two writes released together always conflict: one of them loses somewhere
    eventually(lambda: len(conflicts()) >= 3, timeout=30, what="conflicts from the workload")
    for c in conflicts():
        # keys are item data: not in the public view the page gets (docs/security.md)
        assert c["keys"] is None and c["redacted"] is True
        assert c["winner"]["origin"] != c["loser"]["origin"] and c["detected_in"] in NAMES
    dom = rendered_dom(f"{busy['us-east-1'].url}/dashboard", tmp_path)
    shown = section(dom, "conflicts")
    shown = shown[: shown.index("</table>")]
    assert "workload_orders" in shown and "(hidden)" in shown and "hot-key" not in shown
    # one row per conflict, however many regions logged it: grouped on what is shown
    # (table, winning and losing version), with the regions that logged it
    ids = re.findall(r'<tr data-conflict="([^"]+)"', shown)
    assert ids and len(ids) == len(set(ids)), ids
    for seen_in in re.findall(r'<td class="seen-in"[^>]*>([^<]*)</td>', shown):
        regions = seen_in.split(", ")
        assert regions == sorted(set(regions)) and set(regions) <= set(NAMES), seen_in


#: the one-down test's own regions: topics and consumer groups are named after the
#: region, so reusing the shared deployment's names on the same broker would mix them
UP_A, UP_B, DOWN = "us-west-2", "eu-central-1", "ap-northeast-1"


@pytest.fixture()
def one_down(kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, RegionProcess]]:
    """Three regions of this test's own (the shared ones must stay up), one stopped."""
    with running(mesh((UP_A, UP_B, DOWN), tmp_path, kafka_bootstrap)) as procs:
        procs[DOWN].stop()
        yield procs


def test_a_region_that_is_down_is_reported_and_the_page_still_renders(
    one_down: dict[str, RegionProcess], tmp_path: Path
) -> None:
    url = one_down[UP_A].url
    started = time.monotonic()
    dep = deployment(url)
    assert time.monotonic() - started < 5, "a down peer must not hold the page up"
    by_name = {r["name"]: r for r in dep["regions"]}
    assert by_name[DOWN]["status"] == "down"
    assert by_name[DOWN]["summary"] is None and by_name[DOWN]["error"]
    assert by_name[UP_B]["status"] == "up" and by_name[UP_A]["status"] == "up"
    assert httpx.get(f"{url}/dashboard", timeout=10).status_code == 200

    dom = rendered_dom(f"{url}/dashboard", tmp_path)
    cards = section(dom, "regions")
    assert re.search(rf'class="card down".*?{DOWN}', cards, re.S), cards[:3000]
    # the two live regions are shown live (ok, or degraded while their peer is away)
    assert cards.count('class="card down"') == 1
    assert cards.count('class="card ok"') + cards.count('class="card degraded"') == 2
    matrix = section(dom, "lag-matrix")
    assert "down" in matrix and UP_B in matrix
    # nothing of the stopped region in the healthy colour
    down_row = re.search(rf"<tr><th>{DOWN}</th>(.*?)</tr>", matrix, re.S)
    assert down_row and 'class="ok"' not in down_row.group(1), matrix[:3000]
    screenshot(f"{url}/dashboard", tmp_path, "dashboard-one-region-down.png")
