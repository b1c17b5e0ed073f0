"""Fixtures of the chaos suite and the fault table it prints.

Short form (``make test``): a few seconds of load per fault.  Long form
(``make chaos``, ``GLOBALTABLES_CHAOS=long``): longer load, a 30 s cut, more kills.
The table goes to the terminal summary, to ``chaos-report.json`` / ``.md`` in the
session's temp dir, and, when ``GLOBALTABLES_CHAOS_REPORT`` names a markdown file
(``make chaos`` passes docs/reliability.md), between the chaos-table markers there;
under WAN latency (``make chaos-wan``, ``GLOBALTABLES_CHAOS_WAN=1``) between the
chaos-wan-table markers instead.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from tests.chaos.deployment import WAN, Deployment

LONG = os.environ.get("GLOBALTABLES_CHAOS", "short") == "long"
_MARK = "chaos-wan-table" if WAN else "chaos-table"
START_MARK = f"<!-- {_MARK}:start -->"
END_MARK = f"<!-- {_MARK}:end -->"


@dataclass(frozen=True)
class Params:
    #: seconds of load around a fault
    load_s: float
    #: SIGKILLs of the region that runs a replicator
    kills: int
    #: seconds the broker stays down
    kafka_down_s: float
    #: seconds one region is cut off from Kafka
    cut_s: float
    #: seconds of load per clock skew (+5 s, then -5 s)
    skew_load_s: float
    #: seconds of burst into the topics while one region cannot apply
    burst_s: float
    #: how long the replicas may take to converge after the fault heals
    converge_timeout_s: float
    #: a fresh write must reach every other region within this, once idle
    lag_bound_s: float


SHORT = Params(
    load_s=3,
    kills=2,
    kafka_down_s=3,
    cut_s=5,
    skew_load_s=2.5,
    burst_s=3,
    converge_timeout_s=120,
    lag_bound_s=5,
)
LONG_PARAMS = Params(
    load_s=20,
    kills=8,
    kafka_down_s=20,
    cut_s=30,
    skew_load_s=15,
    burst_s=20,
    converge_timeout_s=300,
    lag_bound_s=5,
)


@dataclass
class FaultResult:
    fault: str
    acknowledged: int
    unacknowledged: int
    lost: int
    converge_s: float | None
    lag_s: float | None
    verify_exit: int | None
    note: str = ""


RESULTS: list[FaultResult] = []
#: the session's chaos temp dir, where the report files go
REPORT_DIRS: list[Path] = []


@pytest.fixture(scope="session")
def params() -> Params:
    return LONG_PARAMS if LONG else SHORT


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    dep = Deployment(tmp_path_factory.mktemp("chaos"))
    REPORT_DIRS.append(dep.root)
    try:
        dep.start()
        yield dep
    finally:
        dep.close()


def _markdown(results: list[FaultResult]) -> str:
    mode = "long (`make chaos`)" if LONG else "short (`make test`)"
    if WAN:
        mode = (
            "long (`make chaos-wan`)" if LONG else "short (`make chaos-wan CHAOS_WAN_MODE=short`)"
        ) + (
            "; WAN latency on every link: RTT us-east-1↔eu-west-1 75 ms, us-east-1↔"
            "ap-southeast-2 215 ms, eu-west-1↔ap-southeast-2 230 ms, jitter ±10 %"
        )
    lines = [
        f"Mode: {mode}; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "",
        "| fault | writes acknowledged | unacknowledged | writes lost | time to converge "
        "| lag after | verify |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        converge = "did not" if r.converge_s is None else f"{r.converge_s:.1f} s"
        lag = "-" if r.lag_s is None else f"{r.lag_s:.2f} s"
        verify = {0: "identical", None: "-"}.get(r.verify_exit, f"exit {r.verify_exit}")
        lines.append(
            f"| {r.fault} | {r.acknowledged:,} | {r.unacknowledged:,} | **{r.lost}** "
            f"| {converge} | {lag} | {verify} |"
        )
    notes = [f"- {r.fault}: {r.note}" for r in results if r.note]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def _write_into(path: Path, table: str) -> None:
    text = path.read_text()
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        return
    path.write_text(text[: start + len(START_MARK)] + "\n" + table + text[end:])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    table = _markdown(RESULTS)
    terminalreporter.write_sep("=", "chaos: fault table")
    terminalreporter.write_line(table)
    target = REPORT_DIRS[-1] if REPORT_DIRS else Path.cwd()
    (target / "chaos-report.json").write_text(
        json.dumps({"long": LONG, "results": [asdict(r) for r in RESULTS]}, indent=2) + "\n"
    )
    (target / "chaos-report.md").write_text(table)
    terminalreporter.write_line(f"chaos report: {target / 'chaos-report.md'}")
    report = os.environ.get("GLOBALTABLES_CHAOS_REPORT")
    if report:
        _write_into(Path(report), table)
        terminalreporter.write_line(f"fault table written into {report}")
