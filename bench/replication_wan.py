"""``globaltables bench replication --wan``: replication over a WAN, against the same
deployment without one.

One deployment (Kafka and three regions, as ``bench/replication.py`` starts them) runs
with every link behind the WAN injector (``globaltables/wan``): each region's peer
links and its Kafka path.  The benchmark runs twice on it, first with the injector
adding nothing (``lan``: the baseline, the same proxies in the path), then with
issue #18's round trips (``wan``), and each phase measures:

* **lag per pair**: the replication sweep's steps (``bench/replication.py`` ``_step``)
  at each rate, pooled: the apply-time lag histograms of the regions' ``/metrics``
  (p50, p99) and the visibility lag of probe writes polled in the other regions;
* **conflict rate of the demo workload**: ``globaltables/workload.py`` as ``make
  demo`` runs it (a steady rate per region, and a key written in two regions at the
  same instant every few seconds) on a table of its own; conflicts are the increase
  of ``globaltables_replication_conflicts_lost_total`` over all regions and pairs,
  per 1,000 writes acknowledged, counted once every replica agrees;
* **convergence after a healed partition**: the same workload on, one region cut
  off from every other (both peer links and each side's fetches of the other's
  topic) for ``partition_s``, healed, the workload stopped at the heal; then the time
  until every region's verify tree root for that table is the same (the hash over
  all its items that ``globaltables verify`` compares first).

Bounded: every wait has a timeout (the sweep's drain, ``converge_timeout_s``) and the
number of steps is fixed, so a run takes about ``2 x (warm-up + steps + drain +
workload_s + partition_s + convergence)`` plus the deployment's start.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench import aio
from bench.loadgen import percentile
from bench.replication import (
    NAMES,
    Deployment,
    ReplicationConfig,
    _make_global,
    _step,
    histogram_quantile,
    say,
)
from bench.sigv4 import BENCH_ACCESS_KEY, BENCH_SECRET_KEY
from globaltables.wan import LAN, REALISTIC, WanProfile
from regions.sigv4 import Credentials
from replicator.signing import KeySigner, SigV4
from replicator.verifier import HttpReplica, VerifyError

__all__ = ["WanBenchConfig", "run_replication_wan", "wan_tables"]

_CONFLICTS = "globaltables_replication_conflicts_lost_total"


@dataclass(frozen=True)
class WanBenchConfig:
    workdir: Path
    #: total writes per second over the three regions, one step each, per phase
    rates: tuple[int, ...] = (50, 200)
    step_s: float = 8.0
    #: seconds of load at 30 w/s before each phase's steps (not measured)
    warmup_s: float = 3.0
    drain_s: float = 15.0
    probes_per_s: float = 4.0
    item_size: int = 1024
    #: the demo workload: seconds, writes per second per region, seconds between
    #: hot-key pairs (``make demo``'s 5/s and 2 s)
    workload_s: float = 20.0
    workload_rate: float = 5.0
    conflict_every_s: float = 2.0
    #: the region cut off, how long, and how long convergence may take after
    partition_region: str = "ap-southeast-2"
    partition_s: float = 10.0
    converge_timeout_s: float = 120.0
    #: the WAN injector of the peer links: python, toxiproxy or auto
    backend: str = "auto"
    profile: WanProfile = REALISTIC
    progress: bool | None = None
    seed: int = 7


# --------------------------------------------------------------------------- lag


def _pool(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per pair, every measured step pooled: apply-time p50/p99 from the summed
    histogram deltas, visibility p50/p99 from every probe."""
    out = []
    for s in NAMES:
        for d in NAMES:
            if s == d:
                continue
            buckets: dict[float, float] = {}
            count = 0.0
            probes: list[float] = []
            for step in steps:
                pair = next(p for p in step["pairs"] if p["source"] == s and p["destination"] == d)
                for le, n in pair["hist"]["buckets"].items():
                    buckets[le] = buckets.get(le, 0.0) + n
                count += pair["hist"]["count"]
                probes += pair["probe_ms"]
            probes.sort()
            out.append(
                {
                    "source": s,
                    "destination": d,
                    "applied": int(count),
                    "p50_ms": round(1000 * histogram_quantile(0.5, buckets), 1),
                    "p99_ms": round(1000 * histogram_quantile(0.99, buckets), 1),
                    "probe_n": len(probes),
                    "probe_p50_ms": round(percentile(probes, 0.5), 1),
                    "probe_p99_ms": round(percentile(probes, 0.99), 1),
                }
            )
    return out


async def _lag_phase(dep: Deployment, cfg: WanBenchConfig, tick: Any) -> dict[str, Any]:
    rcfg = ReplicationConfig(
        workdir=cfg.workdir,
        rates=cfg.rates,
        step_s=cfg.step_s,
        drain_s=cfg.drain_s,
        item_size=cfg.item_size,
        probes_per_s=cfg.probes_per_s,
        seed=cfg.seed,
    )
    steps: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10.0) as client:
        # warm-up: the appliers' fetch loops settle into the new latency first
        await _step(dep, replace(rcfg, step_s=cfg.warmup_s, probes_per_s=1.0), 30, client, cfg.seed)
        tick("warm-up")
        for i, rate in enumerate(cfg.rates):
            steps.append(await _step(dep, rcfg, rate, client, cfg.seed + i + 1, keep_samples=True))
            tick(f"{rate} w/s")
    pairs = _pool(steps)
    for step in steps:
        for p in step["pairs"]:
            p.pop("probe_ms", None)
            p.pop("hist", None)
    return {"steps": steps, "pairs": pairs}


# --------------------------------------------------------------------------- convergence


def _signed_client() -> httpx.AsyncClient:
    signer = KeySigner(Credentials(BENCH_ACCESS_KEY, BENCH_SECRET_KEY))
    return httpx.AsyncClient(auth=SigV4(signer), timeout=10.0)


async def _roots(dep: Deployment, client: httpx.AsyncClient, table: str) -> set[tuple[Any, ...]]:
    """The distinct (root hash, item count) of ``table`` over the regions."""
    seen = set()
    for name, server in dep.regions.items():
        level = await HttpReplica(name, server.url, client).tree(table, 0, None)
        seen.add((tuple(sorted(level.hashes.items())), level.count))
    return seen


async def _converge(
    dep: Deployment, table: str, timeout: float, since: float | None = None
) -> float | None:
    """Seconds from ``since`` (default: now) until every region's tree root for
    ``table`` is the same; None if not within ``timeout``."""
    started = time.monotonic() if since is None else since
    async with _signed_client() as client:
        while time.monotonic() - started < timeout:
            with contextlib.suppress(VerifyError):
                if len(await _roots(dep, client, table)) == 1:
                    return time.monotonic() - started
            await asyncio.sleep(0.05)
    return None


async def _conflicts_lost(dep: Deployment) -> float:
    """``globaltables_replication_conflicts_lost_total`` summed over regions and pairs."""
    total = 0.0
    async with httpx.AsyncClient(timeout=10.0) as client:
        for server in dep.regions.values():
            for line in (await client.get(f"{server.url}/metrics")).text.splitlines():
                if line.startswith(_CONFLICTS + "{") or line.startswith(_CONFLICTS + " "):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def _demo_table(dep: Deployment, table: str, cfg: WanBenchConfig) -> Any:
    from globaltables.workload import Workload, dynamodb_client

    workload = Workload(
        dep.urls(),
        table=table,
        rate=cfg.workload_rate,
        conflict_every_s=cfg.conflict_every_s,
        credentials={
            "aws_access_key_id": BENCH_ACCESS_KEY,
            "aws_secret_access_key": BENCH_SECRET_KEY,
        },
    )
    workload.ensure_table()
    deadline = time.monotonic() + 90
    for name, url in dep.urls().items():
        client = dynamodb_client(url, name, workload.credentials)
        while True:
            with contextlib.suppress(Exception):
                if client.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE":
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{table} is not ACTIVE in {name} after 90 s")
            time.sleep(0.2)
    return workload


def _workload_phase(
    dep: Deployment, cfg: WanBenchConfig, phase: str, tick: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    from globaltables.workload import Workload

    assert dep.wan is not None
    table = f"demo-{phase}"
    workload = _demo_table(dep, table, cfg)
    before = aio.run(_conflicts_lost(dep))
    stats = workload.run(cfg.workload_s)
    drained = aio.run(_converge(dep, table, cfg.converge_timeout_s))
    lost = aio.run(_conflicts_lost(dep)) - before
    conflicts = {
        "table": table,
        "seconds": cfg.workload_s,
        "writes": stats.written,
        "errors": stats.errors,
        "hot_key_pairs": stats.conflict_pairs,
        "conflicts_lost": int(lost),
        "per_1000_writes": round(1000 * lost / stats.written, 2) if stats.written else None,
        "converged_after_s": None if drained is None else round(drained, 2),
    }
    tick("demo workload")

    # the partition: the same workload on the same table, one region cut off
    load = Workload(
        dep.urls(),
        table=table,
        rate=cfg.workload_rate,
        conflict_every_s=cfg.conflict_every_s,
        credentials=workload.credentials,
    )
    region = cfg.partition_region
    load.start()
    try:
        time.sleep(2.0)
        dep.wan.isolate(region)
        try:
            time.sleep(cfg.partition_s)
        finally:
            dep.wan.rejoin(region)
        healed = time.monotonic()
    finally:
        load.stop()
    # from the heal (the workload stopped then)
    waited = aio.run(_converge(dep, table, cfg.converge_timeout_s, since=healed))
    partition = {
        "region": region,
        "cut_s": cfg.partition_s,
        "writes": load.stats.written,
        "errors": load.stats.errors,
        "converge_s": None if waited is None else round(waited, 2),
        "timeout_s": cfg.converge_timeout_s,
    }
    tick("partition")
    return conflicts, partition


# --------------------------------------------------------------------------- the run


@contextlib.contextmanager
def _bar(total: int, show: bool | None) -> Iterator[Any]:
    from tqdm import tqdm

    visible = sys.stderr.isatty() if show is None else show
    with tqdm(total=total, desc="replication --wan", unit="part", disable=not visible) as bar:

        def tick(what: str) -> None:
            bar.set_postfix_str(what)
            bar.update()

        yield tick


def run_replication_wan(cfg: WanBenchConfig) -> dict[str, Any]:
    """Start Kafka, the WAN injector and three regions; measure without and with WAN
    latency; stop everything; returns the results."""
    shutil.rmtree(cfg.workdir, ignore_errors=True)
    cfg.workdir.mkdir(parents=True)
    dep = Deployment(cfg.workdir / "kafka", wan_backend=cfg.backend)
    started = time.monotonic()
    phases: dict[str, dict[str, Any]] = {}
    per_phase = len(cfg.rates) + 3
    with _bar(2 * per_phase + 1, cfg.progress) as tick:
        try:
            dep.start(cfg.workdir)
            assert dep.wan is not None
            aio.run(_make_global(dep))
            tick("deployment")
            for phase, profile in (("lan", LAN), ("wan", cfg.profile)):
                dep.wan.set_profile(profile)
                say(f"  phase {phase}: {_describe(profile)}")
                lag = aio.run(_lag_phase(dep, cfg, tick))
                conflicts, partition = _workload_phase(dep, cfg, phase, tick)
                phases[phase] = {
                    "profile": profile.to_json(),
                    **lag,
                    "conflicts": conflicts,
                    "partition": partition,
                }
                say(_phase_line(phase, phases[phase]))
        finally:
            backend = dep.wan.backend if dep.wan is not None else cfg.backend
            dep.stop()
    return {
        "method": "one deployment behind the WAN injector, measured with no added latency "
        "(lan) and with the pair round trips (wan); lag from /metrics histograms and probe "
        "writes, conflicts from globaltables_replication_conflicts_lost_total, convergence "
        "from the regions' verify tree roots",
        "backend": backend,
        "config": {
            k: (
                list(v)
                if isinstance(v, tuple)
                else str(v)
                if isinstance(v, Path)
                else v.to_json()
                if isinstance(v, WanProfile)
                else v
            )
            for k, v in cfg.__dict__.items()
        },
        "phases": phases,
        "elapsed_s": round(time.monotonic() - started, 1),
    }


def _describe(profile: WanProfile) -> str:
    if profile.is_zero:
        return "no added latency"
    pairs = ", ".join(
        f"{'<->'.join(sorted(pair))} {ms:.0f} ms" for pair, ms in profile.rtt_ms.items()
    )
    return f"RTT {pairs}, jitter ±{profile.jitter:.0%}"


def _phase_line(phase: str, doc: dict[str, Any]) -> str:
    worst = max((p["probe_p99_ms"] for p in doc["pairs"]), default=0.0)
    c, part = doc["conflicts"], doc["partition"]
    converge = "did not converge" if part["converge_s"] is None else f"{part['converge_s']:.1f} s"
    return (
        f"  {phase}: worst pair visibility p99 {worst:.0f} ms; "
        f"{c['per_1000_writes']} conflicts per 1,000 writes; "
        f"converged {converge} after a {part['cut_s']:.0f} s partition of {part['region']}"
    )


# --------------------------------------------------------------------------- report


def wan_tables(doc: dict[str, Any]) -> str:
    """The results as markdown: lag per pair, then conflicts and convergence."""
    lan, wan = doc["phases"]["lan"], doc["phases"]["wan"]
    profile = WanProfile.from_json(wan["profile"])
    lines = [
        "| source → destination | RTT configured | apply p50 / p99, no WAN | apply p50 / p99, WAN "
        "| visible p50 / p99, no WAN | visible p50 / p99, WAN |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for a, b in zip(lan["pairs"], wan["pairs"], strict=True):
        rtt = profile.rtt(a["source"], a["destination"])
        lines.append(
            f"| {a['source']} → {a['destination']} | {rtt:.0f} ms "
            f"| {a['p50_ms']:.0f} / {a['p99_ms']:.0f} ms | {b['p50_ms']:.0f} / {b['p99_ms']:.0f} ms "
            f"| {a['probe_p50_ms']:.0f} / {a['probe_p99_ms']:.0f} ms "
            f"| {b['probe_p50_ms']:.0f} / {b['probe_p99_ms']:.0f} ms |"
        )
    lines += ["", "| | no WAN | WAN |", "|---|---:|---:|"]
    for i, rate in enumerate(doc["config"]["rates"]):
        sl, sw = lan["steps"][i], wan["steps"][i]
        lines.append(
            f"| {rate} w/s target: achieved | {sl['achieved_rate']:.0f} w/s "
            f"| {sw['achieved_rate']:.0f} w/s |"
        )
    cl, cw = lan["conflicts"], wan["conflicts"]
    lines.append(
        f"| demo workload: conflicts per 1,000 writes | {cl['per_1000_writes']} "
        f"({cl['conflicts_lost']} of {cl['writes']:,}) | {cw['per_1000_writes']} "
        f"({cw['conflicts_lost']} of {cw['writes']:,}) |"
    )
    pl, pw = lan["partition"], wan["partition"]

    def conv(p: dict[str, Any]) -> str:
        return "did not" if p["converge_s"] is None else f"{p['converge_s']:.2f} s"

    lines.append(
        f"| convergence after {pl['region']} was cut off {pl['cut_s']:.0f} s, healed "
        f"| {conv(pl)} | {conv(pw)} |"
    )
    return "\n".join(lines)
