"""`globaltables demo` end to end: its own Kafka, three regions, a workload, clean stop."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from globaltables.workload import CREDENTIALS, dynamodb_client
from regions.sigv4 import Credentials
from replicator.signing import KeySigner, SigV4
from tests.fixtures.demo import DEMO_REGIONS, Demo, clean_env, running_demo
from tests.fixtures.regions import REPO, free_port, free_port_run

#: lets a user do anything in DynamoDB (regions/policy.py denies what no policy allows)
ALLOW_DYNAMODB = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
}

pytestmark = pytest.mark.integration


def test_demo_replicates_across_three_regions_and_stops_cleanly(tmp_path: Path) -> None:
    # three consecutive free ports for the three regions
    base = free_port_run(3)
    # --duration 3: the demo prints a status line every 3 s and stops at the first one
    # past the duration, so 3 s is one status round, the line read below (8 s made it
    # three rounds, 9 s, for the same assertions on the last line)
    out = subprocess.run(
        [
            sys.executable, "-m", "globaltables.cli", "demo",
            "--data", str(tmp_path / "demo"), "--kafka-port", str(free_port()),
            "--base-port", str(base), "--duration", "3", "--rate", "10",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "replicated to eu-west-1, ap-southeast-2" in out.stdout
    assert f"dashboard: http://127.0.0.1:{base}/dashboard" in out.stdout
    status = [line for line in out.stdout.splitlines() if line.startswith("[")]
    assert status, out.stdout
    counts = [int(n) for n in re.findall(r"(\d+) items", status[-1])]
    assert len(counts) == 3 and min(counts) > 0
    # every region sees (nearly) all writes of every region: replication works both ways
    assert max(counts) - min(counts) <= 30, status[-1]
    assert "stopped." in out.stdout
    # the jars are there already (the session's broker uses them): nothing is fetched,
    # and nothing says it is
    assert "fetching" not in (out.stdout + out.stderr).lower(), out.stdout + out.stderr
    # nothing left running: the broker pid file's process is gone
    from globaltables import kafka_broker

    assert kafka_broker.status(tmp_path / "demo" / "kafka") is None


# ------------------------------------------------------------------ the demo heals


def _region_pid(port: int) -> int:
    """The pid of the demo's region process serving ``port`` (from /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"region" in argv and b"--port" in argv and argv[argv.index(b"--port") + 1] == str(port).encode():
            return int(entry.name)
    raise AssertionError(f"no region process on port {port}")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # gone: reaped
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_serving(url: str, region: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if httpx.get(f"{url}/healthz", timeout=1).json().get("region") == region:
                return
        time.sleep(0.3)
    raise AssertionError(f"{region} does not answer at {url} within {timeout}s")


def _eventually_put(client: Any, key: str, timeout: float = 30.0) -> None:
    """PutItem with a user's key, retried while the key replicates or the region starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.put_item(TableName="Orders", Item={"id": {"S": key}})
            return
        except (ClientError, BotoCoreError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _hand_restart_command(demo: Demo) -> str:
    """docs/regions.md's command, for this demo's ports and data directory."""
    doc = (REPO / "docs" / "regions.md").read_text()
    section = doc.split("\n## Restarting one region by hand\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^```bash\n(.*?)^```$", section, re.S | re.M)
    assert found, section
    command = found[1].replace("\\\n", " ").strip()
    for old, new in ((9092, demo.kafka_port), *((8000 + i, demo.base_port + i) for i in range(3))):
        command = re.sub(rf"(127\.0\.0\.1:|--port ){old}\b", rf"\g<1>{new}", command)
    command = command.replace(".data/demo/", f"{demo.data}/")
    assert command.endswith("&"), command
    return command


def test_demo_restarts_a_killed_region_and_the_documented_hand_restart_works(
    tmp_path: Path,
) -> None:
    data = tmp_path / "demo"
    with running_demo(data) as demo:
        east, west = demo.url(0), demo.url(1)
        admin = httpx.Client(
            timeout=30,
            auth=SigV4(KeySigner(Credentials(CREDENTIALS["aws_access_key_id"],
                                             CREDENTIALS["aws_secret_access_key"]))),
        )
        # a user's access key, created (and encrypted with the secret key) in us-east-1
        created = admin.post(f"{east}/v1/admin/users",
                             json={"UserName": "alice", "Policies": [ALLOW_DYNAMODB]})
        assert created.status_code == 201, created.text
        made = admin.post(f"{east}/v1/admin/users/alice/keys")
        assert made.status_code == 201, made.text
        key = made.json()["AccessKey"]
        user = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
        in_west = dynamodb_client(west, "eu-west-1", user)
        _eventually_put(in_west, "before-the-kill")

        # kill -9: the demo reaps it, says so, restarts it
        old = _region_pid(demo.base_port + 1)
        os.kill(old, signal.SIGKILL)
        demo.wait_for("eu-west-1 exited (code -9); restarted", timeout=30)
        demo.wait_for("eu-west-1 is serving again", timeout=60)
        _wait_serving(west, "eu-west-1", timeout=5)
        new = _region_pid(demo.base_port + 1)
        assert new != old and not _is_zombie(old)
        # the restarted region still opens the key made before the kill
        _eventually_put(dynamodb_client(west, "eu-west-1", user), "after-the-restart")

        # `kill` (SIGTERM) is a stop on purpose: not restarted; docs/regions.md's
        # command starts it again, in an environment without any GLOBALTABLES_ variable
        stopping = time.monotonic()
        os.kill(new, signal.SIGTERM)
        line = demo.wait_for("stopped on purpose", timeout=30)
        assert line.startswith("eu-west-1 exited"), line
        # promptly, although it started seconds ago in place of a killed process: its
        # consumer, still joining a group that remembers the dead one, gives up at once
        # (replicator/kafka.py stop_consumer) instead of holding the stop for the
        # replicator's STOP_TIMEOUT_S (5 s)
        assert time.monotonic() - stopping < 4.0, "the restarted region took long to stop"
        time.sleep(1.0)  # the demo would have restarted it by now
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{west}/healthz", timeout=1)
        command = _hand_restart_command(demo)
        by_hand = subprocess.Popen(
            ["bash", "-c", "exec " + command.removesuffix("&")],
            cwd=REPO, env=clean_env(), start_new_session=True,
        )
        try:
            _wait_serving(west, "eu-west-1", timeout=60)
            _eventually_put(dynamodb_client(west, "eu-west-1", user), "after-the-hand-restart")
        finally:
            by_hand.terminate()
            try:
                by_hand.wait(timeout=20)
            except subprocess.TimeoutExpired:
                by_hand.kill()
                by_hand.wait(timeout=5)
    assert demo.proc.returncode == 0, demo.output()
    assert "stopped." in demo.output()
    # the settings the demo keeps for the next run: private
    for name in DEMO_REGIONS:
        path = data / "config" / f"{name}.toml"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((data / "config").stat().st_mode) == 0o700
