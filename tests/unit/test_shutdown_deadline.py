"""api/shutdown_deadline.py: a shutdown that overruns its deadline ends the process
(with the threads' stacks in its log); one that finishes in time does not."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(body: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", "import logging, time\nlogging.basicConfig()\n" + body],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out, time.monotonic() - start


def test_a_stuck_shutdown_ends_at_its_deadline() -> None:
    out, took = _run(
        "from api.shutdown_deadline import arm\n"
        "arm('region test: shutdown', 0.5)\n"
        "time.sleep(20)  # a shutdown step that never returns\n"
    )
    assert took < 10, f"the process outlived its deadline ({took:.1f}s)"
    assert out.returncode == 0
    assert "region test: shutdown did not finish within 0 s" in out.stderr
    assert "time.sleep(20)" in out.stderr or "Current thread" in out.stderr


def test_a_shutdown_that_finishes_in_time_is_left_alone() -> None:
    out, _ = _run(
        "from api.shutdown_deadline import arm\n"
        "t = arm('region test: shutdown', 0.5)\n"
        "t.cancel()\n"
        "time.sleep(1.0)\n"
        "print('finished')\n"
    )
    assert out.returncode == 0
    assert "finished" in out.stdout
    assert "did not finish" not in out.stderr
