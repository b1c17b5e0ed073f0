"""One region on PostgreSQL served by one node, then by two (``--node-id``), side by
side in one run: throughput, p99 and CPU per operation (``globaltables bench nodes``).

Each round starts a fresh region of N nodes (N = 1, then 2) over one throwaway local
PostgreSQL cluster (fsync and synchronous_commit on), preloads the key space through
the first node, and drives the same closed-loop load with the same total number of
connections, split evenly over the nodes (as a load balancer would).  The rounds
alternate 1, 2, 1, 2, ... so drift of the shared machine hits both alike, and the
report gives medians over rounds.  CPU is the region processes' plus PostgreSQL's,
read from /proc over the measured window only.

Why more than one load (``concurrency``): the load is a closed loop, so its throughput
is its connections divided by the latency of a request.  A second node can only add
throughput where one node is the limit; with too few connections one node is not
(requests wait for their group's commit, the machine has idle CPU) and the second
node only splits the same requests into smaller commit groups.  So the bench runs
each load at every given connection count and reports how busy the whole machine was
(``machine_busy_pct``): a load that leaves one node's machine idle says nothing about
what a second node adds.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import procstat
from bench.loadgen import Endpoint, LoadConfig, RunResult, ensure_table, preload, run_load
from bench.peers import Server, _postmaster_pid, free_port, region_cmd, region_env

__all__ = ["NodesConfig", "run_nodes_bench"]


@dataclass(frozen=True)
class NodesConfig:
    workloads: tuple[str, ...] = ("put", "get", "mixed")
    node_counts: tuple[int, ...] = (1, 2)
    rounds: int = 3
    duration: float = 10.0
    warmup: float = 2.0
    #: connections in all (split evenly over the nodes), one load per count
    concurrency: tuple[int, ...] = (16, 32)
    item_size: int = 1024
    key_space: int = 5000
    #: partitions of the benchmark's table (the region's ``--partitions``).  A partition's
    #: writers take turns on its advisory lock whichever node they come through, so the
    #: count bounds how many nodes' write groups can commit side by side
    #: (docs/regions.md, "Several nodes per region").
    partitions: int = 64
    #: how the nodes reach the cluster: "unix" (its socket, as nodes on the database's
    #: host would) or "tcp" (loopback TCP, as nodes on other hosts would)
    pg_over: str = "unix"
    workdir: Path = Path(".data/bench/nodes")


@contextmanager
def _postgres(over: str) -> Iterator[tuple[str, list[int]]]:
    """A throwaway PostgreSQL cluster: (store URL over ``over``, its postmaster pid)."""
    from globaltables import postgres_local

    data = Path(tempfile.mkdtemp(prefix="gt-bench-nodes-pg-"))
    cluster = postgres_local.start_on_a_free_port(data)
    try:
        pid = _postmaster_pid(data)
        url = cluster.store_url(unix_socket=over == "unix")
        yield url, [pid] if pid is not None else []
    finally:
        postgres_local.stop(data)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def _region(store: str, nodes: int, workdir: Path, partitions: int) -> Iterator[list[Server]]:
    servers: list[Server] = []
    try:
        for i in range(1, nodes + 1):
            port = free_port()
            server = Server(
                f"gt-pg-node{i}",
                region_cmd("us-east-1", port, store, ["--node-id", f"n{i}", "--partitions", str(partitions)]),
                port,
                workdir,
                health_path="/healthz",
                env=region_env(),
            )
            servers.append(server.start())
        yield servers
    finally:
        for server in servers:
            server.stop()


def _cpu(pids: Callable[[], list[int]]) -> float:
    return sum(procstat.process_cpu(p) or 0.0 for p in pids())


def _p99(results: list[RunResult]) -> float:
    """p99 over every request of every node's load, in ms."""
    merged = sorted(ns for r in results for lat in r.latencies_ns.values() for ns in lat)
    if not merged:
        return 0.0
    return merged[min(len(merged) - 1, int(len(merged) * 0.99))] / 1e6


async def _one(
    cfg: NodesConfig, workload: str, concurrency: int, servers: list[Server], pg_pids: list[int]
) -> dict[str, Any]:
    per_node = max(1, concurrency // len(servers))

    def pids() -> list[int]:
        return [p for s in servers for p in s.processes()] + [
            p for root in pg_pids for p in procstat.tree(root)
        ]

    marks: dict[str, float] = {}
    machine: dict[str, tuple[float, float]] = {}

    def window(which: str) -> None:
        marks[which] = _cpu(pids)
        machine[which] = procstat.machine_times()

    loads = [
        run_load(
            LoadConfig(
                endpoint=s.url,
                workload=workload,
                concurrency=per_node,
                item_size=cfg.item_size,
                key_space=cfg.key_space,
                duration=cfg.duration,
                warmup=cfg.warmup,
                seed=i + 1,
            ),
            progress=False,
            # every node's load has the same window: the first one samples the CPU
            on_window=window if i == 0 else None,
        )
        for i, s in enumerate(servers)
    ]
    results = await asyncio.gather(*loads)
    ops = sum(r.ops for r in results)
    cpu = marks.get("end", 0.0) - marks.get("start", 0.0)
    first, last = machine.get("start", (0.0, 0.0)), machine.get("end", (0.0, 0.0))
    busy, total = last[0] - first[0], last[1] - first[1]
    return {
        "ops_per_s": sum(r.ops_per_s for r in results),
        "p99_ms": _p99(results),
        "errors": sum(sum(r.errors.values()) for r in results),
        "cpu_ms_per_op": cpu * 1000 / ops if ops else 0.0,
        # every process on the machine: the load generator and anything else included
        "machine_busy_pct": 100 * busy / total if total > 0 else 0.0,
    }


def run_nodes_bench(cfg: NodesConfig, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every workload against 1 and 2 nodes, ``rounds`` times interleaved; medians."""
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    samples: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    failovers: list[float] = []
    with _postgres(cfg.pg_over) as (store, pg_pids):
        for rnd in range(cfg.rounds):
            for n in cfg.node_counts:
                with _region(store, n, cfg.workdir, cfg.partitions) as servers:
                    first = Endpoint(servers[0].url)
                    asyncio.run(ensure_table(first))
                    asyncio.run(preload(first, cfg.key_space, cfg.item_size))
                    for workload in cfg.workloads:
                        for conns in cfg.concurrency:
                            say(f"round {rnd + 1}/{cfg.rounds}: {n} node(s), {workload}, "
                                f"{conns} connections")  # fmt: skip
                            got = asyncio.run(_one(cfg, workload, conns, servers, pg_pids))
                            samples.setdefault((workload, conns, n), []).append(got)
                    # the next region starts from an empty database
                    asyncio.run(_drop(first))
                    if n > 1:
                        failovers.append(_failover(servers))
                        say(f"round {rnd + 1}/{cfg.rounds}: leader killed, another led after "
                            f"{failovers[-1]:.2f}s")  # fmt: skip
    rows = []
    for (workload, conns, n), runs in sorted(samples.items()):
        rows.append(
            {
                "workload": workload,
                "concurrency": conns,
                "nodes": n,
                "rounds": len(runs),
                "ops_per_s": statistics.median(r["ops_per_s"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "cpu_ms_per_op": statistics.median(r["cpu_ms_per_op"] for r in runs),
                "machine_busy_pct": statistics.median(r["machine_busy_pct"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                # ops/s of each round, in round order: the rounds' spread
                "runs_ops_per_s": [r["ops_per_s"] for r in runs],
            }
        )
    _add_ratios(rows)
    return {
        "config": {**cfg.__dict__, "workdir": str(cfg.workdir)},
        "rows": rows,
        # seconds from SIGKILL of the leading node to another node leading
        "failover_s": failovers,
    }


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's ops/s over the same load's with one node: ``vs_one`` the ratio of the
    medians, ``vs_one_rounds`` each round's (its N nodes over the one-node run of the
    same round: interleaved, so both met the same machine)."""
    ones = {(r["workload"], r["concurrency"]): r for r in rows if r["nodes"] == 1}
    for row in rows:
        one = ones.get((row["workload"], row["concurrency"]))
        if row["nodes"] == 1 or one is None or not one["ops_per_s"]:
            continue
        row["vs_one"] = row["ops_per_s"] / one["ops_per_s"]
        pairs = [
            mine / theirs
            for mine, theirs in zip(row["runs_ops_per_s"], one["runs_ops_per_s"], strict=False)
            if theirs
        ]
        row["vs_one_rounds"] = pairs


def _leads(server: Server) -> bool:
    try:
        node = httpx.get(server.url + "/healthz", timeout=2).json().get("node") or {}
    except (httpx.HTTPError, ValueError):
        return False
    return bool(node.get("leader"))


def _failover(servers: list[Server], timeout: float = 30.0) -> float:
    """SIGKILL the leading node; seconds until another node leads (its singletons,
    the replicator among them, run there from then on)."""
    leader = next((s for s in servers if _leads(s)), None)
    if leader is None or leader.proc is None:
        raise RuntimeError("no node leads the region")
    leader.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    leader.proc.wait(timeout=10)
    others = [s for s in servers if s is not leader]
    while time.monotonic() - killed < timeout:
        if any(_leads(s) for s in others):
            return time.monotonic() - killed
        time.sleep(0.05)
    raise RuntimeError(f"no other node led within {timeout:.0f}s")


async def _drop(endpoint: Endpoint) -> None:
    from bench.loadgen import call

    conn = endpoint.connection()
    try:
        await call(conn, endpoint, "DeleteTable", {"TableName": "bench"})
    finally:
        conn.close()


def render(report: dict[str, Any]) -> str:
    failover = report.get("failover_s") or []
    lines = [
        "| workload | connections | nodes | ops/s (median) | ÷ 1 node (rounds) | p99 ms "
        "| CPU ms/op (region + PostgreSQL) | machine busy % | errors |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        ratio = ""
        if "vs_one" in r:  # rows of more than one node (_add_ratios)
            rounds = ", ".join(f"{x:.2f}" for x in r.get("vs_one_rounds") or [])
            ratio = f"{r['vs_one']:.2f}x ({rounds})"
        lines.append(
            f"| {r['workload']} | {r.get('concurrency', '')} | {r['nodes']} "
            f"| {r['ops_per_s']:.0f} | {ratio} | {r['p99_ms']:.1f} "
            f"| {r['cpu_ms_per_op']:.2f} | {r.get('machine_busy_pct', 0.0):.0f} | {r['errors']} |"
        )
    config = report.get("config") or {}
    if config.get("partitions"):
        lines += ["", f"table partitions: {config['partitions']}"]
    if config.get("pg_over"):
        over = "its Unix socket" if config["pg_over"] == "unix" else "loopback TCP"
        lines.append(f"nodes reach PostgreSQL over {over}")
    if failover:
        lines.append("")
        lines.append(
            "leader killed (SIGKILL), another node led after: "
            + ", ".join(f"{s:.2f} s" for s in failover)
            + f" (median {statistics.median(failover):.2f} s)"
        )
    return "\n".join(lines)
