"""``globaltables verify`` against real region processes: identical replicas verify
clean, injected divergences are listed with versions and repaired with LWW, and
regions with different partition counts compare equal."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from regions.keys import partition_of
from regions.sigv4 import Credentials
from regions.store import open_store_url
from regions.store import schema as s
from regions.types import encode_item
from regions.versions import Version, wall_ms
from replicator.signing import KeySigner, SigV4
from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, REPO, RegionProcess, free_port
from tests.integration.replication.helpers import NAMES, eventually, make_global, row_versions

pytestmark = pytest.mark.integration


def _env(key_id: str | None = ADMIN_KEY_ID, secret: str | None = ADMIN_SECRET) -> dict[str, str]:
    """The CLI's environment: these AWS credentials (the regions' admin key by
    default), or none at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull}
    if key_id is not None and secret is not None:
        env |= {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
    return env


def _verify(
    endpoints: dict[str, str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "globaltables.cli", "verify"]
    for name, url in endpoints.items():
        cmd += ["--endpoint", f"{name}={url}"]
    return subprocess.run(
        [*cmd, *args], cwd=REPO, capture_output=True, text=True, timeout=300, env=env or _env()
    )


def _urls(regions: dict[str, RegionProcess]) -> dict[str, str]:
    return {n: regions[n].url for n in NAMES}


def _settled(regions: dict[str, RegionProcess], table: str) -> None:
    def same() -> bool:
        rows = [row_versions(regions[n], table) for n in NAMES]
        return all(r == rows[0] for r in rows)

    eventually(same, timeout=60, what=f"{table} identical in every region")


def _tid(proc: RegionProcess, table: str) -> int:
    path = proc.store.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT tid FROM gt_tables WHERE name = ?", (table,)).fetchone()[0])


async def _inject(
    proc: RegionProcess, table: str, key: str, row: tuple[int, str, bytes] | None
) -> None:
    """Fault injection straight into a region's SQLite file, through the store's
    own row write (so the region's hash tree sees it, as it would a real lost or
    stale change): ``row`` = (hlc, origin, canonical item) to write, or None to
    remove the key's row altogether."""
    store = open_store_url(proc.store)
    await store.open()
    try:
        tid = _tid(proc, table)
        hk = key.encode()
        part = partition_of(hk, 4)
        async with store.write() as tx:
            if row is None:
                # a tombstone first moves the row's digest out of its leaf, then the
                # row goes: as if the write had never reached this store
                await tx.put_row(tid, part, hk, b"", Version(0, "x"), None, 0, wall_ms())
                i = s.items.c
                await tx.conn.execute(
                    delete(s.items).where(i.tid == tid, i.part == part, i.hk == hk, i.rk == b"")
                )
            else:
                hlc, origin, data = row
                await tx.put_row(
                    tid, part, hk, b"", Version(hlc, origin), data, len(data), wall_ms()
                )
    finally:
        await store.close()


def _item(key: str, **attrs: str) -> dict[str, Any]:
    item: dict[str, Any] = {"id": {"S": key}}
    item.update({k: {"S": v} for k, v in attrs.items()})
    return item


def test_identical_replicas_verify_clean(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "verified")
    for i in range(60):
        n = NAMES[i % 3]
        clients[n].put_item(TableName="verified", Item=_item(f"k{i:03d}", by=n))
    # the items first: a delete in eu-west-1 of an item it has not received yet
    # deletes nothing there (as in DynamoDB), and the item arrives afterwards
    _settled(regions, "verified")
    for i in range(0, 60, 7):
        clients["eu-west-1"].delete_item(TableName="verified", Key={"id": {"S": f"k{i:03d}"}})
    _settled(regions, "verified")
    out = _verify(_urls(regions), "--table", "verified")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified: identical in 3 regions" in out.stdout
    assert "51 items" in out.stdout


def test_divergence_is_listed_and_repaired(regions: dict[str, RegionProcess]) -> None:
    clients = make_global(regions, "diverged")
    for i in range(40):
        clients["us-east-1"].put_item(TableName="diverged", Item=_item(f"k{i:03d}", v="1"))
    # the items first, or the delete below could reach ap-southeast-2 before k006 does
    _settled(regions, "diverged")
    clients["eu-west-1"].put_item(TableName="diverged", Item=_item("k005", v="2"))
    clients["ap-southeast-2"].delete_item(TableName="diverged", Key={"id": {"S": "k006"}})
    _settled(regions, "diverged")
    good = row_versions(regions["us-east-1"], "diverged")
    assert good["k006"][2] is None and good["k005"][1] == "eu-west-1"

    # 1. us-east-1 lost its own write of k001 (say, restored from an old backup)
    asyncio.run(_inject(regions["us-east-1"], "diverged", "k001", None))
    # 2. eu-west-1 missed the update of k005 and still shows the first version
    old = (good["k004"][0] - 1, "us-east-1", encode_item(_item("k005", v="1")))
    asyncio.run(_inject(regions["eu-west-1"], "diverged", "k005", old))
    # 3. ap-southeast-2 missed the delete of k006: the item is back, older than the tombstone
    stale = (good["k006"][0] - 1, "us-east-1", encode_item(_item("k006", v="1")))
    asyncio.run(_inject(regions["ap-southeast-2"], "diverged", "k006", stale))

    out = _verify(_urls(regions), "--table", "diverged")
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout
    assert "diverged: DIFFERENT: 3 key(s)" in text
    for key in ("id=k001", "id=k005", "id=k006"):
        assert key in text
    # each replica's version is printed, and the LWW winner
    k005_hlc, k005_origin, _ = good["k005"]
    assert f"{k005_hlc}@{k005_origin}" in text
    assert f"{old[0]}@us-east-1" in text
    assert "absent" in text and "tombstone" in text

    report = json.loads(_verify(_urls(regions), "--table", "diverged", "--json").stdout)
    diffs = {d["key"]["id"]["S"]: d for d in report["tables"][0]["report"]["diffs"]}
    assert set(diffs) == {"k001", "k005", "k006"}
    assert diffs["k001"]["behind"] == ["us-east-1"]
    assert diffs["k001"]["replicas"]["us-east-1"] is None
    assert diffs["k005"]["behind"] == ["eu-west-1"]
    assert diffs["k006"]["winner"]["tombstone"] is True
    assert diffs["k006"]["behind"] == ["ap-southeast-2"]

    fixed = _verify(_urls(regions), "--table", "diverged", "--repair")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "identical after repair" in fixed.stdout
    again = _verify(_urls(regions), "--table", "diverged")
    assert again.returncode == 0, again.stdout
    # the winners, byte for byte and version for version
    for n in NAMES:
        assert row_versions(regions[n], "diverged") == good
    assert "Item" not in clients["ap-southeast-2"].get_item(
        TableName="diverged", Key={"id": {"S": "k006"}}
    )
    assert clients["us-east-1"].get_item(TableName="diverged", Key={"id": {"S": "k001"}})[
        "Item"
    ] == _item("k001", v="1")


def test_rows_changed_behind_the_store_need_rehash(regions: dict[str, RegionProcess]) -> None:
    """Bytes overwritten in the SQLite file (not through the store) are invisible to
    the kept hashes; --rehash recomputes them and finds the damage, which LWW cannot
    settle (same version, other bytes) until the item is written again."""
    clients = make_global(regions, "corrupted")
    for i in range(20):
        clients["us-east-1"].put_item(TableName="corrupted", Item=_item(f"k{i:03d}", v="1"))
    _settled(regions, "corrupted")
    proc = regions["eu-west-1"]
    with sqlite3.connect(proc.store.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE gt_items SET data = ? WHERE tid = ? AND hk = ?",
            (encode_item(_item("k003", v="garbled")), _tid(proc, "corrupted"), b"k003"),
        )
    out = _verify(_urls(regions), "--table", "corrupted", "--rehash", "--repair")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "id=k003" in out.stdout
    assert "LWW cannot choose" in out.stdout
    # a new write settles it everywhere
    clients["us-east-1"].put_item(TableName="corrupted", Item=_item("k003", v="3"))
    _settled(regions, "corrupted")
    assert _verify(_urls(regions), "--table", "corrupted").returncode == 0


def test_all_tables_and_usage_errors(regions: dict[str, RegionProcess]) -> None:
    make_global(regions, "listed")
    out = _verify(_urls(regions))
    assert "listed: identical in 3 regions" in out.stdout
    bad = _verify({"us-east-1": regions["us-east-1"].url})
    assert bad.returncode == 2 and "at least two" in bad.stderr
    wrong = _verify({"eu-west-1": regions["us-east-1"].url, "us-east-1": regions["eu-west-1"].url})
    assert wrong.returncode == 2 and "is region" in wrong.stderr
    missing = _verify(_urls(regions), "--table", "no-such-table")
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    # the verify endpoints read every table past its policies: admin key only
    unsigned = _verify(_urls(regions), "--table", "listed", env=_env(None, None))
    assert unsigned.returncode == 2 and "Traceback" not in unsigned.stderr
    admin = httpx.Client(auth=SigV4(KeySigner(Credentials(ADMIN_KEY_ID, ADMIN_SECRET))), timeout=10)
    east = regions["us-east-1"].url
    admin.post(f"{east}/v1/admin/users", json={"UserName": "verify-reader"})
    key = admin.post(f"{east}/v1/admin/users/verify-reader/keys").json()["AccessKey"]
    reader = httpx.Client(
        auth=SigV4(KeySigner(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))), timeout=10
    )
    # the key replicates with the identities table; then every region knows it, and
    # refuses it here
    eventually(
        lambda: all(
            reader.get(f"{regions[n].url}/v1/internal/verify/tables").status_code == 403
            for n in NAMES
        ),
        what="the reader's key known in every region",
    )
    user = _verify(
        _urls(regions),
        "--table",
        "listed",
        env=_env(key["AccessKeyId"], key["SecretAccessKey"]),
    )
    assert user.returncode == 2, user.stdout + user.stderr
    assert "not authorized to verify" in user.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "globaltables.cli", "verify", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0 and "--repair" in helped.stdout


@pytest.fixture
def uneven(kafka_bootstrap: str, tmp_path: Path) -> Any:
    """Two replicating regions whose tables have 3 and 11 partitions, with names no
    other test uses: Kafka topics and consumer groups are named by region, and a
    region catching up on another test's topic would delay the backfill."""
    ports = {"ca-central-1": free_port(), "sa-east-1": free_port()}
    parts = {"ca-central-1": "3", "sa-east-1": "11"}
    procs = {
        n: RegionProcess(
            n,
            ports[n],
            f"sqlite:///{tmp_path}/{n}.db",
            kafka=kafka_bootstrap,
            peers={p: f"http://127.0.0.1:{ports[p]}" for p in ports if p != n},
            log_dir=tmp_path,
            extra_args=["--partitions", parts[n]],
        )
        for n in ports
    }
    for p in procs.values():
        p.start()
    yield procs
    for p in procs.values():
        p.stop()


def test_different_partition_counts_compare_equal(uneven: dict[str, RegionProcess]) -> None:
    east, west = uneven["ca-central-1"], uneven["sa-east-1"]
    c = east.client()
    c.create_table(  # type: ignore[attr-defined]
        TableName="uneven",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(300):
        c.put_item(TableName="uneven", Item=_item(f"k{i:03d}", v=str(i)))  # type: ignore[attr-defined]
    for i in range(0, 300, 10):
        c.delete_item(TableName="uneven", Key={"id": {"S": f"k{i:03d}"}})  # type: ignore[attr-defined]
    # the backfill copies every row
    c.update_table(TableName="uneven", ReplicaUpdates=[{"Create": {"RegionName": "sa-east-1"}}])  # type: ignore[attr-defined]

    def active() -> bool:
        reps = c.describe_table(TableName="uneven")["Table"]["Replicas"]  # type: ignore[attr-defined]
        return all(r["ReplicaStatus"] == "ACTIVE" for r in reps)

    eventually(active, timeout=60, what="backfill done")
    with sqlite3.connect(west.store.removeprefix("sqlite:///")) as db:
        parts = {r[0] for r in db.execute("SELECT DISTINCT part FROM gt_items")}
    assert max(parts) > 3, "sa-east-1 really uses its own 11 partitions"
    urls = {"ca-central-1": east.url, "sa-east-1": west.url}
    out = _verify(urls, "--table", "uneven")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "270 items" in out.stdout

    # a later write reaches the other partitioning through Kafka and still compares equal
    # (listing and repairing a divergence: test_divergence_is_listed_and_repaired)
    c.put_item(TableName="uneven", Item=_item("late", v="x"))  # type: ignore[attr-defined]
    eventually(
        lambda: "Item" in west.client().get_item(TableName="uneven", Key={"id": {"S": "late"}}),  # type: ignore[attr-defined]
        what="the late write replicated",
    )
    out = _verify(urls, "--table", "uneven")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "271 items" in out.stdout
