"""RegionSettings: the stream retention and the housekeeping period it implies."""

from __future__ import annotations

import pytest

from regions.settings import (
    DEFAULT_PARTITIONS_POSTGRESQL,
    DEFAULT_PARTITIONS_SQLITE,
    RegionSettings,
    default_partitions,
)


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


def test_replication_keyring_defaults_to_the_secret_key_and_is_required() -> None:
    from regions.auth_settings import AuthSettings

    secret = "a-secret-key-of-some-length"
    with_secret = RegionSettings(
        name="us-east-1", store_url="sqlite:///unused.db", auth=AuthSettings(secret_key=secret)
    )
    assert with_secret.replication_keyring() == (secret,)
    explicit = RegionSettings(
        name="us-east-1",
        store_url="sqlite:///unused.db",
        auth=AuthSettings(secret_key=secret),
        replication_keys=("new-key-0123456789", "old-key-0123456789"),
    )
    assert explicit.replication_keyring() == ("new-key-0123456789", "old-key-0123456789")
    assert "new-key" not in repr(explicit)
    with pytest.raises(ValueError, match="GLOBALTABLES_REPLICATION_KEYS"):
        _settings().replication_keyring()


@pytest.mark.parametrize("ms", [0, 999, 24 * 3600 * 1000 + 1])
def test_clock_ahead_bound_is_checked(ms: int) -> None:
    with pytest.raises(ValueError, match="clock-ahead"):
        _settings(max_clock_ahead_ms=ms)


def test_stream_shards_roll_over_every_four_hours_by_default() -> None:
    assert _settings().stream_shard_rollover_s == 4 * 3600
    assert _settings(stream_shard_rollover_s=1.5).stream_shard_rollover_ms == 1500
    for bad in (0.5, 0, 8 * 24 * 3600):
        with pytest.raises(ValueError, match="rollover"):
            _settings(stream_shard_rollover_s=bad)


def test_new_tables_get_more_partitions_on_postgresql_than_on_sqlite() -> None:
    assert default_partitions("sqlite:////tmp/r.db") == DEFAULT_PARTITIONS_SQLITE == 8
    for url in ("postgresql://gt@127.0.0.1:5432/r", "postgres://gt@db/r"):
        assert default_partitions(url) == DEFAULT_PARTITIONS_POSTGRESQL == 64
