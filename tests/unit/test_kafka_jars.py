"""``ensure_jars`` says something only when it really fetches the broker's jars: a run
with the jars in place (every run but the first) prints nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from globaltables import kafka_broker
from globaltables.kafka_broker import KAFKA_VERSION


def _no_maven(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("Maven ran although the jars are there")


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lib = tmp_path / "lib"
    monkeypatch.setenv("GLOBALTABLES_KAFKA_LIB", str(lib))
    return lib


def test_nothing_is_printed_when_the_jars_are_there(
    lib: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lib.mkdir()
    (lib / f"kafka_2.13-{KAFKA_VERSION}.jar").write_bytes(b"")
    (lib / kafka_broker._MARKER).write_text(
        json.dumps({"kafka_version": KAFKA_VERSION, "pom_sha256": kafka_broker._pom_digest()})
    )
    monkeypatch.setattr(subprocess, "run", _no_maven)
    assert kafka_broker.ensure_jars() == lib.resolve()
    assert capsys.readouterr() == ("", "")


def test_a_real_fetch_says_so(
    lib: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def maven(cmd: list[str], **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        out = Path(next(a for a in cmd if a.startswith("-DoutputDirectory=")).split("=", 1)[1])
        out.mkdir(parents=True)
        (out / f"kafka_2.13-{KAFKA_VERSION}.jar").write_bytes(b"jar")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(kafka_broker, "_which", lambda *_: "/usr/bin/mvn")
    monkeypatch.setattr(kafka_broker, "_java", lambda: "/usr/bin/java")
    monkeypatch.setattr(subprocess, "run", maven)
    assert kafka_broker.ensure_jars() == lib.resolve()
    err = capsys.readouterr().err
    assert f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central" in err
    assert "fetched 1 jars" in err
    # and the next run is silent
    monkeypatch.setattr(subprocess, "run", _no_maven)
    kafka_broker.ensure_jars()
    assert capsys.readouterr() == ("", "")
