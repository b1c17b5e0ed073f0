"""Convergence verifier benchmark: two regions, N identical items, different
partition counts.

    .venv/bin/python -m bench.verify_bench --items 1000000

1. **load**: two SQLite stores get the same global table and the same N rows
   (same versions, same canonical bytes), written straight into ``gt_items`` in
   bulk, each under its own partition count (8 and 5 by default).  Their hash
   trees are then built by the store's rebuild (``verification.rebuild_leaves``,
   timed: it is what a table written before the verifier existed costs once, and
   what ``verify --rehash`` costs).  Rows written by a region's normal write path
   keep the same leaves incrementally (tests/integration/store/test_verify_tree.py).
2. two ``globaltables region`` processes serve the stores (no Kafka needed);
3. **identical**: ``globaltables verify`` (the CLI, a new process, wall clock) and
   the comparison alone (in process), with the bytes the regions sent;
4. **one divergent key**: one item rewritten in the second store with a newer
   version (through the store, as a lost replication message would leave it);
   verify again: the tree walk plus the scan of the differing bucket;
5. **repair**: ``verify --repair`` (push the winner, verify again);
6. **write overhead**: single-row write transactions with and without the leaf
   upkeep, interleaved rounds, median per row.

Prints one line per step; docs/verify.md records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from regions import verification
from regions.catalog import Replica
from regions.control import NewTable
from regions.keys import encode_key
from regions.region import Region
from regions.settings import RegionSettings
from regions.store import schema as s
from regions.store import verify as store_verify
from regions.types import encode_item
from regions.versions import Version, wall_ms
from replicator.verifier import HttpReplica, verify_table

TABLE = "bench"
NAMES = ("us-east-1", "eu-west-1")
SCHEMA: dict[str, Any] = {
    "key_schema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "attribute_definitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "billing_mode": "PAY_PER_REQUEST",
}


def _item(i: int, payload: int, tag: str = "") -> dict[str, Any]:
    return {"id": {"S": f"item-{i:09d}"}, "n": {"N": str(i)}, "p": {"S": "x" * payload + tag}}


def _say(step: str, seconds: float, extra: str = "") -> None:
    print(f"{step:<44} {seconds:9.2f} s  {extra}", flush=True)


async def _open(name: str, url: str, partitions: int) -> Region:
    r = Region(
        RegionSettings(name=name, store_url=url, partitions=partitions, sqlite_synchronous="NORMAL")
    )
    await r.open()
    return r


async def load(urls: dict[str, str], parts: dict[str, int], n: int, payload: int) -> None:
    a = await _open(NAMES[0], urls[NAMES[0]], parts[NAMES[0]])
    b = await _open(NAMES[1], urls[NAMES[1]], parts[NAMES[1]])
    try:
        await a.control.create_table(NewTable(name=TABLE, **SCHEMA))
        spec = await a.control.update_spec(
            TABLE, lambda sp: sp.with_replicas(tuple(Replica(r) for r in NAMES))
        )
        await b.control.replicas.accept(spec)
        base = (wall_ms() - 3_600_000) << 16
        for region in (a, b):
            tid, sp = await region.control.table_ref(TABLE)
            t0 = time.perf_counter()
            batch: list[dict[str, Any]] = []
            for i in range(n):
                item = _item(i, payload)
                enc = encode_key({"id": item["id"]}, sp.key_schema, sp.partitions)
                data = encode_item(item)
                batch.append(
                    {
                        "tid": tid,
                        "part": enc.part,
                        "hk": enc.hk,
                        "rk": enc.rk,
                        "hlc": base + i,
                        "origin": NAMES[0],
                        "data": data,
                        "size": len(data),
                        "tomb_ms": None,
                    }
                )
                if len(batch) == 20_000 or i == n - 1:
                    async with region.store.write() as tx:
                        await tx.conn.execute(insert(s.items), batch)
                    batch = []
            _say(
                f"load {n:,} rows into {region.name} ({sp.partitions} parts)",
                time.perf_counter() - t0,
            )
            t0 = time.perf_counter()
            hashed = await verification.rebuild_leaves(region, TABLE)
            _say(
                f"build {region.name}'s tree (once / --rehash)",
                time.perf_counter() - t0,
                f"{hashed:,} items",
            )
    finally:
        await a.close()
        await b.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_regions(
    d: Path, urls: dict[str, str]
) -> tuple[dict[str, str], list[subprocess.Popen[bytes]]]:
    ports = {n: free_port() for n in NAMES}
    endpoints = {n: f"http://127.0.0.1:{ports[n]}" for n in NAMES}
    procs = []
    for n in NAMES:
        cmd = [
            sys.executable, "-m", "globaltables.cli", "region", "--name", n,
            "--port", str(ports[n]), "--store", urls[n], "--log-level", "WARNING",
            "--sqlite-synchronous", "NORMAL", "--allow-anonymous",
        ]  # fmt: skip
        for p in NAMES:
            if p != n:
                cmd += ["--peer", f"{p}={endpoints[p]}"]
        log = open(d / f"{n}.log", "ab")  # noqa: SIM115 - the child owns it
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 60
    for n in NAMES:
        while True:
            try:
                if httpx.get(f"{endpoints[n]}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"region {n} did not start; see {d / (n + '.log')}")
            time.sleep(0.2)
    return endpoints, procs


def cli_verify(endpoints: dict[str, str], *extra: str) -> tuple[float, int, str]:
    cmd = [sys.executable, "-m", "globaltables.cli", "verify", "--table", TABLE, *extra]
    for n, url in endpoints.items():
        cmd += ["--endpoint", f"{n}={url}"]
    # the bench's regions run --allow-anonymous: no credentials, unsigned requests
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
    return time.perf_counter() - t0, out.returncode, out.stdout + out.stderr


async def compare(endpoints: dict[str, str]) -> tuple[float, int, int]:
    """The comparison alone: (seconds, differing keys, response bytes received)."""
    received = 0

    async def count(resp: httpx.Response) -> None:
        nonlocal received
        await resp.aread()
        received += len(resp.content)

    async with httpx.AsyncClient(timeout=3600, event_hooks={"response": [count]}) as http:
        sources = [HttpReplica(n, u, http) for n, u in endpoints.items()]
        t0 = time.perf_counter()
        report = await verify_table(sources, TABLE)
        return time.perf_counter() - t0, len(report.diffs), received


async def diverge(url: str, partitions: int, payload: int) -> None:
    """One item of the second region rewritten with a newer version, through the
    store (its leaves follow), as a change the first region never received."""
    r = await _open(NAMES[1], url, partitions)
    try:
        tid, sp = await r.control.table_ref(TABLE)
        item = _item(123_457, payload, "-changed")
        enc = encode_key({"id": item["id"]}, sp.key_schema, sp.partitions)
        data = encode_item(item)
        async with r.store.write() as tx:
            await tx.lock_partition(tid, enc.part)
            await tx.put_row(
                tid,
                enc.part,
                enc.hk,
                enc.rk,
                Version(wall_ms() << 16, NAMES[1]),
                data,
                len(data),
                wall_ms(),
            )
    finally:
        await r.close()


async def write_overhead(d: Path, rows: int, rounds: int, payload: int) -> tuple[float, float]:
    """Median µs per single-row write transaction with and without the leaf upkeep."""
    r = await _open("us-east-1", f"sqlite:///{d}/overhead.db", 8)
    real = store_verify.leaf_delta

    def skip(*args: Any, **kwargs: Any) -> None:
        return None  # no leaf change: the write skips the leaf upsert

    try:
        await r.control.create_table(NewTable(name=TABLE, **SCHEMA))
        tid, sp = await r.control.table_ref(TABLE)
        timings: dict[bool, list[float]] = {True: [], False: []}
        counter = 0

        async def block(on: bool) -> None:
            nonlocal counter
            # put_row (regions/store/direct.py) looks leaf_delta() up on the module
            # at every call
            setattr(store_verify, "leaf_delta", real if on else skip)  # noqa: B010
            t0 = time.perf_counter()
            for _ in range(rows):
                counter += 1
                item = _item(counter % 5000, payload, str(counter))
                enc = encode_key({"id": item["id"]}, sp.key_schema, sp.partitions)
                data = encode_item(item)
                async with r.store.write() as tx:
                    await tx.lock_partition(tid, enc.part)
                    # as regions/data/rows.py does: the row read for LWW is handed over
                    row = await tx.get_row(tid, enc.part, enc.hk, enc.rk)
                    await tx.put_row(
                        tid,
                        enc.part,
                        enc.hk,
                        enc.rk,
                        Version(counter, "us-east-1"),
                        data,
                        len(data),
                        0,
                        prev=row,
                    )
            timings[on].append((time.perf_counter() - t0) / rows * 1e6)

        for _ in range(rounds):
            for on in (False, True):
                await block(on)
        return statistics.median(timings[False]), statistics.median(timings[True])
    finally:
        setattr(store_verify, "leaf_delta", real)  # noqa: B010
        await r.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--payload", type=int, default=40, help="bytes of filler per item")
    ap.add_argument("--partitions", type=int, nargs=2, default=(8, 5), metavar=("A", "B"))
    ap.add_argument(
        "--dir", type=Path, default=None, help="where the stores go (default: a temp dir)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    ap.add_argument(
        "--reuse", action="store_true", help="skip the load: the stores in --dir are from a run"
    )
    ap.add_argument(
        "--overhead-rows", type=int, default=500, help="rows per overhead round (0: skip)"
    )
    ap.add_argument("--overhead-rounds", type=int, default=5)
    args = ap.parse_args()

    d = args.dir or Path(tempfile.mkdtemp(prefix="verify-bench-"))
    d.mkdir(parents=True, exist_ok=True)
    urls = {n: f"sqlite:///{d}/{n}.db" for n in NAMES}
    parts = dict(zip(NAMES, args.partitions, strict=True))
    print(f"verify bench: {args.items:,} items, partitions {parts}, stores in {d}", flush=True)
    run = asyncio.run
    if not args.reuse:
        for n in NAMES:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{d}/{n}.db{suffix}").unlink(missing_ok=True)
        run(load(urls, parts, args.items, args.payload))
    endpoints, procs = start_regions(d, urls)
    try:
        secs, code, out = cli_verify(endpoints)
        assert code == 0, out
        _say("globaltables verify, identical (CLI wall)", secs, f"exit {code}")
        secs, ndiff, nbytes = run(compare(endpoints))
        assert ndiff == 0
        _say("comparison alone, identical", secs, f"{nbytes:,} bytes received")
        run(diverge(urls[NAMES[1]], parts[NAMES[1]], args.payload))
        secs, code, out = cli_verify(endpoints)
        assert code == 1, out
        _say("globaltables verify, 1 key differs (CLI wall)", secs, f"exit {code}")
        secs, ndiff, nbytes = run(compare(endpoints))
        assert ndiff == 1
        _say("comparison alone, 1 key differs", secs, f"{nbytes:,} bytes received")
        secs, code, out = cli_verify(endpoints, "--repair")
        assert code == 0, out
        _say("globaltables verify --repair (CLI wall)", secs, f"exit {code}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    if args.overhead_rows:
        off, on = run(write_overhead(d, args.overhead_rows, args.overhead_rounds, args.payload))
        print(
            f"{'single-row write txn, store only':<44} {off:9.0f} µs without leaf upkeep, "
            f"{on:.0f} µs with (+{on - off:.0f} µs)",
            flush=True,
        )
    if not args.keep and args.dir is None:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
