"""RegionSettings: the stream retention and the housekeeping period it implies."""

from __future__ import annotations

import pytest

from regions.settings import RegionSettings


def _settings(**kw: float) -> RegionSettings:
    return RegionSettings(name="us-east-1", store_url="sqlite:///unused.db", **kw)  # type: ignore[arg-type]


def test_defaults_are_dynamodbs_24_hours_and_a_minute_of_housekeeping() -> None:
    s = _settings()
    assert s.change_retention_s == 86400
    assert s.housekeeping_period_s == 60.0


@pytest.mark.parametrize(
    ("retention", "interval", "period"),
    [
        (86400, 60.0, 60.0),  # the configured interval
        (86400, 0.5, 0.5),  # shorter on request
        (8, 60.0, 2.0),  # a short retention is kept to closely: a quarter of it
        (2, 60.0, 1.0),  # but housekeeping never runs more than once a second by itself
    ],
)
def test_housekeeping_period(retention: int, interval: float, period: float) -> None:
    s = _settings(change_retention_s=retention, housekeeping_interval_s=interval)
    assert s.housekeeping_period_s == period


@pytest.mark.parametrize("kw", [{"change_retention_s": -1}, {"housekeeping_interval_s": 0}])
def test_nonsense_is_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        _settings(**kw)
