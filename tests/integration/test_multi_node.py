"""Several nodes of one region over one PostgreSQL database (regions/nodes.py), with a
second region, all real processes on real Kafka and PostgreSQL:

- a catalog change made through one node is in force on the other within a second;
- writes through both nodes replicate;
- both nodes apply other regions' changes: their consumers share the region's group,
  Kafka spreads the partitions over them;
- ``kill -9`` of the leading node under a write load through both nodes (a client
  retries on the other node, as a load balancer would make it) and one in the other
  region loses no acknowledged write, the other node takes the lead, the dead node's
  share of the outbox (every node publishes the records of its partitions) and its
  Kafka partitions, and
  ``globaltables verify`` finds the regions identical afterwards;
- a second node on a SQLite store, and a node id already in use, are refused.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from regions.settings import DEFAULT_PARTITIONS_POSTGRESQL
from tests.fixtures.browser import browser_page
from tests.fixtures.regions import (
    ADMIN_KEY_ID,
    ADMIN_SECRET,
    REPO,
    RegionProcess,
    free_ports,
    running,
)
from tests.integration.api.support import http

pytestmark = pytest.mark.integration

# names no other test uses: topics and consumer groups are named by region
EAST, WEST = "mn-east-1", "mn-west-1"
#: partitions of a change topic in these tests (RegionProcess's --topic-partitions)
TOPIC_PARTITIONS = 2


def _eventually(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except (ClientError, BotoCoreError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _node(
    store: str, port: int, node_id: str, kafka: str, west_url: str, logs: Path
) -> RegionProcess:
    return RegionProcess(
        EAST,
        port,
        store,
        kafka=kafka,
        peers={WEST: west_url},
        log_dir=logs,
        extra_args=["--node-id", node_id],
        partitions=None,  # PostgreSQL's default (checked in test_two_nodes_one_region)
    )


@pytest.fixture
def deployment(
    kafka_bootstrap: str, postgres_db_url: str, tmp_path: Path
) -> Iterator[dict[str, RegionProcess]]:
    p1, p2, pw = free_ports(3)
    east_url = f"http://127.0.0.1:{p1}"
    procs = {
        "n1": _node(postgres_db_url, p1, "n1", kafka_bootstrap, f"http://127.0.0.1:{pw}", tmp_path),
        "n2": _node(postgres_db_url, p2, "n2", kafka_bootstrap, f"http://127.0.0.1:{pw}", tmp_path),
        "west": RegionProcess(
            WEST,
            pw,
            f"sqlite:///{tmp_path / 'west.db'}",
            kafka=kafka_bootstrap,
            # the first node stands for the region's load balancer here
            peers={EAST: east_url},
            log_dir=tmp_path,
        ),
    }
    with running(procs) as started:
        yield started


def _leader(procs: dict[str, RegionProcess], names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            node = procs[name].health().get("node")
        except httpx.HTTPError:
            continue
        if isinstance(node, dict) and node.get("leader"):
            return name
    return None


def _assigned(proc: RegionProcess) -> set[str]:
    """The partitions this node's applier holds now (``/healthz``)."""
    replication = proc.health().get("replication")
    assert isinstance(replication, dict)
    return {p for c in replication["applier"]["clusters"] for p in c["assigned"]}


def _share(proc: RegionProcess) -> tuple[int, int] | None:
    """(nodes, slot) of the outbox this node publishes (``/healthz``); None if it does
    not publish."""
    replication = proc.health().get("replication")
    assert isinstance(replication, dict)
    publisher = replication["publisher"]
    if not publisher["running"]:
        return None
    return publisher["share"]["nodes"], publisher["share"]["slot"]


def test_two_nodes_one_region(deployment: dict[str, RegionProcess]) -> None:
    n1, n2, west = deployment["n1"], deployment["n2"], deployment["west"]
    c1, c2, cw = n1.client(), n2.client(), west.client()
    # exactly one node leads, and both list each other
    _eventually(lambda: _leader(deployment, ("n1", "n2")) is not None, 15, "a leader")
    leader = _leader(deployment, ("n1", "n2"))
    follower = "n2" if leader == "n1" else "n1"
    nodes = deployment[follower].health()["node"]
    assert isinstance(nodes, dict)
    assert sorted(n["node"] for n in nodes["nodes"]) == ["n1", "n2"]

    # a table created through one node is usable through the other
    table = f"mn-{uuid.uuid4().hex[:8]}"
    c1.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    c2.put_item(TableName=table, Item={"id": {"S": "first"}})
    # a PostgreSQL region's tables get more partitions than SQLite's 8, so that the
    # nodes' writes commit side by side (regions/settings.py, default_partitions)
    listed = http().get(f"{n2.url}/v1/internal/verify/tables").json()["tables"]
    assert {t["name"]: t["partitions"] for t in listed}[table] == DEFAULT_PARTITIONS_POSTGRESQL
    # a change of an existing table through n1 is in force on n2 within a second
    c1.update_table(TableName=table, DeletionProtectionEnabled=True)
    took = _eventually(
        lambda: c2.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"],
        5,
        "the change on n2",
    )
    assert took < 1.0, f"the catalog change took {took:.2f}s to reach the other node"
    c2.update_table(TableName=table, DeletionProtectionEnabled=False)

    # global through the follower: both nodes' writes replicate
    deployment[follower].client().update_table(
        TableName=table, ReplicaUpdates=[{"Create": {"RegionName": WEST}}]
    )
    c1.put_item(TableName=table, Item={"id": {"S": "via-n1"}})
    c2.put_item(TableName=table, Item={"id": {"S": "via-n2"}})
    for key in ("first", "via-n1", "via-n2"):
        _eventually(
            lambda k=key: "Item" in cw.get_item(TableName=table, Key={"id": {"S": k}}),
            30,
            f"{key} in {WEST}",
        )

    partitions: set[str] = set()

    # every node applies: the two consumers share the region's group, so Kafka gives
    # each some of the west topic's partitions (and all of them to a node alone)
    def spread() -> bool:
        held = [_assigned(deployment[n]) for n in ("n1", "n2")]
        partitions.clear()
        partitions.update(held[0] | held[1])
        return all(held) and not (held[0] & held[1]) and len(partitions) == TOPIC_PARTITIONS

    _eventually(spread, 30, "the west topic's partitions spread over both nodes")
    # every node publishes: the outbox's partitions are shared out, one share each
    _eventually(
        lambda: {_share(deployment[n]) for n in ("n1", "n2")} == {(2, 0), (2, 1)},
        15,
        "the outbox shared by both nodes",
    )
    # the dashboard shows the region's nodes and each node's share
    for name in ("n1", "n2"):
        summary = httpx.get(f"{deployment[name].url}/v1/replication", timeout=10).json()
        assert summary["nodes"] == {"this": name, "leader": name == leader, "live": ["n1", "n2"]}, (
            summary["nodes"]
        )
        assert summary["replication"]["publisher"]["share"]["nodes"] == 2
    with browser_page() as page:
        page.goto(f"{deployment[follower].url}/dashboard")
        page.wait_for_function(
            "/answered by/.test(document.querySelector('#regions').innerText)", timeout=30_000
        )
        card = page.inner_text("#regions")
        assert f"n1, n2 · answered by {follower}" in card, card
        assert "partitions p mod 2 = " in card, card
        assert not page.script_errors, page.script_errors
    cw.put_item(TableName=table, Item={"id": {"S": "from-west"}})
    for c in (c1, c2):
        _eventually(
            lambda c=c: "Item" in c.get_item(TableName=table, Key={"id": {"S": "from-west"}}),
            30,
            f"the west write in {EAST}",
        )

    # -- kill -9 of the leader under a load through both nodes (and one in the west,
    # whose partitions the dead node was applying)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    clients = {"n1": n1.client(), "n2": n2.client()}

    def writer(first: str) -> None:
        order = itertools.cycle([first, "n2" if first == "n1" else "n1"])
        for i in itertools.count():
            if stop.is_set() or i > 5000:
                return
            key = f"{first}-{i}"
            target = next(order)
            for attempt in range(2):
                # a load balancer sends the retry to the other node
                node = target if attempt == 0 else ("n2" if target == "n1" else "n1")
                try:
                    clients[node].put_item(
                        TableName=table, Item={"id": {"S": key}, "n": {"N": str(i)}}
                    )
                except (ClientError, BotoCoreError):
                    continue
                with lock:
                    acked.append(key)
                break

    west_acked: list[str] = []

    def west_writer() -> None:
        for i in range(5000):
            if stop.is_set():
                return
            try:
                cw.put_item(TableName=table, Item={"id": {"S": f"w-{i}"}})
            except (ClientError, BotoCoreError):
                continue
            west_acked.append(f"w-{i}")

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in ("n1", "n2")]
    threads.append(threading.Thread(target=west_writer, daemon=True))
    for t in threads:
        t.start()
    time.sleep(3)
    deployment[leader].kill()  # SIGKILL
    killed_at = time.monotonic()
    took_over = _eventually(
        lambda: _leader(deployment, (follower,)) == follower, 20, "a new leader"
    )
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a write never got an answer"
    assert len(acked) > 50, f"too few writes acknowledged ({len(acked)}) for the test to mean much"
    survivor = clients[follower]
    # nothing acknowledged is lost here ...
    missing = [
        k for k in acked if "Item" not in survivor.get_item(TableName=table, Key={"id": {"S": k}})
    ]
    assert not missing, f"{len(missing)} acknowledged writes lost in {EAST}: {missing[:5]}"

    # ... nor in the other region: every acknowledged write is published, those left in
    # the dead node's share of the outbox by the survivor (all of them: counted below)
    def replicated() -> bool:
        return all(
            "Item" in cw.get_item(TableName=table, Key={"id": {"S": k}})
            for k in acked[-20:] + acked[:20]
        )

    _eventually(replicated, 60, f"the acknowledged writes in {WEST}")
    # the dead node's share of the outbox is the survivor's once its heartbeat aged out
    _eventually(lambda: _share(deployment[follower]) == (1, 0), 20, "the whole outbox")
    # the survivor took over the dead node's partitions and applied the west's writes
    _eventually(
        lambda: _assigned(deployment[follower]) == partitions, 60, "all partitions on one node"
    )
    assert len(west_acked) > 20, f"too few west writes acknowledged ({len(west_acked)})"
    _eventually(
        lambda: all(
            "Item" in survivor.get_item(TableName=table, Key={"id": {"S": k}}) for k in west_acked
        ),
        60,
        f"every acknowledged west write in {EAST}",
    )
    count = sum(
        page["Count"] for page in cw.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    )
    assert count >= len(set(acked)) + 3
    # the replicas are identical, key by key (globaltables verify)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_ACCESS_KEY_ID": ADMIN_KEY_ID, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET}

    def verified() -> bool:
        out = subprocess.run(
            [
                sys.executable, "-m", "globaltables.cli", "verify", "--table", table,
                "--endpoint", f"{EAST}={deployment[follower].url}",
                "--endpoint", f"{WEST}={west.url}",
            ],
            cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        return out.returncode == 0

    _eventually(verified, 60, "globaltables verify clean")
    # the leader stops cleanly (SIGTERM: jobs stopped, lock released) and promptly
    stopped = time.monotonic()
    deployment[follower].stop()
    assert time.monotonic() - stopped < 15, "the leading node took too long to stop"
    print(f"leader {leader} killed; {follower} led after {took_over:.1f}s "
          f"({time.monotonic() - killed_at:.1f}s ago); {len(acked)} writes acknowledged")  # fmt: skip


def test_a_second_node_on_sqlite_and_a_taken_node_id_are_refused(
    postgres_db_url: str, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'one.db'}"
    a, b = free_ports(2)
    with running({"a": RegionProcess("mn-solo-1", a, store, log_dir=tmp_path)}):
        second = RegionProcess(
            "mn-solo-1", b, store, log_dir=tmp_path, extra_args=["--node-id", "n2"]
        )
        with pytest.raises(RuntimeError, match="already served by another node"):
            second.start(timeout=20)
        second.kill()
    c, d = free_ports(2)
    with running({"c": RegionProcess("mn-solo-2", c, postgres_db_url, log_dir=tmp_path)}):
        twin = RegionProcess("mn-solo-2", d, postgres_db_url, log_dir=tmp_path)
        with pytest.raises(RuntimeError, match="node id 'n1' of region mn-solo-2 is in use"):
            twin.start(timeout=20)
        twin.kill()
