"""Every command answers --help, and bad flags give a usage error, not a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from globaltables.cli import main
from tests.fixtures.regions import REPO

pytestmark = pytest.mark.integration

COMMANDS = [[], ["region"], ["kafka"], ["kafka", "start"], ["kafka", "stop"], ["kafka", "status"], ["demo"], ["workload"],
            ["users"], ["users", "create"], ["users", "list"], ["users", "delete"],
            ["keys"], ["keys", "create"], ["keys", "list"], ["keys", "revoke"],
            ["quarantine"], ["quarantine", "list"], ["quarantine", "show"], ["quarantine", "replay"],
            ["quarantine", "drop"]]


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


def test_version() -> None:
    from importlib.metadata import version

    out = _cli("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"globaltables, version {version('globaltables')}"


def test_region_help_names_the_variables_compose_sets() -> None:
    # compose.yaml configures the regions through these (tests/integration/test_compose.py)
    help_text = " ".join(_cli("region", "--help").stdout.split())
    for option, var in [("--name", "GLOBALTABLES_REGION"), ("--store", "GLOBALTABLES_STORE"),
                        ("--kafka", "GLOBALTABLES_KAFKA"), ("--peer", "GLOBALTABLES_PEERS"),
                        ("--host", "GLOBALTABLES_HOST"), ("--port", "GLOBALTABLES_PORT"),
                        ("--kafka-username", "GLOBALTABLES_KAFKA_USERNAME"),
                        ("--kafka-password", "GLOBALTABLES_KAFKA_PASSWORD")]:  # fmt: skip
        assert re.search(rf"\[env var: {var}[;\]]", help_text), (option, var)
    region = main.commands["region"]  # type: ignore[attr-defined]
    shown = {o: p.envvar for p in region.params if p.show_envvar for o in p.opts}
    assert shown["--name"] == "GLOBALTABLES_REGION" and shown["--store"] == "GLOBALTABLES_STORE"
    assert shown["--kafka"] == "GLOBALTABLES_KAFKA" and shown["--peer"] == "GLOBALTABLES_PEERS"


def test_region_stream_retention_option() -> None:
    out = _cli("region", "--help")
    assert "--stream-retention" in out.stdout and "86400" in out.stdout
    assert "--housekeeping-interval" in out.stdout
    bad = _cli("region", "--name", "us-east-1", "--stream-retention", "0")
    assert bad.returncode == 2 and "--stream-retention" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_region_rejects_a_bad_peer() -> None:
    out = _cli("region", "--name", "us-east-1", "--peer", "nonsense")
    assert out.returncode == 2
    assert "NAME=http://HOST:PORT" in out.stderr
    assert "Traceback" not in out.stderr


def _region_without_settings(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``globaltables region`` with none of the GLOBALTABLES_* variables of our environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GLOBALTABLES_")}
    return subprocess.run(
        [sys.executable, "-m", "globaltables.cli", "region", "--name", "us-east-1",
         "--store", f"sqlite:///{tmp_path}/r.db", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**clean, **env},
    )  # fmt: skip


def test_region_needs_an_admin_key_or_allow_anonymous(tmp_path: Path) -> None:
    out = _region_without_settings(tmp_path)
    assert out.returncode == 2
    assert "GLOBALTABLES_ADMIN_ACCESS_KEY_ID" in out.stderr and "--allow-anonymous" in out.stderr
    assert "Traceback" not in out.stderr
    half = _region_without_settings(tmp_path, GLOBALTABLES_ADMIN_ACCESS_KEY_ID="AKID")
    assert half.returncode == 2 and "both" in half.stderr


def test_region_rejects_a_bad_config_file_or_secret_key(tmp_path: Path) -> None:
    config = tmp_path / "region.toml"
    config.write_text('admin_access_key_id = "AKID"\nadmin_secret = "typo"\n')
    out = _region_without_settings(tmp_path, "--config", str(config))
    assert out.returncode == 2 and "unknown settings admin_secret" in out.stderr
    config.write_text("not toml at all = = =")
    out = _region_without_settings(tmp_path, "--config", str(config))
    assert out.returncode == 2 and "not valid TOML" in out.stderr
    short = _region_without_settings(tmp_path, "--allow-anonymous", GLOBALTABLES_SECRET_KEY="short")
    assert short.returncode == 2 and "at least 16 characters" in short.stderr
    assert "Traceback" not in out.stderr + short.stderr


def test_region_with_kafka_needs_a_replication_key(tmp_path: Path) -> None:
    """Records on Kafka are signed (invariant 9): no key, no start; a short key is refused."""
    args = ("--allow-anonymous", "--kafka", "127.0.0.1:1", "--kafka-insecure-plaintext")
    out = _region_without_settings(tmp_path, *args)
    assert out.returncode == 2 and "GLOBALTABLES_REPLICATION_KEYS" in out.stderr, out.stderr
    short = _region_without_settings(tmp_path, *args, GLOBALTABLES_REPLICATION_KEYS="long-enough-key-123,short")
    assert short.returncode == 2 and "16 characters" in short.stderr, short.stderr
    assert "Traceback" not in out.stderr + short.stderr
