"""``make demo``: Kafka plus three replicating regions with a small workload.

Everything runs on 127.0.0.1 and stops on Ctrl-C (or after ``--duration``).  Each
run starts from an empty ``--data`` directory so that it always shows the same
story: one table made global from us-east-1, writers in every region, and now and
then the same key written in two regions at once so that last-writer-wins has
something to decide.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from globaltables import kafka_broker
from globaltables.workload import CREDENTIALS, HOT_KEY, Workload, dynamodb_client

__all__ = ["REGIONS", "run_demo"]

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
TABLE = "Orders"


def _say(msg: str) -> None:
    print(msg, flush=True)


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


def _admin_key() -> dict[str, str]:
    """The admin key of the demo's regions: the environment's if it names one, else
    the fixed demo key (everything listens on 127.0.0.1 only)."""
    key_id = os.environ.get("GLOBALTABLES_ADMIN_ACCESS_KEY_ID")
    secret = os.environ.get("GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY")
    if key_id and secret:
        return {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    return dict(CREDENTIALS)


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
    # SASL/SCRAM and ACLs: each region signs in as its own principal, which may write
    # only its own change topic (docs/security.md)
    kafka_passwords = {r: secrets.token_urlsafe(24) for r in REGIONS}
    kafka_broker.grant_regions(broker.bootstrap, broker.security, kafka_passwords)
    _say(
        f"  kafka          {broker.bootstrap}   (SASL/SCRAM-SHA-512 with ACLs; admin password "
        f"in {kafka_broker.admin_password_file(kafka_dir)})"
    )

    urls = {r: f"http://127.0.0.1:{base_port + i}" for i, r in enumerate(REGIONS)}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stop = threading.Event()
    admin = _admin_key()
    # every region of a deployment shares the admin key and the secret key (docs/security.md)
    region_env = {
        **os.environ,
        "GLOBALTABLES_ADMIN_ACCESS_KEY_ID": admin["aws_access_key_id"],
        "GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY": admin["aws_secret_access_key"],
        "GLOBALTABLES_SECRET_KEY": os.environ.get("GLOBALTABLES_SECRET_KEY")
        or secrets.token_urlsafe(32),
    }
    workload = Workload(urls, table=TABLE, rate=rate, credentials=admin)

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
            kafka_env = {
                "GLOBALTABLES_KAFKA_USERNAME": kafka_broker.region_principal(region),
                "GLOBALTABLES_KAFKA_PASSWORD": kafka_passwords[region],
            }
            env = {
                **{k: v for k, v in region_env.items() if not k.startswith("GLOBALTABLES_KAFKA")},
                **kafka_env,
            }
            procs[region] = subprocess.Popen(
                cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env  # noqa: SIM115
            )
        for region in REGIONS:
            _wait_healthy(urls[region], procs[region], data / f"{region}.log")
            _say(f"  {region:<14} {urls[region]}   (log: {data / (region + '.log')})")
        key_id, secret = admin["aws_access_key_id"], admin["aws_secret_access_key"]
        _say(
            f"  credentials    AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret}"
            "   (the regions' admin key: every request is SigV4-signed)"
        )

        workload.ensure_table()
        _say(f"\ntable {TABLE!r} created in {REGIONS[0]} and replicated to {', '.join(REGIONS[1:])}")
        _say(
            "\nTry it (another terminal):\n"
            "  python - <<'PY'\n"
            "  import boto3\n"
            f"  east = boto3.client('dynamodb', endpoint_url='{urls[REGIONS[0]]}', region_name='{REGIONS[0]}',\n"
            f"                       aws_access_key_id='{key_id}', aws_secret_access_key='{secret}')\n"
            f"  west = boto3.client('dynamodb', endpoint_url='{urls[REGIONS[1]]}', region_name='{REGIONS[1]}',\n"
            f"                       aws_access_key_id='{key_id}', aws_secret_access_key='{secret}')\n"
            f"  east.put_item(TableName='{TABLE}', Item={{'id': {{'S': 'hello'}}, 'msg': {{'S': 'from us-east-1'}}}})\n"
            "  import time; time.sleep(1)\n"
            f"  print(west.get_item(TableName='{TABLE}', Key={{'id': {{'S': 'hello'}}}})['Item'])\n"
            "  PY\n"
            f"  health and lag:  curl {urls[REGIONS[0]]}/healthz\n"
            f"  metrics:         curl {urls[REGIONS[0]]}/metrics\n"
            f"  REST API docs:   {urls[REGIONS[0]]}/docs\n"
            f"  users and keys:  export AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret}\n"
            "                   globaltables users create alice --policy POLICY.json "
            f"--endpoint {urls[REGIONS[0]]}\n"
            f"                   globaltables keys create alice --endpoint {urls[REGIONS[0]]}\n"
            "\nWriting in every region (and now and then the same key in two regions at once,\n"
            "so last-writer-wins has conflicts to settle); Ctrl-C stops everything.\n"
        )
        _say(f"dashboard: {urls[REGIONS[0]]}/dashboard\n")
        workload.start()

        started = time.monotonic()
        clients = {r: dynamodb_client(urls[r], r, admin) for r in REGIONS}
        while not stop.is_set():
            stop.wait(3.0)
            counts = []
            for region in REGIONS:
                try:
                    count = clients[region].describe_table(TableName=TABLE)["Table"]["ItemCount"]
                    health = httpx.get(f"{urls[region]}/healthz", timeout=2).json()
                    lag = health["replication"]["lag"]
                    worst = max((v["last_ms"] for v in lag.values()), default=0.0)
                    hot = clients[region].get_item(TableName=TABLE, Key={"id": {"S": HOT_KEY}})
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
        workload.stop()
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
