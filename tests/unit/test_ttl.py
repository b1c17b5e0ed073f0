"""regions.ttl: the expiry predicate, the UpdateTimeToLive rules, the sweeper loop."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import pytest

from regions import ttl
from regions.catalog import TableSpec
from regions.errors import ValidationError
from regions.keys import KeyAttr, KeySchema

NOW = 1_700_000_000.5
FIVE_YEARS = float(ttl.FIVE_YEARS_S)


def _item(value: dict[str, Any] | None, attribute: str = "exp") -> dict[str, Any]:
    item: dict[str, Any] = {"p": {"S": "k"}}
    if value is not None:
        item[attribute] = value
    return item


def _n(value: float | int | str) -> dict[str, str]:
    return {"N": str(value)}


# ------------------------------------------------------------------ expiry predicate


@pytest.mark.parametrize(
    ("ttl_value", "expired"),
    [
        (_n(int(NOW) - 60), True),
        (_n(int(NOW)), True),  # NOW has .5: the whole second before it is past
        (_n("1700000000.25"), True),  # fractional seconds count
        (_n("1700000000.5"), False),  # now == ttl: DynamoDB needs now > ttl
        (_n("1700000000.75"), False),
        (_n(int(NOW) + 3600), False),
        (_n("9.9E+125"), False),
        (_n("1.7E+9"), True),  # any spelling of a number, not just integers
        (_n(0), False),  # 1970: more than five years in the past
        (_n(-5), False),
        (_n(162777600), False),  # 1975, the date ScyllaDB's TTL test uses
    ],
)
def test_number_expiry(ttl_value: dict[str, Any], expired: bool) -> None:
    assert ttl.is_expired(_item(ttl_value), "exp", NOW) is expired


def test_now_equal_to_ttl_is_not_yet_expired() -> None:
    assert not ttl.is_expired(_item(_n(1000)), "exp", 1000.0)
    assert ttl.is_expired(_item(_n(1000)), "exp", 1000.001)


def test_five_year_rule_boundary() -> None:
    # "more than five years in the past" is ignored; exactly five years is not more
    at_limit = Decimal(NOW) - ttl.FIVE_YEARS_S
    assert ttl.is_expired(_item(_n(str(at_limit))), "exp", NOW)
    assert not ttl.is_expired(_item(_n(str(at_limit - 1))), "exp", NOW)
    assert ttl.is_expired(_item(_n(int(NOW - 4 * 365 * 86400))), "exp", NOW)
    assert not ttl.is_expired(_item(_n(int(NOW - 6 * 365 * 86400))), "exp", NOW)
    # five Gregorian years, in seconds
    assert FIVE_YEARS == 5 * 365.2425 * 86400


@pytest.mark.parametrize(
    "value",
    [
        {"S": str(int(NOW) - 60)},
        {"B": "MTIz"},
        {"NS": [str(int(NOW) - 60)]},
        {"SS": ["1"]},
        {"L": [_n(int(NOW) - 60)]},
        {"M": {"exp": _n(int(NOW) - 60)}},
        {"BOOL": True},
        {"NULL": True},
    ],
)
def test_only_a_number_expires(value: dict[str, Any]) -> None:
    assert not ttl.is_expired(_item(value), "exp", NOW)


def test_missing_attribute_never_expires() -> None:
    assert not ttl.is_expired(_item(None), "exp", NOW)
    assert not ttl.is_expired(_item(_n(int(NOW) - 60), attribute="other"), "exp", NOW)


def test_attribute_is_top_level_only() -> None:
    past = _n(int(NOW) - 60)
    # "a.b" names a top-level attribute with a dot in its name, never a path
    assert not ttl.is_expired({"a": {"M": {"b": past}}}, "a.b", NOW)
    assert ttl.is_expired({"a.b": past}, "a.b", NOW)


def test_malformed_number_is_ignored() -> None:
    # stored items are canonical, but the predicate must not crash on anything else
    assert not ttl.is_expired(_item({"N": "not a number"}), "exp", NOW)
    assert not ttl.is_expired(_item({"N": 5}), "exp", NOW)


# ------------------------------------------------------------------ UpdateTimeToLive rules


def _spec(**kw: Any) -> TableSpec:
    return TableSpec(
        name="t",
        table_id="id",
        key_schema=KeySchema(KeyAttr("p", "S")),
        attributes={"p": "S"},
        created_at=0.0,
        **kw,
    )


def _change(
    spec: TableSpec, enabled: bool, attribute: str, now: float, window: float = 3600
) -> TableSpec:
    return ttl.changed_spec(spec, enabled=enabled, attribute=attribute, now=now, window_s=window)


def test_enable_then_disable() -> None:
    on = _change(_spec(), True, "exp", now=100.0)
    assert on.ttl_attribute == "exp"
    assert on.ttl_changed_at == 100.0
    off = _change(on, False, "exp", now=100.0 + 3600)
    assert off.ttl_attribute is None
    assert off.ttl_changed_at == 100.0 + 3600


def test_enable_twice() -> None:
    on = _spec(ttl_attribute="exp", ttl_changed_at=1.0)
    with pytest.raises(ValidationError) as info:
        _change(on, True, "exp", now=10_000.0)
    assert info.value.message == "TimeToLive is already enabled"


def test_enable_another_attribute() -> None:
    on = _spec(ttl_attribute="exp", ttl_changed_at=1.0)
    with pytest.raises(ValidationError) as info:
        _change(on, True, "other", now=10_000.0)
    assert info.value.message == (
        "TimeToLive is active on a different AttributeName: current AttributeName is exp"
    )


def test_disable_under_another_attribute() -> None:
    on = _spec(ttl_attribute="exp", ttl_changed_at=1.0)
    with pytest.raises(ValidationError) as info:
        _change(on, False, "other", now=10_000.0)
    assert info.value.message == (
        "TimeToLive is active on a different AttributeName: current AttributeName is exp"
    )


def test_disable_when_disabled() -> None:
    with pytest.raises(ValidationError) as info:
        _change(_spec(), False, "exp", now=10_000.0)
    assert info.value.message == "TimeToLive is already disabled"
    # also after a disable, not only on a table that never had TTL
    with pytest.raises(ValidationError) as info:
        _change(_spec(ttl_changed_at=1.0), False, "exp", now=10_000.0)
    assert info.value.message == "TimeToLive is already disabled"


def test_one_change_per_window() -> None:
    on = _change(_spec(), True, "exp", now=1000.0)
    with pytest.raises(ValidationError) as info:
        _change(on, False, "exp", now=1000.0 + 3599)
    assert info.value.message == (
        "Time to live has been modified multiple times within a fixed interval"
    )
    assert _change(on, False, "exp", now=1000.0 + 3600).ttl_attribute is None
    # a zero window (tests) allows changes back to back
    assert _change(on, False, "exp", now=1000.0, window=0).ttl_attribute is None


def test_state_errors_come_before_the_window() -> None:
    # a request that would change nothing says so, even inside the window
    on = _change(_spec(), True, "exp", now=1000.0)
    with pytest.raises(ValidationError) as info:
        _change(on, True, "exp", now=1001.0)
    assert info.value.message == "TimeToLive is already enabled"


# ------------------------------------------------------------------ the sweeper loop


async def test_sweeper_survives_failures_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0
    done = asyncio.Event()

    async def flaky(region: object, now: float | None = None) -> int:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise RuntimeError("store unreachable")
        if calls >= 5:
            done.set()
        return 0

    monkeypatch.setattr(ttl, "sweep_once", flaky)
    caplog.set_level(logging.INFO, logger="globaltables.ttl")
    task = asyncio.create_task(ttl.run_sweeper(object(), 0.001))  # type: ignore[arg-type]
    await asyncio.wait_for(done.wait(), timeout=5)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    failures = [r for r in caplog.records if "TTL sweep failed" in r.getMessage()]
    assert len(failures) == 1  # three failures in a row, one log line
    assert any("recovered" in r.getMessage() for r in caplog.records)
