"""Each region its own Kafka cluster (``--peer-kafka``), one of them lost under load.

Three regions, each with its own single broker (globaltables.kafka_broker, its own
data directory, port and admin password).  Each region publishes to its broker and
reads the two others' topics from theirs, logging in there with the credentials its
``--config`` file's ``peer_kafka`` tables give (the region's own come from the
environment).  Under a bounded write load on all three, region A's broker is killed
(SIGKILL) for ``GLOBALTABLES_TEST_KAFKA_OUTAGE_S`` seconds (default 30), then started
again from the same data directory.  During the outage B and C keep replicating to
each other (a write in B is read in C within seconds; A too keeps receiving them,
its consumers being on B's and C's brokers) and only A's cluster is reported down;
after the restart every region holds the same items, with every acknowledged write
(A's outage-time writes, queued in its outbox, included).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from globaltables import kafka_broker
from tests.chaos.load import Ledger, LoadClient, audit, wait_for
from tests.fixtures.kafka import free_port
from tests.fixtures.regions import RegionProcess, free_ports

pytestmark = pytest.mark.integration

#: names no other test uses (every region here has its own broker anyway)
A, B, C = NAMES = ("pkr-a", "pkr-b", "pkr-c")
TABLE = "per_region_kafka"
#: seconds region A's broker stays down (the issue's test: 30)
OUTAGE_S = float(os.environ.get("GLOBALTABLES_TEST_KAFKA_OUTAGE_S", "30"))
#: how fast a write in B must be readable in C while A's broker is down
B_TO_C_S = 5.0
#: the ``globaltables region`` variables that carry Kafka credentials (the session's
#: broker's, when another test started it): each region here gets its own broker's
KAFKA_VARS = (
    "GLOBALTABLES_KAFKA_SECURITY_PROTOCOL",
    "GLOBALTABLES_KAFKA_SASL_MECHANISM",
    "GLOBALTABLES_KAFKA_USERNAME",
    "GLOBALTABLES_KAFKA_PASSWORD",
    "GLOBALTABLES_KAFKA_CA_FILE",
    "GLOBALTABLES_KAFKA_INSECURE_PLAINTEXT",
    "GLOBALTABLES_PEER_KAFKA",
)


@dataclass
class Broker:
    data: Path
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        kafka_broker.start(self.data, port=self.port, timeout=90)

    def kill(self) -> None:
        info = kafka_broker.status(self.data)
        assert info is not None, f"the broker in {self.data} is not running"
        os.kill(info.pid, signal.SIGKILL)
        assert wait_for(lambda: kafka_broker.status(self.data) is None, 30), "no exit"


def _start_brokers(root: Path) -> dict[str, Broker]:
    """A broker per region, started side by side (a JVM start takes seconds)."""
    brokers = {n: Broker(root / f"kafka-{n}", free_port()) for n in NAMES}
    errors: list[BaseException] = []

    def start(b: Broker) -> None:
        for attempt in range(3):
            try:
                b.start()
                return
            except kafka_broker.PortInUseError as exc:
                if attempt == 2:
                    errors.append(exc)
                    return
                b.port = free_port()  # taken between the pick and the JVM's bind
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=start, args=(b,)) for b in brokers.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    if errors:
        for b in brokers.values():
            kafka_broker.stop(b.data)
        raise errors[0]
    return brokers


def _regions(root: Path, brokers: dict[str, Broker]) -> dict[str, RegionProcess]:
    """Each region: ``--kafka`` its own broker (its admin credentials from the
    environment), ``--config`` naming each peer's broker and the password there."""
    ports = dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
    procs: dict[str, RegionProcess] = {}
    for n in NAMES:
        config = root / f"{n}.toml"
        lines: list[str] = []
        for peer in NAMES:
            if peer != n:
                password = kafka_broker.admin_password(brokers[peer].data)
                # the username ("admin") is the region's own, from the environment
                lines += [
                    f"[peer_kafka.{peer}]",
                    f'bootstrap = "{brokers[peer].bootstrap}"',
                    f'kafka_password = "{password}"',
                ]
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)
        procs[n] = RegionProcess(
            n,
            ports[n],
            f"sqlite:///{root}/{n}.db",
            kafka=brokers[n].bootstrap,
            peers={p: f"http://127.0.0.1:{ports[p]}" for p in NAMES if p != n},
            log_dir=root,
            extra_args=["--config", str(config)],
            env=kafka_broker.admin_security(brokers[n].data).env(),
        )
    return procs


@pytest.fixture
def deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, Broker], dict[str, RegionProcess]]]:
    for var in KAFKA_VARS:
        monkeypatch.delenv(var, raising=False)
    brokers = _start_brokers(tmp_path)
    procs = _regions(tmp_path, brokers)
    try:
        starters = [threading.Thread(target=p.start, kwargs={"timeout": 60}) for p in procs.values()]
        for t in starters:
            t.start()
        for t in starters:
            t.join(timeout=90)
        for p in procs.values():
            assert p.proc is not None and p.proc.poll() is None, p.log_tail()
        yield brokers, procs
    finally:
        for p in procs.values():
            p.stop()
        for b in brokers.values():
            kafka_broker.stop(b.data)


def _make_global(procs: dict[str, RegionProcess]) -> dict[str, Any]:
    clients: dict[str, Any] = {n: p.client() for n, p in procs.items()}
    clients[A].create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for r in (B, C):
        clients[A].update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": r}}])

    def everywhere() -> bool:
        for n in NAMES:
            try:
                t = clients[n].describe_table(TableName=TABLE)["Table"]
            except Exception:
                return False
            if sorted(r["RegionName"] for r in t.get("Replicas", [])) != sorted(NAMES):
                return False
        return True

    assert wait_for(everywhere, 30), "the table did not become global"
    return clients


def _has(client: Any, key: str) -> bool:
    return "Item" in client.get_item(TableName=TABLE, Key={"id": {"S": key}})


def _problems(proc: RegionProcess) -> list[str]:
    problems: Any = proc.health().get("problems") or []
    return [str(p) for p in problems]


def test_one_regions_kafka_down_stalls_only_its_outbound_replication(
    deployment: tuple[dict[str, Broker], dict[str, RegionProcess]],
) -> None:
    brokers, procs = deployment
    clients = _make_global(procs)
    # every region's feeds are connected before the fault (the table is there)
    assert wait_for(lambda: all(not _problems(p) for p in procs.values()), 30), {
        n: _problems(p) for n, p in procs.items()
    }
    ledger = Ledger()
    # bounded: stopped below, and never longer than this nor past max_writes
    load = LoadClient(procs, TABLE, ledger, rate_per_thread=15, max_writes=2000)
    load.start(OUTAGE_S + 60)
    try:
        time.sleep(3)
        brokers[A].kill()
        killed = time.monotonic()
        # B -> C (and -> A) while A's broker is down: B's writes arrive within seconds
        delays: list[float] = []
        n = 0
        while time.monotonic() - killed < OUTAGE_S - B_TO_C_S:
            n += 1
            key = f"probe-{B}-{n}"
            clients[B].put_item(TableName=TABLE, Item={"id": {"S": key}})
            written = time.monotonic()
            assert wait_for(partial(_has, clients[C], key), B_TO_C_S, interval=0.1), (
                f"{key}, written in {B} {written - killed:.0f}s into the outage, "
                f"not in {C} after {B_TO_C_S}s"
            )
            delays.append(time.monotonic() - written)
            assert wait_for(partial(_has, clients[A], key), B_TO_C_S, interval=0.1)
            time.sleep(1.0)
        assert n >= 3, f"only {n} probes during the outage"
        # only A's cluster is reported: by C for its consumer there, by A for its publisher
        c_problems = _problems(procs[C])
        assert any(brokers[A].bootstrap in p and A in p for p in c_problems), c_problems
        assert not any(brokers[B].bootstrap in p for p in c_problems), c_problems
        assert any(p.startswith("publisher not connected") for p in _problems(procs[A]))
        time.sleep(max(killed + OUTAGE_S - time.monotonic(), 0))
        outage_acks = len(ledger.acked)
        brokers[A].start()
        time.sleep(3)
    finally:
        load.stop()
    a_writes = sum(1 for ack in ledger.acked if ack.region == A)
    assert a_writes > 0 and len(ledger.acked) > outage_acks > 0

    last: list[Any] = []

    def converged() -> bool:
        last[:] = [audit(procs, TABLE, ledger.acked)]
        return bool(last[0].ok)

    assert wait_for(converged, 60, interval=1.0), (
        f"lost: {last[0].lost[:10]}; diverging: {last[0].diverging_keys[:10]}"
    )
    # the probes too, everywhere; and the deployment is healthy again
    for key in (f"probe-{B}-{i}" for i in range(1, n + 1)):
        assert all(_has(clients[r], key) for r in NAMES), key
    assert wait_for(lambda: all(not _problems(p) for p in procs.values()), 30), {
        r: _problems(p) for r, p in procs.items()
    }
    assert max(delays) < B_TO_C_S
