"""A small steady workload for a running deployment (``globaltables workload``,
``make demo`` and the compose file's ``workload`` service all use it).

It makes one table global across every endpoint, then writes in every region at a
steady rate, and every few seconds writes the same key (``hot-key``) in two
regions at the same instant.  Those two writes are released together by a barrier,
so both commit long before either region can hear of the other's (replication
takes tens of milliseconds at least): one of them must lose last-writer-wins in
the other region, and the conflict shows up in ``/v1/conflicts`` and on the
dashboard.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import ClientError

__all__ = ["CREDENTIALS", "HOT_KEY", "Workload", "WorkloadStats", "dynamodb_client"]

#: the admin key ``make demo`` gives its regions (and prints), unless the environment
#: names one (GLOBALTABLES_ADMIN_ACCESS_KEY_ID / GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY)
CREDENTIALS = {"aws_access_key_id": "demo", "aws_secret_access_key": "demo-secret"}
HOT_KEY = "hot-key"


def dynamodb_client(url: str, region: str, credentials: Mapping[str, str] | None = None) -> Any:
    """A client signing with ``credentials`` (``aws_access_key_id`` and
    ``aws_secret_access_key``), or with the usual AWS chain if None."""
    if credentials is None:
        from globaltables.aws_auth import dynamodb_client as from_chain

        return from_chain(url, region)
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=region,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        **credentials,
    )


@dataclass
class WorkloadStats:
    written: int = 0
    errors: int = 0
    #: times the same key was written in two regions at once
    conflict_pairs: int = 0


class Workload:
    def __init__(
        self,
        endpoints: dict[str, str],
        table: str = "Orders",
        rate: float = 5.0,
        conflict_every_s: float = 2.0,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        """``credentials`` None: the usual AWS chain (environment, profile)."""
        if not endpoints:
            raise ValueError("the workload needs at least one endpoint")
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.endpoints = dict(endpoints)
        self.regions = list(self.endpoints)
        self.table = table
        self.rate = rate
        self.conflict_every_s = conflict_every_s
        self.credentials = dict(credentials) if credentials is not None else None
        self.stats = WorkloadStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ setup

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until every endpoint answers /healthz (regions may still be starting)."""
        deadline = time.monotonic() + timeout
        for region, url in self.endpoints.items():
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"region {region} at {url} is not answering /healthz")
                time.sleep(0.5)

    def ensure_table(self) -> bool:
        """Create the table in the first region and make every other one a replica.
        Safe to repeat: returns False if the table already existed there."""
        home_region = self.regions[0]
        home = dynamodb_client(self.endpoints[home_region], home_region, self.credentials)
        created = True
        try:
            home.create_table(
                TableName=self.table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
            created = False
        described = home.describe_table(TableName=self.table)["Table"]
        have = {r["RegionName"] for r in described.get("Replicas", [])}
        for region in self.regions[1:]:
            if region not in have:
                home.update_table(
                    TableName=self.table, ReplicaUpdates=[{"Create": {"RegionName": region}}]
                )
        return created

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        for region in self.regions:
            self._spawn(f"writer-{region}", self._writer, region)
        if len(self.regions) > 1 and self.conflict_every_s > 0:
            self._spawn("conflicts", self._conflicts)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=timeout)

    def run(self, duration: float) -> WorkloadStats:
        """Run for ``duration`` seconds (0: until :meth:`stop` from another thread)."""
        self.start()
        self._stop.wait(duration if duration > 0 else None)
        self.stop()
        return self.stats

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _count(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.stats.written += 1
            else:
                self.stats.errors += 1

    def _put(self, client: Any, item: dict[str, Any]) -> None:
        try:
            client.put_item(TableName=self.table, Item=item)
            self._count(True)
        except Exception:
            # a region may be restarting; the workload keeps going and counts it
            self._count(False)

    def _writer(self, region: str) -> None:
        client = dynamodb_client(self.endpoints[region], region, self.credentials)
        interval = 1.0 / self.rate
        for n in itertools.count(1):
            started = time.monotonic()
            self._put(
                client,
                {
                    "id": {"S": f"{region}-{n:06d}"},
                    "region": {"S": region},
                    "amount": {"N": str(n % 97 + 1)},
                    "at": {"N": str(int(time.time() * 1000))},
                },
            )
            if self._stop.wait(max(0.0, interval - (time.monotonic() - started))):
                return

    def _conflicts(self) -> None:
        clients = {r: dynamodb_client(self.endpoints[r], r, self.credentials) for r in self.regions}
        barrier = threading.Barrier(2)

        def write(region: str, k: int) -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)
            self._put(
                clients[region],
                {"id": {"S": HOT_KEY}, "writer": {"S": region}, "n": {"N": str(k)}},
            )

        for k in itertools.count(1):
            if self._stop.wait(self.conflict_every_s):
                return
            # walk through every pair of regions in turn
            a = self.regions[k % len(self.regions)]
            b = self.regions[(k + 1) % len(self.regions)]
            pair = [threading.Thread(target=write, args=(r, k), daemon=True) for r in (a, b)]
            for t in pair:
                t.start()
            for t in pair:
                t.join(timeout=10)
            barrier.reset()
            with self._lock:
                self.stats.conflict_pairs += 1
