"""The operator's side of the quarantine (issue 14.3): what a region put aside is
visible on /v1/replication, /metrics and /healthz (counts only), listed, shown,
replayed and dropped with ``globaltables quarantine`` (admin key only), and a
replayed record runs every check again.  Real regions, real Kafka."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from regions.versions import LOGICAL_BITS, wall_ms
from replicator.kafka import change_topic
from replicator.record_auth import ReplicationKeys
from tests.fixtures.kafka import kafka_client_kwargs
from tests.fixtures.regions import REPO, SECRET_KEY, RegionProcess, cli_env, mesh, running
from tests.integration.api.support import http
from tests.integration.replication.helpers import eventually

pytestmark = pytest.mark.integration

EAST, WEST = "quarantine-east", "quarantine-west"
TABLE = "quarantined"
KEYS = ReplicationKeys((SECRET_KEY,))


@pytest.fixture(scope="module")
def pair(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RegionProcess]]:
    # a one-second bound on how far ahead a remote version may be, so that a record
    # refused as "clock-ahead" becomes acceptable within the test
    procs = mesh(
        (EAST, WEST),
        tmp_path_factory.mktemp("quarantine"),
        kafka_bootstrap,
        extra_args=["--max-clock-ahead", "1"],
    )
    with running(procs):
        yield procs


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "globaltables.cli", "quarantine", *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _produce(bootstrap: str, records: list[tuple[bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **kafka_client_kwargs())
    await producer.start()
    try:
        for value, headers in records:
            key = TABLE.encode() + b"\x00" + json.loads(value)["keys"]["id"]["S"].encode()
            await producer.send_and_wait(change_topic(EAST), value, key=key, headers=headers)
    finally:
        await producer.stop()


def _record(table_id: str, key: str, hlc: int) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "table": TABLE,
            "table_id": table_id,
            "event": "INSERT",
            "keys": {"id": {"S": key}},
            "new": {"id": {"S": key}, "secret": {"S": "item data"}},
            "hlc": hlc,
            "origin": EAST,
        }
    ).encode()


def test_list_show_replay_drop(
    pair: dict[str, RegionProcess], kafka_bootstrap: str, tmp_path: Path
) -> None:
    east, west = pair[EAST], pair[WEST]
    # how long one `globaltables quarantine` process takes on this machine now: the
    # margin of the clock-ahead record below is scaled by it (an empty list here)
    started = time.monotonic()
    probe = _cli("list", "--endpoint", west.url, "--json")
    assert probe.returncode == 0, probe.stderr
    cli_s = time.monotonic() - started
    east_db: Any = east.client()
    west_db: Any = west.client()
    east_db.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    east_db.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    table_id = east_db.describe_table(TableName=TABLE)["Table"]["TableId"]
    # far enough ahead that the early replay below still comes more than --max-clock-ahead
    # before it, on a busy machine.  Until that replay: the produce, the genuine write's
    # replication, one or more `list` and the `replay` processes (~2.5 s here, with
    # ~0.8 s per process).  The margin is 8 CLI processes' worth, at least 10 s: >= 4x
    # that here and scaling with a slower machine; the fixed 20 s made the test sleep
    # ~15 s below for nothing
    ahead_ms = wall_ms() + max(10_000, round(8_000 * cli_s))
    future = _record(table_id, "future", ahead_ms << LOGICAL_BITS)
    forged = _record(table_id, "forged", wall_ms() << LOGICAL_BITS)
    mkey = TABLE.encode() + b"\x00future"
    asyncio.run(_produce(kafka_bootstrap, [(future, KEYS.sign(EAST, mkey, future)), (forged, [])]))
    # a genuine write behind them still replicates
    east_db.put_item(TableName=TABLE, Item={"id": {"S": "genuine"}})
    eventually(
        lambda: "Item" in west_db.get_item(TableName=TABLE, Key={"id": {"S": "genuine"}}),
        what="the genuine write in the other region",
    )

    # the bad records may sit in another Kafka partition than the genuine one: wait
    # for them too
    def listed_both() -> bool:
        listed = _cli("list", "--endpoint", west.url, "--json")
        assert listed.returncode == 0, listed.stderr
        found[:] = [json.loads(listed.stdout)]
        return len(found[0]["entries"]) >= 2

    found: list[dict[str, Any]] = []
    eventually(listed_both, what="both bad records quarantined")
    body = found[0]
    by_reason = {e["reason"]: e for e in body["entries"]}
    assert set(by_reason) == {"clock-ahead", "unsigned"}, body
    # replayed while still too early, it stays (first thing: the window is short)
    early = _cli("replay", "--endpoint", west.url, str(by_reason["clock-ahead"]["id"]))
    assert early.returncode == 1 and "clock-ahead" in early.stdout, early.stdout
    assert body["held"]["by_reason"] == {"clock-ahead": 1, "unsigned": 1}
    assert all(e["table"] == TABLE and e["source"] == EAST for e in body["entries"])
    plain = _cli("list", "--endpoint", west.url)
    assert "2 quarantined" in plain.stdout and "clock-ahead" in plain.stdout

    # public status, metrics and health: counts and reasons, never the records
    status = httpx.get(f"{west.url}/v1/replication", timeout=10).json()
    assert status["replication"]["quarantine"]["held"] == 2
    assert "item data" not in json.dumps(status)
    health = httpx.get(f"{west.url}/healthz", timeout=10).json()
    assert health["status"] == "degraded"
    assert any("quarantine growing" in p for p in health["problems"]), health
    assert httpx.get(f"{west.url}/readyz", timeout=10).status_code == 503
    metrics = http().get(f"{west.url}/metrics").text
    assert (
        f'globaltables_replication_quarantined_total{{destination="{WEST}",reason="unsigned",source="{EAST}"}} 1.0'
        in metrics
    ), [m for m in metrics.splitlines() if "quarantined" in m]

    # the entries hold item data: only the admin key reads them
    assert httpx.get(f"{west.url}/v1/quarantine", timeout=10).status_code in (400, 403)
    shown = _cli("show", "--endpoint", west.url, str(by_reason["unsigned"]["id"]))
    assert shown.returncode == 0, shown.stderr
    entry = json.loads(shown.stdout)
    assert entry["value"]["keys"] == {"id": {"S": "forged"}} and entry["headers"] == []

    # a forged record stays refused on replay; a record that was only early applies
    still = _cli("replay", "--endpoint", west.url, str(by_reason["unsigned"]["id"]))
    assert still.returncode == 1 and "still refused: unsigned" in still.stdout, still.stdout
    time.sleep(max(0.0, (ahead_ms - wall_ms()) / 1000) + 0.5)
    replayed = _cli("replay", "--endpoint", west.url, str(by_reason["clock-ahead"]["id"]))
    assert replayed.returncode == 0 and "applied" in replayed.stdout, (
        replayed.stdout + replayed.stderr
    )
    assert west_db.get_item(TableName=TABLE, Key={"id": {"S": "future"}})["Item"]["secret"] == {
        "S": "item data"
    }
    assert "Item" not in west_db.get_item(TableName=TABLE, Key={"id": {"S": "forged"}})
    dropped = _cli("drop", "--endpoint", west.url, str(by_reason["unsigned"]["id"]))
    assert dropped.returncode == 0, dropped.stderr
    after = json.loads(_cli("list", "--endpoint", west.url, "--json").stdout)
    assert after["entries"] == [] and after["held"]["held"] == 0
    missing = _cli("drop", "--endpoint", west.url, str(by_reason["unsigned"]["id"]))
    assert missing.returncode != 0 and "no quarantine entry" in missing.stderr
