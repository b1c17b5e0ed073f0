"""Rotating the replication key with rolling restarts (docs/security.md): at every step
one region is down at most, the other keeps taking writes, and every write of either
region reaches the other with nothing quarantined.  A region given a key nobody signs
with quarantines what it reads ("unknown-key"); fixed and replayed, those apply."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.regions import REPO, RegionProcess, cli_env, mesh, running
from tests.integration.replication.helpers import eventually

pytestmark = pytest.mark.integration

EAST, WEST = "rotate-east", "rotate-west"
TABLE = "rotated"
OLD = "old-replication-key-" + "a" * 16
NEW = "new-replication-key-" + "b" * 16
STRAY = "a-key-nobody-signs-with-" + "c" * 16


@pytest.fixture(scope="module")
def pair(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RegionProcess]]:
    procs = mesh(
        (EAST, WEST),
        tmp_path_factory.mktemp("rotation"),
        kafka_bootstrap,
        env={"GLOBALTABLES_REPLICATION_KEYS": OLD},
    )
    with running(procs):
        yield procs


def _restart(proc: RegionProcess, keys: str) -> None:
    proc.stop()
    proc.env["GLOBALTABLES_REPLICATION_KEYS"] = keys
    proc.start()


def _write_and_see(pair: dict[str, RegionProcess], src: str, dst: str) -> None:
    key = f"{src}-{uuid.uuid4().hex[:8]}"
    pair[src].client().put_item(TableName=TABLE, Item={"id": {"S": key}})  # type: ignore[attr-defined]
    reader: Any = pair[dst].client()
    eventually(
        lambda: "Item" in reader.get_item(TableName=TABLE, Key={"id": {"S": key}}),
        what=f"{key} in {dst}",
    )


def _cli(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "globaltables.cli", "quarantine", *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


def _quarantine(proc: RegionProcess) -> dict[str, Any]:
    return dict(json.loads(_cli("list", "--json", "--endpoint", proc.url)))


def test_rolling_key_rotation(pair: dict[str, RegionProcess]) -> None:
    east, west = pair[EAST], pair[WEST]
    east.client().create_table(  # type: ignore[attr-defined]
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    east.client().update_table(  # type: ignore[attr-defined]
        TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": WEST}}]
    )
    _write_and_see(pair, EAST, WEST)
    # 1. accept the new key everywhere (the old one still signs)
    # 2. sign with the new key everywhere (the old one still verifies records in flight)
    # 3. drop the old key
    for keys in (f"{OLD},{NEW}", f"{NEW},{OLD}", NEW):
        for proc, other in ((east, WEST), (west, EAST)):
            _restart(proc, keys)
            # the region that stayed up kept going; both directions work at every step
            _write_and_see(pair, other, proc.name)
            _write_and_see(pair, proc.name, other)
    for proc in (east, west):
        assert _quarantine(proc)["held"]["held"] == 0

    # a region left with a key nobody signs with refuses what it reads, visibly
    _restart(west, STRAY)
    key = f"stray-{uuid.uuid4().hex[:8]}"
    east.client().put_item(TableName=TABLE, Item={"id": {"S": key}})  # type: ignore[attr-defined]
    eventually(lambda: _quarantine(west)["held"]["held"] == 1, what="the record quarantined")
    entry = _quarantine(west)["entries"][0]
    assert entry["reason"] == "unknown-key"
    assert "Item" not in west.client().get_item(TableName=TABLE, Key={"id": {"S": key}})  # type: ignore[attr-defined]
    # once its keys are fixed, the entry replays
    _restart(west, NEW)
    assert "applied" in _cli("replay", str(entry["id"]), "--endpoint", west.url)
    assert "Item" in west.client().get_item(TableName=TABLE, Key={"id": {"S": key}})  # type: ignore[attr-defined]
