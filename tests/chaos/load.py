"""The chaos suite's load client, its ledger of acknowledged writes, and the audit.

Every write carries a unique value (``v``), so the change log of the region that
took it tells the version it got.  A write is *acknowledged* when the client got a
200 (for BatchWriteItem: the item was not handed back as unprocessed).  A write
that failed or timed out is *unacknowledged*: it may or may not have happened, and
the audit makes no claim about it.

The audit then reads every region's SQLite file (as ``row_versions`` does) and
counts an acknowledged write as **lost** when

* no region's change log holds its value: it was acknowledged but never committed;
* or some replica's row for its key has an older version than the write's, or the
  same version with other bytes, or no row at all.

A newer version (a later or concurrent write that won last-writer-wins) supersedes
it and is not a loss; that the newer version is the same everywhere is what the
verifier proves next.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from tests.fixtures.regions import RegionProcess

__all__ = ["Ack", "Audit", "Ledger", "LoadClient", "audit"]

Version = tuple[int, str]


@dataclass(frozen=True)
class Ack:
    key: str
    value: str
    region: str


@dataclass
class Ledger:
    """Thread-safe record of what the load did."""

    acked: list[Ack] = field(default_factory=list)
    #: attempts that raised (region down, timeout, throttled): outcome unknown
    unacknowledged: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, a: Ack) -> None:
        with self._lock:
            self.acked.append(a)

    def failed(self, n: int = 1) -> None:
        with self._lock:
            self.unacknowledged += n


_FAILURES = (ClientError, BotoCoreError, OSError)


class LoadClient:
    """Writer threads, each on its own boto3 client to one region.

    Bounded twice: each thread stops at ``deadline`` or after ``max_writes``
    attempts, whichever comes first, and :meth:`stop` ends all of them early.
    """

    def __init__(
        self,
        regions: dict[str, RegionProcess],
        table: str,
        ledger: Ledger,
        *,
        keys: int = 200,
        threads_per_region: int = 1,
        rate_per_thread: float = 40.0,
        max_writes: int = 5000,
        batch: bool = False,
    ) -> None:
        self.regions = regions
        self.table = table
        self.ledger = ledger
        self.keys = keys
        self.threads_per_region = threads_per_region
        self.rate = rate_per_thread
        self.max_writes = max_writes
        self.batch = batch
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, seconds: float, only: list[str] | None = None) -> LoadClient:
        deadline = time.monotonic() + seconds
        for name in only or list(self.regions):
            for t in range(self.threads_per_region):
                thread = threading.Thread(
                    target=self._run, args=(name, f"{name}/{t}", deadline), daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def join(self) -> None:
        for t in self._threads:
            t.join(timeout=60)
        self._threads = []
        self._stop.clear()

    def _run(self, region: str, writer: str, deadline: float) -> None:
        # short timeouts: a killed region must fail a request fast, not stall the load
        client: Any = self.regions[region].client(connect_timeout=2, read_timeout=10)
        rng = random.Random(writer)
        seq = 0
        while not self._stop.is_set() and time.monotonic() < deadline and seq < self.max_writes:
            started = time.monotonic()
            if self.batch:
                seq += self._batch(client, region, writer, seq, rng)
            else:
                seq += 1
                self._one(client, region, writer, seq, rng)
            pause = 1.0 / self.rate - (time.monotonic() - started)
            if pause > 0:
                self._stop.wait(pause)

    def _one(self, client: Any, region: str, writer: str, seq: int, rng: random.Random) -> None:
        key = f"k{rng.randrange(self.keys):05d}"
        value = f"{writer}#{seq}"
        try:
            if seq % 3 == 0:
                # UpdateItem replicates the whole resulting image, like PutItem does
                client.update_item(
                    TableName=self.table,
                    Key={"id": {"S": key}},
                    UpdateExpression="SET v = :v, w = :w ADD n :one",
                    ExpressionAttributeValues={
                        ":v": {"S": value},
                        ":w": {"S": writer},
                        ":one": {"N": "1"},
                    },
                )
            else:
                client.put_item(
                    TableName=self.table,
                    Item={"id": {"S": key}, "v": {"S": value}, "w": {"S": writer}},
                )
        except _FAILURES:
            self.ledger.failed()
            self._stop.wait(0.2)  # the region is likely down: do not spin
            return
        self.ledger.ack(Ack(key, value, region))

    def _batch(self, client: Any, region: str, writer: str, seq: int, rng: random.Random) -> int:
        puts: dict[str, str] = {}
        n = seq
        while len(puts) < 25:  # BatchWriteItem refuses two puts of one key
            key = f"k{rng.randrange(self.keys):05d}"
            if key not in puts:
                n += 1
                puts[key] = f"{writer}#{n}"
        request = [
            {"PutRequest": {"Item": {"id": {"S": k}, "v": {"S": v}, "w": {"S": writer}}}}
            for k, v in puts.items()
        ]
        try:
            out = client.batch_write_item(RequestItems={self.table: request})
        except _FAILURES:
            self.ledger.failed(len(puts))
            self._stop.wait(0.2)
            return len(puts)
        unprocessed = {
            r["PutRequest"]["Item"]["id"]["S"]
            for r in out.get("UnprocessedItems", {}).get(self.table, [])
        }
        self.ledger.failed(len(unprocessed))
        for k, v in puts.items():
            if k not in unprocessed:
                self.ledger.ack(Ack(k, v, region))
        return len(puts)


# --------------------------------------------------------------------------- audit


@dataclass
class Audit:
    acked: int
    lost: list[str]
    #: key -> version per region, for "every replica holds the same winner"
    diverging_keys: list[str]

    @property
    def ok(self) -> bool:
        return not self.lost and not self.diverging_keys


def _db(proc: RegionProcess) -> sqlite3.Connection:
    path = proc.store.removeprefix("sqlite:///")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def _tid(db: sqlite3.Connection, table: str) -> int:
    row = db.execute("SELECT tid FROM gt_tables WHERE name = ?", (table,)).fetchone()
    assert row is not None, f"no table {table}"
    return int(row[0])


def _logged_versions(proc: RegionProcess, table: str) -> dict[tuple[str, str], Version]:
    """(key, value) -> version of every local-origin change this region logged for
    ``table``."""
    out: dict[tuple[str, str], Version] = {}
    with _db(proc) as db:
        tid = _tid(db, table)
        rows = db.execute(
            "SELECT hlc, origin, record FROM gt_changes WHERE tid = ? AND origin = ?",
            (tid, proc.name),
        ).fetchall()
    for hlc, origin, record in rows:
        new = orjson.loads(record).get("new")
        if new and "v" in new:
            out[(new["id"]["S"], new["v"]["S"])] = (int(hlc), str(origin))
    return out


def _rows(proc: RegionProcess, table: str) -> dict[str, tuple[Version, bytes | None]]:
    with _db(proc) as db:
        tid = _tid(db, table)
        rows = db.execute(
            "SELECT hk, hlc, origin, data FROM gt_items WHERE tid = ?", (tid,)
        ).fetchall()
    return {hk.decode(): ((int(hlc), str(origin)), data) for hk, hlc, origin, data in rows}


def _value_of(data: bytes | None) -> str | None:
    if data is None:
        return None
    v = orjson.loads(data).get("v")
    return None if v is None else str(v["S"])


def audit(regions: dict[str, RegionProcess], table: str, acked: list[Ack]) -> Audit:
    versions: dict[tuple[str, str], Version] = {}
    for proc in regions.values():
        versions.update(_logged_versions(proc, table))
    rows = {name: _rows(proc, table) for name, proc in regions.items()}
    lost: list[str] = []
    for a in acked:
        version = versions.get((a.key, a.value))
        if version is None:
            lost.append(f"{a.key}={a.value}: acknowledged by {a.region}, in no change log")
            continue
        for name, region_rows in rows.items():
            row = region_rows.get(a.key)
            if row is None:
                lost.append(f"{a.key}={a.value}@{version}: no row in {name}")
            elif row[0] < version:
                lost.append(f"{a.key}={a.value}@{version}: {name} holds older {row[0]}")
            elif row[0] == version and _value_of(row[1]) != a.value:
                lost.append(f"{a.key}={a.value}@{version}: {name} holds other bytes")
    keys = set().union(*(r.keys() for r in rows.values()))
    diverging = sorted(
        k for k in keys if len({r.get(k, ((0, ""), None)) for r in rows.values()}) > 1
    )
    return Audit(acked=len(acked), lost=lost, diverging_keys=diverging)


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
