"""``make bench``: every workload against every server, interleaved, plus replication.

Order of runs: for each workload, ``rounds`` rounds, and in each round every server once
(trivial, moto, dynalite-mem, dynalite-disk, gt-sqlite, gt-pg, trivial, ...).  Interleaving
spreads slow drifts of the machine (page cache, other processes, thermal) over all servers
instead of charging them to whichever server happened to run during them.  The trivial
server (:mod:`bench.trivial`) takes part like any other, so the client's ceiling for each
workload is measured under the same conditions as the servers it is compared with.

CPU: at the open and the close of each measured window the harness reads the CPU time of
the server's processes (``/proc/<pid>/stat``, :mod:`bench.procstat`: the region and, for gt-pg,
the PostgreSQL cluster), its own CPU time and the machine's.  ``other_cpu_pct`` is what
the rest of the machine used meanwhile; runs with a lot of it were disturbed.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import aio, procstat
from bench.loadgen import (
    WORKLOADS,
    Endpoint,
    LoadConfig,
    OpStats,
    RunResult,
    ensure_table,
    preload,
    run_load,
)
from bench.peers import (
    GT_SERVERS,
    SERVER_NAMES,
    STORELESS,
    Server,
    ServerUnavailable,
    make_server,
)

__all__ = [
    "CEILING_WORKLOADS",
    "CpuMeter",
    "SuiteConfig",
    "aggregate",
    "machine_info",
    "measure_ceiling",
    "run_suite",
]

#: the ceiling is measured with these (the cheapest and the most expensive to build)
CEILING_WORKLOADS = ("get", "put", "mixed", "batch-write")
#: the suite's servers: the trivial one first (the client's ceiling), then the ASGI floor
SUITE_SERVERS = (*STORELESS, *SERVER_NAMES)
PEERS = ("moto", "dynalite-mem", "dynalite-disk")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- CPU


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for pid in pids:
        cpu = procstat.process_cpu(pid)
        if cpu is not None:
            out[pid] = cpu
    return out


class CpuMeter:
    """CPU use of one server's process groups, this process and the machine over a window."""

    def __init__(self, groups: Callable[[], dict[str, list[int]]]) -> None:
        self.groups = groups
        self._start: dict[str, dict[int, float]] = {}
        self._end: dict[str, dict[int, float]] = {}
        self._t: list[float] = []
        self._self: list[float] = []
        self._machine: list[tuple[float, float]] = []

    def mark(self, which: str) -> None:
        snap = {name: _cpu_seconds(procs) for name, procs in self.groups().items()}
        if which == "start":
            self._start = snap
        else:
            self._end = snap
        self._t.append(time.monotonic())
        self._self.append(time.process_time())
        self._machine.append(procstat.machine_times())

    def result(self) -> dict[str, Any]:
        if len(self._t) < 2:
            return {}
        wall = self._t[-1] - self._t[0]
        by_group: dict[str, float] = {}
        for name, end in self._end.items():
            start = self._start.get(name, {})
            # a process that appeared during the window is charged all its CPU time
            by_group[name] = sum(v - start.get(pid, 0.0) for pid, v in end.items())
        server = sum(by_group.values())
        client = self._self[-1] - self._self[0]
        busy = self._machine[-1][0] - self._machine[0][0]
        total = self._machine[-1][1] - self._machine[0][1]
        ncpu = procstat.cpu_count()
        pct = 100.0 / wall if wall > 0 else 0.0
        return {
            "wall_s": round(wall, 3),
            "server_cpu_s": round(server, 3),
            "server_cpu_pct": round(server * pct, 1),
            "by_process_pct": {k: round(v * pct, 1) for k, v in by_group.items()},
            "client_cpu_pct": round(client * pct, 1),
            # the machine's busy share in "% of one core" like the others (200 % = 2 cores)
            "machine_busy_pct": round(100.0 * ncpu * busy / total, 1) if total > 0 else 0.0,
            "other_cpu_pct": round(
                max(0.0, (100.0 * ncpu * busy / total if total > 0 else 0.0) - (server + client) * pct),
                1,
            ),
        }


def process_groups(server: Server) -> Callable[[], dict[str, list[int]]]:
    """The server's process trees by role: the region (or peer) and, for gt-pg, PostgreSQL."""

    def groups() -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        if server.proc is not None:
            role = "region" if server.name.startswith("gt-") else server.name
            out[role] = procstat.tree(server.proc.pid)
        for pid in server.extra_pids:
            out.setdefault("postgres", []).extend(procstat.tree(pid))
        return out

    return groups


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SuiteConfig:
    out_dir: Path = Path(".data/bench")
    workloads: tuple[str, ...] = WORKLOADS
    servers: tuple[str, ...] = SUITE_SERVERS
    rounds: int = 2
    duration: float = 3.0
    warmup: float = 1.0
    concurrency: int = 16
    item_size: int = 1024
    key_space: int = 5000
    seed: int = 1
    #: a separate ceiling phase before the matrix (the matrix has the trivial server anyway)
    ceiling: bool = False
    replication: bool = True
    progress: bool | None = None
    #: replication benchmark settings (see bench.replication)
    repl_rates: tuple[int, ...] = (25, 50, 100, 250, 500, 750, 1000)
    repl_step_s: float = 8.0
    #: CPUs the servers' own processes (region, workers) run on; the load generator and
    #: PostgreSQL run on the others.  Empty: no pinning (everything shares every CPU).
    server_cpus: tuple[int, ...] = ()


@dataclass
class Cell:
    """All rounds of one workload against one server."""

    workload: str
    server: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    unsupported: str = ""


# --------------------------------------------------------------------------- runs


#: the CPUs this process may use before any pinning (pin() narrows its own)
_USABLE_CPUS = frozenset(os.sched_getaffinity(0))


def pin(server: Server, cpus: tuple[int, ...]) -> None:
    """Run ``server``'s own processes on ``cpus`` and this process (the load generator) and
    the server's helpers (PostgreSQL) on the machine's other CPUs.

    Why: on a small machine the region, its database and the client take each other's
    cores, and which one the scheduler favours changes from run to run.  Pinned, a region
    has the cores a node of its own would have and PostgreSQL sits apart, as on a database
    host; the same pinning for every server keeps the comparison fair.  Done before every
    run, since a region may have started worker processes since the last one."""
    if not cpus:
        return
    every = _USABLE_CPUS | set(cpus)
    rest = every - set(cpus)
    if not rest:
        raise ValueError(f"--server-cpus {cpus} leaves no CPU for the load generator")
    groups = process_groups(server)()
    for role, pids in groups.items():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.sched_setaffinity(pid, set(cpus) if role != "postgres" else rest)
    os.sched_setaffinity(0, rest)


def _one_run(
    server: Server, cfg: SuiteConfig, workload: str, label: str, seed: int
) -> tuple[RunResult, dict[str, Any]]:
    pin(server, cfg.server_cpus)
    meter = CpuMeter(process_groups(server))
    load = LoadConfig(
        server.url,
        workload,
        concurrency=cfg.concurrency,
        item_size=cfg.item_size,
        key_space=cfg.key_space,
        duration=cfg.duration,
        warmup=cfg.warmup,
        seed=seed,
        region=server.region,
    )
    result = aio.run(run_load(load, progress=cfg.progress, label=label, on_window=meter.mark))
    return result, meter.result()


def measure_ceiling(cfg: SuiteConfig, workdir: Path) -> list[dict[str, Any]]:
    """The load generator against :mod:`bench.trivial`: its own ceiling per workload."""
    server = make_server("trivial", workdir)
    out: list[dict[str, Any]] = []
    try:
        server.start()
        for i, wl in enumerate(CEILING_WORKLOADS):
            result, cpu = _one_run(server, cfg, wl, f"ceiling {wl}", cfg.seed + i)
            row = {"workload": wl, **result.to_dict(), "cpu": cpu}
            out.append(row)
            say(
                f"  ceiling {wl:<12} {result.ops_per_s:>9,.0f} ops/s  p50 {result.p50_ms:6.2f} ms  "
                f"p99 {result.p99_ms:6.2f} ms  client CPU {cpu.get('client_cpu_pct', 0):.0f} %  "
                f"trivial server CPU {cpu.get('server_cpu_pct', 0):.0f} %"
            )
    finally:
        server.stop()
    return out


@contextlib.contextmanager
def started(names: tuple[str, ...], workdir: Path) -> Iterator[tuple[dict[str, Server], dict[str, str]]]:
    """Start the servers that are installed; yields (servers, {skipped name: reason})."""
    servers: dict[str, Server] = {}
    skipped: dict[str, str] = {}
    try:
        for name in names:
            try:
                server = make_server(name, workdir)
            except ServerUnavailable as exc:
                skipped[name] = str(exc)
                say(f"  {name}: skipped ({exc})")
                continue
            servers[name] = server
            try:
                server.start()
            except RuntimeError as exc:
                skipped[name] = str(exc).splitlines()[0]
                say(f"  {name}: failed to start ({skipped[name]})")
                server.stop()
                del servers[name]
                continue
            say(f"  {name:<14} {server.url}  {server.version}; {server.durability}")
        yield servers, skipped
    finally:
        for server in servers.values():
            server.stop()


def run_suite(cfg: SuiteConfig) -> dict[str, Any]:
    """The standard set; returns the document written to ``<out_dir>/results.json``."""
    started_at = time.time()
    out_dir = cfg.out_dir.resolve()
    workdir = out_dir / "work"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    doc: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
        "machine": machine_info(workdir),
        "config": {
            k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
            for k, v in cfg.__dict__.items()
        },
        "command": " ".join(sys.argv),
    }
    if cfg.ceiling:
        say("client ceiling (load generator against a trivial server that answers {}):")
        doc["ceiling"] = measure_ceiling(cfg, workdir)

    say("starting servers:")
    with started(cfg.servers, workdir) as (servers, skipped):
        doc["skipped"] = skipped
        doc["servers"] = {
            n: {"url": s.url, "version": s.version, "durability": s.durability}
            for n, s in servers.items()
        }
        say(f"preloading {cfg.key_space} items of {cfg.item_size} B into each server:")
        for name, server in servers.items():
            if name in STORELESS:
                continue  # it stores nothing
            ep = Endpoint(server.url, server.region)
            aio.run(ensure_table(ep))
            secs = aio.run(preload(ep, cfg.key_space, cfg.item_size, seed=cfg.seed))
            doc["servers"][name]["preload_s"] = round(secs, 2)
            say(f"  {name:<14} {secs:5.1f} s")

        cells: dict[tuple[str, str], Cell] = {}
        total = len(cfg.workloads) * cfg.rounds * len(servers)
        n = 0
        for wl in cfg.workloads:
            for rnd in range(cfg.rounds):
                for name, server in servers.items():
                    n += 1
                    cell = cells.setdefault((wl, name), Cell(wl, name))
                    if cell.unsupported:
                        continue
                    if not server.alive():
                        cell.unsupported = f"server died: {server.log_tail(300)}"
                        continue
                    label = f"[{n}/{total}] {wl} {name} r{rnd + 1}"
                    result, cpu = _one_run(server, cfg, wl, label, cfg.seed + 1000 * rnd)
                    run = {"round": rnd + 1, **result.to_dict(), "cpu": cpu}
                    cell.runs.append(run)
                    for lat in result.latencies_ns.values():
                        cell.latencies_ns.extend(lat)
                    errs = sum(result.errors.values())
                    say(
                        f"{label:<34} {result.ops_per_s:>8,.0f} ops/s  p50 {result.p50_ms:7.2f}  "
                        f"p99 {result.p99_ms:7.2f} ms  server CPU {cpu.get('server_cpu_pct', 0):5.0f} %  "
                        f"other {cpu.get('other_cpu_pct', 0):4.0f} %"
                        + (f"  errors {errs} {sorted(result.errors)[:2]}" if errs else "")
                    )
                    if result.ops == 0 and errs:
                        # e.g. dynalite has no transactions: say so once, do not repeat it
                        cell.unsupported = ", ".join(sorted(result.errors))
        doc["results"] = aggregate(cells)
        doc["ratios"] = ratios(doc["results"])

    if cfg.replication:
        from bench.replication import ReplicationConfig, run_replication

        say("replication benchmark (Kafka + three regions):")
        doc["replication"] = run_replication(
            ReplicationConfig(
                workdir=workdir / "replication",
                rates=cfg.repl_rates,
                step_s=cfg.repl_step_s,
                item_size=cfg.item_size,
                progress=cfg.progress,
            )
        )
    doc["elapsed_s"] = round(time.time() - started_at, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(doc, indent=2))
    return doc


def aggregate(cells: dict[tuple[str, str], Cell]) -> list[dict[str, Any]]:
    """One row per (workload, server): pooled over the rounds."""
    rows: list[dict[str, Any]] = []
    for (wl, name), cell in cells.items():
        if not cell.runs or (cell.unsupported and not any(r["ops"] for r in cell.runs)):
            rows.append({"workload": wl, "server": name, "unsupported": cell.unsupported or "no runs"})
            continue
        seconds = sum(r["seconds"] for r in cell.runs)
        stats = OpStats.of(cell.latencies_ns, seconds)
        ops = sum(r["ops"] for r in cell.runs)
        errors: dict[str, int] = {}
        for r in cell.runs:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        n_err = sum(errors.values())
        server_cpu_s = sum(r["cpu"].get("server_cpu_s", 0.0) for r in cell.runs)
        cpu_pct = [r["cpu"].get("server_cpu_pct", 0.0) for r in cell.runs]
        by_proc: dict[str, float] = {}
        for r in cell.runs:
            for k, v in r["cpu"].get("by_process_pct", {}).items():
                by_proc[k] = by_proc.get(k, 0.0) + v / len(cell.runs)
        items = sum(r["items_per_s"] * r["seconds"] for r in cell.runs)
        rows.append(
            {
                "workload": wl,
                "server": name,
                "rounds": len(cell.runs),
                "seconds": round(seconds, 2),
                "ops": ops,
                "ops_per_s": round(ops / seconds, 1) if seconds else 0.0,
                "round_ops_per_s": [round(r["ops_per_s"], 1) for r in cell.runs],
                "items_per_s": round(items / seconds, 1) if seconds else 0.0,
                "p50_ms": round(stats.p50_ms, 3),
                "p90_ms": round(stats.p90_ms, 3),
                "p99_ms": round(stats.p99_ms, 3),
                "max_ms": round(stats.max_ms, 3),
                "errors": errors,
                "error_rate": round(n_err / (n_err + ops), 4) if n_err + ops else 0.0,
                "server_cpu_pct": round(sum(cpu_pct) / len(cpu_pct), 1),
                "server_cpu_by_process_pct": {k: round(v, 1) for k, v in by_proc.items()},
                # CPU time per operation is far less sensitive to a noisy machine than ops/s
                "server_cpu_ms_per_op": round(1000 * server_cpu_s / ops, 3) if ops else None,
                "client_cpu_pct": round(
                    sum(r["cpu"].get("client_cpu_pct", 0.0) for r in cell.runs) / len(cell.runs), 1
                ),
                "other_cpu_pct": round(
                    max(r["cpu"].get("other_cpu_pct", 0.0) for r in cell.runs), 1
                ),
                "misses": sum(r["misses"] for r in cell.runs),
                "unprocessed": sum(r["unprocessed"] for r in cell.runs),
                "connections_opened": sum(r["connections_opened"] for r in cell.runs),
            }
        )
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """globaltables' throughput divided by each peer's, per workload."""
    by = {(r["workload"], r["server"]): r for r in rows if "ops_per_s" in r}
    out: list[dict[str, Any]] = []
    for wl in dict.fromkeys(r["workload"] for r in rows):
        for gt in GT_SERVERS:
            mine = by.get((wl, gt))
            if mine is None:
                continue
            entry: dict[str, Any] = {"workload": wl, "server": gt}
            for peer in PEERS:
                other = by.get((wl, peer))
                entry[peer] = (
                    round(mine["ops_per_s"] / other["ops_per_s"], 2)
                    if other and other["ops_per_s"] > 0
                    else None
                )
            out.append(entry)
    return out


def fsync_latency(directory: Path, n: int = 100) -> tuple[float, float]:
    """p50 and p99 (ms) of ``n`` 4 KiB write+fsync pairs in ``directory``: what one durable
    commit costs at least on this disk (SQLite FULL and PostgreSQL pay it per commit)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ".fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    lat: list[float] = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    lat.sort()
    return round(lat[len(lat) // 2], 2), round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2)


def machine_info(data_dir: Path | None = None) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    disk = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fs, *_ = line.split()
            if mnt == "/":
                disk = f"{dev} ({fs})"
    p50, p99 = fsync_latency(data_dir or Path(".data/bench"))
    return {
        "fsync_p50_ms": p50,
        "fsync_p99_ms": p99,
        "cpus": procstat.cpu_count(),
        "cpu_model": model,
        "memory_gib": procstat.memory_gib(),
        "root_fs": disk,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
