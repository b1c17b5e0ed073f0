"""``make demo``: Kafka plus three replicating regions with a small workload.

Everything runs on 127.0.0.1 and stops on Ctrl-C (or after ``--duration``).  Each
run starts from an empty ``--data`` directory so that it always shows the same
story: one table made global from us-east-1, writers in every region, and now and
then the same key written in two regions at once so that last-writer-wins has
something to decide.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from globaltables import kafka_broker

__all__ = ["REGIONS", "run_demo"]

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
TABLE = "Orders"
CREDENTIALS = {"aws_access_key_id": "demo", "aws_secret_access_key": "demo-secret"}


def _say(msg: str) -> None:
    print(msg, flush=True)


def _client(url: str, region: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=region,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        **CREDENTIALS,
    )


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"region at {url} exited; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"region at {url} did not start in {timeout}s; see {log}")


class _Writer(threading.Thread):
    """Writes ``rate`` items per second into one region until stopped."""

    def __init__(self, region: str, url: str, rate: float, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"writer-{region}")
        self.region, self.url, self.rate, self.stop_event = region, url, rate, stop
        self.written = 0
        self.errors = 0

    def run(self) -> None:
        client = _client(self.url, self.region)
        n = 0
        while not self.stop_event.is_set():
            n += 1
            try:
                client.put_item(
                    TableName=TABLE,
                    Item={
                        "id": {"S": f"{self.region}-{n:06d}"},
                        "region": {"S": self.region},
                        "amount": {"N": str(n % 97 + 1)},
                        "at": {"N": str(int(time.time() * 1000))},
                    },
                )
                if n % 10 == 0:
                    # every region writes this key: LWW keeps the highest version
                    client.put_item(
                        TableName=TABLE,
                        Item={"id": {"S": "hot-key"}, "writer": {"S": self.region}, "n": {"N": str(n)}},
                    )
                self.written += 1
            except Exception:
                self.errors += 1
            self.stop_event.wait(1.0 / self.rate)


def run_demo(data: Path, kafka_port: int, base_port: int, duration: int, rate: float) -> int:
    data = data.resolve()
    kafka_dir = data / "kafka"
    if kafka_broker.status(kafka_dir) is not None:
        kafka_broker.stop(kafka_dir)
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)

    _say("globaltables demo: fetching Kafka (first run only) and starting the broker ...")
    kafka_broker.ensure_jars()
    broker = kafka_broker.start(kafka_dir, port=kafka_port)
    _say(f"  kafka          {broker.bootstrap}")

    urls = {r: f"http://127.0.0.1:{base_port + i}" for i, r in enumerate(REGIONS)}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stop = threading.Event()
    writers: list[_Writer] = []

    def _shutdown(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _shutdown)
    signal.signal(signal.SIGTERM, _shutdown)
    try:
        for i, region in enumerate(REGIONS):
            log = data / f"{region}.log"
            cmd = [
                sys.executable, "-m", "globaltables.cli", "region",
                "--name", region, "--port", str(base_port + i),
                "--store", f"sqlite:///{data / (region + '.db')}",
                "--kafka", broker.bootstrap,
            ]
            for peer in REGIONS:
                if peer != region:
                    cmd += ["--peer", f"{peer}={urls[peer]}"]
            procs[region] = subprocess.Popen(
                cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT  # noqa: SIM115
            )
        for region in REGIONS:
            _wait_healthy(urls[region], procs[region], data / f"{region}.log")
            _say(f"  {region:<14} {urls[region]}   (log: {data / (region + '.log')})")

        home = _client(urls[REGIONS[0]], REGIONS[0])
        home.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for region in REGIONS[1:]:
            home.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        _say(f"\ntable {TABLE!r} created in {REGIONS[0]} and replicated to {', '.join(REGIONS[1:])}")
        _say(
            "\nTry it (another terminal):\n"
            "  python - <<'PY'\n"
            "  import boto3\n"
            f"  east = boto3.client('dynamodb', endpoint_url='{urls[REGIONS[0]]}', region_name='{REGIONS[0]}',\n"
            "                       aws_access_key_id='demo', aws_secret_access_key='demo-secret')\n"
            f"  west = boto3.client('dynamodb', endpoint_url='{urls[REGIONS[1]]}', region_name='{REGIONS[1]}',\n"
            "                       aws_access_key_id='demo', aws_secret_access_key='demo-secret')\n"
            f"  east.put_item(TableName='{TABLE}', Item={{'id': {{'S': 'hello'}}, 'msg': {{'S': 'from us-east-1'}}}})\n"
            "  import time; time.sleep(1)\n"
            f"  print(west.get_item(TableName='{TABLE}', Key={{'id': {{'S': 'hello'}}}})['Item'])\n"
            "  PY\n"
            f"  health and lag:  curl {urls[REGIONS[0]]}/healthz\n"
            f"  REST API docs:   {urls[REGIONS[0]]}/docs\n"
            "\nWriting in every region; Ctrl-C stops everything.\n"
        )
        for region in REGIONS:
            w = _Writer(region, urls[region], rate, stop)
            w.start()
            writers.append(w)

        started = time.monotonic()
        clients = {r: _client(urls[r], r) for r in REGIONS}
        while not stop.is_set():
            stop.wait(3.0)
            counts = []
            for region in REGIONS:
                try:
                    count = clients[region].describe_table(TableName=TABLE)["Table"]["ItemCount"]
                    health = httpx.get(f"{urls[region]}/healthz", timeout=2).json()
                    lag = health["replication"]["lag"]
                    worst = max((v["last_ms"] for v in lag.values()), default=0.0)
                    hot = clients[region].get_item(TableName=TABLE, Key={"id": {"S": "hot-key"}})
                    winner = hot.get("Item", {}).get("writer", {}).get("S", "-")
                    counts.append(f"{region}: {count:>5} items, lag {worst:>6.0f} ms, hot-key by {winner}")
                except Exception as exc:
                    counts.append(f"{region}: unavailable ({exc.__class__.__name__})")
            _say(f"[{time.monotonic() - started:6.0f}s] " + " | ".join(counts))
            if duration and time.monotonic() - started >= duration:
                break
        return 0
    except RuntimeError as exc:
        _say(f"demo failed: {exc}")
        return 1
    finally:
        stop.set()
        _say("\nstopping writers, regions and Kafka ...")
        for w in writers:
            w.join(timeout=5)
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        kafka_broker.stop(kafka_dir)
        _say("stopped.")
