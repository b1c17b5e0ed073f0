"""The publisher's idle poll (GLOBALTABLES_PUBLISH_IDLE_POLL_S): a number > 0 or a
clear error, never a silently odd value."""

from __future__ import annotations

import pytest

from replicator.publisher import IDLE_POLL_ENV, IDLE_POLL_S, idle_poll_s


def test_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IDLE_POLL_ENV, raising=False)
    assert idle_poll_s() == IDLE_POLL_S
    monkeypatch.setenv(IDLE_POLL_ENV, "3600")
    assert idle_poll_s() == 3600.0


@pytest.mark.parametrize("text", ["0", "-1", "soon", "nan", "inf", ""])
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(IDLE_POLL_ENV, text)
    with pytest.raises(ValueError, match=f"^{IDLE_POLL_ENV} must be a number of seconds > 0"):
        idle_poll_s()
