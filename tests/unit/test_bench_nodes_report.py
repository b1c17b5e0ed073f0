"""`bench nodes`: how N nodes are set against one (bench/nodes.py), and the command's
refusals of loads it cannot run.  Pure logic: no region, no PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from bench.nodes import _add_ratios, render
from globaltables.cli import main


def _row(workload: str, conns: int, nodes: int, runs: list[float]) -> dict[str, Any]:
    ordered = sorted(runs)
    return {
        "workload": workload,
        "concurrency": conns,
        "nodes": nodes,
        "rounds": len(runs),
        "ops_per_s": ordered[len(ordered) // 2],
        "p99_ms": 10.0,
        "cpu_ms_per_op": 0.5,
        "machine_busy_pct": 75.0,
        "errors": 0,
        "runs_ops_per_s": runs,
    }


def test_two_nodes_are_set_against_one_of_the_same_load_round_by_round() -> None:
    rows = [
        _row("put", 16, 1, [1000.0, 1200.0, 1100.0]),
        _row("put", 16, 2, [1100.0, 1080.0, 1210.0]),
        _row("put", 32, 1, [2000.0, 2100.0, 1900.0]),
        _row("put", 32, 2, [2400.0, 2520.0, 2280.0]),
    ]
    _add_ratios(rows)
    by = {(r["concurrency"], r["nodes"]): r for r in rows}
    # the medians' ratio, and each round against the one-node run of its own round
    assert by[(16, 2)]["vs_one"] == pytest.approx(1100 / 1100)
    assert by[(16, 2)]["vs_one_rounds"] == pytest.approx([1.1, 0.9, 1.1])
    assert by[(32, 2)]["vs_one"] == pytest.approx(2400 / 2000)
    assert by[(32, 2)]["vs_one_rounds"] == pytest.approx([1.2, 1.2, 1.2])
    # one node is the baseline: no ratio of its own
    assert "vs_one" not in by[(16, 1)] and "vs_one" not in by[(32, 1)]


def test_no_ratio_without_a_one_node_run_of_that_load() -> None:
    rows = [_row("get", 16, 2, [1500.0]), _row("get", 32, 1, [0.0]), _row("get", 32, 2, [10.0])]
    _add_ratios(rows)
    assert all("vs_one" not in r for r in rows)


def test_the_report_shows_connections_ratio_and_machine_load() -> None:
    rows = [_row("mixed", 32, 1, [2000.0]), _row("mixed", 32, 2, [2300.0])]
    _add_ratios(rows)
    text = render({"rows": rows, "config": {}, "failover_s": []})
    assert "| mixed | 32 | 2 | 2300 | 1.15x (1.15) | 10.0 | 0.50 | 75 | 0 |" in text
    assert "| mixed | 32 | 1 | 2000 |  | 10.0 | 0.50 | 75 | 0 |" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "0"], "connection counts from 1 to 1024"),
        (["-c", "16,2000"], "connection counts from 1 to 1024"),
        (["-c", "many"], "comma-separated integers"),
        (["--nodes", "0,2"], "node counts of 1 or more"),
    ],
)
def test_loads_it_cannot_run_are_refused_before_anything_starts(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["bench", "nodes", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
