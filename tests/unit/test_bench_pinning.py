"""`bench suite --server-cpus`: a server's own processes run on the CPUs given, and the
load generator and the server's PostgreSQL on the others (bench/harness.py, ``pin``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.harness import pin
from bench.peers import Server
from globaltables.cli import main

CPUS = sorted(os.sched_getaffinity(0))

needs_two = pytest.mark.skipif(len(CPUS) < 2, reason="pinning needs at least two CPUs")


@pytest.fixture
def own_affinity() -> Iterator[set[int]]:
    """pin() moves this process (the load generator) too: put it back afterwards."""
    before = os.sched_getaffinity(0)
    try:
        yield before
    finally:
        os.sched_setaffinity(0, before)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@needs_two
def test_the_server_gets_its_cpus_and_postgres_and_the_client_the_rest(
    tmp_path: Path, own_affinity: set[int]
) -> None:
    region, postgres = _sleeper(), _sleeper()
    try:
        server = Server("gt-pg", [], 0, tmp_path, proc=region, extra_pids=[postgres.pid])
        pin(server, (CPUS[0],))
        rest = set(CPUS[1:])
        assert os.sched_getaffinity(region.pid) == {CPUS[0]}
        assert os.sched_getaffinity(postgres.pid) == rest
        assert os.sched_getaffinity(0) == rest
        # the next run pins again from the whole machine, not from what is left
        pin(server, (CPUS[-1],))
        assert os.sched_getaffinity(region.pid) == {CPUS[-1]}
        assert os.sched_getaffinity(0) == set(CPUS[:-1])
    finally:
        for proc in (region, postgres):
            proc.kill()
            proc.wait()


def test_no_cpus_means_no_pinning(tmp_path: Path, own_affinity: set[int]) -> None:
    region = _sleeper()
    try:
        before = os.sched_getaffinity(region.pid)
        pin(Server("gt-sqlite", [], 0, tmp_path, proc=region), ())
        assert os.sched_getaffinity(region.pid) == before
        assert os.sched_getaffinity(0) == own_affinity
    finally:
        region.kill()
        region.wait()


@pytest.mark.parametrize("cpus", [str(max(CPUS) + 1), ",".join(map(str, CPUS))])
def test_cpus_the_machine_lacks_or_that_leave_none_for_the_client_are_refused(cpus: str) -> None:
    result = CliRunner().invoke(main, ["bench", "suite", "--server-cpus", cpus, "--no-replication"])
    assert result.exit_code == 2
    assert "--server-cpus" in result.output and "leaving at least one" in result.output
