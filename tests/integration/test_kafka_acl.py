"""Kafka itself requires authentication, and a region may write only its own topic.

Against the session's real broker, which runs as ``globaltables kafka start`` runs it
(SASL/SCRAM-SHA-512, KRaft's StandardAuthorizer, nothing allowed without an ACL), with
principals made by ``globaltables kafka grant`` (docs/security.md, "Kafka: authentication
and ACLs"). Each test fails if that protection goes: a plaintext broker lets the
unauthenticated clients in, and a broker without the authorizer lets a region write
another region's topic.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from regions.kafka_security import KafkaSecurity
from replicator.kafka import apply_group, change_topic, ensure_topics, make_consumer, make_producer
from tests.fixtures.kafka import grant_regions, kafka_client_kwargs, kafka_security
from tests.fixtures.regions import RegionProcess, mesh, running

pytestmark = pytest.mark.integration

# names of their own, so no other test's regions share these topics and groups
A, B = "acl-a", "acl-b"


@pytest.fixture(scope="module")
def principals(kafka_bootstrap: str) -> dict[str, KafkaSecurity]:
    if not kafka_security().sasl:
        if os.environ.get("KAFKA_BOOTSTRAP"):
            pytest.skip("$KAFKA_BOOTSTRAP given without $KAFKA_USERNAME / $KAFKA_PASSWORD")
        pytest.fail("the session's broker runs without authentication")
    granted = grant_regions(kafka_bootstrap, A, B)
    # both topics exist (as the admin), so every refusal below is about rights, not absence
    asyncio.run(
        ensure_topics(kafka_bootstrap, [change_topic(A), change_topic(B)], 1, kafka_security())
    )
    return granted


async def _send(bootstrap: str, topic: str, value: bytes, **auth: object) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=5000,
        **auth,  # type: ignore[arg-type]
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _read(
    bootstrap: str, topic: str, want: bytes, group: str | None = None, **auth: object
) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=5000,
        **auth,  # type: ignore[arg-type]
    )
    try:
        await consumer.start()
        for _ in range(50):
            batches = await consumer.getmany(timeout_ms=200)
            if any(r.value == want for records in batches.values() for r in records):
                if group is not None:
                    await consumer.commit()
                return
        raise AssertionError(f"{want!r} not read from {topic}")
    finally:
        await consumer.stop()


async def _refused(bootstrap: str, **auth: object) -> None:
    """Neither producing to nor reading a globaltables topic gets through."""
    with pytest.raises(KafkaError) as produced:
        await asyncio.wait_for(_send(bootstrap, change_topic(A), b"forged", **auth), 30)
    assert isinstance(produced.value, KafkaConnectionError), repr(produced.value)
    with pytest.raises(KafkaError) as read:
        await asyncio.wait_for(_read(bootstrap, change_topic(A), b"anything", **auth), 30)
    assert isinstance(read.value, KafkaConnectionError), repr(read.value)


async def test_a_client_without_credentials_is_refused(
    kafka_bootstrap: str, principals: dict[str, KafkaSecurity]
) -> None:
    await _refused(kafka_bootstrap, **KafkaSecurity.insecure().client_kwargs())


async def test_a_client_with_a_wrong_password_is_refused(
    kafka_bootstrap: str, principals: dict[str, KafkaSecurity]
) -> None:
    for user in (f"region-{A}", "admin"):
        wrong = KafkaSecurity.sasl_scram(user, "not-the-password")
        await _refused(kafka_bootstrap, **wrong.client_kwargs())


async def test_a_region_writes_only_its_own_topic_and_reads_the_others(
    kafka_bootstrap: str, principals: dict[str, KafkaSecurity]
) -> None:
    a = principals[A]
    token = uuid.uuid4().hex.encode()
    # the replicator's own producer, as region A
    producer = make_producer(kafka_bootstrap, "acl-test", a)
    await producer.start()
    try:
        await producer.send_and_wait(change_topic(A), b"own-" + token, key=b"k")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(change_topic(B), b"forged-" + token, key=b"k")
        # nor a topic outside globaltables.*
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(f"other-{token.decode()}", b"x", key=b"k")
    finally:
        await producer.stop()

    # B wrote its topic (as B); A reads it in its own consumer group and commits
    await _send(
        kafka_bootstrap, change_topic(B), b"from-b-" + token, **principals[B].client_kwargs()
    )
    await _read(
        kafka_bootstrap, change_topic(B), b"from-b-" + token, apply_group(A), **a.client_kwargs()
    )
    # nothing forged reached B's topic: the admin sees B's record and no other
    admin = kafka_client_kwargs()
    consumer = AIOKafkaConsumer(
        change_topic(B), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", **admin
    )
    await consumer.start()
    try:
        seen: list[bytes] = []
        for _ in range(10):
            batches = await consumer.getmany(timeout_ms=200)
            seen += [r.value for records in batches.values() for r in records if r.value]
        assert b"from-b-" + token in seen and b"forged-" + token not in seen
    finally:
        await consumer.stop()

    # A cannot use B's consumer group (it could skip B's records for B otherwise)
    stolen = make_consumer(kafka_bootstrap, B, [change_topic(A)], a)
    with pytest.raises(GroupAuthorizationFailedError):
        await stolen.start()
        try:
            await asyncio.wait_for(stolen.getmany(timeout_ms=5000), 30)
        finally:
            await stolen.stop()


@pytest.fixture
def two_regions(
    kafka_bootstrap: str, principals: dict[str, KafkaSecurity], tmp_path: Path
) -> Iterator[dict[str, RegionProcess]]:
    procs = mesh((A, B), tmp_path, kafka_bootstrap)
    for name, proc in procs.items():
        # only the region's own principal: not the admin the session exports
        proc.env = {**proc.env, **principals[name].env()}
    with running(procs) as started:
        yield started


def test_two_regions_replicate_with_their_own_principals(
    two_regions: dict[str, RegionProcess],
) -> None:
    import time

    a, b = two_regions[A].client(), two_regions[B].client()
    a.create_table(  # type: ignore[attr-defined]
        TableName="AclOrders",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    a.update_table(TableName="AclOrders", ReplicaUpdates=[{"Create": {"RegionName": B}}])  # type: ignore[attr-defined]
    a.put_item(TableName="AclOrders", Item={"id": {"S": "from-a"}})  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = b.get_item(TableName="AclOrders", Key={"id": {"S": "from-a"}})  # type: ignore[attr-defined]
        if "Item" in got:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(
            "the write did not replicate: " + two_regions[A].log_tail() + two_regions[B].log_tail()
        )
    # and back, through B's principal and A's consumer group
    b.put_item(TableName="AclOrders", Item={"id": {"S": "from-b"}})  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while "Item" not in a.get_item(TableName="AclOrders", Key={"id": {"S": "from-b"}}):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, two_regions[B].log_tail()
        time.sleep(0.2)
    for proc in two_regions.values():
        log = proc.log_tail(20000)
        assert f"as region-{proc.name}" in log  # it ran as its own principal
        assert "AuthorizationFailed" not in log, log
