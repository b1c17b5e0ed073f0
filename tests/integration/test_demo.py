"""`globaltables demo` end to end: its own Kafka, three regions, a workload, clean stop."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.regions import REPO, free_port

pytestmark = pytest.mark.integration


def test_demo_replicates_across_three_regions_and_stops_cleanly(tmp_path: Path) -> None:
    # three consecutive ports: take a free one and trust its two neighbours, which
    # the kernel hands out rarely; a clash shows up as a clear start-up failure
    base = free_port()
    out = subprocess.run(
        [
            sys.executable, "-m", "globaltables.cli", "demo",
            "--data", str(tmp_path / "demo"), "--kafka-port", str(free_port()),
            "--base-port", str(base), "--duration", "8", "--rate", "10",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "replicated to eu-west-1, ap-southeast-2" in out.stdout
    assert f"dashboard: http://127.0.0.1:{base}/dashboard" in out.stdout
    status = [line for line in out.stdout.splitlines() if line.startswith("[")]
    assert status, out.stdout
    counts = [int(n) for n in re.findall(r"(\d+) items", status[-1])]
    assert len(counts) == 3 and min(counts) > 0
    # every region sees (nearly) all writes of every region: replication works both ways
    assert max(counts) - min(counts) <= 30, status[-1]
    assert "stopped." in out.stdout
    # nothing left running: the broker pid file's process is gone
    from globaltables import kafka_broker

    assert kafka_broker.status(tmp_path / "demo" / "kafka") is None
