"""A hostile Kafka: forged, malformed and far-future records in every region's topic
while three regions take a write load (issue 14, invariant 9).

The attacker here holds the broker's admin credentials (so Kafka's own ACLs do not
stop it; tests/integration/test_kafka_acl.py covers those) and, for the records
that test the content checks, even the deployment's replication key, as a
compromised or buggy region would.  Whatever it sends: nothing is applied, every
record is quarantined in every region that reads the topic, with its reason, no
client request fails, the clock is not dragged ahead, genuine replication keeps
its lag and ``globaltables verify`` finds the replicas identical.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from regions.auth_settings import AuthSettings
from regions.versions import LOGICAL_BITS, Version, physical_ms, wall_ms
from replicator.kafka import change_topic
from replicator.record_auth import KID_HEADER, MAC_HEADER, ReplicationKeys
from replicator.signing import for_admin
from tests.chaos.conftest import Params
from tests.chaos.deployment import NAMES, Deployment
from tests.chaos.load import Ledger, LoadClient, wait_for
from tests.chaos.test_faults import _settle, _table
from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, SECRET_KEY
from tests.integration.replication.helpers import row_versions

pytestmark = pytest.mark.integration

#: the deployment's real replication key (no GLOBALTABLES_REPLICATION_KEYS: the secret key)
REAL = ReplicationKeys((SECRET_KEY,))
STRANGER = ReplicationKeys(("a-key-no-region-of-this-deployment-has",))


@dataclass(frozen=True)
class Hostile:
    name: str
    reason: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def _body(table: str, table_id: str, origin: str, key: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "table": table,
        "table_id": table_id,
        "event": "INSERT",
        "keys": {"id": {"S": key}},
        "new": {"id": {"S": key}, "v": {"S": "evil"}},
        "hlc": wall_ms() << LOGICAL_BITS,
        "origin": origin,
    }
    body.update(over)
    return body


def _records(table: str, table_id: str, owner: str, other: str) -> list[Hostile]:
    """One of every kind of bad record for ``owner``'s topic; each names its own key
    (``hostile-<owner>-<n>``) so that "nothing applied" is a plain lookup."""
    out: list[Hostile] = []

    def add(
        name: str, reason: str, body: Any, sign: str = "real", raw: bytes | None = None
    ) -> None:
        key = f"hostile-{owner}-{len(out)}"
        value = raw if raw is not None else json.dumps(body(key)).encode()
        mkey = table.encode() + b"\x00" + key.encode()
        if sign == "real":
            headers = REAL.sign(owner, mkey, value)
        elif sign == "stranger":
            headers = STRANGER.sign(owner, mkey, value)
        elif sign == "other-topic":
            headers = REAL.sign(other, mkey, value)
        elif sign == "garbled":
            kid = dict(REAL.sign(owner, mkey, value))[KID_HEADER]
            headers = [(KID_HEADER, kid), (MAC_HEADER, b"\x00" * 32)]
        else:
            headers = []
        out.append(Hostile(name, reason, mkey, value, headers))

    def good(key: str, **over: Any) -> dict[str, Any]:
        return {**_body(table, table_id, owner, key), **over}

    # forged
    add("unsigned", "unsigned", good, sign="none")
    add("signed with a key the deployment does not have", "unknown-key", good, sign="stranger")
    add("right key id, wrong MAC", "bad-signature", good, sign="garbled")
    add(
        "another region's record, signed for its topic, copied here",
        "bad-signature",
        lambda k: _body(table, table_id, other, k),
        sign="other-topic",
    )
    add(
        "signed for this topic, claiming another origin",
        "wrong-origin",
        lambda k: _body(table, table_id, other, k),
    )
    # malformed, though properly signed
    add("not JSON", "undecodable", None, raw=b"\x00{definitely not json")
    add("unknown schema version", "unknown-schema", lambda k: good(k, v=99))
    add("fields missing", "malformed", lambda k: {"v": 1, "table": table, "hlc": 5})
    add("wrong key name", "bad-key", lambda k: good(k, keys={"pk": {"S": k}}))
    add("wrong key type", "bad-key", lambda k: good(k, keys={"id": {"N": "7"}}))
    add(
        "key differs from the item's",
        "key-mismatch",
        lambda k: good(k, new={"id": {"S": k + "-elsewhere"}, "v": {"S": "evil"}}),
    )
    add("hlc of 2**70", "bad-hlc", lambda k: good(k, hlc=2**70))
    add("negative hlc", "bad-hlc", lambda k: good(k, hlc=-1))
    add(
        "a 1 MB item",
        "item-too-large",
        lambda k: good(k, new={"id": {"S": k}, "blob": {"S": "x" * 1_000_000}}),
    )
    add("unknown table id", "unknown-table-id", lambda k: good(k, table_id="not-this-table"))
    add(
        "an hour in the future",
        "clock-ahead",
        lambda k: good(k, hlc=(wall_ms() + 3_600_000) << LOGICAL_BITS),
    )
    return out


async def _produce(
    dep: Deployment, batches: dict[str, list[Hostile]]
) -> dict[str, list[tuple[int, int]]]:
    """Produce each region's records into its topic; (partition, offset) of each."""
    producer = AIOKafkaProducer(
        bootstrap_servers=dep.bootstrap, max_request_size=4 << 20, **dep.kafka_kwargs()
    )
    await producer.start()
    try:
        offsets: dict[str, list[tuple[int, int]]] = {}
        for owner, records in batches.items():
            offsets[owner] = []
            for h in records:
                meta = await producer.send_and_wait(
                    change_topic(owner), h.value, key=h.key, headers=h.headers
                )
                offsets[owner].append((meta.partition, meta.offset))
        return offsets
    finally:
        await producer.stop()


def _quarantine(dep: Deployment, name: str) -> dict[str, Any]:
    proc = dep.regions[name]
    auth = for_admin(
        AuthSettings(admin_access_key_id=ADMIN_KEY_ID, admin_secret_access_key=ADMIN_SECRET),
        {proc.url: name},
    )
    resp = httpx.get(f"{proc.url}/v1/quarantine", params={"limit": 1000}, auth=auth, timeout=10)
    resp.raise_for_status()
    return dict(resp.json())


def test_hostile_records_are_quarantined_under_load(deployment: Deployment, params: Params) -> None:
    table = _table(deployment, "hostile")
    client: Any = deployment.regions["us-east-1"].client()
    table_id = client.describe_table(TableName=table)["Table"]["TableId"]
    batches = {
        owner: _records(table, table_id, owner, other=NAMES[(i + 1) % len(NAMES)])
        for i, owner in enumerate(NAMES)
    }
    ledger = Ledger()
    load = LoadClient(deployment.regions, table, ledger).start(params.load_s * 2 + 60)
    time.sleep(params.load_s / 2)
    offsets = asyncio.run(_produce(deployment, batches))
    time.sleep(params.load_s)
    load.stop()

    # every region quarantines every bad record of every other region's topic, with its reason
    expected = {
        reader: {
            (change_topic(owner), *place): h
            for owner, records in batches.items()
            if owner != reader
            for h, place in zip(records, offsets[owner], strict=True)
        }
        for reader in NAMES
    }

    def all_quarantined() -> bool:
        for reader in NAMES:
            entries = _quarantine(deployment, reader)["entries"]
            seen = {(e["topic"], e["partition"], e["offset"]) for e in entries}
            if not set(expected[reader]) <= seen:
                return False
        return True

    assert wait_for(all_quarantined, 60, interval=0.5), {
        r: len(_quarantine(deployment, r)["entries"]) for r in NAMES
    }
    for reader in NAMES:
        q = _quarantine(deployment, reader)
        by_place = {(e["topic"], e["partition"], e["offset"]): e for e in q["entries"]}
        for place, h in expected[reader].items():
            entry = by_place[place]
            assert entry["reason"] == h.reason, (reader, h.name, entry)
        # counts, by reason, for the public status and the dashboard
        assert q["held"]["held"] >= len(expected[reader])
        health = deployment.health(reader)
        assert health is not None
        # the public status shows how many, never what
        held = health["replication"]["quarantine"]
        assert held["held"] >= len(expected[reader])
        assert "evil" not in json.dumps(health)

    # nothing applied anywhere, and the clock was not dragged an hour (or 2**70) ahead
    for name in NAMES:
        rows = row_versions(deployment.regions[name], table)
        assert not [k for k in rows if k.startswith("hostile-")], name
        newest = max(hlc for hlc, _, _ in rows.values())
        assert physical_ms(newest) < wall_ms() + 60_000, (name, Version(newest, ""))
    # no client request failed: no 5xx, nothing refused while the records were read
    assert ledger.unacknowledged == 0
    _settle(
        deployment,
        f"{sum(len(r) for r in batches.values())} forged/malformed records "
        f"({len(batches[NAMES[0]])} in each region's topic)",
        table,
        ledger,
        time.monotonic(),
        params,
        note="every one quarantined in every reading region with its reason",
    )
