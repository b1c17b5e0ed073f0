"""Every command answers --help, and bad flags give a usage error, not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fixtures.regions import REPO

pytestmark = pytest.mark.integration

COMMANDS = [[], ["region"], ["kafka"], ["kafka", "start"], ["kafka", "stop"], ["kafka", "status"], ["demo"], ["workload"]]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "globaltables.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "globaltables")
def test_help(command: list[str]) -> None:
    out = _cli(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout
    assert "Traceback" not in out.stderr


def test_region_rejects_a_bad_peer() -> None:
    out = _cli("region", "--name", "us-east-1", "--peer", "nonsense")
    assert out.returncode == 2
    assert "NAME=http://HOST:PORT" in out.stderr
    assert "Traceback" not in out.stderr
