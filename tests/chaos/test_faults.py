"""Faults under write load, with real processes: the replicas must lose nothing.

After each fault heals: every acknowledged write is in every replica or was
superseded by a higher version that is (``load.audit``), ``globaltables verify``
finds the replicas identical, the outboxes and appliers are idle and a fresh
write reaches every region within the normal lag bound.  Each test appends its
row to the fault table (tests/chaos/conftest.py) before it asserts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from replicator.kafka import apply_group, change_topic
from tests.chaos.conftest import RESULTS, FaultResult, Params
from tests.chaos.deployment import CUT_REGION, NAMES, Deployment
from tests.chaos.load import Audit, Ledger, LoadClient, audit, wait_for
from tests.integration.api.support import unique
from tests.integration.replication.helpers import make_global

pytestmark = pytest.mark.integration


def _settle(
    dep: Deployment,
    fault: str,
    table: str,
    ledger: Ledger,
    healed_at: float,
    params: Params,
    note: str = "",
) -> FaultResult:
    """Wait for convergence, then check it three ways; record the row, then assert."""
    last: list[Audit] = []

    def converged() -> bool:
        last[:] = [audit(dep.regions, table, ledger.acked)]
        return last[0].ok and dep.replication_idle()

    done = wait_for(converged, params.converge_timeout_s, interval=0.5)
    converge_s = time.monotonic() - healed_at if done else None
    verify_exit, verify_out = dep.verify(table)
    lag_s = dep.probe_lag(table, params.lag_bound_s) if done else None
    result = FaultResult(
        fault=fault,
        acknowledged=len(ledger.acked),
        unacknowledged=ledger.unacknowledged,
        lost=len(last[0].lost),
        converge_s=converge_s,
        lag_s=lag_s,
        verify_exit=verify_exit,
        note=note,
    )
    RESULTS.append(result)
    assert not last[0].lost, last[0].lost[:20]
    assert done, f"no convergence: {len(last[0].diverging_keys)} keys differ"
    assert verify_exit == 0, verify_out
    assert lag_s is not None and lag_s <= params.lag_bound_s, lag_s
    # a fault test that acknowledged nothing would prove nothing
    assert result.acknowledged > 0
    return result


def _table(dep: Deployment, prefix: str) -> str:
    name = unique(prefix)
    make_global(dep.regions, name)
    return name


def test_sigkill_a_region_under_load(deployment: Deployment, params: Params) -> None:
    table = _table(deployment, "kill")
    ledger = Ledger()
    load = LoadClient(deployment.regions, table, ledger).start(params.load_s * 2 + 30)
    time.sleep(params.load_s)
    before = len(ledger.acked)
    deployment.kill("eu-west-1")
    time.sleep(1.0)
    deployment.restart("eu-west-1")
    time.sleep(params.load_s)
    load.stop()
    healed = time.monotonic()
    _settle(
        deployment,
        "SIGKILL eu-west-1 under load, restart",
        table,
        ledger,
        healed,
        params,
        note=f"{before} writes acknowledged before the kill",
    )


def test_sigkill_the_replicator_repeatedly(deployment: Deployment, params: Params) -> None:
    # the replicator runs inside the region process: killing it kills both, with
    # changes in the outbox, batches in flight to Kafka and offsets uncommitted
    table = _table(deployment, "rkill")
    ledger = Ledger()
    load = LoadClient(deployment.regions, table, ledger, rate_per_thread=60)
    load.start(params.kills * 10 + params.load_s + 60)
    for _ in range(params.kills):
        time.sleep(1.5)
        deployment.kill("us-east-1")
        deployment.restart("us-east-1")
    time.sleep(params.load_s)
    load.stop()
    _settle(
        deployment,
        f"SIGKILL us-east-1 (replicator) x{params.kills}",
        table,
        ledger,
        time.monotonic(),
        params,
    )


def test_kafka_broker_stop_and_restart(deployment: Deployment, params: Params) -> None:
    table = _table(deployment, "kstop")
    ledger = Ledger()
    load = LoadClient(deployment.regions, table, ledger)
    load.start(params.kafka_down_s + params.load_s * 2 + 120)
    time.sleep(params.load_s)
    deployment.stop_broker()
    time.sleep(params.kafka_down_s)
    during = len(ledger.acked)
    deployment.start_broker()
    time.sleep(params.load_s)
    load.stop()
    _settle(
        deployment,
        f"Kafka broker down {params.kafka_down_s:.0f} s under load",
        table,
        ledger,
        time.monotonic(),
        params,
        note=f"regions kept acknowledging writes with Kafka down ({during} by restart time)",
    )


def test_cut_one_region_off_from_kafka(deployment: Deployment, params: Params) -> None:
    cut_region_off_from_kafka(deployment, params)


def cut_region_off_from_kafka(dep: Deployment, params: Params, label: str = "") -> FaultResult:
    """Cut ap-southeast-2's Kafka path under load, heal, settle (also run under WAN
    latency by tests/chaos/test_wan.py)."""
    assert dep.proxy is not None
    table = _table(dep, "cut")
    ledger = Ledger()
    load = LoadClient(dep.regions, table, ledger)
    load.start(params.cut_s + params.load_s * 2 + 60)
    time.sleep(params.load_s)
    dep.proxy.cut()
    try:
        time.sleep(params.cut_s)
        health = dep.health(CUT_REGION)
        stuck = health["replication"]["publisher"]["backlog"] if health else None
    finally:
        dep.proxy.heal()
    healed = time.monotonic()
    time.sleep(params.load_s)
    load.stop()
    # the cut must have bitten: the cut region's own writes waited in its outbox
    assert stuck is not None and stuck > 0, stuck
    return _settle(
        dep,
        f"{CUT_REGION} cut off from Kafka {params.cut_s:.0f} s{label}",
        table,
        ledger,
        healed,
        params,
        note=f"{stuck} changes waited in {CUT_REGION}'s outbox during the cut",
    )


def _conflicts(dep: Deployment, table: str) -> str:
    """How many LWW conflicts the regions logged for ``table`` ("1000+" past what
    /v1/conflicts returns per region)."""
    counts = [
        len(
            httpx.get(f"{p.url}/v1/conflicts", params={"table": table, "limit": 1000})
            .json()
            .get("conflicts", [])
        )
        for p in dep.regions.values()
    ]
    return f"{sum(counts):,}" + ("+" if max(counts) >= 1000 else "")


def test_clock_skew_with_concurrent_writers(deployment: Deployment, params: Params) -> None:
    """eu-west-1's clock runs 5 s ahead, then 5 s behind, while every region writes
    the same 10 keys: last-writer-wins must still converge and drop nothing that
    did not lose to a higher version."""
    table = _table(deployment, "skew")
    ledger = Ledger()
    try:
        for skew in (5000, -5000):
            deployment.restart("eu-west-1", ["--clock-skew-ms", str(skew)])
            load = LoadClient(deployment.regions, table, ledger, keys=10, threads_per_region=2)
            load.start(params.skew_load_s).join()
    finally:
        deployment.restart("eu-west-1")
    healed = time.monotonic()
    _settle(
        deployment,
        "eu-west-1 clock +5 s, then -5 s; 10 hot keys",
        table,
        ledger,
        healed,
        params,
        note=f"{_conflicts(deployment, table)} LWW conflicts logged",
    )


async def _kafka_backlog(
    bootstrap: str, region: str, sources: list[str], auth: dict[str, Any]
) -> int:
    """Records in the sources' topics that ``region``'s consumer group has not committed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="chaos-backlog", **auth)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-backlog", **auth)
    await consumer.start()
    await admin.start()
    try:
        # the consumer has no subscription, so its metadata knows no partitions: ask
        described = await admin.describe_topics([change_topic(s) for s in sources])
        parts = [
            TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
        ]
        assert parts, described
        ends: dict[Any, int] = await consumer.end_offsets(parts)
        committed = await admin.list_consumer_group_offsets(apply_group(region))
        return sum(
            end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
        )
    finally:
        await consumer.stop()
        await admin.close()


def test_fill_the_topics_faster_than_a_region_applies(
    deployment: Deployment, params: Params
) -> None:
    # SIGSTOP: the region applies nothing while two regions write batches as fast as
    # they can; then it must catch up from Kafka alone
    table = _table(deployment, "burst")
    ledger = Ledger()
    sources = [n for n in NAMES if n != CUT_REGION]
    deployment.pause(CUT_REGION)
    try:
        load = LoadClient(
            deployment.regions,
            table,
            ledger,
            keys=5000,
            rate_per_thread=50,
            max_writes=4000 if params.burst_s < 10 else 40000,
            batch=True,
            threads_per_region=2,
        )
        load.start(params.burst_s, only=sources).join()
        # what the applier will have to catch up with (offsets cannot move while paused)
        assert wait_for(deployment.replication_idle_except(CUT_REGION), 60)
        backlog = asyncio.run(
            _kafka_backlog(deployment.bootstrap, CUT_REGION, sources, deployment.kafka_kwargs())
        )
    finally:
        deployment.resume(CUT_REGION)
    resumed = time.monotonic()
    assert backlog >= len(ledger.acked) > 0, (backlog, len(ledger.acked))
    _settle(
        deployment,
        f"{backlog:,} records queued for a paused region",
        table,
        ledger,
        resumed,
        params,
        note=f"{CUT_REGION} paused (SIGSTOP) during a {params.burst_s:.0f} s batch burst",
    )


def test_concurrent_increments_in_two_regions_lose_one(deployment: Deployment) -> None:
    """What docs/reliability.md tells users: UpdateItem's ADD is evaluated in the
    region that receives it and the whole resulting item replicates, so two
    concurrent increments in two regions end as ONE increment everywhere, and the
    losing image is in the conflict log.  (Kept here because it needs the cut.)"""
    assert deployment.proxy is not None
    table = _table(deployment, "incr")
    east: Any = deployment.regions["us-east-1"].client()
    south: Any = deployment.regions[CUT_REGION].client()
    key = {"id": {"S": "counter"}}
    east.put_item(TableName=table, Item={**key, "n": {"N": "5"}})
    assert wait_for(lambda: "Item" in south.get_item(TableName=table, Key=key), 30)
    # concurrent = neither region has seen the other's increment: cut one off first
    deployment.proxy.cut()
    try:
        for client in (east, south):
            out = client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
            assert out["Attributes"]["n"] == {"N": "6"}  # each region counted once
    finally:
        deployment.proxy.heal()

    clients: list[Any] = [p.client() for p in deployment.regions.values()]

    def settled() -> bool:
        items = [c.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] for c in clients]
        return all(item == items[0] for item in items)

    # both images read n=6, so equal items do not mean the exchange happened yet: the
    # loser is in a conflict log once the winner's region has received it
    assert wait_for(lambda: _conflicts(deployment, table) != "0", 60)
    assert wait_for(settled, 60)
    final = east.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert final["n"] == {"N": "6"}, final  # not 7: one increment lost, by design
