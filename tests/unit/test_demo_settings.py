"""``globaltables demo``: each region's settings (``--config`` files) kept across runs, and
the supervisor that restarts a region which exits on its own."""

from __future__ import annotations

import collections
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from globaltables import demo
from globaltables.config_file import load_config
from globaltables.workload import CREDENTIALS


@pytest.fixture(autouse=True)
def _no_demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GLOBALTABLES_SECRET_KEY", "GLOBALTABLES_REPLICATION_KEYS"):
        monkeypatch.delenv(name, raising=False)


def test_settings_are_private_and_reused_by_the_next_run(tmp_path: Path) -> None:
    first = demo.demo_settings(tmp_path, dict(CREDENTIALS))
    # the next run: everything but the config files is emptied first
    (tmp_path / "us-east-1.db").write_text("old store")
    (tmp_path / "kafka").mkdir()
    demo._clear_data(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]
    second = demo.demo_settings(tmp_path, dict(CREDENTIALS))
    assert second == first
    secret_keys = {s["secret_key"] for s in first.values()}
    assert len(secret_keys) == 1 and len(secret_keys.pop()) >= 32  # one for every region
    assert len({s["kafka_password"] for s in first.values()}) == len(demo.REGIONS)
    assert stat.S_IMODE((tmp_path / "config").stat().st_mode) == 0o700
    for region in demo.REGIONS:
        path = demo.region_config_path(tmp_path, region)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        settings, warnings = load_config(path)  # what `region --config` reads
        assert warnings == []
        assert settings == first[region]
        assert settings["kafka_username"] == f"region-{region}"
        assert settings["admin_access_key_id"] == "demo"


def test_the_environment_wins_and_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo.demo_settings(tmp_path, dict(CREDENTIALS))
    monkeypatch.setenv("GLOBALTABLES_SECRET_KEY", "from-the-environment-0123456789")
    monkeypatch.setenv("GLOBALTABLES_REPLICATION_KEYS", "replication-key-0123456789")
    admin = {"aws_access_key_id": "admin", "aws_secret_access_key": "admin-secret"}
    settings = demo.demo_settings(tmp_path, admin)
    assert {s["secret_key"] for s in settings.values()} == {"from-the-environment-0123456789"}
    assert {s["replication_keys"] for s in settings.values()} == {"replication-key-0123456789"}
    monkeypatch.delenv("GLOBALTABLES_SECRET_KEY")
    monkeypatch.delenv("GLOBALTABLES_REPLICATION_KEYS")
    again = demo.demo_settings(tmp_path, admin)
    assert {s["secret_key"] for s in again.values()} == {"from-the-environment-0123456789"}
    assert load_config(demo.region_config_path(tmp_path, "eu-west-1"))[0]["admin_access_key_id"] == "admin"


# ------------------------------------------------------------------ the supervisor


def _supervise(
    tmp_path: Path, code: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[demo._Supervisor, demo._Region]:
    monkeypatch.setattr(demo, "_BACKOFF_S", (0.01,))
    region = demo._Region(
        "eu-west-1",
        "http://127.0.0.1:9",  # nothing answers there
        [sys.executable, "-c", code],
        {},
        tmp_path / "eu-west-1.log",
    )
    supervisor = demo._Supervisor({"eu-west-1": region}, threading.Event())
    supervisor.spawn(region)
    return supervisor, region


def _run_until(supervisor: demo._Supervisor, region: demo._Region, states: set[str]) -> None:
    deadline = time.monotonic() + 30
    while region.state not in states:
        assert time.monotonic() < deadline, region.state
        supervisor._check(region)
        time.sleep(0.02)


def test_a_crashing_region_is_restarted_at_most_five_times_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    supervisor, region = _supervise(tmp_path, crash, monkeypatch)
    _run_until(supervisor, region, {"given up"})
    out = capsys.readouterr().out
    assert out.count("eu-west-1 exited (code -9); restarted (pid") == demo.MAX_RESTARTS, out
    assert "not restarting it, it was restarted 5 times in the last 60s" in out
    assert f"{sys.executable} -c" in out  # the command that starts it by hand
    assert region.proc is not None and region.proc.returncode == -9  # reaped
    assert supervisor.describe("eu-west-1") == "given up (exited with code -9)"
    assert "restarting ---" in region.log.read_text()


def test_a_region_stopped_on_purpose_stays_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor, region = _supervise(tmp_path, "import sys; sys.exit(0)", monkeypatch)
    _run_until(supervisor, region, {"stopped"})
    out = capsys.readouterr().out
    assert "eu-west-1 exited (code 0): stopped on purpose, not restarting it" in out
    assert "restarted" not in out
    assert region.restarts == collections.deque()
