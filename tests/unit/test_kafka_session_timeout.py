"""GLOBALTABLES_KAFKA_SESSION_TIMEOUT_MS: the appliers' consumer session timeout."""

from __future__ import annotations

import pytest

from replicator.kafka import (
    SESSION_TIMEOUT_ENV,
    SESSION_TIMEOUT_MS,
    make_consumer,
    session_timeout_ms,
)


async def test_default_is_kafkas_and_a_set_value_reaches_the_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SESSION_TIMEOUT_ENV, raising=False)
    assert session_timeout_ms() == SESSION_TIMEOUT_MS == 10_000
    monkeypatch.setenv(SESSION_TIMEOUT_ENV, "6000")
    consumer = make_consumer("127.0.0.1:9", "us-east-1", ["globaltables.eu-west-1.changes"])
    try:  # never started: nothing connects
        assert consumer._session_timeout_ms == 6000
        assert consumer._heartbeat_interval_ms == 2000  # three heartbeats per session
    finally:
        await consumer.stop()


@pytest.mark.parametrize("text", ["5999", "1800001", "ten", "", "6e3"])
def test_a_value_brokers_refuse_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(SESSION_TIMEOUT_ENV, text)
    with pytest.raises(ValueError, match=SESSION_TIMEOUT_ENV):
        session_timeout_ms()
