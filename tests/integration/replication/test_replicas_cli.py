"""``globaltables replicas add/list/remove`` as a user runs them: a subprocess against
real regions."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.fixtures.regions import REPO, RegionProcess, cli_env
from tests.integration.replication.helpers import eventually

pytestmark = pytest.mark.integration

ITEMS = 300


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "globaltables.cli", "replicas", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
    )


def _count(client: Any, table: str) -> int:
    return int(client.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"])


def test_add_list_remove(regions: dict[str, RegionProcess]) -> None:
    east, west = regions["us-east-1"], regions["eu-west-1"]
    east_ddb: Any = east.client()
    west_ddb: Any = west.client()
    table = f"cli-{uuid.uuid4().hex[:8]}"
    east_ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for start in range(0, ITEMS, 25):
        east_ddb.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"id": {"S": f"k{i:04d}"}, "n": {"N": str(i)}}}}
                    for i in range(start, start + 25)
                ]
            }
        )

    out = _cli("list", table, "--endpoint", east.url)
    assert out.returncode == 0, out.stderr
    assert "is not a global table" in out.stdout

    out = _cli("add", table, "eu-west-1", "--endpoint", east.url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(f"{table} is ACTIVE in eu-west-1")
    # tqdm's bar on stderr, named after the copy, finishing at 100%
    assert f"backfill {table} -> eu-west-1" in out.stderr
    assert "100%" in out.stderr
    assert "%/s" not in out.stderr  # percent done, not a rate of percent
    # the copy is complete once the replica is ACTIVE
    assert _count(west_ddb, table) == ITEMS

    out = _cli("list", table, "--endpoint", west.url)
    assert out.returncode == 0, out.stderr
    rows = sorted(line.split() for line in out.stdout.strip().splitlines())
    assert rows == [["eu-west-1", "ACTIVE"], ["us-east-1", "ACTIVE"]]

    # adding it again is refused with the service's message, and a non-zero exit
    out = _cli("add", table, "eu-west-1", "--endpoint", east.url)
    assert out.returncode != 0
    assert "ValidationException" in out.stderr

    out = _cli("remove", table, "eu-west-1", "--endpoint", east.url)
    assert out.returncode == 0, out.stderr
    assert f"replica of {table} in eu-west-1 removed" in out.stdout

    def gone() -> bool:
        try:
            west_ddb.describe_table(TableName=table)
        except west_ddb.exceptions.ResourceNotFoundException:
            return True
        return False

    eventually(gone, what="the replica deleted in eu-west-1")
    out = _cli("list", table, "--endpoint", east.url)
    assert out.returncode == 0, out.stderr
    assert "is not a global table" in out.stdout
    assert _count(east_ddb, table) == ITEMS


def test_errors_are_reported_not_raised(regions: dict[str, RegionProcess]) -> None:
    east = regions["us-east-1"]
    missing = f"cli-missing-{uuid.uuid4().hex[:8]}"
    out = _cli("list", missing, "--endpoint", east.url)
    assert out.returncode != 0
    assert f"table {missing} not found" in out.stderr
    out = _cli("add", missing, "eu-west-1", "--endpoint", east.url)
    assert out.returncode != 0
    assert "ResourceNotFoundException" in out.stderr
    assert "Traceback" not in out.stderr
    # nothing listens there
    out = _cli("list", "whatever", "--endpoint", "http://127.0.0.1:9", timeout=60)
    assert out.returncode != 0
    assert "does not answer like a globaltables region" in out.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "Add, list and remove the replicas of a global table."),
        (("add",), "Add a replica of TABLE in REGION"),
        (("list",), "List the replicas of TABLE with their status."),
        (("remove",), "Remove the replica of TABLE in REGION"),
    ],
)
def test_help(args: tuple[str, ...], expected: str) -> None:
    out = _cli(*args, "--help", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage: ")
    assert expected in out.stdout
    if args:
        assert "--endpoint" in out.stdout
    if args == ("add",):
        assert "--wait / --no-wait" in out.stdout and "--timeout" in out.stdout
