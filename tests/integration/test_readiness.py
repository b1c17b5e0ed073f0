"""/healthz, /readyz and the publisher's status follow the broker (issue 14.7): a
region on its own private broker (stopping the session's shared one would break
every other test), the broker stopped under it, then started again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from globaltables import kafka_broker
from tests.fixtures.kafka import free_port
from tests.fixtures.regions import RegionProcess, free_ports
from tests.integration.api.support import http


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[tuple[Path, int, dict[str, str]]]:
    """A private broker: its data dir, port and the region variables of its admin."""
    data = tmp_path / "kafka"
    port = free_port()
    info = kafka_broker.start(data, port=port)
    security = getattr(info, "security", None)  # SASL credentials of a secure broker
    env: dict[str, str] = dict(security.env()) if security is not None else {}
    try:
        yield data, port, env
    finally:
        kafka_broker.stop(data)


def _within(seconds: float, check: Callable[[], bool], what: str) -> float:
    """Seconds until ``check()`` held; fails after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds}s: {what}")


def test_health_follows_the_broker(
    broker: tuple[Path, int, dict[str, str]], tmp_path: Path
) -> None:
    data, port, kafka_env = broker
    own, peer = free_ports(2)
    # the peer never runs: its topic still gives the applier a source to read
    region = RegionProcess(
        "us-west-1",
        own,
        f"sqlite:///{tmp_path}/r.db",
        kafka=f"127.0.0.1:{port}",
        peers={"eu-north-1": f"http://127.0.0.1:{peer}"},
        log_dir=tmp_path,
        env=kafka_env,
    ).start()
    try:
        ddb: Any = region.client()
        health = lambda: httpx.get(f"{region.url}/healthz", timeout=5)  # noqa: E731
        ready = lambda: httpx.get(f"{region.url}/readyz", timeout=5)  # noqa: E731

        def publisher() -> dict[str, Any]:
            body = http().get(f"{region.url}/v1/replication").json()
            return dict(body["replication"]["publisher"])

        _within(60, lambda: ready().status_code == 200, "ready with the broker up")
        assert health().json()["status"] == "ok" and health().json()["problems"] == []
        assert publisher()["connected"] is True
        errors_before = publisher()["errors"]

        kafka_broker.stop(data)
        took = _within(10, lambda: publisher()["connected"] is False, "publisher disconnected")
        assert took < 10
        _within(10, lambda: ready().status_code == 503, "readyz 503")

        def both_down() -> bool:
            problems = health().json()["problems"]
            return any(p.startswith("publisher not connected") for p in problems) and any(
                p.startswith("applier not connected") for p in problems
            )

        took = _within(10, both_down, "publisher and applier reported disconnected")
        down = health()
        assert down.status_code == 200  # liveness: the region itself is fine
        body = down.json()
        assert body["status"] == "degraded" and body["region"] == "us-west-1"
        assert ready().json()["problems"]
        # failed contacts count as errors
        assert publisher()["errors"] > errors_before

        # a write while the broker is away: its send times out, the publisher restarts
        # and fails to start several times; every failed producer is closed
        ddb.create_table(
            TableName="readiness",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="readiness", Item={"id": {"S": "while-down"}})
        _within(
            120,
            lambda: region.log_tail(200_000).count("publisher failed") >= 3,
            "several failed publisher restarts",
        )

        kafka_broker.start(data, port=port)
        _within(60, lambda: ready().status_code == 200, "ready again with the broker back")
        assert health().json()["status"] == "ok"
        assert publisher()["connected"] is True
        _within(30, lambda: publisher()["backlog"] == 0, "the write published")
    finally:
        region.stop()
    log = region.log_tail(1_000_000)
    assert log.count("publisher failed") >= 3
    assert "Unclosed AIOKafka" not in log
