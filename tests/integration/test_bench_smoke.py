"""Smoke runs of the load generator (bench/): against the trivial server and against a real
region process, every workload for a fraction of a second.  No moto or dynalite here: the
peers belong to `make bench`, not to `make test`."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from bench import aio
from bench.httpclient import Response, _Protocol
from bench.loadgen import (
    WORKLOADS,
    Endpoint,
    LoadConfig,
    RunResult,
    call,
    ensure_table,
    percentile,
    preload,
    run_load,
)
from bench.peers import Server, make_server
from bench.profile import fold
from bench.replication import histogram_quantile, parse_lag_histograms
from globaltables.cli import main

KEYS = 200


def _run(url: str, workload: str, **kw: object) -> RunResult:
    cfg = LoadConfig(url, workload, concurrency=4, key_space=KEYS, duration=0.7, warmup=0.2, **kw)  # type: ignore[arg-type]
    return aio.run(run_load(cfg, progress=False))


@pytest.fixture(scope="module")
def trivial_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = make_server("trivial", tmp_path_factory.mktemp("trivial")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def bench_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A region started the way the harness starts it (with the bench's admin key)."""
    server = make_server("gt-sqlite", tmp_path_factory.mktemp("bench-region")).start()
    try:
        ep = Endpoint(server.url, server.region)
        aio.run(ensure_table(ep))
        aio.run(preload(ep, KEYS, 1024))
        yield server
    finally:
        server.stop()


@pytest.mark.integration
def test_a_region_with_a_worker_is_ready_only_once_the_worker_serves(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """gt-sqlite-w2: the harness starts measuring when both processes serve."""
    server = make_server("gt-sqlite-w2", tmp_path_factory.mktemp("bench-w2")).start()
    try:
        workers = httpx.get(server.url + "/healthz", timeout=5).json()["workers"]
        assert [w["ready"] for w in workers] == [True]
        ep = Endpoint(server.url, server.region)
        aio.run(ensure_table(ep))
        aio.run(preload(ep, KEYS, 1024))
        result = _run(server.url, "mixed")
        assert result.ops > 0 and result.errors == {}, result.errors
        # the worker's processes are the server's too (its CPU is counted)
        assert len(server.processes()) >= 2
    finally:
        server.stop()


@pytest.mark.integration
@pytest.mark.parametrize("workload", ["put", "get", "batch-write"])
def test_trivial_server(trivial_url: str, workload: str) -> None:
    result = _run(trivial_url, workload)
    assert result.ops > 50
    assert result.errors == {}
    assert 0 < result.p50_ms <= result.p99_ms <= result.stats.max_ms
    assert result.connections_opened == 4  # keep-alive: one connection per worker, no more


@pytest.mark.integration
@pytest.mark.parametrize("workload", WORKLOADS)
def test_region(bench_region: Server, workload: str) -> None:
    result = _run(bench_region.url, workload)
    assert result.ops > 0, result.errors
    assert result.errors == {}
    assert result.misses == 0  # every key was preloaded
    assert result.unprocessed == 0
    assert result.p50_ms <= result.p99_ms
    if workload == "mixed":
        assert set(result.by_kind) <= {"get", "put", "query"}
        assert "get" in result.by_kind and "put" in result.by_kind
    if workload in ("batch-write", "transact"):
        assert result.items_per_s >= result.ops_per_s * 4


@pytest.mark.integration
def test_items_have_the_requested_size(bench_region: Server) -> None:
    async def get() -> dict[str, Any]:
        ep = Endpoint(bench_region.url, bench_region.region)
        conn = ep.connection()
        try:
            key = {"pk": {"S": "p3"}, "sk": {"S": "7"}}
            return await call(conn, ep, "GetItem", {"TableName": "bench", "Key": key})
        finally:
            conn.close()

    item = aio.run(get())["Item"]
    size = sum(len(k) + len(next(iter(v.values()))) for k, v in item.items())
    assert size == 1024


@pytest.mark.integration
def test_cli_run_prints_table_and_json(bench_region: Server, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        main,
        ["bench", "run", "-e", bench_region.url, "-w", "get", "-c", "2", "-d", "0.5",
         "--warmup", "0.1", "--key-space", str(KEYS), "--no-preload", "--no-progress",
         "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ops/s" in result.output and "p99 ms" in result.output
    assert out.exists() and '"ops_per_s"' in out.read_text()


@pytest.mark.integration
def test_cli_run_explains_a_server_that_is_not_there_or_refuses_it(bench_region: Server) -> None:
    """One line saying what went wrong, not a traceback."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = CliRunner().invoke(main, ["bench", "run", "-e", nobody, "-d", "0.5", "--no-progress"])
    assert result.exit_code == 1, result.output
    assert f"cannot reach {nobody}" in result.output and "Traceback" not in result.output
    # signed for another region: the region refuses the signature
    result = CliRunner().invoke(
        main, ["bench", "run", "-e", bench_region.url, "--region", "eu-west-9", "-d", "0.5",
               "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "refused the benchmark's request: 400" in result.output
    assert "AKIDGLOBALTABLESBENCH" in result.output


def test_cli_help() -> None:
    for args in (
        ["bench", "--help"],
        ["bench", "run", "--help"],
        ["bench", "suite", "--help"],
        ["bench", "in-process", "--help"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("workload", ["get", "put"])
def test_in_process_bench_times_answered_requests(workload: str, tmp_path: Path) -> None:
    out = tmp_path / "in-process.json"
    result = CliRunner().invoke(
        main,
        ["bench", "in-process", "-w", workload, "-n", "200", "-r", "2", "-c", "4",
         "--key-space", "50", "--no-progress", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"µs of CPU per {workload}" in result.output
    doc = json.loads(out.read_text())
    assert doc["workload"] == workload and len(doc["runs"]) == 2
    assert 0 < doc["cpu_us_min"] <= doc["cpu_us_median"]
    assert all(run["requests_per_s"] > 0 for run in doc["runs"])


def test_in_process_bench_refuses_an_answer_that_is_not_200(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request the region refuses (here: signed with the wrong secret) fails the run
    instead of being timed as a fast one."""
    from bench import inprocess
    from bench.sigv4 import Signer

    monkeypatch.setattr(
        inprocess, "Signer", lambda host, region: Signer(host=host, region=region, secret_key="no")
    )
    with pytest.raises(RuntimeError, match=r"^CreateTable answered 400: .*InvalidSignatureException"):
        inprocess.run_in_process(inprocess.InProcessConfig(requests=100, repetitions=1))


# ---------------------------------------------------------------- pure helpers (no processes)


def test_chunked_and_split_responses() -> None:
    async def scenario() -> list[Response]:
        loop = asyncio.get_running_loop()
        proto = _Protocol()
        got = []
        for pieces in (
            [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"],
            [b"HTTP/1.1 400 Bad\r\nContent-Le", b"ngth: 5\r\n\r\nab", b"cde"],
            [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", b"2\r\nde\r\n0\r\n\r\n"],
        ):
            waiter: asyncio.Future[Response] = loop.create_future()
            proto.waiter = waiter
            for p in pieces:
                proto.data_received(p)
            got.append(await waiter)
        return got

    r = asyncio.run(scenario())
    assert [(x.status, x.body) for x in r] == [(200, b"{}"), (400, b"abcde"), (200, b"abcde")]


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([], 0.5) == 0.0


def test_lag_histogram_parsing_and_quantiles() -> None:
    text = "\n".join(
        [
            '# TYPE globaltables_replication_lag_seconds histogram',
            'globaltables_replication_lag_seconds_bucket{destination="b",le="0.01",source="a"} 50.0',
            'globaltables_replication_lag_seconds_bucket{destination="b",le="0.1",source="a"} 100.0',
            'globaltables_replication_lag_seconds_bucket{destination="b",le="+Inf",source="a"} 100.0',
            'globaltables_replication_lag_seconds_count{destination="b",source="a"} 100.0',
            'globaltables_replication_lag_seconds_sum{destination="b",source="a"} 3.0',
        ]
    )
    h = parse_lag_histograms(text)[("a", "b")]
    assert h["count"] == 100 and h["sum"] == 3.0
    assert histogram_quantile(0.5, h["buckets"]) == pytest.approx(0.01)
    assert histogram_quantile(0.75, h["buckets"]) == pytest.approx(0.055)


def test_fold_py_spy_raw() -> None:
    raw = (
        "thread (0x1): MainThread;run (/x/asyncio/runners.py:1);handle (/work/main/api/dynamodb/router.py:9) 3\n"
        "thread (0x2): Thread-1 (_worker);_worker (/v/site-packages/aiosqlite/core.py:5) 1\n"
    )
    d = fold(raw)
    assert d["samples"] == 4
    assert d["self"][0]["name"] == "handle (api/dynamodb/router.py)" and d["self"][0]["pct"] == 75.0
    assert {p["name"] for p in d["packages_self"]} == {"api/dynamodb", "aiosqlite"}
    assert d["threads"][0] == {"name": "MainThread", "samples": 3, "pct": 75.0}


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_store_probe_counts_statements_and_measures_puts(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """The in-process probe sees every statement of a put, on either store, and its
    put rates are well-formed."""
    from bench.storeprobe import run_store_probe

    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_db_factory")().replace(
            "postgresql+asyncpg://", "postgresql://"
        )
    out = run_store_probe(url, concurrency=(1, 2), seconds=0.5)
    per_put = " ".join(out["statements_per_put"])
    for table in ("gt_items", "gt_changes", "gt_verify"):
        assert f"INSERT INTO {table}" in per_put, out["statements_per_put"]
    assert any("SELECT" in s for s in out["statements_per_get"])
    assert [r["concurrency"] for r in out["concurrency"]] == [1, 2]
    for run in out["concurrency"]:
        assert run["puts_per_s"] > 0 and 0 < run["p50_ms"] <= run["p99_ms"]


@pytest.mark.integration
def test_asgi_floor_answers_like_the_trivial_server(tmp_path: Path) -> None:
    server = make_server("asgi-floor", tmp_path).start()
    try:
        result = _run(server.url, "get")
        assert result.errors == {} and result.ops > 0
    finally:
        server.stop()


def test_bench_nodes_compares_one_and_two_nodes_and_times_a_failover(tmp_path: Path) -> None:
    """`globaltables bench nodes`, tiny: real region processes on a throwaway PostgreSQL,
    1 then 2 nodes, and a SIGKILL of the leader that another node takes over from."""
    out = tmp_path / "nodes.json"
    result = CliRunner().invoke(
        main,
        ["bench", "nodes", "--rounds", "1", "-d", "1", "--workloads", "get", "-c", "4",
         "--key-space", "100", "--partitions", "16", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    rows = {(r["workload"], r["concurrency"], r["nodes"]): r for r in doc["rows"]}
    assert set(rows) == {("get", 4, 1), ("get", 4, 2)}
    assert all(r["ops_per_s"] > 0 and r["errors"] == 0 and r["cpu_ms_per_op"] > 0 for r in rows.values())
    # how busy the whole machine was (the load generator at least was running)
    assert all(0 < r["machine_busy_pct"] <= 100 for r in rows.values())
    # two nodes against one, of the same load: the round's ratio and the medians' ratio
    two = rows[("get", 4, 2)]
    assert two["vs_one"] == pytest.approx(two["ops_per_s"] / rows[("get", 4, 1)]["ops_per_s"])
    assert len(two["vs_one_rounds"]) == 1 and two["vs_one_rounds"][0] > 0
    assert "vs_one" not in rows[("get", 4, 1)]
    assert f"{two['vs_one']:.2f}x" in result.output
    # the other node leads within a few seconds of the leader's death
    assert len(doc["failover_s"]) == 1 and 0 < doc["failover_s"][0] < 10
    assert "another node led after" in result.output
    assert doc["config"]["partitions"] == 16 and "table partitions: 16" in result.output
    # the nodes reach the cluster on its host over its Unix socket unless told TCP
    assert doc["config"]["pg_over"] == "unix"
    assert "nodes reach PostgreSQL over its Unix socket" in result.output


@pytest.mark.parametrize(("name", "over"), [("gt-pg", "@/"), ("gt-pg-tcp", "@127.0.0.1:")])
def test_gt_pg_reaches_its_cluster_over_the_socket_and_gt_pg_tcp_over_tcp(
    tmp_path: Path, name: str, over: str
) -> None:
    """The suite's PostgreSQL regions: gt-pg over the cluster's Unix socket (a region on
    the database's host), gt-pg-tcp over loopback TCP (as from another host); both
    serve a request."""
    server = make_server(name, tmp_path)
    try:
        store = server.cmd[server.cmd.index("--store") + 1]
        assert over in store, store
        server.start()
        assert httpx.get(f"{server.url}/healthz", timeout=5).json()["store"]["ok"] is True
    finally:
        server.stop()
