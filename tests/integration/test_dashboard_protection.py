"""The dashboard's data-protection panel and the endpoint behind it (``GET
/v1/protection``, api/protection.py) against a real region process: a backup made
with ``globaltables backup create`` shows in the page (Debian's Chromium, driven by
Playwright), next to the PITR window, the restore, the export and the import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from globaltables.wan.ports import free_port
from tests.fixtures.browser import browser_page, screenshots
from tests.fixtures.regions import REPO, RegionProcess, cli_env
from tests.integration.api.support import signed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("dashboard-protection")
    proc = RegionProcess("us-east-1", free_port(), f"sqlite:///{d}/us-east-1.db", log_dir=d).start()
    yield proc
    proc.stop()


def cli(region: RegionProcess, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "globaltables.cli", *args, "--endpoint", region.url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def protected(region: RegionProcess) -> dict[str, str]:
    """A table with a backup, PITR on, a restore, an export, a good and a failed import."""
    client: Any = region.client()
    client.create_table(
        TableName="dash_orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(25):
        client.put_item(TableName="dash_orders", Item={"id": {"S": f"o{i}"}})
    backup = cli(region, "backup", "create", "--table", "dash_orders", "--name", "dash-nightly")
    arn = backup.strip().splitlines()[-1]
    cli(region, "backup", "restore", arn, "--to", "dash_orders_restored")
    cli(region, "pitr", "enable", "--table", "dash_orders", "--days", "3")
    export = cli(region, "export", "--table", "dash_orders", "--bucket", "dash-exports")
    objects = Path(region.store.removeprefix("sqlite:///") + ".objects")
    (objects / "dash-raw").mkdir(parents=True, exist_ok=True)
    (objects / "dash-raw" / "rows.csv").write_text('id\nr1\n"r2\n')
    cli(region, "import", "--bucket", "dash-raw", "--format", "CSV", "--table", "dash_rows",
        "--key", "id:S")  # fmt: skip
    failing = subprocess.run(
        [sys.executable, "-m", "globaltables.cli", "import", "--endpoint", region.url,
         "--bucket", "dash-missing", "--format", "CSV", "--table", "dash_never", "--key", "id:S"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=cli_env(),
    )  # fmt: skip
    assert failing.returncode == 1, failing.stderr
    return {"backup": arn, "export": export.strip().splitlines()[-1]}


def test_the_endpoint_lists_backups_pitr_restores_exports_and_imports(
    region: RegionProcess, protected: dict[str, str]
) -> None:
    # public, like the dashboard's other data (--public-status, the default)
    public = httpx.get(f"{region.url}/v1/protection", timeout=10)
    assert public.status_code == 200, public.text
    body = public.json()
    assert body["region"] == "us-east-1" and body["objects"]["bucket"] == "globaltables-us-east-1"
    (backup,) = [b for b in body["backups"]["recent"] if b["arn"] == protected["backup"]]
    assert backup["name"] == "dash-nightly" and backup["status"] == "AVAILABLE"
    assert backup["table"] == "dash_orders" and backup["items"] == 25
    pitr = {p["table"]: p for p in body["pitr"]}
    assert pitr["dash_orders"]["enabled"] and pitr["dash_orders"]["period_days"] == 3
    assert pitr["dash_orders"]["earliest_ms"] <= pitr["dash_orders"]["latest_ms"]
    assert not pitr["dash_orders_restored"]["enabled"]
    (restore,) = body["restores"]
    assert restore["table"] == "dash_orders_restored" and restore["status"] == "ACTIVE"
    assert restore["source_backup_arn"] == protected["backup"] and not restore["in_progress"]
    (export,) = body["exports"]["recent"]
    assert export["arn"] == protected["export"] and export["status"] == "COMPLETED"
    assert export["items"] == 25 and export["bucket"] == "dash-exports"
    imports = {i["table"]: i for i in body["imports"]["recent"]}
    rows = imports["dash_rows"]
    assert (rows["status"], rows["imported"], rows["errors"]) == ("COMPLETED", 1, 1)
    assert rows["error_report"]["bucket"] == "globaltables-us-east-1"
    never = imports["dash_never"]
    assert never["status"] == "FAILED" and never["failure_code"] == "S3NoSuchBucket"
    # failure texts may quote data: whole for the admin key only (api/visibility.py)
    assert "dash-missing" not in (never["failure_message"] or "")
    admin = httpx.get(f"{region.url}/v1/protection", auth=signed(), timeout=10).json()
    (whole,) = [i for i in admin["imports"]["recent"] if i["table"] == "dash_never"]
    assert "dash-missing" in whole["failure_message"]


def test_the_panel_shows_a_created_backup(
    region: RegionProcess, protected: dict[str, str], tmp_path: Path
) -> None:
    shots = screenshots()
    with browser_page(height=1100) as page:
        page.goto(f"{region.url}/dashboard")
        row = page.wait_for_selector(
            f'#backups tr[data-backup="{protected["backup"]}"]', timeout=30_000
        )
        assert row is not None
        cells = [c.inner_text() for c in row.query_selector_all("td")]
        assert cells[1:5] == ["dash_orders", "dash-nightly", "AVAILABLE", "25 items"], cells
        pitr = page.inner_text('#pitr tr[data-pitr="dash_orders"]')
        assert "on · 3 days" in pitr and "→" in pitr, pitr
        assert "off" in page.inner_text('#pitr tr[data-pitr="dash_orders_restored"]')
        restore = page.inner_text('#restores tr[data-restore="dash_orders_restored"]')
        assert "backup " in restore and "ACTIVE" in restore and "25 items" in restore
        export = page.inner_text(f'#exports tr[data-export="{protected["export"]}"]')
        assert "full · DYNAMODB_JSON" in export and "COMPLETED" in export
        assert "s3://dash-exports/" in export
        imports = page.inner_text("#imports")
        assert "dash_rows" in imports and "dash_never" in imports and "FAILED" in imports
        failed_import = page.query_selector("#imports tr[title*='S3NoSuchBucket']")
        assert failed_import is not None
        assert "us-east-1" in page.inner_text("#protection-where")
        page.locator("#protection").screenshot(path=str(shots / "dashboard-protection.png"))
        assert not page.script_errors, page.script_errors
