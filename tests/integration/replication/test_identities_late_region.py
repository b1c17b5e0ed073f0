"""A region that joins after users and keys were created gets them from its peers
(replicator/identity_sync.py), not only the changes published after it subscribed:
two regions run on the session's Kafka, a user and keys are created (and one key
revoked), the topics lose those records (retention, simulated by deleting them), and
a third region started then authenticates the keys within seconds, but not the
revoked one.  Real Kafka, real region processes, boto3.

The regions' names are this module's own: topics and consumer groups are named by
region, and the session's Kafka is shared with every other test.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete
from botocore.config import Config
from botocore.exceptions import ClientError

from replicator.kafka import change_topic
from tests.fixtures.kafka import kafka_client_kwargs
from tests.fixtures.regions import REPO, RegionProcess, cli_env, free_port, mesh, running
from tests.integration.api.support import http
from tests.integration.replication.helpers import eventually, new_key

pytestmark = pytest.mark.integration

EARLY = ("me-south-1", "af-south-1")
LATE = "il-central-1"
IDENTITIES = "globaltables:identities"


@pytest.fixture(scope="module")
def early(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RegionProcess]]:
    with running(mesh(EARLY, tmp_path_factory.mktemp("late-join"), kafka_bootstrap)) as procs:
        yield procs


def _outcome(proc: RegionProcess, key: dict[str, str]) -> str:
    """ "ok", or the error code of a ListTables signed with ``key`` (boto3)."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=proc.url,
        region_name=proc.name,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    try:
        client.list_tables()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


async def _drop_records(bootstrap: str, topics: list[str]) -> None:
    """Delete every record of ``topics`` so far, as Kafka's retention would."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_client_kwargs())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_kwargs())
    await consumer.start()
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        tps = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            for p in t["partitions"]
        ]
        assert tps, f"no partitions for {topics}"
        ends = await consumer.end_offsets(tps)
        await admin.delete_records({tp: RecordsToDelete(ends[tp]) for tp in tps if ends[tp]})
        starts = await consumer.beginning_offsets(tps)
        assert starts == ends, (starts, ends)
    finally:
        await admin.close()
        await consumer.stop()


def _verify(procs: list[RegionProcess]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "globaltables.cli", "verify", "--table", IDENTITIES]
    for p in procs:
        cmd += ["--endpoint", f"{p.name}={p.url}"]
    return subprocess.run(cmd, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)


def test_a_region_started_later_gets_the_keys_created_before(
    early: dict[str, RegionProcess], kafka_bootstrap: str, tmp_path: Path
) -> None:
    first, second = early[EARLY[0]], early[EARLY[1]]
    tag = uuid.uuid4().hex[:6]
    key = new_key(first, f"late-a-{tag}")
    other = new_key(second, f"late-b-{tag}")
    revoked = new_key(first, f"late-r-{tag}")
    for k in (key, other, revoked):
        for p in early.values():
            eventually(lambda p=p, k=k: _outcome(p, k) == "ok", what=f"a key to work in {p.name}")
    assert http().delete(f"{second.url}/v1/admin/keys/{revoked['AccessKeyId']}").status_code == 200
    eventually(
        lambda: _outcome(first, revoked) == "UnrecognizedClientException",
        what="the revocation to reach the first region",
    )
    # the topics no longer hold any of it: only the peers' stores do
    asyncio.run(_drop_records(kafka_bootstrap, [change_topic(n) for n in EARLY]))

    late = RegionProcess(
        LATE,
        free_port(),
        f"sqlite:///{tmp_path}/{LATE}.db",
        kafka=kafka_bootstrap,
        peers={n: p.url for n, p in early.items()},
        log_dir=tmp_path,
        extra_args=["--identity-sync-interval", "2"],
    ).start()
    try:
        started = time.monotonic()
        eventually(
            lambda: _outcome(late, key) == "ok", timeout=30, what="the key in the late region"
        )
        eventually(lambda: _outcome(late, other) == "ok", timeout=30, what="the other region's key")
        pulled_in = time.monotonic() - started
        # the revoked key stays revoked: its tombstone beats every live copy
        assert _outcome(late, revoked) == "UnrecognizedClientException"
        assert "identities: pulled" in late.log_tail(200_000), late.log_tail()
        users = http().get(f"{late.url}/v1/admin/users").json()["Users"]
        names = {u["UserName"] for u in users}
        assert {f"late-a-{tag}", f"late-b-{tag}", f"late-r-{tag}"} <= names
        assert pulled_in < 30

        # a revocation made afterwards in an early region reaches it too
        assert http().delete(f"{first.url}/v1/admin/keys/{key['AccessKeyId']}").status_code == 200
        eventually(
            lambda: _outcome(late, key) == "UnrecognizedClientException",
            timeout=30,
            what="the later revocation in the late region",
        )

        # the verifier compares the identities table like any global table
        deadline = time.monotonic() + 30
        out = _verify([first, second, late])
        while out.returncode != 0 and time.monotonic() < deadline:
            time.sleep(1)
            out = _verify([first, second, late])
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"{IDENTITIES}: identical in 3 regions" in out.stdout
    finally:
        late.stop()
