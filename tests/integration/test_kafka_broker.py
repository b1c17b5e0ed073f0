"""Integration tests for globaltables.kafka_broker against a real Apache Kafka broker.

No mocks: every test talks to a JVM started from the Maven Central jars. Brokers take a few
seconds to start on a 2-core machine, so one module-scoped broker is shared where possible.
The brokers run as ``globaltables kafka start`` runs them: SASL/SCRAM with ACLs, so every
client here signs in as the broker's admin (what the regions' principals may do is in
test_kafka_acl.py).
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from globaltables import kafka_broker
from regions.kafka_security import KafkaSecurity

# Harmless if a root conftest registers the plugin too; pytest loads it once.

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    # Imported at call time: importing the plugin module before pytest registers it (via
    # pytest_plugins above) would stop pytest from assertion-rewriting it, with a warning.
    from tests.fixtures.kafka import free_port as _free_port

    return _free_port()


def _topic() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _start(data_dir: Path, *, secure: bool = True) -> kafka_broker.BrokerInfo:
    # free_port() may race with another process; start() says so with PortInUseError.
    for attempt in range(3):
        try:
            return kafka_broker.start(data_dir, port=free_port(), secure=secure)
        except kafka_broker.PortInUseError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka_broker.BrokerInfo]:
    data_dir = tmp_path_factory.mktemp("broker-a")
    info = _start(data_dir)
    try:
        yield info
    finally:
        kafka_broker.stop(data_dir)


def _auth(security: KafkaSecurity | None) -> dict[str, object]:
    if security is None:  # the session broker: its admin, as exported by the fixture
        from tests.fixtures.kafka import kafka_client_kwargs

        return kafka_client_kwargs()
    return security.client_kwargs()


async def _produce(
    bootstrap: str, topic: str, values: list[bytes], security: KafkaSecurity | None
) -> None:
    # The producer configuration the replicator uses: idempotent, acks from all in-sync
    # replicas. This needs InitProducerId, which Kafka emulators tend to lack.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        **_auth(security),  # type: ignore[arg-type]
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _consume(
    bootstrap: str, topic: str, group: str, count: int, security: KafkaSecurity | None
) -> list[bytes]:
    """Read ``count`` messages as consumer group ``group`` and commit the offsets."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        **_auth(security),  # type: ignore[arg-type]
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        while len(got) < count:
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, f"no messages within 10s; got {len(got)} of {count}"
            for records in batches.values():
                got.extend(r.value for r in records if r.value is not None)
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def _committed(
    bootstrap: str, topic: str, group: str, security: KafkaSecurity | None
) -> int | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        **_auth(security),  # type: ignore[arg-type]
    )
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(TopicPartition(topic, 0))
        return offset
    finally:
        await consumer.stop()


async def _topics(bootstrap: str, security: KafkaSecurity | None) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **_auth(security))  # type: ignore[arg-type]
    await admin.start()
    try:
        topics: list[str] = await admin.list_topics()
        return topics
    finally:
        await admin.close()


def test_status_reports_running(broker: kafka_broker.BrokerInfo) -> None:
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"
    assert kafka_broker.status(broker.data_dir) == broker
    record = (broker.data_dir / "broker.json").read_text()
    assert f'"pid": {broker.pid}' in record
    # started from Maven jars with a capped heap and the serial GC
    cmdline = Path(f"/proc/{broker.pid}/cmdline").read_bytes().split(b"\0")
    assert b"-Xmx512m" in cmdline and b"-XX:+UseSerialGC" in cmdline


def test_secure_by_default(broker: kafka_broker.BrokerInfo) -> None:
    # SASL/SCRAM on the client listener, the KRaft authorizer denying what no ACL allows,
    # and only the admin as super user; the files holding its password are private.
    assert broker.secure and broker.security.username == kafka_broker.ADMIN_USER
    props = dict(
        line.split("=", 1)
        for line in (broker.data_dir / "server.properties").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert props["listener.security.protocol.map"] == (
        "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    )
    assert props["advertised.listeners"] == f"CLIENT://127.0.0.1:{broker.port}"
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    password = kafka_broker.admin_password(broker.data_dir)
    assert broker.security.password == password
    assert password not in repr(broker)
    for private in ("server.properties", "admin.password"):
        mode = stat.S_IMODE((broker.data_dir / private).stat().st_mode)
        assert mode == 0o600, (private, oct(mode))


def test_start_again_returns_running_broker(broker: kafka_broker.BrokerInfo) -> None:
    assert kafka_broker.start(broker.data_dir, port=broker.port) == broker


async def test_idempotent_produce_and_group_consume(broker: kafka_broker.BrokerInfo) -> None:
    topic, group = _topic(), f"g-{uuid.uuid4().hex[:8]}"
    values = [f"m{i}".encode() for i in range(20)]
    sec = broker.security
    await _produce(broker.bootstrap, topic, values, sec)

    assert await _consume(broker.bootstrap, topic, group, len(values), sec) == values
    assert await _committed(broker.bootstrap, topic, group, sec) == len(values)

    # The group resumes after its committed offset: only new messages are delivered.
    await _produce(broker.bootstrap, topic, [b"late"], sec)
    assert await _consume(broker.bootstrap, topic, group, 1, sec) == [b"late"]


async def test_two_brokers_side_by_side(broker: kafka_broker.BrokerInfo, tmp_path: Path) -> None:
    # the other one as `kafka start --insecure-plaintext` runs it: no credentials at all
    other = _start(tmp_path / "broker-b", secure=False)
    try:
        assert other.port != broker.port and other.pid != broker.pid
        assert not other.secure and other.security == KafkaSecurity.insecure()
        assert not (other.data_dir / "admin.password").exists()
        assert kafka_broker.status(broker.data_dir) == broker
        assert kafka_broker.status(other.data_dir) == other
        # Independent clusters: a topic written to one does not exist on the other.
        topic = _topic()
        await _produce(other.bootstrap, topic, [b"only-on-b"], other.security)
        assert topic in await _topics(other.bootstrap, other.security)
        assert topic not in await _topics(broker.bootstrap, broker.security)
    finally:
        assert kafka_broker.stop(other.data_dir)
    assert kafka_broker.status(other.data_dir) is None
    assert kafka_broker.status(broker.data_dir) == broker
    # a data directory keeps the security it was formatted with: an insecure one started
    # with SASL would have no admin credential (and the reverse would drop the ACLs)
    with pytest.raises(kafka_broker.KafkaBrokerError, match="--insecure-plaintext"):
        kafka_broker.start(other.data_dir, port=free_port())
    assert kafka_broker.status(other.data_dir) is None


async def test_stop_and_restart_keeps_data(broker: kafka_broker.BrokerInfo) -> None:
    # Last in the module: it restarts the shared broker (same data dir and port).
    topic, group = _topic(), f"g-{uuid.uuid4().hex[:8]}"
    values = [f"durable-{i}".encode() for i in range(5)]
    sec = broker.security
    await _produce(broker.bootstrap, topic, values, sec)
    assert await _consume(broker.bootstrap, topic, group, len(values), sec) == values  # commits

    assert kafka_broker.stop(broker.data_dir)
    assert kafka_broker.status(broker.data_dir) is None
    assert not kafka_broker.stop(broker.data_dir)  # nothing left to stop

    again = kafka_broker.start(broker.data_dir, port=broker.port)
    assert again.pid != broker.pid and again.bootstrap == broker.bootstrap
    # the same admin password: the one the storage was formatted with
    assert again.security == broker.security
    # Messages and the group's committed offset survived the restart.
    fresh = f"fresh-{group}"
    assert await _consume(again.bootstrap, topic, fresh, len(values), sec) == values
    assert await _committed(again.bootstrap, topic, group, sec) == len(values)


async def test_session_fixture_broker_works(kafka_bootstrap: str) -> None:
    topic = _topic()
    await _produce(kafka_bootstrap, topic, [b"hello"], None)
    assert await _consume(kafka_bootstrap, topic, "fixture-group", 1, None) == [b"hello"]


async def test_ensure_topics_reports_only_the_topics_it_created(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    from replicator.kafka import ensure_topics
    from tests.fixtures.kafka import kafka_security

    first, second = _topic(), _topic()
    with caplog.at_level("INFO", logger="globaltables.kafka"):
        assert await ensure_topics(kafka_bootstrap, [first], 1, kafka_security()) == [first]
        # the broker answers an existing topic with an error code, which is no creation
        assert await ensure_topics(kafka_bootstrap, [first, second], 1, kafka_security()) == [
            second
        ]
        assert await ensure_topics(kafka_bootstrap, [first, second], 1, kafka_security()) == []
    created = [r.getMessage() for r in caplog.records if "created topic" in r.getMessage()]
    assert created == [
        f"created topic {first} (1 partitions, 1 replicas)",
        f"created topic {second} (1 partitions, 1 replicas)",
    ]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "globaltables.cli_kafka", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize(
    ("brokers", "why"),
    [("2", "cannot hold replication factor 3"), ("5", "not supported"), ("0", "makes no sense")],
)
def test_cli_refuses_broker_counts_that_make_no_sense(
    tmp_path: Path, brokers: str, why: str
) -> None:
    result = _cli("start", "--brokers", brokers, "--data", str(tmp_path / "kafka"))
    assert result.returncode == 2, result.stderr  # a usage error, before any JVM
    assert why in result.stderr and "use --brokers 1 or --brokers 3" in result.stderr
    assert not (tmp_path / "kafka").exists()


def test_a_single_brokers_directory_is_no_cluster(broker: kafka_broker.BrokerInfo) -> None:
    before = sorted(p.name for p in broker.data_dir.iterdir())
    result = _cli("start", "--brokers", "3", "--data", str(broker.data_dir))
    assert result.returncode == 1
    assert "holds a single broker: start it without --brokers" in result.stderr
    assert sorted(p.name for p in broker.data_dir.iterdir()) == before
    assert kafka_broker.status(broker.data_dir) is not None  # still running


def test_cli_start_status_stop(tmp_path: Path) -> None:
    data, port = tmp_path / "cli-broker", free_port()
    try:
        started = _cli("start", "--port", str(port), "--data", str(data))
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip().splitlines()[-1] == f"127.0.0.1:{port}"
        # it says where the admin password is and how regions get credentials
        assert "SASL/SCRAM-SHA-512 with ACLs" in started.stderr
        assert str(data / "admin.password") in started.stderr
        assert "globaltables kafka grant" in started.stderr
        password = (data / "admin.password").read_text().strip()
        assert password not in started.stdout + started.stderr

        # a region's principal, its credentials written where asked, private
        creds = tmp_path / "creds"
        granted = _cli("grant", "us-east-1", "--data", str(data), "--config-dir", str(creds))
        assert granted.returncode == 0, granted.stderr
        assert "granted region-us-east-1" in granted.stderr
        config = creds / "us-east-1.toml"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        keys = tomllib.loads(config.read_text())
        assert keys["kafka_username"] == "region-us-east-1"
        assert keys["kafka_password"] not in granted.stdout + granted.stderr
        region = KafkaSecurity.sasl_scram(keys["kafka_username"], keys["kafka_password"])
        asyncio.run(_produce(f"127.0.0.1:{port}", "globaltables.us-east-1.changes", [b"x"], region))
        # without --config-dir the variables go to stdout, once
        printed = _cli("grant", "eu-west-1", "--data", str(data), "--password", "pw-eu-west-1")
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout.splitlines()[1:] == [
            "GLOBALTABLES_KAFKA_USERNAME=region-eu-west-1",
            "GLOBALTABLES_KAFKA_PASSWORD=pw-eu-west-1",
        ]

        running = _cli("status", "--data", str(data))
        assert running.returncode == 0, running.stderr
        assert running.stdout.strip() == f"127.0.0.1:{port}"
        # The broker outlives the CLI process that started it.
        assert kafka_broker.status(data) is not None

        stopped = _cli("stop", "--data", str(data))
        assert stopped.returncode == 0, stopped.stderr
        gone = _cli("status", "--data", str(data))
        assert gone.returncode == 1
        assert "no Kafka broker running" in gone.stderr
    finally:
        kafka_broker.stop(data)
