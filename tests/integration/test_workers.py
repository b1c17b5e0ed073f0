"""A region served by several processes (``globaltables region --workers 2``).

Every test reaches the region over many keep-alive connections (one boto3 client each,
one connection per client), which the kernel spreads over the primary and its worker,
and checks that whatever process a request lands on, the answer is the region's: the
catalog, access keys, metrics and replication behave as with one process.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from replicator.publisher import IDLE_POLL_ENV
from tests.fixtures.regions import (
    ADMIN_KEY_ID,
    ADMIN_SECRET,
    RegionProcess,
    free_port,
    mesh,
    running,
)
from tests.integration.api.support import create_table, expect_error, http, signed, unique
from tests.integration.replication.helpers import eventually, new_key

pytestmark = pytest.mark.integration

NAME = "eu-north-1"
CONNECTIONS = 16


def _clients(
    url: str,
    n: int = CONNECTIONS,
    key: str = ADMIN_KEY_ID,
    secret: str = ADMIN_SECRET,
    region: str = NAME,
) -> list[Any]:
    return [
        boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(max_pool_connections=1, retries={"max_attempts": 1, "mode": "standard"}),
        )
        for _ in range(n)
    ]


def _workers(proc: RegionProcess) -> list[dict[str, Any]]:
    workers: list[dict[str, Any]] = proc.health()["workers"]  # type: ignore[assignment]
    return workers


def _wait_ready(proc: RegionProcess) -> None:
    eventually(lambda: all(w["ready"] for w in _workers(proc)), 30, "the worker to serve")


def _started(store: str, log_dir: Path, port: int | None = None) -> RegionProcess:
    """A region with one worker, started, its worker serving."""
    proc = RegionProcess(
        NAME, port or free_port(), store, log_dir=log_dir, extra_args=["--workers", "2"]
    ).start()
    try:
        _wait_ready(proc)
    except BaseException:
        proc.stop()
        raise
    return proc


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("workers")
    proc = _started(f"sqlite:///{d}/{NAME}.db", d)
    try:
        yield proc
    finally:
        proc.stop()


def test_a_worker_serves_items_and_every_connection_sees_every_write(region: RegionProcess) -> None:
    clients = _clients(region.url)
    table = unique("w")
    create_table(clients[0], table)
    for i, c in enumerate(clients):
        c.put_item(TableName=table, Item={"p": {"S": f"k{i}"}, "n": {"N": str(i)}})
    # every connection reads every item, whichever process wrote it
    for c in clients:
        for i in range(len(clients)):
            got = c.get_item(TableName=table, Key={"p": {"S": f"k{i}"}}, ConsistentRead=True)
            assert got["Item"]["n"] == {"N": str(i)}
    # the worker really served part of it (16 connections all on one process: 2**-16)
    eventually(lambda: _workers(region)[0]["requests"] > 0, 5, "a worker report")
    assert _workers(region)[0]["running"]


def test_catalog_changes_reach_the_worker_at_once(region: RegionProcess) -> None:
    clients = _clients(region.url)
    table = unique("cat")
    create_table(clients[0], table)
    for i, c in enumerate(clients):
        c.put_item(TableName=table, Item={"p": {"S": f"a{i}"}, "g": {"S": "G"}})
    clients[0].update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "byg",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    )
    # writes during and after the index build, from every connection
    for i, c in enumerate(clients):
        c.put_item(TableName=table, Item={"p": {"S": f"b{i}"}, "g": {"S": "G"}})

    def active() -> bool:
        desc = clients[0].describe_table(TableName=table)["Table"]
        return all(i["IndexStatus"] == "ACTIVE" for i in desc["GlobalSecondaryIndexes"])

    eventually(active, 30, "the index to be ACTIVE")
    for c in clients:
        got = c.query(
            TableName=table,
            IndexName="byg",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "G"}},
        )
        assert got["Count"] == 2 * len(clients)

    # a deleted table is gone for every process, and a new one of the same name is new
    clients[0].delete_table(TableName=table)
    for c in clients:
        expect_error(
            lambda c=c: c.put_item(TableName=table, Item={"p": {"S": "x"}}),
            "ResourceNotFoundException",
            f"Requested resource not found: Table: {table} not found",
        )
    create_table(clients[0], table, hash_=("q", "N"))
    for i, c in enumerate(clients):
        c.put_item(TableName=table, Item={"q": {"N": str(i)}})
        expect_error(
            lambda c=c: c.put_item(TableName=table, Item={"p": {"S": "old schema"}}),
            "ValidationException",
        )
    assert clients[0].scan(TableName=table)["Count"] == len(clients)


def test_control_plane_errors_and_other_routes_through_a_worker(region: RegionProcess) -> None:
    clients = _clients(region.url)
    missing = unique("missing")
    for c in clients:
        # relayed to the primary: its answer, error envelope included
        expect_error(
            lambda c=c: c.describe_table(TableName=missing),
            "ResourceNotFoundException",
            f"Requested resource not found: Table: {missing} not found",
        )
        assert "TableNames" in c.list_tables()
    with httpx.Client() as fresh:
        for _ in range(CONNECTIONS):
            # new connections each time: both processes answer the public routes
            r = httpx.get(f"{region.url}/healthz", timeout=10)
            assert r.json()["region"] == NAME
            page = fresh.get(f"{region.url}/dashboard", timeout=10, headers={"connection": "close"})
            assert page.status_code == 200 and "<html" in page.text.lower()


def test_compressed_answers_from_every_process(region: RegionProcess) -> None:
    """gzip answers (docs/compatibility.md, "Compression") from a worker, from the
    primary, and relayed by a worker from the primary, byte for byte: the CRC32 is of
    the compressed bytes sent."""
    client = _clients(region.url, 1)[0]
    table = unique("gz")
    create_table(client, table)
    item = {"p": {"S": "big"}, "v": {"S": "x" * 10000}}
    client.put_item(TableName=table, Item=item)
    signer = signed().signer
    assert signer is not None
    body = json.dumps({"TableName": table, "Key": {"p": {"S": "big"}}}).encode()
    for _ in range(CONNECTIONS):
        # a new connection each time: both processes answer
        with httpx.Client(timeout=10, headers={"Connection": "close"}) as fresh:
            request = fresh.build_request(
                "POST",
                region.url + "/",
                content=body,
                headers={
                    "Content-Type": "application/x-amz-json-1.0",
                    "X-Amz-Target": "DynamoDB_20120810.GetItem",
                    "Accept-Encoding": "gzip",
                },
            )
            signer(request, NAME)
            r = fresh.send(request, stream=True)
            raw = b"".join(r.iter_raw())
            r.close()
            assert r.status_code == 200
            assert r.headers["content-encoding"] == "gzip"
            assert r.headers["x-amz-crc32"] == str(zlib.crc32(raw))
            assert json.loads(gzip.decompress(raw)) == {"Item": item}
            request = fresh.build_request(
                "GET", region.url + "/openapi.json", headers={"Accept-Encoding": "gzip"}
            )
            signer(request, NAME)
            page = fresh.send(request)
            assert page.headers["content-encoding"] == "gzip"
            assert "paths" in page.json()


def test_metrics_count_the_requests_of_every_process(region: RegionProcess) -> None:
    clients = _clients(region.url)
    table = unique("met")
    create_table(clients[0], table)

    def puts_200() -> float:
        text = http().get(f"{region.url}/metrics").text
        for line in text.splitlines():
            if line.startswith("globaltables_requests_total{") and (
                'operation="PutItem"' in line and 'status="200"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = puts_200()
    rounds = 5
    for r in range(rounds):
        for i, c in enumerate(clients):
            c.put_item(TableName=table, Item={"p": {"S": f"{r}-{i}"}})
    want = before + rounds * len(clients)
    # the worker reports every half second
    eventually(lambda: puts_200() == want, 5, f"{want} PutItems counted")


def test_a_revoked_key_is_refused_by_every_process_at_once(region: RegionProcess) -> None:
    key = new_key(region, unique("wuser"))
    clients = _clients(region.url, key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    for c in clients:
        assert "TableNames" in c.list_tables()
        # GetItem is served by whichever process holds the connection: fill its cache
        expect_error(
            lambda c=c: c.get_item(TableName=unique("none"), Key={"p": {"S": "x"}}),
            "ResourceNotFoundException",
        )
    revoked = http().delete(f"{region.url}/v1/admin/keys/{key['AccessKeyId']}")
    assert revoked.status_code in (200, 204), revoked.text
    for c in clients:
        expect_error(
            lambda c=c: c.get_item(TableName=unique("none"), Key={"p": {"S": "x"}}),
            "UnrecognizedClientException",
        )


def test_a_killed_primary_takes_its_worker_along(tmp_path: Path) -> None:
    port = free_port()
    store = f"sqlite:///{tmp_path}/{NAME}.db"
    proc = _started(store, tmp_path, port)
    pid = _workers(proc)[0]["pid"]
    table = unique("kill")
    clients = _clients(proc.url)
    create_table(clients[0], table)
    for i, c in enumerate(clients):
        c.put_item(TableName=table, Item={"p": {"S": f"k{i}"}})
    proc.kill(signal.SIGKILL)

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    eventually(gone, 10, "the worker to exit")
    # the port is free again, and every acknowledged write is there
    again = _started(store, tmp_path, port)
    try:
        pid = _workers(again)[0]["pid"]
        got = _clients(again.url, 1)[0].scan(TableName=table, ConsistentRead=True)
        assert got["Count"] == len(clients)
    finally:
        again.stop()
    # a graceful stop (SIGTERM) stops the workers first
    assert gone()


def test_workers_over_postgresql(
    postgres_db_factory: Callable[[], str], tmp_path: Path
) -> None:
    store = postgres_db_factory().replace("postgresql+asyncpg://", "postgresql://")
    proc = _started(store, tmp_path)
    try:
        clients = _clients(proc.url)
        table = unique("pgw")
        create_table(clients[0], table)
        for i, c in enumerate(clients):
            c.put_item(TableName=table, Item={"p": {"S": f"k{i}"}, "n": {"N": str(i)}})
        for c in clients:
            got = c.scan(TableName=table, ConsistentRead=True)
            assert got["Count"] == len(clients)
        clients[0].delete_table(TableName=table)
        for c in clients:
            expect_error(
                lambda c=c: c.get_item(TableName=table, Key={"p": {"S": "k0"}}),
                "ResourceNotFoundException",
            )
        eventually(lambda: _workers(proc)[0]["requests"] > 0, 5, "a worker report")
    finally:
        proc.stop()


def test_writes_served_by_a_worker_replicate(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Writes a worker serves reach the primary's publisher through the notify pipe.

    The publisher's safety-net poll is stretched to an hour, and each write must be
    visible in the other region before the next is sent: a write that only the
    worker committed is published at once only if the pipe woke the primary (a
    later write to the primary cannot carry it along)."""
    names = ["eu-south-1", "eu-south-2"]
    procs = mesh(names, tmp_path_factory.mktemp("workers-repl"), kafka_bootstrap)
    procs["eu-south-1"].extra_args += ["--workers", "2"]
    procs["eu-south-1"].env[IDLE_POLL_ENV] = "3600"
    with running(procs):
        _wait_ready(procs["eu-south-1"])
        source = _clients(procs["eu-south-1"].url, region="eu-south-1")
        table = unique("wrep")
        create_table(source[0], table)
        source[0].update_table(
            TableName=table, ReplicaUpdates=[{"Create": {"RegionName": "eu-south-2"}}]
        )
        dest: Any = procs["eu-south-2"].client()

        def replica_active() -> bool:
            try:
                return bool(dest.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE")
            except Exception:
                return False

        eventually(replica_active, 60, "the replica")
        # the reports come every half second: let the count settle before reading it
        time.sleep(1.5)
        served_before = _workers(procs["eu-south-1"])[0]["requests"]
        for i, c in enumerate(source):
            key = {"p": {"S": f"w-{i}"}}
            c.put_item(TableName=table, Item={**key, "i": {"N": str(i)}})
            eventually(
                lambda key=key: "Item" in dest.get_item(TableName=table, Key=key),
                20,
                f"write {i} in the other region",
            )
        # the kernel spread the 16 connections: the worker served some of those puts
        eventually(
            lambda: _workers(procs["eu-south-1"])[0]["requests"] > served_before,
            5,
            "a put served by the worker",
        )


def _write_until(clients: list[Any], table: str, stop: threading.Event) -> tuple[set[str], int]:
    """Each client puts its own keys in a loop until ``stop``; returns the keys whose
    PutItem was acknowledged (HTTP 200) and the number of failed calls."""
    acked: set[str] = set()
    failed = [0]
    lock = threading.Lock()

    def run(n: int, c: Any) -> None:
        i = 0
        while not stop.is_set() and i < 5000:
            key = f"c{n}-{i}"
            i += 1
            try:
                c.put_item(TableName=table, Item={"p": {"S": key}})
            except Exception:
                with lock:
                    failed[0] += 1
                time.sleep(0.05)
                continue
            with lock:
                acked.add(key)

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return acked, failed[0]


def _all_keys(client: Any, table: str) -> set[str]:
    keys: set[str] = set()
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        keys |= {i["p"]["S"] for i in page["Items"]}
        if "LastEvaluatedKey" not in page:
            return keys
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_no_acknowledged_write_is_lost_when_the_primary_is_killed_mid_load(
    tmp_path: Path,
) -> None:
    port = free_port()
    store = f"sqlite:///{tmp_path}/{NAME}.db"
    proc = _started(store, tmp_path, port)
    table = unique("crash")
    create_table(_clients(proc.url, 1)[0], table)
    stop = threading.Event()
    killer = threading.Timer(1.5, lambda: (proc.kill(signal.SIGKILL), stop.set()))
    killer.start()
    acked, _ = _write_until(_clients(proc.url), table, stop)
    killer.join()
    assert len(acked) > 50, "the load did not run before the kill"
    again = _started(store, tmp_path, port)
    try:
        stored = _all_keys(_clients(again.url, 1)[0], table)
        assert acked <= stored, f"{len(acked - stored)} acknowledged writes lost"
    finally:
        again.stop()


def test_a_killed_worker_is_replaced_and_loses_nothing(tmp_path: Path) -> None:
    proc = _started(f"sqlite:///{tmp_path}/{NAME}.db", tmp_path)
    try:
        table = unique("wkill")
        create_table(_clients(proc.url, 1)[0], table)
        first = _workers(proc)[0]["pid"]
        stop = threading.Event()
        killer = threading.Timer(1.0, lambda: os.kill(first, signal.SIGKILL))
        stopper = threading.Timer(4.0, stop.set)
        killer.start()
        stopper.start()
        # fresh clients after the kill too: the kernel spreads their connections again
        acked, _ = _write_until(_clients(proc.url), table, stop)
        killer.join()
        stopper.join()

        def replaced() -> bool:
            w = _workers(proc)[0]
            return bool(w["pid"] != first and w["running"] and w["ready"])

        eventually(replaced, 30, "a new worker")
        assert acked <= _all_keys(_clients(proc.url, 1)[0], table)
        # and the new worker serves
        clients = _clients(proc.url)
        for i, c in enumerate(clients):
            c.put_item(TableName=table, Item={"p": {"S": f"after-{i}"}})
        assert {f"after-{i}" for i in range(len(clients))} <= _all_keys(clients[0], table)
    finally:
        proc.stop()
