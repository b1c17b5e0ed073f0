"""Invariant 4's second half: a replica offline longer than the tombstone horizon is
re-seeded from a peer, not left to replay (regions/reseed.py, replicator/reseed.py).

Three real region processes on the session's Kafka, under region names no other
test uses (topics and consumer groups are named by region), with a tombstone
horizon of a few seconds.  One region is stopped; the others delete, insert and
overwrite; their tombstones are collected; the Kafka records of all of it are
deleted (``DeleteRecords`` up to the end offsets: what topic retention does to a
region that stays away too long).  When it comes back it must find out, re-seed,
and converge with the others: no deleted item back anywhere, nothing it wrote
and acknowledged lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete

from replicator.kafka import change_topic
from tests.fixtures.kafka import kafka_client_kwargs
from tests.fixtures.regions import RegionProcess, free_port, free_ports
from tests.integration.replication.helpers import eventually, row_versions

A, B, R = "rs-north-7", "rs-west-7", "rs-south-7"
TABLE = "ReseedOrders"
HORIZON_S = 8


def _region(name: str, ports: dict[str, int], d: Path, kafka: str) -> RegionProcess:
    return RegionProcess(
        name,
        ports[name],
        f"sqlite:///{d}/{name}.db",
        kafka=kafka,
        peers={p: f"http://127.0.0.1:{ports[p]}" for p in ports if p != name},
        log_dir=d,
        extra_args=[
            "--tombstone-horizon", str(HORIZON_S),
            "--housekeeping-interval", "0.5",
            "--identity-sync-interval", "3600",
        ],
    )


def _live(proc: RegionProcess) -> dict[str, tuple[int, str, bytes]]:
    return {k: (h, o, d) for k, (h, o, d) in row_versions(proc, TABLE).items() if d is not None}


def _put(client: Any, key: str, value: str) -> None:
    client.put_item(TableName=TABLE, Item={"id": {"S": key}, "v": {"S": value}})


async def _trim_topics(bootstrap: str, topics: list[str]) -> tuple[dict[Any, int], dict[Any, int]]:
    """Delete every record of ``topics`` (DeleteRecords up to the end offsets); the
    end offsets and the log start offsets after."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_client_kwargs())
    await consumer.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_kwargs())
    await admin.start()
    try:
        tps = [
            TopicPartition(t["topic"], p["partition"])
            for t in await admin.describe_topics(topics)
            for p in t["partitions"]
        ]
        assert len(tps) == 2 * len(topics), tps
        ends: dict[Any, int] = await consumer.end_offsets(tps)
        await admin.delete_records(
            {tp: RecordsToDelete(before_offset=end) for tp, end in ends.items() if end > 0}
        )
        starts: dict[Any, int] = await consumer.beginning_offsets(tps)
        return ends, starts
    finally:
        await admin.close()
        # aiokafka's consumer without a group may surface its own task's cancel here
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


def _reseed(proc: RegionProcess) -> dict[str, Any]:
    body = httpx.get(f"{proc.url}/v1/replication", timeout=5).json()
    return dict(body["replication"]["reseed"])


def test_region_away_past_the_horizon_is_reseeded_without_resurrecting_deletes(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    ports = dict(zip((A, B, R), free_ports(3), strict=True))
    procs = {n: _region(n, ports, tmp_path, kafka_bootstrap) for n in (A, B, R)}
    cut_off: RegionProcess | None = None
    try:
        for p in procs.values():
            p.start()
        a, b = procs[A].client(), procs[B].client()
        a.create_table(  # type: ignore[attr-defined]
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for r in (B, R):
            a.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": r}}])  # type: ignore[attr-defined]
        keys = [f"k{i:02d}" for i in range(20)]
        for k in keys:
            _put(a, k, "v1")
        eventually(
            lambda: all(set(_live(p)) == set(keys) for p in procs.values()),
            60,
            "the table in all three regions",
        )

        # R, cut off from Kafka (an unreachable broker), takes writes it cannot ship:
        # acknowledged, in its outbox only
        procs[R].stop()
        cut_off = RegionProcess(
            R,
            ports[R],
            procs[R].store,
            kafka=f"127.0.0.1:{free_port()}",
            peers=procs[R].peers,
            log_dir=tmp_path,
            extra_args=procs[R].extra_args,
        ).start()
        r_cut = cut_off.client()
        _put(r_cut, "r-new", "from R")
        _put(r_cut, "k05", "R's overwrite")
        cut_off.stop()
        cut_off = None
        r_writes = {k: _live(procs[R])[k] for k in ("r-new", "k05")}

        # while R is away: deletes in both other regions, an insert, an overwrite
        deleted = ["k00", "k01", "k02", "k03", "k04", "k10", "k11"]
        for k in deleted[:5]:
            a.delete_item(TableName=TABLE, Key={"id": {"S": k}})  # type: ignore[attr-defined]
        for k in deleted[5:]:
            b.delete_item(TableName=TABLE, Key={"id": {"S": k}})  # type: ignore[attr-defined]
        _put(a, "a-new", "from A")
        _put(b, "k06", "B's overwrite")
        eventually(lambda: _live(procs[A]) == _live(procs[B]), 30, "A and B to agree")
        # ... until both have dropped the tombstones: the deletes are forgotten
        eventually(
            lambda: all(
                not set(deleted) & set(row_versions(procs[n], TABLE)) for n in (A, B)
            ),
            HORIZON_S + 30,
            "the tombstones to be collected in A and B",
        )
        # and Kafka no longer has the records (retention shorter than the absence)
        topics = [change_topic(n) for n in (A, B, R)]
        ends, starts = asyncio.run(_trim_topics(kafka_bootstrap, topics))
        assert starts == ends and any(ends.values())
        assert set(deleted) <= set(_live(procs[R])), "R still holds the deleted items"

        procs[R].start()
        # both findings: the heartbeat older than the horizon (at start) and the
        # applier's committed offsets below the log start (once assigned)
        def reseeded() -> bool:
            status = _reseed(procs[R])  # one read: state and reason of one moment
            return status["state"] == "done" and "trimmed" in status["reason"]

        eventually(reseeded, 90, "R's re-seed to complete")
        status = _reseed(procs[R])
        assert status["rounds_completed"] >= 1
        log = procs[R].log_tail(500_000)
        assert "longer than the tombstone horizon" in log
        assert "trimmed from Kafka before they were applied here" in log
        assert status["tables"][TABLE]["purged"] == len(deleted), status

        def converged() -> bool:
            views = [_live(procs[n]) for n in (A, B, R)]
            return views[0] == views[1] == views[2]

        eventually(converged, 60, "the three regions to hold the same items")
        live = _live(procs[A])
        # no delete resurrected, anywhere
        for n in (A, B, R):
            assert not set(deleted) & set(_live(procs[n])), n
        # what A and B wrote meanwhile reached R through the copy
        assert live["a-new"][2] is not None and "a-new" in _live(procs[R])
        assert _live(procs[R])["k06"] == live["k06"]
        assert live["k06"][1] == B
        # R's acknowledged writes that never reached Kafka were kept and shipped
        for k, version in r_writes.items():
            assert live[k] == version, k
        assert set(live) == (set(keys) - set(deleted)) | {"r-new", "a-new"}

        # the replica is ACTIVE again; the re-seed was logged
        r_client = procs[R].client()

        def active() -> bool:
            desc = r_client.describe_table(TableName=TABLE)["Table"]  # type: ignore[attr-defined]
            return bool({r["RegionName"]: r["ReplicaStatus"] for r in desc["Replicas"]}[R] == "ACTIVE")

        eventually(active, 30, "R's replica to be ACTIVE")
        assert "re-seeded ReseedOrders" in log
        # and a fresh write still replicates both ways
        _put(procs[R].client(), "after", "x")
        _put(a, "after-a", "y")
        eventually(converged, 30, "fresh writes to replicate")
        assert {"after", "after-a"} <= set(_live(procs[B]))
    finally:
        if cut_off is not None:
            cut_off.stop()
        for p in procs.values():
            p.stop()
