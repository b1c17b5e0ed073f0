"""Backfill at scale: a replica added with ``globaltables replicas add`` to a global
table of 10,000 items (``make test``; ``make backfill-scale`` runs 50,000, the size
docs/global-tables.md quotes, set by GLOBALTABLES_BACKFILL_ITEMS) while BOTH existing replicas keep writing (puts, overwrites and
deletes of existing items).  Three real region processes of their own (region names
no other test uses, since Kafka topics and consumer groups are named by region) on
the session's real Kafka broker.

Afterwards the new replica holds exactly what the others hold, row by row
(tombstones and versions included), and no deleted item came back.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from regions.types import decode_item
from tests.fixtures.regions import REPO, RegionProcess, cli_env, mesh, running
from tests.integration.replication.helpers import eventually, row_versions

pytestmark = pytest.mark.integration

#: the two regions holding the table, and the region the replica is added in
SOURCE_A, SOURCE_B, TARGET = "us-west-1", "eu-west-3", "ap-northeast-2"
NAMES = (SOURCE_A, SOURCE_B, TARGET)
TABLE = "backfill-scale"
ITEMS = int(os.environ.get("GLOBALTABLES_BACKFILL_ITEMS", "10000"))
#: BatchWriteItem threads per source region while loading
LOADERS = 3


@pytest.fixture(scope="module")
def trio(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RegionProcess]]:
    with running(mesh(NAMES, tmp_path_factory.mktemp("backfill-scale"), kafka_bootstrap)) as procs:
        yield procs


def _key(i: int) -> str:
    return f"k{i:05d}"


def _load(client: Any, ids: list[int]) -> None:
    """BatchWriteItem of ``ids``, 25 at a time, retrying what comes back unprocessed."""
    for start in range(0, len(ids), 25):
        requests = [
            {"PutRequest": {"Item": {"id": {"S": _key(i)}, "n": {"N": str(i)}, "pad": {"S": "x" * 40}}}}
            for i in ids[start : start + 25]
        ]
        while requests:
            out = client.batch_write_item(RequestItems={TABLE: requests})
            requests = out.get("UnprocessedItems", {}).get(TABLE, [])


class Writer(threading.Thread):
    """Overwrites and deletes existing items (and puts some back) in one region until
    stopped.  Each writer owns a disjoint set of keys, so the expected end state of
    every key it touched is known: ``last[key]`` is its last write (None: deleted)."""

    def __init__(self, proc: RegionProcess, keys: list[int], seed: int) -> None:
        super().__init__(daemon=True)
        self.client: Any = proc.client()
        self.keys = keys
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.last: dict[str, int | None] = {}
        self.ops = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                key = _key(self.rng.choice(self.keys))
                if self.rng.random() < 0.4:
                    self.client.delete_item(TableName=TABLE, Key={"id": {"S": key}})
                    self.last[key] = None
                else:
                    v = self.ops
                    self.client.put_item(
                        TableName=TABLE, Item={"id": {"S": key}, "n": {"N": str(-v)}, "by": {"S": self.name}}
                    )
                    self.last[key] = -v
                self.ops += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_backfill_of_a_large_table_while_both_other_regions_write(trio: dict[str, RegionProcess]) -> None:
    a: Any = trio[SOURCE_A].client()
    t0 = time.monotonic()
    a.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    a.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": SOURCE_B}}])

    # half the items written in each region, several BatchWriteItem threads each
    clients = {n: [trio[n].client() for _ in range(LOADERS)] for n in (SOURCE_A, SOURCE_B)}
    jobs = []
    with ThreadPoolExecutor(2 * LOADERS) as pool:
        for r, cs in enumerate(clients.values()):
            ids = list(range(r, ITEMS, 2))
            for j, c in enumerate(cs):
                jobs.append(pool.submit(_load, c, ids[j::LOADERS]))
        for job in jobs:
            job.result()
    loaded = time.monotonic()

    def live(name: str) -> int:
        return sum(1 for v in row_versions(trio[name], TABLE).values() if v[2] is not None)

    def replicated() -> bool:
        return all(live(n) == ITEMS for n in (SOURCE_A, SOURCE_B))

    try:
        eventually(replicated, timeout=120, what=f"the {ITEMS:,} items in both regions")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {SOURCE_A} {live(SOURCE_A)}, {SOURCE_B} {live(SOURCE_B)}") from None
    synced = time.monotonic()

    # both regions keep writing, on keys of their own, while the replica is added
    writers = [
        Writer(trio[SOURCE_A], list(range(0, ITEMS, 4)), seed=1),
        Writer(trio[SOURCE_B], list(range(1, ITEMS, 4)), seed=2),
    ]
    for w in writers:
        w.start()
    time.sleep(1)
    ops_before = sum(w.ops for w in writers)
    cli = subprocess.run(
        [sys.executable, "-m", "globaltables.cli", "replicas", "add", TABLE, TARGET, "--endpoint", trio[SOURCE_A].url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
        env=cli_env(),
    )
    ops_during = sum(w.ops for w in writers) - ops_before
    added = time.monotonic()
    # writes go on a little after the replica is ACTIVE
    time.sleep(1)
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(30)
        assert w.error is None, w.error
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert cli.stdout.strip().endswith(f"{TABLE} is ACTIVE in {TARGET}")
    assert f"backfill {TABLE} -> {TARGET}" in cli.stderr
    assert "100%" in cli.stderr
    # the copy really raced with writes in both regions
    assert ops_during > 0 and all(w.ops > 0 for w in writers)

    def converged() -> bool:
        rows = [row_versions(trio[n], TABLE) for n in NAMES]
        return rows[0] == rows[1] == rows[2]

    try:
        eventually(converged, timeout=90, what="three identical replicas, row by row")
    except AssertionError as exc:
        rows = {n: row_versions(trio[n], TABLE) for n in NAMES}
        differ = {
            n: sorted(k for k in rows[SOURCE_A].keys() | rows[n].keys() if rows[SOURCE_A].get(k) != rows[n].get(k))
            for n in NAMES[1:]
        }
        detail = {n: (len(keys), [(k, rows[SOURCE_A].get(k), rows[n].get(k)) for k in keys[:3]]) for n, keys in differ.items()}
        raise AssertionError(f"{exc}; keys differing from {SOURCE_A}: {detail}") from None
    done = time.monotonic()

    target = row_versions(trio[TARGET], TABLE)
    live = {k: decode_item(v[2]) for k, v in target.items() if v[2] is not None}
    deleted = 0
    for w in writers:
        for key, n in w.last.items():
            if n is None:
                # no resurrected deletes: the tombstone won over the copied item
                assert key not in live, f"{key} was deleted in {w.name} but is back in {TARGET}"
                assert target[key][2] is None
                deleted += 1
            else:
                assert live[key]["n"] == {"N": str(n)}, key
    untouched = set(map(_key, range(ITEMS))) - {k for w in writers for k in w.last}
    for key in untouched:
        assert live[key]["n"] == {"N": str(int(key[1:]))}
    assert len(live) == ITEMS - deleted
    print(
        f"\nbackfill scale: load {loaded - t0:.1f}s, replicated {synced - loaded:.1f}s, "
        f"replicas add {added - synced:.1f}s ({ops_during} concurrent writes), "
        f"converged {done - added:.1f}s, {deleted} deletes kept"
    )
    # the source region's account of the copy (regions/control/replicas.py, Replicas._backfill)
    print(*(line for line in trio[SOURCE_A].log_tail(20_000).splitlines() if "backfill of" in line))
