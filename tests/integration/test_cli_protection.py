"""The data-protection commands (``globaltables backup``, ``pitr``, ``export``,
``import``) run as a user runs them: subprocesses against a real region process,
signing with the admin key through the usual AWS variables.  Their output is checked
as text and as ``--json``, their errors (exit status 1, DynamoDB's error code, no
traceback) and their progress bars (``--progress`` on stderr)."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from globaltables.wan.ports import free_port
from tests.fixtures.regions import REPO, RegionProcess, cli_env

pytestmark = pytest.mark.integration

HELP = [
    ["backup"], ["backup", "create"], ["backup", "list"], ["backup", "describe"],
    ["backup", "delete"], ["backup", "restore"],
    ["pitr"], ["pitr", "enable"], ["pitr", "disable"], ["pitr", "describe"],
    ["export"], ["import"],
]  # fmt: skip


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("cli-protection")
    proc = RegionProcess(
        "us-east-1",
        free_port(),
        f"sqlite:///{d}/us-east-1.db",
        log_dir=d,
        # incremental exports of a few seconds (DynamoDB's minimum window is 15 minutes)
        env={"GLOBALTABLES_TEST_EXPORT_MIN_WINDOW_S": "1"},
    ).start()
    yield proc
    proc.stop()


def cli(
    region: RegionProcess | None, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    if region is not None:
        env["GLOBALTABLES_ENDPOINT"] = region.url
    return subprocess.run(
        [sys.executable, "-m", "globaltables.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout


def as_json(out: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(out))


def failed(out: subprocess.CompletedProcess[str], code: str) -> str:
    """A DynamoDB error: status 1, ``Error: Code: message`` on stderr, no traceback."""
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert f"Error: {code}: " in out.stderr, out.stderr
    return out.stderr


def make_table(region: RegionProcess, name: str, items: int) -> Any:
    client: Any = region.client()
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    put(client, name, range(items))
    return client


def put(client: Any, table: str, numbers: range) -> None:
    for i in numbers:
        client.put_item(
            TableName=table,
            Item={"id": {"S": f"k{i:05d}"}, "n": {"N": str(i)}, "s": {"S": "x" * (i % 7)}},
        )


def scan(client: Any, table: str) -> dict[str, Any]:
    items: dict[str, Any] = {}
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            items[item["id"]["S"]] = item
    return items


@pytest.mark.parametrize("command", HELP, ids=" ".join)
def test_help(command: list[str]) -> None:
    out = ok(cli(None, *command, "--help"))
    assert "Usage:" in out
    if command[-1] in ("create", "restore", "export", "import"):
        # the long operations wait by default, can return at once, and print JSON
        assert "--no-wait" in out and "--json" in out and "--progress" in out
    if len(command) == 2 or command in (["export"], ["import"]):
        assert "GLOBALTABLES_ENDPOINT" in out


def test_backup_create_list_describe_restore_delete(region: RegionProcess) -> None:
    client = make_table(region, "cli_orders", 120)
    created = as_json(
        cli(region, "backup", "create", "--table", "cli_orders", "--name", "nightly", "--json")
    )
    details = created["BackupDescription"]["BackupDetails"]
    assert details["BackupStatus"] == "AVAILABLE" and details["BackupName"] == "nightly"
    assert created["BackupDescription"]["SourceTableDetails"]["ItemCount"] == 120
    arn = details["BackupArn"]
    # text output: the name, status, item count and the ARN on its own line
    text = ok(cli(region, "backup", "create", "--table", "cli_orders", "--name", "second"))
    assert re.search(r"^backup second of cli_orders: AVAILABLE, 120 items, ", text, re.M), text
    second = text.strip().splitlines()[-1]
    assert second.startswith("arn:aws:dynamodb:us-east-1:") and "/backup/" in second

    listed = as_json(cli(region, "backup", "list", "--table", "cli_orders", "--json"))
    assert [b["BackupName"] for b in listed["BackupSummaries"]] == ["nightly", "second"]
    table = ok(cli(region, "backup", "list"))
    assert "nightly" in table and "second" in table and arn in table
    assert ok(cli(region, "backup", "list", "--table", "no_such_table")).strip() == (
        "no backups of no_such_table"
    )
    described = ok(cli(region, "backup", "describe", arn))
    assert re.search(r"^items\s+120 items$", described, re.M), described
    assert re.search(r"^key\s+id\(HASH\)$", described, re.M), described

    # the source changes after the backup: the restore has the backup's items
    put(client, "cli_orders", range(120, 150))
    restored = ok(cli(region, "backup", "restore", arn, "--to", "cli_orders_restored"))
    assert "restored cli_orders_restored from backup nightly: ACTIVE, 120 items" in restored
    assert len(scan(client, "cli_orders_restored")) == 120

    # the table name is taken now: DynamoDB's error, exit status 1, no traceback
    failed(
        cli(region, "backup", "restore", arn, "--to", "cli_orders_restored"),
        "TableAlreadyExistsException",
    )

    ok(cli(region, "backup", "delete", second))
    listed = as_json(cli(region, "backup", "list", "--table", "cli_orders", "--json"))
    assert [b["BackupName"] for b in listed["BackupSummaries"]] == ["nightly"]
    gone = arn.rsplit("/", 1)[0] + "/01234567890123-deadbeef"
    failed(cli(region, "backup", "describe", gone), "BackupNotFoundException")


def test_the_backup_survives_its_table(region: RegionProcess) -> None:
    client = make_table(region, "cli_doomed", 40)
    arn = ok(cli(region, "backup", "create", "--table", "cli_doomed")).strip().splitlines()[-1]
    client.delete_table(TableName="cli_doomed")
    out = ok(cli(region, "backup", "restore", arn, "--to", "cli_doomed_back", "--json"))
    table = json.loads(out)["Table"]
    assert table["TableStatus"] == "ACTIVE" and table["RestoreSummary"]["SourceBackupArn"] == arn
    assert len(scan(client, "cli_doomed_back")) == 40


def test_progress_bar_and_no_wait(region: RegionProcess) -> None:
    client = make_table(region, "cli_bar", 300)
    arn = as_json(cli(region, "backup", "create", "--table", "cli_bar", "--json"))[
        "BackupDescription"
    ]["BackupDetails"]["BackupArn"]
    out = cli(region, "backup", "restore", arn, "--to", "cli_bar_copy", "--progress")
    ok(out)
    # tqdm on stderr: the items loaded of the backup's, and the table's status
    assert "restore cli_bar_copy" in out.stderr and "300/300" in out.stderr, out.stderr
    assert "ACTIVE" in out.stderr
    # --no-wait: DynamoDB's first answer, at once
    started = as_json(
        cli(region, "backup", "restore", arn, "--to", "cli_bar_later", "--no-wait", "--json")
    )
    assert started["TableDescription"]["TableName"] == "cli_bar_later"
    assert started["TableDescription"]["TableStatus"] in ("CREATING", "ACTIVE")
    deadline = time.monotonic() + 60
    while client.describe_table(TableName="cli_bar_later")["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, "the restore did not finish"
        time.sleep(0.2)
    # without --progress and no terminal: no bar
    quiet = cli(region, "backup", "restore", arn, "--to", "cli_bar_quiet")
    ok(quiet)
    assert "restore cli_bar_quiet" not in quiet.stderr


def _restore_ledger(region: RegionProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """``globaltables backup restore --table cli_ledger ARGS``."""
    return cli(region, "backup", "restore", "--table", "cli_ledger", *args)


def test_pitr_enable_describe_restore_disable(region: RegionProcess) -> None:
    client = make_table(region, "cli_ledger", 60)
    off = ok(cli(region, "pitr", "describe", "--table", "cli_ledger"))
    assert off.strip() == "point-in-time recovery of cli_ledger: DISABLED"
    failed(
        _restore_ledger(region, "--latest", "--to", "cli_ledger_x"),
        "PointInTimeRecoveryUnavailableException",
    )
    enabled = as_json(
        cli(region, "pitr", "enable", "--table", "cli_ledger", "--days", "7", "--json")
    )
    desc = enabled["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert desc["PointInTimeRecoveryStatus"] == "ENABLED" and desc["RecoveryPeriodInDays"] == 7
    text = ok(cli(region, "pitr", "describe", "--table", "cli_ledger"))
    assert re.match(
        r"point-in-time recovery of cli_ledger: ENABLED, 7 days; restorable from ", text
    ), text

    time.sleep(1.5)
    # the instant between the two batches of writes, to the second
    at = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(seconds=1)
    time.sleep(max(0.0, at.timestamp() - time.time()) + 1.2)
    put(client, "cli_ledger", range(60, 90))
    client.delete_item(TableName="cli_ledger", Key={"id": {"S": "k00000"}})
    time.sleep(1.5)

    past = ok(_restore_ledger(region, "--at", at.isoformat(), "--to", "cli_ledger_then"))
    assert "restored cli_ledger_then from cli_ledger at " in past and "ACTIVE, 60 items" in past, (
        past
    )
    assert sorted(scan(client, "cli_ledger_then")) == [f"k{i:05d}" for i in range(60)]
    latest = ok(_restore_ledger(region, "--latest", "--to", "cli_ledger_now"))
    assert "ACTIVE, 89 items" in latest, latest
    assert scan(client, "cli_ledger_now") == scan(client, "cli_ledger")

    failed(
        _restore_ledger(region, "--at", "2001-01-01T00:00:00Z", "--to", "cli_ledger_y"),
        "InvalidRestoreTimeException",
    )
    # usage errors: status 2, no traceback
    for args in (
        ["backup", "restore", "--to", "x_y_z"],
        ["backup", "restore", "--table", "cli_ledger", "--to", "x_y_z"],
        ["backup", "restore", "--table", "cli_ledger", "--at", "yesterday", "--to", "x_y_z"],
        ["pitr", "enable", "--table", "cli_ledger", "--days", "36"],
    ):
        bad = cli(region, *args)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, (args, bad.stderr)
    off = ok(cli(region, "pitr", "disable", "--table", "cli_ledger"))
    assert off.strip() == "point-in-time recovery of cli_ledger: DISABLED"


def test_errors_name_dynamodbs_error_without_a_traceback(region: RegionProcess) -> None:
    failed(cli(region, "backup", "create", "--table", "no_such_table"), "TableNotFoundException")
    failed(cli(region, "pitr", "describe", "--table", "no_such_table"), "TableNotFoundException")
    nowhere = cli(None, "backup", "list", "--endpoint", f"http://127.0.0.1:{free_port()}")
    assert nowhere.returncode == 1 and "Traceback" not in nowhere.stderr
    assert "does not answer like a globaltables region" in nowhere.stderr


def _objects(region: RegionProcess) -> Path:
    """The region's object store without S3: files next to its SQLite store
    (docs/regions.md, "Backups in S3")."""
    return Path(region.store.removeprefix("sqlite:///") + ".objects")


def test_export_full_and_incremental_then_import(region: RegionProcess) -> None:
    client = make_table(region, "cli_events", 80)
    failed(
        cli(region, "export", "--table", "cli_events", "--bucket", "cli-exports"),
        "PointInTimeRecoveryUnavailableException",
    )
    ok(cli(region, "pitr", "enable", "--table", "cli_events"))
    window = as_json(cli(region, "pitr", "describe", "--table", "cli_events", "--json"))
    start = window["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "EarliestRestorableDateTime"
    ]

    full = as_json(
        cli(
            region,
            "export",
            "--table",
            "cli_events",
            "--bucket",
            "cli-exports",
            "--prefix",
            "full",
            "--json",
        )
    )["ExportDescription"]
    assert full["ExportStatus"] == "COMPLETED" and full["ItemCount"] == 80
    assert full["ExportType"] == "FULL_EXPORT" and full["ExportFormat"] == "DYNAMODB_JSON"
    export_id = full["ExportArn"].rsplit("/", 1)[1]
    assert full["ExportManifest"] == f"full/AWSDynamoDB/{export_id}/manifest-summary.json"

    # the export imports back into an equal table
    out = ok(
        cli(
            region, "import", "--bucket", "cli-exports", "--prefix", f"full/AWSDynamoDB/{export_id}/data",
            "--format", "DYNAMODB_JSON", "--compression", "GZIP", "--table", "cli_events_copy", "--key", "id:S",
        )
    )  # fmt: skip
    assert "imported 80 items into cli_events_copy (80 items processed, 0 errors, " in out, out
    assert scan(client, "cli_events_copy") == scan(client, "cli_events")

    # incremental: what changed in a window, ION this time, with a bar
    put(client, "cli_events", range(80, 95))
    time.sleep(1.5)
    end = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    inc = cli(
        region, "export", "--table", "cli_events", "--bucket", "cli-exports", "--prefix", "inc",
        "--format", "ION", "--incremental", "--from", start, "--to", end.isoformat(),
        "--view", "NEW_IMAGE", "--progress",
    )  # fmt: skip
    text = ok(inc)
    assert re.search(
        r"^export of cli_events: COMPLETED, 15 items \(INCREMENTAL_EXPORT, ION\)$", text, re.M
    ), text
    assert re.search(
        r"^manifest: s3://cli-exports/inc/AWSDynamoDB/[^/]+/manifest-summary\.json$", text, re.M
    )
    assert "export cli_events" in inc.stderr and "COMPLETED" in inc.stderr, inc.stderr
    bad = cli(
        region, "export", "--table", "cli_events", "--bucket", "b", "--incremental", "--from", start
    )
    assert bad.returncode == 2 and "--incremental needs --from and --to" in bad.stderr

    # --no-wait: the export's ARN at once
    started = as_json(
        cli(
            region,
            "export",
            "--table",
            "cli_events",
            "--bucket",
            "cli-exports",
            "--no-wait",
            "--json",
        )
    )["ExportDescription"]
    assert started["ExportStatus"] in ("IN_PROGRESS", "COMPLETED")
    deadline = time.monotonic() + 60
    while (
        client.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]["ExportStatus"]
        != "COMPLETED"
    ):
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.2)


def _import_csv(
    region: RegionProcess, bucket: str, table: str, key: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``globaltables import --bucket BUCKET --format CSV --table TABLE --key KEY ARGS``."""
    return cli(
        region, "import", "--bucket", bucket, "--format", "CSV", "--table", table, "--key", key,
        *args,
    )  # fmt: skip


def test_csv_import_counts_bad_lines_and_names_the_report(region: RegionProcess) -> None:
    # an object of the region's own object store (no S3: a file next to the store)
    raw = _objects(region) / "cli-raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "users.csv").write_text('id;age\nu1;31\nu2;42\n"u3;oops\n')
    out = _import_csv(
        region, "cli-raw", "cli_users", "id:S",
        "--prefix", "users.csv", "--delimiter", ";", "--progress",
    )  # fmt: skip
    text = ok(out)
    assert "imported 2 items into cli_users (3 items processed, 1 error, " in text, text
    report = re.search(r"^error report \(.*\): s3://([^/]+)/(\S+)$", text, re.M)
    assert report, text
    lines = (_objects(region) / report[1] / report[2]).read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["itemS3Pointer"]["key"] == "users.csv"
    assert "import cli_users" in out.stderr and "2 imported, 1 error" in out.stderr, out.stderr
    client: Any = region.client()
    assert sorted(scan(client, "cli_users")) == ["u1", "u2"]

    # a bucket that does not exist: the import FAILED, DynamoDB's failure code
    missing = _import_csv(region, "cli-no-such-bucket", "cli_users_2", "id:S")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "import into cli_users_2: FAILED: S3NoSuchBucket" in missing.stderr, missing.stderr
    # and the table name is taken: refused at once
    failed(
        _import_csv(region, "cli-raw", "cli_users", "id:S"),
        "ResourceInUseException",
    )
    bad = _import_csv(region, "cli-raw", "t_t_t", "id")
    assert bad.returncode == 2 and "NAME:TYPE" in bad.stderr


def test_the_docs_walkthrough_runs(tmp_path: Path) -> None:
    """docs/data-protection.md's command-line walkthrough and its boto3 block, as
    printed but for the port (and ``.venv/bin`` being this checkout's), in a scratch
    directory."""
    if shutil.which("jq") is None:
        pytest.skip("the walkthrough uses jq (apt-get install jq)")
    text = (REPO / "docs" / "data-protection.md").read_text()
    section = text.split("\n## From the command line\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, re.S | re.M)
    shell = next(code for lang, code in blocks if lang == "bash")
    python = next(code for lang, code in blocks if lang == "python")
    port = free_port()
    shell = re.sub(r"(127\.0\.0\.1:|--port )8000\b", rf"\g<1>{port}", shell)
    shell = shell.replace(".venv/bin/", f"{Path(sys.executable).parent}/")
    (tmp_path / "boto3_export.py").write_text(python.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    # the boto3 block runs against the walkthrough's region, before it is stopped
    shell = shell.replace("\nkill %1", f"\n{sys.executable} boto3_export.py\nkill %1")
    (tmp_path / "walk.sh").write_text(shell)
    env = {k: v for k, v in cli_env().items() if not k.startswith(("AWS_", "GLOBALTABLES_"))}
    proc = subprocess.Popen(
        ["bash", "-e", "walk.sh"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        try:  # the region, if the block did not get to its own `kill`
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log = (
        (tmp_path / ".data" / "protect.log").read_text()[-3000:]
        if (tmp_path / ".data" / "protect.log").exists()
        else ""
    )
    assert proc.returncode == 0, stdout + log
    for line in (
        "restored Music-before-deploy from backup before-deploy: ACTIVE, 3 items",
        "export of Music: COMPLETED, 2 items (FULL_EXPORT, DYNAMODB_JSON)",
        "imported 2 items into Music-copy (2 items processed, 0 errors, ",
    ):
        assert line in stdout, stdout
    assert re.search(r"^COMPLETED 2 boto3/AWSDynamoDB/\S+/manifest-summary\.json$", stdout, re.M), (
        stdout
    )
