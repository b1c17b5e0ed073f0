"""The real AWS CLI (awscli v1 from the venv) against a region, via --endpoint-url."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, RegionProcess
from tests.integration.api.support import unique

pytestmark = pytest.mark.integration

AWS = Path(sys.executable).with_name("aws")


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        # the region's admin key: every request is SigV4-verified
        AWS_ACCESS_KEY_ID=ADMIN_KEY_ID,
        AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        # never read the developer's own profile, credentials or pager
        AWS_CONFIG_FILE=str(tmp / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "credentials"),
        AWS_PAGER="",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.fixture(scope="module")
def aws(region_proc: RegionProcess, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not AWS.exists():
        pytest.fail(f"the AWS CLI is not installed in the venv ({AWS})")
    env = _env(tmp_path_factory.mktemp("awscli"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(AWS),
                "dynamodb",
                *args,
                "--endpoint-url",
                region_proc.url,
                "--region",
                "us-east-1",
                "--output",
                "json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture(scope="module")
def cli_table(aws: Any, ddb: Any) -> Iterator[str]:
    name = unique("cli")
    out = aws(
        "create-table",
        "--table-name",
        name,
        "--attribute-definitions",
        "AttributeName=p,AttributeType=S",
        "AttributeName=s,AttributeType=N",
        "--key-schema",
        "AttributeName=p,KeyType=HASH",
        "AttributeName=s,KeyType=RANGE",
        "--billing-mode",
        "PAY_PER_REQUEST",
    )
    assert out.returncode == 0, out.stderr
    desc = json.loads(out.stdout)["TableDescription"]
    assert desc["TableName"] == name
    assert desc["TableStatus"] == "CREATING"
    assert desc["KeySchema"] == [
        {"AttributeName": "p", "KeyType": "HASH"},
        {"AttributeName": "s", "KeyType": "RANGE"},
    ]
    yield name
    ddb.delete_table(TableName=name)


def test_put_and_get_item(aws: Any, cli_table: str) -> None:
    item = {
        "p": {"S": "cli"},
        "s": {"N": "1E+3"},
        "b": {"B": "AP8="},
        "l": {"L": [{"N": "01.50"}, {"NULL": True}]},
    }
    put = aws(
        "put-item",
        "--table-name",
        cli_table,
        "--item",
        json.dumps(item),
        "--return-values",
        "ALL_OLD",
    )
    assert put.returncode == 0, put.stderr
    assert put.stdout.strip() in ("", "{}")  # nothing old to return
    got = aws(
        "get-item",
        "--table-name",
        cli_table,
        "--key",
        json.dumps({"p": {"S": "cli"}, "s": {"N": "1000"}}),
    )
    assert got.returncode == 0, got.stderr
    # awscli v1 sends a blob given in JSON as its literal bytes (v2 would base64-decode it),
    # and prints stored bytes base64-encoded
    assert json.loads(got.stdout) == {
        "Item": {
            "p": {"S": "cli"},
            "s": {"N": "1000"},
            "b": {"B": base64.b64encode(b"AP8=").decode()},
            "l": {"L": [{"N": "1.5"}, {"NULL": True}]},
        }
    }


def test_describe_table(aws: Any, cli_table: str) -> None:
    aws(
        "put-item",
        "--table-name",
        cli_table,
        "--item",
        json.dumps({"p": {"S": "d"}, "s": {"N": "1"}}),
    )
    out = aws("describe-table", "--table-name", cli_table)
    assert out.returncode == 0, out.stderr
    table = json.loads(out.stdout)["Table"]
    assert table["TableName"] == cli_table
    assert table["TableStatus"] == "ACTIVE"
    assert table["ItemCount"] >= 1
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TableArn"].endswith(f":table/{cli_table}")


def test_list_tables(aws: Any, cli_table: str) -> None:
    out = aws("list-tables")
    assert out.returncode == 0, out.stderr
    assert cli_table in json.loads(out.stdout)["TableNames"]
    # the CLI pages by itself; a page size of 1 must still list everything
    paged = aws("list-tables", "--page-size", "1")
    assert paged.returncode == 0, paged.stderr
    assert json.loads(paged.stdout)["TableNames"] == json.loads(out.stdout)["TableNames"]


def test_missing_table_fails(aws: Any) -> None:
    out = aws("describe-table", "--table-name", unique("missing"))
    assert out.returncode != 0
    assert "ResourceNotFoundException" in out.stderr
    assert "Traceback" not in out.stderr


def test_validation_error_fails(aws: Any, cli_table: str) -> None:
    out = aws(
        "put-item",
        "--table-name",
        cli_table,
        "--item",
        json.dumps({"p": {"S": "x"}, "s": {"N": "NaN"}}),
    )
    assert out.returncode != 0
    assert "ValidationException" in out.stderr


def test_backups_and_point_in_time_recovery(aws: Any, cli_table: str) -> None:
    """What Terraform's point_in_time_recovery and a backup runbook call, through the CLI."""
    out = aws(
        "update-continuous-backups",
        "--table-name",
        cli_table,
        "--point-in-time-recovery-specification",
        "PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays=7",
    )
    assert out.returncode == 0, out.stderr
    out = aws("describe-continuous-backups", "--table-name", cli_table)
    assert out.returncode == 0, out.stderr
    pitr = json.loads(out.stdout)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert (pitr["PointInTimeRecoveryStatus"], pitr["RecoveryPeriodInDays"]) == ("ENABLED", 7)
    out = aws("create-backup", "--table-name", cli_table, "--backup-name", "cli-backup")
    assert out.returncode == 0, out.stderr
    arn = json.loads(out.stdout)["BackupDetails"]["BackupArn"]
    out = aws("list-backups", "--table-name", cli_table)
    assert out.returncode == 0, out.stderr
    assert arn in {b["BackupArn"] for b in json.loads(out.stdout)["BackupSummaries"]}
    out = aws("describe-backup", "--backup-arn", arn + "0")
    assert out.returncode != 0
    assert "BackupNotFoundException" in out.stderr
    out = aws("delete-backup", "--backup-arn", arn)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["BackupDescription"]["BackupDetails"]["BackupStatus"] == "DELETED"
