"""``globaltables bench``: the load generator and the benchmark suite (package ``bench``).

The ``bench`` modules are imported inside the commands: the suite needs the optional
``bench`` extra (psutil, moto, py-spy), and ``globaltables --help`` must not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

__all__ = ["bench"]

_WORKLOADS = ("put", "get", "query", "mixed", "batch-write", "transact")
_SERVERS = (
    "trivial",
    "asgi-floor",
    "moto",
    "dynalite-mem",
    "dynalite-disk",
    "gt-sqlite",
    "gt-sqlite-w2",
    "gt-pg",
)
#: accepted by --servers, not run by default
_MORE_SERVERS = ("gt-pg-w2", "gt-pg-tcp")


def _csv(choices: tuple[str, ...]) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
        items = tuple(v.strip() for v in value.split(",") if v.strip())
        bad = [v for v in items if v not in choices]
        if bad:
            raise click.BadParameter(f"{', '.join(bad)}: not one of {', '.join(choices)}")
        return items

    return convert


def _ints(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: comma-separated integers expected") from None


def _write_json(path: str | None, doc: Any) -> None:
    if not path:
        return
    text = json.dumps(doc, indent=2)
    if path == "-":
        click.echo(text)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        click.echo(f"JSON written to {path}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def bench() -> None:
    """Benchmarks: a DynamoDB load generator (SigV4, keep-alive HTTP), the standard suite
    against moto and dynalite (`make bench`), replication lag and profiling.

    See docs/benchmarks.md.
    """


def _load_options(f: Any) -> Any:
    options = [
        click.option("--workload", "-w", type=click.Choice(_WORKLOADS), default="mixed", show_default=True,
                     help="put, get, query (pages of 10), mixed (50% get, 40% put, 10% query), "
                     "batch-write (25 puts) or transact (4 puts)."),
        click.option("--concurrency", "-c", type=click.IntRange(1, 1024), default=16, show_default=True,
                     help="Connections, each with one request in flight (closed loop)."),
        click.option("--item-size", type=click.IntRange(64, 400_000), default=1024, show_default=True,
                     help="Item size in bytes (DynamoDB's measure)."),
        click.option("--key-space", type=click.IntRange(25, 10_000_000), default=10_000, show_default=True,
                     help="Distinct keys written and read."),
        click.option("--duration", "-d", type=click.FloatRange(0.1, 3600), default=10.0, show_default=True,
                     help="Measured seconds."),
        click.option("--warmup", type=click.FloatRange(0, 600), default=2.0, show_default=True,
                     help="Seconds of load before measuring starts."),
        click.option("--seed", type=int, default=1, show_default=True, help="Seed of the key and data choices."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@bench.command("run")
@click.option("--endpoint", "-e", default=None, help="Server URL, e.g. http://127.0.0.1:8000. "
              "Without it a trivial server that answers {} is started (the client's ceiling).")
@click.option("--region", default="us-east-1", show_default=True, help="Region in the SigV4 scope.")
@_load_options
@click.option("--max-ops", type=click.IntRange(1), default=2_000_000, show_default=True,
              help="Stop after this many requests even if the duration is not over.")
@click.option("--preload/--no-preload", default=True, show_default=True,
              help="Create table 'bench' if missing and write every key once before the run.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--json", "json_path", default=None, help="Write the result as JSON to this file ('-': stdout).")
def run_cmd(
    endpoint: str | None,
    region: str,
    workload: str,
    concurrency: int,
    item_size: int,
    key_space: int,
    duration: float,
    warmup: float,
    seed: int,
    max_ops: int,
    preload: bool,
    progress: bool | None,
    json_path: str | None,
) -> None:
    """Run one workload against one server and print a table (and JSON with --json)."""
    from bench import aio
    from bench.loadgen import DynamoError, Endpoint, LoadConfig, ensure_table, run_load
    from bench.loadgen import preload as do_preload
    from bench.report import run_table
    from bench.sigv4 import BENCH_ACCESS_KEY

    trivial = None
    if endpoint is None:
        import tempfile

        from bench.peers import make_server

        trivial = make_server("trivial", Path(tempfile.mkdtemp(prefix="gt-bench-")))
        trivial.start()
        endpoint, preload = trivial.url, False
        click.echo(f"no --endpoint: measuring the client's ceiling against a trivial server at {endpoint}", err=True)
    try:
        cfg = LoadConfig(
            endpoint, workload, concurrency=concurrency, item_size=item_size, key_space=key_space,
            duration=duration, warmup=warmup, seed=seed, max_ops=max_ops, region=region,
        )
        try:
            if preload:
                ep = Endpoint(endpoint, region)
                aio.run(ensure_table(ep))
                secs = aio.run(do_preload(ep, key_space, item_size, seed=seed))
                click.echo(f"preloaded {key_space} items in {secs:.1f} s", err=True)
            result = aio.run(run_load(cfg, progress=progress)).to_dict()
        except OSError as exc:  # refused, reset, unreachable: the server is not there
            raise click.ClickException(f"cannot reach {endpoint}: {exc}") from None
        except DynamoError as exc:  # e.g. keys the server does not know (docs/benchmarks.md)
            raise click.ClickException(
                f"{endpoint} refused the benchmark's request: {exc} (the benchmark signs with "
                f"{BENCH_ACCESS_KEY}; docs/benchmarks.md, Reproducing)"
            ) from None
    finally:
        if trivial is not None:
            import shutil

            trivial.stop()
            shutil.rmtree(trivial.workdir, ignore_errors=True)
    click.echo(run_table(result))
    _write_json(json_path, result)


@bench.command("ceiling")
@_load_options
def ceiling_cmd(
    workload: str, concurrency: int, item_size: int, key_space: int, duration: float, warmup: float, seed: int
) -> None:
    """The load generator's own ceiling: get, put, mixed and batch-write against a trivial
    server (its own process) that answers {}."""
    import tempfile

    from bench.harness import SuiteConfig, measure_ceiling
    from bench.report import ceiling_table

    cfg = SuiteConfig(concurrency=concurrency, item_size=item_size, key_space=key_space,
                      duration=duration, warmup=warmup, seed=seed)
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as workdir:
        click.echo(ceiling_table(measure_ceiling(cfg, Path(workdir))))


@bench.command("suite")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path(".data/bench"), show_default=True,
              help="Where results.json, results.md and the servers' logs go.")
@click.option("--workloads", default=",".join(_WORKLOADS), show_default=True, callback=_csv(_WORKLOADS))
@click.option(
    "--servers",
    default=",".join(_SERVERS),
    show_default=True,
    callback=_csv((*_SERVERS, *_MORE_SERVERS)),
    help="Servers to run; also gt-pg-w2 (PostgreSQL, --workers 2). gt-*-w2 run the "
    "region with --workers 2.",
)
@click.option("--rounds", type=click.IntRange(1, 20), default=2, show_default=True,
              help="Interleaved rounds per workload (A, B, ..., A, B, ...).")
@click.option("--duration", type=click.FloatRange(0.5, 600), default=3.0, show_default=True,
              help="Measured seconds per run.")
@click.option("--warmup", type=click.FloatRange(0, 60), default=1.0, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=16, show_default=True)
@click.option("--item-size", type=click.IntRange(64, 400_000), default=1024, show_default=True)
@click.option("--key-space", type=click.IntRange(25, 1_000_000), default=2000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--ceiling/--no-ceiling", default=False, show_default=True,
              help="Also measure the client's ceiling in a phase of its own first (the "
              "'trivial' server in --servers measures it interleaved with the others).")
@click.option("--replication/--no-replication", default=True, show_default=True,
              help="Run the replication benchmark afterwards (Kafka + three regions).")
@click.option("--repl-rates", default="25,50,100,250,500,750,1000", show_default=True, callback=_ints,
              help="Total write rates (writes/s over the three regions), one step each.")
@click.option("--repl-step", type=click.FloatRange(1, 600), default=8.0, show_default=True,
              help="Seconds of load per replication step.")
@click.option("--server-cpus", default="", callback=_ints,
              help="Pin each server's own processes (the region and its workers) to these "
              "CPUs, e.g. 0, and the load generator and PostgreSQL to the others: a node with "
              "cores of its own and the database apart, the same for every server "
              "[default: no pinning].")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
def suite_cmd(
    out_dir: Path,
    workloads: tuple[str, ...],
    servers: tuple[str, ...],
    rounds: int,
    duration: float,
    warmup: float,
    concurrency: int,
    item_size: int,
    key_space: int,
    seed: int,
    ceiling: bool,
    replication: bool,
    repl_rates: tuple[int, ...],
    repl_step: float,
    server_cpus: tuple[int, ...],
    progress: bool | None,
) -> None:
    """The standard set (`make bench`): every workload against every server (the trivial one
    measures the client's ceiling) interleaved, then replication; writes <out>/results.json
    and <out>/results.md."""
    from bench.harness import SuiteConfig, run_suite
    from bench.report import suite_report

    if server_cpus:
        usable = os.sched_getaffinity(0)
        if not set(server_cpus) <= usable or not usable - set(server_cpus):
            raise click.BadParameter(
                f"{','.join(map(str, server_cpus))}: CPUs of {sorted(usable)} expected, "
                "leaving at least one for the load generator",
                param_hint="--server-cpus",
            )
    cfg = SuiteConfig(
        out_dir=out_dir, workloads=workloads, servers=servers, rounds=rounds, duration=duration,
        warmup=warmup, concurrency=concurrency, item_size=item_size, key_space=key_space, seed=seed,
        ceiling=ceiling, replication=replication, progress=progress, repl_rates=repl_rates,
        repl_step_s=repl_step, server_cpus=server_cpus,
    )
    doc = run_suite(cfg)
    text = suite_report(doc)
    (out_dir / "results.md").write_text(text + "\n")
    click.echo(text)
    click.echo(f"\nresults: {out_dir / 'results.json'} and {out_dir / 'results.md'}", err=True)


def _rates(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    rates = _ints(ctx, param, value)
    if not rates or any(r <= 0 for r in rates):
        raise click.BadParameter(f"{value!r}: positive write rates expected")
    return rates


_SWEEP_RATES = (25, 50, 100, 250, 500, 750, 1000)
_WAN_RATES = (50, 200)


@bench.command("replication")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path(".data/bench"), show_default=True)
@click.option("--rates", default=None, callback=_rates,
              help="Total write rates (writes/s over the three regions), one step each "
              "[default: 25,50,100,250,500,750,1000; with --wan: 50,200 per phase].")
@click.option("--step", type=click.FloatRange(1, 600), default=8.0, show_default=True, help="Seconds per step.")
@click.option("--item-size", type=click.IntRange(64, 400_000), default=1024, show_default=True)
@click.option("--lag-limit-ms", type=click.FloatRange(1), default=1000.0, show_default=True,
              help="A step passes while every pair's p99 lag is below this.")
@click.option("--wan", is_flag=True,
              help="Run it twice in one deployment whose every link goes through the WAN "
              "injector: without added latency, then with round trips of us-east-1<->eu-west-1 "
              "75 ms, us-east-1<->ap-southeast-2 215 ms, eu-west-1<->ap-southeast-2 230 ms "
              "(jitter ±10 %). Reports per pair lag, the demo workload's conflict rate and the "
              "convergence time after a healed partition, side by side.")
@click.option("--wan-backend", type=click.Choice(("auto", "python", "toxiproxy")), default="auto",
              show_default=True,
              help="The peer links' injector: Toxiproxy (built by `make wan-tools`), the "
              "Python proxy, or Toxiproxy when built. Kafka paths always use the Python proxy, "
              "which reads Kafka frames to delay each source's records by its own pair.")
@click.option("--warmup", type=click.FloatRange(1, 600), default=3.0, show_default=True,
              help="With --wan: seconds of load before each phase's steps, not measured.")
@click.option("--workload-s", type=click.FloatRange(2, 600), default=20.0, show_default=True,
              help="With --wan: seconds of demo workload whose conflicts are counted.")
@click.option("--partition-s", type=click.FloatRange(1, 600), default=10.0, show_default=True,
              help="With --wan: seconds ap-southeast-2 stays cut off from the other regions.")
@click.option("--converge-timeout", type=click.FloatRange(5, 1800), default=120.0, show_default=True,
              help="With --wan: longest wait for the replicas to agree after the heal.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def replication_cmd(
    out_dir: Path,
    rates: tuple[int, ...] | None,
    step: float,
    item_size: int,
    lag_limit_ms: float,
    wan: bool,
    wan_backend: str,
    warmup: float,
    workload_s: float,
    partition_s: float,
    converge_timeout: float,
    progress: bool | None,
) -> None:
    """Kafka and three regions here, a write load split over them in rising steps; replication
    lag p50/p99/max per pair and the highest rate whose p99 lag stays under the limit.

    With --wan: the same over a simulated WAN, against the same run without it."""
    if wan:
        from bench.replication_wan import WanBenchConfig, run_replication_wan, wan_tables
        from globaltables.wan import resolve_backend
        from globaltables.wan.toxiproxy import ToxiproxyUnavailable

        try:
            resolve_backend(wan_backend)
        except ToxiproxyUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        doc = run_replication_wan(
            WanBenchConfig(workdir=out_dir / "work" / "replication-wan", rates=rates or _WAN_RATES,
                           step_s=step, warmup_s=warmup, item_size=item_size, workload_s=workload_s,
                           partition_s=partition_s, converge_timeout_s=converge_timeout,
                           backend=wan_backend, progress=progress)
        )
        click.echo(wan_tables(doc))
        _write_json(str(out_dir / "replication-wan.json"), doc)
        return

    from bench.replication import ReplicationConfig, run_replication
    from bench.report import replication_tables

    doc = run_replication(
        ReplicationConfig(workdir=out_dir / "work" / "replication", rates=rates or _SWEEP_RATES,
                          step_s=step, item_size=item_size, lag_limit_ms=lag_limit_ms,
                          progress=progress)
    )
    click.echo(replication_tables(doc))
    _write_json(str(out_dir / "replication.json"), doc)


@bench.command("profile")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path(".data/bench"), show_default=True)
@click.option("--server", type=click.Choice(("gt-sqlite", "gt-pg")), default="gt-sqlite", show_default=True)
@click.option("--workload", "-w", type=click.Choice(_WORKLOADS), default="mixed", show_default=True)
@click.option("--duration", type=click.FloatRange(1, 600), default=15.0, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=16, show_default=True)
@click.option("--key-space", type=click.IntRange(25, 1_000_000), default=2000, show_default=True)
@click.option("--mode", type=click.Choice(("gil", "wall")), default="gil", show_default=True,
              help="gil: the thread holding the GIL (where Python CPU goes); wall: every thread, "
              "waiting or not, with native frames (fsync, queue waits).")
@click.option("--top", type=click.IntRange(1, 200), default=20, show_default=True)
def profile_cmd(
    out_dir: Path, server: str, workload: str, duration: float, concurrency: int, key_space: int,
    mode: str, top: int,
) -> None:
    """Profile a region under load with py-spy (needs ptrace) and print its hot spots."""
    from bench.profile import ProfileConfig, run_profile
    from bench.report import profile_tables

    doc = run_profile(
        ProfileConfig(out_dir=out_dir, server=server, workload=workload, duration=duration,
                      concurrency=concurrency, key_space=key_space, mode=mode, top=top)
    )
    click.echo(profile_tables(doc, top))
    _write_json(str(out_dir / f"profile-{server}-{workload}-{mode}.json"), doc)


@bench.command("store-probe")
@click.option("--store", "store_url", default=None,
              help="Store URL (default: a fresh SQLite file with synchronous=FULL); a PostgreSQL "
              "URL must name an empty database.")
@click.option("--concurrency", default="1,4,16", show_default=True, callback=_ints,
              help="Concurrent in-process writers, one step each.")
@click.option("--seconds", type=click.FloatRange(0.5, 120), default=4.0, show_default=True)
@click.option("--json", "json_path", default=None, help="Write the result as JSON to this file ('-': stdout).")
def store_probe_cmd(store_url: str | None, concurrency: tuple[int, ...], seconds: float, json_path: str | None) -> None:
    """In-process, no HTTP: SQL statements per PutItem/GetItem and put throughput, latency
    and write-transaction wait/hold time against the number of concurrent writers."""
    from bench.report import store_probe_tables
    from bench.storeprobe import run_store_probe

    doc = run_store_probe(store_url, concurrency, seconds)
    click.echo(store_probe_tables(doc))
    _write_json(json_path, doc)


@bench.command("in-process")
@click.option("--workload", "-w", type=click.Choice(("get", "put")), default="get", show_default=True)
@click.option("--requests", "-n", type=click.IntRange(100, 1_000_000), default=10_000, show_default=True,
              help="Requests per repetition.")
@click.option("--repetitions", "-r", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option("--concurrency", "-c", type=click.IntRange(1, 1024), default=16, show_default=True)
@click.option("--key-space", type=click.IntRange(25, 100_000), default=2000, show_default=True)
@click.option("--item-size", type=click.IntRange(64, 400_000), default=1024, show_default=True)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--json", "json_path", default=None, help="Write the result as JSON to this file ('-': stdout).")
def in_process_cmd(
    workload: str,
    requests: int,
    repetitions: int,
    concurrency: int,
    key_space: int,
    item_size: int,
    progress: bool | None,
    json_path: str | None,
) -> None:
    """A region's own CPU per GetItem or PutItem, without sockets: its ASGI app is
    called directly with signed requests, on a fresh SQLite store (synchronous=FULL).
    Prints the CPU µs per request of each repetition; the minimum is the figure least
    disturbed by the rest of the machine."""
    import sys

    from tqdm import tqdm

    from bench.inprocess import InProcessConfig, run_in_process

    cfg = InProcessConfig(workload=workload, requests=requests, repetitions=repetitions,
                          concurrency=concurrency, key_space=key_space, item_size=item_size)
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=repetitions, desc=f"in-process {workload}", unit="rep", disable=not show) as bar:

        def tick() -> None:
            bar.update()

        doc = run_in_process(cfg, tick)
    for i, run in enumerate(doc["runs"], 1):
        click.echo(f"repetition {i}: {run['cpu_us_per_request']:.1f} µs of CPU per {workload}, "
                   f"{run['requests_per_s']:,.0f} {workload}s/s")
    click.echo(f"{workload}: min {doc['cpu_us_min']:.1f} µs, median {doc['cpu_us_median']:.1f} µs of CPU "
               f"per request ({requests:,} requests x {repetitions}, concurrency {concurrency})")
    _write_json(json_path, doc)


@bench.command("nodes")
@click.option("--workloads", default="put,get,mixed", show_default=True,
              callback=_csv(("put", "get", "query", "mixed", "batch-write", "transact")),
              help="Workloads, comma-separated.")
@click.option("--nodes", "node_counts", default="1,2", show_default=True, callback=_ints,
              help="Node counts to compare, comma-separated.")
@click.option("--rounds", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Interleaved rounds (1 node, 2 nodes, 1 node, ...); medians are reported.")
@click.option("-d", "--duration", type=click.FloatRange(1, 600), default=10.0, show_default=True,
              help="Measured seconds per workload and round.")
@click.option("-c", "--concurrency", "concurrencies", default="16,32", show_default=True,
              callback=_ints,
              help="Connections in all, split evenly over the nodes; comma-separated, one load "
              "each. A second node can only add where one node is the limit: the report gives "
              "how busy the machine was.")
@click.option("--key-space", type=click.IntRange(25), default=5000, show_default=True)
@click.option("--partitions", type=click.IntRange(1, 1024), default=64, show_default=True,
              help="Partitions of the table (the region's --partitions): a partition's writes "
              "take turns across nodes, so write scaling needs more partitions than the "
              "region's default 8 (docs/regions.md).")
@click.option("--pg-over", type=click.Choice(("unix", "tcp")), default="unix", show_default=True,
              help="How the nodes reach PostgreSQL: its Unix socket (nodes on the database's "
              "host) or loopback TCP (as nodes on other hosts would).")
@click.option("--json", "json_path", default=None, help="Write the report as JSON here ('-': stdout).")
def nodes_cmd(workloads: tuple[str, ...], node_counts: tuple[int, ...], rounds: int, duration: float,
              concurrencies: tuple[int, ...], key_space: int, partitions: int, pg_over: str,
              json_path: str | None) -> None:
    """One region on a local PostgreSQL served by 1 node, then 2 (--node-id), the same
    load split over the nodes: ops/s, p99 and CPU per operation (region processes plus
    PostgreSQL), medians of interleaved rounds (docs/benchmarks.md)."""
    from bench.nodes import NodesConfig, render, run_nodes_bench

    if not concurrencies or any(not 1 <= c <= 1024 for c in concurrencies):
        raise click.BadParameter("connection counts from 1 to 1024 expected",
                                 param_hint="'-c' / '--concurrency'")
    if not node_counts or any(n < 1 for n in node_counts):
        raise click.BadParameter("node counts of 1 or more expected", param_hint="'--nodes'")
    cfg = NodesConfig(workloads=workloads, node_counts=node_counts, rounds=rounds,
                      duration=duration, concurrency=concurrencies, key_space=key_space,
                      partitions=partitions, pg_over=pg_over)
    doc = run_nodes_bench(cfg, say=lambda m: click.echo(m, err=True))
    click.echo(render(doc))
    _write_json(json_path, doc)
